"""A small per-process cache of reference rows every request reads: API keys, organisations,
sites and territories.

They change rarely and are read on every scan: caching them cut a case scan's queries by a
third. Writes through this process forget the entry at once; another process's change is seen
within ``ttl`` seconds (a key revoked by the CLI while the server runs stops working within
that time). Misses are never cached, so a key or site created elsewhere works at once.
Writers forget an entry when they change the row and again once they commit.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any

DEFAULT_TTL_S = 5.0
MAX_ENTRIES = 50_000
MISSING: Any = object()
_PENDING = "tracecert_forget_on_commit"


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
                return MISSING
            expires, value = entry
            if expires < time.monotonic():
                del self._entries[key]
                return MISSING
            self._entries.move_to_end(key)
            return value

    def lookup(self, key: Hashable) -> Any | None:
        """The cached value, or None on a miss: the ``ReferenceCache`` port, for callers
        outside the adapters (None is never cached, so it cannot be a value)."""
        value = self.get(key)
        return None if value is MISSING else value

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

    def forget_until_commit(self, pending: dict[str, Any], key: Hashable) -> None:
        """Forget ``key`` now, and again when the writing transaction commits (``committed``
        with the same ``pending`` dict, the session's ``info``): a request reading between
        the two would put the old row back for a whole TTL."""
        self.forget(key)
        pending.setdefault(_PENDING, set()).add(key)

    def committed(self, pending: dict[str, Any]) -> None:
        for key in pending.pop(_PENDING, ()):
            self.forget(key)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
