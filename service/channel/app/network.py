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
from typing import Any

from service.channel.app.regions import region_view
from service.channel.app.scanning import CHANNEL_KINDS
from service.channel.domain.custody import (
    validate_ref,
    validate_site,
)
from service.channel.domain.errors import InvalidChannelError
from service.channel.domain.events import (
    ChannelParentSet,
    RegionsLoaded,
    SiteRegistered,
    TerritoriesSet,
)
from service.channel.domain.regions import RegionTree, validate_custom_regions
from service.channel.ports import ChannelUnitOfWork, RegionDirectory, Site
from service.identity.interface import Organisation, OrganisationNotFoundError, party
from service.kernel.actor import Actor
from service.kernel.errors import PermissionDeniedError
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
    uow: ChannelUnitOfWork,
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
def _manageable(uow: ChannelUnitOfWork, actor: Actor, organisation_id: int) -> Organisation:
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
    uow: ChannelUnitOfWork,
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
    actor: Actor, organisation_id: int, parent_id: int | None, uow: ChannelUnitOfWork, clock: Clock
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
    uow: ChannelUnitOfWork,
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
    actor: Actor, organisation_id: int, uow: ChannelUnitOfWork, regions: RegionDirectory
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
