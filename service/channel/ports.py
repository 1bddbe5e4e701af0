"""What the channel's use cases need of storage and of the outside: its network, custody and
shipments, EPCIS events, the regions' directory, the EPCIS schema and event hashing."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Any, Protocol

from service.channel.domain.custody import Custody
from service.channel.domain.regions import Region, RegionTree
from service.identity.interface import Organisation
from service.kernel.ports import UnitOfWork

if TYPE_CHECKING:
    from service.alerts.interface import AlertWriter
    from service.factory.interface import BatchReads
    from service.identity.interface import OrganisationReads


@dataclass(frozen=True)
class Site:
    """A warehouse, shop or plant of an organisation, in one region."""

    id: int
    organisation_id: int
    name: str
    kind: str
    region_code: str


class ChannelRepository(Protocol):
    """Regions, territories, sites and the channel tree."""

    def regions(self) -> list[Region]: ...
    def region_count(self) -> int:
        """How many regions there are (a cheap check that the tree changed)."""
        ...

    def add_regions(self, regions: Sequence[Region], source: str) -> None: ...
    def territories(self, organisation_ids: Sequence[int]) -> dict[int, list[str]]:
        """Territory region codes per organisation (organisations without any are absent)."""
        ...

    def set_territories(self, organisation_id: int, codes: Sequence[str]) -> None: ...
    def add_site(
        self, organisation_id: int, name: str, kind: str, region_code: str, at: datetime
    ) -> Site: ...
    def site(self, site_id: int) -> Site | None: ...
    def sites(self, organisation_id: int) -> list[Site]: ...
    def set_channel_parent(self, organisation_id: int, parent_id: int | None) -> None: ...
    def channel_parent(self, organisation_id: int) -> int | None: ...
    def children(self, organisation_id: int) -> list[Organisation]: ...


@dataclass(frozen=True)
class Target:
    """A scanned case, pallet or loose item, with its custody."""

    kind: str  # "case" | "pallet" | "item"
    id: int
    code: str  # SSCC or serial
    batch_id: int
    items: int
    custody: Custody
    #: A case: its pallet's id. An item: its case's id.
    parent_id: int | None = None
    #: A case: when it was opened. An item: whether it travels loose (its case is open).
    opened_at: datetime | None = None
    loose: bool = True


@dataclass(frozen=True)
class StoredScan:
    """A scan event as recorded."""

    id: int
    organisation_id: int
    client_event_id: str
    action: str
    code: str
    event_time: datetime
    outcome: str
    result: dict[str, Any]
    request_hash: bytes
    site_id: int | None = None
    region_code: str | None = None
    shipment_ref: str | None = None
    receiver_id: int | None = None
    device_id: str | None = None


@dataclass(frozen=True)
class Shipment:
    id: int
    public_id: str
    ref: str
    sender_id: int
    receiver_id: int
    sender_site_id: int | None
    status: str
    dispatched_at: datetime
    received_at: datetime | None
    dispatched_lines: int = 0
    received_lines: int = 0
    extra_lines: int = 0


@dataclass(frozen=True)
class ShipmentLine:
    kind: str
    code: str
    items: int
    dispatched: bool
    received_at: datetime | None


class CustodyRepository(Protocol):
    """Where goods are: custody of units and loose items, shipments, scan events."""

    def target(self, sscc: str | None, serial: str | None) -> Target | None: ...
    def last_shipment(self, target: Target, at: datetime) -> Shipment | None:
        """The last shipment the target was put in at or before ``at``."""
        ...

    def shipment_by_ref(self, sender_id: int, ref: str) -> Shipment | None: ...
    def shipment(self, shipment_id: int) -> Shipment | None: ...
    def shipment_by_public_id(self, public_id: str) -> Shipment | None: ...
    def add_shipment(
        self,
        public_id: str,
        ref: str,
        sender_id: int,
        receiver_id: int,
        site_id: int | None,
        at: datetime,
    ) -> Shipment: ...
    def lines(self, shipment_id: int) -> list[ShipmentLine]: ...
    def shipments(
        self, organisation_id: int | None, direction: str, offset: int, limit: int
    ) -> list[Shipment]: ...
    def history(self, target: Target) -> list[dict[str, Any]]:
        """The chain of custody: the shipments the target (or its case, pallet) travelled in."""
        ...

    def stock(self, organisation_id: int, offset: int, limit: int) -> list[dict[str, Any]]: ...
    def stock_totals(self, organisation_id: int) -> dict[str, int]: ...
    def scan_event(self, organisation_id: int, client_event_id: str) -> StoredScan | None: ...
    def set_scan_outcome(
        self, scan_id: int, outcome: str, result: dict[str, Any], shipment_id: int | None
    ) -> None: ...
    def pending_scans(
        self, unit_ids: Sequence[int], item_ids: Sequence[int]
    ) -> list[StoredScan]: ...
    # Bulk reads and writes of a scan session (see service.channel.app.scanning).
    def units_by_sscc(self, ssccs: Sequence[str]) -> list[Target]: ...
    def units_by_id(self, ids: Sequence[int]) -> list[Target]: ...
    def cases_of_pallets(self, pallet_ids: Sequence[int]) -> dict[int, list[Target]]: ...
    def last_holders(self, serials: Sequence[str]) -> dict[str, tuple[int | None, int | None]]:
        """``serial -> (holder organisation, holder site)`` of items: a sealed case's custody
        for the items in it, an item's own once it travels loose."""
        ...

    def items_by_serial(self, serials: Sequence[str]) -> list[Target]:
        """Items with their own custody (meaningful once loose) and their case id."""
        ...

    def write_custody(self, changes: Sequence[tuple[str, int, Custody]]) -> None: ...
    def add_lines_many(self, rows: Sequence[tuple[int, str, int, int, bool]]) -> None: ...
    def receive_lines_many(
        self, rows: Sequence[tuple[int, str, int, datetime, int | None]]
    ) -> None: ...
    def open_cases(self, cases: Sequence[tuple[int, datetime, Custody]]) -> None: ...
    def shipments_by_ids(self, ids: Sequence[int]) -> list[Shipment]: ...
    def save_shipment(self, shipment: Shipment) -> None: ...
    def scan_events_by_client_ids(
        self, organisation_id: int, client_event_ids: Sequence[str]
    ) -> dict[str, StoredScan]: ...
    def add_scan_events(
        self,
        rows: Sequence[tuple[StoredScan, int | None, int | None, int | None]],
        recorded_at: datetime,
    ) -> None: ...
    def observations_after(
        self, unit_ids: Sequence[int], item_ids: Sequence[int], after: datetime
    ) -> list[StoredScan]:
        """Applied observe scans of these goods made after ``after``, in time order."""
        ...


