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

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol

from service.app.ports import (
    Clock,
    Site,
    StoredScan,
    Target,
    UnitOfWork,
    UnitOfWorkFactory,
)
from service.app.scans import alert_view
from service.domain.actor import Actor
from service.domain.alerts import Alert, AlertKind, AlertStatus, may_move
from service.domain.custody import (
    Custody,
    ScanAction,
    ScanOutcome,
    diversion_key,
    find_diversion,
    validate_ref,
    validate_site,
    validate_time,
)
from service.domain.errors import (
    AlertNotFoundError,
    AlertStateError,
    ClientEventReusedError,
    CodeNotFoundError,
    InvalidChannelError,
    InvalidRequestError,
    InvalidScanError,
    NotAddressedError,
    NotHeldError,
    OrganisationNotFoundError,
    PermissionDeniedError,
    ShipmentNotFoundError,
    SiteNotFoundError,
    TracecertError,
)
from service.domain.events import (
    AlertRaised,
    AlertStatusChanged,
    CaseOpened,
    ChannelParentSet,
    Event,
    GoodsDispatched,
    GoodsReceived,
    RegionsLoaded,
    SiteRegistered,
    TerritoriesSet,
    canonical_json,
)
from service.domain.gs1 import parse_code
from service.domain.organisations import Organisation
from service.domain.regions import RegionTree, validate_custom_regions
from service.domain.roles import OrganisationKind, Permission, Role

MAX_UPLOAD = 5_000
#: Organisations whose goods may go anywhere: the territory begins with their dispatch.
UNRESTRICTED_KINDS = frozenset({OrganisationKind.BRAND, OrganisationKind.FACTORY})
CHANNEL_KINDS = frozenset({OrganisationKind.DISTRIBUTOR, OrganisationKind.STORE})


class RegionDirectory(Protocol):
    """The region tree, loaded once and reloaded when a custom tree is added."""

    def tree(self) -> RegionTree: ...
    def reload(self) -> None: ...


# ----------------------------------------------------------------------------- views
def _org(org: Organisation | None) -> dict[str, Any] | None:
    if org is None:
        return None
    return {"organisation_id": org.id, "name": org.name, "kind": org.kind.value}


def _site_view(site: Site, tree: RegionTree) -> dict[str, Any]:
    return {
        "id": site.id,
        "organisation_id": site.organisation_id,
        "name": site.name,
        "kind": site.kind,
        "region": site.region_code,
        "region_path": tree.path(site.region_code) if site.region_code in tree else None,
    }


def _region_view(tree: RegionTree, code: str) -> dict[str, Any]:
    region = tree.require(code)
    return {
        "code": region.code,
        "name": region.name,
        "level": region.level,
        "parent": region.parent_code,
        "path": tree.path(code),
    }


# ----------------------------------------------------------------------------- regions
def list_regions(regions: RegionDirectory, parent: str | None) -> list[dict[str, Any]]:
    tree = regions.tree()
    if parent is not None:
        tree.require(parent)
    return [_region_view(tree, r.code) for r in tree.children(parent)]


def get_region(regions: RegionDirectory, code: str) -> dict[str, Any]:
    return _region_view(regions.tree(), code)


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
        "territories": [_region_view(tree, c) for c in clean],
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
        except Exception as exc:
            if getattr(exc, "constraint", None) is not None:
                raise InvalidChannelError(f"The organisation has a site named {clean!r}.") from exc
            raise
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
        "children": [_org(c) for c in children],
        "territories": [_region_view(tree, c) for c in territory if c in tree],
        "sites": [_site_view(s, tree) for s in sites],
    }


# ----------------------------------------------------------------------------- scans
@dataclass(frozen=True)
class ScanRequest:
    """One scan as a scanner sends it (online, or in an offline upload)."""

    action: str
    code: str
    client_event_id: str | None = None
    time: datetime | None = None
    site_id: int | None = None
    region: str | None = None
    shipment: str | None = None
    receiver_id: int | None = None

    def request_hash(self) -> bytes:
        body = {
            "action": self.action,
            "code": self.code,
            "time": self.time.isoformat() if self.time else None,
            "site_id": self.site_id,
            "region": self.region,
            "shipment": self.shipment,
            "receiver_id": self.receiver_id,
        }
        return hashlib.sha256(canonical_json(body)).digest()


