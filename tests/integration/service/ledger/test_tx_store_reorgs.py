"""SqlAlchemyTxStore after a confirmation: finality, reorged writes re-included or taken back,
nonce-gap owners and fillers. Every change of a business row's chain facts comes with its event
in the same transaction (anchor_log excepted: log_anchors alone shows it)."""

from __future__ import annotations

import json

import pytest
from eth_abi.abi import encode as abi_encode
from sqlalchemy import select, text

from chain.client import LogEntry, Receipt
from chain.sender import NONCE_FILL, TxAttempt, TxStatus
from service.bootstrap import confirmations
from service.consumer.storage.confirmations import GIFT_CREATED
from service.consumer.storage.rows import CertificateActionRow, CertificateDealRow, CertificateRow
from service.factory.storage.rows import ItemRow
from service.kernel.storage.clock import SystemClock
from service.kernel.storage.db import make_engine, migrate
from service.kernel.storage.rows import EventRow
from service.ledger.domain.outbox import ChainWrite
from service.ledger.ports import LogAnchor
from service.ledger.storage.commitments import leaf_hash
from service.ledger.storage.tx_store import SqlAlchemyTxStore
from service.unit_of_work import SqlAlchemyUnitOfWorkFactory
from tests.integration.service.ledger.test_tx_store import AT, SENDER, queue_batch_anchor

OTHER = "0x0000000000000000000000000000000000000001"


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


def receipt(
    n: int, block: int, block_hash: bytes = b"\xbb" * 32, logs: tuple[LogEntry, ...] = ()
) -> Receipt:
    return Receipt(bytes([n]) * 32, block, block_hash, 1, 21_000, None, logs)


def scalar(uows, sql: str):
    with uows.engine.connect() as conn:
        return conn.execute(text(sql)).scalar_one()


def events(uows, kind: str) -> list[dict]:
    with uows.sessions() as s:
        return [
            json.loads(p)
            for p in s.scalars(
                select(EventRow.payload).where(EventRow.type == kind).order_by(EventRow.log_index)
            )
        ]


def confirm(store, outbox_id: int, n: int = 1, nonce: int = 0, block: int = 7) -> None:
    store.record_signed(outbox_id, SENDER, attempt(n, nonce))
    store.record_sent(outbox_id, attempt(n, nonce).tx_hash, 1.0)
    store.record_mined(outbox_id, receipt(n, block))
    store.record_confirmed(outbox_id, receipt(n, block))


def anchor_view_block(uows, outbox_id: int) -> int | None:
    with uows() as uow:
        entry = uow.outbox.get(outbox_id)
    return entry.block_number


# ------------------------------------------------------------------------------ batch anchor
def test_reincluded_anchor_stays_anchored_with_its_new_block_and_one_event(uows, store):
    outbox_id = queue_batch_anchor(uows)
    confirm(store, outbox_id, block=7)
    assert anchor_view_block(uows, outbox_id) == 7

    store.record_reorged(outbox_id, "block 7 left the canonical chain")
    [(request, _)] = store.in_flight()
    assert request.status is TxStatus.SENT and request.reorged_from_block == 7
    assert scalar(uows, "SELECT status FROM batches") == "anchored"  # kept while re-sent

    store.record_mined(outbox_id, receipt(1, 9, b"\xcc" * 32))
    store.record_confirmed(outbox_id, receipt(1, 9, b"\xcc" * 32))
    assert anchor_view_block(uows, outbox_id) == 9  # what GET /batches/{id} shows
    assert scalar(uows, "SELECT status FROM batches") == "anchored"
    assert len(events(uows, "BatchAnchored")) == 1
    (event,) = events(uows, "ChainWriteReincluded")
    assert (
        event["outbox_id"],
        event["kind"],
        event["old_block_number"],
        event["block_number"],
    ) == (
        outbox_id,
        "anchor_batch",
        7,
        9,
    )
    assert event["batch_id"] == "b_" + "1" * 24
    assert scalar(uows, "SELECT reorged_at FROM outbox") is None


