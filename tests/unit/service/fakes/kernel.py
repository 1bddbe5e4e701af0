"""Fakes of the kernel's ports: the event log, idempotency keys, the clock and the secrets."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from service.kernel.events import NO_PREVIOUS_LEAF, Event
from service.kernel.ports import (
    DuplicateError,
    LogEntry,
    LogRow,
    StoredResponse,
)
from tests.unit.service.fakes.state import Repo, sha


class FakeEventLog(Repo):
    def append(self, event: Event, at: datetime) -> LogEntry:
        index = self.st.log_size
        prev = self.st.last_leaf if index else NO_PREVIOUS_LEAF
        payload = event.canonical_bytes(at, log_index=index, prev=prev or NO_PREVIOUS_LEAF)
        entry = LogEntry(index, event.type, at, payload, sha(b"\x00", payload))
        self.st.events.append(entry)
        self.st.log_size, self.st.last_leaf = index + 1, entry.leaf_hash
        return entry

    def append_many(self, events: Sequence[Event], at: datetime) -> int:
        first = len(self.st.events)
        for event in events:
            self.append(event, at)
        return first

    def size(self) -> int:
        return self.st.log_size

    def _stored(self) -> list[LogEntry]:
        return sorted(self.st.events, key=lambda e: e.index)

    def leaf_hashes(self, size: int, start: int = 0) -> list[bytes]:
        return [e.leaf_hash for e in self._stored() if start <= e.index < size]

    def entries(self, offset: int, limit: int) -> list[LogEntry]:
        return [e for e in self._stored() if e.index >= offset][:limit]

    def rows(self, start: int, end: int, limit: int, payloads: bool) -> list[LogRow]:
        return [
            (e.index, e.leaf_hash, e.payload if payloads else None)
            for e in self._stored()
            if start <= e.index < end
        ][:limit]


class FakeIdempotency(Repo):
    def get(self, principal_id: str, key: str) -> StoredResponse | None:
        return self.st.idempotency.get((principal_id, key))

    def add(self, principal_id: str, key: str, response: StoredResponse, at: datetime) -> None:
        if (principal_id, key) in self.st.idempotency:
            raise DuplicateError("idempotency_keys")
        self.st.idempotency[(principal_id, key)] = response


class FakeClock:
    def __init__(self) -> None:
        self.current = datetime(2026, 1, 1, tzinfo=UTC)

    def now(self) -> datetime:
        self.current += timedelta(seconds=1)
        return self.current


class FakeSecrets:
    """A fixed PIN key and a reversible sealing stand-in bound to its context."""

    _MAGIC = b"sealed:"

    def __init__(self, pin_key: bytes = b"unit-test-pin-key".ljust(32, b".")) -> None:
        self._pin_key = pin_key

    @property
    def pin_key(self) -> bytes:
        return self._pin_key

    @staticmethod
    def _mask(data: bytes) -> bytes:
        return bytes(b ^ 0xA5 for b in data)

    def seal(self, plaintext: bytes, context: bytes) -> bytes:
        return self._MAGIC + sha(context)[:8] + self._mask(plaintext)

    def unseal(self, sealed: bytes, context: bytes) -> bytes:
        head = self._MAGIC + sha(context)[:8]
        if not sealed.startswith(head):
            raise ValueError("sealed for another context, or not sealed by these secrets")
        return self._mask(sealed[len(head) :])
