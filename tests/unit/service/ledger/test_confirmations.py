"""The outbox's registry of confirmation handlers: one handler per kind, no kind unhandled."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from chain.client import Receipt
from chain.sender import NONCE_FILL
from service.bootstrap import confirmations
from service.ledger.storage.confirmations import (
    NO_EFFECT,
    ConfirmationRegistry,
    DuplicateWriteKindError,
    Settlement,
    Touched,
    UnknownWriteKindError,
    Write,
)

RECEIPT = Receipt(b"\x01" * 32, 7, b"\xbb" * 32, 1, 21_000, None, ())
#: The registry never opens the transaction it passes on: no database is needed here.
TX = Settlement(session=None, now=datetime(2026, 1, 1, tzinfo=UTC), log=print)


class Recorder:
    logs_chain_facts = True

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def confirmed(self, tx: Settlement, write: Write, receipt: Receipt, again: bool) -> None:
        self.calls.append(("confirmed", write.id, again))

    def failed(
        self, tx: Settlement, writes: Sequence[Write], reason: str, revert: str | None
    ) -> None:
        self.calls.append(("failed", [w.id for w in writes], revert))

    def taken_back(self, tx: Settlement, write: Write) -> Touched:
        self.calls.append(("taken_back", write.id))
        return Touched("b_1")

    def reincluded(self, tx: Settlement, write: Write, receipt: Receipt) -> Touched:
        self.calls.append(("reincluded", write.id))
        return Touched(certificate_ids=("c_1",))


def test_each_kind_is_dispatched_to_the_handler_registered_for_it():
    batches, claims = Recorder(), Recorder()
    registry = ConfirmationRegistry().register(batches, "anchor_batch", "recall_batch")
    registry.register(claims, "claim")
    assert registry.handler("anchor_batch") is batches
    assert registry.handler("recall_batch") is batches
    assert registry.handler("claim") is claims
    registry.handler("claim").confirmed(TX, Write(3, "claim", "0xC"), RECEIPT, False)
    registry.handler("anchor_batch").failed(TX, [Write(4, "anchor_batch", "0xC")], "r", "E")
    assert claims.calls == [("confirmed", 3, False)]
    assert batches.calls == [("failed", [4], "E")]
    assert registry.kinds() == {"anchor_batch", "recall_batch", "claim"}


def test_a_kind_registered_twice_is_refused_and_the_first_handler_stays():
    first = Recorder()
    registry = ConfirmationRegistry().register(first, "anchor_log")
    with pytest.raises(DuplicateWriteKindError, match="'anchor_log' already have") as refused:
        registry.register(Recorder(), "claim", "anchor_log")
    assert refused.value.kind == "anchor_log"
    assert registry.handler("anchor_log") is first
    with pytest.raises(UnknownWriteKindError):  # nothing of a refused registration is kept
        registry.handler("claim")


def test_a_kind_named_twice_in_one_registration_is_refused():
    with pytest.raises(DuplicateWriteKindError):
        ConfirmationRegistry().register(Recorder(), "claim", "claim")


def test_an_unknown_kind_is_an_error_naming_it_and_the_known_ones():
    registry = ConfirmationRegistry().register(Recorder(), "claim")
    with pytest.raises(UnknownWriteKindError, match=r"'mint_everything'.*registered: claim") as e:
        registry.handler("mint_everything")
    assert e.value.kind == "mint_everything"
    assert isinstance(e.value, LookupError)


def test_the_service_registers_every_kind_it_writes_once():
    assert confirmations().kinds() == {
        "anchor_batch",
        "recall_batch",
        "attest_batch",
        "claim",
        "claim_batch",
        "forward",
        "relay",
        "grant_role",
        "anchor_log",
        NONCE_FILL,
    }


def test_only_kinds_that_may_grow_the_log_record_their_chain_facts():
    registry = confirmations()
    silent = {kind for kind in registry.kinds() if not registry.handler(kind).logs_chain_facts}
    assert silent == {"anchor_log", NONCE_FILL}


def test_a_gap_filler_changes_nothing():
    write = Write(9, NONCE_FILL, "0xS")
    NO_EFFECT.confirmed(TX, write, RECEIPT, True)
    NO_EFFECT.failed(TX, [write], "reason", None)
    assert NO_EFFECT.taken_back(TX, write) == Touched()
    assert NO_EFFECT.reincluded(TX, write, RECEIPT) == Touched()
