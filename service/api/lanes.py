"""Lanes: channel scans, and the consumer scans that must wait (on the chain, or to write an
alert), run in worker threads a few at a time, in the order they arrived.

Every scan of a case or pallet writes (custody, the shipment, the event log's head), and on
SQLite one transaction writes at a time. With one worker thread per waiting request, eight
scans that each needed ~3 ms of CPU raced for the one interpreter lock: the scan holding the
database's write lock lost the interpreter to the seven that only waited behind it, every time
it read or wrote (measured: 88 % of a case scan's time was spent before that lock, which it held
for 0.6 ms). In a lane as wide as the database can write at once, a scan waits on the event
loop, in arrival order, and then runs without that race. PostgreSQL writes several at once, but
every scan takes the log head's row lock: its lane is a little wider
(``TRACECERT_WRITE_LANE``; docs/scans.md has the figures).

Consumer scans (the Digital Link, ``/items/{serial}/verify``) are answered on the event loop
where they can be (SQLite reads never wait); the rest, and every one on PostgreSQL, run in the
verify lane (``TRACECERT_VERIFY_LANE``), for the same reason: 32 threads racing for the lock
made the slowest answers three times the median.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import anyio
import anyio.to_thread
from fastapi import Request

T = TypeVar("T")

#: Lane widths when ``TRACECERT_WRITE_LANE`` / ``TRACECERT_VERIFY_LANE`` are 0 (automatic).
AUTOMATIC_WIDTH = {
    "write": {"sqlite": 1, "postgresql": 4},
    "verify": {"sqlite": 2, "postgresql": 4},
}


class Lane:
    """At most ``width`` requests in worker threads at once; the others wait, first come first
    served (anyio's capacity limiter queues its waiters in order)."""

    def __init__(self, width: int) -> None:
        if width < 1:
            raise ValueError("a lane is at least one wide")
        self.width = width
        self._limiter = anyio.CapacityLimiter(width)

    @classmethod
    def for_database(cls, kind: str, dialect: str, configured: int = 0) -> Lane:
        """The ``kind`` lane (write, verify) for a database: ``configured`` if set, else its
        automatic width."""
        return cls(configured or AUTOMATIC_WIDTH[kind].get(dialect, 1))

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` in a worker thread once the lane has room."""
        return await anyio.to_thread.run_sync(fn, *args, limiter=self._limiter)


def write_lane(request: Request) -> Lane:
    """The application's write lane (set by ``create_app``)."""
    lane: Lane = request.app.state.write_lane
    return lane


def verify_lane(request: Request) -> Lane:
    """The application's verify lane (set by ``create_app``)."""
    lane: Lane = request.app.state.verify_lane
    return lane
