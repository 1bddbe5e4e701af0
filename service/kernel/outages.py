"""Outages of a dependency (the database), logged once rather than once per failed request.

Every user of the database (the API's error handler, the workers, the scan log's writer) asks
:meth:`OutageMonitor.failed` about an exception it caught. An outage (as the adapters classify
it) is logged once when it starts, then as a count every ``report_every_s`` while it lasts, and
once when it ends; the caller then answers 503 or retries without a traceback of its own. The
outage ends at the first success reported ``settle_s`` or more after the last failure (requests
still in flight when it started may succeed without the database being back). A real bug is
not an outage: its caller logs its traceback as before.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger("tracecert.outage")


class OutageMonitor:
    """One dependency's outages, from the failures and successes its users see."""

    def __init__(
        self,
        what: str,
        is_outage: Callable[[BaseException], bool],
        *,
        report_every_s: float = 10.0,
        settle_s: float = 1.0,
        ticks: Callable[[], float] = time.monotonic,
    ) -> None:
        self.what = what
        self.is_outage = is_outage
        self.report_every_s = report_every_s
        self.settle_s = settle_s
        self.ticks = ticks
        self._lock = threading.Lock()
        #: Read without the lock on every success: a plain attribute keeps that free.
        self.active = False
        self._since = 0.0
        self._last_failure = 0.0
        self._next_report = 0.0
        self._failures = 0
        self._reported = 0
        #: Outages since the start, and failures counted in them.
        self.outages = 0
        self.failures = 0

    def failed(self, exc: BaseException, where: str) -> bool:
        """Record ``exc`` if it is an outage and return True; False for anything else (a bug,
        which the caller reports itself)."""
        if not self.is_outage(exc):
            return False
        now = self.ticks()
        with self._lock:
            self._last_failure = now
            self._failures += 1
            self.failures += 1
            if not self.active:
                self.active = True
                self.outages += 1
                self._since = now
                self._failures, self._reported = 1, 0
                self._next_report = now + self.report_every_s
                log.error(
                    "%s unavailable (%s at %s: %s); answering 503 until it is back",
                    self.what,
                    type(exc).__name__,
                    where,
                    _first_line(exc),
                )
            elif now >= self._next_report:
                log.warning(
                    "%s still unavailable after %.0f s: %d failures (%d since the last report)",
                    self.what,
                    now - self._since,
                    self._failures,
                    self._failures - self._reported,
                )
                self._reported = self._failures
                self._next_report = now + self.report_every_s
        return True

    def succeeded(self) -> None:
        """Something just used the dependency (or served a request) without an outage."""
        if not self.active:
            return
        now = self.ticks()
        with self._lock:
            if not self.active or now - self._last_failure < self.settle_s:
                return
            self.active = False
            log.warning(
                "%s available again after %.1f s; %d failures during the outage",
                self.what,
                self._last_failure - self._since,
                self._failures,
            )

    def status(self) -> dict[str, Any]:
        """For /health: whether an outage is going on, since how long, and its failures."""
        with self._lock:
            return {
                "outage": self.active,
                "outage_s": round(self.ticks() - self._since, 1) if self.active else None,
                "failures": self._failures if self.active else 0,
            }


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else ""
