"""GS1 EPCIS 2.0 events in JSON-LD, with CBV 2.0 vocabulary, and the REST binding's event query.

What we take and render:

* ``ObjectEvent`` and ``AggregationEvent`` about serialised goods. Transformation, association
  and transaction events, and events that count goods by class only (``quantityList`` without
  EPCs), are refused with :class:`InvalidEpcisError`.
* ``bizStep``, ``disposition`` and source/destination types are normalised to the bare CBV 2.0
  term (``shipping``) whether they arrive bare, as a CBV web URI
  (``https://ref.gs1.org/cbv/BizStep-shipping``), as a ``cbv:`` compact IRI or as an EPCIS 1.x
  URN (``urn:epcglobal:cbv:bizstep:shipping``); non-CBV values stay the URI that was sent.
* ``eventTime`` keeps the ``eventTimeZoneOffset`` it was declared with: the event's datetime is
  in that offset (same instant), so rendering gives back the partner's local time.
* Every other member of an event (``bizTransactionList``, ``quantityList``, ``ilmd``,
  ``sensorElementList``, ``errorDeclaration``, vendor fields like ``example:myField``, ...) is kept
  verbatim in :attr:`EpcisEvent.extensions` and rendered back as it came. Prefixes a partner
  declared in the document's ``@context`` are copied into the event's own ``"@context"``
  extension, so its fields keep their meaning when we render the event in our documents.

Identifiers: EPCs we mint are canonical GS1 Digital Link URIs (``https://id.gs1.org/01/{gtin}/21/
{serial}``, ``https://id.gs1.org/00/{sscc}``), as EPCIS 2.0 recommends for JSON-LD; parties and
sites are ``urn:tracecert:party:{id}`` and ``urn:tracecert:site:{id}`` (we hold no GLNs for
them, and a URN never suggests a web page that is not there).

Query (GET /events of the REST binding): ``GE_eventTime`` (inclusive), ``LT_eventTime``
(exclusive), ``EQ_action``, ``EQ_bizStep``, ``EQ_disposition``, ``MATCH_epc`` (``epcList`` and
``childEPCs``), ``MATCH_parentID`` and ``MATCH_anyEPC`` (all three). Parameters are ANDed, the
values of one parameter ORed; several values come as repeated parameters or separated by ``|``
(the binding's separator; commas are not separators because GS1 AI values may contain them).
``MATCH_*`` values may be:

* an EPC, in either notation: ``urn:epc:id:sgtin:...``/``urn:epc:id:sscc:...`` and Digital Link
  URIs on any host (with or without a lot) name the same object and match each other;
* an EPC pure identity pattern, ``urn:epc:idpat:sgtin:0614141.107346.*`` (``*`` for whole
  trailing fields, as in the Tag Data Standard), also matching Digital Link EPCs;
* any URI ending in ``*``: a prefix match, e.g. ``https://id.gs1.org/01/09506000134352/21/*``
  (compared with the EPC as sent and with its canonical Digital Link form).
"""

from __future__ import annotations

import copy
import json
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from enum import StrEnum
from functools import cache, lru_cache
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from service.channel.domain.errors import InvalidEpcisError, InvalidEpcisQueryError
from service.kernel.errors import InvalidCodeError, InvalidGtinError
from service.kernel.gs1 import (
    check_digit,
    is_valid_serial_text,
    is_valid_sscc,
    normalise_gtin,
)

#: The EPCIS 2.0 JSON-LD context every document we render names first.
EPCIS_CONTEXT_URL = "https://ref.gs1.org/standards/epcis/epcis-context.jsonld"
#: The namespace of our own extension fields (``tc:shipment``), declared as prefix ``tc``.
TC_PREFIX = "tc"
TC_NAMESPACE = "urn:tracecert:epcis:"
#: The REST binding's ``queryName`` for GET /events.
SIMPLE_EVENT_QUERY = "SimpleEventQuery"

OBJECT_EVENT = "ObjectEvent"
AGGREGATION_EVENT = "AggregationEvent"
EVENT_KINDS = (OBJECT_EVENT, AGGREGATION_EVENT)
_REFUSED_KINDS = ("TransformationEvent", "AssociationEvent", "TransactionEvent")

GS1_RESOLVER = "https://id.gs1.org"
_PARTY_URN = "urn:tracecert:party:"
_SITE_URN = "urn:tracecert:site:"


class EpcisAction(StrEnum):
    """How an event relates to the life of the objects it names (EPCIS 7.4.2)."""

    ADD = "ADD"
    OBSERVE = "OBSERVE"
    DELETE = "DELETE"


class BizStep(StrEnum):
    """The CBV 2.0 business steps (the standard vocabulary, bare terms)."""

    ACCEPTING = "accepting"
    ARRIVING = "arriving"
    ASSEMBLING = "assembling"
    COLLECTING = "collecting"
    COMMISSIONING = "commissioning"
    CONSIGNING = "consigning"
    CREATING_CLASS_INSTANCE = "creating_class_instance"
    CYCLE_COUNTING = "cycle_counting"
    DECOMMISSIONING = "decommissioning"
    DEPARTING = "departing"
    DESTROYING = "destroying"
    DISASSEMBLING = "disassembling"
    DISPENSING = "dispensing"
    ENCODING = "encoding"
    ENTERING_EXITING = "entering_exiting"
    HOLDING = "holding"
    INSPECTING = "inspecting"
    INSTALLING = "installing"
    KILLING = "killing"
    LOADING = "loading"
    OTHER = "other"
    PACKING = "packing"
    PICKING = "picking"
    RECEIVING = "receiving"
    REMOVING = "removing"
    REPACKAGING = "repackaging"
    REPAIRING = "repairing"
    REPLACING = "replacing"
    RESERVING = "reserving"
    RETAIL_SELLING = "retail_selling"
    SAMPLING = "sampling"
    SENSOR_REPORTING = "sensor_reporting"
    SHIPPING = "shipping"
    STAGING_OUTBOUND = "staging_outbound"
    STOCK_TAKING = "stock_taking"
    STOCKING = "stocking"
    STORING = "storing"
    TRANSPORTING = "transporting"
    UNLOADING = "unloading"
    UNPACKING = "unpacking"
    VOID_SHIPPING = "void_shipping"


