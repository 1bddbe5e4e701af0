"""Consumer scans of a bottle's code: the risk rules they feed.

Every consumer scan is recorded with the region the page reports (if any) and a keyed hash of
the device. Two rules read those records:

* **Suspected clone.** One genuine code seen from more than ``max_regions`` distinct regions or
  more than ``max_devices`` distinct devices within ``window`` is likely printed on copies. It is
  a flag that informs (the verdict ``suspected_clone``, an alert for the brand's auditors); it
  never locks anyone out, because an attacker can fake scans of a genuine code to raise it.
  Regions are compared at prefecture (city) level: one owner scanning at home and at work in
  two districts of one city is one place.
* **Diversion.** A consumer scan in a region outside the territory of the bottle's authorised
  holder is the same finding as a partner's ``observe`` there (``service.domain.custody``). Only
  a bottle nobody has claimed yet is judged: once claimed it is sold, and its owner may take it
  anywhere.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from service.domain.regions import RegionTree
from service.domain.verification import Verdict

#: The level whose regions are compared for clones: 2 = prefecture (city) in GB/T 2260.
CLONE_REGION_LEVEL = 2


@dataclass(frozen=True)
class CloneRule:
    """When a code counts as a suspected clone: more than ``max_regions`` distinct regions or
    more than ``max_devices`` distinct devices among its consumer scans within ``window``."""

    max_regions: int = 3
    max_devices: int = 5
    window: timedelta = timedelta(days=7)

    def __post_init__(self) -> None:
        if self.max_regions < 1 or self.max_devices < 1:
            raise ValueError("a clone rule allows at least one region and one device")
        if self.window <= timedelta(0):
            raise ValueError("a clone rule's window is positive")


@dataclass(frozen=True)
class Sighting:
    """One consumer scan as the rules see it: where (a comparable region) and which device."""

    region: str | None
    device: bytes


@dataclass(frozen=True)
class CloneCheck:
    """The distinct regions and devices of a code's scans in the window, this scan included."""

    regions: int
    devices: int
    suspected: bool
    #: Whether this scan brought a region or device not seen before in the window.
    new_place: bool


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
    regions: set[str] = set()
    devices: set[bytes] = set()
    for sighting in earlier:
        if sighting.region is not None:
            regions.add(sighting.region)
        devices.add(sighting.device)
    new_place = current.device not in devices or (
        current.region is not None and current.region not in regions
    )
    if current.region is not None:
        regions.add(current.region)
    devices.add(current.device)
    suspected = len(regions) > rule.max_regions or len(devices) > rule.max_devices
    return CloneCheck(len(regions), len(devices), suspected, new_place)


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