@dataclass
class _Context:
    uow: UnitOfWork
    tree: RegionTree
    actor: Actor
    org: Organisation
    now: datetime
    #: Units and loose items the applied scans changed (pending scans on them may now apply).
    touched_units: set[int]
    touched_items: set[int]
    #: Custody changes applied by this request: (units, items) and when they happened.
    changed: list[tuple[tuple[set[int], set[int]], datetime]] = field(default_factory=list)


class _Wait(Exception):
    """A scan that cannot apply yet; offline it waits (pending), online it is refused."""

    def __init__(self, error: TracecertError) -> None:
        super().__init__(error.detail)
        self.error = error


SCANNING_ROLES = frozenset({Role.FACTORY, Role.DISTRIBUTOR, Role.STORE, Role.ADMIN})


def _scanning_org(uow: UnitOfWork, actor: Actor) -> Organisation:
    if actor.role not in SCANNING_ROLES or actor.organisation_id is None:
        raise PermissionDeniedError(
            f"The role '{actor.role}' may not scan goods; use a factory, distributor or store key."
        )
    org = uow.organisations.get(actor.organisation_id)
    assert org is not None
    return org


def _validate(
    uow: UnitOfWork, tree: RegionTree, org: Organisation, request: ScanRequest, now: datetime
) -> StoredScan:
    """Check a scan's shape, its time, site, region and code; no state is read beyond that."""
    try:
        action = ScanAction(request.action)
    except ValueError:
        raise InvalidScanError(
            "The action is one of: " + ", ".join(a.value for a in ScanAction) + "."
        ) from None
    at = validate_time(request.time or now, now)
    client_event_id = (
        validate_ref(request.client_event_id, "client event id")
        if request.client_event_id is not None
        else "srv-" + uuid.uuid4().hex
    )
    link = parse_code(request.code)
    if link.sscc is None and link.serial is None:
        raise InvalidScanError("Scan a case or pallet label (SSCC) or a bottle's code.")
    region = None
    if request.site_id is not None:
        site = uow.channel.site(request.site_id)
        if site is None or site.organisation_id != org.id:
            raise SiteNotFoundError()
        region = site.region_code
    elif request.region is not None:
        region = tree.require(request.region).code
    if action is not ScanAction.OBSERVE and request.site_id is None:
        raise InvalidScanError(f"A {action} scan names the site where it happens (site_id).")
    if action is ScanAction.OBSERVE and region is None:
        raise InvalidScanError("An observe scan names a site_id or a region.")
    if action is ScanAction.DISPATCH:
        if request.receiver_id is None or request.shipment is None:
            raise InvalidScanError("A dispatch names the receiver_id and the shipment reference.")
        validate_ref(request.shipment, "shipment reference")
        receiver = uow.organisations.get(request.receiver_id)
        if receiver is None or receiver.kind not in CHANNEL_KINDS or receiver.id == org.id:
            raise InvalidScanError("The receiver is another distributor or store.")
        if org.brand_scope is not None and receiver.brand_id != org.brand_scope:
            raise InvalidScanError("The receiver works for another brand.")
    elif request.shipment is not None:
        validate_ref(request.shipment, "shipment reference")
    if uow.custody.target(link.sscc, link.serial) is None:
        raise CodeNotFoundError(f"No case, pallet or item has the code {request.code!r}.")
    return StoredScan(
        id=0,
        organisation_id=org.id or 0,
        client_event_id=client_event_id,
        action=action.value,
        code=link.sscc or link.serial or request.code,
        event_time=at,
        outcome=ScanOutcome.PENDING.value,
        result={},
        request_hash=request.request_hash(),
        site_id=request.site_id,
        region_code=region,
        shipment_ref=request.shipment,
        receiver_id=request.receiver_id,
    )


