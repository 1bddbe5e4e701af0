"""A scan session: the goods, custody, organisations, territories and shipments one request's
scans touch, read in bulk once and written back in bulk at the end (``flush``), with the
diversion alerts of its scans, raised (or joined) once per carrier as it flushes."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from service.alerts.interface import Alert, AlertKind, AlertRaised
from service.channel.app.regions import region_view
from service.channel.domain.custody import (
    Custody,
    ScanOutcome,
    diversion_alert,
)
from service.channel.domain.regions import RegionTree
from service.channel.ports import (
    ChannelUnitOfWork,
    Shipment,
    StoredScan,
    Target,
)
from service.factory.interface import CodeNotFoundError
from service.identity.interface import Organisation, party
from service.kernel.errors import TracecertError
from service.kernel.events import Event
from service.kernel.gs1 import DigitalLink, parse_code
from service.kernel.roles import OrganisationKind

#: Organisations whose goods may go anywhere: the territory begins with their dispatch.
UNRESTRICTED_KINDS = frozenset({OrganisationKind.BRAND, OrganisationKind.FACTORY})


Key = tuple[str, int]  # ("unit" | "item", row id)


def key_of(target: Target) -> Key:
    return ("item" if target.kind == "item" else "unit", target.id)


class ScanSession:
    """The goods, shipments and waiting scans of one request, in memory; written in bulk."""

    def __init__(self, uow: ChannelUnitOfWork, tree: RegionTree, now: datetime) -> None:
        self.uow = uow
        self.tree = tree
        self.now = now
        self.targets: dict[Key, Target] = {}
        self.by_code: dict[str, Key] = {}
        self._links: dict[str, DigitalLink] = {}
        self.pallet_cases: dict[int, list[int]] = {}
        self.orgs: dict[int, Organisation | None] = {}
        self.batches: dict[int, Any] = {}
        self.territories: dict[int, list[str] | None] = {}
        self.shipments: dict[int, Shipment] = {}
        self.shipment_refs: dict[tuple[int, str], int] = {}
        self.public_ids: dict[str, int] = {}
        self.own_sites: list[int] | None = None
        # Buffered writes.
        self.custody_changes: dict[Key, Custody] = {}
        self.dirty_shipments: set[int] = set()
        self.new_lines: list[tuple[int, str, int, int, bool]] = []
        self.receipts: list[tuple[int, str, int, datetime, int | None]] = []
        self.opened: list[tuple[int, datetime, Custody]] = []
        self.events: list[Event] = []
        self.new_scans: dict[str, tuple[StoredScan, int | None, int | None, int | None]] = {}
        self.outcomes: dict[int, tuple[str, dict[str, Any], int | None]] = {}
        self.alert_requests: list[AlertRequest] = []
        # Scans that wait, by (organisation, client event id).
        self.pending: dict[tuple[int, str], StoredScan] = {}
        # What waiting scans answered once they applied in this session, by the same key.
        self.applied_later: dict[tuple[int, str], dict[str, Any]] = {}
        self.changed: list[tuple[set[Key], datetime]] = []

    # ------------------------------------------------------------------ loading
    def link(self, code: str) -> DigitalLink:
        """``parse_code``, remembered: an upload names each code several times."""
        link = self._links.get(code)
        if link is None:
            link = self._links[code] = parse_code(code)
        return link

    def load(self, codes: Sequence[str]) -> None:
        """Read every case, pallet and item named by ``codes`` (and their cases, pallets)."""
        ssccs, serials = set(), set()
        for code in codes:
            if code in self.by_code:
                continue
            try:
                link = self.link(code)
            except TracecertError:
                continue  # validation reports it with the scan's position
            if link.sscc is not None:
                ssccs.add(link.sscc)
            elif link.serial is not None:
                serials.add(link.serial)
        custody = self.uow.custody
        units = custody.units_by_sscc(sorted(ssccs)) if ssccs else []
        items = custody.items_by_serial(sorted(serials)) if serials else []
        cases = [i.parent_id for i in items if i.parent_id is not None]
        units += custody.units_by_id(cases) if cases else []
        # A scanned pallet moves its cases: read them. A case's pallet is only named (by id).
        pallets = [u.id for u in units if u.kind == "pallet"]
        if pallets:
            for pallet_id, pallet_cases in custody.cases_of_pallets(pallets).items():
                self.pallet_cases[pallet_id] = [c.id for c in pallet_cases]
                units += pallet_cases
        for target in (*units, *items):
            key = key_of(target)
            if key not in self.targets:
                self.targets[key] = target
                self.by_code[target.code] = key

    def load_pending(self) -> None:
        """Read the waiting scans of the goods loaded so far, and of what those scans name,
        until no more turn up: a bottle's dispatch waits on its case's opening, which waits on
        its pallet's receipt, so receiving the pallet must reach the bottle's scan too."""
        asked_units: set[int] = set()
        asked_items: set[int] = set()
        while True:
            units = {k[1] for k in self.targets if k[0] == "unit"}
            # A case's pallet: a scan of the pallet may be what the case's scans wait behind.
            units |= {
                t.parent_id for k, t in self.targets.items() if k[0] == "unit" and t.parent_id
            }
            items = {k[1] for k in self.targets if k[0] == "item"}
            units, items = units - asked_units, items - asked_items
            if not units and not items:
                return
            asked_units |= units
            asked_items |= items
            found = self.uow.custody.pending_scans(sorted(units), sorted(items))
            for scan in found:
                self.pending.setdefault((scan.organisation_id, scan.client_event_id), scan)
            self.load([s.code for s in found])

    def target(self, code: str) -> Target:
        link = self.link(code)
        name = link.sscc or link.serial or code
        if name not in self.by_code:
            self.load([code])
        key = self.by_code.get(name)
        if key is None:
            raise CodeNotFoundError(f"No case, pallet or item has the code {code!r}.")
        return self.targets[key]

    def carrier(self, target: Target) -> Target:
        """What carries the target's custody: an item in a sealed case is where its case is."""
        if target.kind == "item" and not target.loose and target.parent_id is not None:
            return self.targets[("unit", target.parent_id)]
        return target

    def custody(self, target: Target) -> Custody:
        return self.carrier(target).custody

    def set_custody(self, target: Target, custody: Custody) -> None:
        key = key_of(target)
        self.targets[key] = replace(self.targets[key], custody=custody)
        self.custody_changes[key] = custody

    def batch(self, batch_id: int) -> Any:
        if batch_id not in self.batches:
            self.batches[batch_id] = self.uow.batches.owner(batch_id)
        return self.batches[batch_id]

    def org(self, organisation_id: int | None) -> Organisation | None:
        if organisation_id is None:
            return None
        if organisation_id not in self.orgs:
            self.orgs[organisation_id] = self.uow.organisations.get(organisation_id)
        return self.orgs[organisation_id]

    def territory(self, organisation_id: int | None) -> list[str] | None:
        if organisation_id is None:
            return None
        if organisation_id not in self.territories:
            org = self.org(organisation_id)
            self.territories[organisation_id] = (
                None
                if org is None or org.kind in UNRESTRICTED_KINDS
                else self.uow.channel.territories([organisation_id]).get(organisation_id)
            )
        return self.territories[organisation_id]

    # ------------------------------------------------------------------ shipments
    def shipment(self, shipment_id: int) -> Shipment:
        if shipment_id not in self.shipments:
            found = self.uow.custody.shipment(shipment_id)
            assert found is not None
            self.shipments[shipment_id] = found
        return self.shipments[shipment_id]

    def shipment_by_ref(self, sender_id: int, ref: str) -> Shipment | None:
        key = (sender_id, ref)
        if key not in self.shipment_refs:
            found = self.uow.custody.shipment_by_ref(sender_id, ref)
            if found is None:
                return None
            self.shipments[found.id] = found
            self.shipment_refs[key] = found.id
        return self.shipments[self.shipment_refs[key]]

    def shipment_by_public_id(self, public_id: str) -> Shipment | None:
        if public_id not in self.public_ids:
            found = self.uow.custody.shipment_by_public_id(public_id)
            if found is None:
                return None
            self.shipments.setdefault(found.id, found)
            self.public_ids[public_id] = found.id
        return self.shipments[self.public_ids[public_id]]

    def new_shipment(
        self, sender: int, ref: str, receiver: int, site: int | None, at: datetime
    ) -> Shipment:
        created = self.uow.custody.add_shipment(
            "s_" + uuid.uuid4().hex[:24], ref, sender, receiver, site, at
        )
        self.shipments[created.id] = created
        self.shipment_refs[(sender, ref)] = created.id
        return created

    def count_lines(
        self,
        shipment: Shipment,
        dispatched: int = 0,
        received: int = 0,
        extra: int = 0,
        at: datetime | None = None,
    ) -> Shipment:
        received_lines = shipment.received_lines + received
        dispatched_lines = shipment.dispatched_lines + dispatched
        status = (
            "received"
            if received_lines >= dispatched_lines and received_lines
            else "partially_received"
            if received_lines
            else "dispatched"
        )
        # Scans of one shipment may apply out of time order (offline uploads in any order):
        # it left with its first dispatch and arrived with its last receipt, whatever came first.
        received_at = shipment.received_at
        dispatched_at = shipment.dispatched_at
        if at is not None and (received or extra):
            received_at = at if received_at is None else max(received_at, at)
        if at is not None and dispatched:
            dispatched_at = min(dispatched_at, at)
        updated = replace(
            shipment,
            dispatched_lines=dispatched_lines,
            received_lines=received_lines,
            extra_lines=shipment.extra_lines + extra,
            status=status,
            received_at=received_at,
            dispatched_at=dispatched_at,
        )
        self.shipments[shipment.id] = updated
        self.dirty_shipments.add(shipment.id)
        return updated

    # ------------------------------------------------------------------ writing
    def flush(self) -> None:
        """Write what the session changed so far (in the open transaction)."""
        resolve_alerts(self)
        custody = self.uow.custody
        # Opening gives every bottle its case's custody; bottles moved after the opening in
        # the same session then carry their own, so the openings are written first.
        if self.opened:
            custody.open_cases(self.opened)
            self.opened.clear()
        if self.custody_changes:
            custody.write_custody([(k[0], k[1], c) for k, c in self.custody_changes.items()])
            self.custody_changes.clear()
        if self.new_lines:
            custody.add_lines_many(self.new_lines)
            self.new_lines.clear()
        if self.receipts:
            custody.receive_lines_many(self.receipts)
            self.receipts.clear()
        for shipment_id in sorted(self.dirty_shipments):
            custody.save_shipment(self.shipments[shipment_id])
        self.dirty_shipments.clear()
        if self.new_scans:
            rows = list(self.new_scans.values())
            custody.add_scan_events(rows, self.now)
            self.new_scans.clear()
            waiting = [s for s, *_ in rows if s.outcome == ScanOutcome.PENDING.value]
            if waiting:
                org = waiting[0].organisation_id
                stored = custody.scan_events_by_client_ids(
                    org, [s.client_event_id for s in waiting]
                )
                for scan in waiting:
                    if scan.client_event_id in stored:
                        self.pending[(org, scan.client_event_id)] = stored[scan.client_event_id]
        for scan_id, (outcome, result, changed_shipment) in self.outcomes.items():
            custody.set_scan_outcome(scan_id, outcome, result, changed_shipment)
        self.outcomes.clear()
        if self.events:
            self.uow.events.append_many(self.events, self.now)
            self.events.clear()


