"""The region tree as the application sees it."""

from __future__ import annotations

from typing import Any, Protocol

from service.channel.domain.regions import RegionTree


class RegionDirectory(Protocol):
    """The region tree, loaded once and reloaded when a custom tree is added."""

    def tree(self) -> RegionTree: ...
    def reload(self) -> None: ...


def region_view(tree: RegionTree, code: str) -> dict[str, Any]:
    region = tree.require(code)
    return {
        "code": region.code,
        "name": region.name,
        "level": region.level,
        "parent": region.parent_code,
        "path": tree.path(code),
    }