class Disposition(StrEnum):
    """The CBV 2.0 dispositions (the standard vocabulary, bare terms)."""

    ACTIVE = "active"
    AVAILABLE = "available"
    COMPLETENESS_INFERRED = "completeness_inferred"
    COMPLETENESS_VERIFIED = "completeness_verified"
    CONFORMANT = "conformant"
    CONTAINER_CLOSED = "container_closed"
    CONTAINER_OPEN = "container_open"
    DAMAGED = "damaged"
    DESTROYED = "destroyed"
    DISPENSED = "dispensed"
    DISPOSED = "disposed"
    ENCODED = "encoded"
    EXPIRED = "expired"
    IN_PROGRESS = "in_progress"
    IN_TRANSIT = "in_transit"
    INACTIVE = "inactive"
    MISMATCH_CLASS = "mismatch_class"
    MISMATCH_INSTANCE = "mismatch_instance"
    MISMATCH_QUANTITY = "mismatch_quantity"
    NEEDS_REPLACEMENT = "needs_replacement"
    NO_PEDIGREE_MATCH = "no_pedigree_match"
    NON_CONFORMANT = "non_conformant"
    NON_SELLABLE_OTHER = "non_sellable_other"
    PARTIALLY_DISPENSED = "partially_dispensed"
    RECALLED = "recalled"
    RESERVED = "reserved"
    RETAIL_SOLD = "retail_sold"
    RETURNED = "returned"
    SELLABLE_ACCESSIBLE = "sellable_accessible"
    SELLABLE_NOT_ACCESSIBLE = "sellable_not_accessible"
    STOLEN = "stolen"
    UNAVAILABLE = "unavailable"
    UNKNOWN = "unknown"


class SourceDestType(StrEnum):
    """The CBV 2.0 source/destination types."""

    OWNING_PARTY = "owning_party"
    POSSESSING_PARTY = "possessing_party"
    LOCATION = "location"


# (CBV web URI prefix, compact IRI prefix, EPCIS 1.x URN prefix) of each vocabulary.
_VOCABULARIES: dict[type[StrEnum], tuple[str, ...]] = {
    BizStep: ("https://ref.gs1.org/cbv/BizStep-", "cbv:BizStep-", "urn:epcglobal:cbv:bizstep:"),
    Disposition: ("https://ref.gs1.org/cbv/Disp-", "cbv:Disp-", "urn:epcglobal:cbv:disp:"),
    SourceDestType: ("https://ref.gs1.org/cbv/SDT-", "cbv:SDT-", "urn:epcglobal:cbv:sdt:"),
}

# Members of an event we model as fields; everything else goes to ``extensions``.
_MODELLED = frozenset(
    {
        "type",
        "eventID",
        "eventTime",
        "eventTimeZoneOffset",
        "recordTime",
        "action",
        "bizStep",
        "disposition",
        "epcList",
        "parentID",
        "childEPCs",
        "readPoint",
        "bizLocation",
        "sourceList",
        "destinationList",
    }
)
# Standard members we keep verbatim (the schema allows them per event type).
_COMMON_PASSTHROUGH = frozenset(
    {"bizTransactionList", "sensorElementList", "certificationInfo", "errorDeclaration"}
)
_PASSTHROUGH = {
    OBJECT_EVENT: _COMMON_PASSTHROUGH | {"quantityList", "persistentDisposition", "ilmd"},
    AGGREGATION_EVENT: _COMMON_PASSTHROUGH | {"childQuantityList"},
}
_MODELLED_BY_KIND = {
    OBJECT_EVENT: _MODELLED - {"parentID", "childEPCs"},
    AGGREGATION_EVENT: _MODELLED - {"epcList"},
}

_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:\S+", re.ASCII)
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:", re.ASCII)
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?"
    r"(?:([Zz])|([+-])(\d{2}):(\d{2}))?",
    re.ASCII,
)
_OFFSET = re.compile(r"([+-])(\d{2}):(\d{2})", re.ASCII)
_MAX_OFFSET = timedelta(hours=14)
_DIGITS = re.compile(r"[0-9]+", re.ASCII)
# Namespace of the name-based event ids minted for partner events sent without an eventID.
_EVENT_ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:tracecert:epcis:event")


# ----------------------------------------------------------------------------- identifiers
def sgtin_epc(gtin: str, serial: str) -> str:
    """Return the canonical GS1 Digital Link EPC of a serialised item (SGTIN).

    The lot is not part of an SGTIN, so it is not in the EPC (it is in the printed QR code).

    Raises:
        InvalidGtinError: the GTIN is malformed or its check digit is wrong.
        InvalidCodeError: the serial is not 1-20 characters of our AI 21 set.
    """
    gtin14 = normalise_gtin(gtin)
    if not is_valid_serial_text(serial):
        raise InvalidCodeError("A serial has 1-20 characters of A-Z, a-z, 0-9, '.', '_' or '-'.")
    return f"{GS1_RESOLVER}/01/{gtin14}/21/{serial}"


def sscc_epc(sscc: str) -> str:
    """Return the canonical GS1 Digital Link EPC of a case or pallet (SSCC).

    Raises:
        InvalidCodeError: not 18 digits with a correct check digit.
    """
    if not is_valid_sscc(sscc):
        raise InvalidCodeError("An SSCC has 18 digits with a correct check digit.")
    return f"{GS1_RESOLVER}/00/{sscc}"


def party_id(organisation_id: int) -> str:
    """Return the URI naming one of our organisations in source and destination lists."""
    return _PARTY_URN + str(_positive(organisation_id, "organisation id"))


def location_id(site_id: int) -> str:
    """Return the URI naming one of our sites (read point, business location, location)."""
    return _SITE_URN + str(_positive(site_id, "site id"))


def _positive(value: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"a {what} is a positive integer, not {value!r}")
    return value