def test_rolled_back_anchor_goes_back_to_anchoring_and_anchors_again(uows, store):
    outbox_id = queue_batch_anchor(uows)
    confirm(store, outbox_id, block=7)
    store.record_reorged(outbox_id, "block 7 left the canonical chain")
    store.record_requeued(outbox_id, "nonce 0 was used by another transaction")

    assert scalar(uows, "SELECT status FROM batches") == "anchoring"
    (back,) = events(uows, "ChainWriteRolledBack")
    assert (back["outbox_id"], back["block_number"], back["batch_id"]) == (
        outbox_id,
        7,
        "b_" + "1" * 24,
    )
    assert "nonce 0" in back["reason"]
    (request,) = store.queued(10)
    assert request.id == outbox_id and request.reorged_from_block is None

    confirm(store, outbox_id, n=2, nonce=1, block=12)
    assert scalar(uows, "SELECT status FROM batches") == "anchored"
    assert [e["block_number"] for e in events(uows, "BatchAnchored")] == [7, 12]


def test_reorged_write_that_reverts_when_reincluded_is_taken_back_then_failed(uows, store):
    outbox_id = queue_batch_anchor(uows)
    confirm(store, outbox_id, block=7)
    store.record_reorged(outbox_id, "block 7 left the canonical chain")
    store.record_failed(outbox_id, "reverted on chain in block 9", None)
    assert scalar(uows, "SELECT status FROM batches") == "anchor_failed"
    assert len(events(uows, "ChainWriteRolledBack")) == 1
    assert len(events(uows, "BatchAnchorFailed")) == 1


def test_reorged_is_a_no_op_for_a_write_that_is_not_confirmed(uows, store):
    outbox_id = queue_batch_anchor(uows)
    store.record_signed(outbox_id, SENDER, attempt(1))
    store.record_reorged(outbox_id, "race with a recheck")
    [(request, _)] = store.in_flight()
    assert request.status is TxStatus.SIGNED and request.reorged_from_block is None


# ------------------------------------------------------------------------------ claims
def claimed_certificates(uows, n: int, outbox_id: int) -> list[int]:
    """``n`` certificates of the anchored test batch, claimed by the write ``outbox_id``."""
    ids = []
    with uows.sessions.begin() as s:
        batch_id = s.execute(text("SELECT id FROM batches")).scalar_one()
        for i in range(n):
            item = ItemRow(
                batch_id=batch_id,
                serial=f"S{i}",
                item_hash=bytes([i]) * 32,
                leaf=bytes([i]) * 32,
                leaf_index=i,
            )
            s.add(item)
            s.flush()
            cert = CertificateRow(
                public_id=f"c_{i}",
                item_id=item.id,
                batch_id=batch_id,
                token_id=str(1000 + i),
                state="claim_pending",
                owner_address=OTHER,
                claimed_at=AT,
                claim_outbox_id=outbox_id,
                version=1,
            )
            s.add(cert)
            s.flush()
            s.add(
                CertificateActionRow(
                    certificate_id=cert.id,
                    action="claim",
                    to_state="active",
                    principal_id="consumer:1",
                    status="sent",
                    outbox_id=outbox_id,
                    created_at=AT,
                )
            )
            ids.append(cert.id)
    return ids


def claim_write(uows) -> int:
    queue_batch_anchor(uows)
    with uows() as uow:
        outbox_id = uow.outbox.add(ChainWrite("claim_batch", "claim_batch:1:2", "0xC", b"c"), AT)
        uow.commit()
    return outbox_id


def certificate_rows(uows) -> list[tuple]:
    with uows.engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                text(
                    "SELECT public_id, state, claim_block_number FROM certificates "
                    "ORDER BY public_id"
                )
            )
        ]


def test_reincluded_claims_refresh_each_certificate_claim_block(uows, store):
    outbox_id = claim_write(uows)
    claimed_certificates(uows, 2, outbox_id)
    confirm(store, outbox_id, block=7)
    assert certificate_rows(uows) == [("c_0", "active", 7), ("c_1", "active", 7)]

    store.record_reorged(outbox_id, "reorg")
    store.record_mined(outbox_id, receipt(1, 11))
    store.record_confirmed(outbox_id, receipt(1, 11))
    assert certificate_rows(uows) == [("c_0", "active", 11), ("c_1", "active", 11)]
    (event,) = events(uows, "ChainWriteReincluded")
    assert event["certificate_ids"] == ["c_0", "c_1"] and event["block_number"] == 11
    assert len(events(uows, "CertificateClaimed")) == 2