def _territory(ctx: _Context, organisation_id: int | None) -> list[str] | None:
    if organisation_id is None:
        return None
    org = ctx.uow.organisations.get(organisation_id)
    if org is None or org.kind in UNRESTRICTED_KINDS:
        return None
    return ctx.uow.channel.territories([organisation_id]).get(organisation_id)


def _moving(ctx: _Context, target: Target, action: ScanAction) -> list[Target]:
    """What a scan of ``target`` moves: a pallet with its cases, a case, or a loose item."""
    if target.kind == "item" and not target.loose:
        raise InvalidScanError(
            "This bottle is in a sealed case: scan the case, or open it first (action open)."
        )
    if target.kind == "case" and target.opened_at is not None:
        raise InvalidScanError("This case was opened; scan its bottles one by one.")
    if target.kind == "pallet":
        cases = [c for c in ctx.uow.custody.pallet_cases(target.id) if c.opened_at is None]
        if action is ScanAction.DISPATCH:
            cases = [c for c in cases if c.custody.held_by(ctx.org.id or 0)]
        else:
            cases = [c for c in cases if c.custody.shipment_id == target.custody.shipment_id]
        return [target, *cases]
    return [target]


def _evidence(ctx: _Context, target: Target, region: str, responsible: int) -> dict[str, Any]:
    tree = ctx.tree
    territory = _territory(ctx, responsible) or []
    return {
        "code": target.code,
        "kind": target.kind,
        "items": target.items,
        "expected_territory": [_region_view(tree, c) for c in territory if c in tree],
        "responsible": _org(ctx.uow.organisations.get(responsible)),
        "actual_region": _region_view(tree, region),
        "scanned_by": _org(ctx.org),
        "chain_of_custody": ctx.uow.custody.history(target),
    }


def _raise_diversion(
    ctx: _Context,
    targets: list[Target],
    region: str,
    responsible: int,
    shipment_public_id: str | None,
    shipment_id: int | None,
    at: datetime,
) -> dict[str, Any]:
    head = targets[0]
    batch = ctx.uow.batches.get_by_id(head.batch_id)
    if head.custody.alert_id is not None:
        # Goods already flagged (e.g. a bottle of a diverted case scanned later): the same alert.
        linked = ctx.uow.alerts.repeat(head.custody.alert_id, ctx.now)
        if linked is not None:
            return {
                "id": linked.id,
                "kind": linked.kind.value,
                "count": linked.count,
                "responsible": _org(ctx.uow.organisations.get(linked.responsible_id or 0)),
                "new": False,
            }
    evidence = _evidence(ctx, head, region, responsible)
    evidence["time"] = at.isoformat()
    alert, new = ctx.uow.alerts.raise_or_repeat(
        Alert(
            kind=AlertKind.DIVERSION,
            dedupe_key=diversion_key(head.code, shipment_public_id),
            brand_id=batch.brand_id if batch else None,
            batch_id=head.batch_id,
            serial=head.code if head.kind == "item" else None,
            detail=evidence,
            responsible_id=responsible,
            scanner_id=ctx.org.id,
            shipment_id=shipment_id,
        ),
        ctx.now,
    )
    assert alert.id is not None
    if new:
        ctx.uow.events.append(
            AlertRaised(
                alert.id,
                AlertKind.DIVERSION.value,
                batch.public_id if batch else None,
                head.code if head.kind == "item" else None,
                head.code,
                responsible,
            ),
            ctx.now,
        )
    ctx.uow.custody.set_alert(targets, alert.id)
    return {
        "id": alert.id,
        "kind": AlertKind.DIVERSION.value,
        "count": alert.count,
        "responsible": evidence["responsible"],
        "new": new,
    }


