"""The event log (anchoring, status, entries, proofs) and health, against the fakes."""

from datetime import UTC, datetime, timedelta

import pytest

from service.kernel.actor import Actor
from service.kernel.errors import PermissionDeniedError
from service.kernel.roles import Role
from service.ledger.app.commands import AnchorLog
from service.ledger.app.health import HealthLimits, check_health
from service.ledger.app.log import (
    anchor_log,
    log_consistency_proof,
    log_events,
    log_inclusion_proof,
    log_status,
)
from service.ledger.domain.errors import LogRangeError
from service.ledger.domain.outbox import OutboxFlight
from tests.unit.service.fakes.ledger import FakeCommitments, confirm_outbox
from tests.unit.service.organisations import ADMIN, FACTORY, organisation


def test_log_anchor_is_queued_only_when_the_log_grew(db, clock, ledger):
    commitments = FakeCommitments()
    assert anchor_log(AnchorLog(), db, commitments, ledger, clock) is None
    organisation(db, clock, "A", "brand")
    first = anchor_log(AnchorLog(), db, commitments, ledger, clock)
    assert first is not None and first.size == 1
    assert anchor_log(AnchorLog(), db, commitments, ledger, clock) is None
    organisation(db, clock, "B", "brand")
    second = anchor_log(AnchorLog(), db, commitments, ledger, clock)
    assert second is not None and second.size == 2
    assert [w.kind for w, _ in db.state.outbox.values()] == ["anchor_log", "anchor_log"]


def test_log_status_shows_the_latest_anchor_and_its_transaction(db, clock, ledger):
    commitments = FakeCommitments()
    organisation(db, clock, "A", "brand")
    anchor_log(AnchorLog(), db, commitments, ledger, clock)
    confirm_outbox(db, 1)
    status = log_status(ADMIN, db(), commitments, ledger)
    assert status["size"] == 1
    assert status["latest_anchor"]["tx_hash"] == "0x" + "09" * 32
    assert status["latest_anchored"] is None


def test_log_proof_ranges_are_checked(db, clock):
    organisation(db, clock, "A", "brand")
    with pytest.raises(LogRangeError):
        log_inclusion_proof(ADMIN, db(), FakeCommitments(), 1, None)
    with pytest.raises(LogRangeError):
        log_consistency_proof(ADMIN, db(), FakeCommitments(), 2, None)
    assert log_inclusion_proof(ADMIN, db(), FakeCommitments(), 0, None)["size"] == 1


def test_log_events_are_listed_in_order_with_their_payloads(db, clock):
    organisation(db, clock, "A", "brand")
    organisation(db, clock, "B", "brand")
    events = log_events(ADMIN, db(), 1, 10)
    assert [e["index"] for e in events] == [1]
    assert '"organisation_id":2' in events[0]["payload"]


def test_a_brand_reads_another_brands_log_entries_as_leaf_hashes_only(db, clock):
    a = organisation(db, clock, "A", "brand")
    b = organisation(db, clock, "B", "brand")
    everything = log_events(ADMIN, db(), 0, 10)
    seen = log_events(Actor("key:b", Role.BRAND, b.id, brand_id=b.id), db(), 0, 10)
    assert seen[0] == {
        "index": 0,
        "leaf_hash": everything[0]["leaf_hash"],
        "withheld": True,
    }
    assert f'"organisation_id":{a.id}' in everything[0]["payload"]
    assert seen[1] == everything[1] and f'"organisation_id":{b.id}' in seen[1]["payload"]


def test_factories_cannot_read_the_log(db, ledger):
    with pytest.raises(PermissionDeniedError):
        log_status(FACTORY, db(), FakeCommitments(), ledger)


# ----------------------------------------------------------------------------- health
def test_health_is_degraded_when_the_sender_is_held(db, ledger):
    ok, body = check_health(db, ledger)
    assert ok and body["status"] == "ok"
    ledger.held = True
    ok, body = check_health(db, ledger)
    assert not ok and body["chain"]["genesis_mismatch"] and body["sender"]["held"]


def test_health_is_degraded_when_the_chain_is_down(db, ledger):
    ledger.available = False
    ok, body = check_health(db, ledger)
    assert not ok and body["status"] == "degraded" and body["chain"]["reachable"] is False


def test_health_reports_a_broken_database_without_raising(ledger):
    def broken():
        raise OSError("disk on fire")

    ok, body = check_health(broken, ledger)
    assert not ok and body["database"] == {"ok": False, "error": "OSError"}


# ----------------------------------------------------------------------------- health: writes
NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def test_health_shows_the_sender_flight_and_stays_ok_when_writes_move(db, ledger):
    db.state.flight = OutboxFlight(NOW - timedelta(seconds=20), 7, 0, (6, 5, 4))
    ledger.sender_nonce = 7
    ok, body = check_health(db, ledger, now=NOW)
    sender = body["sender"]
    assert ok and sender["problems"] == []
    assert sender["oldest_in_flight_age_s"] == 20.0
    assert (sender["chain_nonce"], sender["lowest_in_flight_nonce"]) == (7, 7)
    assert (sender["nonce_gap"], sender["confirmed_missing"]) == (0, 0)


def test_health_is_degraded_by_an_old_write_in_flight(db, ledger):
    db.state.flight = OutboxFlight(NOW - timedelta(seconds=301), 7, 0, ())
    ledger.sender_nonce = 7
    ok, body = check_health(db, ledger, now=NOW)
    assert not ok and body["status"] == "degraded"
    assert "went out 301 s ago" in body["sender"]["problems"][0]
    limits = HealthLimits(max_in_flight_age_s=600)
    assert check_health(db, ledger, limits, now=NOW)[0]


def test_health_is_degraded_by_a_nonce_gap(db, ledger):
    db.state.flight = OutboxFlight(NOW, 9, 0, (6,))
    ledger.sender_nonce = 7  # nonces 7 and 8 are held by nobody: 9 waits forever
    ok, body = check_health(db, ledger, now=NOW)
    assert not ok and body["sender"]["nonce_gap"] == 2
    assert "nonce gap" in body["sender"]["problems"][0]


def test_health_counts_confirmed_writes_the_chain_does_not_hold(db, ledger):
    # One reorged write being sent again, and two confirmed whose nonces the chain never used.
    db.state.flight = OutboxFlight(NOW, 5, 1, (7, 6, 4))
    ledger.sender_nonce = 5
    ok, body = check_health(db, ledger, now=NOW)
    assert not ok and body["sender"]["confirmed_missing"] == 3
    assert body["sender"]["problems"] == ["3 confirmed write(s) are not on the chain"]