# ----------------------------------------------------------------------------- the event
@dataclass(frozen=True)
class EpcisEvent:
    """One EPCIS 2.0 ObjectEvent or AggregationEvent.

    ``biz_step`` and ``disposition`` hold the bare CBV term (a :class:`BizStep` or
    :class:`Disposition` is one) or a full URI for a non-CBV value. ``extensions`` holds every
    JSON-LD member not modelled here, verbatim: our ``tc:`` fields, partner fields, standard
    members such as ``bizTransactionList``, and an ``"@context"`` when the event needs its own
    prefixes.

    Raises:
        ValueError: the fields contradict EPCIS (a naive time, EPCs on the wrong event kind, an
            ADD aggregation without a parent, an extension that shadows a modelled member...).
    """

    kind: str
    event_id: str
    event_time: datetime
    action: EpcisAction
    biz_step: str | None
    disposition: str | None
    epc_list: tuple[str, ...] = ()
    parent_id: str | None = None
    child_epcs: tuple[str, ...] = ()
    read_point: str | None = None
    biz_location: str | None = None
    source_list: tuple[tuple[str, str], ...] = ()
    destination_list: tuple[tuple[str, str], ...] = ()
    record_time: datetime | None = None
    extensions: dict[str, Any] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        problem = _event_problem(self)
        if problem is not None:
            raise ValueError(problem)
        # Hold CBV values as bare terms whatever notation they came in, so equal events are ==.
        for name, vocabulary in (("biz_step", BizStep), ("disposition", Disposition)):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, normalise_term(value, vocabulary))
        for name in ("source_list", "destination_list"):
            pairs = tuple(
                (normalise_term(t, SourceDestType) or t, uri) for t, uri in getattr(self, name)
            )
            object.__setattr__(self, name, pairs)


def _event_problem(event: EpcisEvent) -> str | None:
    """Return why ``event`` cannot be rendered as a valid EPCIS event, or None."""
    if event.kind not in EVENT_KINDS:
        return f"kind is one of {', '.join(EVENT_KINDS)}, not {event.kind!r}"
    if not isinstance(event.action, EpcisAction):
        return f"action is an EpcisAction, not {event.action!r}"
    if not _is_uri(event.event_id):
        return f"event_id is a URI, not {event.event_id!r}"
    for name in ("event_time", "record_time"):
        value = getattr(event, name)
        if value is None and name == "record_time":
            continue
        if not isinstance(value, datetime) or value.utcoffset() is None:
            return f"{name} is a timezone-aware datetime"
    offset = event.event_time.utcoffset()
    assert offset is not None
    if offset % timedelta(minutes=1) or abs(offset) > _MAX_OFFSET:
        return "event_time's UTC offset is whole minutes between -14:00 and +14:00"
    for name in ("epc_list", "child_epcs"):
        values = getattr(event, name)
        if not isinstance(values, tuple) or not all(_is_uri(v) for v in values):
            return f"{name} is a tuple of URIs"
    if len(set(event.epc_list)) != len(event.epc_list):
        return "epc_list names an EPC twice"
    for name in ("parent_id", "read_point", "biz_location"):
        value = getattr(event, name)
        if value is not None and not _is_uri(value):
            return f"{name} is a URI or None, not {value!r}"
    for name, vocabulary in (("biz_step", BizStep), ("disposition", Disposition)):
        value = getattr(event, name)
        if value is not None and (
            not isinstance(value, str) or normalise_term(value, vocabulary) is None
        ):
            return f"{name} is a CBV term or a URI, not {value!r}"
    for name in ("source_list", "destination_list"):
        entries = getattr(event, name)
        if not isinstance(entries, tuple):
            return f"{name} is a tuple of (type, URI) pairs"
        for entry in entries:
            if not (
                isinstance(entry, tuple)
                and len(entry) == 2
                and isinstance(entry[0], str)
                and normalise_term(entry[0], SourceDestType) is not None
                and _is_uri(entry[1])
            ):
                return f"{name} holds (CBV source/destination type or URI, URI) pairs"
    if event.kind == OBJECT_EVENT:
        if event.parent_id is not None or event.child_epcs:
            return "an ObjectEvent has epc_list, not parent_id or child_epcs"
        if not event.epc_list:
            return "an ObjectEvent names at least one EPC"
    else:
        if event.epc_list:
            return "an AggregationEvent has parent_id and child_epcs, not epc_list"
        if event.parent_id is None and event.action is not EpcisAction.OBSERVE:
            return f"an AggregationEvent with action {event.action} names its parent_id"
        if not event.child_epcs and event.action is not EpcisAction.DELETE:
            return f"an AggregationEvent with action {event.action} names at least one child"
    if not isinstance(event.extensions, dict):
        return "extensions is a dict"
    for key in event.extensions:
        if not _extension_key_allowed(event.kind, key):
            return (
                f"extension {key!r} is neither a namespaced field (prefix:name or a URI), "
                f"'@context' nor a standard {event.kind} member we keep verbatim"
            )
    return None


def _extension_key_allowed(kind: str, key: object) -> bool:
    if not isinstance(key, str) or key in _MODELLED:
        return False
    return key == "@context" or key in _PASSTHROUGH[kind] or _URI.fullmatch(key) is not None


def _is_uri(value: object) -> bool:
    return isinstance(value, str) and _URI.fullmatch(value) is not None


# ----------------------------------------------------------------------------- rendering
def to_jsonld(event: EpcisEvent) -> dict[str, Any]:
    """Return one event as an EPCIS 2.0 JSON-LD object (for an ``eventList``)."""
    out: dict[str, Any] = {
        "type": event.kind,
        "eventID": event.event_id,
        "eventTime": _format_time(event.event_time),
        "eventTimeZoneOffset": _format_offset(event.event_time),
    }
    if event.record_time is not None:
        out["recordTime"] = _format_time(event.record_time)
    if event.kind == OBJECT_EVENT:
        out["epcList"] = list(event.epc_list)
    else:
        if event.parent_id is not None:
            out["parentID"] = event.parent_id
        out["childEPCs"] = list(event.child_epcs)
    out["action"] = event.action.value
    if event.biz_step is not None:
        out["bizStep"] = str(event.biz_step)
    if event.disposition is not None:
        out["disposition"] = str(event.disposition)
    if event.read_point is not None:
        out["readPoint"] = {"id": event.read_point}
    if event.biz_location is not None:
        out["bizLocation"] = {"id": event.biz_location}
    if event.source_list:
        out["sourceList"] = [{"type": str(t), "source": s} for t, s in event.source_list]
    if event.destination_list:
        out["destinationList"] = [
            {"type": str(t), "destination": d} for t, d in event.destination_list
        ]
    for key, value in event.extensions.items():
        out[key] = copy.deepcopy(value)
    return out


