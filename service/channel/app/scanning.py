"""Scans that move goods through the channel, applied in sessions.

A session applies one online scan or one offline upload in one transaction: it reads every case,
pallet, item and waiting scan the request touches up front, applies the scans in memory in time
order (checking diversion as it goes), and writes what changed in bulk. Thousands of scans cost
a few dozen queries, so an upload of pallets and cases runs at tens of thousands of item-scans
per second, and a single case scan is a handful of queries.

Semantics (see ``service.channel.domain.custody``):

* ``dispatch`` puts goods the sender holds into its shipment (created by its reference);
* ``receive`` takes goods in transit to the receiver (or handed over without being scanned out:
  an *extra* line of a named shipment); outside the authorised holder's territory the goods stay
  that holder's responsibility and a diversion alert names it;
* ``open`` opens a case: its items travel on their own;
* ``observe`` looks at goods where they are: only the diversion check.

Online, a scan that cannot apply yet is refused (4xx, nothing written). Uploaded, it waits
(*pending*) and applies as soon as the scan it waits for arrives; scans of the same goods apply in
the order they were made, and observations are checked again once earlier custody changes are
known, so uploads give the same state in any order.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from service.channel.app.scan_session import Key, ScanSession, key_of, raise_diversion_alert
from service.channel.domain.custody import (
    Custody,
    ScanAction,
    ScanOutcome,
    find_diversion,
    validate_ref,
    validate_time,
)
from service.channel.domain.errors import (
    ClientEventReusedError,
    InvalidScanError,
    NotAddressedError,
    NotHeldError,
    ShipmentNotFoundError,
    SiteNotFoundError,
)
from service.channel.domain.events import CaseOpened, GoodsDispatched, GoodsReceived
from service.channel.ports import (
    ChannelUnitOfWork,
    ChannelUnitOfWorkFactory,
    RegionDirectory,
    StoredScan,
    Target,
)
from service.factory.interface import CodeNotFoundError
from service.identity.interface import Organisation
from service.kernel.actor import Actor
from service.kernel.errors import PermissionDeniedError, TracecertError
from service.kernel.events import canonical_json
from service.kernel.ports import Clock
from service.kernel.roles import OrganisationKind, Role

MAX_UPLOAD = 5_000


CHANNEL_KINDS = frozenset({OrganisationKind.DISTRIBUTOR, OrganisationKind.STORE})


SCANNING_ROLES = frozenset({Role.FACTORY, Role.DISTRIBUTOR, Role.STORE, Role.ADMIN})


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
        import hashlib

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


class _Wait(Exception):
    """A scan that cannot apply yet; offline it waits (pending), online it is refused.

    ``waiting_for`` names what it waits for in the upload's answer (the error's code unless
    said otherwise)."""

    def __init__(self, error: TracecertError, waiting_for: str | None = None) -> None:
        super().__init__(error.detail)
        self.error = error
        self.waiting_for = waiting_for or error.code


# ----------------------------------------------------------------------------- validation
def scanning_org(uow: ChannelUnitOfWork, actor: Actor) -> Organisation:
    if actor.role not in SCANNING_ROLES or actor.organisation_id is None:
        raise PermissionDeniedError(
            f"The role '{actor.role}' may not scan goods; use a factory, distributor or store key."
        )
    org = uow.organisations.get(actor.organisation_id)
    assert org is not None
    return org


def _validate(
    session: ScanSession, org: Organisation, request: ScanRequest, sites: dict[int, Any]
) -> StoredScan:
    """Check a scan's shape, time, site, region, receiver and code (that the code exists)."""
    try:
        action = ScanAction(request.action)
    except ValueError:
        raise InvalidScanError(
            "The action is one of: " + ", ".join(a.value for a in ScanAction) + "."
        ) from None
    at = validate_time(request.time or session.now, session.now)
    client_event_id = (
        validate_ref(request.client_event_id, "client event id")
        if request.client_event_id is not None
        else "srv-" + uuid.uuid4().hex
    )
    link = session.link(request.code)
    if link.sscc is None and link.serial is None:
        raise InvalidScanError("Scan a case or pallet label (SSCC) or a bottle's code.")
    if request.region is not None:
        # A sighting is judged where the scanner is registered, never at a region it names:
        # a free region let any partner open alerts against anyone (docs/diversion.md).
        raise InvalidScanError(
            "A scan is judged at the site where it happens: send site_id (one of your sites), "
            "not a region."
        )
    site_id = request.site_id
    if site_id is None and action is ScanAction.OBSERVE:
        site_id = _only_site(session, org)
    if site_id is None:
        raise InvalidScanError(f"A {action} scan names the site where it happens (site_id).")
    if site_id not in sites:
        sites[site_id] = session.uow.channel.site(site_id)
    site = sites[site_id]
    if site is None or site.organisation_id != org.id:
        raise SiteNotFoundError()
    region = site.region_code
    if action is ScanAction.DISPATCH:
        if request.receiver_id is None or request.shipment is None:
            raise InvalidScanError("A dispatch names the receiver_id and the shipment reference.")
        validate_ref(request.shipment, "shipment reference")
        receiver = session.org(request.receiver_id)
        if receiver is None or receiver.kind not in CHANNEL_KINDS or receiver.id == org.id:
            raise InvalidScanError("The receiver is another distributor or store.")
        if org.brand_scope is not None and receiver.brand_id != org.brand_scope:
            raise InvalidScanError("The receiver works for another brand.")
    elif request.shipment is not None:
        validate_ref(request.shipment, "shipment reference")
    code = link.sscc or link.serial or request.code
    target = session.target(code)  # raises CodeNotFoundError
    batch = session.batch(target.batch_id)
    if org.kind is not OrganisationKind.PLATFORM and (
        batch is None or batch.brand_id is None or batch.brand_id != org.brand_scope
    ):
        # Another brand's goods are not there for this partner: the same answer as an unknown
        # code, so a sighting never learns whose they are, who holds them, or where.
        raise CodeNotFoundError(f"No case, pallet or item has the code {code!r}.")
    return StoredScan(
        id=0,
        organisation_id=org.id or 0,
        client_event_id=client_event_id,
        action=action.value,
        code=code,
        event_time=at,
        outcome=ScanOutcome.PENDING.value,
        result={},
        request_hash=request.request_hash(),
        site_id=site_id,
        region_code=region,
        shipment_ref=request.shipment,
        receiver_id=request.receiver_id,
    )