@dataclass
class AlertRequest:
    """A diversion found by a scan, raised (or joined) in bulk when the session writes."""

    targets: list[Key]
    alert: Alert | None  # a new alert to raise; None to join ``existing``
    existing: int | None
    result: dict[str, Any]
    #: Organisations the scanner may see named in its answer: itself, and the other party of
    #: a shipment it is in (a receiver knows its sender). Never another party's holdings.
    may_name: frozenset[int] = frozenset()


def raise_diversion_alert(
    session: ScanSession,
    org: Organisation,
    targets: list[Target],
    region: str,
    responsible: int,
    shipment: Shipment | None,
    at: datetime,
) -> dict[str, Any]:
    """Record the diversion; the alert is raised (or the goods' alert joined) at the next write
    of the session, and the returned dict is filled in then."""
    head = targets[0]
    result: dict[str, Any] = {"kind": AlertKind.DIVERSION.value}
    known = {org.id or 0}
    if shipment is not None and org.id in (shipment.sender_id, shipment.receiver_id):
        known |= {shipment.sender_id, shipment.receiver_id}
    may_name = frozenset(known)
    current = session.custody(head)
    if current.alert_id is not None:
        # Goods already flagged (e.g. a bottle of a diverted case scanned later): the same alert.
        session.alert_requests.append(AlertRequest([], None, current.alert_id, result, may_name))
        return result
    batch = session.batch(head.batch_id)
    tree = session.tree
    territory = session.territory(responsible) or []
    alert = diversion_alert(
        code=head.code,
        kind=head.kind,
        items=head.items,
        batch_id=head.batch_id,
        batch=batch,
        expected_territory=[region_view(tree, c) for c in territory if c in tree],
        responsible_id=responsible,
        responsible=party(session.org(responsible)),
        actual_region=region_view(tree, region),
        scanner_id=org.id,
        scanned_by=party(org),
        shipment_id=shipment.id if shipment else None,
        shipment_public_id=shipment.public_id if shipment else None,
        at=at,
    )
    session.alert_requests.append(
        AlertRequest([key_of(t) for t in targets], alert, None, result, may_name)
    )
    return result


