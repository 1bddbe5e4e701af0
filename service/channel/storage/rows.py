"""The channel's tables: regions, territories, sites, shipments and their lines, scan events,
EPCIS events and their EPCs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from service.kernel.storage.rows import (
    Base,
    Bytes32,
    UTCDateTime,
)


class RegionRow(Base):
    """An administrative region (GB/T 2260 by default; custom trees can be loaded)."""

    __tablename__ = "regions"

    code: Mapped[str] = mapped_column(String(12), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    level: Mapped[int] = mapped_column(Integer)
    parent_code: Mapped[str | None] = mapped_column(
        ForeignKey("regions.code"), nullable=True, index=True
    )
    source: Mapped[str] = mapped_column(String(32))


class TerritoryRow(Base):
    """A region subtree an organisation is authorised to sell in."""

    __tablename__ = "territories"

    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), primary_key=True)
    region_code: Mapped[str] = mapped_column(ForeignKey("regions.code"), primary_key=True)


class SiteRow(Base):
    """A warehouse, shop or plant of an organisation, in one region."""

    __tablename__ = "sites"
    __table_args__ = (UniqueConstraint("organisation_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    region_code: Mapped[str] = mapped_column(ForeignKey("regions.code"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ShipmentRow(Base):
    """Goods one organisation sends another; ``ref`` is the sender's own shipment reference."""

    __tablename__ = "shipments"
    __table_args__ = (UniqueConstraint("sender_id", "ref"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(26), unique=True)
    ref: Mapped[str] = mapped_column(String(64))
    sender_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    receiver_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    sender_site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"), nullable=True)
    status: Mapped[str] = mapped_column(String(24))
    dispatched_at: Mapped[datetime] = mapped_column(UTCDateTime())
    received_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # Case and loose-item lines (pallet lines stand for their cases), kept as scans arrive.
    dispatched_lines: Mapped[int] = mapped_column(Integer, default=0)
    received_lines: Mapped[int] = mapped_column(Integer, default=0)
    extra_lines: Mapped[int] = mapped_column(Integer, default=0)


class ShipmentLineRow(Base):
    """A case, pallet or loose item in a shipment: dispatched, received, or extra."""

    __tablename__ = "shipment_lines"
    __table_args__ = (
        UniqueConstraint("shipment_id", "unit_id"),
        UniqueConstraint("shipment_id", "item_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    shipment_id: Mapped[int] = mapped_column(ForeignKey("shipments.id"), index=True)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("logistic_units.id"), nullable=True)
    item_id: Mapped[int | None] = mapped_column(ForeignKey("items.id"), nullable=True)
    #: Items the line stands for (a case's items, a pallet's).
    items: Mapped[int] = mapped_column(Integer)
    dispatched: Mapped[bool] = mapped_column(Boolean)
    received_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    receipt_site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"), nullable=True)


class ScanEventRow(Base):
    """Every scan a partner sent, online or uploaded later; ``client_event_id`` makes uploads
    idempotent. ``outcome`` is applied, pending (waiting for an earlier event) or refused."""

    __tablename__ = "scan_events"
    __table_args__ = (UniqueConstraint("organisation_id", "client_event_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    client_event_id: Mapped[str] = mapped_column(String(64))
    device_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    action: Mapped[str] = mapped_column(String(16))
    code: Mapped[str] = mapped_column(String(512))
    unit_id: Mapped[int | None] = mapped_column(
        ForeignKey("logistic_units.id"), nullable=True, index=True
    )
    item_id: Mapped[int | None] = mapped_column(ForeignKey("items.id"), nullable=True, index=True)
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"), nullable=True)
    region_code: Mapped[str | None] = mapped_column(ForeignKey("regions.code"), nullable=True)
    shipment_ref: Mapped[str | None] = mapped_column(String(64), nullable=True)
    receiver_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"), nullable=True)
    shipment_id: Mapped[int | None] = mapped_column(ForeignKey("shipments.id"), nullable=True)
    event_time: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    request_hash: Mapped[bytes] = mapped_column(Bytes32)
    outcome: Mapped[str] = mapped_column(String(16), index=True)
    result: Mapped[Any] = mapped_column(JSON)


class EpcisEventRow(Base):
    """An EPCIS event a partner captured (POST /epcis/capture), kept as it came."""

    __tablename__ = "epcis_events"
    __table_args__ = (
        UniqueConstraint("scope_key", "event_id"),
        Index("ix_epcis_events_scope_key_event_hash", "scope_key", "event_hash"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: Whose events these are for deduplication: ``brand:<id>`` (or ``org:<id>`` without a
    #: brand). An eventID is unique within a scope, never across tenants.
    scope_key: Mapped[str] = mapped_column(String(32))
    event_id: Mapped[str] = mapped_column(String(300))
    #: The CBV 2.0 event hash of the event as it came (``ni:///sha-256;...?ver=CBV2.0``).
    event_hash: Mapped[str | None] = mapped_column(String(100), nullable=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    brand_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"), nullable=True)
    event_time: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    body: Mapped[Any] = mapped_column(JSON)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())


class EpcisEventEpcRow(Base):
    """The EPCs (canonical form) a captured event names, to find it by EPC."""

    __tablename__ = "epcis_event_epcs"

    event_pk: Mapped[int] = mapped_column(ForeignKey("epcis_events.id"), primary_key=True)
    epc: Mapped[str] = mapped_column(String(300), primary_key=True, index=True)


# A scan finds the journey of its bottle by item, case and pallet: without these, that lookup
# (and ``CustodyRepository.history``) reads every shipment line. Migration 0005.
Index("ix_shipment_lines_unit_id", ShipmentLineRow.unit_id)
Index("ix_shipment_lines_item_id", ShipmentLineRow.item_id)
