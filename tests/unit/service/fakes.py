"""In-memory ``Fake*`` implementations of the application ports, for unit tests.

Each fake keeps the semantics the handlers rely on from its ``SqlAlchemy*`` counterpart in
the SQLAlchemy repositories: unique constraints raise ``DuplicateError``, conditional
updates return False when the row is not in the expected state (another caller won), and nothing
a unit of work does is visible to anyone else until it commits.

Batch trees are real (``chain.merkle``), so a proof read from the stored levels verifies against
the stored root exactly as it does in production; the other hashes are SHA-256 stand-ins.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from chain import merkle
from service.alerts.domain.alerts import Alert, AlertStatus
from service.alerts.ports import AlertRepository
from service.consumer.domain.certificates import Certificate
from service.consumer.domain.verification import BatchOnChain
from service.factory.app.batches import anchor_batch, attest_batch, create_batch, recall_batch
from service.factory.app.codes import activate_codes, generate_codes
from service.factory.app.commands import (
    ActivateCodes,
    AnchorBatch,
    ApproveReprint,
    AttestBatch,
    CreateBatch,
    DownloadCodeFile,
    GenerateCodes,
    RecallBatch,
    RegisterProduct,
)
from service.factory.app.printing import approve_reprint, download_code_file
from service.factory.app.products import register_product
from service.factory.domain.batches import Batch, BatchOwner, BatchStatus
from service.factory.domain.products import Product
from service.factory.domain.units import ItemRecord, LogisticUnit, PackingPlan, UnitKind
from service.factory.ports import (
    Attestation,
    AttestationRepository,
    BatchRepository,
    CodeFileDownload,
    CodeFileRepository,
    CodeRepository,
    ProductRepository,
)
from service.identity.domain.api_keys import ApiKey
from service.identity.domain.organisations import Organisation
from service.identity.ports import ApiKeyRepository, OrganisationRepository
from service.kernel.actor import Actor
from service.kernel.events import NO_PREVIOUS_LEAF, Event, canonical_json
from service.kernel.gs1 import check_digit
from service.kernel.idempotency import Idempotency
from service.kernel.ports import (
    DuplicateError,
    EventLog,
    IdempotencyRepository,
    LogEntry,
    LogRow,
    StoredResponse,
)
from service.kernel.roles import OrganisationKind, Role
from service.ledger.domain.errors import (
    DeploymentNotFoundError,
    LedgerHeldError,
    LedgerUnavailableError,
)
from service.ledger.domain.outbox import ChainWrite, OutboxEntry, OutboxFlight
from service.ledger.ports import (
    ChainStatus,
    LogAnchor,
    LogAnchorRepository,
    LogCheck,
    LogCheckRepository,
    OutboxRepository,
)


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


class _Repo:
    def __init__(self, uow: FakeUnitOfWork) -> None:
        self.uow = uow

    @property
    def st(self) -> FakeState:
        assert self.uow.state is not None, "a repository is used outside its unit of work"
        return self.uow.state


def _next_id(rows: dict[int, Any]) -> int:
    return max(rows, default=0) + 1


# ----------------------------------------------------------------------------- repositories
class FakeOrganisations(_Repo):
    def add(self, organisation: Organisation) -> Organisation:
        if any(o.name == organisation.name for o in self.st.organisations.values()):
            raise DuplicateError("organisations")
        organisation.id = _next_id(self.st.organisations)
        self.st.organisations[organisation.id] = copy.copy(organisation)
        return organisation

    def get(self, organisation_id: int) -> Organisation | None:
        found = self.st.organisations.get(organisation_id)
        return copy.copy(found) if found else None

    def get_by_name(self, name: str) -> Organisation | None:
        found = next((o for o in self.st.organisations.values() if o.name == name), None)
        return copy.copy(found) if found else None

    def list(self, offset: int, limit: int) -> list[Organisation]:
        ordered = sorted(self.st.organisations.values(), key=lambda o: o.id or 0)
        return [copy.copy(o) for o in ordered[offset : offset + limit]]


class FakeApiKeys(_Repo):
    def add(self, key: ApiKey) -> None:
        self.st.api_keys[key.key_id] = copy.copy(key)

    def get(self, key_id: str) -> ApiKey | None:
        key = self.st.api_keys.get(key_id)
        return copy.copy(key) if key else None

    def revoke(self, key_id: str, at: datetime) -> bool:
        key = self.st.api_keys.get(key_id)
        if key is None or key.revoked_at is not None:
            return False
        key.revoked_at = at
        return True


class FakeProducts(_Repo):
    def add(self, product: Product) -> Product:
        if any(p.gtin == product.gtin for p in self.st.products.values()):
            raise DuplicateError("gtin")
        product.id = _next_id(self.st.products)
        self.st.products[product.id] = copy.deepcopy(product)
        return product

    def get(self, product_id: int) -> Product | None:
        found = self.st.products.get(product_id)
        return copy.deepcopy(found) if found else None

    def get_by_gtin(self, gtin: str) -> Product | None:
        found = next((p for p in self.st.products.values() if p.gtin == gtin), None)
        return copy.deepcopy(found) if found else None

    def list(self, brand_id: int | None, offset: int, limit: int) -> list[Product]:
        rows = sorted(self.st.products.values(), key=lambda p: p.id or 0)
        if brand_id is not None:
            rows = [p for p in rows if p.brand_id == brand_id]
        return [copy.deepcopy(p) for p in rows[offset : offset + limit]]


class FakeBatches(_Repo):
    def add(self, batch: Batch) -> Batch:
        for other in self.st.batches.values():
            if other.product_id == batch.product_id and other.lot == batch.lot:
                raise DuplicateError("product_id")
            if other.public_id == batch.public_id or other.chain_batch_id == batch.chain_batch_id:
                raise DuplicateError("batches")
        batch.id = _next_id(self.st.batches)
        self.st.batches[batch.id] = copy.deepcopy(batch)
        self.st.pin_seeds[batch.id] = None
        return batch

    def get(self, public_id: str) -> Batch | None:
        found = next((b for b in self.st.batches.values() if b.public_id == public_id), None)
        return copy.deepcopy(found) if found else None

    def get_by_id(self, batch_id: int) -> Batch | None:
        found = self.st.batches.get(batch_id)
        return copy.deepcopy(found) if found else None

    def owner(self, batch_id: int) -> BatchOwner | None:
        found = self.st.batches.get(batch_id)
        return BatchOwner(found.public_id, found.brand_id) if found else None

    def lot_exists(self, product_id: int, lot: str) -> bool:
        return any(b.product_id == product_id and b.lot == lot for b in self.st.batches.values())

    def list(
        self, factory_id: int | None, brand_id: int | None, offset: int, limit: int
    ) -> list[Batch]:
        rows = sorted(self.st.batches.values(), key=lambda b: b.id or 0, reverse=True)
        if factory_id is not None:
            rows = [b for b in rows if b.organisation_id == factory_id]
        if brand_id is not None:
            rows = [b for b in rows if b.brand_id == brand_id]
        return [copy.deepcopy(b) for b in rows[offset : offset + limit]]

    def transition(self, batch_id: int, expected: Sequence[BatchStatus], to: BatchStatus) -> bool:
        batch = self.st.batches.get(batch_id)
        if batch is None or batch.status not in expected:
            return False
        batch.status = to
        return True

    def set_generated(
        self,
        batch_id: int,
        root: bytes,
        item_count: int,
        pin_seed_sealed: bytes,
        at: datetime | None = None,
    ) -> bool:
        batch = self.st.batches.get(batch_id)
        if batch is None or batch.status is not BatchStatus.DRAFT:
            return False
        batch.status = BatchStatus.GENERATED
        batch.root = root
        batch.item_count = item_count
        self.st.pin_seeds[batch_id] = pin_seed_sealed
        return True

    def pin_seed(self, batch_id: int) -> bytes | None:
        return self.st.pin_seeds.get(batch_id)

    def destroy_pin_seed(self, batch_id: int) -> bool:
        if self.st.pin_seeds.get(batch_id) is None:
            return False
        self.st.pin_seeds[batch_id] = None
        return True

    def set_outbox(self, batch_id: int, outbox_id: int) -> None:
        self.st.batches[batch_id].outbox_id = outbox_id

    def recall(
        self, batch_id: int, reason: str, at: datetime, recall_outbox_id: int | None
    ) -> bool:
        batch = self.st.batches.get(batch_id)
        if batch is None or batch.status is BatchStatus.RECALLED:
            return False
        batch.status = BatchStatus.RECALLED
        batch.recall_reason = reason
        batch.recalled_at = at
        batch.recall_outbox_id = recall_outbox_id
        self.st.pin_seeds[batch_id] = None
        return True


class FakeCodes(_Repo):
    # ------------------------------------------------------------------ generation
    def refresh_statistics(self) -> None:
        self.st.statistics_refreshed += 1

    def reserve_sscc_references(self, company_prefix: str, count: int) -> int:
        first = self.st.sscc_counters.get(company_prefix, 0)
        self.st.sscc_counters[company_prefix] = first + count
        return first

    def _add_unit(
        self, sscc: str, kind: UnitKind, batch_id: int, position: int, parent: int | None
    ) -> int:
        if any(u.sscc == sscc for u in self.st.units.values()):
            raise DuplicateError("sscc")
        unit_id = _next_id(self.st.units)
        self.st.units[unit_id] = UnitRow(unit_id, sscc, kind, batch_id, position, parent)
        return unit_id

    def add_units(
        self, batch_id: int, plan: PackingPlan, holder_id: int, at: datetime
    ) -> tuple[list[int], list[int]]:
        pallets = [
            self._add_unit(sscc, UnitKind.PALLET, batch_id, n, None)
            for n, sscc in enumerate(plan.pallet_ssccs)
        ]
        cases = [
            self._add_unit(sscc, UnitKind.CASE, batch_id, n, pallets[plan.pallet_of_case(n)])
            for n, sscc in enumerate(plan.case_ssccs)
        ]
        return pallets, cases

    def add_items(
        self,
        batch_id: int,
        first_index: int,
        serials: Sequence[str],
        item_hashes: Sequence[bytes],
        leaves: Sequence[bytes],
        case_ids: Sequence[int],
        pin_hashes: Sequence[bytes],
    ) -> None:
        rows = [
            ItemRow(serial, batch_id, first_index + n, item_hash, leaf, case_id, pin)
            for n, (serial, item_hash, leaf, case_id, pin) in enumerate(
                zip(serials, item_hashes, leaves, case_ids, pin_hashes, strict=True)
            )
        ]
        taken = {(i.batch_id, i.leaf_index) for i in self.st.items.values()}
        seen: set[str] = set()
        for row in rows:
            if row.serial in self.st.items or row.serial in seen:
                raise DuplicateError("serial")
            if (row.batch_id, row.leaf_index) in taken:
                raise DuplicateError("items")
            seen.add(row.serial)
        for row in rows:
            self.st.items[row.serial] = row

    def add_levels(self, batch_id: int, levels: Sequence[Sequence[bytes]]) -> None:
        if batch_id in self.st.levels:
            raise DuplicateError("batch_tree_levels")
        self.st.levels[batch_id] = [list(level) for level in levels]

    # ------------------------------------------------------------------ reads
    def proof(self, batch_id: int, leaf_index: int, item_count: int) -> list[bytes]:
        levels = self.st.levels.get(batch_id, [])
        proof: list[bytes] = []
        for level, position in merkle.proof_positions(leaf_index, item_count):
            if level == 0:
                leaf = next(
                    (
                        i.leaf
                        for i in self.st.items.values()
                        if i.batch_id == batch_id and i.leaf_index == position
                    ),
                    None,
                )
                if leaf is None:
                    raise LookupError(f"batch {batch_id} has no leaf {position}")
                proof.append(leaf)
            elif level - 1 < len(levels) and position < len(levels[level - 1]):
                proof.append(levels[level - 1][position])
            else:
                raise LookupError(f"batch {batch_id} has no complete stored tree")
        return proof

    def _sscc(self, unit_id: int | None) -> str | None:
        return self.st.units[unit_id].sscc if unit_id is not None else None

    def _record(self, item: ItemRow) -> ItemRecord:
        case = self.st.units.get(item.case_id) if item.case_id is not None else None
        return ItemRecord(
            serial=item.serial,
            batch_id=item.batch_id,
            leaf_index=item.leaf_index,
            item_hash=item.item_hash,
            leaf=item.leaf,
            pin_hash=item.pin_hash,
            case_sscc=case.sscc if case else None,
            pallet_sscc=self._sscc(case.parent_id) if case else None,
            activated_at=case.activated_at if case else None,
        )

    def find_item(self, serial: str) -> ItemRecord | None:
        item = self.st.items.get(serial)
        return self._record(item) if item else None

    def _unit(self, row: UnitRow) -> LogisticUnit:
        return LogisticUnit(
            id=row.id,
            sscc=row.sscc,
            kind=row.kind,
            batch_id=row.batch_id,
            position=row.position,
            parent_sscc=self._sscc(row.parent_id),
            activated_at=row.activated_at,
        )

    def unit(self, sscc: str) -> LogisticUnit | None:
        row = next((u for u in self.st.units.values() if u.sscc == sscc), None)
        return self._unit(row) if row else None

    def units(self, batch_id: int, kind: UnitKind, offset: int, limit: int) -> list[LogisticUnit]:
        rows = self.st.units_of(batch_id, kind)
        return [self._unit(r) for r in rows[offset : offset + limit]]

    def unit_items(self, unit_id: int) -> list[str]:
        rows = sorted(
            (i for i in self.st.items.values() if i.case_id == unit_id),
            key=lambda i: i.leaf_index,
        )
        return [i.serial for i in rows]

    def activate(self, batch_id: int, unit: LogisticUnit | None, at: datetime) -> list[int]:
        cases = [c for c in self.st.units_of(batch_id, UnitKind.CASE) if c.activated_at is None]
        if unit is not None and unit.kind is UnitKind.CASE:
            cases = [c for c in cases if c.id == unit.id]
        elif unit is not None:
            cases = [c for c in cases if c.parent_id == unit.id]
        for case in cases:
            case.activated_at = at
        if cases:
            pallets = self.st.units_of(batch_id, UnitKind.PALLET)
            if unit is not None and unit.kind is UnitKind.PALLET:
                pallets = [p for p in pallets if p.id == unit.id]
            elif unit is not None:
                pallets = []
            for pallet in pallets:
                if pallet.activated_at is None:
                    pallet.activated_at = at
        return sorted(c.position for c in cases)

    def inactive_cases(self, batch_id: int) -> int:
        return sum(1 for c in self.st.units_of(batch_id, UnitKind.CASE) if c.activated_at is None)

    def active_cases(self, batch_id: int) -> int:
        return sum(
            1 for c in self.st.units_of(batch_id, UnitKind.CASE) if c.activated_at is not None
        )

    def code_pages(
        self, batch_id: int, page_size: int, start: int = 0
    ) -> Iterator[list[tuple[str, str | None, str | None, datetime | None]]]:
        # Keyset pagination like the real query: each page is read afresh from the state.
        last = start - 1
        while True:
            items = [i for i in self.st.items_of(batch_id) if i.leaf_index > last]
            rows = items[: max(page_size, 0)]
            if not rows:
                return
            records = [self._record(item) for item in rows]
            yield [(r.serial, r.case_sscc, r.pallet_sscc, r.activated_at) for r in records]
            last = rows[-1].leaf_index

    def unit_rows(
        self, batch_id: int, kind: UnitKind, start: int = 0
    ) -> Iterator[tuple[str, str | None]]:
        for row in self.st.units_of(batch_id, kind):
            if row.position >= start:
                yield row.sscc, self._sscc(row.parent_id)


class FakeCodeFiles(_Repo):
    def downloads(self, batch_id: int) -> list[CodeFileDownload]:
        rows = [d for d in self.st.downloads if d.batch_id == batch_id]
        return [
            CodeFileDownload(n, d.principal_id, d.approval_id, d.downloaded_at)
            for n, d in enumerate(rows, start=1)
        ]

    def add_approval(self, batch_id: int, approved_by: str, reason: str, at: datetime) -> int:
        approval_id = len(self.st.approvals) + 1
        self.st.approvals.append(ApprovalRow(approval_id, batch_id, approved_by, reason, at))
        return approval_id

    def take_approval(self, batch_id: int, at: datetime) -> int | None:
        for approval in self.st.approvals:
            if approval.batch_id == batch_id and approval.used_at is None:
                approval.used_at = at
                return approval.id
        return None

    def add_download(
        self, batch_id: int, principal_id: str, approval_id: int | None, at: datetime
    ) -> int:
        if approval_id is not None and any(d.approval_id == approval_id for d in self.st.downloads):
            raise DuplicateError("code_file_downloads")
        self.st.downloads.append(DownloadRow(batch_id, principal_id, approval_id, at))
        return sum(1 for d in self.st.downloads if d.batch_id == batch_id)


class FakeAttestations(_Repo):
    def add(self, attestation: Attestation) -> None:
        if any(a.outbox_id == attestation.outbox_id for a in self.st.attestations):
            raise DuplicateError("attestations")
        self.st.attestations.append(attestation)

    def of_batch(self, batch_id: int) -> list[Attestation]:
        return [a for a in self.st.attestations if a.batch_id == batch_id]


class FakeTenancy(_Repo):
    def prefixes_of(self, organisation_id: int) -> list[str]:
        return sorted(p for p, o in self.st.company_prefixes.items() if o == organisation_id)

    def holders(self, prefixes: Sequence[str]) -> dict[str, int]:
        return {p: self.st.company_prefixes[p] for p in prefixes if p in self.st.company_prefixes}

    def overlapping(self, prefix: str) -> dict[str, int]:
        return {
            p: o
            for p, o in self.st.company_prefixes.items()
            if p.startswith(prefix) or prefix.startswith(p)
        }

    def set_prefixes(self, organisation_id: int, prefixes: Sequence[str], at: datetime) -> None:
        for p in prefixes:
            if self.st.company_prefixes.get(p, organisation_id) != organisation_id:
                raise DuplicateError("company_prefixes")
        for p in [p for p, o in self.st.company_prefixes.items() if o == organisation_id]:
            del self.st.company_prefixes[p]
        for p in prefixes:
            self.st.company_prefixes[p] = organisation_id

    def partners(self, brand_id: int) -> dict[int, frozenset[str]]:
        return {p: r for (b, p), r in sorted(self.st.brand_partners.items()) if b == brand_id}

    def brands_of_partner(self, partner_id: int, role: str) -> list[int]:
        found = self.st.brand_partners.items()
        return sorted(b for (b, p), r in found if p == partner_id and role in r)

    def is_authorised(self, brand_id: int, partner_id: int, role: str) -> bool:
        return role in self.st.brand_partners.get((brand_id, partner_id), frozenset())

    def set_partner(
        self, brand_id: int, partner_id: int, roles: Sequence[str], at: datetime
    ) -> None:
        if roles:
            self.st.brand_partners[(brand_id, partner_id)] = frozenset(roles)
        else:
            self.st.brand_partners.pop((brand_id, partner_id), None)


class FakeAlerts(_Repo):
    def raise_or_repeat(self, alert: Alert, at: datetime) -> tuple[Alert, bool]:
        existing = next(
            (a for a in self.st.alerts.values() if a.dedupe_key == alert.dedupe_key), None
        )
        if existing is not None:
            existing.count += 1
            existing.last_seen_at = at
            return copy.deepcopy(existing), False
        stored = replace(
            copy.deepcopy(alert),
            id=_next_id(self.st.alerts),
            count=1,
            first_seen_at=at,
            last_seen_at=at,
        )
        assert stored.id is not None
        self.st.alerts[stored.id] = stored
        return copy.deepcopy(stored), True

    def list(
        self,
        brand_id: int | None,
        status: AlertStatus | None,
        offset: int,
        limit: int,
        party_id: int | None = None,
    ) -> list[Alert]:
        rows = sorted(self.st.alerts.values(), key=lambda a: a.id or 0, reverse=True)
        if brand_id is not None:
            rows = [a for a in rows if a.brand_id == brand_id]
        if status is not None:
            rows = [a for a in rows if a.status is status]
        if party_id is not None:
            rows = [a for a in rows if a.visible_to(party_id)]
        return [copy.deepcopy(a) for a in rows[offset : offset + limit]]

    def get(self, alert_id: int) -> Alert | None:
        found = self.st.alerts.get(alert_id)
        return copy.deepcopy(found) if found else None

    def set_status(
        self,
        alert_id: int,
        expected: AlertStatus,
        status: AlertStatus,
        note: str | None,
        at: datetime,
    ) -> bool:
        found = self.st.alerts.get(alert_id)
        if found is None or found.status is not expected:
            return False
        found.status, found.note = status, note
        return True


class FakeEventLog(_Repo):
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


class FakeLogTenants(_Repo):
    """Resolves organisations only (what the unit tests' logs reference)."""

    def brands_of(self, refs: Iterable[tuple[str, Any]]) -> dict[tuple[str, Any], int | None]:
        out: dict[tuple[str, Any], int | None] = {}
        for kind, key in refs:
            org = self.st.organisations.get(key) if kind == "organisation" else None
            if org is not None:
                out[(kind, key)] = org.brand_scope
        return out


class FakeLogAnchors(_Repo):
    def latest(self) -> LogAnchor | None:
        return max(self.st.log_anchors, key=lambda a: a.size, default=None)

    def latest_anchored(self) -> LogAnchor | None:
        done = [a for a in self.st.log_anchors if a.status == "anchored"]
        return max(done, key=lambda a: a.size, default=None)

    def add(self, anchor: LogAnchor) -> None:
        if any(a.size == anchor.size for a in self.st.log_anchors):
            raise DuplicateError("log_anchors")
        self.st.log_anchors.append(anchor)

    def _live(self) -> list[LogAnchor]:
        return [a for a in self.st.log_anchors if a.status in ("requested", "anchored")]

    def after(self, size: int, limit: int) -> list[LogAnchor]:
        return sorted((a for a in self._live() if a.size > size), key=lambda a: a.size)[:limit]

    def up_to(self, size: int, limit: int) -> list[LogAnchor]:
        live = (a for a in self._live() if a.size <= size)
        return sorted(live, key=lambda a: -a.size)[:limit]


class FakeLogChecks(_Repo):
    def last(self) -> LogCheck | None:
        return self.st.log_check

    def save(self, check: LogCheck) -> None:
        self.st.log_check = check


class FakeOutbox(_Repo):
    def add(self, write: ChainWrite, at: datetime) -> int:
        if any(w.dedupe_key == write.dedupe_key for w, _ in self.st.outbox.values()):
            raise DuplicateError("dedupe_key")
        outbox_id = _next_id(self.st.outbox)
        entry = OutboxEntry(outbox_id, write.kind, "queued", None, None, None, None)
        self.st.outbox[outbox_id] = (write, entry)
        return outbox_id

    def get(self, outbox_id: int) -> OutboxEntry | None:
        found = self.st.outbox.get(outbox_id)
        return found[1] if found else None

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for _, entry in self.st.outbox.values():
            out[entry.status] = out.get(entry.status, 0) + 1
        return out

    def flight(self, sender: str) -> OutboxFlight:
        return self.st.flight


class FakeIdempotency(_Repo):
    def get(self, principal_id: str, key: str) -> StoredResponse | None:
        return self.st.idempotency.get((principal_id, key))

    def add(self, principal_id: str, key: str, response: StoredResponse, at: datetime) -> None:
        if (principal_id, key) in self.st.idempotency:
            raise DuplicateError("idempotency_keys")
        self.st.idempotency[(principal_id, key)] = response


# ----------------------------------------------------------------------------- unit of work
class FakeCustody(_Repo):
    """Custody as the fakes know it: nothing is shipped, so the factory holds every item."""

    def target(self, sscc: str | None, serial: str | None) -> None:
        return None  # nothing travels here: a scan's journey is empty

    def history(self, target: object) -> list[dict[str, Any]]:
        return []

    def last_holders(self, serials: Sequence[str]) -> dict[str, tuple[int | None, int | None]]:
        out: dict[str, tuple[int | None, int | None]] = {}
        for serial in serials:
            item = self.st.items.get(serial)
            if item is not None:
                out[serial] = (self.st.batches[item.batch_id].organisation_id, None)
        return out


class FakeCertificates(_Repo):
    """Certificates by item, enough for scans; the claim flow is tested on the database."""

    def by_item(self, item_id: int) -> Certificate | None:
        return self.st.certificates.get(item_id)


class FakeUnitOfWork:
    """Works on a deep copy of the committed state; ``commit`` publishes it.

    A reader (``FakeDatabase.reader()``) refuses to commit, so a handler that writes through
    a read-only unit of work fails its test.
    """

    organisations: OrganisationRepository
    api_keys: ApiKeyRepository
    products: ProductRepository
    batches: BatchRepository
    codes: CodeRepository
    code_files: CodeFileRepository
    attestations: AttestationRepository
    alerts: AlertRepository
    events: EventLog
    log_anchors: LogAnchorRepository
    log_checks: LogCheckRepository
    outbox: OutboxRepository
    idempotency: IdempotencyRepository

    def __init__(self, db: FakeDatabase, read_only: bool = False) -> None:
        self.db = db
        self.read_only = read_only
        self.state: FakeState | None = None
        self.organisations = FakeOrganisations(self)
        self.api_keys = FakeApiKeys(self)
        self.products = FakeProducts(self)
        self.batches = FakeBatches(self)
        self.codes = FakeCodes(self)
        self.code_files = FakeCodeFiles(self)
        self.attestations = FakeAttestations(self)
        self.tenancy = FakeTenancy(self)
        self.alerts = FakeAlerts(self)
        self.events = FakeEventLog(self)
        self.log_tenants = FakeLogTenants(self)
        self.log_anchors = FakeLogAnchors(self)
        self.log_checks = FakeLogChecks(self)
        self.outbox = FakeOutbox(self)
        self.idempotency = FakeIdempotency(self)
        self.custody = FakeCustody(self)
        self.certificates = FakeCertificates(self)

    def __enter__(self) -> FakeUnitOfWork:
        self.state = copy.deepcopy(self.db.state)
        return self

    def __exit__(self, *exc: object) -> None:
        self.state = None

    def commit(self) -> None:
        assert self.state is not None
        assert not self.read_only, "a reader unit of work must not commit"
        self.state.commits += 1
        self.db.state = copy.deepcopy(self.state)

    def rollback(self) -> None:
        self.state = copy.deepcopy(self.db.state)


class FakeDatabase:
    """The ``UnitOfWorkFactory``: every unit of work sees the last committed state."""

    def __init__(self) -> None:
        self.state = FakeState()

    def __call__(self) -> FakeUnitOfWork:
        return FakeUnitOfWork(self)

    def reader(self) -> FakeUnitOfWork:
        return FakeUnitOfWork(self, read_only=True)


class FakeClock:
    def __init__(self) -> None:
        self.current = datetime(2026, 1, 1, tzinfo=UTC)

    def now(self) -> datetime:
        self.current += timedelta(seconds=1)
        return self.current


# ----------------------------------------------------------------------------- hashing, secrets
class FakeCommitments:
    """SHA-256 stand-ins for ids and hashes; real ``chain.merkle`` leaves, trees and proofs.

    ``commit_items`` and ``item_leaf`` agree, and a proof read from ``tree_levels`` verifies
    with ``verify_batch_proof``, as in ``ChainCommitments``.
    """

    def chain_batch_id(self, public_id: str) -> bytes:
        return sha(b"batch:", public_id.encode())

    def attributes_hash(self, attributes: dict[str, Any]) -> bytes:
        return sha(b"attributes:", canonical_json(attributes))

    def text_hash(self, text: str) -> bytes:
        return sha(b"text:", text.encode("utf-8"))

    def token_id(self, chain_batch_id: bytes, item_hash: bytes) -> int:
        return int.from_bytes(sha(b"token:", chain_batch_id, item_hash), "big")

    def item_hash(self, attributes_hash: bytes, serial: str) -> bytes:
        return sha(b"item:", attributes_hash, serial.encode())

    def commit_items(
        self, chain_batch_id: bytes, attributes_hash: bytes, serials: Sequence[str]
    ) -> tuple[list[bytes], list[bytes]]:
        item_hashes = [self.item_hash(attributes_hash, s) for s in serials]
        leaves = [
            self.item_leaf(chain_batch_id, self.token_id(chain_batch_id, ih), ih)
            for ih in item_hashes
        ]
        return item_hashes, leaves

    def item_leaf(self, chain_batch_id: bytes, token_id: int, item_hash: bytes) -> bytes:
        return merkle.item_leaf(chain_batch_id, token_id, item_hash)

    def tree_levels(self, leaves: Sequence[bytes]) -> list[list[bytes]]:
        return [list(level) for level in merkle.BatchTree(leaves).levels()]

    def verify_batch_proof(self, proof: Sequence[bytes], root: bytes, leaf: bytes) -> bool:
        return merkle.verify_proof(list(proof), root, leaf)

    def log_root(self, leaf_hashes: Sequence[bytes]) -> bytes:
        return sha(b"root", *leaf_hashes)

    def log_root_of(self, size: int, read_leaves: Callable[[int, int], Sequence[bytes]]) -> bytes:
        return self.log_root(read_leaves(0, size))

    def log_leaf_hash(self, payload: bytes) -> bytes:
        return sha(b"\x00", payload)

    def log_folder(self) -> FakeLogFolder:
        return FakeLogFolder()

    def log_inclusion_proof(
        self, leaf_hashes: Sequence[bytes], index: int, size: int
    ) -> list[bytes]:
        return list(leaf_hashes[:size])

    def log_consistency_proof(
        self, leaf_hashes: Sequence[bytes], old_size: int, new_size: int
    ) -> list[bytes]:
        return list(leaf_hashes[old_size:new_size])


class FakeLogFolder:
    """Folds leaves into ``FakeCommitments.log_root`` one by one (a running hash)."""

    def __init__(self) -> None:
        self._hash = hashlib.sha256(b"root")
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def append(self, leaf: bytes) -> None:
        self._hash.update(leaf)
        self._size += 1

    def extend(self, leaves: Sequence[bytes]) -> None:
        for leaf in leaves:
            self.append(leaf)

    def root(self) -> bytes:
        return self._hash.copy().digest()


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


# ----------------------------------------------------------------------------- ledger
class FakeLedger:
    """Queues writes like ``ChainLedger``; ``anchored`` (chain batch id -> the registry's
    record of the batch) is the contract; ``chain_reads`` counts the reads of a batch."""

    def __init__(self) -> None:
        self.available = True
        self.held = False
        self.deployed = True
        self.anchored: dict[bytes, BatchOnChain] = {}
        self.log_roots: dict[int, bytes] = {}
        self.chain_reads = 0
        #: The sender's nonce at the latest block.
        self.sender_nonce = 0

    def _writable(self) -> None:
        if not self.deployed:
            raise DeploymentNotFoundError()

    def _check(self) -> None:
        if self.held:
            raise LedgerHeldError()
        if not self.available:
            raise LedgerUnavailableError()

    def enqueue_anchor_batch(self, outbox: OutboxRepository, batch: Batch, at: datetime) -> int:
        self._writable()
        if batch.root is None:
            raise ValueError("a batch without codes has no root to anchor")
        dedupe_key = f"anchor_batch:{batch.chain_batch_id.hex()}"
        if batch.outbox_id is not None:  # a retry after a failed anchor transaction
            dedupe_key += f":after:{batch.outbox_id}"
        data = b"anchorBatch" + batch.chain_batch_id + batch.root
        return outbox.add(ChainWrite("anchor_batch", dedupe_key, "0xC", data), at)

    def enqueue_anchor_log(
        self, outbox: OutboxRepository, size: int, root: bytes, at: datetime
    ) -> int:
        self._writable()
        write = ChainWrite("anchor_log", f"anchor_log:{size}", "0xC", b"anchorLog" + root)
        return outbox.add(write, at)

    def enqueue_recall(
        self,
        outbox: OutboxRepository,
        batch: Batch,
        reason_hash: bytes,
        at: datetime,
        after: int | None,
    ) -> int:
        self._writable()
        write = ChainWrite(
            "recall_batch",
            f"recall_batch:{batch.chain_batch_id.hex()}",
            "0xC",
            b"recallBatch" + batch.chain_batch_id + reason_hash,
            depends_on=after,
        )
        return outbox.add(write, at)

    def enqueue_attestation(
        self, outbox: OutboxRepository, batch: Batch, report_hash: bytes, uri: str, at: datetime
    ) -> int:
        self._writable()
        write = ChainWrite(
            "attest_batch",
            f"attest_batch:{batch.chain_batch_id.hex()}:{report_hash.hex()}",
            "0xC",
            b"attestBatch" + batch.chain_batch_id + report_hash + uri.encode(),
        )
        return outbox.add(write, at)

    def contract(self) -> tuple[str, int] | None:
        return ("0x" + "ab" * 20, 31337) if self.deployed else None

    def batch_on_chain(self, chain_batch_id: bytes) -> BatchOnChain | None:
        self._check()
        self.chain_reads += 1
        return self.anchored.get(chain_batch_id)

    def recall_on_chain(self, chain_batch_id: bytes) -> None:
        """The registry recalls the batch (its recall transaction confirmed, or anyone with
        the role recalled it on chain)."""
        self.anchored[chain_batch_id] = replace(self.anchored[chain_batch_id], recalled=True)

    def log_root(self, size: int) -> bytes:
        self._check()
        return self.log_roots.get(size, b"\x00" * 32)

    def latest_log_size(self) -> int:
        self._check()
        return max(self.log_roots, default=0)

    def block_number(self) -> int | None:
        return 10 if self.available else None

    def status(self) -> ChainStatus:
        return ChainStatus(
            reachable=self.available,
            chain_id=1337 if self.available else None,
            genesis_hash=b"\x01" * 32 if self.available else None,
            block_number=10 if self.available else None,
            recorded_chain_id=1337,
            recorded_genesis_hash=b"\x01" * 32,
            genesis_mismatch=self.held,
            contract_address="0xC",
            deployment_tx_hash=b"\x02" * 32,
            deployment_block=1,
            sender_address="0xS",
            sender_held=self.held,
            hold_reason="genesis mismatch" if self.held else None,
            sender_nonce=self.sender_nonce if self.available else None,
        )

    def sender_address(self) -> str:
        return "0xS"


def confirm_outbox(db: FakeDatabase, outbox_id: int) -> None:
    """What the TxStore does to the outbox row on confirmation, for the fake state."""
    write, entry = db.state.outbox[outbox_id]
    db.state.outbox[outbox_id] = (
        write,
        replace(entry, status="confirmed", tx_hash=b"\x09" * 32, block_number=5),
    )


def confirm_log_anchor(db: FakeDatabase, ledger: FakeLedger, anchor: LogAnchor) -> None:
    """The log anchor's transaction confirmed: the contract holds its root at its size and
    ``log_anchors`` says anchored, as the TxStore leaves them."""
    assert anchor.outbox_id is not None
    confirm_outbox(db, anchor.outbox_id)
    ledger.log_roots[anchor.size] = anchor.root
    db.state.log_anchors = [
        replace(a, status="anchored") if a.size == anchor.size else a for a in db.state.log_anchors
    ]


def fail_outbox(db: FakeDatabase, outbox_id: int, error_name: str = "Reverted") -> None:
    """What the TxStore does on a final failure: the row fails; an anchoring batch too."""
    write, entry = db.state.outbox[outbox_id]
    db.state.outbox[outbox_id] = (
        write,
        replace(entry, status="failed", failure_reason="reverted", error_name=error_name),
    )
    for batch in db.state.batches.values():
        if batch.outbox_id == outbox_id and batch.status is BatchStatus.ANCHORING:
            batch.status = BatchStatus.ANCHOR_FAILED


def confirm_anchor(db: FakeDatabase, ledger: FakeLedger, public_id: str) -> None:
    """The batch's anchor transaction confirmed: the contract holds its root, the batch is
    ``anchored`` (a batch recalled meanwhile stays recalled), as the TxStore leaves it."""
    batch = db.state.batch(public_id)
    assert batch.outbox_id is not None and batch.root is not None
    confirm_outbox(db, batch.outbox_id)
    ledger.anchored[batch.chain_batch_id] = BatchOnChain(
        batch.root, batch.item_count, False, batch.metadata_hash
    )
    if batch.status is BatchStatus.ANCHORING:
        batch.status = BatchStatus.ANCHORED


# ----------------------------------------------------------------------------- a seeded world
def gtin14(first_13: str) -> str:
    """A GTIN-14 with its correct check digit."""
    return first_13 + str(check_digit(first_13))


BRAND_PREFIX = "0614141"
DEFAULT_PREFIX = "0999999"
GTIN = gtin14("0950600013435")
OTHER_GTIN = gtin14("0950600013436")
RESOLVER = "https://id.example.com"

ADMIN = Actor("key:admin", Role.ADMIN, organisation_id=1)
BRAND = Actor("key:brand", Role.BRAND, organisation_id=2, brand_id=2)
AUDITOR = Actor("key:auditor", Role.AUDITOR, organisation_id=2, brand_id=2)
FACTORY = Actor("key:factory", Role.FACTORY, organisation_id=3, brand_id=2)
OTHER_BRAND = Actor("key:brand2", Role.BRAND, organisation_id=4, brand_id=4)
OTHER_FACTORY = Actor("key:factory2", Role.FACTORY, organisation_id=5, brand_id=4)
ATTESTOR = Actor("key:lab", Role.ATTESTOR, organisation_id=6)
SISTER_FACTORY = Actor("key:factory3", Role.FACTORY, organisation_id=7, brand_id=2)
DISTRIBUTOR = Actor("key:distributor", Role.DISTRIBUTOR, organisation_id=8, brand_id=2)


#: Wuliangye's GS1 company prefix (12 digits: next to Moutai's, within no other).
OTHER_BRAND_PREFIX = OTHER_GTIN[1:13]


def seed_organisations(db: FakeDatabase) -> None:
    """Organisations 1-8 of the actors above, written straight into the committed state."""
    at = datetime(2025, 12, 1, tzinfo=UTC)
    rows = [
        ("Platform", OrganisationKind.PLATFORM, None, None),
        ("Moutai", OrganisationKind.BRAND, None, BRAND_PREFIX),
        ("Moutai Factory 1", OrganisationKind.FACTORY, 2, None),
        ("Wuliangye", OrganisationKind.BRAND, None, None),
        ("Wuliangye Factory", OrganisationKind.FACTORY, 4, None),
        ("Test Lab", OrganisationKind.ATTESTOR, None, None),
        ("Moutai Factory 2", OrganisationKind.FACTORY, 2, None),
        ("Moutai Distributor", OrganisationKind.DISTRIBUTOR, 2, None),
    ]
    for n, (name, kind, brand_id, prefix) in enumerate(rows, start=1):
        db.state.organisations[n] = Organisation(name, kind, at, brand_id, prefix, id=n)
    # Moutai holds the GTINs' company prefix, Wuliangye another; Moutai authorised the lab.
    db.state.company_prefixes.update({GTIN[1:13]: 2, BRAND_PREFIX: 2, OTHER_BRAND_PREFIX: 4})
    db.state.brand_partners[(2, 6)] = frozenset({"attestor"})


class Harness:
    """The factory use cases wired to the fakes, with a seeded world (see the actors above).

    The defaults make a batch of 10 items in cases of 3 (the last holds 1), 2 cases a pallet:
    4 cases on 2 pallets.
    """

    def __init__(self) -> None:
        self.db = FakeDatabase()
        self.clock = FakeClock()
        self.ledger = FakeLedger()
        self.commitments = FakeCommitments()
        self.secrets = FakeSecrets()
        self.max_items = 1_000
        seed_organisations(self.db)

    @property
    def state(self) -> FakeState:
        return self.db.state

    def product(
        self, actor: Actor = BRAND, gtin: str = GTIN, brand_id: int | None = None, **attributes: Any
    ) -> dict[str, Any]:
        cmd = RegisterProduct(actor, gtin, "Moutai 53% 500 ml", attributes, brand_id)
        return register_product(cmd, self.db(), self.clock)

    def batch(
        self,
        actor: Actor = FACTORY,
        gtin: str = GTIN,
        lot: str = "L2025-12-001",
        quantity: int = 10,
        case_size: int = 3,
        per_pallet: int = 2,
        idempotency: Idempotency | None = None,
        production_date: date = date(2025, 12, 31),
    ) -> dict[str, Any]:
        cmd = CreateBatch(
            actor,
            gtin,
            lot,
            production_date,
            "line 1",
            quantity,
            case_size,
            per_pallet,
            idempotency,
        )
        return create_batch(cmd, self.db, self.commitments, self.clock, self.max_items)

    def generate(
        self,
        public_id: str,
        actor: Actor = FACTORY,
        progress: Callable[[str, int, int], None] | None = None,
    ) -> dict[str, Any]:
        cmd = GenerateCodes(actor, public_id)
        extra = {} if progress is None else {"progress": progress}
        return generate_codes(
            cmd, self.db, self.commitments, self.secrets, self.clock, DEFAULT_PREFIX, **extra
        )

    def activate(
        self, code: str | None = None, batch_id: str | None = None, actor: Actor = FACTORY
    ) -> dict[str, Any]:
        cmd = ActivateCodes(actor, code=code, batch_id=batch_id)
        return activate_codes(cmd, self.db, self.clock)

    def anchor(self, public_id: str, actor: Actor = FACTORY) -> dict[str, Any]:
        cmd = AnchorBatch(actor, public_id)
        return anchor_batch(cmd, self.db, self.ledger, self.clock)

    def recall(
        self, public_id: str, reason: str = "Contaminated bottles", actor: Actor = BRAND
    ) -> dict[str, Any]:
        cmd = RecallBatch(actor, public_id, reason)
        return recall_batch(cmd, self.db, self.commitments, self.ledger, self.clock)

    def attest(
        self,
        public_id: str,
        report_hash: bytes = b"\x07" * 32,
        uri: str = "https://lab.example.com/reports/1.pdf",
        actor: Actor = ATTESTOR,
    ) -> dict[str, Any]:
        cmd = AttestBatch(actor, public_id, report_hash, uri)
        return attest_batch(cmd, self.db, self.ledger, self.clock)

    def download(self, public_id: str, actor: Actor = FACTORY) -> tuple[str, Iterator[bytes]]:
        cmd = DownloadCodeFile(actor, public_id)
        return download_code_file(cmd, self.db, self.secrets, self.clock, RESOLVER)

    def approve(
        self, public_id: str, reason: str = "Printer jam", actor: Actor = ADMIN
    ) -> dict[str, Any]:
        cmd = ApproveReprint(actor, public_id, reason)
        return approve_reprint(cmd, self.db, self.clock)

    def confirm_anchor(self, public_id: str) -> None:
        confirm_anchor(self.db, self.ledger, public_id)

    # ------------------------------------------------------------------ batches in a state
    def generated(self, **batch: Any) -> str:
        """A batch with its codes generated (its product registered if need be)."""
        gtin = batch.get("gtin", GTIN)
        if not any(p.gtin == gtin for p in self.state.products.values()):
            owner = BRAND if batch.get("actor", FACTORY).brand_id == 2 else OTHER_BRAND
            self.product(actor=owner, gtin=gtin)
        public_id: str = self.batch(**batch)["id"]
        self.generate(public_id, actor=batch.get("actor", FACTORY))
        return public_id

    def activated(self, **batch: Any) -> str:
        public_id = self.generated(**batch)
        self.activate(batch_id=public_id, actor=batch.get("actor", FACTORY))
        return public_id

    def anchored(self, **batch: Any) -> str:
        public_id = self.activated(**batch)
        self.anchor(public_id, actor=batch.get("actor", FACTORY))
        self.confirm_anchor(public_id)
        return public_id

    # ------------------------------------------------------------------ reading the state
    def stored(self, public_id: str) -> Batch:
        return self.state.batch(public_id)

    def items(self, public_id: str) -> list[ItemRow]:
        return self.state.items_of(self.stored(public_id).id or 0)

    def cases(self, public_id: str) -> list[UnitRow]:
        return self.state.units_of(self.stored(public_id).id or 0, UnitKind.CASE)

    def pallets(self, public_id: str) -> list[UnitRow]:
        return self.state.units_of(self.stored(public_id).id or 0, UnitKind.PALLET)