def test_rolled_back_claims_are_pending_again_and_are_claimed_again(uows, store):
    outbox_id = claim_write(uows)
    certs = claimed_certificates(uows, 2, outbox_id)
    confirm(store, outbox_id, block=7)
    with uows.sessions.begin() as s:  # c_1 moved on (given away) before the reorg
        s.get(CertificateRow, certs[1]).state = "gifted"

    store.record_reorged(outbox_id, "reorg")
    store.record_requeued(outbox_id, "nonce 0 was used by another transaction")
    assert certificate_rows(uows) == [("c_0", "claim_pending", None), ("c_1", "gifted", None)]
    assert scalar(uows, "SELECT count(*) FROM certificate_actions WHERE status = 'sent'") == 2
    (back,) = events(uows, "ChainWriteRolledBack")
    assert back["certificate_ids"] == ["c_0", "c_1"]

    confirm(store, outbox_id, n=2, nonce=1, block=15)
    assert certificate_rows(uows) == [("c_0", "active", 15), ("c_1", "gifted", 15)]
    claimed = events(uows, "CertificateClaimed")
    assert sorted(e["certificate_id"] for e in claimed[2:]) == ["c_0", "c_1"]
    assert scalar(uows, "SELECT count(*) FROM certificate_actions WHERE status = 'confirmed'") == 2


# ------------------------------------------------------------------------------ lifecycle
def gift_receipt(n: int, block: int, gift_nonce: int) -> Receipt:
    data = abi_encode(["address", "uint64", "uint64"], [OTHER, 10**9, gift_nonce])
    entry = LogEntry("0x" + "cc" * 20, (GIFT_CREATED, b"\x00" * 32, b"\x00" * 32), data, 0)
    return receipt(n, block, logs=(entry,))


def test_reincluded_gift_gets_the_gift_nonce_of_its_new_inclusion(uows, store):
    outbox_id = claim_write(uows)
    (cert,) = claimed_certificates(uows, 1, outbox_id)
    with uows() as uow:
        forward = uow.outbox.add(ChainWrite("forward", "forward:1", "0xF", b"f"), AT)
        uow.commit()
    with uows.sessions.begin() as s:
        s.get(CertificateRow, cert).state = "gifted"
        deal = CertificateDealRow(
            public_id="d_1",
            certificate_id=cert,
            kind="gift",
            status="open",
            terms={},
            created_at=AT,
        )
        s.add(deal)
        s.flush()
        s.add(
            CertificateActionRow(
                certificate_id=cert,
                action="gift",
                from_state="active",
                to_state="gifted",
                principal_id="consumer:1",
                status="sent",
                outbox_id=forward,
                deal_id=deal.id,
                created_at=AT,
            )
        )
    store.record_signed(forward, SENDER, attempt(5, 3))
    store.record_confirmed(forward, gift_receipt(5, 8, gift_nonce=4))
    assert scalar(uows, "SELECT gift_nonce FROM certificate_deals") == 4

    store.record_reorged(forward, "reorg")
    store.record_confirmed(forward, gift_receipt(5, 10, gift_nonce=6))
    assert scalar(uows, "SELECT gift_nonce FROM certificate_deals") == 6
    (event,) = events(uows, "ChainWriteReincluded")
    assert event["certificate_ids"] == ["c_0"] and event["kind"] == "forward"

    store.record_reorged(forward, "reorg")
    store.record_requeued(forward, "nonce 3 was used by another transaction")
    assert scalar(uows, "SELECT gift_nonce FROM certificate_deals") is None
    assert scalar(uows, "SELECT status FROM certificate_actions WHERE action = 'gift'") == "sent"
    assert len(events(uows, "ChainWriteRolledBack")) == 1


# ------------------------------------------------------------------------------ log anchor
def test_rolled_back_log_anchor_is_requested_again_and_logs_no_event(uows, store):
    with uows() as uow:
        outbox_id = uow.outbox.add(ChainWrite("anchor_log", "anchor_log:3", "0xC", b"d"), AT)
        uow.log_anchors.add(LogAnchor(3, b"\x05" * 32, "requested", outbox_id, AT))
        uow.commit()
    size = scalar(uows, "SELECT count(*) FROM events")
    confirm(store, outbox_id, block=7)
    store.record_reorged(outbox_id, "reorg")
    store.record_confirmed(outbox_id, receipt(1, 9))  # re-included: nothing to say
    assert scalar(uows, "SELECT status FROM log_anchors") == "anchored"
    store.record_reorged(outbox_id, "reorg")
    store.record_requeued(outbox_id, "nonce taken")
    assert scalar(uows, "SELECT status FROM log_anchors") == "requested"
    assert scalar(uows, "SELECT anchored_at FROM log_anchors") is None
    confirm(store, outbox_id, n=2, nonce=1, block=12)
    assert scalar(uows, "SELECT status FROM log_anchors") == "anchored"
    assert scalar(uows, "SELECT count(*) FROM events") == size


