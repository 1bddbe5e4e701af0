"""Anti-farming (羊毛党): a member's risk, scored from signals that each name the events behind
them.

Farms of accounts harvest points: many accounts on a few phones, claims in bursts from a leaked
code file across regions, scans of redeemed caps collected from bins, gifts passed round a ring of
their own accounts to earn referrals. Honest members look different: one phone or two, their own
region, a few claims over months. Each signal below is one such difference, with a weight; a
member's score is the sum of the weights of the signals their evidence shows (at most 100):

* **accounts per device**: one of the member's claim devices claimed for more accounts than a
  household has (a store's tablet shows it too: that is what the brand's review is for);
* **velocity**: more claims in 24 hours than a buyer makes;
* **impossible travel**: two sightings (claims, and scans by the member's devices) farther
  apart than anyone travels in the time between them (1,000 km/h), using the regions' centres;
* **recycled caps**: the member's devices scanned codes already redeemed or recalled;
* **clone flag**: the member's devices scanned codes under suspicion of cloning;
* **referral ring**: a referral whose new member claims from the giver's devices, or who
  referred the giver in turn;
* **off the channel**: claims of bottles that never reached a store in the claim's region: its
  brand or factory still held them (codes from a leaked file), or a partner whose territory
  does not cover the region held them (twice or more: one is a traveller). Alone it is not
  enough to hold points (a brand's own online shop ships from its warehouse).

The level follows the score: *clear* (points released), *grey* (points held for the brand's
review), *black* (no points, no campaigns). Everything here is a pure function of the evidence.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from itertools import pairwise
from typing import Any

from service.touchpoints.domain.errors import InvalidRiskRulesError


class Signal(StrEnum):
    SHARED_DEVICE = "accounts_per_device"
    VELOCITY = "velocity"
    IMPOSSIBLE_TRAVEL = "impossible_travel"
    RECYCLED_CAPS = "recycled_caps"
    CLONE_FLAG = "clone_flag"
    REFERRAL_RING = "referral_ring"
    OFF_CHANNEL = "off_channel"


class Level(StrEnum):
    CLEAR = "clear"
    GREY = "grey"
    BLACK = "black"


#: Scan verdicts of codes that no honest bottle in a buyer's hands shows.
RECYCLED_VERDICTS = frozenset({"redeemed", "recalled"})
CLONE_VERDICT = "suspected_clone"
#: References a reason names at most (the first ones, in time order).
MAX_REFS = 20


@dataclass(frozen=True)
class RiskRules:
    """The thresholds and weights; :data:`DEFAULT_RISK_RULES` unless a brand sets its own."""

    #: A device that claimed for more accounts than this is no household's.
    device_accounts: int = 3
    #: Claims by one member in any 24 hours.
    claims_per_day: int = 5
    #: Faster than this between two sightings is impossible travel ...
    travel_kmh: int = 1000
    #: ... unless they are this close (regions' centres are rough; neighbours are not far).
    travel_min_km: int = 100
    #: Distinct redeemed or recalled codes scanned by the member's devices.
    recycled_codes: int = 2
    #: Claims of bottles a partner held outside the claim's region (a factory's: one).
    outside_claims: int = 2
    weights: Mapping[Signal, int] = field(
        default_factory=lambda: {
            Signal.SHARED_DEVICE: 45,
            Signal.VELOCITY: 25,
            Signal.IMPOSSIBLE_TRAVEL: 40,
            Signal.RECYCLED_CAPS: 35,
            Signal.CLONE_FLAG: 30,
            Signal.REFERRAL_RING: 45,
            Signal.OFF_CHANNEL: 30,
        }
    )
    grey_at: int = 40
    black_at: int = 80

    def settings(self) -> dict[str, Any]:
        """The rules as a brand sets them (and as the log records them)."""
        return {
            "device_accounts": self.device_accounts,
            "claims_per_day": self.claims_per_day,
            "travel_kmh": self.travel_kmh,
            "travel_min_km": self.travel_min_km,
            "recycled_codes": self.recycled_codes,
            "outside_claims": self.outside_claims,
            "weights": {signal.value: self.weights.get(signal, 0) for signal in Signal},
            "grey_at": self.grey_at,
            "black_at": self.black_at,
        }

    def level(self, score: int) -> Level:
        if score >= self.black_at:
            return Level.BLACK
        if score >= self.grey_at:
            return Level.GREY
        return Level.CLEAR


DEFAULT_RISK_RULES = RiskRules()

#: Each threshold's bounds: (low, high).
_BOUNDS = {
    "device_accounts": (1, 1000),
    "claims_per_day": (1, 1000),
    "travel_kmh": (100, 100_000),
    "travel_min_km": (0, 5000),
    "recycled_codes": (1, 1000),
    "outside_claims": (1, 1000),
    "grey_at": (1, 100),
    "black_at": (1, 100),
}


def risk_rules_from_settings(settings: Mapping[str, Any]) -> RiskRules:
    """Read and check a brand's risk rules; omitted ones keep the defaults. Raise
    :class:`InvalidRiskRulesError` saying what to fix."""
    d = DEFAULT_RISK_RULES.settings()
    unknown = set(settings) - set(d)
    if unknown:
        raise InvalidRiskRulesError(
            f"{sorted(unknown)[0]} is no rule; the rules are {', '.join(sorted(d))}."
        )
    values: dict[str, Any] = {}
    for name, (low, high) in _BOUNDS.items():
        value = settings.get(name, d[name])
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise InvalidRiskRulesError(f"{name} must be a whole number from {low} to {high}.")
        values[name] = value
    if values["grey_at"] > values["black_at"]:
        raise InvalidRiskRulesError("grey_at must not be above black_at.")
    weights = dict(DEFAULT_RISK_RULES.weights)
    for name, value in dict(settings.get("weights") or {}).items():
        try:
            signal = Signal(name)
        except ValueError:
            known = ", ".join(s.value for s in Signal)
            raise InvalidRiskRulesError(f"weights.{name} is no signal; they are {known}.") from None
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
            raise InvalidRiskRulesError(f"weights.{name} must be a whole number from 0 to 100.")
        weights[signal] = value
    return RiskRules(
        device_accounts=values["device_accounts"],
        claims_per_day=values["claims_per_day"],
        travel_kmh=values["travel_kmh"],
        travel_min_km=values["travel_min_km"],
        recycled_codes=values["recycled_codes"],
        outside_claims=values["outside_claims"],
        weights=weights,
        grey_at=values["grey_at"],
        black_at=values["black_at"],
    )


@dataclass(frozen=True)
class Sighting:
    """What the screening reads: a claim (``subject`` claimed ``item`` from ``device`` in
    ``region``; ``verdict`` is where the bottle stood in the channel: ``inside``, ``outside``,
    ``factory`` or None), a referral (``subject`` referred ``other``), or a consumer's scan of a
    flagged code by ``device`` (no subject; ``verdict`` is the scan's). ``cause`` is its log
    entry or scan row."""

    kind: str
    subject: str | None
    device: bytes | None
    item: str
    at: datetime
    cause: str
    region: str | None = None
    verdict: str | None = None
    other: str | None = None


@dataclass(frozen=True)
class Reason:
    signal: Signal
    weight: int
    detail: str
    refs: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "signal": self.signal.value,
            "weight": self.weight,
            "detail": self.detail,
            "events": list(self.refs),
        }


@dataclass(frozen=True)
class Assessment:
    level: Level
    score: int
    reasons: tuple[Reason, ...]

    def reasons_json(self) -> list[dict[str, Any]]:
        return [r.to_json() for r in self.reasons]


@dataclass(frozen=True)
class Evidence:
    """A member's evidence: their claims and referrals (``own``); every sighting by their claim
    devices, whoever's (``devices``); how many accounts claimed from each of those devices; the
    claim devices of the members they referred; and who referred them."""

    member: str
    own: Sequence[Sighting]
    devices: Sequence[Sighting] = ()
    accounts_per_device: Mapping[bytes, int] = field(default_factory=dict)
    referred_devices: Mapping[str, frozenset[bytes]] = field(default_factory=dict)
    referred_by: frozenset[str] = frozenset()


#: Where a region is: (latitude, longitude) in degrees, or None when unknown.
Places = Callable[[str], tuple[float, float] | None]

EARTH_RADIUS_KM = 6371.0088


def distance_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """The great-circle distance between two (latitude, longitude) points (haversine)."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def _refs(sightings: Sequence[Sighting]) -> tuple[str, ...]:
    ordered = sorted({(s.at, s.cause) for s in sightings})
    return tuple(cause for _, cause in ordered[:MAX_REFS])


def assess(
    evidence: Evidence,
    places: Places,
    rules: RiskRules = DEFAULT_RISK_RULES,
    since: datetime | None = None,
) -> Assessment:
    """Score ``evidence`` (only what happened after ``since``, the brand's last clearing
    review, when given)."""

    def fresh(items: Sequence[Sighting]) -> list[Sighting]:
        return [s for s in items if since is None or s.at > since]

    own = fresh(evidence.own)
    seen = fresh(evidence.devices)
    claims = sorted((s for s in own if s.kind == "claim"), key=lambda s: (s.at, s.cause))
    found = [
        reason
        for reason in (
            _shared_device(claims, evidence.accounts_per_device, rules),
            _velocity(claims, rules),
            _travel(claims, seen, places, rules),
            _recycled(seen, rules),
            _cloned(seen, rules),
            _ring(own, claims, evidence, rules),
            _off_channel(claims, rules),
        )
        if reason is not None
    ]
    score = min(100, sum(r.weight for r in found))
    return Assessment(rules.level(score), score, tuple(found))


def _shared_device(
    claims: Sequence[Sighting], accounts: Mapping[bytes, int], rules: RiskRules
) -> Reason | None:
    crowded = {
        s.device
        for s in claims
        if s.device is not None and accounts.get(s.device, 0) > rules.device_accounts
    }
    if not crowded:
        return None
    most = max(accounts[d] for d in crowded)
    return Reason(
        Signal.SHARED_DEVICE,
        rules.weights[Signal.SHARED_DEVICE],
        f"claimed from a device that claimed for {most} accounts "
        f"(more than {rules.device_accounts})",
        _refs([s for s in claims if s.device in crowded]),
    )


def _velocity(claims: Sequence[Sighting], rules: RiskRules) -> Reason | None:
    day = timedelta(hours=24)
    best: list[Sighting] = []
    start = 0
    for end, claim in enumerate(claims):
        while claim.at - claims[start].at > day:
            start += 1
        if end + 1 - start > len(best):
            best = list(claims[start : end + 1])
    if len(best) <= rules.claims_per_day:
        return None
    return Reason(
        Signal.VELOCITY,
        rules.weights[Signal.VELOCITY],
        f"{len(best)} claims within 24 hours (more than {rules.claims_per_day})",
        _refs(best),
    )


def _travel(
    claims: Sequence[Sighting], seen: Sequence[Sighting], places: Places, rules: RiskRules
) -> Reason | None:
    """Consecutive sightings of the member, or of one of their devices, too far apart for the
    time between them."""
    tracks: dict[bytes | None, dict[tuple[str, str], Sighting]] = {
        None: {(s.cause, s.kind): s for s in claims}
    }
    for s in (*claims, *seen):
        if s.device is not None:
            tracks.setdefault(s.device, {})[(s.cause, s.kind)] = s
    worst: tuple[float, Sighting, Sighting, float] | None = None
    for track in tracks.values():
        located = [
            (s, p)
            for s in sorted(track.values(), key=lambda s: (s.at, s.cause))
            if s.region is not None and (p := places(s.region)) is not None
        ]
        for (a, pa), (b, pb) in pairwise(located):
            km = distance_km(pa, pb)
            if km < rules.travel_min_km:
                continue
            hours = max((b.at - a.at).total_seconds(), 1.0) / 3600
            speed = km / hours
            if speed > rules.travel_kmh and (worst is None or speed > worst[0]):
                worst = (speed, a, b, km)
    if worst is None:
        return None
    speed, a, b, km = worst
    minutes = (b.at - a.at).total_seconds() / 60
    return Reason(
        Signal.IMPOSSIBLE_TRAVEL,
        rules.weights[Signal.IMPOSSIBLE_TRAVEL],
        f"seen in {a.region} and {b.region}, {km:.0f} km apart, {minutes:.0f} minutes apart "
        f"(faster than {rules.travel_kmh} km/h)",
        _refs([a, b]),
    )


def _recycled(seen: Sequence[Sighting], rules: RiskRules) -> Reason | None:
    scans = [s for s in seen if s.kind == "scan" and s.verdict in RECYCLED_VERDICTS]
    codes = {s.item for s in scans}
    if not codes or len(codes) < rules.recycled_codes:
        return None
    return Reason(
        Signal.RECYCLED_CAPS,
        rules.weights[Signal.RECYCLED_CAPS],
        f"the member's devices scanned {len(codes)} codes already redeemed or recalled",
        _refs(scans),
    )


def _cloned(seen: Sequence[Sighting], rules: RiskRules) -> Reason | None:
    scans = [s for s in seen if s.kind == "scan" and s.verdict == CLONE_VERDICT]
    if not scans:
        return None
    return Reason(
        Signal.CLONE_FLAG,
        rules.weights[Signal.CLONE_FLAG],
        f"the member's devices scanned {len({s.item for s in scans})} codes suspected of "
        "being cloned",
        _refs(scans),
    )


def _ring(
    own: Sequence[Sighting], claims: Sequence[Sighting], evidence: Evidence, rules: RiskRules
) -> Reason | None:
    mine = {s.device for s in claims if s.device is not None}
    ring = [
        s
        for s in own
        if s.kind == "referral"
        and s.other is not None
        and (
            s.other in evidence.referred_by
            or bool(mine & evidence.referred_devices.get(s.other, frozenset()))
        )
    ]
    if not ring:
        return None
    return Reason(
        Signal.REFERRAL_RING,
        rules.weights[Signal.REFERRAL_RING],
        f"{len(ring)} referrals of members who claim from the referrer's devices or referred "
        "the referrer in turn",
        _refs(ring),
    )


def _off_channel(claims: Sequence[Sighting], rules: RiskRules) -> Reason | None:
    factory = [s for s in claims if s.verdict == "factory"]
    outside = [s for s in claims if s.verdict == "outside"]
    if not factory and len(outside) < rules.outside_claims:
        return None
    parts = []
    if factory:
        parts.append(f"{len(factory)} never left the brand or factory")
    if len(outside) >= rules.outside_claims:
        parts.append(f"{len(outside)} were held by a partner outside the claim's region")
    return Reason(
        Signal.OFF_CHANNEL,
        rules.weights[Signal.OFF_CHANNEL],
        "claimed bottles that never reached a store in the claim's region: " + "; ".join(parts),
        _refs(factory + (outside if len(outside) >= rules.outside_claims else [])),
    )
