"""The ports every area shares: the event log, idempotency, the clock, the reference cache, and
the base of every area's unit of work.

A port is what a use case needs of the outside world, as a Protocol; the storage adapters
implement them (``service/kernel/storage`` for these). An area's own ports extend these.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any, Protocol, Self

from service.kernel.events import Event


class DuplicateError(Exception):
    """Raised by a repository when a unique constraint refuses a row.

    ``constraint`` names what was duplicated (e.g. ``"items.item_id"``,
    ``"idempotency_keys"``), so a handler can turn it into the right domain error.
    """

    def __init__(self, constraint: str) -> None:
        super().__init__(constraint)
        self.constraint = constraint


@dataclass(frozen=True)
class LogEntry:
    """One entry of the append-only event log."""

    index: int
    type: str
    occurred_at: datetime
    payload: bytes
    leaf_hash: bytes


#: One stored row of the event log as it is, for checking it: ``(index, leaf hash, payload)``,
#: the payload only if asked (else None). A plain tuple: an integrity pass reads every row.
LogRow = tuple[int, bytes, bytes | None]


@dataclass(frozen=True)
class StoredResponse:
    """The response once given to an idempotent request."""

    request_hash: bytes
    status_code: int
    body: bytes


class EventLog(Protocol):
    def append(self, event: Event, at: datetime) -> LogEntry:
        """Append under a lock so indexes are dense and in commit order."""
        ...

    def append_many(self, events: Sequence[Event], at: datetime) -> int:
        """Append many events under one lock (dense indexes); return the first index."""
        ...

    def size(self) -> int: ...
    def hold(self) -> int:
        """Take the appenders' lock without appending, held to commit, and return the size:
        every entry before it is committed, and none is appended until this transaction ends."""
        ...

    def leaf_hashes(self, size: int, start: int = 0) -> list[bytes]:
        """Leaf hashes of entries ``start`` up to (not including) ``size``."""
        ...

    def entries(self, offset: int, limit: int) -> list[LogEntry]: ...
    def rows(self, start: int, end: int, limit: int, payloads: bool) -> list[LogRow]:
        """Up to ``limit`` stored rows with ``start <= index < end`` in index order, exactly as
        stored (gaps and doubled indexes included); payloads only when asked."""
        ...


class IdempotencyRepository(Protocol):
    def get(self, principal_id: str, key: str) -> StoredResponse | None: ...
    def add(self, principal_id: str, key: str, response: StoredResponse, at: datetime) -> None: ...


class Clock(Protocol):
    def now(self) -> datetime: ...


class ReferenceCache(Protocol):
    """Recently read reference rows and recently checked credentials, kept in memory for a
    few seconds (``TRACECERT_REFERENCE_CACHE_TTL_S``); None is never cached."""

    def lookup(self, key: Hashable) -> Any | None:
        """The value cached under ``key``, or None when there is none (or it expired)."""
        ...

    def put(self, key: Hashable, value: Any) -> None:
        """Cache ``value`` (not None) under ``key`` for the cache's TTL."""
        ...

    def forget(self, key: Hashable) -> None:
        """Drop ``key`` at once (the row changed, the session ended)."""
        ...


class UnitOfWork(Protocol):
    """One database transaction; nothing is written unless ``commit`` is called.

    The base every area's unit of work extends with its own repositories: the event log and the
    idempotency keys are written by every area, in the same transaction as the facts they record.
    """

    events: EventLog
    idempotency: IdempotencyRepository

    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
    def commit(self) -> None: ...
    def rollback(self) -> None: ...
