from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends

from service.api.deps import (
    ContainerDep,
    CurrentActor,
    ScannerActor,
    WriteLaneDep,
    page_limit,
    use_cases,
)
from service.api.schemas import IdPath, IdQuery, Limit, Offset
from service.channel.api.schemas import (
    ChannelParentPublic,
    ChannelParentUpdate,
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
from service.channel.app.scanning import ScanRequest
from service.channel.app.use_cases import ChannelUseCases

ChannelDep = Annotated[ChannelUseCases, Depends(use_cases("channel"))]

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
def list_regions(channel: ChannelDep, parent: str | None = None) -> list[RegionPublic]:
    """Public: the regions below ``parent`` (the provinces without it)."""
    return [RegionPublic.model_validate(r) for r in channel.list_regions(parent)]


@router.post("/regions", status_code=201, response_model=RegionsLoaded)
def load_regions(body: RegionsLoad, actor: CurrentActor, channel: ChannelDep) -> RegionsLoaded:
    """Load a custom region tree (admin): codes new, parents in the file or already known."""
    rows = [r.model_dump() for r in body.regions]
    count = channel.load_regions(actor, rows, body.source)
    return RegionsLoaded(source=body.source, loaded=count)


@router.get("/regions/{code}", response_model=RegionPublic)
def get_region(code: str, channel: ChannelDep) -> RegionPublic:
    """Public: one region with its path, e.g. 浙江省 杭州市 西湖区."""
    return RegionPublic.model_validate(channel.get_region(code))


# ----------------------------------------------------------------------------- channel
@router.get("/me", response_model=OrganisationDetailPublic)
def me(actor: ScannerActor, channel: ChannelDep) -> OrganisationDetailPublic:
    """Your organisation: channel parent and children, territories, sites (for scanners)."""
    if actor.organisation_id is None:
        from service.identity.interface import OrganisationNotFoundError

        raise OrganisationNotFoundError("This key belongs to no organisation.")
    view = channel.organisation_view(actor, actor.organisation_id)
    return OrganisationDetailPublic.model_validate(view)


@router.get("/organisations/{organisation_id}", response_model=OrganisationDetailPublic)
def get_organisation(
    organisation_id: IdPath, actor: CurrentActor, channel: ChannelDep
) -> OrganisationDetailPublic:
    """An organisation of your brand (or your own), with its channel, territories and sites."""
    view = channel.organisation_view(actor, organisation_id)
    return OrganisationDetailPublic.model_validate(view)


@router.put("/organisations/{organisation_id}/territories", response_model=TerritoriesPublic)
def set_territories(
    organisation_id: IdPath,
    body: TerritoriesUpdate,
    actor: CurrentActor,
    channel: ChannelDep,
) -> TerritoriesPublic:
    """Set where a distributor or store may sell: region subtrees (admin, brand)."""
    view = channel.set_territories(actor, organisation_id, body.regions)
    return TerritoriesPublic.model_validate(view)


@router.put("/organisations/{organisation_id}/channel-parent", response_model=ChannelParentPublic)
def set_channel_parent(
    organisation_id: IdPath,
    body: ChannelParentUpdate,
    actor: CurrentActor,
    channel: ChannelDep,
) -> ChannelParentPublic:
    """Place a distributor or store under a distributor of its brand (admin, brand)."""
    view = channel.set_channel_parent(actor, organisation_id, body.channel_parent_id)
    return ChannelParentPublic.model_validate(view)


@router.post("/organisations/{organisation_id}/sites", status_code=201, response_model=SitePublic)
def add_site(
    organisation_id: IdPath,
    body: SiteCreate,
    actor: CurrentActor,
    channel: ChannelDep,
) -> SitePublic:
    """Register a warehouse, shop or plant in a region (admin, brand, the organisation)."""
    view = channel.add_site(actor, organisation_id, body.name, body.kind, body.region)
    return SitePublic.model_validate(view)


# ----------------------------------------------------------------------------- scans
@router.post("/scans", response_model=ScanResultPublic)
async def scan(
    body: ScanCreate, actor: ScannerActor, container: ContainerDep, lane: WriteLaneDep
) -> ScanResultPublic:
    """One scan from a handheld: dispatch, receive, open or observe. Diversion is checked in
    the same request; the answer carries the alert it raised or joined."""
    # The container's bound use case, not ChannelDep: the hot path takes no extra dependency.
    result = await lane.run(container.channel.record_scan, actor, _request(body))
    return ScanResultPublic.model_validate(result)


@router.post("/scans/upload", response_model=UploadPublic)
def upload(body: ScanUpload, actor: ScannerActor, channel: ChannelDep) -> UploadPublic:
    """Scans captured offline, each with its client_event_id and time. Idempotent: the same
    upload twice changes nothing; halves in any order give the same state."""
    result = channel.upload_scans(actor, body.device_id, [_request(s) for s in body.scans])
    return UploadPublic.model_validate(result)


@router.get("/shipments", response_model=list[ShipmentSummaryPublic])
def list_shipments(
    actor: CurrentActor,
    channel: ChannelDep,
    container: ContainerDep,
    direction: Literal["in", "out"] = "in",
    offset: Offset = 0,
    limit: Limit = None,
) -> list[ShipmentSummaryPublic]:
    """Your inbound or outbound shipments, newest first."""
    rows = channel.list_shipments(actor, direction, offset, page_limit(container, limit))
    return [ShipmentSummaryPublic.model_validate(r) for r in rows]


@router.get("/shipments/{shipment_id}", response_model=ShipmentPublic)
def get_shipment(shipment_id: str, actor: CurrentActor, channel: ChannelDep) -> ShipmentPublic:
    """A shipment: what was dispatched, received, missing and extra (sender, receiver, brand)."""
    return ShipmentPublic.model_validate(channel.shipment_view(actor, shipment_id))


@router.get("/stock", response_model=StockPublic)
def stock(
    actor: CurrentActor,
    channel: ChannelDep,
    container: ContainerDep,
    organisation_id: IdQuery = None,
    offset: Offset = 0,
    limit: Limit = None,
) -> StockPublic:
    """What an organisation holds, with ages, and its open inbound and outbound shipments."""
    view = channel.stock_view(actor, organisation_id, offset, page_limit(container, limit))
    return StockPublic.model_validate(view)
