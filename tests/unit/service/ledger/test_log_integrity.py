"""The log is proven before it is extended, and tampering is named: the anchorer, /health,
GET /log and ``log verify`` over the fakes, with an insider editing the stored rows."""

from __future__ import annotations

import itertools
from dataclasses import replace

import pytest

from service.alerts.domain.alerts import AlertKind
from service.identity.app.commands import CreateOrganisation
from service.identity.app.organisations import SYSTEM_ACTOR, create_organisation
from service.identity.domain.events import OrganisationCreated
from service.kernel.actor import Actor
from service.kernel.events import log_link
from service.kernel.ports import LogEntry
from service.kernel.roles import Role
from service.ledger.app import log_integrity
from service.ledger.app.commands import AnchorLog
from service.ledger.app.health import check_health
from service.ledger.app.log import anchor_log, log_status
from tests.unit.service.fakes.kernel import FakeEventLog
from tests.unit.service.fakes.ledger import FakeCommitments, confirm_log_anchor
from tests.unit.service.fakes.state import sha

ADMIN = Actor("key:admin", Role.ADMIN, organisation_id=1)


@pytest.fixture
def commitments():
    return FakeCommitments()


@pytest.fixture
def world(db, clock):
    """Two brands (entries 0 and 1 of the log)."""
    for name in ("Brand One", "Brand Two"):
        create_organisation(CreateOrganisation(SYSTEM_ACTOR, name, "brand"), db(), clock)
    return db


def grow(db, clock, n: int) -> None:
    with db() as uow:
        for i in range(n):
            uow.events.append(OrganisationCreated(100 + i, "store"), clock.now())
        uow.commit()


def anchor(db, commitments, ledger, clock, confirm: bool = True):
    """One anchorer pass; its anchor confirmed on the fake chain unless ``confirm`` is False."""
    made = anchor_log(AnchorLog(), db, commitments, ledger, clock)
    if made is not None and confirm:
        confirm_log_anchor(db, ledger, made)
    return made


def _at(db, index: int) -> int:
    return next(n for n, e in enumerate(db.state.events) if e.index == index)


def edit(db, index: int, with_leaf: bool = True) -> None:
    """An insider changes an entry's bytes (and, if ``with_leaf``, its stored leaf hash)."""
    n = _at(db, index)
    entry = db.state.events[n]
    old = b'"kind":"store"' if b'"kind":"store"' in entry.payload else b'"kind":"brand"'
    payload = entry.payload.replace(old, b'"kind":"bank"')
    assert payload != entry.payload
    leaf = sha(b"\x00", payload) if with_leaf else entry.leaf_hash
    db.state.events[n] = replace(entry, payload=payload, leaf_hash=leaf)


def delete(db, index: int) -> None:
    del db.state.events[_at(db, index)]


def move(db, index: int, to: int) -> None:
    n = _at(db, index)
    db.state.events[n] = replace(db.state.events[n], index=to)


def swap(db, i: int, j: int) -> None:
    a, b = _at(db, i), _at(db, j)
    move(db, i, -1)
    db.state.events[b] = replace(db.state.events[b], index=i)
    db.state.events[a] = replace(db.state.events[a], index=j)


def kinds(check) -> list[tuple[str, int]]:
    return [(f["kind"], f["index"]) for f in check.findings]


def log_alerts(db):
    return [a for a in db.state.alerts.values() if a.kind is AlertKind.LOG_INTEGRITY]


# ----------------------------------------------------------------------------- links
def test_every_entry_carries_its_index_and_its_predecessors_leaf_hash(world, clock):
    grow(world, clock, 3)
    entries = world.state.events
    assert log_link(entries[0].payload).prev == b"\x00" * 32
    for before, entry in itertools.pairwise(entries):
        link = log_link(entry.payload)
        assert link.index == entry.index and link.prev == before.leaf_hash


# ----------------------------------------------------------------------------- a clean log
def test_a_clean_log_is_proven_and_anchored_as_it_grows(world, commitments, ledger, clock):
    first = anchor(world, commitments, ledger, clock)
    assert first is not None and first.size == 2
    assert world.state.log_check.status == "ok" and world.state.log_check.chain_size == 0
    grow(world, clock, 5)
    second = anchor(world, commitments, ledger, clock)
    assert second is not None and second.size == 7
    check = world.state.log_check
    assert (check.status, check.size, check.chain_size, check.first_bad_index) == ("ok", 7, 2, None)
    assert anchor(world, commitments, ledger, clock) is None  # nothing new: nothing queued
    assert world.state.log_check.status == "ok"
    assert not log_alerts(world)
    ok, body = check_health(world, ledger)
    assert ok and body["log"]["log_integrity"] == "ok" and body["log"]["size"] == 7


