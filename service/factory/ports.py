"""What the factory's use cases need of storage, the printer, the chain and the secrets."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import IO, TYPE_CHECKING, Any, Protocol

from service.factory.domain.batches import Batch, BatchOwner, BatchStatus
from service.factory.domain.labels import Label, LabelLayout
from service.factory.domain.products import Product
from service.factory.domain.units import ItemRecord, LogisticUnit, PackingPlan, UnitKind
from service.kernel.ports import UnitOfWork

if TYPE_CHECKING:
    from service.identity.interface import OrganisationReads, PartnerGrants
    from service.ledger.interface import OutboxRepository


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
    def owner(self, batch_id: int) -> BatchOwner | None:
        """The batch's public id and brand (read on every channel scan: kept cheap)."""
        ...

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
        self,
        batch_id: int,
        root: bytes,
        item_count: int,
        pin_seed_sealed: bytes,
        at: datetime | None = None,
    ) -> bool:
        """DRAFT -> GENERATED with the root and sealed PIN seed (at ``at``); False if not a
        draft."""
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

    def add_units(
        self, batch_id: int, plan: PackingPlan, holder_id: int, at: datetime
    ) -> tuple[list[int], list[int]]:
        """Insert the plan's pallets and cases, held by ``holder_id`` (the factory) from
        ``at``; return their row ids (pallets, cases)."""
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


class LabelPrinter(Protocol):
    """QR images and PDF label sheets."""

    def qr_png(self, data: str, module_px: int = 8, quiet_zone: int = 4) -> bytes: ...
    def qr_svg(self, data: str, module_size: float = 1.0, quiet_zone: int = 4) -> bytes: ...
    def write_label_sheets(
        self,
        labels: Iterable[Label],
        layout: LabelLayout,
        out: IO[bytes],
        progress: Callable[[int], None] | None = None,
        title: str = "",
    ) -> int: ...


class SiteRegion(Protocol):
    """A site as a recalled batch's listing names it: its region."""

    @property
    def region_code(self) -> str: ...


class HolderSites(Protocol):
    """Reading a site (the channel's network implements it)."""

    def site(self, site_id: int) -> SiteRegion | None: ...


class ItemHolders(Protocol):
    """Who holds items now (the channel's custody implements it)."""

    def last_holders(self, serials: Sequence[str]) -> dict[str, tuple[int | None, int | None]]:
        """``serial -> (holder organisation, holder site)`` of items."""
        ...


class FactoryUnitOfWork(UnitOfWork, Protocol):
    """One transaction over the factory's tables (and the kernel's), the outbox its chain writes
    are queued in, and what the factory reads of the others: organisations and the brand's
    company prefixes and partners (identity's), and who holds a recalled batch's goods, where
    (the channel's)."""

    products: ProductRepository
    batches: BatchRepository
    codes: CodeRepository
    code_files: CodeFileRepository
    attestations: AttestationRepository
    outbox: OutboxRepository

    @property
    def organisations(self) -> OrganisationReads: ...
    @property
    def tenancy(self) -> PartnerGrants: ...
    @property
    def channel(self) -> HolderSites: ...
    @property
    def custody(self) -> ItemHolders: ...


class FactoryUnitOfWorkFactory(Protocol):
    def __call__(self) -> FactoryUnitOfWork: ...
    def reader(self) -> FactoryUnitOfWork:
        """A unit of work for use cases that only read (no write lock on SQLite)."""
        ...


class BatchCommitments(Protocol):
    """A batch's commitments (keccak, as the registry computes them): its id, its attributes,
    its items' hashes and leaves, and its tree."""

    def chain_batch_id(self, public_id: str) -> bytes: ...
    def attributes_hash(self, attributes: dict[str, Any]) -> bytes: ...
    def text_hash(self, text: str) -> bytes: ...
    def token_id(self, chain_batch_id: bytes, item_hash: bytes) -> int:
        """The item's certificate token id, bound to its batch (the contract's ``tokenIdOf``)."""
        ...

    def commit_items(
        self, chain_batch_id: bytes, attributes_hash: bytes, serials: Sequence[str]
    ) -> tuple[list[bytes], list[bytes]]:
        """Return the item hashes and the leaves of ``serials`` (in order)."""
        ...

    def tree_levels(self, leaves: Sequence[bytes]) -> list[list[bytes]]:
        """Every level of the batch tree over ``leaves``, leaves first, root last."""
        ...


class BatchChain(Protocol):
    """What the factory asks of the chain: anchor, recall and attest batches through the outbox,
    and the head block."""

    def enqueue_anchor_batch(self, outbox: OutboxRepository, batch: Batch, at: datetime) -> int: ...
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
    def block_number(self) -> int | None:
        """Return the head block, or None when the node is unreachable."""
        ...


class PinSecrets(Protocol):
    """The PIN-hash key, and sealing of a batch's PIN seed at rest."""

    @property
    def pin_key(self) -> bytes: ...

    def seal(self, plaintext: bytes, context: bytes) -> bytes:
        """Encrypt and authenticate ``plaintext``, bound to ``context``."""
        ...

    def unseal(self, sealed: bytes, context: bytes) -> bytes:
        """Decrypt what :meth:`seal` made for the same ``context``."""
        ...


# ----------------------------------------------------------------------------- for other areas
class BatchReads(Protocol):
    """Reading a batch: what other areas' units of work offer of the factory's."""

    def get_by_id(self, batch_id: int) -> Batch | None: ...
    def owner(self, batch_id: int) -> BatchOwner | None:
        """The batch's public id and brand (read on every channel scan: kept cheap)."""
        ...


class ItemReads(Protocol):
    """Reading an item and the Merkle proof of its leaf."""

    def find_item(self, serial: str) -> ItemRecord | None: ...
    def proof(self, batch_id: int, leaf_index: int, item_count: int) -> list[bytes]:
        """The Merkle proof of a leaf, read from the stored levels."""
        ...


class AttestationReads(Protocol):
    """Reading a batch's attestations."""

    def of_batch(self, batch_id: int) -> list[Attestation]: ...
