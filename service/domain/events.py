"""Domain events: what happened, in the past tense, with canonical bytes for the event log.

Canonical bytes are UTF-8 JSON with sorted keys and no whitespace. Events name organisations,
batches and keys by id; they never carry personal data (names, phone numbers, addresses), so
the log and its on-chain roots can be shown to any auditor.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, ClassVar


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

    def canonical_bytes(self, occurred_at: datetime) -> bytes:
        """Return the bytes that go into the event log for this event at ``occurred_at``."""
        body = {"type": self.type, "occurred_at": occurred_at.isoformat(), **self.fields()}
        return canonical_json(body)


@dataclass(frozen=True)
class OrganisationCreated(Event):
    """An organisation was registered."""

    type: ClassVar[str] = "OrganisationCreated"
    organisation_id: int
    kind: str


@dataclass(frozen=True)
class ApiKeyCreated(Event):
    """An API key was issued to an organisation."""

    type: ClassVar[str] = "ApiKeyCreated"
    key_id: str
    organisation_id: int
    role: str


@dataclass(frozen=True)
class ApiKeyRevoked(Event):
    """An API key was revoked."""

    type: ClassVar[str] = "ApiKeyRevoked"
    key_id: str
    organisation_id: int


@dataclass(frozen=True)
class BatchCreated(Event):
    """A factory registered a batch of items."""

    type: ClassVar[str] = "BatchCreated"
    batch_id: str
    organisation_id: int
    lot: str
    chain_batch_id: bytes
    root: bytes
    item_count: int
    metadata_hash: bytes


@dataclass(frozen=True)
class BatchAnchoringRequested(Event):
    """Anchoring a batch on chain was queued in the outbox."""

    type: ClassVar[str] = "BatchAnchoringRequested"
    batch_id: str
    chain_batch_id: bytes
    outbox_id: int


@dataclass(frozen=True)
class BatchAnchorFailed(Event):
    """A batch's anchor transaction failed for good; anchoring may be asked for again."""

    type: ClassVar[str] = "BatchAnchorFailed"
    batch_id: str
    chain_batch_id: bytes
    outbox_id: int
    error: str


@dataclass(frozen=True)
class BatchAnchored(Event):
    """A batch's root was confirmed on chain."""

    type: ClassVar[str] = "BatchAnchored"
    batch_id: str
    chain_batch_id: bytes
    tx_hash: bytes
    block_number: int