def _only_site(session: ScanSession, org: Organisation) -> int:
    """The site of an organisation that has one: an observation may leave it unnamed."""
    if session.own_sites is None:
        session.own_sites = [s.id for s in session.uow.channel.sites(org.id or 0)]
    if len(session.own_sites) != 1:
        raise InvalidScanError(
            "An observation names the site where you look at the goods (site_id): "
            + (
                "register your site first (POST /organisations/{id}/sites)."
                if not session.own_sites
                else "you have several sites."
            )
        )
    return session.own_sites[0]


# ----------------------------------------------------------------------------- applying
def _moving(session: ScanSession, org_id: int, target: Target, action: ScanAction) -> list[Target]:
    """What a scan of ``target`` moves: a pallet with its cases, a case, or a loose item."""
    if target.kind == "item" and not target.loose:
        # Offline, the case's opening may be in an upload still to come: wait for it.
        raise _Wait(
            InvalidScanError(
                "This bottle is in a sealed case: scan the case, or open it first (action open)."
            ),
            waiting_for="case_opened",
        )
    if target.kind == "case" and target.opened_at is not None:
        raise InvalidScanError("This case was opened; scan its bottles one by one.")
    if target.kind == "pallet":
        cases = [session.targets[("unit", c)] for c in session.pallet_cases.get(target.id, [])]
        cases = [c for c in cases if c.opened_at is None]
        if action is ScanAction.DISPATCH:
            cases = [c for c in cases if c.custody.held_by(org_id)]
        else:
            cases = [c for c in cases if c.custody.shipment_id == target.custody.shipment_id]
        return [target, *cases]
    return [target]


def _touched(session: ScanSession, target: Target) -> set[Key]:
    keys: set[Key] = {key_of(target)}
    if target.parent_id is not None:
        keys.add(("unit", target.parent_id))
    if target.kind == "pallet":
        keys |= {("unit", c) for c in session.pallet_cases.get(target.id, [])}
    return keys