def _apply(ctx: _Context, scan: StoredScan) -> dict[str, Any]:
    """Apply one validated scan; raise _Wait if it must wait for an event not known yet."""
    link = parse_code(scan.code)
    target = ctx.uow.custody.target(link.sscc, link.serial)
    if target is None:
        raise CodeNotFoundError()
    action = ScanAction(scan.action)
    org_id = ctx.org.id
    assert org_id is not None
    result: dict[str, Any] = {
        "client_event_id": scan.client_event_id,
        "action": action.value,
        "code": target.code,
        "kind": target.kind,
        "items": target.items,
        "region": scan.region_code,
        "shipment": None,
        "alert": None,
    }
    events: list[Event] = []
    at = scan.event_time
    if action is ScanAction.DISPATCH:
        moving = _moving(ctx, target, action)
        if not all(t.custody.held_by(org_id) for t in moving):
            raise _Wait(NotHeldError())
        assert scan.shipment_ref is not None and scan.receiver_id is not None
        shipment = ctx.uow.custody.shipment_by_ref(org_id, scan.shipment_ref)
        if shipment is None:
            shipment = ctx.uow.custody.add_shipment(
                "s_" + uuid.uuid4().hex[:24],
                scan.shipment_ref,
                org_id,
                scan.receiver_id,
                scan.site_id,
                at,
            )
        elif shipment.receiver_id != scan.receiver_id:
            raise InvalidScanError(
                f"Shipment {scan.shipment_ref!r} goes to another receiver; use a new reference."
            )
        for t in moving:
            ctx.uow.custody.set_custody([t], replace(t.custody, shipment_id=shipment.id))
        ctx.uow.custody.add_lines(shipment.id, moving, dispatched=True)
        ctx.uow.custody.update_shipment_status(shipment.id, at)
        result["shipment"] = shipment.public_id
        events.append(
            GoodsDispatched(
                shipment.public_id,
                org_id,
                scan.receiver_id,
                target.code,
                target.items,
                scan.site_id,
                at.isoformat(),
            )
        )
        result["holder"] = org_id
    elif action is ScanAction.RECEIVE:
        moving = _moving(ctx, target, action)
        head = moving[0].custody
        if head.held_by(org_id):
            result["holder"] = org_id  # received already: nothing more to do
            result["already"] = True
            return result
        named = None
        if scan.shipment_ref is not None:
            named = ctx.uow.custody.shipment_by_public_id(scan.shipment_ref)
            if named is None or named.receiver_id != org_id:
                raise ShipmentNotFoundError()
        if head.shipment_id is not None:
            shipment = ctx.uow.custody.shipment(head.shipment_id)
            assert shipment is not None
            if shipment.receiver_id != org_id:
                raise _Wait(NotAddressedError())
            extra = False
        elif named is not None and head.holder_id == named.sender_id:
            shipment, extra = named, True  # handed over without being scanned out: extra
        else:
            raise _Wait(NotAddressedError("Nobody shipped these goods to you (yet)."))
        assert scan.region_code is not None
        diversion = find_diversion(
            ctx.tree, head.authorised_id, _territory(ctx, head.authorised_id), scan.region_code
        )
        if extra:
            ctx.uow.custody.add_lines(shipment.id, moving, dispatched=False)
        ctx.uow.custody.receive_lines(shipment.id, moving, at, scan.site_id)
        for t in moving:
            ctx.uow.custody.set_custody(
                [t],
                Custody(
                    holder_id=org_id,
                    authorised_id=t.custody.authorised_id if diversion else org_id,
                    site_id=scan.site_id,
                    since=at,
                    shipment_id=None,
                    alert_id=t.custody.alert_id,
                ),
            )
        status = ctx.uow.custody.update_shipment_status(shipment.id, at)
        result.update(
            shipment=shipment.public_id,
            shipment_status=status,
            extra=extra,
            holder=org_id,
            authorised=diversion is None,
        )
        events.append(
            GoodsReceived(
                shipment.public_id,
                org_id,
                target.code,
                target.items,
                scan.site_id,
                scan.region_code,
                diversion is None,
                at.isoformat(),
            )
        )
        if diversion is not None:
            result["alert"] = _raise_diversion(
                ctx,
                moving,
                scan.region_code,
                diversion.responsible_id,
                shipment.public_id,
                shipment.id,
                at,
            )
    elif action is ScanAction.OPEN:
        if target.kind != "case":
            raise InvalidScanError("Only a case is opened; scan its SSCC.")
        if target.opened_at is not None:
            result["already"] = True
            return result
        if not target.custody.held_by(org_id):
            raise _Wait(NotHeldError("You do not hold this case (or it is in transit)."))
        ctx.uow.custody.open_case(target, at)
        events.append(CaseOpened(target.code, org_id, scan.site_id, at.isoformat()))
        result["holder"] = org_id
    else:  # observe
        custody = target.custody
        assert scan.region_code is not None
        diversion = find_diversion(
            ctx.tree,
            custody.authorised_id,
            _territory(ctx, custody.authorised_id),
            scan.region_code,
        )
        result["holder"] = custody.holder_id
        result["authorised"] = diversion is None
        if diversion is not None:
            carrier = target
            if target.kind == "item" and not target.loose and target.parent_id is not None:
                # The sealed case carries the custody and the link to its alert.
                carrier = ctx.uow.custody.unit_target(target.parent_id) or target
            last = ctx.uow.custody.last_shipment(carrier, at)
            result["alert"] = _raise_diversion(
                ctx,
                [carrier],
                scan.region_code,
                diversion.responsible_id,
                last.public_id if last else None,
                last.id if last else None,
                at,
            )
    for event in events:
        ctx.uow.events.append(event, ctx.now)
    moved = _moving_ids(ctx, target, action)
    ctx.touched_units.update(moved[0])
    ctx.touched_items.update(moved[1])
    if action is not ScanAction.OBSERVE:
        ctx.changed.append((moved, at))
    return result


