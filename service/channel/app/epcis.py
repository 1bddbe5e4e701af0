"""EPCIS 2.0 for partners: every commissioning, packing, shipping, receiving, unpacking and
inspecting we record is readable as EPCIS events (GET /epcis/events with the REST binding's
query parameters), and partners' own EPCIS documents are captured (POST /epcis/capture).

Our events are rendered on demand from what the service already stores (scan events, cases,
pallets, batches), so recording them costs nothing at line speed:

* packing (AggregationEvent ADD, parent case or pallet) when a batch's codes are generated;
* commissioning (ObjectEvent ADD, disposition ``active``) of a case's items when it is activated;
* shipping / receiving (ObjectEvent OBSERVE, ``in_transit`` / ``in_progress``) per scan, with the
  sending and receiving parties; unpacking (AggregationEvent DELETE) when a case is opened;
  inspecting (ObjectEvent OBSERVE) for an observation.

Captured events are kept as they came (re-rendered from their parsed form) and returned as such;
they inform, they do not move custody (scans do).
"""

from __future__ import annotations

import base64
import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from service.channel.domain import epcis
from service.channel.domain.epcis import (
    BizStep,
    Disposition,
    EpcisAction,
    EpcisEvent,
    EpcisQuery,
    SourceDestType,
)
from service.channel.domain.errors import InvalidEpcisError, InvalidEpcisQueryError
from service.channel.ports import (
    Bounds,
    ChannelUnitOfWork,
    ChannelUnitOfWorkFactory,
    EpcisSchema,
    EventHasher,
    PackingFact,
    ScanFact,
    Scope,
)
from service.kernel.actor import Actor
from service.kernel.errors import PermissionDeniedError
from service.kernel.ports import Clock
from service.kernel.roles import Role

DEFAULT_PER_PAGE = 100
MAX_PER_PAGE = 1000
MAX_CAPTURE_EVENTS = 10_000
_log = logging.getLogger(__name__)
_NAMESPACE = uuid.UUID("5b3e2c1e-7d7f-4c1a-9f7e-2f0e1d4a7c11")


def scope_of(actor: Actor) -> Scope:
    """The events ``actor`` may read. A key whose brand or organisation resolves to nothing
    (an auditor of an organisation with no brand) reads nothing."""
    if actor.role is Role.ADMIN:
        return Scope.everything()
    if actor.role in (Role.BRAND, Role.AUDITOR):
        return Scope.brand(actor.brand_id)
    if actor.role in (Role.FACTORY, Role.DISTRIBUTOR, Role.STORE):
        return Scope.organisation(actor.organisation_id, sees_production=actor.role is Role.FACTORY)
    raise PermissionDeniedError(f"The role '{actor.role}' has no EPCIS events to read.")


def _event_id(kind: str, key: str) -> str:
    return f"urn:uuid:{uuid.uuid5(_NAMESPACE, f'{kind}:{key}')}"


def _scan_event(fact: ScanFact) -> EpcisEvent:
    where = epcis.location_id(fact.site_id) if fact.site_id is not None else None
    extensions: dict[str, Any] = {}
    if fact.shipment:
        extensions["tc:shipment"] = fact.shipment
    if fact.region:
        extensions["tc:region"] = fact.region
    parties: dict[str, tuple[tuple[str, str], ...]] = {}
    if fact.sender_id is not None and fact.receiver_id is not None:
        parties = {
            "source_list": ((SourceDestType.OWNING_PARTY, epcis.party_id(fact.sender_id)),),
            "destination_list": ((SourceDestType.OWNING_PARTY, epcis.party_id(fact.receiver_id)),),
        }
    event_id = _event_id("scan", str(fact.id))
    if fact.action == "open":
        return EpcisEvent(
            kind=epcis.AGGREGATION_EVENT,
            event_id=event_id,
            event_time=fact.event_time,
            action=EpcisAction.DELETE,
            biz_step=BizStep.UNPACKING,
            disposition=None,
            parent_id=fact.epc,
            child_epcs=fact.children,
            read_point=where,
            biz_location=where,
            extensions=extensions,
        )
    step, disposition = {
        "dispatch": (BizStep.SHIPPING, Disposition.IN_TRANSIT),
        "receive": (BizStep.RECEIVING, Disposition.IN_PROGRESS),
    }.get(fact.action, (BizStep.INSPECTING, None))
    return EpcisEvent(
        kind=epcis.OBJECT_EVENT,
        event_id=event_id,
        event_time=fact.event_time,
        action=EpcisAction.OBSERVE,
        biz_step=step,
        disposition=disposition,
        epc_list=(fact.epc,),
        read_point=where,
        biz_location=where if fact.action != "dispatch" else None,
        extensions=extensions,
        **parties,  # type: ignore[arg-type]
    )