def document(
    events: Sequence[EpcisEvent], created: datetime, sender: str | None = None
) -> dict[str, Any]:
    """Return an EPCISDocument holding ``events`` (what POST /capture takes, and our exports)."""
    doc: dict[str, Any] = {
        "@context": _our_context(),
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": _format_time(_aware(created, "created")),
    }
    if sender is not None:
        doc["sender"] = sender
    doc["epcisBody"] = {"eventList": [to_jsonld(e) for e in events]}
    return doc


def query_document(
    events: Sequence[EpcisEvent], created: datetime, query_name: str = SIMPLE_EVENT_QUERY
) -> dict[str, Any]:
    """Return the EPCISQueryDocument the REST binding answers GET /events with."""
    return {
        "@context": _our_context(),
        "type": "EPCISQueryDocument",
        "schemaVersion": "2.0",
        "creationDate": _format_time(_aware(created, "created")),
        "epcisBody": {
            "queryResults": {
                "queryName": query_name,
                "resultsBody": {"eventList": [to_jsonld(e) for e in events]},
            }
        },
    }


def _our_context() -> list[Any]:
    return [EPCIS_CONTEXT_URL, {TC_PREFIX: TC_NAMESPACE}]


def _aware(value: datetime, what: str) -> datetime:
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise ValueError(f"{what} is a timezone-aware datetime")
    return value


def _format_time(value: datetime) -> str:
    # Milliseconds when they say it all (the usual EPCIS form), else microseconds; UTC as "Z".
    offset = value.utcoffset()
    if offset is not None and offset % timedelta(minutes=1):
        value = value.astimezone(UTC)  # RFC 3339 offsets have no seconds
    spec = "milliseconds" if value.microsecond % 1000 == 0 else "microseconds"
    text = value.isoformat(timespec=spec)
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _format_offset(value: datetime) -> str:
    offset = value.utcoffset()
    assert offset is not None
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    hours, mins = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}:{mins:02d}"


# ----------------------------------------------------------------------------- parsing
def parse_date_time(text: str) -> datetime:
    """Return the timezone-aware datetime of an RFC 3339 date-time (``xsd:dateTimeStamp``).

    Fractions finer than a microsecond are truncated.

    Raises:
        ValueError: not an RFC 3339 date-time, no time zone, an impossible date, or a leap
            second (Python datetimes cannot hold second 60).
    """
    match = _RFC3339.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"{text!r} is not a date-time such as 2026-11-25T09:30:00.000+08:00")
    year, month, day, hour, minute, second, fraction, zulu, sign, off_h, off_m = match.groups()
    if zulu is None and sign is None:
        raise ValueError(f"{text!r} has no time zone; end it with Z or an offset such as +08:00")
    if int(second) == 60:
        raise ValueError(f"{text!r} is a leap second, which cannot be stored; use :59")
    if sign is not None and (int(off_h) > 23 or int(off_m) > 59):
        raise ValueError(f"{text!r} has an impossible UTC offset")
    offset = timedelta(0) if zulu else _signed(sign, off_h, off_m)
    micro = int((fraction or "").ljust(6, "0")[:6])
    try:
        return datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            int(second),
            micro,
            tzinfo=timezone(offset),
        )
    except ValueError:
        raise ValueError(f"{text!r} is not a real date and time") from None


def _signed(sign: str, hours: str, minutes: str) -> timedelta:
    delta = timedelta(hours=int(hours), minutes=int(minutes))
    return -delta if sign == "-" else delta


def from_jsonld(obj: Mapping[str, Any]) -> EpcisEvent:
    """Return the event an EPCIS 2.0 JSON-LD event object describes.

    The object is assumed valid against the EPCIS schema; this refuses what the schema
    allows but tracecert does not take. A ``recordTime`` is parsed as sent: a repository
    sets its own on capture (``dataclasses.replace``). An event without an ``eventID`` gets
    ``urn:uuid:`` + a name-based UUID of its content, so sending it again gives the same id.

    Raises:
        InvalidEpcisError: an unsupported event type, an event without EPCs (quantities or
            sensor data only), a time without a time zone, a non-CBV bare word as bizStep or
            disposition, or a member we cannot keep.
    """
    return _event_from_jsonld(obj, "")


def parse_document(doc: Mapping[str, Any]) -> list[EpcisEvent]:
    """Return the events of an EPCISDocument (or of an EPCISQueryDocument's results).

    Prefixes the document declares in its ``@context`` (besides the EPCIS context and ours)
    are copied into each event's ``"@context"`` extension.

    Raises:
        InvalidEpcisError: not an EPCIS document, an event we cannot take (its path is in the
            detail), or two events with the same ``eventID``.
    """
    if not isinstance(doc, Mapping):
        raise InvalidEpcisError("An EPCIS document is a JSON object.")
    doc_type = doc.get("type")
    if doc_type == "EPCISDocument":
        body_path = "epcisBody.eventList"
        events = _get(_get(doc, "epcisBody", Mapping, ""), "eventList", list, "epcisBody.")
    elif doc_type == "EPCISQueryDocument":
        body_path = "epcisBody.queryResults.resultsBody.eventList"
        body = _get(doc, "epcisBody", Mapping, "")
        results = _get(
            _get(body, "queryResults", Mapping, "epcisBody."),
            "resultsBody",
            Mapping,
            "epcisBody.queryResults.",
        )
        events = _get(results, "eventList", list, "epcisBody.queryResults.resultsBody.")
    else:
        raise InvalidEpcisError(
            f"type: {doc_type!r} is not an EPCIS document; send an EPCISDocument whose "
            "epcisBody.eventList holds the events."
        )
    extra_context = _partner_context(doc.get("@context"))
    parsed: list[EpcisEvent] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(events):
        where = f"{body_path}[{index}]."
        if not isinstance(item, Mapping):
            raise InvalidEpcisError(f"{where[:-1]}: an event is a JSON object.")
        event = _event_from_jsonld(item, where, extra_context)
        if event.event_id in seen:
            other = f"{body_path}[{seen[event.event_id]}]"
            if "eventID" not in item:
                raise InvalidEpcisError(f"{where[:-1]}: the same event as {other}; send it once.")
            raise InvalidEpcisError(
                f"{where}eventID: {event.event_id!r} is also the eventID of {other}; "
                "every event has its own id."
            )
        seen[event.event_id] = index
        parsed.append(event)
    return parsed


