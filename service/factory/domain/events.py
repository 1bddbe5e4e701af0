"""The factory's events: products registered, batches created, coded, packed, activated,
anchored, recalled and attested, their code files downloaded and reprints approved."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from service.kernel.events import Event


@dataclass(frozen=True)
class ProductRegistered(Event):
    """A brand registered a product (GTIN)."""

    type: ClassVar[str] = "ProductRegistered"
    product_id: int
    gtin: str
    brand_id: int


@dataclass(frozen=True)
class BatchCreated(Event):
    """A factory registered a production batch (a draft: no codes yet)."""

    type: ClassVar[str] = "BatchCreated"
    batch_id: str
    organisation_id: int
    brand_id: int | None
    gtin: str | None
    lot: str
    chain_batch_id: bytes
    metadata_hash: bytes
    planned_quantity: int


@dataclass(frozen=True)
class CodesGenerated(Event):
    """Item codes, cases and pallets of a batch were generated; the batch root is fixed.

    EPCIS: ObjectEvent, action ADD, bizStep ``commissioning``, disposition ``inactive``.
    """

    type: ClassVar[str] = "CodesGenerated"
    batch_id: str
    root: bytes
    item_count: int
    case_count: int
    pallet_count: int
    first_sscc: str
    last_sscc: str


@dataclass(frozen=True)
class ItemsAggregated(Event):
    """Children were packed into a parent (items into a case, cases onto a pallet).

    EPCIS: AggregationEvent, action ADD, bizStep ``packing``; ``children`` are serials of the
    batch's GTIN (for a case) or SSCCs (for a pallet).
    """

    type: ClassVar[str] = "ItemsAggregated"
    batch_id: str
    parent_sscc: str
    child_kind: str
    children: tuple[str, ...]


@dataclass(frozen=True)
class CodesActivated(Event):
    """Codes became live at the line, by case, pallet or the whole batch.

    EPCIS: ObjectEvent, action OBSERVE, bizStep ``commissioning``, disposition ``active``.
    """

    type: ClassVar[str] = "CodesActivated"
    batch_id: str
    scope: str
    sscc: str | None
    cases: int
    items: int
    batch_activated: bool


@dataclass(frozen=True)
class PinSeedDestroyed(Event):
    """Every code of the batch is live, so its PIN seed was destroyed: no PIN can be printed."""

    type: ClassVar[str] = "PinSeedDestroyed"
    batch_id: str


@dataclass(frozen=True)
class CodeFileDownloaded(Event):
    """Someone downloaded the batch's code file, which holds the hidden PINs."""

    type: ClassVar[str] = "CodeFileDownloaded"
    batch_id: str
    principal_id: str
    download_number: int
    approval_id: int | None


@dataclass(frozen=True)
class CodeFileReprintApproved(Event):
    """An admin approved one more download of a batch's code file."""

    type: ClassVar[str] = "CodeFileReprintApproved"
    batch_id: str
    approval_id: int
    approved_by: str


@dataclass(frozen=True)
class BatchRecalled(Event):
    """A batch was recalled; claims are refused and scans show it."""

    type: ClassVar[str] = "BatchRecalled"
    batch_id: str
    chain_batch_id: bytes
    reason: str
    reason_hash: bytes
    outbox_id: int | None


@dataclass(frozen=True)
class BatchRecallConfirmed(Event):
    """The chain holds the batch's recall."""

    type: ClassVar[str] = "BatchRecallConfirmed"
    batch_id: str
    chain_batch_id: bytes
    tx_hash: bytes
    block_number: int


@dataclass(frozen=True)
class BatchAttestationRequested(Event):
    """An attestor attached a quality report; its attestation was queued for the chain."""

    type: ClassVar[str] = "BatchAttestationRequested"
    batch_id: str
    attestor_id: int
    report_hash: bytes
    uri: str
    outbox_id: int


@dataclass(frozen=True)
class BatchAttested(Event):
    """A quality report's attestation was confirmed on chain."""

    type: ClassVar[str] = "BatchAttested"
    batch_id: str
    report_hash: bytes
    tx_hash: bytes
    block_number: int


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
