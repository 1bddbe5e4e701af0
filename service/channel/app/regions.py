"""A region as answers show it: its code, names and parent."""

from __future__ import annotations

from typing import Any

from service.channel.domain.regions import RegionTree


def region_view(tree: RegionTree, code: str) -> dict[str, Any]:
    region = tree.require(code)
    return {
        "code": region.code,
        "name": region.name,
        "level": region.level,
        "parent": region.parent_code,
        "path": tree.path(code),
    }
