"""The in-memory database the fakes share: every table as a dict or list, and the base of the
fake repositories."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from service.alerts.domain.alerts import Alert
from service.consumer.domain.certificates import Certificate
from service.factory.domain.batches import Batch
from service.factory.domain.products import Product
from service.factory.domain.units import UnitKind
from service.factory.ports import Attestation
from service.identity.domain.api_keys import ApiKey
from service.identity.domain.organisations import Organisation
from service.kernel.ports import (
    LogEntry,
    StoredResponse,
)
from service.ledger.domain.outbox import ChainWrite, OutboxEntry, OutboxFlight
from service.ledger.ports import (
    LogAnchor,
    LogCheck,
)

if TYPE_CHECKING:  # annotations only: the unit of work builds every repository
    from tests.unit.service.fakes.database import FakeUnitOfWork


def sha(*parts: bytes) -> bytes:
    return hashlib.sha256(b"".join(parts)).digest()


# ----------------------------------------------------------------------------- state
@dataclass
class UnitRow:
    """A stored case or pallet (``logistic_units``)."""

    id: int
    sscc: str
    kind: UnitKind
    batch_id: int
    position: int
    parent_id: int | None = None
    activated_at: datetime | None = None


@dataclass
class ItemRow:
    """A stored item (``items``)."""

    serial: str
    batch_id: int
    leaf_index: int
    item_hash: bytes
    leaf: bytes
    case_id: int | None
    pin_hash: bytes | None


@dataclass
class ApprovalRow:
    """A stored reprint approval (``code_file_approvals``)."""

    id: int
    batch_id: int
    approved_by: str
    reason: str
    created_at: datetime
    used_at: datetime | None = None


@dataclass
class DownloadRow:
    """A stored code file download (``code_file_downloads``)."""

    batch_id: int
    principal_id: str
    approval_id: int | None
    downloaded_at: datetime


@dataclass
class FakeState:
    """Everything the database holds; a unit of work works on a deep copy of it."""

    organisations: dict[int, Organisation] = field(default_factory=dict)
    api_keys: dict[str, ApiKey] = field(default_factory=dict)
    products: dict[int, Product] = field(default_factory=dict)
    batches: dict[int, Batch] = field(default_factory=dict)
    #: Sealed PIN seeds by batch id (None once destroyed).
    pin_seeds: dict[int, bytes | None] = field(default_factory=dict)
    sscc_counters: dict[str, int] = field(default_factory=dict)
    units: dict[int, UnitRow] = field(default_factory=dict)
    #: Items by serial (the unique key), in insertion order.
    items: dict[str, ItemRow] = field(default_factory=dict)
    #: Stored tree levels 1.. by batch id: ``levels[batch_id][0]`` is level 1.
    levels: dict[int, list[list[bytes]]] = field(default_factory=dict)
    approvals: list[ApprovalRow] = field(default_factory=list)
    downloads: list[DownloadRow] = field(default_factory=list)
    attestations: list[Attestation] = field(default_factory=list)
    #: ``company_prefixes``: prefix -> holding organisation.
    company_prefixes: dict[str, int] = field(default_factory=dict)
    #: ``brand_partners``: (brand, partner) -> roles.
    brand_partners: dict[tuple[int, int], frozenset[str]] = field(default_factory=dict)
    alerts: dict[int, Alert] = field(default_factory=dict)
    #: The stored rows of the log; tests may edit, drop or move them as an insider would.
    events: list[LogEntry] = field(default_factory=list)
    #: ``log_head``: the size handed out so far and the last entry's leaf hash.
    log_size: int = 0
    last_leaf: bytes | None = None
    log_anchors: list[LogAnchor] = field(default_factory=list)
    log_check: LogCheck | None = None
    outbox: dict[int, tuple[ChainWrite, OutboxEntry]] = field(default_factory=dict)
    #: How the sender's writes stand (the fake outbox keeps no nonces; tests set it).
    flight: OutboxFlight = field(default_factory=lambda: OutboxFlight(None, None, 0, ()))
    idempotency: dict[tuple[str, str], StoredResponse] = field(default_factory=dict)
    #: Certificates by item id.
    certificates: dict[int, Certificate] = field(default_factory=dict)
    commits: int = 0
    statistics_refreshed: int = 0

    def event_types(self) -> list[str]:
        return [e.type for e in self.events]

    def batch(self, public_id: str) -> Batch:
        return next(b for b in self.batches.values() if b.public_id == public_id)

    def items_of(self, batch_id: int) -> list[ItemRow]:
        return sorted(
            (i for i in self.items.values() if i.batch_id == batch_id), key=lambda i: i.leaf_index
        )

    def units_of(self, batch_id: int, kind: UnitKind) -> list[UnitRow]:
        return sorted(
            (u for u in self.units.values() if u.batch_id == batch_id and u.kind is kind),
            key=lambda u: u.position,
        )


class Repo:
    def __init__(self, uow: FakeUnitOfWork) -> None:
        self.uow = uow

    @property
    def st(self) -> FakeState:
        assert self.uow.state is not None, "a repository is used outside its unit of work"
        return self.uow.state


def next_id(rows: dict[int, Any]) -> int:
    return max(rows, default=0) + 1