def _reconsider_observations(ctx: _Context) -> None:
    """Observations made after a custody change but applied before it was known (an offline
    upload out of order) are checked again once every scan of the request is applied, so the
    alerts do not depend on the order of uploads."""
    if not ctx.changed:
        return
    units = set().union(*(m[0] for m, _ in ctx.changed))
    items = set().union(*(m[1] for m, _ in ctx.changed))
    after = min(at for _, at in ctx.changed)
    ctx.changed.clear()
    for scan in ctx.uow.custody.observations_after(sorted(units), sorted(items), after):
        if scan.result.get("alert") is not None:
            continue
        org = ctx.uow.organisations.get(scan.organisation_id)
        if org is None:
            continue
        result = _apply(
            replace(ctx, org=org, touched_units=set(), touched_items=set(), changed=[]), scan
        )
        if result.get("alert") is not None:
            result["outcome"] = ScanOutcome.APPLIED.value
            ctx.uow.custody.set_scan_outcome(scan.id, ScanOutcome.APPLIED.value, result, None)


def _moving_ids(ctx: _Context, target: Target, action: ScanAction) -> tuple[set[int], set[int]]:
    units: set[int] = set()
    items: set[int] = set()
    if target.kind == "item":
        items.add(target.id)
        if target.parent_id is not None:
            units.add(target.parent_id)
    else:
        units.add(target.id)
        if target.parent_id is not None:
            units.add(target.parent_id)
        if target.kind == "pallet":
            units.update(c.id for c in ctx.uow.custody.pallet_cases(target.id))
        if target.kind == "case" and action is ScanAction.OPEN:
            items.update(i.id for i in ctx.uow.custody.case_items(target.id))
    return units, items


def _record(ctx: _Context, scan: StoredScan, online: bool) -> dict[str, Any]:
    """Store and apply one validated scan (or answer as the first time, for a repeat)."""
    uow = ctx.uow
    stored = uow.custody.scan_event(scan.organisation_id, scan.client_event_id)
    if stored is not None:
        if stored.request_hash != scan.request_hash:
            raise ClientEventReusedError()
        return {**stored.result, "outcome": ScanOutcome.DUPLICATE.value}
    link = parse_code(scan.code)
    target = uow.custody.target(link.sscc, link.serial)
    assert target is not None
    try:
        if not online and _waits_behind(ctx, target, scan):
            raise _Wait(
                InvalidScanError("An earlier scan of these goods is waiting; this one follows it.")
            )
        result = _apply(ctx, scan)
        outcome = ScanOutcome.APPLIED
    except _Wait as wait:
        if online:
            raise wait.error from None
        result = {
            "client_event_id": scan.client_event_id,
            "action": scan.action,
            "code": target.code,
            "waiting_for": wait.error.code,
            "detail": wait.error.detail,
        }
        outcome = ScanOutcome.PENDING
    result["outcome"] = outcome.value
    shipment_id = None
    if result.get("shipment"):
        shipment = uow.custody.shipment_by_public_id(result["shipment"])
        shipment_id = shipment.id if shipment else None
    uow.custody.add_scan_event(
        replace(scan, outcome=outcome.value, result=result),
        unit_id=None if target.kind == "item" else target.id,
        item_id=target.id if target.kind == "item" else None,
        shipment_id=shipment_id,
        recorded_at=ctx.now,
    )
    return result


