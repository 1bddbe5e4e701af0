"""The factory's tables: products, batches, their logistic units (cases, pallets) and items,
the batch's Merkle tree levels, SSCC counters, code-file downloads and reprint approvals,
attestations. The channel writes the custody columns of ``items`` and ``logistic_units``
(holder, site, shipment): its state kept in the factory's tables until a table of its own."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from service.kernel.storage.rows import (
    Base,
    Bytes32,
    UTCDateTime,
)


class ProductRow(Base):
    __tablename__ = "products"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    gtin: Mapped[str] = mapped_column(String(14), unique=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    attributes: Mapped[Any] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class BatchRow(Base):
    __tablename__ = "batches"
    __table_args__ = (UniqueConstraint("product_id", "lot"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(26), unique=True)
    #: The factory that makes the batch.
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    brand_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id"), nullable=True, index=True
    )
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id"), nullable=True)
    gtin: Mapped[str | None] = mapped_column(String(14), nullable=True)
    lot: Mapped[str] = mapped_column(String(64))
    production_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    line: Mapped[str | None] = mapped_column(String(64), nullable=True)
    planned_quantity: Mapped[int] = mapped_column(Integer, default=0)
    case_size: Mapped[int] = mapped_column(Integer, default=0)
    cases_per_pallet: Mapped[int] = mapped_column(Integer, default=0)
    chain_batch_id: Mapped[bytes] = mapped_column(Bytes32, unique=True)
    root: Mapped[bytes | None] = mapped_column(Bytes32, nullable=True)
    item_count: Mapped[int] = mapped_column(Integer)
    metadata_json: Mapped[Any] = mapped_column(JSON)
    metadata_hash: Mapped[bytes] = mapped_column(Bytes32)
    status: Mapped[str] = mapped_column(String(16))
    outbox_id: Mapped[int | None] = mapped_column(ForeignKey("outbox.id"), nullable=True)
    #: The PIN seed, AES-GCM encrypted; destroyed (NULL) once every code is activated.
    pin_seed_sealed: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    recall_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    recalled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    recall_outbox_id: Mapped[int | None] = mapped_column(ForeignKey("outbox.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: When the codes were generated (the packing events of its cases and pallets).
    generated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    items: Mapped[list[ItemRow]] = relationship(back_populates="batch", lazy="raise")


class LogisticUnitRow(Base):
    """A case or pallet, identified by its SSCC; ``parent_id`` is the pallet of a case."""

    __tablename__ = "logistic_units"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sscc: Mapped[str] = mapped_column(String(18), unique=True)
    kind: Mapped[str] = mapped_column(String(8))
    batch_id: Mapped[int | None] = mapped_column(
        ForeignKey("batches.id"), nullable=True, index=True
    )
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("logistic_units.id"), nullable=True, index=True
    )
    #: Position among the batch's units of this kind (0-based), as printed.
    position: Mapped[int] = mapped_column(Integer)
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # Custody (see service.channel.domain.custody): who holds the unit, who last held it with the
    # brand's authorisation for where it is, since when, and the shipment it travels in.
    holder_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id"), nullable=True, index=True
    )
    authorised_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"), nullable=True)
    holder_site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"), nullable=True)
    holder_since: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    shipment_id: Mapped[int | None] = mapped_column(
        ForeignKey("shipments.id"), nullable=True, index=True
    )
    #: When the case was opened (disaggregated); its items then travel on their own.
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    #: Items packed in it (a pallet: in its cases), fixed at generation.
    items: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: The open diversion alert the unit is part of (later scans link to it).
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id"), nullable=True)


class ItemRow(Base):
    __tablename__ = "items"
    __table_args__ = (UniqueConstraint("batch_id", "leaf_index"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id"))
    # Token ids derive from the serial alone (keccak256), so serials are unique everywhere.
    serial: Mapped[str] = mapped_column(String(64), unique=True)
    item_hash: Mapped[bytes] = mapped_column(Bytes32)
    leaf: Mapped[bytes] = mapped_column(Bytes32)
    leaf_index: Mapped[int] = mapped_column(Integer)
    #: The case the item was packed into at the line (activation follows the case).
    case_id: Mapped[int | None] = mapped_column(
        ForeignKey("logistic_units.id"), nullable=True, index=True
    )
    #: Keyed hash of serial and hidden PIN; the PIN itself is never stored.
    pin_hash: Mapped[bytes | None] = mapped_column(Bytes32, nullable=True)
    # Custody of a loose item (its case was opened); NULL while it travels in its case.
    holder_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"), nullable=True)
    authorised_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"), nullable=True)
    holder_site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"), nullable=True)
    holder_since: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    shipment_id: Mapped[int | None] = mapped_column(ForeignKey("shipments.id"), nullable=True)
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id"), nullable=True)

    batch: Mapped[BatchRow] = relationship(back_populates="items", lazy="raise")


class BatchTreeLevelRow(Base):
    """One level (1 = parents of the leaves) of a batch's Merkle tree, as 32-byte nodes."""

    __tablename__ = "batch_tree_levels"

    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id"), primary_key=True)
    level: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    nodes: Mapped[bytes] = mapped_column(LargeBinary)


class SsccCounterRow(Base):
    """The next free SSCC serial reference per GS1 company prefix."""

    __tablename__ = "sscc_counters"

    company_prefix: Mapped[str] = mapped_column(String(12), primary_key=True)
    next_reference: Mapped[int] = mapped_column(BigInteger)


class CodeFileApprovalRow(Base):
    """An admin's approval of one more download of a batch's code file (with PINs)."""

    __tablename__ = "code_file_approvals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id"), index=True)
    approved_by: Mapped[str] = mapped_column(String(80))
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class CodeFileDownloadRow(Base):
    """Every download of a file with PINs: who, when, under which approval (audit)."""

    __tablename__ = "code_file_downloads"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id"), index=True)
    principal_id: Mapped[str] = mapped_column(String(80))
    approval_id: Mapped[int | None] = mapped_column(
        ForeignKey("code_file_approvals.id"), nullable=True, unique=True
    )
    downloaded_at: Mapped[datetime] = mapped_column(UTCDateTime())


class AttestationRow(Base):
    """A third party's quality report on a batch, attested on chain through the outbox."""

    __tablename__ = "attestations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id"), index=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    report_hash: Mapped[bytes] = mapped_column(Bytes32)
    uri: Mapped[str] = mapped_column(String(2000))
    outbox_id: Mapped[int] = mapped_column(ForeignKey("outbox.id"), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
