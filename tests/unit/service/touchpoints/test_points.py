"""Points' rules: a programme's settings, spends drawn from the earliest-expiring awards, the caps,
and the ledger's invariants over any sequence of earns, spends, expiries and recalls (applied by
the page the projector uses, over an in-memory ledger): the balance is the sum of the entries,
equals what is left of the awards, and is never negative; a spend draws only on awards the
screening released, and a blacklisted member's awards are forfeited and earn nothing more."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.touchpoints.app.awards import PointsPage
from service.touchpoints.app.risk import settled
from service.touchpoints.domain.errors import InsufficientPointsError, InvalidProgrammeError
from service.touchpoints.domain.journey import Cause, Source
from service.touchpoints.domain.points import (
    DEFAULT_PROGRAMME,
    Award,
    Draw,
    Entry,
    EntryKind,
    Rule,
    allocate,
    capped,
    programme_from_settings,
)
from service.touchpoints.domain.risk import Level
from service.touchpoints.ports import CertificateFacts

T0 = datetime(2026, 1, 5, 9, tzinfo=UTC)  # a Monday


# ----------------------------------------------------------------------------- the programme
def test_a_programme_round_trips_through_its_settings():
    assert programme_from_settings(DEFAULT_PROGRAMME.settings()) == DEFAULT_PROGRAMME
    changed = programme_from_settings({"earn": {"claim": 5}, "caps": {"day": 0}})
    assert changed.earn[Rule.CLAIM] == 5 and changed.cap_day == 0
    assert changed.earn[Rule.REFERRAL] == DEFAULT_PROGRAMME.earn[Rule.REFERRAL]
    assert programme_from_settings(changed.settings()) == changed


@pytest.mark.parametrize(
    "settings",
    [
        {"enabled": "yes"},
        {"earn": {"likes": 5}},
        {"earn": {"claim": -1}},
        {"earn": {"claim": True}},
        {"caps": {"year": 5}},
        {"expires_after_days": 0},
        {"rewards": [{"id": "a", "name": "A", "points": 0}]},
        {"rewards": [{"id": "a", "name": "A", "points": 1}, {"id": "a", "name": "B", "points": 1}]},
        {"rewards": "all"},
    ],
)
def test_a_programme_out_of_bounds_is_refused_with_what_to_fix(settings):
    with pytest.raises(InvalidProgrammeError) as refused:
        programme_from_settings(settings)
    assert refused.value.detail.endswith(".")


# ----------------------------------------------------------------------------- spends and caps
awards_strategy = st.lists(
    st.tuples(st.integers(0, 50), st.integers(0, 400)), min_size=0, max_size=8
).map(
    lambda rows: [
        Award(f"a{n}", "account:x", 1, T0 + timedelta(days=days), left)
        for n, (left, days) in enumerate(rows)
    ]
)


@given(awards_strategy, st.integers(-5, 300))
def test_a_spend_draws_the_awards_that_expire_first(awards, amount):
    balance = sum(a.remaining for a in awards)
    if amount <= 0 or amount > balance:
        with pytest.raises(InsufficientPointsError):
            allocate(awards, amount)
        return
    draws = dict(allocate(awards, amount))
    assert sum(draws.values()) == amount
    by_key = {a.key: a for a in awards}
    assert all(0 < n <= by_key[k].remaining for k, n in draws.items())
    # Every award expiring before the last one drawn was drawn dry.
    last = max((by_key[k].expires_at, k) for k in draws)
    for a in awards:
        if a.remaining and (a.expires_at, a.key) < last:
            assert draws.get(a.key) == a.remaining


@given(
    st.lists(st.tuples(st.integers(0, 24 * 40), st.integers(0, 200)), max_size=12),
    st.integers(0, 300),
)
def test_caps_never_let_a_window_exceed_them(earned_at, amount):
    programme = programme_from_settings({"caps": {"day": 150, "week": 400, "month": 900}})
    earned: list[tuple[datetime, int]] = []
    for hours, n in sorted(earned_at):
        at = T0 + timedelta(hours=hours)
        earned.append((at, capped(programme, earned, at, n)))
    for at, _ in earned:
        day = at.replace(hour=0)
        assert sum(n for t, n in earned if day <= t < day + timedelta(days=1)) <= 150
    assert 0 <= capped(programme, earned, T0 + timedelta(days=50), amount) <= amount


# ----------------------------------------------------------------------------- the ledger
class MemoryRisk:
    """The screening's side of the ledger: each award's status, each member's level."""

    def __init__(self) -> None:
        self.statuses: dict[str, str] = {}
        self.levels_: dict[tuple[int, str], Level] = {}

    def levels(self, subjects):
        return {k: v for k, v in self.levels_.items() if k[1] in subjects}

    def put_statuses(self, statuses):
        self.statuses.update({x.award_key: x.status for x in statuses})


