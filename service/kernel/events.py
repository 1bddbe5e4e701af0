"""The base of every domain event, its canonical bytes, and an entry's link in the event log.

Canonical bytes are UTF-8 JSON with sorted keys and no whitespace. Events name organisations,
batches and keys by id; they never carry personal data (names, phone numbers, addresses), so
the log and its on-chain roots can be shown to any auditor.

An entry of the event log also carries its place in the log: ``log_index`` (its 0-based index)
and ``prev`` (the RFC 6962 leaf hash of the entry before it, 32 zero bytes for the first), so an
entry edited together with its leaf hash breaks its successor's link and a moved entry names an
index that is not its position (docs/event-log.md gives the exact format). Each area declares
its own events on this base; an event's ``type`` is a class variable, not its module, so where
a class lives does not change a byte of the log.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, ClassVar

#: ``prev`` of the log's first entry.
NO_PREVIOUS_LEAF = bytes(32)


#: The keys an entry of the log carries besides its event's own.
LINK_KEYS = ("log_index", "prev")


def canonical_json(value: Any) -> bytes:
    """Return ``value`` as canonical bytes: UTF-8 JSON, sorted keys, no whitespace."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


@dataclass(frozen=True)
class Event:
    """Base of every domain event."""

    type: ClassVar[str] = "Event"

    def fields(self) -> dict[str, Any]:
        """Return the event's own fields as JSON-ready values (bytes become 0x hex)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = "0x" + value.hex() if isinstance(value, bytes) else value
        return out

    def canonical_bytes(
        self, occurred_at: datetime, log_index: int | None = None, prev: bytes | None = None
    ) -> bytes:
        """Return the bytes that go into the event log for this event at ``occurred_at``;
        with ``log_index`` and ``prev`` (the previous entry's leaf hash), linked into the log."""
        body = {"type": self.type, "occurred_at": occurred_at.isoformat(), **self.fields()}
        if log_index is not None:
            if prev is None or len(prev) != 32:
                raise ValueError("a linked entry needs the 32-byte leaf hash of its predecessor")
            body["log_index"] = log_index
            body["prev"] = "0x" + prev.hex()
        return canonical_json(body)


@dataclass(frozen=True)
class LogLink:
    """The place an entry of the log says it holds: its index and its predecessor's leaf hash."""

    index: int
    prev: bytes


class MalformedEntryError(ValueError):
    """Raised when stored log bytes are not an entry's canonical JSON (an altered row)."""


#: Plain ``json.loads`` sniffs the encoding of bytes first: a third of the time of a log
#: replay went there.
_DECODER = json.JSONDecoder()


def log_link(payload: bytes) -> LogLink | None:
    """Return the link an entry's bytes carry; None for entries written before links existed.

    Raises:
        MalformedEntryError: if the bytes are not a JSON object, or carry a malformed link.
    """
    try:
        body = _DECODER.decode(payload.decode("utf-8"))
    except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError included
        raise MalformedEntryError("not JSON") from exc
    if not isinstance(body, dict):
        raise MalformedEntryError("not a JSON object")
    index, prev = body.get("log_index"), body.get("prev")
    if index is None and prev is None:
        return None
    if type(index) is not int or index < 0 or not isinstance(prev, str):
        raise MalformedEntryError("log_index or prev is malformed")
    try:
        raw = bytes.fromhex(prev[2:]) if prev.startswith("0x") else b""
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise MalformedEntryError("prev is not 0x and 64 hex digits")
    return LogLink(index, raw)