def resolve_alerts(session: ScanSession) -> None:
    """Raise the session's new alerts and count its sightings of known ones, in bulk."""
    requests, session.alert_requests = session.alert_requests, []
    if not requests:
        return
    alerts = session.uow.alerts
    joined = alerts.repeat_many(
        [r.existing for r in requests if r.existing is not None], session.now
    )
    raised = alerts.raise_many([r.alert for r in requests if r.alert is not None], session.now)
    announced: set[int] = set()
    for request in requests:
        if request.alert is None:
            found = joined.get(request.existing or 0)
            new = False
        else:
            found, new = raised[request.alert.dedupe_key]
            new = new and found.id not in announced
        if found is None or found.id is None:
            continue
        if new:
            announced.add(found.id)
            detail = found.detail
            session.events.append(
                AlertRaised(
                    found.id,
                    found.kind.value,
                    detail.get("batch_id"),
                    found.serial,
                    detail.get("code"),
                    found.responsible_id,
                )
            )
        for key in request.targets:
            target = session.targets[key]
            session.set_custody(target, replace(target.custody, alert_id=found.id))
        named = found.responsible_id in request.may_name
        request.result.update(
            id=found.id,
            count=found.count,
            responsible=party(session.org(found.responsible_id)) if named else None,
            new=new,
        )