# ----------------------------------------------------------------------------- edits
def test_an_anchored_entry_edited_with_its_leaf_hash_stops_anchoring_and_is_named(
    world, commitments, ledger, clock
):
    grow(world, clock, 10)
    assert anchor(world, commitments, ledger, clock).size == 12
    edit(world, 5)
    grow(world, clock, 1)
    outbox_before = len(world.state.outbox)

    assert anchor(world, commitments, ledger, clock) is None
    assert len(world.state.outbox) == outbox_before  # nothing queued over the edited history
    check = world.state.log_check
    assert check.status == "failed" and check.first_bad_index == 5
    assert ("edited", 5) in kinds(check) and ("root", 12) in kinds(check)
    ok, body = check_health(world, ledger)
    assert not ok and body["status"] == "degraded"
    assert body["log"]["log_integrity"] == "failed" and body["log"]["first_bad_index"] == 5


def test_each_finding_alerts_every_brand_once_not_every_interval(world, commitments, ledger, clock):
    grow(world, clock, 10)
    anchor(world, commitments, ledger, clock)
    edit(world, 5)
    anchor(world, commitments, ledger, clock)
    raised = log_alerts(world)
    assert {a.brand_id for a in raised} == {1, 2}
    per_brand = {(a.brand_id, a.detail["kind"], a.detail["index"]) for a in raised}
    assert (1, "edited", 5) in per_brand and (2, "edited", 5) in per_brand
    assert all(a.detail["first_bad_index"] == 5 for a in raised)
    events = len(world.state.events)

    for _ in range(3):
        anchor(world, commitments, ledger, clock)
    assert len(log_alerts(world)) == len(raised)
    assert all(a.count == 1 for a in log_alerts(world))
    assert len(world.state.events) == events  # no AlertRaised for an old finding


def test_a_new_entry_edited_with_its_leaf_hash_is_named_by_its_successor(
    world, commitments, ledger, clock
):
    anchor(world, commitments, ledger, clock)
    grow(world, clock, 6)
    edit(world, 4)  # not anchored yet: only the link of entry 5 gives it away
    assert anchor(world, commitments, ledger, clock) is None
    check = world.state.log_check
    assert kinds(check) == [("edited", 4)] and check.first_bad_index == 4
    assert "entry 4 differs from the entry 5 was linked to" in check.findings[0]["detail"]


def test_a_payload_changed_without_its_leaf_hash_is_named(world, commitments, ledger, clock):
    anchor(world, commitments, ledger, clock)
    grow(world, clock, 3)
    edit(world, 3, with_leaf=False)
    assert anchor(world, commitments, ledger, clock) is None
    assert kinds(world.state.log_check) == [("edited", 3)]
    assert "not H(0x00 || payload)" in world.state.log_check.findings[0]["detail"]


# ----------------------------------------------------------------------------- gaps
def test_the_last_entry_deleted_and_another_appended_leaves_a_named_gap(
    world, commitments, ledger, clock
):
    grow(world, clock, 8)
    assert anchor(world, commitments, ledger, clock).size == 10
    grow(world, clock, 1)
    delete(world, 10)
    grow(world, clock, 1)  # takes index 11: the head was not wound back
    assert anchor(world, commitments, ledger, clock) is None
    check = world.state.log_check
    assert kinds(check) == [("gap", 10)] and check.first_bad_index == 10
    assert check.findings[0]["detail"] == "entry 10 is missing"
    assert max(ledger.log_roots) == 10  # nothing anchored over 11 leaves claiming 12


def test_an_anchored_entry_deleted_is_a_gap_and_its_anchored_root_cannot_be_met(
    world, commitments, ledger, clock
):
    grow(world, clock, 8)
    anchor(world, commitments, ledger, clock)
    delete(world, 9)
    grow(world, clock, 1)
    assert anchor(world, commitments, ledger, clock) is None
    check = world.state.log_check
    assert ("gap", 9) in kinds(check) and ("root", 10) in kinds(check)
    assert check.first_bad_index == 9


def test_a_log_shorter_than_the_anchored_size_is_named(world, commitments, ledger, clock):
    grow(world, clock, 8)
    anchor(world, commitments, ledger, clock)
    delete(world, 9)
    delete(world, 8)
    world.state.log_size = 8  # the head wound back too
    assert anchor(world, commitments, ledger, clock) is None
    check = world.state.log_check
    assert check.findings[0]["kind"] == "gap" and check.findings[0]["end"] == 9
    assert check.first_bad_index == 8


# ----------------------------------------------------------------------------- moves, copies
def test_two_entries_swapped_are_named_as_reordered(world, commitments, ledger, clock):
    grow(world, clock, 8)
    anchor(world, commitments, ledger, clock)
    grow(world, clock, 5)
    swap(world, 11, 13)
    assert anchor(world, commitments, ledger, clock) is None
    assert kinds(world.state.log_check) == [("reordered", 11), ("reordered", 13)]