def _apply(session: ScanSession, org: Organisation, scan: StoredScan) -> dict[str, Any]:
    """Apply one validated scan; raise _Wait if it must wait for an event not known yet."""
    target = session.target(scan.code)
    action = ScanAction(scan.action)
    org_id = org.id
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
    at = scan.event_time
    if action is ScanAction.DISPATCH:
        moving = _moving(session, org_id, target, action)
        if not all(t.custody.held_by(org_id) for t in moving):
            raise _Wait(NotHeldError())
        assert scan.shipment_ref is not None and scan.receiver_id is not None
        shipment = session.shipment_by_ref(org_id, scan.shipment_ref)
        if shipment is None:
            shipment = session.new_shipment(
                org_id, scan.shipment_ref, scan.receiver_id, scan.site_id, at
            )
        elif shipment.receiver_id != scan.receiver_id:
            raise InvalidScanError(
                f"Shipment {scan.shipment_ref!r} goes to another receiver; use a new reference."
            )
        for t in moving:
            session.set_custody(t, replace(t.custody, shipment_id=shipment.id))
            session.new_lines.append((shipment.id, t.kind, t.id, t.items, True))
        counted = sum(1 for t in moving if t.kind != "pallet")
        session.count_lines(shipment, dispatched=counted, at=at)
        result.update(shipment=shipment.public_id, holder=org_id)
        session.events.append(
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
    elif action is ScanAction.RECEIVE:
        moving = _moving(session, org_id, target, action)
        head = moving[0].custody
        if head.held_by(org_id):
            result.update(holder=org_id, already=True)  # received already: nothing to do
            return result
        named = None
        if scan.shipment_ref is not None:
            named = session.shipment_by_public_id(scan.shipment_ref)
            if named is None or named.receiver_id != org_id:
                raise ShipmentNotFoundError()
        if head.shipment_id is not None:
            shipment = session.shipment(head.shipment_id)
            if shipment.receiver_id != org_id:
                raise _Wait(NotAddressedError())
            extra = False
        elif named is not None and head.holder_id == named.sender_id:
            shipment, extra = named, True  # handed over without being scanned out: extra
        else:
            raise _Wait(NotAddressedError("Nobody shipped these goods to you (yet)."))
        assert scan.region_code is not None
        diversion = find_diversion(
            session.tree,
            head.authorised_id,
            session.territory(head.authorised_id),
            scan.region_code,
        )
        counted = sum(1 for t in moving if t.kind != "pallet")
        for t in moving:
            if extra:
                session.new_lines.append((shipment.id, t.kind, t.id, t.items, False))
            session.receipts.append((shipment.id, t.kind, t.id, at, scan.site_id))
            session.set_custody(
                t,
                Custody(
                    holder_id=org_id,
                    authorised_id=t.custody.authorised_id if diversion else org_id,
                    site_id=scan.site_id,
                    since=at,
                    shipment_id=None,
                    alert_id=t.custody.alert_id,
                ),
            )
        shipment = session.count_lines(
            shipment,
            received=0 if extra else counted,
            extra=counted if extra else 0,
            at=at,
        )
        result.update(
            shipment=shipment.public_id,
            shipment_status=shipment.status,
            extra=extra,
            holder=org_id,
            authorised=diversion is None,
        )
        session.events.append(
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
            result["alert"] = raise_diversion_alert(
                session,
                org,
                [session.targets[key_of(t)] for t in moving],
                scan.region_code,
                diversion.responsible_id,
                shipment,
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
        session.opened.append((target.id, at, target.custody))
        key = key_of(target)
        session.targets[key] = replace(target, opened_at=at)
        # Its items now travel on their own, with the case's custody.
        for item_key, item in list(session.targets.items()):
            if item.kind == "item" and item.parent_id == target.id:
                session.targets[item_key] = replace(item, loose=True, custody=target.custody)
        session.events.append(CaseOpened(target.code, org_id, scan.site_id, at.isoformat()))
        result["holder"] = org_id
    else:  # observe
        custody = session.custody(target)
        assert scan.region_code is not None
        diversion = find_diversion(
            session.tree,
            custody.authorised_id,
            session.territory(custody.authorised_id),
            scan.region_code,
        )
        # Whether the goods are out of place, never who holds them (unless the scanner does).
        result["authorised"] = diversion is None
        if custody.holder_id == org_id:
            result["holder"] = org_id
        if diversion is not None:
            carrier = session.carrier(target)  # a sealed case also carries the alert link
            session.flush()
            last = session.uow.custody.last_shipment(carrier, at)
            result["alert"] = raise_diversion_alert(
                session, org, [carrier], scan.region_code, diversion.responsible_id, last, at
            )
    touched = _touched(session, target)
    if action is not ScanAction.OBSERVE:
        session.changed.append((touched, at))
    return result


def _waits_behind(session: ScanSession, scan: StoredScan) -> bool:
    """Whether an earlier scan of the same goods (or their case, pallet) still waits: scans of
    one unit apply in the order they were made, whatever the upload order."""
    mine = _touched(session, session.target(scan.code))
    for (org, cid), other in session.pending.items():
        if (org, cid) == (scan.organisation_id, scan.client_event_id):
            continue
        if (other.event_time, other.client_event_id) >= (scan.event_time, scan.client_event_id):
            continue
        if mine & _touched(session, session.target(other.code)):
            return True
    return False


def _record(
    session: ScanSession,
    org: Organisation,
    scan: StoredScan,
    online: bool,
    known: StoredScan | None,
) -> dict[str, Any]:
    """Apply one validated scan (or answer as the first time, for a repeat) and buffer its row."""
    if known is not None:
        if known.request_hash != scan.request_hash:
            raise ClientEventReusedError()
        return {**known.result, "outcome": ScanOutcome.DUPLICATE.value}
    target = session.target(scan.code)
    try:
        if not online and _waits_behind(session, scan):
            raise _Wait(
                InvalidScanError("An earlier scan of these goods is waiting; this one follows it."),
                waiting_for="earlier_scan",
            )
        result = _apply(session, org, scan)
        outcome = ScanOutcome.APPLIED
    except _Wait as wait:
        if online:
            raise wait.error from None
        result = {
            "client_event_id": scan.client_event_id,
            "action": scan.action,
            "code": target.code,
            "waiting_for": wait.waiting_for,
            "detail": wait.error.detail,
        }
        outcome = ScanOutcome.PENDING
    result["outcome"] = outcome.value
    shipment_id = None
    if result.get("shipment"):
        shipment_id = next(
            (s.id for s in session.shipments.values() if s.public_id == result["shipment"]), None
        )
    stored = replace(scan, outcome=outcome.value, result=result)
    session.new_scans[scan.client_event_id] = (
        stored,
        None if target.kind == "item" else target.id,
        target.id if target.kind == "item" else None,
        shipment_id,
    )
    if outcome is ScanOutcome.PENDING:
        session.pending[(scan.organisation_id, scan.client_event_id)] = stored
    return result


def _retry_pending(session: ScanSession) -> None:
    """Apply waiting scans that the scans just applied may have unblocked, until none can
    (each round applies at least one, so this ends)."""
    while session.pending:
        progressed = False
        for key, scan in sorted(
            session.pending.items(), key=lambda kv: (kv[1].event_time, kv[1].client_event_id)
        ):
            if key not in session.pending or _waits_behind(session, scan):
                continue
            org = session.org(scan.organisation_id)
            if org is None:
                continue
            try:
                result = _apply(session, org, scan)
            except _Wait:
                continue
            result["outcome"] = ScanOutcome.APPLIED.value
            # Applying may have flushed the session (an observation's alert): the scan's row
            # may have been written meanwhile, and the entry now carries its id.
            current = session.pending.pop(key)
            session.applied_later[key] = result
            shipment_id = next(
                (s.id for s in session.shipments.values() if s.public_id == result.get("shipment")),
                None,
            )
            if current.id == 0:  # a scan of this request, not written yet
                _, unit_id, item_id, _ = session.new_scans[current.client_event_id]
                session.new_scans[current.client_event_id] = (
                    replace(current, outcome=ScanOutcome.APPLIED.value, result=result),
                    unit_id,
                    item_id,
                    shipment_id,
                )
            else:
                session.outcomes[current.id] = (ScanOutcome.APPLIED.value, result, shipment_id)
            progressed = True
        if not progressed:
            return


def _reconsider_observations(session: ScanSession) -> None:
    """Observations made after a custody change but applied before it was known (an offline
    upload out of order) are checked again once every scan of the request is applied."""
    if not session.changed:
        return
    keys = set().union(*(k for k, _ in session.changed))
    after = min(at for _, at in session.changed)
    session.changed.clear()
    session.flush()
    units = sorted(k[1] for k in keys if k[0] == "unit")
    items = sorted(k[1] for k in keys if k[0] == "item")
    for scan in session.uow.custody.observations_after(units, items, after):
        if scan.result.get("alert") is not None:
            continue
        org = session.org(scan.organisation_id)
        if org is None:
            continue
        result = _apply(session, org, scan)
        if result.get("alert") is not None:
            result["outcome"] = ScanOutcome.APPLIED.value
            session.outcomes[scan.id] = (ScanOutcome.APPLIED.value, result, None)


# ----------------------------------------------------------------------------- use cases
def record_scan(
    actor: Actor,
    request: ScanRequest,
    uow_factory: ChannelUnitOfWorkFactory,
    regions: RegionDirectory,
    clock: Clock,
) -> dict[str, Any]:
    """One online scan: applied at once with any diversion alert, or refused writing nothing."""
    tree = regions.tree()
    with uow_factory() as uow:
        org = scanning_org(uow, actor)
        session = ScanSession(uow, tree, clock.now())
        scan = _validate(session, org, request, {})
        # An id the server made up (a fresh UUID) cannot have been seen: no need to look.
        known = (
            uow.custody.scan_event(scan.organisation_id, scan.client_event_id)
            if request.client_event_id is not None
            else None
        )
        session.load_pending()
        result = _record(session, org, scan, online=True, known=known)
        if result["outcome"] == ScanOutcome.APPLIED.value:
            _retry_pending(session)
            # A scan made now has no observation after it; one sent with an earlier time, or a
            # waiting scan it unblocked, may have.
            if request.time is not None or any(at < scan.event_time for _, at in session.changed):
                _reconsider_observations(session)
        session.flush()
        uow.commit()
    return result


def upload_scans(
    actor: Actor,
    device_id: str,
    requests: Sequence[ScanRequest],
    uow_factory: ChannelUnitOfWorkFactory,
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
    ids = [str(r.client_event_id) for r in requests]
    if len(set(ids)) != len(ids):
        raise InvalidScanError("Two scans of the upload share a client_event_id.")
    if any(r.time is None for r in requests):
        raise InvalidScanError("Every uploaded scan carries the time it was made.")
    tree = regions.tree()
    with uow_factory() as uow:
        org = scanning_org(uow, actor)
        session = ScanSession(uow, tree, clock.now())
        session.load([r.code for r in requests if isinstance(r.code, str) and r.code])
        sites: dict[int, Any] = {}
        scans = []
        for n, request in enumerate(requests):
            try:
                scans.append(replace(_validate(session, org, request, sites), device_id=device_id))
            except TracecertError as exc:
                exc.detail = f"Scan {n} ({request.client_event_id}): {exc.detail}"
                raise
        known = uow.custody.scan_events_by_client_ids(org.id or 0, ids)
        session.load_pending()
        results: dict[str, dict[str, Any]] = {}
        for scan in sorted(scans, key=lambda s: (s.event_time, s.client_event_id)):
            results[scan.client_event_id] = _record(
                session, org, scan, online=False, known=known.get(scan.client_event_id)
            )
        _retry_pending(session)
        _reconsider_observations(session)
        session.flush()
        # Report what the scans are now (a pending one may have applied since).
        final = {}
        for cid, first in results.items():
            if first["outcome"] == ScanOutcome.DUPLICATE.value:
                # A repeat of a scan that was waiting and applied now answers what it did.
                later = session.applied_later.get((org.id or 0, cid))
                final[cid] = first if later is None else {**later, "outcome": first["outcome"]}
            else:
                still = (org.id, cid) in session.pending
                final[cid] = {
                    **first,
                    "outcome": ScanOutcome.PENDING.value if still else ScanOutcome.APPLIED.value,
                }
        uow.commit()
    counts: dict[str, int] = {}
    for r in final.values():
        counts[r["outcome"]] = counts.get(r["outcome"], 0) + 1
    return {"device_id": device_id, "counts": counts, "results": [final[cid] for cid in ids]}