def _partner_context(context: Any) -> list[Any]:
    """Return the document's context entries other than the EPCIS context and our ``tc``."""
    entries = context if isinstance(context, list) else [] if context is None else [context]
    extra: list[Any] = []
    for entry in entries:
        if isinstance(entry, str) and entry.endswith("epcis-context.jsonld"):
            continue
        if isinstance(entry, Mapping):
            entry = {k: v for k, v in entry.items() if not (k == TC_PREFIX and v == TC_NAMESPACE)}
            if not entry:
                continue
        if entry not in extra:
            extra.append(copy.deepcopy(entry))
    return extra


def _event_from_jsonld(
    obj: Mapping[str, Any], where: str, extra_context: Sequence[Any] = ()
) -> EpcisEvent:
    if not isinstance(obj, Mapping):
        raise InvalidEpcisError(f"{where or 'event'}: an event is a JSON object.")
    kind = obj.get("type")
    if kind in _REFUSED_KINDS:
        raise InvalidEpcisError(
            f"{where}type: {kind} is not supported; tracecert takes ObjectEvent and "
            "AggregationEvent only (commissioning, packing, shipping, receiving, ...)."
        )
    if kind not in EVENT_KINDS:
        raise InvalidEpcisError(
            f"{where}type: {kind!r} is not an event type tracecert takes; send ObjectEvent "
            "or AggregationEvent."
        )
    assert isinstance(kind, str)
    event_time = _time(obj, "eventTime", where)
    zone = obj.get("eventTimeZoneOffset")
    if zone is not None:
        match = _OFFSET.fullmatch(zone) if isinstance(zone, str) else None
        offset = _signed(*match.groups()) if match else None
        if offset is None or offset % timedelta(minutes=1) or abs(offset) > _MAX_OFFSET:
            raise InvalidEpcisError(
                f"{where}eventTimeZoneOffset: {zone!r} is not an offset such as +08:00 "
                "(-14:00 to +14:00)."
            )
        event_time = event_time.astimezone(timezone(offset))
    record_time = _time(obj, "recordTime", where) if "recordTime" in obj else None
    action_text = obj.get("action")
    if not isinstance(action_text, str) or action_text not in _terms(EpcisAction):
        raise InvalidEpcisError(
            f"{where}action: {action_text!r} is not one of ADD, OBSERVE, DELETE."
        )
    action = EpcisAction(action_text)

    epc_list: tuple[str, ...] = ()
    parent: str | None = None
    children: tuple[str, ...] = ()
    if kind == OBJECT_EVENT:
        epc_list = _uris(obj, "epcList", where)
        if not epc_list:
            raise InvalidEpcisError(
                f"{where}epcList: the event names no EPC; tracecert takes events about "
                "serialised goods only, not quantity-only or sensor-only events."
            )
        if len(set(epc_list)) != len(epc_list):
            raise InvalidEpcisError(f"{where}epcList: an EPC is listed twice.")
    else:
        parent = _uri(obj, "parentID", where)
        children = _uris(obj, "childEPCs", where)
        if parent is None and action is not EpcisAction.OBSERVE:
            raise InvalidEpcisError(
                f"{where}parentID: an AggregationEvent with action {action} names its parent."
            )
        if not children and action is not EpcisAction.DELETE:
            raise InvalidEpcisError(
                f"{where}childEPCs: the event names no child EPC; tracecert takes "
                "aggregations of serialised goods only, not quantity-only ones."
            )

    extensions: dict[str, Any] = {}
    allowed = _MODELLED_BY_KIND[kind]
    for key, value in obj.items():
        if key in allowed:
            continue
        if not _extension_key_allowed(kind, key):
            raise InvalidEpcisError(
                f"{where}{key}: not a member of a {kind}; extension fields are namespaced "
                "(prefix:name with the prefix in @context)."
            )
        extensions[key] = copy.deepcopy(value)
    if extra_context:
        own = extensions.get("@context")
        merged = list(own) if isinstance(own, list) else [] if own is None else [own]
        merged.extend(c for c in extra_context if c not in merged)
        extensions["@context"] = copy.deepcopy(merged)

    event_id = obj.get("eventID")
    if event_id is None:
        event_id = "urn:uuid:" + str(uuid.uuid5(_EVENT_ID_NAMESPACE, _canonical(obj)))
    elif not _is_uri(event_id):
        raise InvalidEpcisError(f"{where}eventID: {event_id!r} is not a URI.")

    return EpcisEvent(
        kind=kind,
        event_id=event_id,
        event_time=event_time,
        action=action,
        biz_step=_vocabulary(obj, "bizStep", BizStep, where),
        disposition=_vocabulary(obj, "disposition", Disposition, where),
        epc_list=epc_list,
        parent_id=parent,
        child_epcs=children,
        read_point=_place(obj, "readPoint", where),
        biz_location=_place(obj, "bizLocation", where),
        source_list=_parties(obj, "sourceList", "source", where),
        destination_list=_parties(obj, "destinationList", "destination", where),
        record_time=record_time,
        extensions=extensions,
    )