class MemoryLedger:
    """The points ledger in memory, as the SQL repository answers (append-only)."""

    def __init__(self) -> None:
        self.entries: dict[str, Entry] = {}
        self.draws: list[Draw] = []
        self.settings: dict[int, dict[str, Any]] = {}
        self.risk = MemoryRisk()

    def _award(self, e: Entry) -> Award:
        taken = sum(d.amount for d in self.draws if d.award_key == e.key)
        assert e.expires_at is not None
        return Award(
            e.key, e.holder, e.brand_id, e.expires_at, e.amount - taken,
            e.certificate_id, e.batch_id, e.amount, self.risk.statuses.get(e.key, "pending"),
        )  # fmt: skip

    def by_status(self, holder: str) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for a in self._awards():
            left = a.status == "pending" or (a.status != "forfeited" and a.remaining > 0)
            if a.holder == holder and a.earned > 0 and left:
                found.setdefault(a.status, []).append(a.key)
        return found

    def _awards(self) -> list[Award]:
        return [self._award(e) for e in self.entries.values() if e.kind is EntryKind.EARN]

    def programmes(self, brand_ids):
        return {b: s for b, s in self.settings.items() if b in brand_ids}

    def put_programme(self, brand_id, settings, at, cause):
        self.settings[brand_id] = settings

    def existing(self, keys):
        return {k for k in keys if k in self.entries}

    def earned_since(self, holders, since):
        return [
            (e.holder, e.brand_id, e.at, e.amount)
            for e in self.entries.values()
            if e.kind is EntryKind.EARN and e.holder in holders and e.at >= since
        ]

    def awards(self, keys):
        return {a.key: a for a in self._awards() if a.key in keys}

    def open_awards(self, brand_id, holder):
        return [
            a
            for a in self._awards()
            if a.holder == holder
            and a.brand_id == brand_id
            and a.remaining
            and a.status == "released"
        ]

    def awards_of_batch(self, batch_id):
        return sorted((a for a in self._awards() if a.batch_id == batch_id), key=lambda a: a.key)

    def expiring(self, after, until):
        return [a for a in self._awards() if after < a.expires_at <= until and a.remaining > 0]

    def add(self, entries, draws):
        for e in entries:
            self.entries.setdefault(e.key, e)
        self.draws += draws

    def balance(self, holder: str) -> int:
        return sum(e.amount for e in self.entries.values() if e.holder == holder)


HOLDERS = ("account:a", "account:b")
ops = st.lists(
    st.one_of(
        st.tuples(st.just("claim"), st.integers(0, 1), st.integers(0, 3)),
        st.tuples(st.just("spend"), st.integers(0, 1), st.integers(1, 250)),
        st.tuples(st.just("expire"), st.integers(1, 500), st.just(0)),
        st.tuples(st.just("recall"), st.integers(0, 3), st.just(0)),
        st.tuples(st.just("screen"), st.integers(0, 1), st.sampled_from([*Level, Level.CLEAR])),
    ),
    max_size=25,
)


def apply(page: PointsPage, entry: tuple, since: datetime) -> datetime:
    """One log entry of the simulation applied to a page; the expiry job's new position."""
    kind, at, position, args = entry
    cause = Cause(at, Source.LOG, position)
    if kind == "claim":
        holder, batch = args
        facts = CertificateFacts(f"c{position}", 1, f"batch{batch}", None, None)
        page.earn(Rule.CLAIM, facts, HOLDERS[holder], cause)
        page.earn(Rule.CLAIM, facts, HOLDERS[1 - holder], cause)  # the same bottle: nothing
    elif kind == "spend":
        page.spend(args, cause)
    elif kind == "expire":
        page.expire(at, cause, [], since)
        return max(since, at)
    elif kind == "screen":
        holder, level, keys = args
        page.levels[(1, holder)] = level
        page.settle(level, keys, cause)
    else:
        page.reverse_batch(f"batch{args}", cause)
    return since


