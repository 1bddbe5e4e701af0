"""Token buckets: how many requests a key (a device, a network) may make, and how long to wait.

Each key has a bucket of ``burst`` tokens that refills at ``per_minute``; a request takes one
token, or is refused with the seconds until one is there. Memory is bounded: a bucket idle long
enough to be full again is dropped (a new one starts full: nothing is forgotten), and past
``max_keys`` buckets the least recently used go first. Pure logic: the caller gives the time
(monotonic seconds)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass


@dataclass(frozen=True)
class Rate:
    """``per_minute`` requests on average, ``burst`` at once; ``per_minute`` 0 is no limit."""

    per_minute: float
    burst: int

    def __post_init__(self) -> None:
        if self.per_minute < 0 or (self.per_minute > 0 and self.burst < 1):
            raise ValueError("a rate is at least 0 per minute, with a burst of at least 1")

    @property
    def unlimited(self) -> bool:
        return self.per_minute == 0


class TokenBuckets:
    """One token bucket per key, at one rate, bounded in memory (see the module docstring)."""

    def __init__(self, rate: Rate, max_keys: int = 50_000) -> None:
        if max_keys < 1:
            raise ValueError("token buckets keep at least one key")
        self.rate = rate
        self.max_keys = max_keys
        self._per_s = rate.per_minute / 60.0
        #: How long an untouched bucket takes to be full again from empty.
        self._refill_s = rate.burst / self._per_s if self._per_s else 0.0
        #: key -> (tokens, when last taken), least recently used first.
        self._buckets: OrderedDict[Hashable, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, key: Hashable, now: float) -> float:
        """Take a token for ``key`` at ``now``: 0.0 when granted, else the seconds to wait
        (nothing is taken then)."""
        if self.rate.unlimited:
            return 0.0
        burst = float(self.rate.burst)
        with self._lock:
            kept = self._buckets.pop(key, None)
            tokens = burst
            if kept is not None:
                tokens = min(burst, kept[0] + (now - kept[1]) * self._per_s)
            wait = 0.0
            if tokens >= 1.0:
                tokens -= 1.0
            else:
                wait = (1.0 - tokens) / self._per_s
                # Keep the bucket as it was at ``now``: its refill is counted once.
            self._buckets[key] = (tokens, now)
            self._evict(now)
        return wait

    def _evict(self, now: float) -> None:
        """Drop buckets full again (the oldest first: they are in last-use order), and the
        least recently used past ``max_keys``."""
        buckets = self._buckets
        while buckets:
            key, (_, last) = next(iter(buckets.items()))
            if now - last < self._refill_s and len(buckets) <= self.max_keys:
                break
            del buckets[key]
