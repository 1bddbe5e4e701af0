"""What a caller asks of the factory: register a product, create, code, activate, anchor,
recall and attest a batch, download its code file, approve a reprint."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from service.kernel.actor import Actor
from service.kernel.idempotency import Idempotency


@dataclass(frozen=True)
class RegisterProduct:
    actor: Actor
    gtin: str
    name: str
    attributes: dict[str, Any] = field(default_factory=dict)
    #: Only an admin names the brand; a brand registers its own products.
    brand_id: int | None = None


@dataclass(frozen=True)
class CreateBatch:
    actor: Actor
    gtin: str
    lot: str
    production_date: date
    line: str
    planned_quantity: int
    case_size: int
    cases_per_pallet: int
    idempotency: Idempotency | None = None


@dataclass(frozen=True)
class GenerateCodes:
    actor: Actor
    batch_id: str


@dataclass(frozen=True)
class ActivateCodes:
    """Activate by scanning a case or pallet label (``code``) or a whole batch."""

    actor: Actor
    code: str | None = None
    batch_id: str | None = None


@dataclass(frozen=True)
class AnchorBatch:
    actor: Actor
    batch_id: str


@dataclass(frozen=True)
class RecallBatch:
    actor: Actor
    batch_id: str
    reason: str


@dataclass(frozen=True)
class AttestBatch:
    actor: Actor
    batch_id: str
    report_hash: bytes
    uri: str


@dataclass(frozen=True)
class DownloadCodeFile:
    actor: Actor
    batch_id: str


@dataclass(frozen=True)
class ApproveReprint:
    actor: Actor
    batch_id: str
    reason: str
