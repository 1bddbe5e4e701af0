"""Points: each brand's programme, and its append-only ledger.

A member earns points for what they do with the brand's bottles (a claim, a referral, a year in
the brand's storage, a redemption), within caps, and spends them on the brand's rewards. The
ledger has four kinds of entry and no entry is ever changed:

* **earn**: an award, with the date it expires; what the caps withheld is kept beside it;
* **spend**: a reward taken, drawn from the member's awards, the earliest to expire first;
* **expire**: what was left of an award on its expiry date;
* **reverse**: what was left of an award whose cause was undone (a recall); what had been spent
  already is named (``withheld``), never taken from other awards.

Every spend, expiry and reversal is linked to the awards it draws down (a *draw*), so an award's
remaining points are its amount less its draws, and a member's balance, the sum of their entries,
is the sum of their awards' remaining points: never negative.

Everything here is a function of the event log, read in its order (the programme's settings,
spends and expiry runs are log entries too), so a rebuild gives the same ledger.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from service.touchpoints.domain.errors import InsufficientPointsError, InvalidProgrammeError


class Rule(StrEnum):
    """What earns points (issue 15's earning rules)."""

    #: A certificate claimed (confirmed on chain): once per bottle over its whole life, so a
    #: gift or a resale never earns the claim points again.
    CLAIM = "claim"
    #: A gift accepted by a new member (one who signed up after the gift was offered): the giver
    #: earns, once per bottle.
    REFERRAL = "referral"
    #: A full year of the bottle in the brand's storage: its holder earns, once per year.
    STORAGE_ANNIVERSARY = "storage_anniversary"
    #: A redemption confirmed: who asked for it earns, once per bottle.
    REDEMPTION = "redemption"
    #: The claimer scanned the bottle before claiming it (verified it first): earned with the
    #: claim, once per bottle.
    FIRST_SCAN = "first_scan"


class EntryKind(StrEnum):
    EARN = "earn"
    SPEND = "spend"
    EXPIRE = "expire"
    REVERSE = "reverse"


@dataclass(frozen=True)
class Reward:
    """Something of the brand's a member may spend points on (a reward or a coupon)."""

    id: str
    name: str
    points: int


@dataclass(frozen=True)
class Programme:
    """A brand's points programme: what each rule earns, the caps, how long points last, and
    the rewards on offer. Brands that set none run :data:`DEFAULT_PROGRAMME`."""

    enabled: bool = True
    earn: Mapping[Rule, int] = field(
        default_factory=lambda: {
            Rule.CLAIM: 100,
            Rule.REFERRAL: 50,
            Rule.STORAGE_ANNIVERSARY: 30,
            Rule.REDEMPTION: 20,
            Rule.FIRST_SCAN: 10,
        }
    )
    #: Most a member earns per calendar day, ISO week and month (UTC); 0 means no cap.
    cap_day: int = 300
    cap_week: int = 600
    cap_month: int = 1500
    #: Days an award lasts before what is left of it expires.
    expires_after_days: int = 365
    rewards: tuple[Reward, ...] = (
        Reward("coupon-50", "50 CNY off your next bottle", 200),
        Reward("tasting", "A tasting at your nearest store", 500),
    )

    def reward(self, reward_id: str) -> Reward | None:
        return next((r for r in self.rewards if r.id == reward_id), None)

    def settings(self) -> dict[str, Any]:
        """The programme as its owner sets it (and as the log records it)."""
        return {
            "enabled": self.enabled,
            "earn": {rule.value: self.earn.get(rule, 0) for rule in Rule},
            "caps": {"day": self.cap_day, "week": self.cap_week, "month": self.cap_month},
            "expires_after_days": self.expires_after_days,
            "rewards": [{"id": r.id, "name": r.name, "points": r.points} for r in self.rewards],
        }


DEFAULT_PROGRAMME = Programme()

#: Bounds of a programme's numbers: large enough for any real programme, small enough that no
#: sum of a member's entries comes near a 64-bit column's.
MAX_POINTS = 1_000_000
MAX_EXPIRY_DAYS = 3650
MAX_REWARDS = 100


def programme_from_settings(settings: Mapping[str, Any]) -> Programme:
    """Read and check a programme's settings; raise :class:`InvalidProgrammeError` saying what to
    fix. Omitted parts keep the defaults."""
    d = DEFAULT_PROGRAMME

    def number(value: Any, what: str, low: int, high: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise InvalidProgrammeError(f"{what} must be a whole number from {low} to {high}.")
        return value

    enabled = settings.get("enabled", d.enabled)
    if not isinstance(enabled, bool):
        raise InvalidProgrammeError("enabled must be true or false.")
    earn = dict(d.earn)
    for name, value in dict(settings.get("earn") or {}).items():
        try:
            rule = Rule(name)
        except ValueError:
            known = ", ".join(r.value for r in Rule)
            raise InvalidProgrammeError(f"earn.{name} is no rule; the rules are {known}.") from None
        earn[rule] = number(value, f"earn.{name}", 0, MAX_POINTS)
    caps = dict(settings.get("caps") or {})
    unknown = set(caps) - {"day", "week", "month"}
    if unknown:
        raise InvalidProgrammeError("caps has day, week and month only (0 for no cap).")
    cap_day = number(caps.get("day", d.cap_day), "caps.day", 0, MAX_POINTS)
    cap_week = number(caps.get("week", d.cap_week), "caps.week", 0, MAX_POINTS)
    cap_month = number(caps.get("month", d.cap_month), "caps.month", 0, MAX_POINTS)
    expires = number(
        settings.get("expires_after_days", d.expires_after_days),
        "expires_after_days",
        1,
        MAX_EXPIRY_DAYS,
    )
    rewards = d.rewards
    if "rewards" in settings:
        given = settings["rewards"]
        if not isinstance(given, list) or len(given) > MAX_REWARDS:
            raise InvalidProgrammeError(f"rewards must be a list of at most {MAX_REWARDS}.")
        seen: set[str] = set()
        out = []
        for n, r in enumerate(given):
            if not isinstance(r, Mapping):
                raise InvalidProgrammeError(f"rewards[{n}] must be {{id, name, points}}.")
            rid, name = r.get("id"), r.get("name")
            if not isinstance(rid, str) or not 1 <= len(rid) <= 40 or not rid.isascii():
                raise InvalidProgrammeError(f"rewards[{n}].id must be 1 to 40 ASCII characters.")
            if rid in seen:
                raise InvalidProgrammeError(f"rewards[{n}].id '{rid}' is given twice.")
            if not isinstance(name, str) or not 1 <= len(name) <= 120:
                raise InvalidProgrammeError(f"rewards[{n}].name must be 1 to 120 characters.")
            seen.add(rid)
            out.append(
                Reward(rid, name, number(r.get("points"), f"rewards[{n}].points", 1, MAX_POINTS))
            )
        rewards = tuple(out)
    return Programme(enabled, earn, cap_day, cap_week, cap_month, expires, rewards)


# ----------------------------------------------------------------------------- the ledger
@dataclass(frozen=True)
class Entry:
    """One ledger entry. ``amount`` is signed: an award's is positive (or 0 when the caps took
    all of it), the others' negative. ``key`` is unique and says what the entry is for, so an
    event applied twice adds nothing: ``claim:<certificate>``, ``referral:<certificate>``,
    ``storage_anniversary:<certificate>:<year>``, ``redemption:<certificate>``,
    ``spend:<log index>``, ``expire:<award key>``, ``reverse:<award key>``."""

    key: str
    brand_id: int
    holder: str
    kind: EntryKind
    amount: int
    at: datetime
    #: The log entry that caused it: ``log:<index>``.
    cause: str
    #: The rule (an award) or the reward (a spend).
    rule: str | None = None
    certificate_id: str | None = None
    batch_id: str | None = None
    #: An award's expiry date.
    expires_at: datetime | None = None
    #: An award: what the caps withheld. A reversal: what had been spent already.
    withheld: int = 0


@dataclass(frozen=True)
class Draw:
    """A spend, expiry or reversal took ``amount`` of an award."""

    entry_key: str
    award_key: str
    amount: int


@dataclass(frozen=True)
class Award:
    """An award as a spend sees it: what is left of it, and when that expires."""

    key: str
    holder: str
    brand_id: int
    expires_at: datetime
    remaining: int
    certificate_id: str | None = None
    batch_id: str | None = None
    #: What it earned (before any draw).
    earned: int = 0
    #: Its screening (``service.touchpoints.domain.risk``): only a released award is spent.
    status: str = "released"


def allocate(awards: Iterable[Award], amount: int) -> list[tuple[str, int]]:
    """Which awards a spend of ``amount`` draws down, and how much of each: the earliest to expire
    first (then by key). Raise :class:`InsufficientPointsError` if they do not cover it."""
    open_awards = sorted(
        (a for a in awards if a.remaining > 0), key=lambda a: (a.expires_at, a.key)
    )
    balance = sum(a.remaining for a in open_awards)
    if amount <= 0 or amount > balance:
        raise InsufficientPointsError(balance, amount)
    draws, left = [], amount
    for award in open_awards:
        take = min(award.remaining, left)
        draws.append((award.key, take))
        left -= take
        if left == 0:
            break
    return draws


def windows(at: datetime) -> tuple[datetime, datetime, datetime]:
    """The starts of ``at``'s calendar day, ISO week (Monday) and month, in UTC."""
    day = at.replace(hour=0, minute=0, second=0, microsecond=0)
    return day, day - timedelta(days=day.weekday()), day.replace(day=1)


def capped(
    programme: Programme, earned: Sequence[tuple[datetime, int]], at: datetime, amount: int
) -> int:
    """What of ``amount`` a member may still earn at ``at``, given what they ``earned`` before
    (time, points): the least room left under the day, week and month caps (0 is no cap)."""
    day, week, month = windows(at)
    room = amount
    for start, cap in (
        (day, programme.cap_day),
        (week, programme.cap_week),
        (month, programme.cap_month),
    ):
        if cap:
            used = sum(n for t, n in earned if start <= t <= at)
            room = min(room, max(cap - used, 0))
    return room


def earliest_window(at: datetime) -> datetime:
    """The start of the earliest cap window ``at`` falls in (what a cap check must read from)."""
    return min(windows(at))


def take_rest(
    award: Award, key: str, kind: EntryKind, at: datetime, cause: str
) -> tuple[Entry, Draw | None, Award]:
    """An expiry or a reversal of what is left of ``award``: the entry, its draw (none when
    nothing is left), and the award after it. A reversal names what was drawn already (spent,
    or expired) as withheld: it is never taken from other awards."""
    rest = award.remaining
    entry = Entry(
        key,
        award.brand_id,
        award.holder,
        kind,
        -rest,
        at,
        cause,
        certificate_id=award.certificate_id,
        batch_id=award.batch_id,
        withheld=award.earned - rest if kind is EntryKind.REVERSE else 0,
    )
    draw = Draw(key, award.key, rest) if rest else None
    return entry, draw, replace(award, remaining=0)