class ScopeKind(Enum):
    """What a scope reaches. NOTHING is explicit: a caller whose brand or organisation resolves
    to nothing sees nothing, never everything."""

    NOTHING = "nothing"
    BRAND = "brand"
    ORGANISATION = "organisation"
    EVERYTHING = "everything"


@dataclass(frozen=True)
class Scope:
    """Whose events a caller may read: nothing, a brand's, one partner's, or everything."""

    kind: ScopeKind
    #: The brand's or the organisation's id (None for NOTHING and EVERYTHING).
    id: int | None = None
    #: Factories and brands see what their batches were made of (packing, commissioning).
    sees_production: bool = False

    def __post_init__(self) -> None:
        needs_id = self.kind in (ScopeKind.BRAND, ScopeKind.ORGANISATION)
        if needs_id != (self.id is not None):
            raise ValueError(f"A {self.kind.value} scope {'needs' if needs_id else 'has no'} id.")

    @classmethod
    def nothing(cls) -> Scope:
        return cls(ScopeKind.NOTHING)

    @classmethod
    def everything(cls, *, sees_production: bool = True) -> Scope:
        return cls(ScopeKind.EVERYTHING, sees_production=sees_production)

    @classmethod
    def brand(cls, brand_id: int | None, *, sees_production: bool = True) -> Scope:
        """A brand's scope; nothing when the brand is unknown (None)."""
        if brand_id is None:
            return cls.nothing()
        return cls(ScopeKind.BRAND, brand_id, sees_production)

    @classmethod
    def organisation(cls, organisation_id: int | None, *, sees_production: bool = False) -> Scope:
        """One organisation's scope; nothing when the organisation is unknown (None)."""
        if organisation_id is None:
            return cls.nothing()
        return cls(ScopeKind.ORGANISATION, organisation_id, sees_production)


@dataclass(frozen=True)
class Bounds:
    """What the database can narrow by before events are rendered."""

    ge: datetime | None
    lt: datetime | None
    #: Canonical EPCs named exactly by MATCH_* (empty: no narrowing by EPC).
    epcs: tuple[str, ...]
    limit: int


@dataclass(frozen=True)
class ScanFact:
    id: int
    action: str
    event_time: datetime
    organisation_id: int
    site_id: int | None
    region: str | None
    epc: str
    shipment: str | None
    sender_id: int | None
    receiver_id: int | None
    children: tuple[str, ...] = ()


@dataclass(frozen=True)
class PackingFact:
    unit_id: int
    kind: str
    parent_epc: str
    at: datetime
    children: tuple[str, ...]


class EpcisRepository(Protocol):
    def known_captured(
        self, scope_key: str, event_ids: Sequence[str], event_hashes: Sequence[str]
    ) -> tuple[set[str], set[str]]:
        """Which of these eventIDs, and which of these CBV event hashes, the scope captured."""
        ...

    def add_captured(
        self,
        scope_key: str,
        event_id: str,
        event_hash: str | None,
        organisation_id: int,
        brand_id: int | None,
        event_time: datetime,
        body: dict[str, Any],
        epcs: Sequence[str],
        at: datetime,
    ) -> bool:
        """Store a captured event; False if its eventID is known in the scope already."""
        ...

    def captured(self, scope: Scope, bounds: Bounds) -> list[dict[str, Any]]: ...
    def scans(self, scope: Scope, bounds: Bounds) -> list[ScanFact]: ...
    def packing(self, scope: Scope, bounds: Bounds) -> list[PackingFact]: ...
    def commissioning(self, scope: Scope, bounds: Bounds) -> list[PackingFact]: ...


class EpcisSchema(Protocol):
    """GS1's EPCIS 2.0 JSON schema: raises ``InvalidEpcisError`` naming what a document breaks."""

    def __call__(self, document: Any, /) -> None: ...


class EventHasher(Protocol):
    """The CBV 2.0 event hash of each event, expanded with the document's ``@context``."""

    def __call__(self, context: Any, events: Sequence[Mapping[str, Any]], /) -> list[str]:
        """One hash per event, in order; ``ValueError`` when an event cannot be hashed."""
        ...


class RegionDirectory(Protocol):
    """The region tree, loaded once and reloaded when a custom tree is added."""

    def tree(self) -> RegionTree: ...
    def reload(self) -> None: ...


class ChannelUnitOfWork(UnitOfWork, Protocol):
    """One transaction over the channel's tables (and the kernel's), with what the channel reads
    of the others (organisations; the batch and brand of scanned goods) and the alert desk its
    diversions are raised at."""

    channel: ChannelRepository
    custody: CustodyRepository
    epcis: EpcisRepository

    @property
    def organisations(self) -> OrganisationReads: ...
    @property
    def batches(self) -> BatchReads: ...
    @property
    def alerts(self) -> AlertWriter: ...


class ChannelUnitOfWorkFactory(Protocol):
    def __call__(self) -> ChannelUnitOfWork: ...
    def reader(self) -> ChannelUnitOfWork:
        """A unit of work for use cases that only read (no write lock on SQLite)."""
        ...


# ----------------------------------------------------------------------------- for other areas
class TerritoryReads(Protocol):
    """Reading organisations' territories."""

    def territories(self, organisation_ids: Sequence[int]) -> dict[int, list[str]]:
        """Territory region codes per organisation (organisations without any are absent)."""
        ...


class CustodyReads(Protocol):
    """Reading where goods are and have been: what other areas show of custody and judge by."""

    def target(self, sscc: str | None, serial: str | None) -> Target | None: ...
    def units_by_id(self, ids: Sequence[int]) -> list[Target]: ...
    def history(self, target: Target) -> list[dict[str, Any]]:
        """The chain of custody: the shipments the target (or its case, pallet) travelled in."""
        ...


class DiversionCustody(CustodyReads, Protocol):
    """Custody as raising a diversion alert needs it: the shipment that carried the goods, and
    the alert linked to their custody so later sightings join it."""

    def last_shipment(self, target: Target, at: datetime) -> Shipment | None: ...
    def write_custody(self, changes: Sequence[tuple[str, int, Custody]]) -> None: ...


class DiversionUnitOfWork(UnitOfWork, Protocol):
    """What the channel's ``ConsumerDiversions`` needs of the caller's transaction to raise a
    consumer's diversion alert in it: organisations, territories, custody, the scanned goods'
    batch and the alert desk."""

    @property
    def organisations(self) -> OrganisationReads: ...
    @property
    def batches(self) -> BatchReads: ...
    @property
    def channel(self) -> TerritoryReads: ...
    @property
    def custody(self) -> DiversionCustody: ...
    @property
    def alerts(self) -> AlertWriter: ...
