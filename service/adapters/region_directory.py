"""The ``RegionDirectory`` port: the region tree, read once from the database and kept."""

from __future__ import annotations

import threading

from service.app.ports import UnitOfWorkFactory
from service.domain.regions import RegionTree


class CachedRegionDirectory:
    """Regions change only when a custom tree is loaded; every process reloads on its own
    ``reload()`` (and a restart picks up trees another process loaded)."""

    def __init__(self, uow_factory: UnitOfWorkFactory) -> None:
        self._uow_factory = uow_factory
        self._tree: RegionTree | None = None
        self._lock = threading.Lock()

    def tree(self) -> RegionTree:
        tree = self._tree
        if tree is None:
            with self._lock:
                if self._tree is None:
                    with self._uow_factory.reader() as uow:
                        self._tree = RegionTree(uow.channel.regions())
                tree = self._tree
        return tree

    def reload(self) -> None:
        with self._lock:
            self._tree = None