def _canonical(obj: Mapping[str, Any]) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _get(obj: Mapping[str, Any], key: str, kind: type, where: str) -> Any:
    value = obj.get(key)
    if not isinstance(value, kind):
        what = "a list" if kind is list else "an object"
        raise InvalidEpcisError(f"{where}{key}: must be {what}.")
    return value


def _time(obj: Mapping[str, Any], key: str, where: str) -> datetime:
    value = obj.get(key)
    if value is None:
        raise InvalidEpcisError(f"{where}{key}: missing; every event says when it happened.")
    try:
        return parse_date_time(value)
    except ValueError as exc:
        raise InvalidEpcisError(f"{where}{key}: {exc}.") from None


def _uri(obj: Mapping[str, Any], key: str, where: str) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    if not _is_uri(value):
        raise InvalidEpcisError(f"{where}{key}: {value!r} is not a URI.")
    return str(value)


def _uris(obj: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
    values = obj.get(key, [])
    if not isinstance(values, list):
        raise InvalidEpcisError(f"{where}{key}: must be a list of URIs.")
    for index, value in enumerate(values):
        if not _is_uri(value):
            raise InvalidEpcisError(f"{where}{key}[{index}]: {value!r} is not a URI.")
    return tuple(values)


def _place(obj: Mapping[str, Any], key: str, where: str) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, Mapping) or not _is_uri(value.get("id")):
        raise InvalidEpcisError(f'{where}{key}: must be {{"id": "<URI>"}}.')
    if set(value) != {"id"}:
        raise InvalidEpcisError(
            f"{where}{key}: tracecert keeps only the id of a {key}; send it without "
            f"{', '.join(sorted(k for k in value if k != 'id'))}."
        )
    return str(value["id"])


def _parties(
    obj: Mapping[str, Any], key: str, member: str, where: str
) -> tuple[tuple[str, str], ...]:
    values = obj.get(key, [])
    if not isinstance(values, list):
        raise InvalidEpcisError(f"{where}{key}: must be a list.")
    out: list[tuple[str, str]] = []
    for index, entry in enumerate(values):
        at = f"{where}{key}[{index}]"
        if not isinstance(entry, Mapping) or not _is_uri(entry.get(member)):
            raise InvalidEpcisError(f'{at}: must be {{"type": ..., "{member}": "<URI>"}}.')
        kind = _vocabulary(entry, "type", SourceDestType, at + ".")
        if kind is None:
            raise InvalidEpcisError(f"{at}.type: a {member} names its type (e.g. owning_party).")
        out.append((kind, str(entry[member])))
    return tuple(out)


def _vocabulary(
    obj: Mapping[str, Any], key: str, vocabulary: type[StrEnum], where: str
) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    term = normalise_term(value, vocabulary) if isinstance(value, str) else None
    if term is None:
        raise InvalidEpcisError(
            f"{where}{key}: {value!r} is neither a CBV 2.0 term nor a URI; use a term such "
            f"as {next(iter(vocabulary)).value} or a URI of your own vocabulary."
        )
    return term


def normalise_term(value: str, vocabulary: type[StrEnum]) -> str | None:
    """Return a CBV value (bizStep, disposition, source/destination type) in canonical form.

    The bare term (a member of ``vocabulary``) for CBV values in any notation; any other URI
    unchanged; None for a bare word that is not in the CBV vocabulary.
    """
    terms = _terms(vocabulary)
    if value in terms:
        return vocabulary(value)
    for prefix in _VOCABULARIES[vocabulary]:
        if value.startswith(prefix) and value[len(prefix) :] in terms:
            return vocabulary(value[len(prefix) :])
    return value if _is_uri(value) else None


@cache
def _terms(vocabulary: type[StrEnum]) -> frozenset[str]:
    return frozenset(member.value for member in vocabulary)


# ----------------------------------------------------------------------------- query
@dataclass(frozen=True)
class EpcisQuery:
    """The REST binding's event query: each given parameter must hold (values are ORed).

    ``eq_biz_step`` and ``eq_disposition`` hold bare CBV terms or URIs; ``eq_action`` holds
    ``ADD``/``OBSERVE``/``DELETE``; ``match_*`` hold EPCs or patterns (see the module doc).
    """

    ge_event_time: datetime | None = None
    lt_event_time: datetime | None = None
    eq_biz_step: tuple[str, ...] = ()
    eq_action: tuple[str, ...] = ()
    eq_disposition: tuple[str, ...] = ()
    match_epc: tuple[str, ...] = ()
    match_parent_id: tuple[str, ...] = ()
    match_any_epc: tuple[str, ...] = ()


#: Query parameters we answer, in the REST binding's spelling.
QUERY_PARAMETERS = (
    "GE_eventTime",
    "LT_eventTime",
    "EQ_action",
    "EQ_bizStep",
    "EQ_disposition",
    "MATCH_epc",
    "MATCH_parentID",
    "MATCH_anyEPC",
)
#: Pagination parameters of the REST binding: the HTTP layer reads them; parse_query skips them.
PAGINATION_PARAMETERS = frozenset({"perPage", "nextPageToken"})
_STANDARD_NAMES = frozenset(
    {"eventType", "orderBy", "orderDirection", "eventCountLimit", "maxEventCount"}
)
_STANDARD_PREFIXES = ("EQ_", "GE_", "GT_", "LE_", "LT_", "MATCH_", "WD_", "EXISTS_", "EQATTR_")


