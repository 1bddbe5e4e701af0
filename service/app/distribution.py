"""Distribution use cases: the channel (regions, territories, sites), scans that move goods
(dispatch, receive, open) or only look at them (observe), offline uploads, shipments, stock,
and diversion alerts raised inline.

A scan is applied in one transaction with its event and any alert. Online scans that cannot
apply answer 4xx and write nothing. Uploaded (offline) scans are validated as a whole first;
then each is applied in time order, and one that waits for an event not yet known (a receipt
of goods whose dispatch is in a later upload) is kept *pending* and applied as soon as the
missing event arrives, so uploads give the same state in any order and any number of times.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from service.app.ports import Site, UnitOfWork, UnitOfWorkFactory
from service.app.regions import RegionDirectory, region_view
from service.app.scanning import CHANNEL_KINDS, ScanRequest, record_scan, upload_scans
from service.channel.domain.custody import (
    validate_ref,
    validate_site,
)
from service.channel.domain.errors import InvalidChannelError, ShipmentNotFoundError
from service.channel.domain.events import (
    ChannelParentSet,
    RegionsLoaded,
    SiteRegistered,
    TerritoriesSet,
)
from service.channel.domain.regions import RegionTree, validate_custom_regions
from service.identity.domain.errors import OrganisationNotFoundError
from service.identity.domain.organisations import Organisation, party
from service.kernel.actor import Actor
from service.kernel.errors import InvalidRequestError, PermissionDeniedError
from service.kernel.ports import Clock, DuplicateError
from service.kernel.roles import OrganisationKind, Permission, Role


# ----------------------------------------------------------------------------- views
def _site_view(site: Site, tree: RegionTree) -> dict[str, Any]:
    return {
        "id": site.id,
        "organisation_id": site.organisation_id,
        "name": site.name,
        "kind": site.kind,
        "region": site.region_code,
        "region_path": tree.path(site.region_code) if site.region_code in tree else None,
    }


# ----------------------------------------------------------------------------- regions
def list_regions(regions: RegionDirectory, parent: str | None) -> list[dict[str, Any]]:
    tree = regions.tree()
    if parent is not None:
        tree.require(parent)
    return [region_view(tree, r.code) for r in tree.children(parent)]


def get_region(regions: RegionDirectory, code: str) -> dict[str, Any]:
    return region_view(regions.tree(), code)


def load_regions(
    actor: Actor,
    rows: Sequence[dict[str, object]],
    source: str,
    uow: UnitOfWork,
    regions: RegionDirectory,
    clock: Clock,
) -> int:
    """Load a custom region tree next to the existing regions (admin)."""
    actor.require(Permission.MANAGE_ORGANISATIONS)
    validate_ref(source, "region source name")
    new = validate_custom_regions(rows, regions.tree())
    with uow:
        uow.channel.add_regions(new, source)
        uow.events.append(RegionsLoaded(source, len(new)), clock.now())
        uow.commit()
    regions.reload()
    return len(new)


# ----------------------------------------------------------------------------- channel
def _manageable(uow: UnitOfWork, actor: Actor, organisation_id: int) -> Organisation:
    """An organisation the actor may configure: an admin any, a brand its own channel."""
    org = uow.organisations.get(organisation_id)
    if org is None:
        raise OrganisationNotFoundError()
    if actor.role is Role.ADMIN:
        return org
    if actor.role is Role.BRAND and org.brand_id is not None and org.brand_id == actor.brand_id:
        return org
    raise OrganisationNotFoundError()


def set_territories(
    actor: Actor,
    organisation_id: int,
    codes: Sequence[str],
    uow: UnitOfWork,
    regions: RegionDirectory,
    clock: Clock,
) -> dict[str, Any]:
    """Set the region subtrees a distributor or store may sell in (admin, its brand)."""
    if actor.role not in (Role.ADMIN, Role.BRAND):
        raise PermissionDeniedError("Only an admin or the brand sets territories.")
    tree = regions.tree()
    clean = sorted({tree.require(c).code for c in codes})
    if len(codes) > 500:
        raise InvalidChannelError("A territory has at most 500 regions; use larger regions.")
    with uow:
        org = _manageable(uow, actor, organisation_id)
        if org.kind not in CHANNEL_KINDS:
            raise InvalidChannelError("Territories belong to distributors and stores.")
        uow.channel.set_territories(organisation_id, clean)
        uow.events.append(TerritoriesSet(organisation_id, tuple(clean)), clock.now())
        uow.commit()
    return {
        "organisation_id": organisation_id,
        "territories": [region_view(tree, c) for c in clean],
    }


def set_channel_parent(
    actor: Actor, organisation_id: int, parent_id: int | None, uow: UnitOfWork, clock: Clock
) -> dict[str, Any]:
    """Place a distributor or store under a distributor of the same brand (admin, brand)."""
    if actor.role not in (Role.ADMIN, Role.BRAND):
        raise PermissionDeniedError("Only an admin or the brand shapes the channel.")
    with uow:
        org = _manageable(uow, actor, organisation_id)
        if org.kind not in CHANNEL_KINDS:
            raise InvalidChannelError("Only distributors and stores have a channel parent.")
        if parent_id is not None:
            parent = uow.organisations.get(parent_id)
            if parent is None or parent.kind is not OrganisationKind.DISTRIBUTOR:
                raise InvalidChannelError("A channel parent is a distributor.")
            if parent.brand_id != org.brand_id:
                raise InvalidChannelError("The channel parent works for another brand.")
            ancestor: int | None = parent_id
            for _ in range(32):
                if ancestor is None:
                    break
                if ancestor == organisation_id:
                    raise InvalidChannelError("That would make the organisation its own parent.")
                ancestor = uow.channel.channel_parent(ancestor)
        uow.channel.set_channel_parent(organisation_id, parent_id)
        uow.events.append(ChannelParentSet(organisation_id, parent_id), clock.now())
        uow.commit()
    return {"organisation_id": organisation_id, "channel_parent_id": parent_id}


def add_site(
    actor: Actor,
    organisation_id: int,
    name: str,
    kind: str,
    region: str,
    uow: UnitOfWork,
    regions: RegionDirectory,
    clock: Clock,
) -> dict[str, Any]:
    """Register a site (admin, the brand, or the organisation itself)."""
    tree = regions.tree()
    clean, site_kind = validate_site(name, kind)
    code = tree.require(region).code
    with uow:
        if actor.organisation_id == organisation_id and actor.role is not Role.AUDITOR:
            org = uow.organisations.get(organisation_id)
        else:
            org = _manageable(uow, actor, organisation_id)
        assert org is not None
        now = clock.now()
        try:
            site = uow.channel.add_site(organisation_id, clean, site_kind.value, code, now)
        except DuplicateError as exc:
            raise InvalidChannelError(f"The organisation has a site named {clean!r}.") from exc
        uow.events.append(SiteRegistered(site.id, organisation_id, site_kind.value, code), now)
        uow.commit()
    return _site_view(site, tree)


def organisation_view(
    actor: Actor, organisation_id: int, uow: UnitOfWork, regions: RegionDirectory
) -> dict[str, Any]:
    """An organisation with its channel parent, children, territories and sites."""
    tree = regions.tree()
    with uow:
        org = uow.organisations.get(organisation_id)
        if org is None:
            raise OrganisationNotFoundError()
        if not (
            actor.role is Role.ADMIN
            or actor.organisation_id == organisation_id
            or (actor.role in (Role.BRAND, Role.AUDITOR) and org.brand_scope == actor.brand_id)
        ):
            raise OrganisationNotFoundError()
        parent = uow.channel.channel_parent(organisation_id)
        children = uow.channel.children(organisation_id)
        territory = uow.channel.territories([organisation_id]).get(organisation_id, [])
        sites = uow.channel.sites(organisation_id)
    return {
        "id": org.id,
        "name": org.name,
        "kind": org.kind.value,
        "brand_id": org.brand_id,
        "channel_parent_id": parent,
        "children": [party(c) for c in children],
        "territories": [region_view(tree, c) for c in territory if c in tree],
        "sites": [_site_view(s, tree) for s in sites],
    }


# ----------------------------------------------------------------------------- shipments, stock
def _visible_shipment(uow: UnitOfWork, actor: Actor, public_id: str) -> Any:
    shipment = uow.custody.shipment_by_public_id(public_id)
    if shipment is None:
        raise ShipmentNotFoundError()
    if actor.role is Role.ADMIN or actor.organisation_id in (
        shipment.sender_id,
        shipment.receiver_id,
    ):
        return shipment
    if actor.role in (Role.BRAND, Role.AUDITOR):
        sender = uow.organisations.get(shipment.sender_id)
        if sender is not None and sender.brand_scope == actor.brand_id:
            return shipment
    raise ShipmentNotFoundError()


def shipment_view(actor: Actor, public_id: str, uow: UnitOfWork) -> dict[str, Any]:
    """A shipment with what was dispatched, received, missing and extra."""
    with uow:
        shipment = _visible_shipment(uow, actor, public_id)
        lines = uow.custody.lines(shipment.id)
        sender = uow.organisations.get(shipment.sender_id)
        receiver = uow.organisations.get(shipment.receiver_id)

    def line(entry: Any) -> dict[str, Any]:
        return {
            "kind": entry.kind,
            "code": entry.code,
            "items": entry.items,
            "received_at": entry.received_at.isoformat() if entry.received_at else None,
        }

    counted = [e for e in lines if e.kind != "pallet"]
    dispatched = [e for e in counted if e.dispatched]
    return {
        "id": shipment.public_id,
        "ref": shipment.ref,
        "sender": party(sender),
        "receiver": party(receiver),
        "status": shipment.status,
        "dispatched_at": shipment.dispatched_at.isoformat(),
        "received_at": shipment.received_at.isoformat() if shipment.received_at else None,
        "items": {
            "dispatched": sum(e.items for e in dispatched),
            "received": sum(e.items for e in dispatched if e.received_at),
            "missing": sum(e.items for e in dispatched if e.received_at is None),
            "extra": sum(e.items for e in counted if not e.dispatched),
        },
        "dispatched": [line(e) for e in lines if e.dispatched],
        "missing": [line(e) for e in dispatched if e.received_at is None],
        "extra": [line(e) for e in counted if not e.dispatched],
    }


def list_shipments(
    actor: Actor, direction: str, uow: UnitOfWork, offset: int, limit: int
) -> list[dict[str, Any]]:
    if direction not in ("in", "out"):
        raise InvalidRequestError("direction is 'in' or 'out'.")
    if actor.organisation_id is None:
        return []
    with uow:
        org = None if actor.role is Role.ADMIN else actor.organisation_id
        shipments = uow.custody.shipments(org, direction, offset, limit)
    return [
        {
            "id": s.public_id,
            "ref": s.ref,
            "sender_id": s.sender_id,
            "receiver_id": s.receiver_id,
            "status": s.status,
            "dispatched_at": s.dispatched_at.isoformat(),
            "received_at": s.received_at.isoformat() if s.received_at else None,
        }
        for s in shipments
    ]


def stock_view(
    actor: Actor,
    organisation_id: int | None,
    uow: UnitOfWork,
    clock: Clock,
    offset: int,
    limit: int,
) -> dict[str, Any]:
    """What an organisation holds (received, not shipped on), with ages; in and out flows."""
    target = organisation_id if organisation_id is not None else actor.organisation_id
    if target is None:
        raise InvalidRequestError("Name the organisation_id whose stock to show.")
    now = clock.now()
    with uow:
        org = uow.organisations.get(target)
        if org is None:
            raise OrganisationNotFoundError()
        allowed = (
            actor.role is Role.ADMIN
            or actor.organisation_id == target
            or (actor.role in (Role.BRAND, Role.AUDITOR) and org.brand_scope == actor.brand_id)
        )
        if not allowed:
            raise OrganisationNotFoundError()
        rows = uow.custody.stock(target, offset, limit)
        totals = uow.custody.stock_totals(target)
        inbound = uow.custody.shipments(target, "in", 0, 50)
        outbound = uow.custody.shipments(target, "out", 0, 50)
    for row in rows:
        since = datetime.fromisoformat(row["since"]) if row["since"] else None
        row["age_days"] = round((now - since).total_seconds() / 86400, 2) if since else None
    return {
        "organisation": party(org),
        "totals": totals,
        "cases": rows,
        "inbound": [
            {"id": s.public_id, "sender_id": s.sender_id, "status": s.status}
            for s in inbound
            if s.status != "received"
        ],
        "outbound": [
            {"id": s.public_id, "receiver_id": s.receiver_id, "status": s.status} for s in outbound
        ],
    }


@dataclass(frozen=True)
class ChannelUseCases:
    """The channel's use cases (regions, organisations' territories and sites, scans,
    shipments, stock) with their adapters bound once in bootstrap: the routes and the
    CLI pass the request's data only. Each builds its own unit of work (a reader for those that
    only read)."""

    uows: UnitOfWorkFactory
    regions: RegionDirectory
    clock: Clock

    def list_regions(self, parent: str | None) -> list[dict[str, Any]]:
        return list_regions(self.regions, parent)

    def get_region(self, code: str) -> dict[str, Any]:
        return get_region(self.regions, code)

    def load_regions(self, actor: Actor, rows: Sequence[dict[str, object]], source: str) -> int:
        return load_regions(actor, rows, source, self.uows(), self.regions, self.clock)

    def organisation_view(self, actor: Actor, organisation_id: int) -> dict[str, Any]:
        return organisation_view(actor, organisation_id, self.uows.reader(), self.regions)

    def set_territories(
        self, actor: Actor, organisation_id: int, codes: Sequence[str]
    ) -> dict[str, Any]:
        return set_territories(actor, organisation_id, codes, self.uows(), self.regions, self.clock)

    def set_channel_parent(
        self, actor: Actor, organisation_id: int, parent_id: int | None
    ) -> dict[str, Any]:
        return set_channel_parent(actor, organisation_id, parent_id, self.uows(), self.clock)

    def add_site(
        self, actor: Actor, organisation_id: int, name: str, kind: str, region: str
    ) -> dict[str, Any]:
        return add_site(
            actor, organisation_id, name, kind, region, self.uows(), self.regions, self.clock
        )

    def record_scan(self, actor: Actor, request: ScanRequest) -> dict[str, Any]:
        """POST /scans: the route runs this bound method in its write lane, as it ran the
        function."""
        return record_scan(actor, request, self.uows, self.regions, self.clock)

    def upload_scans(
        self, actor: Actor, device_id: str, requests: Sequence[ScanRequest]
    ) -> dict[str, Any]:
        return upload_scans(actor, device_id, requests, self.uows, self.regions, self.clock)

    def list_shipments(
        self, actor: Actor, direction: str, offset: int, limit: int
    ) -> list[dict[str, Any]]:
        return list_shipments(actor, direction, self.uows.reader(), offset, limit)

    def shipment_view(self, actor: Actor, shipment_id: str) -> dict[str, Any]:
        return shipment_view(actor, shipment_id, self.uows.reader())

    def stock_view(
        self, actor: Actor, organisation_id: int | None, offset: int, limit: int
    ) -> dict[str, Any]:
        return stock_view(actor, organisation_id, self.uows.reader(), self.clock, offset, limit)
