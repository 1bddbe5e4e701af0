"""The bodies the channel's routes take and answer; their names are the OpenAPI document's."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from service.api.schemas import Id, Public, Strict
from service.channel.domain.custody import ScanAction, SiteKind


# ----------------------------------------------------------------------------- distribution
class RegionPublic(Public):
    code: str
    name: str
    level: int
    parent: str | None
    path: str


class TerritoriesUpdate(Strict):
    regions: list[str] = Field(max_length=500, description="Region codes (subtrees)")


class TerritoriesPublic(Public):
    organisation_id: int
    territories: list[RegionPublic]


class ChannelParentUpdate(Strict):
    channel_parent_id: Id | None = None


class ChannelParentPublic(Public):
    organisation_id: int
    channel_parent_id: int | None


class SiteCreate(Strict):
    name: str = Field(min_length=1, max_length=200)
    kind: SiteKind
    region: str = Field(min_length=1, max_length=12, description="Region code, e.g. 330106")


class SitePublic(Public):
    id: int
    organisation_id: int
    name: str
    kind: str
    region: str
    region_path: str | None


class PartyPublic(Public):
    organisation_id: int | None
    name: str
    kind: str


class OrganisationDetailPublic(Public):
    id: int
    name: str
    kind: str
    brand_id: int | None
    channel_parent_id: int | None
    children: list[PartyPublic]
    territories: list[RegionPublic]
    sites: list[SitePublic]


class ScanCreate(Strict):
    action: ScanAction
    code: str = Field(min_length=1, max_length=512, description="SSCC, serial or Digital Link URI")
    client_event_id: str | None = Field(default=None, max_length=64)
    time: datetime | None = Field(default=None, description="When it was scanned (default now)")
    site_id: Id | None = None
    region: str | None = Field(default=None, max_length=12, description="Observe scans only")
    shipment: str | None = Field(
        default=None,
        max_length=64,
        description="Dispatch: your shipment reference. Receive: the shipment id (optional).",
    )
    receiver_id: Id | None = Field(default=None, description="Dispatch: the receiver")


class ScanUpload(Strict):
    device_id: str = Field(min_length=1, max_length=64)
    scans: list[ScanCreate] = Field(min_length=1, max_length=5000)


class ScanResultPublic(BaseModel):
    """The outcome of one scan (fields depend on the action)."""

    model_config = ConfigDict(extra="allow")
    client_event_id: str
    action: str
    code: str
    outcome: str = Field(description="applied, pending (waits for an earlier event) or duplicate")


class UploadPublic(Public):
    device_id: str
    counts: dict[str, int]
    results: list[ScanResultPublic]


class ShipmentSummaryPublic(Public):
    id: str
    ref: str
    sender_id: int
    receiver_id: int
    status: str
    dispatched_at: datetime
    received_at: datetime | None


class ShipmentLinePublic(Public):
    kind: str
    code: str
    items: int
    received_at: datetime | None


class ShipmentPublic(Public):
    id: str
    ref: str
    sender: PartyPublic | None
    receiver: PartyPublic | None
    status: str
    dispatched_at: datetime
    received_at: datetime | None
    items: dict[str, int]
    dispatched: list[ShipmentLinePublic]
    missing: list[ShipmentLinePublic]
    extra: list[ShipmentLinePublic]


class StockPublic(BaseModel):
    model_config = ConfigDict(extra="forbid")
    organisation: PartyPublic | None
    totals: dict[str, int]
    cases: list[dict[str, Any]]
    inbound: list[dict[str, Any]]
    outbound: list[dict[str, Any]]


class CustomRegion(Strict):
    code: str = Field(min_length=1, max_length=12)
    name: str = Field(min_length=1, max_length=100)
    parent: str | None = Field(default=None, max_length=12)


class RegionsLoad(Strict):
    source: str = Field(min_length=1, max_length=32, description="A name for the custom tree")
    regions: list[CustomRegion] = Field(min_length=1, max_length=100_000)


class RegionsLoaded(Public):
    source: str
    loaded: int
