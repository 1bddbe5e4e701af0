"""Domain events: what happened, in the past tense, on the kernel's ``Event`` base.

Events name organisations, batches and keys by id; they never carry personal data (names, phone
numbers, addresses), so the log and its on-chain roots can be shown to any auditor. Their
canonical bytes and an entry's link in the log are the kernel's (``service.kernel.events``).
Each group moves into its area's domain as the re-cut by area goes on (docs/recut-plan.md).
"""

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


@dataclass(frozen=True)
class TerritoriesSet(Event):
    """The regions an organisation is authorised to sell in were set."""

    type: ClassVar[str] = "TerritoriesSet"
    organisation_id: int
    regions: tuple[str, ...]


@dataclass(frozen=True)
class SiteRegistered(Event):
    """An organisation registered a warehouse, shop or plant in a region."""

    type: ClassVar[str] = "SiteRegistered"
    site_id: int
    organisation_id: int
    kind: str
    region: str


@dataclass(frozen=True)
class ChannelParentSet(Event):
    """An organisation was placed under another in the brand's channel."""

    type: ClassVar[str] = "ChannelParentSet"
    organisation_id: int
    parent_id: int | None


@dataclass(frozen=True)
class RegionsLoaded(Event):
    """A custom region tree was loaded."""

    type: ClassVar[str] = "RegionsLoaded"
    source: str
    count: int


@dataclass(frozen=True)
class GoodsDispatched(Event):
    """Goods were shipped. EPCIS: ObjectEvent OBSERVE, bizStep shipping, in_transit."""

    type: ClassVar[str] = "GoodsDispatched"
    shipment_id: str
    sender_id: int
    receiver_id: int
    code: str
    items: int
    site_id: int | None
    event_time: str


@dataclass(frozen=True)
class GoodsReceived(Event):
    """Goods were received. EPCIS: ObjectEvent OBSERVE, bizStep receiving, in_progress."""

    type: ClassVar[str] = "GoodsReceived"
    shipment_id: str
    receiver_id: int
    code: str
    items: int
    site_id: int | None
    region: str
    authorised: bool
    event_time: str


@dataclass(frozen=True)
class CaseOpened(Event):
    """A case was opened; its items travel on their own. EPCIS: AggregationEvent DELETE."""

    type: ClassVar[str] = "CaseOpened"
    sscc: str
    organisation_id: int
    site_id: int | None
    event_time: str


@dataclass(frozen=True)
class AccountCreated(Event):
    """A consumer signed up; the account is named by its public id and wallet, never by its
    phone number or email address."""

    type: ClassVar[str] = "AccountCreated"
    account_id: str
    wallet_address: str
    custody: str


@dataclass(frozen=True)
class CertificateClaimRequested(Event):
    """A consumer claimed a bottle with its PIN; the mint is queued."""

    type: ClassVar[str] = "CertificateClaimRequested"
    certificate_id: str
    batch_id: str
    token_id: str
    owner_address: str
    region: str | None


@dataclass(frozen=True)
class CertificateClaimed(Event):
    """A certificate was minted on chain to its owner."""

    type: ClassVar[str] = "CertificateClaimed"
    certificate_id: str
    token_id: str
    owner_address: str
    tx_hash: bytes
    block_number: int


@dataclass(frozen=True)
class CertificateClaimFailed(Event):
    """A certificate's mint failed for good (the contract refused it)."""

    type: ClassVar[str] = "CertificateClaimFailed"
    certificate_id: str
    token_id: str
    outbox_id: int
    error: str


@dataclass(frozen=True)
class CertificateActionRequested(Event):
    """A certificate changed state (gift, pledge, custody, redemption); its chain write, if
    it needs one, is queued. Parties are named by account or organisation id, never by
    phone, email or address."""

    type: ClassVar[str] = "CertificateActionRequested"
    certificate_id: str
    action: str
    from_state: str
    to_state: str
    by: str
    deal_id: str | None


@dataclass(frozen=True)
class CertificateActionConfirmed(Event):
    """A certificate's step is on chain."""

    type: ClassVar[str] = "CertificateActionConfirmed"
    certificate_id: str
    action: str
    tx_hash: bytes
    block_number: int


@dataclass(frozen=True)
class CertificateActionFailed(Event):
    """A certificate's step failed on chain and was put back."""

    type: ClassVar[str] = "CertificateActionFailed"
    certificate_id: str
    action: str
    outbox_id: int
    error: str