def test_anchored_entries_swapped_are_located_below_the_anchored_root(
    world, commitments, ledger, clock
):
    grow(world, clock, 4)
    anchor(world, commitments, ledger, clock)  # 6
    grow(world, clock, 6)
    anchor(world, commitments, ledger, clock)  # 12
    swap(world, 7, 9)
    grow(world, clock, 1)
    assert anchor(world, commitments, ledger, clock) is None
    check = world.state.log_check
    assert ("reordered", 7) in kinds(check) and ("reordered", 9) in kinds(check)
    assert ("root", 12) in kinds(check) and check.first_bad_index == 7


def test_an_entry_copied_to_the_end_is_named_as_a_duplicate(world, commitments, ledger, clock):
    grow(world, clock, 4)
    anchor(world, commitments, ledger, clock)
    world.state.events.append(replace(world.state.events[3], index=6))
    world.state.log_size = 7
    assert anchor(world, commitments, ledger, clock) is None
    check = world.state.log_check
    assert kinds(check) == [("duplicate", 6)]
    assert check.findings[0]["detail"] == "index 6 holds a copy of entry 3"


# ----------------------------------------------------------------------------- recovery
def test_a_log_restored_whole_is_anchored_again_without_a_new_alert(
    world, commitments, ledger, clock
):
    grow(world, clock, 6)
    anchor(world, commitments, ledger, clock)
    original = list(world.state.events)
    edit(world, 3)
    grow(world, clock, 1)
    assert anchor(world, commitments, ledger, clock) is None
    alerts = len(log_alerts(world))
    world.state.events = original  # restored from a backup
    world.state.log_size, world.state.last_leaf = 8, original[-1].leaf_hash
    grow(world, clock, 1)
    made = anchor(world, commitments, ledger, clock)
    assert made is not None and made.size == 9
    assert world.state.log_check.status == "ok" and world.state.log_check.failed_since is None
    assert len(log_alerts(world)) == alerts


def test_a_failed_log_stays_failed_while_the_chain_cannot_be_read(
    world, commitments, ledger, clock
):
    grow(world, clock, 6)
    anchor(world, commitments, ledger, clock)
    edit(world, 2)
    anchor(world, commitments, ledger, clock)
    ledger.available = False
    assert anchor(world, commitments, ledger, clock) is None
    check = world.state.log_check
    assert check.status == "failed" and check.first_bad_index == 2
    assert "chain cannot be read" in check.reason


def test_without_the_chain_nothing_is_anchored_and_the_log_is_unchecked(
    world, commitments, ledger, clock
):
    ledger.available = False
    assert anchor(world, commitments, ledger, clock) is None
    assert not world.state.outbox
    check = world.state.log_check
    assert check.status == "unchecked" and "chain cannot be read" in check.reason
    _, body = check_health(world, ledger)
    assert body["log"]["log_integrity"] == "unchecked"


def test_an_anchor_in_flight_binds_the_entries_below_it(world, commitments, ledger, clock):
    grow(world, clock, 6)
    assert anchor(world, commitments, ledger, clock, confirm=False).size == 8
    edit(world, 4)  # after the root was requested, before it is mined
    grow(world, clock, 1)
    assert anchor(world, commitments, ledger, clock) is None
    assert ("root", 8) in kinds(world.state.log_check)
    assert ("edited", 4) in kinds(world.state.log_check)


# ----------------------------------------------------------------------------- old entries
def legacy(db, clock, n: int) -> None:
    """Entries as written before links existed (no log_index, no prev)."""
    for i in range(n):
        index, at = db.state.log_size, clock.now()
        payload = OrganisationCreated(200 + i, "store").canonical_bytes(at)
        entry = LogEntry(index, "OrganisationCreated", at, payload, sha(b"\x00", payload))
        db.state.events.append(entry)
        db.state.log_size, db.state.last_leaf = index + 1, entry.leaf_hash


def test_old_entries_edited_are_narrowed_to_the_interval_between_anchored_sizes(
    db, commitments, ledger, clock
):
    legacy(db, clock, 4)
    anchor(db, commitments, ledger, clock)  # 4
    legacy(db, clock, 6)
    anchor(db, commitments, ledger, clock)  # 10
    n = _at(db, 6)
    payload = db.state.events[n].payload.replace(b'"store"', b'"brand"')
    db.state.events[n] = replace(
        db.state.events[n], payload=payload, leaf_hash=sha(b"\x00", payload)
    )
    grow(db, clock, 1)  # a linked entry after the old ones
    assert anchor(db, commitments, ledger, clock) is None
    check = db.state.log_check
    assert kinds(check) == [("root", 10)]
    assert check.first_bad_index == 4  # somewhere in 4..9: the roots cannot say more


