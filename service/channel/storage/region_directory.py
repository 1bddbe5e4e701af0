"""The ``RegionDirectory`` port: the region tree, read from the database and kept."""

from __future__ import annotations

import threading
import time

from service.channel.domain.regions import RegionTree
from service.channel.ports import ChannelUnitOfWorkFactory


class CachedRegionDirectory:
    """Regions change only when a custom tree is loaded (they are never removed). This process
    reloads at once on ``reload()``; a tree loaded by another process (``tracecert regions
    load`` while the server runs) is noticed within ``ttl_s``: the number of regions is
    checked that often, and the tree read again when it changed."""

    def __init__(self, uow_factory: ChannelUnitOfWorkFactory, ttl_s: float = 5.0) -> None:
        self._uow_factory = uow_factory
        self._ttl_s = ttl_s
        self._tree: RegionTree | None = None
        self._count = -1
        self._checked_at = 0.0
        self._lock = threading.Lock()

    def _fresh(self) -> bool:
        return self._tree is not None and time.monotonic() - self._checked_at < self._ttl_s

    def tree(self) -> RegionTree:
        if not self._fresh():
            with self._lock:
                if not self._fresh():
                    with self._uow_factory.reader() as uow:
                        count = uow.channel.region_count()
                        if self._tree is None or count != self._count:
                            self._tree = RegionTree(uow.channel.regions())
                            self._count = count
                    self._checked_at = time.monotonic()
        assert self._tree is not None
        return self._tree

    def reload(self) -> None:
        with self._lock:
            self._tree = None