def parse_query(params: Mapping[str, Sequence[str]]) -> EpcisQuery:
    """Return the query the HTTP query parameters ask for.

    ``params`` maps each parameter name to its values (a parameter may be repeated; one value
    may hold several separated by ``|``). A '+' of a UTC offset that arrived as a space (an
    unencoded '+' in a URL) is read as '+'.

    Raises:
        InvalidEpcisQueryError: an unknown or unsupported parameter, an empty value, a time
            that is not an RFC 3339 date-time with a time zone, a repeated time bound, an
            action other than ADD/OBSERVE/DELETE, a bizStep or disposition that is neither a
            CBV term nor a URI, or an EPC that is not a URI or a well-formed pattern.
    """
    values: dict[str, tuple[str, ...]] = {}
    for name, raw in params.items():
        if name in PAGINATION_PARAMETERS:
            continue
        if name not in QUERY_PARAMETERS:
            raise InvalidEpcisQueryError(_unknown_parameter(name))
        items = (raw,) if isinstance(raw, str) else tuple(raw)
        split = tuple(part for item in items for part in str(item).split("|"))
        if not split or any(not part.strip() for part in split):
            raise InvalidEpcisQueryError(f"{name} has an empty value; give a value or omit it.")
        values[name] = tuple(part.strip() for part in split)

    def time_bound(name: str) -> datetime | None:
        given = values.get(name)
        if given is None:
            return None
        if len(given) != 1:
            raise InvalidEpcisQueryError(f"{name} takes one date-time, not {len(given)}.")
        try:
            return parse_date_time(_plus_from_space(given[0]))
        except ValueError as exc:
            raise InvalidEpcisQueryError(f"{name}: {exc}.") from None

    actions = values.get("EQ_action", ())
    for action in actions:
        if action not in _terms(EpcisAction):
            raise InvalidEpcisQueryError(
                f"EQ_action: {action!r} is not one of ADD, OBSERVE, DELETE (separate several "
                "with '|')."
            )
    return EpcisQuery(
        ge_event_time=time_bound("GE_eventTime"),
        lt_event_time=time_bound("LT_eventTime"),
        eq_biz_step=_query_terms(values, "EQ_bizStep", BizStep),
        eq_action=actions,
        eq_disposition=_query_terms(values, "EQ_disposition", Disposition),
        match_epc=_query_epcs(values, "MATCH_epc"),
        match_parent_id=_query_epcs(values, "MATCH_parentID"),
        match_any_epc=_query_epcs(values, "MATCH_anyEPC"),
    )


def _unknown_parameter(name: str) -> str:
    supported = ", ".join(QUERY_PARAMETERS)
    if name in _STANDARD_NAMES or name.startswith(_STANDARD_PREFIXES):
        return f"{name} is an EPCIS query parameter tracecert does not support; use {supported}."
    return f"{name} is not an EPCIS query parameter; use {supported}."


def _plus_from_space(text: str) -> str:
    # "2026-01-01T00:00:00 08:00": a form-decoded '+' is the only way a space gets there.
    if len(text) > 6 and text[-6] == " " and text[-3] == ":":
        return text[:-6] + "+" + text[-5:]
    return text


def _query_terms(
    values: Mapping[str, tuple[str, ...]], name: str, vocabulary: type[StrEnum]
) -> tuple[str, ...]:
    out: list[str] = []
    for value in values.get(name, ()):
        term = normalise_term(value, vocabulary)
        if term is None:
            raise InvalidEpcisQueryError(
                f"{name}: {value!r} is neither a CBV 2.0 term nor a URI; use a term such as "
                f"{next(iter(vocabulary)).value} or the full URI of your own value."
            )
        out.append(term)
    return tuple(out)


def _query_epcs(values: Mapping[str, tuple[str, ...]], name: str) -> tuple[str, ...]:
    given = values.get(name, ())
    for value in given:
        try:
            _compile_pattern(value)
        except ValueError as exc:
            raise InvalidEpcisQueryError(f"{name}: {exc}.") from None
    return given


def matches(event: EpcisEvent, query: EpcisQuery) -> bool:
    """Return whether ``event`` is in the answer to ``query`` (EPCIS 2.0 section 8.2.7.1).

    Raises:
        ValueError: a MATCH_* value of a query not made by :func:`parse_query` is malformed.
    """
    if query.ge_event_time is not None and event.event_time < query.ge_event_time:
        return False
    if query.lt_event_time is not None and event.event_time >= query.lt_event_time:
        return False
    if query.eq_action and event.action.value not in query.eq_action:
        return False
    if query.eq_biz_step and not _term_in(event.biz_step, query.eq_biz_step, BizStep):
        return False
    if query.eq_disposition and not _term_in(event.disposition, query.eq_disposition, Disposition):
        return False
    members = event.epc_list + event.child_epcs
    parent = (event.parent_id,) if event.parent_id is not None else ()
    return (
        _any_match(members, query.match_epc)
        and _any_match(parent, query.match_parent_id)
        and _any_match(members + parent, query.match_any_epc)
    )


def _term_in(value: str | None, wanted: Iterable[str], vocabulary: type[StrEnum]) -> bool:
    if value is None:
        return False
    have = normalise_term(value, vocabulary) or value
    return any((normalise_term(w, vocabulary) or w) == have for w in wanted)


def _any_match(epcs: tuple[str, ...], patterns: tuple[str, ...]) -> bool:
    if not patterns:
        return True
    compiled = [_compile_pattern(p) for p in patterns]
    return any(pattern.matches(epc) for epc in epcs for pattern in compiled)


# ----------------------------------------------------------------------------- EPC matching
# An EPC's identity: ("sgtin", gtin14, serial), ("sscc", sscc18) or ("uri", the URI as sent).
_Key = tuple[str, ...]


@lru_cache(maxsize=65536)
def _epc_key(epc: str) -> _Key:
    """Return what object ``epc`` names, the same for its EPC URN and Digital Link forms."""
    if epc.startswith("urn:epc:id:"):
        scheme, _, body = epc[len("urn:epc:id:") :].partition(":")
        fields = body.split(".")
        if scheme == "sgtin" and len(fields) == 3:
            gtin = _gs1_key(fields[0], fields[1], 13)
            if gtin is not None and fields[2]:
                return ("sgtin", gtin, unquote(fields[2]))
        if scheme == "sscc" and len(fields) == 2:
            sscc = _gs1_key(fields[0], fields[1], 17)
            if sscc is not None:
                return ("sscc", sscc)
        return ("uri", epc)
    if epc.startswith(("https://", "http://")):
        return _digital_link_key(epc) or ("uri", epc)
    return ("uri", epc)