def _packing_event(fact: PackingFact) -> EpcisEvent:
    return EpcisEvent(
        kind=epcis.AGGREGATION_EVENT,
        event_id=_event_id("packing", str(fact.unit_id)),
        event_time=fact.at,
        action=EpcisAction.ADD,
        biz_step=BizStep.PACKING,
        disposition=Disposition.IN_PROGRESS,
        parent_id=fact.parent_epc,
        child_epcs=fact.children,
    )


def _commissioning_event(fact: PackingFact) -> EpcisEvent:
    return EpcisEvent(
        kind=epcis.OBJECT_EVENT,
        event_id=_event_id("commissioning", str(fact.unit_id)),
        event_time=fact.at,
        action=EpcisAction.ADD,
        biz_step=BizStep.COMMISSIONING,
        disposition=Disposition.ACTIVE,
        epc_list=fact.children,
        extensions={"tc:case": fact.parent_epc},
    )


def _exact_epcs(query: EpcisQuery) -> tuple[str, ...]:
    """EPCs named exactly (no wildcard) when every MATCH_* value is exact; else ()."""
    values = (*query.match_epc, *query.match_parent_id, *query.match_any_epc)
    if not values or any(v.endswith("*") or v.startswith("urn:epc:idpat:") for v in values):
        return ()
    try:
        return tuple(sorted({epcis.canonical_epc(v) for v in values}))
    except (ValueError, InvalidEpcisQueryError):
        return ()


def _page_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode().rstrip("=")


def _offset(token: str | None) -> int:
    if token is None:
        return 0
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        kind, _, value = raw.partition(":")
        offset = int(value)
        if kind != "o" or offset < 0:
            raise ValueError
        return offset
    except (ValueError, UnicodeDecodeError):
        raise InvalidEpcisQueryError("nextPageToken is not one we gave; start again.") from None


def query_events(
    actor: Actor,
    params: Mapping[str, Sequence[str]],
    uow: ChannelUnitOfWork,
    clock: Clock,
) -> tuple[dict[str, Any], str | None]:
    """An EPCISQueryDocument of the events the caller may read that match ``params``; and the
    token of the next page, if there is one."""
    scope = scope_of(actor)
    query = epcis.parse_query(params)
    per_page = DEFAULT_PER_PAGE
    if "perPage" in params:
        try:
            per_page = int(params["perPage"][-1])
        except ValueError:
            per_page = -1
        if not 1 <= per_page <= MAX_PER_PAGE:
            raise InvalidEpcisQueryError(f"perPage is 1-{MAX_PER_PAGE}.")
    offset = _offset(params["nextPageToken"][-1] if "nextPageToken" in params else None)
    bounds = Bounds(
        query.ge_event_time, query.lt_event_time, _exact_epcs(query), offset + per_page + 1
    )
    steps = set(query.eq_biz_step)
    with uow:
        events: list[EpcisEvent] = []
        full = False
        captured = uow.epcis.captured(scope, bounds)
        full |= len(captured) >= bounds.limit
        events.extend(_readable(captured))
        scans = uow.epcis.scans(scope, bounds)
        full |= len(scans) >= bounds.limit
        events.extend(_scan_event(s) for s in scans)
        if scope.sees_production and (not steps or "packing" in steps):
            packing = uow.epcis.packing(scope, bounds)
            full |= len(packing) >= bounds.limit
            events.extend(_packing_event(p) for p in packing)
        if scope.sees_production and (not steps or "commissioning" in steps):
            commissioning = uow.epcis.commissioning(scope, bounds)
            full |= len(commissioning) >= bounds.limit
            events.extend(_commissioning_event(c) for c in commissioning)
    # Each eventID once: a captured copy of one of our own events (captured before capture
    # recognised them) gives way to ours.
    unique: dict[str, EpcisEvent] = {}
    for event in events:
        unique[event.event_id] = event  # ours come after the captured ones
    selected = sorted(
        (e for e in unique.values() if epcis.matches(e, query)),
        key=lambda e: (e.event_time, e.event_id),
    )
    page = selected[offset : offset + per_page]
    more = len(selected) > offset + per_page or (full and len(page) == per_page)
    document = epcis.query_document(page, clock.now())
    return document, _page_token(offset + per_page) if more else None