def test_an_unlinked_entry_after_linked_ones_is_named(world, commitments, ledger, clock):
    anchor(world, commitments, ledger, clock)
    legacy(world, clock, 1)
    assert anchor(world, commitments, ledger, clock) is None
    assert kinds(world.state.log_check) == [("edited", 2)]


# ----------------------------------------------------------------------------- GET /log, verify
def test_log_status_flags_an_anchored_root_the_stored_log_no_longer_has(
    world, commitments, ledger, clock
):
    grow(world, clock, 4)
    anchor(world, commitments, ledger, clock)
    view = log_status(ADMIN, world(), commitments, ledger)
    shown = view["latest_anchored"]
    assert shown["matches"] is True and shown["problem"] is None
    assert shown["chain_root"] == shown["stored_root"] == shown["root"]

    edit(world, 1)
    anchor(world, commitments, ledger, clock)
    view = log_status(ADMIN, world(), commitments, ledger)
    shown = view["latest_anchored"]
    assert shown["matches"] is False and shown["problem"] == "root_differs"
    assert shown["chain_root"] == shown["root"] != shown["stored_root"]
    assert view["integrity"]["log_integrity"] == "failed"
    assert view["integrity"]["first_bad_index"] == 1


def test_log_status_says_when_log_anchors_calls_a_size_anchored_the_chain_lacks(
    world, commitments, ledger, clock
):
    grow(world, clock, 4)
    made = anchor(world, commitments, ledger, clock)
    del ledger.log_roots[made.size]  # a reorganisation took the write away
    view = log_status(ADMIN, world(), commitments, ledger)
    assert view["latest_anchored"]["problem"] == "not_on_chain"
    assert view["latest_anchored"]["chain_root"] is None


def test_verify_names_edits_gaps_and_each_disagreeing_anchored_size(
    world, commitments, ledger, clock
):
    grow(world, clock, 4)
    anchor(world, commitments, ledger, clock)  # 6
    grow(world, clock, 4)
    anchor(world, commitments, ledger, clock)  # 10
    grow(world, clock, 4)
    anchor(world, commitments, ledger, clock)  # 14
    del ledger.log_roots[14]  # log_anchors says anchored; the chain lost it
    edit(world, 7)
    delete(world, 12)
    report = log_integrity.verify(world, commitments, ledger)
    assert not report.ok
    assert [(f.kind, f.index) for f in report.findings] == [("edited", 7), ("gap", 12)]
    assert {a.size: a.status for a in report.anchors} == {
        6: "ok",
        10: "root_differs",
        14: "not_on_chain",
    }
    assert report.first_bad_index == 7


def test_verify_passes_a_whole_log(world, commitments, ledger, clock):
    grow(world, clock, 4)
    anchor(world, commitments, ledger, clock)
    grow(world, clock, 2)
    report = log_integrity.verify(world, commitments, ledger)
    assert report.ok and report.size == 8 and [a.status for a in report.anchors] == ["ok"]


def test_paging_misses_no_row_and_sees_an_index_stored_twice(
    world, clock, commitments, monkeypatch
):
    grow(world, clock, 10)
    leaves = [e.leaf_hash for e in world.state.events]
    world.state.events.append(replace(world.state.events[5]))  # index 5 stored twice
    monkeypatch.setattr(log_integrity, "PAGE", 3)
    pages = []
    with world.reader() as uow:
        real = uow.events.rows
        uow.events.rows = lambda *a: pages.append(a) or real(*a)
        found = log_integrity.inspect(uow, commitments, 12, [4, 5, 12], (0, 12))
    assert len(pages) > 4 and found.rows == 13
    assert [(f.kind, f.index) for f in found.findings] == [("duplicate", 5)]
    assert found.roots[4] == commitments.log_root(leaves[:4])
    assert found.roots[5] == commitments.log_root(leaves[:5])
    assert found.roots[12] is None  # which of the two is entry 5?


def test_a_failure_already_located_is_not_located_again_every_interval(
    world, commitments, ledger, clock, monkeypatch
):
    grow(world, clock, 20)
    anchor(world, commitments, ledger, clock)  # 22
    edit(world, 5)
    anchor(world, commitments, ledger, clock)
    reads = []
    real = FakeEventLog.rows

    def rows(self, start, end, limit, payloads):
        if payloads:
            reads.append(start)
        return real(self, start, end, limit, payloads)

    monkeypatch.setattr(FakeEventLog, "rows", rows)
    anchor(world, commitments, ledger, clock)
    assert reads and min(reads) >= 21  # only the entries since the chain's size
    assert ("edited", 5) in kinds(world.state.log_check)
    assert world.state.log_check.first_bad_index == 5
