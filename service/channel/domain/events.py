"""The channel's events: territories, sites, parents and regions set; goods dispatched,
received, and cases opened."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from service.kernel.events import Event


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
