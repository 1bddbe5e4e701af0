"""A small per-process cache of reference rows every request reads: API keys, organisations,
sites and territories.

They change rarely and are read on every scan: caching them cut a case scan's queries by a
third. Writes through this process forget the entry at once; another process's change is seen
within ``ttl`` seconds (a key revoked by the CLI while the server runs stops working within
that time). Misses are never cached, so a key or site created elsewhere works at once.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any

DEFAULT_TTL_S = 5.0
MAX_ENTRIES = 50_000
_MISSING = object()


class ReferenceCache:
    def __init__(self, ttl_s: float = DEFAULT_TTL_S, max_entries: int = MAX_ENTRIES) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._entries: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Any:
        """The cached value, or the module's ``MISSING`` marker."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return _MISSING
            expires, value = entry
            if expires < time.monotonic():
                del self._entries[key]
                return _MISSING
            self._entries.move_to_end(key)
            return value

    def put(self, key: Hashable, value: Any) -> None:
        if value is None or self.ttl_s <= 0:
            return
        with self._lock:
            self._entries[key] = (time.monotonic() + self.ttl_s, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def forget(self, key: Hashable) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


MISSING = _MISSING