def _waits_behind(ctx: _Context, target: Target, scan: StoredScan) -> bool:
    """Whether an earlier scan of the same goods (or their case, pallet) is still pending:
    scans of one unit apply in the order they were made, whatever the upload order."""
    units, items = _moving_ids(ctx, target, ScanAction(scan.action))
    return any(
        p.id != scan.id
        and (p.event_time, p.client_event_id) < (scan.event_time, scan.client_event_id)
        for p in ctx.uow.custody.pending_scans(sorted(units), sorted(items))
    )


def _retry_pending(ctx: _Context) -> None:
    """Apply waiting scans that the scans just applied may have unblocked, until none can."""
    for _ in range(64):
        pending = ctx.uow.custody.pending_scans(
            sorted(ctx.touched_units), sorted(ctx.touched_items)
        )
        progressed = False
        for scan in pending:
            org = ctx.uow.organisations.get(scan.organisation_id)
            if org is None:
                continue
            sub = replace(ctx, org=org, touched_units=set(), touched_items=set(), changed=[])
            link = parse_code(scan.code)
            target = ctx.uow.custody.target(link.sscc, link.serial)
            if target is None or _waits_behind(sub, target, scan):
                continue
            try:
                result = _apply(sub, scan)
            except _Wait:
                continue
            result["outcome"] = ScanOutcome.APPLIED.value
            shipment = (
                ctx.uow.custody.shipment_by_public_id(result["shipment"])
                if result.get("shipment")
                else None
            )
            ctx.uow.custody.set_scan_outcome(
                scan.id, ScanOutcome.APPLIED.value, result, shipment.id if shipment else None
            )
            ctx.touched_units |= sub.touched_units
            ctx.touched_items |= sub.touched_items
            ctx.changed.extend(sub.changed)
            progressed = True
        if not progressed:
            return


def record_scan(
    actor: Actor,
    request: ScanRequest,
    uow_factory: UnitOfWorkFactory,
    regions: RegionDirectory,
    clock: Clock,
) -> dict[str, Any]:
    """One online scan: applied at once with any diversion alert, or refused writing nothing."""
    tree = regions.tree()
    with uow_factory() as uow:
        org = _scanning_org(uow, actor)
        now = clock.now()
        scan = _validate(uow, tree, org, request, now)
        ctx = _Context(uow, tree, actor, org, now, set(), set())
        result = _record(ctx, scan, online=True)
        if result["outcome"] == ScanOutcome.APPLIED.value:
            _retry_pending(ctx)
            _reconsider_observations(ctx)
        uow.commit()
    return result