def _gs1_key(company_prefix: str, reference: str, body_length: int) -> str | None:
    """Return a GTIN-14/SSCC from an EPC URN's company prefix and reference (leading digit)."""
    if not (_DIGITS.fullmatch(company_prefix) and _DIGITS.fullmatch(reference)):
        return None
    if len(company_prefix) + len(reference) != body_length:
        return None
    body = reference[0] + company_prefix + reference[1:]
    return body + str(check_digit(body))


def _digital_link_key(uri: str) -> _Key | None:
    try:
        path = urlsplit(uri).path
    except ValueError:
        return None
    segments = [s for s in path.split("/") if s]
    for start, segment in enumerate(segments):
        if segment not in ("00", "01"):
            continue
        tail = segments[start:]
        if len(tail) % 2:
            return None
        pairs = dict(zip(tail[0::2], tail[1::2], strict=True))
        if "00" in pairs:
            return ("sscc", pairs["00"]) if is_valid_sscc(pairs["00"]) else None
        serial = pairs.get("21")
        if serial is None:
            return None
        try:
            gtin = normalise_gtin(pairs["01"])
        except InvalidGtinError:
            return None
        return ("sgtin", gtin, unquote(serial))
    return None


def canonical_epc(epc: str) -> str:
    """Return the canonical GS1 Digital Link form of an SGTIN or SSCC EPC, else ``epc``.

    ``urn:epc:id:sgtin:0614141.107346.2017`` and ``https://x.example/01/10614141073464/10/L1/
    21/2017`` both give ``https://id.gs1.org/01/10614141073464/21/2017``: store it beside the
    EPC as sent to answer MATCH_* in SQL (equality, or LIKE for a trailing ``*``).
    """
    return _canonical_epc(_epc_key(epc))


def _canonical_epc(key: _Key) -> str:
    if key[0] == "sgtin":
        return f"{GS1_RESOLVER}/01/{key[1]}/21/{quote(key[2], safe='')}"
    if key[0] == "sscc":
        return f"{GS1_RESOLVER}/00/{key[1]}"
    return key[1]


@dataclass(frozen=True)
class _Pattern:
    """One MATCH_* value, compiled: an EPC, an ``urn:epc:idpat:`` pattern or a prefix."""

    exact: _Key | None = None
    prefix: str | None = None
    idpat: tuple[str, tuple[str, ...]] | None = None

    def matches(self, epc: str) -> bool:
        key = _epc_key(epc)
        if self.exact is not None:
            return key == self.exact
        if self.prefix is not None:
            return epc.startswith(self.prefix) or _canonical_epc(key).startswith(self.prefix)
        assert self.idpat is not None
        return _idpat_matches(self.idpat[0], self.idpat[1], key, epc)


@lru_cache(maxsize=4096)
def _compile_pattern(value: str) -> _Pattern:
    """Return the compiled form of a MATCH_* value.

    Raises:
        ValueError: not a URI, or a malformed ``urn:epc:idpat:`` pattern.
    """
    if _URI.fullmatch(value) is None:
        raise ValueError(f"{value!r} is not a URI (an EPC, an EPC pattern or a URI ending in *)")
    if value.startswith("urn:epc:idpat:"):
        scheme, _, body = value[len("urn:epc:idpat:") :].partition(":")
        fields = tuple(body.split("."))
        problem = _idpat_problem(scheme, fields)
        if problem:
            raise ValueError(f"{value!r} is not an EPC pattern: {problem}")
        return _Pattern(idpat=(scheme, fields))
    if value.endswith("*"):
        prefix = value[:-1]
        if _SCHEME.match(prefix) is None or _SCHEME.fullmatch(prefix):
            raise ValueError(f"{value!r}: put '*' after a URI prefix, e.g. https://id.gs1.org/01/")
        return _Pattern(prefix=prefix)
    return _Pattern(exact=_epc_key(value))


def _idpat_problem(scheme: str, fields: tuple[str, ...]) -> str | None:
    if not scheme or not all(fields):
        return "give urn:epc:idpat:<scheme>:<field>.<field>... with no empty field"
    wild = [f == "*" for f in fields]
    if any(w and not later for i, w in enumerate(wild) for later in wild[i + 1 :]):
        return "once a field is *, the fields after it are * too"
    if any("*" in f and f != "*" for f in fields):
        return "'*' stands for a whole field"
    lengths = {"sgtin": (3, 13), "sscc": (2, 17)}
    if scheme in lengths:
        count, body = lengths[scheme]
        if len(fields) != count:
            return f"an {scheme} pattern has {count} fields"
        numeric = [f for f in fields[: count - 1 if scheme == "sgtin" else count] if f != "*"]
        if not all(_DIGITS.fullmatch(f) for f in numeric):
            return "company prefix and reference are digits"
        if len(numeric) == 2 and len(numeric[0]) + len(numeric[1]) != body:
            return f"company prefix and reference have {body} digits together"
    return None


def _idpat_matches(scheme: str, fields: tuple[str, ...], key: _Key, epc: str) -> bool:
    if scheme == "sgtin" and key[0] == "sgtin":
        prefix, reference, serial = fields
        return _gs1_fields_match(prefix, reference, key[1]) and (
            serial == "*" or unquote(serial) == key[2]
        )
    if scheme == "sscc" and key[0] == "sscc":
        return _gs1_fields_match(fields[0], fields[1], key[1])
    if scheme in ("sgtin", "sscc") or not epc.startswith(f"urn:epc:id:{scheme}:"):
        return False
    have = epc[len(f"urn:epc:id:{scheme}:") :].split(".")
    return len(have) == len(fields) and all(
        f in ("*", h) for f, h in zip(fields, have, strict=True)
    )


def _gs1_fields_match(company_prefix: str, reference: str, number: str) -> bool:
    """Whether a GTIN-14/SSCC has a pattern's company prefix and reference (either may be *)."""
    if company_prefix == "*":
        return True
    if number[1 : 1 + len(company_prefix)] != company_prefix:
        return False
    if reference == "*":
        return True
    return number[:-1] == reference[0] + company_prefix + reference[1:]
