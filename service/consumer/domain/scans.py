"""Consumer scans of a bottle's code: the risk rules they feed.

Every consumer scan is recorded with the region the page reports (if any), a keyed hash of the
device, a keyed hash of the client's counting network (an IPv4 /24, an IPv6 /48) and its
*witness*: an anonymous consumer, a signed-in member, or the bottle's owner. A region and a
device cookie cost nothing to forge; a network, a member account and time cost more. So the
rules count *independent sources* (distinct networks of anonymous scans, distinct members of
signed-in ones; the owner's own scans never count), never cookies or claimed regions alone:

* **Suspected clone.** One genuine code seen by more than ``max_devices`` independent sources,
  or in more than ``max_regions`` distinct regions each vouched for by a source of its own,
  within ``window``, with the sightings spanning at least ``min_span``. It is a flag that
  informs (the verdict ``suspected_clone``, an alert for the brand's auditors); it never locks
  anyone out. Regions are compared at prefecture (city) level: one owner scanning at home and
  at work in two districts of one city is one place.
* **Diversion.** A consumer scan in a region outside the territory of the bottle's authorised
  holder is the same finding as a partner's ``observe`` there
  (``service.channel.domain.custody``), once the evidence is worth an alert: sightings out of
  territory from ``min_networks`` distinct networks, or one signed-in member's. Only a bottle
  nobody has claimed yet is judged: once claimed it is sold, and its owner may take it anywhere."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from service.channel.interface import RegionTree
from service.consumer.domain.verification import Verdict

#: The level whose regions are compared for clones: 2 = prefecture (city) in GB/T 2260.
CLONE_REGION_LEVEL = 2


class Witness(StrEnum):
    """Who vouches for a consumer scan."""

    ANONYMOUS = "anonymous"
    #: A signed-in consumer (a session token) who does not own the bottle.
    MEMBER = "member"
    #: The signed-in owner of the bottle's certificate: never evidence against it.
    OWNER = "owner"


@dataclass(frozen=True)
class CloneRule:
    """When a code counts as a suspected clone: more than ``max_devices`` independent sources,
    or more than ``max_regions`` regions each from a source of its own, among its consumer
    scans within ``window``, spanning at least ``min_span``."""

    max_regions: int = 3
    #: Independent sources (networks, members), whatever the name says: devices are free.
    max_devices: int = 5
    window: timedelta = timedelta(days=7)
    min_span: timedelta = timedelta(minutes=30)

    def __post_init__(self) -> None:
        if self.max_regions < 1 or self.max_devices < 1:
            raise ValueError("a clone rule allows at least one region and one device")
        if self.window <= timedelta(0):
            raise ValueError("a clone rule's window is positive")
        if not timedelta(0) <= self.min_span <= self.window:
            raise ValueError("a clone rule's minimum span is between 0 and its window")


@dataclass(frozen=True)
class Sighting:
    """One consumer scan as the rules see it: where (a comparable region), from which source
    (the keyed hash of its network when anonymous, of its member when signed in), who vouches
    for it, and when."""

    region: str | None
    source: bytes
    witness: Witness = Witness.ANONYMOUS
    at: datetime | None = None

    @property
    def key(self) -> tuple[bool, bytes]:
        """The independent source: a network and a member never count as one."""
        return (self.witness is Witness.MEMBER, self.source)


@dataclass(frozen=True)
class CloneCheck:
    """The independent sources and the regions they vouch for among a code's scans in the
    window, this scan included (the owner's excluded)."""

    regions: int
    devices: int
    suspected: bool
    #: Whether this scan brought a source or region not seen before in the window.
    new_place: bool


def _vouched_regions(pairs: set[tuple[tuple[bool, bytes], str]]) -> int:
    """The most regions that can each be given a source of its own (a bipartite matching):
    one network claiming five regions vouches for one."""
    by_region: dict[str, list[tuple[bool, bytes]]] = {}
    for source, region in pairs:
        by_region.setdefault(region, []).append(source)
    taken: dict[tuple[bool, bytes], str] = {}

    def assign(region: str, seen: set[tuple[bool, bytes]]) -> bool:
        for source in by_region[region]:
            if source in seen:
                continue
            seen.add(source)
            if source not in taken or assign(taken[source], seen):
                taken[source] = region
                return True
        return False

    return sum(1 for region in by_region if assign(region, set()))


def _span(sightings: Iterable[Sighting]) -> timedelta:
    times = [s.at for s in sightings if s.at is not None]
    return max(times) - min(times) if times else timedelta(0)


def comparable_region(tree: RegionTree, code: str | None) -> str | None:
    """Return the region a scan counts in for the clone rule: its prefecture-level ancestor
    (or itself when it is a province or prefecture); None for an unknown or missing code."""
    if code is None or code not in tree:
        return None
    for ancestor in tree.ancestors(code):
        region = tree.get(ancestor)
        if region is not None and region.level <= CLONE_REGION_LEVEL:
            return ancestor
    return code


def check_clone(rule: CloneRule, earlier: Iterable[Sighting], current: Sighting) -> CloneCheck:
    """Apply the clone rule to the earlier sightings in the window and the current one."""
    counted = [s for s in earlier if s.witness is not Witness.OWNER]
    sources = {s.key for s in counted}
    pairs = {(s.key, s.region) for s in counted if s.region is not None}
    new_place = current.witness is not Witness.OWNER and (
        current.key not in sources
        or (current.region is not None and current.region not in {r for _, r in pairs})
    )
    if current.witness is not Witness.OWNER:
        counted.append(current)
        sources.add(current.key)
        if current.region is not None:
            pairs.add((current.key, current.region))
    regions = _vouched_regions(pairs)
    suspected = _span(counted) >= rule.min_span and (
        regions > rule.max_regions or len(sources) > rule.max_devices
    )
    return CloneCheck(regions, len(sources), suspected, new_place)


def with_risk(result: Verdict, clone: CloneCheck | None) -> Verdict:
    """Return the verdict a scan shows: a genuine code under suspicion is ``suspected_clone``;
    every other verdict says more than the flag and stays."""
    if result is Verdict.GENUINE and clone is not None and clone.suspected:
        return Verdict.SUSPECTED_CLONE
    return result


def judges_diversion(anonymous: bool, region: str | None, claimed: bool) -> bool:
    """Return whether a scan feeds the diversion rule: a consumer's, with a region, of a bottle
    nobody has claimed yet."""
    return anonymous and region is not None and not claimed


def enough_diversion_evidence(
    min_networks: int, earlier_outside: Iterable[Sighting], current: Sighting
) -> bool:
    """Return whether sightings out of territory (``current`` one of them) are worth a
    diversion alert: a signed-in member's counts by itself; anonymous ones need
    ``min_networks`` distinct networks (a spoofed region from one network is nothing)."""
    if current.witness is not Witness.ANONYMOUS:
        return True
    networks = {current.source}
    for sighting in earlier_outside:
        if sighting.witness is Witness.MEMBER:
            return True
        if sighting.witness is Witness.ANONYMOUS:
            networks.add(sighting.source)
    return len(networks) >= min_networks
