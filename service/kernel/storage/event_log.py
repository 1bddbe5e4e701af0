"""The event log's writer and reader: appends under the log head's lock, dense indexes in commit
order, each entry linked to its predecessor (docs/event-log.md)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from service.kernel.events import NO_PREVIOUS_LEAF, Event
from service.kernel.ports import LogEntry, LogRow
from service.kernel.storage.rows import EventRow, LogHeadRow
from service.kernel.storage.sql import (
    bulk_insert,
    db_timestamp,
    dialect,
    driver_execute,
)

#: Hands out ``n`` log indexes (built once: every scan appends), with the leaf hash of the
#: entry before them; the row lock it takes serialises appenders until commit.
_GROW_LOG = (
    update(LogHeadRow)
    .where(LogHeadRow.id == 1)
    .values(size=LogHeadRow.size + bindparam("n"))
    .returning(LogHeadRow.size, LogHeadRow.last_leaf)
)


#: Keeps the last entry's leaf hash for the next appender's link.
_SET_LAST_LEAF = update(LogHeadRow).where(LogHeadRow.id == 1).values(last_leaf=bindparam("leaf"))


#: The same two, through the driver (``append_many``, on every scan's path).
_GROW_LOG_SQL = "UPDATE log_head SET size = size + ? WHERE id = 1 RETURNING size, last_leaf"


_SET_LAST_LEAF_SQL = "UPDATE log_head SET last_leaf = ? WHERE id = 1"


_EVENT_COLUMNS = ("log_index", "type", "occurred_at", "payload", "leaf_hash")


_LOG_ROWS_SQL = (
    "SELECT log_index, leaf_hash, {payload} FROM events WHERE log_index >= {start} "
    "AND log_index < {end} ORDER BY log_index LIMIT {limit}"
)


#: The rows an integrity pass reads, per dialect (the driver's parameter style) and whether
#: payloads are read: ``(index, leaf hash, payload or NULL)``.
_LOG_ROWS = {
    (dialect, payloads): _LOG_ROWS_SQL.format(
        payload="payload" if payloads else "NULL",
        **{name: style % name for name in ("start", "end", "limit")},
    )
    for dialect, style in (("sqlite", ":%s"), ("postgresql", "%%(%s)s"))
    for payloads in (False, True)
}


class SqlAlchemyEventLog:
    """The append-only log. ``leaf_hash`` is RFC 6962's ``H(0x00 || payload)``; each entry's
    payload carries its ``log_index`` and the leaf hash of the entry before it (``prev``)."""

    def __init__(self, session: Session, leaf_hash: Callable[[bytes], bytes]) -> None:
        self._s = session
        self._leaf_hash = leaf_hash

    def _grow(self, n: int) -> tuple[int, bytes]:
        """Take ``n`` indexes under the head's row lock: the first, and the leaf it links to.

        The row lock on log_head (taken by this UPDATE, held to commit) serialises appenders,
        so indexes are dense and in commit order on PostgreSQL; SQLite locks the whole file."""
        ((end, last),) = driver_execute(self._s, _GROW_LOG_SQL, (n,))
        first = int(end) - n
        if first == 0:
            return first, NO_PREVIOUS_LEAF
        if last is None:  # a head without its leaf (set by hand): the entry before holds it
            last = self._s.scalar(select(EventRow.leaf_hash).where(EventRow.log_index == first - 1))
        return first, bytes(last) if last is not None else NO_PREVIOUS_LEAF

    def append(self, event: Event, at: datetime) -> LogEntry:
        index, prev = self._grow(1)
        payload = event.canonical_bytes(at, log_index=index, prev=prev)
        entry = LogEntry(
            index=index,
            type=event.type,
            occurred_at=at,
            payload=payload,
            leaf_hash=self._leaf_hash(payload),
        )
        self._s.execute(
            insert(EventRow).values(
                log_index=entry.index,
                type=entry.type,
                occurred_at=at,
                payload=payload,
                leaf_hash=entry.leaf_hash,
            )
        )
        self._s.connection().execute(_SET_LAST_LEAF, {"leaf": entry.leaf_hash})
        return entry

    def append_many(self, events: Sequence[Event], at: datetime) -> int:
        if not events:
            return self.size()
        self._s.flush()
        first, prev = self._grow(len(events))
        stamp = db_timestamp(self._s, at)
        rows = []
        for n, event in enumerate(events):
            payload = event.canonical_bytes(at, log_index=first + n, prev=prev)
            prev = self._leaf_hash(payload)
            rows.append((first + n, event.type, stamp, payload, prev))
        bulk_insert(self._s, "events", _EVENT_COLUMNS, rows)
        driver_execute(self._s, _SET_LAST_LEAF_SQL, (prev,))
        return first

    def hold(self) -> int:
        """The appenders' lock (the head's row lock, SQLite's write lock) without appending."""
        ((end, _),) = driver_execute(self._s, _GROW_LOG_SQL, (0,))
        return int(end)

    def size(self) -> int:
        return int(self._s.execute(select(LogHeadRow.size).where(LogHeadRow.id == 1)).scalar_one())

    def leaf_hashes(self, size: int, start: int = 0) -> list[bytes]:
        return list(
            self._s.scalars(
                select(EventRow.leaf_hash)
                .where(EventRow.log_index >= start, EventRow.log_index < size)
                .order_by(EventRow.log_index)
            )
        )

    def rows(self, start: int, end: int, limit: int, payloads: bool) -> list[LogRow]:
        # Every row of the log comes through here once per integrity pass: the driver's own
        # tuples, fetched at once, with no per-row result processing.
        self._s.flush()
        sql = _LOG_ROWS[(dialect(self._s), payloads)]
        driver = self._s.connection().connection.driver_connection
        cursor = driver.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(sql, {"start": start, "end": end, "limit": limit})
            return list(cursor.fetchall())
        finally:
            cursor.close()

    def entries(self, offset: int, limit: int) -> list[LogEntry]:
        rows = self._s.scalars(
            select(EventRow)
            .where(EventRow.log_index >= offset)
            .order_by(EventRow.log_index)
            .limit(limit)
        )
        return [
            LogEntry(
                index=r.log_index,
                type=r.type,
                occurred_at=r.occurred_at,
                payload=r.payload,
                leaf_hash=r.leaf_hash,
            )
            for r in rows
        ]
