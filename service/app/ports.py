"""The ports of the application layer: what handlers need from the outside world.

Adapters implement them on SQLAlchemy and ``chain/`` (``SqlAlchemy*``, ``Chain*``); unit tests
use the ``Fake*`` implementations in ``tests/unit/service/fakes.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any, BinaryIO, Protocol

from service.domain.alerts import Alert, AlertStatus
from service.domain.api_keys import ApiKey
from service.domain.batches import Batch, BatchStatus
from service.domain.events import Event
from service.domain.labels import Label, LabelLayout
from service.domain.organisations import Organisation
from service.domain.products import Product
from service.domain.units import ItemRecord, LogisticUnit, PackingPlan, UnitKind


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


@dataclass(frozen=True)
class LogAnchor:
    """A request to anchor the log root at ``size`` on chain, and its outcome."""

    size: int
    root: bytes
    status: str  # "requested" | "anchored"
    outbox_id: int | None
    requested_at: datetime
    anchored_at: datetime | None = None


@dataclass(frozen=True)
class ChainWrite:
    """A chain write for the outbox: calldata for a contract, deduplicated by key."""

    kind: str
    dedupe_key: str
    to: str
    data: bytes
    value: int = 0
    #: Another outbox write that must be confirmed before this one is sent.
    depends_on: int | None = None


@dataclass(frozen=True)
class OutboxEntry:
    """The state of one chain write as the sender left it."""

    id: int
    kind: str
    status: str
    tx_hash: bytes | None
    block_number: int | None
    failure_reason: str | None
    error_name: str | None


@dataclass(frozen=True)
class StoredResponse:
    """The response once given to an idempotent request."""

    request_hash: bytes
    status_code: int
    body: bytes


@dataclass(frozen=True)
class ChainStatus:
    """What the service knows about the chain right now (for /health and /chain)."""

    reachable: bool
    chain_id: int | None
    genesis_hash: bytes | None
    block_number: int | None
    recorded_chain_id: int | None
    recorded_genesis_hash: bytes | None
    genesis_mismatch: bool
    contract_address: str | None
    deployment_tx_hash: bytes | None
    deployment_block: int | None
    sender_address: str | None
    sender_held: bool
    hold_reason: str | None
    error: str | None = None


class OrganisationRepository(Protocol):
    def add(self, organisation: Organisation) -> Organisation: ...
    def get(self, organisation_id: int) -> Organisation | None: ...
    def get_by_name(self, name: str) -> Organisation | None: ...
    def list(self, offset: int, limit: int) -> list[Organisation]: ...


class ApiKeyRepository(Protocol):
    def add(self, key: ApiKey) -> None: ...
    def get(self, key_id: str) -> ApiKey | None: ...
    def revoke(self, key_id: str, at: datetime) -> bool:
        """Revoke an unrevoked key; return False if it was already revoked."""
        ...


class ProductRepository(Protocol):
    def add(self, product: Product) -> Product: ...
    def get(self, product_id: int) -> Product | None: ...
    def get_by_gtin(self, gtin: str) -> Product | None: ...
    def list(self, brand_id: int | None, offset: int, limit: int) -> list[Product]:
        """Products of ``brand_id`` (every brand's when None), by id."""
        ...


class BatchRepository(Protocol):
    def add(self, batch: Batch) -> Batch: ...
    def get(self, public_id: str) -> Batch | None: ...
    def get_by_id(self, batch_id: int) -> Batch | None: ...
    def lot_exists(self, product_id: int, lot: str) -> bool: ...
    def list(
        self, factory_id: int | None, brand_id: int | None, offset: int, limit: int
    ) -> list[Batch]:
        """Batches of a factory or of a brand (all when both are None), newest first."""
        ...

    def transition(self, batch_id: int, expected: Sequence[BatchStatus], to: BatchStatus) -> bool:
        """Move the batch to ``to`` if its status is one of ``expected``; False if another won."""
        ...

    def set_generated(
        self, batch_id: int, root: bytes, item_count: int, pin_seed_sealed: bytes
    ) -> bool:
        """DRAFT -> GENERATED with the root and sealed PIN seed; False if not a draft."""
        ...

    def pin_seed(self, batch_id: int) -> bytes | None:
        """The sealed PIN seed, or None once destroyed."""
        ...

    def destroy_pin_seed(self, batch_id: int) -> bool: ...
    def set_outbox(self, batch_id: int, outbox_id: int) -> None: ...
    def recall(
        self, batch_id: int, reason: str, at: datetime, recall_outbox_id: int | None
    ) -> bool:
        """Mark the batch recalled unless it already is; False if it was."""
        ...


class CodeRepository(Protocol):
    """Items, cases, pallets and stored batch trees: the bulk side of a batch."""

    def reserve_sscc_references(self, company_prefix: str, count: int) -> int:
        """Reserve ``count`` consecutive SSCC serial references; return the first one."""
        ...

    def add_units(self, batch_id: int, plan: PackingPlan) -> tuple[list[int], list[int]]:
        """Insert the plan's pallets and cases; return their row ids (pallets, cases)."""
        ...

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
        """Bulk-insert items at leaf indexes ``first_index`` onwards."""
        ...

    def add_levels(self, batch_id: int, levels: Sequence[Sequence[bytes]]) -> None:
        """Store tree levels 1.. (the parents of the leaves up to the root)."""
        ...

    def refresh_statistics(self) -> None:
        """Let the query planner know the tables grew (after a bulk load)."""
        ...

    def proof(self, batch_id: int, leaf_index: int, item_count: int) -> list[bytes]:
        """The Merkle proof of a leaf, read from the stored levels."""
        ...

    def find_item(self, serial: str) -> ItemRecord | None: ...
    def unit(self, sscc: str) -> LogisticUnit | None: ...
    def units(
        self, batch_id: int, kind: UnitKind, offset: int, limit: int
    ) -> list[LogisticUnit]: ...
    def unit_items(self, unit_id: int) -> list[str]:
        """Serials in a case, by leaf index."""
        ...

    def activate(self, batch_id: int, unit: LogisticUnit | None, at: datetime) -> list[int]:
        """Activate the inactive cases of a case, a pallet or (``None``) the whole batch.

        Returns the positions of the cases this call activated (none if all were active).
        """
        ...

    def inactive_cases(self, batch_id: int) -> int: ...
    def active_cases(self, batch_id: int) -> int: ...
    def code_pages(
        self, batch_id: int, page_size: int, start: int = 0
    ) -> Iterator[list[tuple[str, str | None, str | None, datetime | None]]]:
        """Stream pages of ``(serial, case SSCC, pallet SSCC, activated at)`` by leaf index,
        from leaf ``start`` on (pages, not rows: the code file streams a million of them)."""
        ...

    def unit_rows(
        self, batch_id: int, kind: UnitKind, start: int = 0
    ) -> Iterator[tuple[str, str | None]]:
        """Stream ``(SSCC, parent SSCC)`` of a batch's cases or pallets from ``start`` on."""
        ...


@dataclass(frozen=True)
class CodeFileDownload:
    """One audited download of a code file."""

    number: int
    principal_id: str
    approval_id: int | None
    downloaded_at: datetime


class CodeFileRepository(Protocol):
    def downloads(self, batch_id: int) -> list[CodeFileDownload]: ...
    def add_approval(self, batch_id: int, approved_by: str, reason: str, at: datetime) -> int: ...
    def take_approval(self, batch_id: int, at: datetime) -> int | None:
        """Mark the oldest unused approval used (conditional update); its id, or None."""
        ...

    def add_download(
        self, batch_id: int, principal_id: str, approval_id: int | None, at: datetime
    ) -> int:
        """Record a download; return how many the batch has had, this one included."""
        ...


@dataclass(frozen=True)
class Attestation:
    """A quality report attached to a batch, and where its chain write is."""

    batch_id: int
    organisation_id: int
    report_hash: bytes
    uri: str
    outbox_id: int
    created_at: datetime


class AttestationRepository(Protocol):
    def add(self, attestation: Attestation) -> None: ...
    def of_batch(self, batch_id: int) -> list[Attestation]: ...


class AlertRepository(Protocol):
    def raise_or_repeat(self, alert: Alert, at: datetime) -> tuple[Alert, bool]:
        """Open ``alert`` or, if one with its key exists, bump its count; True if new."""
        ...

    def list(
        self, brand_id: int | None, status: AlertStatus | None, offset: int, limit: int
    ) -> list[Alert]: ...


class EventLog(Protocol):
    def append(self, event: Event, at: datetime) -> LogEntry:
        """Append under a lock so indexes are dense and in commit order."""
        ...

    def append_many(self, events: Sequence[Event], at: datetime) -> int:
        """Append many events under one lock (dense indexes); return the first index."""
        ...

    def size(self) -> int: ...
    def leaf_hashes(self, size: int) -> list[bytes]: ...
    def entries(self, offset: int, limit: int) -> list[LogEntry]: ...


class LogAnchorRepository(Protocol):
    def latest(self) -> LogAnchor | None: ...
    def latest_anchored(self) -> LogAnchor | None: ...
    def add(self, anchor: LogAnchor) -> None: ...


class OutboxRepository(Protocol):
    def add(self, write: ChainWrite, at: datetime) -> int: ...
    def get(self, outbox_id: int) -> OutboxEntry | None: ...
    def counts(self) -> dict[str, int]: ...


class IdempotencyRepository(Protocol):
    def get(self, principal_id: str, key: str) -> StoredResponse | None: ...
    def add(self, principal_id: str, key: str, response: StoredResponse, at: datetime) -> None: ...


class UnitOfWork(Protocol):
    """One database transaction; nothing is written unless ``commit`` is called."""

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
    outbox: OutboxRepository
    idempotency: IdempotencyRepository

    def __enter__(self) -> UnitOfWork: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
    def commit(self) -> None: ...
    def rollback(self) -> None: ...


class UnitOfWorkFactory(Protocol):
    def __call__(self) -> UnitOfWork: ...
    def reader(self) -> UnitOfWork:
        """A unit of work for use cases that only read (no write lock on SQLite)."""
        ...


class Clock(Protocol):
    def now(self) -> datetime: ...


class Commitments(Protocol):
    """Hashing and Merkle trees (keccak for batches, RFC 6962 SHA-256 for the log)."""

    def chain_batch_id(self, public_id: str) -> bytes: ...
    def attributes_hash(self, attributes: dict[str, Any]) -> bytes: ...
    def text_hash(self, text: str) -> bytes: ...
    def token_id(self, serial: str) -> int: ...
    def commit_items(
        self, chain_batch_id: bytes, attributes_hash: bytes, serials: Sequence[str]
    ) -> tuple[list[bytes], list[bytes]]:
        """Return the item hashes and the leaves of ``serials`` (in order)."""
        ...

    def item_leaf(self, chain_batch_id: bytes, token_id: int, item_hash: bytes) -> bytes: ...
    def tree_levels(self, leaves: Sequence[bytes]) -> list[list[bytes]]:
        """Every level of the batch tree over ``leaves``, leaves first, root last."""
        ...

    def verify_batch_proof(self, proof: Sequence[bytes], root: bytes, leaf: bytes) -> bool: ...
    def log_root(self, leaf_hashes: Sequence[bytes]) -> bytes: ...
    def log_inclusion_proof(
        self, leaf_hashes: Sequence[bytes], index: int, size: int
    ) -> list[bytes]: ...
    def log_consistency_proof(
        self, leaf_hashes: Sequence[bytes], old_size: int, new_size: int
    ) -> list[bytes]: ...


class Secrets(Protocol):
    """The service's secrets: the PIN-hash key and sealing of PIN seeds at rest."""

    @property
    def pin_key(self) -> bytes: ...
    def seal(self, plaintext: bytes, context: bytes) -> bytes:
        """Encrypt and authenticate ``plaintext``, bound to ``context``."""
        ...

    def unseal(self, sealed: bytes, context: bytes) -> bytes:
        """Decrypt what :meth:`seal` made for the same ``context``."""
        ...


class LabelPrinter(Protocol):
    """QR images and PDF label sheets."""

    def qr_png(self, data: str, module_px: int = 8, quiet_zone: int = 4) -> bytes: ...
    def qr_svg(self, data: str, module_size: float = 1.0, quiet_zone: int = 4) -> bytes: ...
    def write_label_sheets(
        self,
        labels: Iterable[Label],
        layout: LabelLayout,
        out: BinaryIO,
        progress: Callable[[int], None] | None = None,
        title: str = "",
    ) -> int: ...


class Ledger(Protocol):
    """The chain as the service sees it: reads now, writes through the outbox.

    Reads raise ``LedgerUnavailableError`` when the node is down and ``LedgerHeldError`` on
    a genesis mismatch; enqueueing needs only a recorded deployment.
    """

    def enqueue_anchor_batch(self, outbox: OutboxRepository, batch: Batch, at: datetime) -> int: ...
    def enqueue_anchor_log(
        self, outbox: OutboxRepository, size: int, root: bytes, at: datetime
    ) -> int: ...
    def enqueue_recall(
        self,
        outbox: OutboxRepository,
        batch: Batch,
        reason_hash: bytes,
        at: datetime,
        after: int | None,
    ) -> int:
        """Queue ``recallBatch``; with ``after``, only once that write (the anchor) confirmed."""
        ...

    def enqueue_attestation(
        self, outbox: OutboxRepository, batch: Batch, report_hash: bytes, uri: str, at: datetime
    ) -> int: ...
    def verify_item(
        self, chain_batch_id: bytes, token_id: int, item_hash: bytes, proof: Sequence[bytes]
    ) -> bool: ...
    def log_root(self, size: int) -> bytes: ...
    def latest_log_size(self) -> int: ...
    def block_number(self) -> int | None:
        """Return the head block, or None when the node is unreachable."""
        ...

    def status(self) -> ChainStatus: ...
