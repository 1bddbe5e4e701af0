"""Commands: what a caller asks the service to do, in the imperative."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from service.domain.actor import Actor


@dataclass(frozen=True)
class CreateOrganisation:
    actor: Actor
    name: str
    kind: str


@dataclass(frozen=True)
class CreateApiKey:
    actor: Actor
    organisation_id: int
    role: str


@dataclass(frozen=True)
class RevokeApiKey:
    actor: Actor
    key_id: str


@dataclass(frozen=True)
class Idempotency:
    """An ``Idempotency-Key`` and the hash of the request it came with."""

    key: str
    request_hash: bytes


@dataclass(frozen=True)
class CreateBatch:
    actor: Actor
    lot: str
    items: list[str]
    metadata: dict[str, Any] = field(default_factory=dict)
    idempotency: Idempotency | None = None


@dataclass(frozen=True)
class AnchorBatch:
    actor: Actor
    batch_id: str


@dataclass(frozen=True)
class AnchorLog:
    """Periodic: queue an anchor of the event log root if the log grew."""


@dataclass(frozen=True)
class VerifyItem:
    item_id: str