def _readable(bodies: Sequence[dict[str, Any]]) -> list[EpcisEvent]:
    """The captured events that still parse; one stored before today's rules that does not is
    skipped (and logged), never the whole answer."""
    events = []
    for body in bodies:
        try:
            events.append(epcis.from_jsonld(body))
        except Exception as exc:  # anything stored must not break a read
            _log.warning("captured EPCIS event %s is skipped: %r", body.get("eventID"), exc)
    return events


def _raw_events(document: dict[str, Any]) -> list[Any]:
    """The event objects of a (valid) EPCISDocument or EPCISQueryDocument, as they came."""
    body = document.get("epcisBody") or {}
    if document.get("type") == "EPCISQueryDocument":
        body = (body.get("queryResults") or {}).get("resultsBody") or {}
    events = body.get("eventList")
    return events if isinstance(events, list) else []


def _scope_key(actor: Actor, brand: int | None) -> str:
    """The tenant an eventID is unique in: the capturer's brand, or its own organisation."""
    return f"brand:{brand}" if brand is not None else f"org:{actor.organisation_id}"


def _rendered_like(
    uow: ChannelUnitOfWork, scope: Scope, events: Sequence[EpcisEvent]
) -> list[EpcisEvent]:
    """Our own rendered events, visible to ``scope``, at the times and about the EPCs of
    ``events``: what a re-captured export of ours would repeat."""
    if not events:
        return []
    epcs = sorted(
        {
            epcis.canonical_epc(e)
            for event in events
            for e in (*event.epc_list, *event.child_epcs, event.parent_id)
            if e
        }
    )
    ge = min(e.event_time for e in events)
    lt = max(e.event_time for e in events) + timedelta(microseconds=1)
    out: dict[str, EpcisEvent] = {}
    for start in range(0, len(epcs), 1000):
        bounds = Bounds(ge, lt, tuple(epcs[start : start + 1000]), 1_000_000)
        rendered = [_scan_event(f) for f in uow.epcis.scans(scope, bounds)]
        if scope.sees_production:
            rendered += [_packing_event(f) for f in uow.epcis.packing(scope, bounds)]
            rendered += [_commissioning_event(f) for f in uow.epcis.commissioning(scope, bounds)]
        out.update((e.event_id, e) for e in rendered)
    return list(out.values())


