"""The system clock behind the ``Clock`` port."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class SystemClock:
    """The wall clock, moved forward by ``offset`` in dev mode only (TRACECERT_DEV_CLOCK_OFFSET_S:
    demos and tests of what waits for a date, such as a foreclosure after the due date)."""

    def __init__(self, offset: timedelta = timedelta(0)) -> None:
        self.offset = offset

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset
