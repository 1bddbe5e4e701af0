from __future__ import annotations

from typing import Literal

from fastapi import APIRouter

from service.api.deps import (
    ContainerDep,
    CurrentActor,
    ReadUowDep,
    ScannerActor,
    UowDep,
    WriteLaneDep,
    page_limit,
)
from service.api.schemas import (
    AlertPublic,
    AlertStatusUpdate,
    ChannelParentPublic,
    ChannelParentUpdate,
    IdPath,
    IdQuery,
    Limit,
    Offset,
    OrganisationDetailPublic,
    RegionPublic,
    RegionsLoad,
    RegionsLoaded,
    ScanCreate,
    ScanResultPublic,
    ScanUpload,
    ShipmentPublic,
    ShipmentSummaryPublic,
    SiteCreate,
    SitePublic,
    StockPublic,
    TerritoriesPublic,
    TerritoriesUpdate,
    UploadPublic,
)
from service.app import distribution, scanning
from service.app.scanning import ScanRequest

router = APIRouter(tags=["distribution"])


def _request(body: ScanCreate) -> ScanRequest:
    return ScanRequest(
        action=body.action,
        code=body.code,
        client_event_id=body.client_event_id,
        time=body.time,
        site_id=body.site_id,
        region=body.region,
        shipment=body.shipment,
        receiver_id=body.receiver_id,
    )


# ----------------------------------------------------------------------------- regions
@router.get("/regions", response_model=list[RegionPublic])
def list_regions(container: ContainerDep, parent: str | None = None) -> list[RegionPublic]:
    """Public: the regions below ``parent`` (the provinces without it)."""
    return [
        RegionPublic.model_validate(r) for r in distribution.list_regions(container.regions, parent)
    ]


@router.post("/regions", status_code=201, response_model=RegionsLoaded)
def load_regions(
    body: RegionsLoad, actor: CurrentActor, uow: UowDep, container: ContainerDep
) -> RegionsLoaded:
    """Load a custom region tree (admin): codes new, parents in the file or already known."""
    rows = [r.model_dump() for r in body.regions]
    count = distribution.load_regions(
        actor, rows, body.source, uow, container.regions, container.clock
    )
    return RegionsLoaded(source=body.source, loaded=count)


@router.get("/regions/{code}", response_model=RegionPublic)
def get_region(code: str, container: ContainerDep) -> RegionPublic:
    """Public: one region with its path, e.g. 浙江省 杭州市 西湖区."""
    return RegionPublic.model_validate(distribution.get_region(container.regions, code))


# ----------------------------------------------------------------------------- channel
@router.get("/me", response_model=OrganisationDetailPublic)
def me(actor: ScannerActor, uow: ReadUowDep, container: ContainerDep) -> OrganisationDetailPublic:
    """Your organisation: channel parent and children, territories, sites (for scanners)."""
    if actor.organisation_id is None:
        from service.domain.errors import OrganisationNotFoundError

        raise OrganisationNotFoundError("This key belongs to no organisation.")
    view = distribution.organisation_view(actor, actor.organisation_id, uow, container.regions)
    return OrganisationDetailPublic.model_validate(view)


@router.get("/organisations/{organisation_id}", response_model=OrganisationDetailPublic)
def get_organisation(
    organisation_id: IdPath, actor: CurrentActor, uow: ReadUowDep, container: ContainerDep
) -> OrganisationDetailPublic:
    """An organisation of your brand (or your own), with its channel, territories and sites."""
    view = distribution.organisation_view(actor, organisation_id, uow, container.regions)
    return OrganisationDetailPublic.model_validate(view)


@router.put("/organisations/{organisation_id}/territories", response_model=TerritoriesPublic)
def set_territories(
    organisation_id: IdPath,
    body: TerritoriesUpdate,
    actor: CurrentActor,
    uow: UowDep,
    container: ContainerDep,
) -> TerritoriesPublic:
    """Set where a distributor or store may sell: region subtrees (admin, brand)."""
    view = distribution.set_territories(
        actor, organisation_id, body.regions, uow, container.regions, container.clock
    )
    return TerritoriesPublic.model_validate(view)


@router.put("/organisations/{organisation_id}/channel-parent", response_model=ChannelParentPublic)
def set_channel_parent(
    organisation_id: IdPath,
    body: ChannelParentUpdate,
    actor: CurrentActor,
    uow: UowDep,
    container: ContainerDep,
) -> ChannelParentPublic:
    """Place a distributor or store under a distributor of its brand (admin, brand)."""
    view = distribution.set_channel_parent(
        actor, organisation_id, body.channel_parent_id, uow, container.clock
    )
    return ChannelParentPublic.model_validate(view)


@router.post("/organisations/{organisation_id}/sites", status_code=201, response_model=SitePublic)
def add_site(
    organisation_id: IdPath,
    body: SiteCreate,
    actor: CurrentActor,
    uow: UowDep,
    container: ContainerDep,
) -> SitePublic:
    """Register a warehouse, shop or plant in a region (admin, brand, the organisation)."""
    view = distribution.add_site(
        actor,
        organisation_id,
        body.name,
        body.kind,
        body.region,
        uow,
        container.regions,
        container.clock,
    )
    return SitePublic.model_validate(view)


# ----------------------------------------------------------------------------- scans
@router.post("/scans", response_model=ScanResultPublic)
async def scan(
    body: ScanCreate, actor: ScannerActor, container: ContainerDep, lane: WriteLaneDep
) -> ScanResultPublic:
    """One scan from a handheld: dispatch, receive, open or observe. Diversion is checked in
    the same request; the answer carries the alert it raised or joined."""
    result = await lane.run(
        scanning.record_scan,
        actor,
        _request(body),
        container.uow_factory,
        container.regions,
        container.clock,
    )
    return ScanResultPublic.model_validate(result)


@router.post("/scans/upload", response_model=UploadPublic)
def upload(body: ScanUpload, actor: ScannerActor, container: ContainerDep) -> UploadPublic:
    """Scans captured offline, each with its client_event_id and time. Idempotent: the same
    upload twice changes nothing; halves in any order give the same state."""
    result = scanning.upload_scans(
        actor,
        body.device_id,
        [_request(s) for s in body.scans],
        container.uow_factory,
        container.regions,
        container.clock,
    )
    return UploadPublic.model_validate(result)


@router.get("/shipments", response_model=list[ShipmentSummaryPublic])
def list_shipments(
    actor: CurrentActor,
    uow: ReadUowDep,
    container: ContainerDep,
    direction: Literal["in", "out"] = "in",
    offset: Offset = 0,
    limit: Limit = None,
) -> list[ShipmentSummaryPublic]:
    """Your inbound or outbound shipments, newest first."""
    rows = distribution.list_shipments(actor, direction, uow, offset, page_limit(container, limit))
    return [ShipmentSummaryPublic.model_validate(r) for r in rows]


@router.get("/shipments/{shipment_id}", response_model=ShipmentPublic)
def get_shipment(shipment_id: str, actor: CurrentActor, uow: ReadUowDep) -> ShipmentPublic:
    """A shipment: what was dispatched, received, missing and extra (sender, receiver, brand)."""
    return ShipmentPublic.model_validate(distribution.shipment_view(actor, shipment_id, uow))


@router.get("/stock", response_model=StockPublic)
def stock(
    actor: CurrentActor,
    uow: ReadUowDep,
    container: ContainerDep,
    organisation_id: IdQuery = None,
    offset: Offset = 0,
    limit: Limit = None,
) -> StockPublic:
    """What an organisation holds, with ages, and its open inbound and outbound shipments."""
    view = distribution.stock_view(
        actor, organisation_id, uow, container.clock, offset, page_limit(container, limit)
    )
    return StockPublic.model_validate(view)


# ----------------------------------------------------------------------------- alerts
@router.get("/alerts/{alert_id}", response_model=AlertPublic)
def get_alert(alert_id: IdPath, actor: CurrentActor, uow: ReadUowDep) -> AlertPublic:
    """One alert with its evidence (for a diversion: the chain of custody)."""
    return AlertPublic.model_validate(distribution.get_alert(actor, alert_id, uow))


@router.post("/alerts/{alert_id}/status", response_model=AlertPublic)
def set_alert_status(
    alert_id: IdPath,
    body: AlertStatusUpdate,
    actor: CurrentActor,
    uow: UowDep,
    container: ContainerDep,
) -> AlertPublic:
    """Confirm or dismiss an open alert, with a note (brand, auditor, admin)."""
    view = distribution.set_alert_status(
        actor, alert_id, body.status, body.note, uow, container.clock
    )
    return AlertPublic.model_validate(view)