def settings_of(expiry_days: int) -> dict[str, Any]:
    return {"expires_after_days": expiry_days, "caps": {"day": 0, "week": 250, "month": 0}}


@settings(max_examples=150, deadline=None)
@given(ops, st.integers(1, 120), st.integers(2, 9))
def test_the_ledger_balance_is_its_entries_and_what_is_left_of_its_awards(
    steps, expiry_days, page_size
):
    """Applied live (a page an entry, each spend decided on the state before it), every
    invariant holds after every entry; replayed in pages of several entries (a rebuild), the
    ledger is the same, entry for entry."""
    ledger = MemoryLedger()
    ledger.settings[1] = settings_of(expiry_days)
    uow = SimpleNamespace(points=ledger, risk=ledger.risk)
    log: list[tuple] = []
    now, since = T0, datetime.fromtimestamp(0, UTC)
    for op, a, b in steps:
        now += timedelta(hours=7)
        if op == "spend":
            try:
                draws = allocate(ledger.open_awards(1, HOLDERS[a]), b)
            except InsufficientPointsError:
                # Only what the screening released is spent (pending and held points wait).
                assert sum(x.remaining for x in ledger.open_awards(1, HOLDERS[a])) < b
                continue
            args: Any = {"brand_id": 1, "holder": HOLDERS[a], "reward": "r", "points": b,
                         "draws": draws}  # fmt: skip
        elif op == "expire":  # the job runs as of now: time passes first
            now += timedelta(days=a)
            args = None
        elif op == "screen":  # a screening or a review, decided on the state before it
            args = (HOLDERS[a], b, settled(b, ledger.by_status(HOLDERS[a])))
        else:
            args = (a, b) if op == "claim" else a
        before = {h: ledger.balance(h) for h in HOLDERS}
        log.append((op, now, len(log) + 1, args))
        page = PointsPage(uow, HOLDERS, [], now - timedelta(days=40))  # type: ignore[arg-type]
        since = apply(page, log[-1], since)
        page.flush()
        if op == "screen":
            ledger.risk.levels_[(1, HOLDERS[a])] = b
        if op == "spend":
            assert ledger.balance(args["holder"]) == before[args["holder"]] - b
            assert all(ledger.risk.statuses[k] == "released" for k, _ in args["draws"])
        if op == "expire":
            assert not ledger.expiring(datetime.fromtimestamp(0, UTC), now)  # nothing left
        for holder in HOLDERS:
            left = sum(x.remaining for x in ledger._awards() if x.holder == holder)
            assert ledger.balance(holder) == left >= 0
    claims = [e for e in ledger.entries.values() if e.rule == "claim"]
    assert len({e.certificate_id for e in claims}) == len(claims)  # once per bottle
    for (_, holder), level in ledger.risk.levels_.items():
        if level is Level.BLACK:  # blacklisted: nothing left, nothing earned since
            assert sum(a.remaining for a in ledger._awards() if a.holder == holder) == 0

    rebuilt = MemoryLedger()
    rebuilt.settings[1] = settings_of(expiry_days)
    uow = SimpleNamespace(points=rebuilt, risk=rebuilt.risk)
    since = datetime.fromtimestamp(0, UTC)
    for first in range(0, len(log), page_size):
        chunk = log[first : first + page_size]
        page = PointsPage(uow, HOLDERS, [], chunk[0][1] - timedelta(days=40))  # type: ignore[arg-type]
        for entry in chunk:
            since = apply(page, entry, since)
            if entry[0] == "screen":
                rebuilt.risk.levels_[(1, entry[3][0])] = entry[3][1]
        page.flush()
    assert rebuilt.entries == ledger.entries
    assert rebuilt.risk.statuses == ledger.risk.statuses
    assert sorted(map(repr, rebuilt.draws)) == sorted(map(repr, ledger.draws))