# ------------------------------------------------------------------------------ finality, gaps
def test_following_lists_the_sender_confirmed_writes_until_they_are_final(uows, store):
    first, second = queue_batch_anchor(uows), None
    confirm(store, first, n=1, nonce=0, block=7)
    with uows() as uow:
        second = uow.outbox.add(ChainWrite("attest_batch", "attest:1", "0xC", b"a"), AT)
        uow.commit()
    confirm(store, second, n=2, nonce=1, block=8)
    assert [r.id for r in store.following(SENDER)] == [first, second]
    assert store.following(OTHER) == []
    store.record_final([first])
    assert [r.id for r in store.following(SENDER)] == [second]
    assert [r.id for r, _ in store.confirmed_page(0, 10)] == [first, second]
    assert [r.id for r, _ in store.confirmed_page(first, 10)] == [second]
    store.record_reorged(first, "its nonce 0 is unused on chain")  # final, then lost: followed
    store.record_confirmed(first, receipt(1, 9))
    assert [r.id for r in store.following(SENDER)] == [first, second]


def test_nonce_owners_and_fillers(uows, store):
    outbox_id = queue_batch_anchor(uows)
    confirm(store, outbox_id, nonce=4, block=7)
    assert {n: r.id for n, r in store.nonce_owners(SENDER, [3, 4, 5]).items()} == {4: outbox_id}
    assert store.nonce_owners(OTHER, [4]) == {}

    filler = store.record_filler(SENDER, attempt(9, nonce=5))
    [(request, attempts)] = store.in_flight()
    assert (request.id, request.kind, request.status, request.nonce) == (
        filler,
        NONCE_FILL,
        TxStatus.SIGNED,
        5,
    )
    assert request.to == SENDER and request.data == b"" and attempts[0].raw == b"raw9"
    assert store.highest_nonce(SENDER) == 5
    store.record_sent(filler, attempt(9).tx_hash, 2.0)
    store.record_confirmed(filler, receipt(9, 8))
    assert scalar(uows, "SELECT count(*) FROM events WHERE type LIKE 'ChainWrite%'") == 0
    assert store.nonce_owners(SENDER, [5])[5].kind == NONCE_FILL


def test_migration_0006_marks_writes_confirmed_before_it_final(empty_database_url):
    migrate(empty_database_url, "0005")
    engine = make_engine(empty_database_url)
    try:
        with engine.begin() as conn:
            for n, status in enumerate(("confirmed", "sent"), start=1):
                conn.execute(
                    text(
                        "INSERT INTO outbox (id, kind, dedupe_key, to_address, calldata, value, "
                        "status, nonce, sender, created_at, updated_at) VALUES "
                        "(:id, 'anchor_batch', :key, '0xC', :data, '0', :status, :id, :sender, "
                        ":at, :at)"
                    ),
                    {
                        "id": n,
                        "key": f"k{n}",
                        "data": b"d",
                        "status": status,
                        "sender": SENDER,
                        "at": AT,
                    },
                )
        migrate(empty_database_url)
        store = SqlAlchemyTxStore(
            SqlAlchemyUnitOfWorkFactory(engine, leaf_hash).sessions,
            leaf_hash,
            SystemClock(),
            confirmations(),
        )
        assert store.following(SENDER) == []  # history is not followed: recheck covers it
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT id, final_at FROM outbox ORDER BY id")).all()
        assert rows[0][1] is not None and rows[1][1] is None
    finally:
        engine.dispose()


def test_outbox_flight_reports_what_health_compares_with_the_chain(uows, store):
    first = queue_batch_anchor(uows)
    confirm(store, first, n=1, nonce=0, block=7)
    with uows() as uow:
        second = uow.outbox.add(ChainWrite("attest_batch", "attest:1", "0xC", b"a"), AT)
        uow.commit()
    store.record_signed(second, SENDER, attempt(2, nonce=1))
    with uows() as uow:
        flight = uow.outbox.flight(SENDER)
        assert uow.outbox.flight(OTHER).lowest_in_flight_nonce is None
    assert flight.lowest_in_flight_nonce == 1 and flight.reorged == 0
    assert flight.top_confirmed_nonces == (0,)
    assert flight.oldest_in_flight_at is not None and flight.oldest_in_flight_at.tzinfo

    store.record_reorged(first, "reorg")
    with uows() as uow:
        flight = uow.outbox.flight(SENDER)
    assert (flight.lowest_in_flight_nonce, flight.reorged, flight.top_confirmed_nonces) == (
        0,
        1,
        (),
    )