def upload_scans(
    actor: Actor,
    device_id: str,
    requests: Sequence[ScanRequest],
    uow_factory: UnitOfWorkFactory,
    regions: RegionDirectory,
    clock: Clock,
) -> dict[str, Any]:
    """An offline scanner's upload: all validated first (any bad scan refuses the upload and
    writes nothing), then applied in time order; repeats answer as the first time."""
    validate_ref(device_id, "device id")
    if not requests:
        raise InvalidScanError("An upload has at least one scan.")
    if len(requests) > MAX_UPLOAD:
        raise InvalidScanError(f"An upload has at most {MAX_UPLOAD:,} scans; split the file.")
    if any(r.client_event_id is None for r in requests):
        raise InvalidScanError("Every uploaded scan carries its client_event_id.")
    ids = [r.client_event_id for r in requests]
    if len(set(ids)) != len(ids):
        raise InvalidScanError("Two scans of the upload share a client_event_id.")
    if any(r.time is None for r in requests):
        raise InvalidScanError("Every uploaded scan carries the time it was made.")
    tree = regions.tree()
    with uow_factory() as uow:
        org = _scanning_org(uow, actor)
        now = clock.now()
        scans = []
        for n, request in enumerate(requests):
            try:
                scans.append(replace(_validate(uow, tree, org, request, now), device_id=device_id))
            except TracecertError as exc:
                exc.detail = f"Scan {n} ({request.client_event_id}): {exc.detail}"
                raise
        ctx = _Context(uow, tree, actor, org, now, set(), set())
        results: dict[str, dict[str, Any]] = {}
        for scan in sorted(scans, key=lambda s: (s.event_time, s.client_event_id)):
            results[scan.client_event_id] = _record(ctx, scan, online=False)
        _retry_pending(ctx)
        _reconsider_observations(ctx)
        # Report what the scans are now (a pending one may have applied since).
        final = {
            cid: {**r, "outcome": _outcome_now(uow, org.id or 0, cid, r)}
            for cid, r in results.items()
        }
        uow.commit()
    counts: dict[str, int] = {}
    for r in final.values():
        counts[r["outcome"]] = counts.get(r["outcome"], 0) + 1
    return {
        "device_id": device_id,
        "counts": counts,
        "results": [final[cid] for cid in ids if cid is not None],
    }


def _outcome_now(uow: UnitOfWork, org_id: int, client_event_id: str, first: dict[str, Any]) -> str:
    if first["outcome"] == ScanOutcome.DUPLICATE.value:
        return ScanOutcome.DUPLICATE.value
    stored = uow.custody.scan_event(org_id, client_event_id)
    return stored.outcome if stored else str(first["outcome"])


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
        "sender": _org(sender),
        "receiver": _org(receiver),
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
        "organisation": _org(org),
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


# ----------------------------------------------------------------------------- alerts
def _visible_alert(uow: UnitOfWork, actor: Actor, alert_id: int) -> Alert:
    alert = uow.alerts.get(alert_id)
    if alert is None:
        raise AlertNotFoundError()
    if actor.role is Role.ADMIN:
        return alert
    if actor.role in (Role.BRAND, Role.AUDITOR) and actor.sees_brand(alert.brand_id):
        return alert
    if alert.visible_to(actor.organisation_id):
        return alert
    raise AlertNotFoundError()


def get_alert(actor: Actor, alert_id: int, uow: UnitOfWork) -> dict[str, Any]:
    with uow:
        return alert_view(_visible_alert(uow, actor, alert_id))


def set_alert_status(
    actor: Actor, alert_id: int, status: str, note: str | None, uow: UnitOfWork, clock: Clock
) -> dict[str, Any]:
    """The brand (or an auditor) confirms or dismisses an open alert, with a note."""
    if actor.role not in (Role.ADMIN, Role.BRAND, Role.AUDITOR):
        raise PermissionDeniedError("Only the brand, its auditors or an admin decide on alerts.")
    try:
        wanted = AlertStatus(status)
    except ValueError:
        raise InvalidRequestError("status is 'confirmed' or 'dismissed'.") from None
    if note is not None and (len(note) > 2000 or "\x00" in note):
        raise InvalidRequestError("A note has at most 2,000 characters.")
    with uow:
        alert = _visible_alert(uow, actor, alert_id)
        if not may_move(alert.status, wanted):
            raise AlertStateError(f"The alert is {alert.status}; it cannot become {wanted}.")
        now = clock.now()
        if not uow.alerts.set_status(alert_id, alert.status, wanted, note, now):
            raise AlertStateError("The alert changed meanwhile; read it again.")
        uow.events.append(AlertStatusChanged(alert_id, wanted.value, actor.principal_id), now)
        uow.commit()
        fresh = uow.alerts.get(alert_id)
    assert fresh is not None
    return alert_view(fresh)
