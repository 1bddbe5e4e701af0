"""SqlAlchemyTxStore: durable attempts, and business effects applied with the confirmation."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from chain.client import Receipt
from chain.errors import ContractRevertError
from chain.sender import TxAttempt, TxStatus
from service.bootstrap import confirmations
from service.factory.domain.batches import Batch, BatchStatus
from service.kernel.storage.clock import SystemClock
from service.kernel.storage.db import make_engine
from service.ledger.domain.outbox import ChainWrite
from service.ledger.ports import LogAnchor
from service.ledger.storage.commitments import leaf_hash
from service.ledger.storage.confirmations import ConfirmationRegistry, UnknownWriteKindError
from service.ledger.storage.log_anchor_confirmations import LogAnchorConfirmations
from service.ledger.storage.tx_store import SqlAlchemyTxStore
from service.unit_of_work import SqlAlchemyUnitOfWorkFactory

AT = datetime(2026, 1, 1, tzinfo=UTC)
SENDER = "0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf"


@pytest.fixture
def uows(database_url):
    engine = make_engine(database_url)
    yield SqlAlchemyUnitOfWorkFactory(engine, leaf_hash)
    engine.dispose()


@pytest.fixture
def store(uows):
    return SqlAlchemyTxStore(uows.sessions, leaf_hash, SystemClock(), confirmations())


def attempt(n: int, nonce: int = 0) -> TxAttempt:
    return TxAttempt(bytes([n]) * 32, b"raw%d" % n, nonce, 100 + n, 10 + n, 50_000)


def receipt(n: int, block: int = 7, status: int = 1) -> Receipt:
    return Receipt(bytes([n]) * 32, block, b"\xbb" * 32, status, 21_000, None, ())


def queue_batch_anchor(uows) -> int:
    from service.identity.domain.organisations import Organisation
    from service.kernel.roles import OrganisationKind

    with uows() as uow:
        org = uow.organisations.add(Organisation("F", OrganisationKind.FACTORY, AT))
        batch = uow.batches.add(
            Batch(
                "b_" + "1" * 24,
                org.id,
                "L",
                chain_batch_id=b"\x01" * 32,
                metadata_hash=b"\x03" * 32,
                root=b"\x02" * 32,
                item_count=1,
                status=BatchStatus.ACTIVATED,
                created_at=AT,
            )
        )
        assert uow.batches.transition(batch.id, [BatchStatus.ACTIVATED], BatchStatus.ANCHORING)
        outbox_id = uow.outbox.add(ChainWrite("anchor_batch", "anchor_batch:x", "0xC", b"d"), AT)
        uow.batches.set_outbox(batch.id, outbox_id)
        uow.commit()
    return outbox_id


def scalar(uows, sql: str):
    with uows.engine.connect() as conn:
        return conn.execute(text(sql)).scalar_one()


def test_signed_attempt_is_durable_before_sending(uows, store):
    outbox_id = queue_batch_anchor(uows)
    (request,) = store.queued(10)
    assert request.id == outbox_id and request.status is TxStatus.QUEUED
    store.record_signed(outbox_id, SENDER, attempt(1, nonce=5))
    # Another connection sees it: it was committed, not merely flushed.
    assert scalar(uows, "SELECT count(*) FROM tx_attempts") == 1
    assert scalar(uows, "SELECT status FROM outbox") == "signed"
    assert store.highest_nonce(SENDER) == 5
    assert store.highest_nonce("0x0000000000000000000000000000000000000001") is None
    [(req, attempts)] = store.in_flight()
    assert req.nonce == 5 and [a.raw for a in attempts] == [b"raw1"]


def test_replacement_keeps_every_hash(uows, store):
    outbox_id = queue_batch_anchor(uows)
    store.record_signed(outbox_id, SENDER, attempt(1))
    store.record_sent(outbox_id, attempt(1).tx_hash, 1.0)
    store.record_signed(outbox_id, SENDER, attempt(2))
    [(req, attempts)] = store.in_flight()
    assert req.status is TxStatus.SENT
    assert [a.tx_hash for a in attempts] == [attempt(1).tx_hash, attempt(2).tx_hash]
    assert attempts[0].sent_at == 1.0 and attempts[1].sent_at is None


def test_confirmed_batch_anchor_marks_the_batch_and_logs_one_event_atomically(uows, store):
    outbox_id = queue_batch_anchor(uows)
    store.record_signed(outbox_id, SENDER, attempt(1))
    store.record_sent(outbox_id, attempt(1).tx_hash, 1.0)
    store.record_mined(outbox_id, receipt(1))
    assert scalar(uows, "SELECT status FROM batches") == "anchoring"
    store.record_confirmed(outbox_id, receipt(1))
    store.record_confirmed(outbox_id, receipt(1))  # twice: still one effect
    assert scalar(uows, "SELECT status FROM batches") == "anchored"
    assert scalar(uows, "SELECT status FROM outbox") == "confirmed"
    assert scalar(uows, "SELECT count(*) FROM events WHERE type = 'BatchAnchored'") == 1
    assert store.in_flight() == []


def test_reorged_receipt_goes_back_to_sent(uows, store):
    outbox_id = queue_batch_anchor(uows)
    store.record_signed(outbox_id, SENDER, attempt(1))
    store.record_mined(outbox_id, receipt(1))
    store.record_unmined(outbox_id)
    [(req, _)] = store.in_flight()
    assert req.status is TxStatus.SENT and req.mined_block_hash is None


def test_confirmed_log_anchor_marks_the_anchor_and_writes_no_event(uows, store):
    with uows() as uow:
        outbox_id = uow.outbox.add(ChainWrite("anchor_log", "anchor_log:3", "0xC", b"d"), AT)
        uow.log_anchors.add(LogAnchor(3, b"\x05" * 32, "requested", outbox_id, AT))
        uow.commit()
    events_before = scalar(uows, "SELECT count(*) FROM events")
    store.record_signed(outbox_id, SENDER, attempt(1))
    store.record_confirmed(outbox_id, receipt(1))
    assert scalar(uows, "SELECT status FROM log_anchors") == "anchored"
    assert scalar(uows, "SELECT count(*) FROM events") == events_before


def test_a_write_of_a_kind_without_a_handler_is_an_error_and_stays_unconfirmed(uows):
    # Only the log anchors' handler: an anchor's confirmation names its kind and changes nothing.
    store = SqlAlchemyTxStore(
        uows.sessions,
        leaf_hash,
        SystemClock(),
        ConfirmationRegistry().register(LogAnchorConfirmations(), "anchor_log"),
    )
    outbox_id = queue_batch_anchor(uows)
    store.record_signed(outbox_id, SENDER, attempt(1))
    with pytest.raises(UnknownWriteKindError, match="'anchor_batch'"):
        store.record_confirmed(outbox_id, receipt(1))
    with uows() as uow:
        assert uow.outbox.get(outbox_id).status == "signed"
    assert scalar(uows, "SELECT status FROM batches") == "anchoring"


def test_failed_anchor_keeps_the_decoded_revert_and_marks_the_batch_anchor_failed(uows, store):
    outbox_id = queue_batch_anchor(uows)
    revert = ContractRevertError("CertificateRegistryBatchAlreadyAnchored", (b"\x01" * 32,))
    store.record_failed(outbox_id, "would revert", revert)
    with uows() as uow:
        entry = uow.outbox.get(outbox_id)
    assert entry.status == "failed"
    assert entry.error_name == "CertificateRegistryBatchAlreadyAnchored"
    assert scalar(uows, "SELECT status FROM batches") == "anchor_failed"
    assert scalar(uows, "SELECT count(*) FROM events WHERE type = 'BatchAnchorFailed'") == 1


def test_requeued_request_loses_its_nonce_but_keeps_its_attempts(uows, store):
    outbox_id = queue_batch_anchor(uows)
    store.record_signed(outbox_id, SENDER, attempt(1, nonce=3))
    store.record_requeued(outbox_id, "nonce taken")
    (request,) = store.queued(10)
    assert request.nonce is None
    assert scalar(uows, "SELECT count(*) FROM tx_attempts") == 1
    store.record_signed(outbox_id, SENDER, attempt(2, nonce=4))
    assert store.highest_nonce(SENDER) == 4
