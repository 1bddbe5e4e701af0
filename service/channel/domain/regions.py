"""Regions and territories: a tree of administrative divisions and "is this place inside it".

The default tree is China's GB/T 2260 (province / prefecture / county, six-digit codes); custom
trees of any depth can be loaded next to it. A territory is a set of region subtrees.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from service.channel.domain.errors import InvalidRegionError
from service.kernel.text import printable

_CODE_RE = re.compile(r"[0-9A-Za-z_-]{1,12}", re.ASCII)
MAX_NAME = 100
MAX_DEPTH = 12


@dataclass(frozen=True)
class Region:
    """One region of the tree."""

    code: str
    name: str
    level: int
    parent_code: str | None


def is_region_code(value: str) -> bool:
    """Return whether ``value`` has the shape of a region code."""
    return isinstance(value, str) and _CODE_RE.fullmatch(value) is not None


class RegionTree:
    """The regions in memory (a few thousand): lookups, ancestry and containment.

    Raises:
        InvalidRegionError: on a parent that is missing or a cycle.
    """

    def __init__(self, regions: Iterable[Region]) -> None:
        self._regions: dict[str, Region] = {r.code: r for r in regions}
        self._ancestry: dict[str, tuple[str, ...]] = {}
        for code in self._regions:
            self._ancestors_of(code)

    def _ancestors_of(self, code: str) -> tuple[str, ...]:
        cached = self._ancestry.get(code)
        if cached is not None:
            return cached
        chain = [code]
        parent = self._regions[code].parent_code
        while parent is not None:
            if parent not in self._regions:
                raise InvalidRegionError(
                    f"Region {chain[-1]} names a parent {parent} that is unknown."
                )
            if parent in chain or len(chain) > MAX_DEPTH:
                raise InvalidRegionError(f"Region {code} is inside itself (a cycle).")
            chain.append(parent)
            parent = self._regions[parent].parent_code
        result = tuple(chain)
        self._ancestry[code] = result
        return result

    def __contains__(self, code: object) -> bool:
        return code in self._regions

    def __len__(self) -> int:
        return len(self._regions)

    def get(self, code: str) -> Region | None:
        return self._regions.get(code)

    def require(self, code: str) -> Region:
        """Return the region or raise :class:`InvalidRegionError` saying it does not exist."""
        region = self._regions.get(code) if is_region_code(code) else None
        if region is None:
            raise InvalidRegionError(
                f"{code!r} is not a known region code; use a GB/T 2260 code such as 330106 "
                "or one of a loaded custom tree (GET /regions)."
            )
        return region

    def ancestors(self, code: str) -> tuple[str, ...]:
        """The code and every region above it, nearest first."""
        return self._ancestry[code]

    def children(self, code: str | None) -> list[Region]:
        return sorted(
            (r for r in self._regions.values() if r.parent_code == code), key=lambda r: r.code
        )

    def within(self, code: str, territory: Iterable[str]) -> bool:
        """Return whether ``code`` lies in one of the ``territory`` subtrees."""
        wanted = set(territory)
        return any(a in wanted for a in self._ancestry.get(code, (code,)))

    def path(self, code: str) -> str:
        """The names from the top down, e.g. "浙江省 杭州市 西湖区"."""
        return " ".join(self._regions[c].name for c in reversed(self._ancestry[code]))


def validate_custom_regions(
    rows: Sequence[Mapping[str, object]], existing: RegionTree
) -> list[Region]:
    """Return the regions of a custom tree, checked against the loaded ones.

    Each row has ``code``, ``name`` and optionally ``parent`` (a code in the file or already
    loaded). Codes must be new; the file is refused as a whole on the first bad row.
    """
    if not rows:
        raise InvalidRegionError("The region file has no regions.")
    seen: dict[str, Region] = {}
    for n, row in enumerate(rows, start=1):
        code, name, parent = row.get("code"), row.get("name"), row.get("parent")
        if not isinstance(code, str) or not is_region_code(code):
            raise InvalidRegionError(f"Row {n}: the code is 1-12 characters of 0-9 A-Z a-z _ -.")
        if code in existing or code in seen:
            raise InvalidRegionError(f"Row {n}: region {code} exists already.")
        if not isinstance(name, str):
            raise InvalidRegionError(f"Row {n}: the name is text.")
        clean = printable(
            name, MAX_NAME, InvalidRegionError, f"Row {n}: the name", one_message=True
        )
        if parent is not None and (not isinstance(parent, str) or not is_region_code(parent)):
            raise InvalidRegionError(f"Row {n}: the parent is a region code or empty.")
        seen[code] = Region(code, clean, 0, parent or None)
    merged = RegionTree([*_all(existing), *seen.values()])  # raises on unknown parents, cycles
    return [Region(c, r.name, len(merged.ancestors(c)), r.parent_code) for c, r in seen.items()]


def _all(tree: RegionTree) -> list[Region]:
    return [r for r in (tree.get(c) for c in tree._regions) if r is not None]