def capture(
    actor: Actor,
    document: Any,
    uow: ChannelUnitOfWork,
    clock: Clock,
    validate: EpcisSchema,
    event_hashes: EventHasher,
) -> dict[str, Any]:
    """Take a partner's EPCIS document (an EPCISDocument, or an EPCISQueryDocument as GET
    /epcis/events answers), validated against the official schema; each event is kept once.

    An event is new unless the capturer's tenant already has it: the same eventID among its
    captured events or among our own events it may read, or, for an event sent without an
    eventID, the same CBV 2.0 event hash (which then becomes its eventID). Other tenants' ids
    never count, so the answer reveals nothing of theirs.
    """
    if actor.role not in (Role.ADMIN, Role.BRAND, Role.FACTORY, Role.DISTRIBUTOR, Role.STORE):
        raise PermissionDeniedError(f"The role '{actor.role}' may not capture EPCIS events.")
    validate(document)
    if not isinstance(document, dict) or document.get("type") not in (
        "EPCISDocument",
        "EPCISQueryDocument",
    ):
        raise InvalidEpcisError(
            "POST /epcis/capture takes an EPCISDocument or an EPCISQueryDocument."
        )
    events = epcis.parse_document(document)
    if len(events) > MAX_CAPTURE_EVENTS:
        raise InvalidEpcisError(f"A capture holds at most {MAX_CAPTURE_EVENTS:,} events.")
    raw = _raw_events(document)
    try:
        hashes = event_hashes(document.get("@context"), raw)
    except ValueError as exc:
        raise InvalidEpcisError(f"An event cannot be hashed (CBV 2.0 event hash): {exc}.") from None
    sent_id = [isinstance(r, dict) and "eventID" in r for r in raw]
    # An event sent without an eventID is known by its event hash, as EPCIS 2.0 suggests.
    events = [
        e if has_id else replace(e, event_id=h)
        for e, h, has_id in zip(events, hashes, sent_id, strict=True)
    ]
    assert actor.organisation_id is not None
    now = clock.now()
    stored = 0
    with uow:
        org = uow.organisations.get(actor.organisation_id)
        brand = org.brand_scope if org is not None else None
        scope_key = _scope_key(actor, brand)
        known_ids, known_hashes = uow.epcis.known_captured(
            scope_key,
            [e.event_id for e, has_id in zip(events, sent_id, strict=True) if has_id],
            [h for h, has_id in zip(hashes, sent_id, strict=True) if not has_id],
        )
        ours = _rendered_like(uow, scope_of(actor), events)
        known_ids |= {e.event_id for e in ours}
        if ours and not all(sent_id):
            context = epcis.query_document([], now)["@context"]
            known_hashes |= set(event_hashes(context, [epcis.to_jsonld(e) for e in ours]))
        for event, event_hash, has_id in zip(events, hashes, sent_id, strict=True):
            if event.event_id in known_ids or (not has_id and event_hash in known_hashes):
                continue
            epcs = {
                epcis.canonical_epc(e)
                for e in (*event.epc_list, *event.child_epcs, event.parent_id)
                if e
            }
            if uow.epcis.add_captured(
                scope_key,
                event.event_id,
                event_hash,
                actor.organisation_id,
                brand,
                event.event_time,
                epcis.to_jsonld(event),
                sorted(epcs),
                now,
            ):
                stored += 1
                known_ids.add(event.event_id)
        uow.commit()
    return {
        "captureID": _event_id("capture", f"{actor.principal_id}:{now.isoformat()}"),
        "events": len(events),
        "new": stored,
        "stored": stored,
        "duplicates": len(events) - stored,
    }


@dataclass(frozen=True)
class EpcisCapture:
    """``capture`` with GS1's schema and the CBV event hasher wired in once (bootstrap), so
    the route hands over only the caller and the document."""

    uow_factory: ChannelUnitOfWorkFactory
    clock: Clock
    validate: EpcisSchema
    event_hashes: EventHasher

    def __call__(self, actor: Actor, document: Any) -> dict[str, Any]:
        return capture(
            actor, document, self.uow_factory(), self.clock, self.validate, self.event_hashes
        )


@dataclass(frozen=True)
class EpcisEvents:
    """``query_events`` with the unit-of-work factory and the clock wired in once (bootstrap),
    so the route hands over only the caller and the query's parameters."""

    uow_factory: ChannelUnitOfWorkFactory
    clock: Clock

    def __call__(
        self, actor: Actor, params: Mapping[str, Sequence[str]]
    ) -> tuple[dict[str, Any], str | None]:
        return query_events(actor, params, self.uow_factory.reader(), self.clock)
