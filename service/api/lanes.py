"""The write lane: channel scans and uploads run in worker threads a few at a time, in the
order they arrived.

Every scan of a case or pallet writes (custody, the shipment, the event log's head), and on
SQLite one transaction writes at a time. With one worker thread per waiting request, eight
scans that each needed ~3 ms of CPU raced for the one interpreter lock: the scan holding the
database's write lock lost the interpreter to the seven that only waited behind it, every time
it read or wrote (measured: 88 % of a case scan's time was spent before that lock, which it held
for 0.6 ms). In a lane as wide as the database can write at once, a scan waits on the event
loop, in arrival order, and then runs without that race. PostgreSQL writes several at once, but
every scan takes the log head's row lock: its lane is a little wider
(``TRACECERT_WRITE_LANE``; docs/scans.md has the figures).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import anyio
import anyio.to_thread
from fastapi import Request

T = TypeVar("T")

#: Lane widths when ``TRACECERT_WRITE_LANE`` is 0 (automatic), by database.
AUTOMATIC_WIDTH = {"sqlite": 1, "postgresql": 4}


class WriteLane:
    """At most ``width`` write requests in worker threads at once; the others wait, first come
    first served (anyio's capacity limiter queues its waiters in order)."""

    def __init__(self, width: int) -> None:
        if width < 1:
            raise ValueError("a lane is at least one wide")
        self.width = width
        self._limiter = anyio.CapacityLimiter(width)

    @classmethod
    def for_database(cls, dialect: str, configured: int = 0) -> WriteLane:
        """The lane for a database: ``configured`` if set, else its automatic width."""
        return cls(configured or AUTOMATIC_WIDTH.get(dialect, 1))

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` in a worker thread once the lane has room."""
        return await anyio.to_thread.run_sync(fn, *args, limiter=self._limiter)


def write_lane(request: Request) -> WriteLane:
    """The application's write lane (set by ``create_app``)."""
    lane: WriteLane = request.app.state.write_lane
    return lane
