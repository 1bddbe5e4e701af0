import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.channel.domain.epcis import (
    AGGREGATION_EVENT,
    EPCIS_CONTEXT_URL,
    OBJECT_EVENT,
    TC_NAMESPACE,
    BizStep,
    Disposition,
    EpcisAction,
    EpcisEvent,
    EpcisQuery,
    SourceDestType,
    canonical_epc,
    document,
    from_jsonld,
    location_id,
    matches,
    parse_date_time,
    parse_document,
    parse_query,
    party_id,
    query_document,
    sgtin_epc,
    sscc_epc,
    to_jsonld,
)
from service.channel.domain.errors import InvalidEpcisError, InvalidEpcisQueryError
from service.kernel.errors import InvalidCodeError, InvalidGtinError
from service.kernel.gs1 import check_digit

GTIN = "09506000134352"  # GS1's example GTIN-14
SSCC = "106141412345678908"  # GS1's example SSCC
ITEM_1 = sgtin_epc(GTIN, "ABC001")
ITEM_2 = sgtin_epc(GTIN, "ABC002")
CASE = sscc_epc(SSCC)
SHANGHAI = timezone(timedelta(hours=8))
AT = datetime(2026, 11, 25, 9, 30, 0, 123000, tzinfo=SHANGHAI)
FACTORY = party_id(3)
DISTRIBUTOR = party_id(7)
PLANT = location_id(1)
WAREHOUSE = location_id(4)


def commissioning(**changes) -> EpcisEvent:
    event = EpcisEvent(
        kind=OBJECT_EVENT,
        event_id="urn:uuid:5b2c3f8e-1d7a-4c7e-9a51-0f5d2b1e7c11",
        event_time=AT,
        action=EpcisAction.ADD,
        biz_step=BizStep.COMMISSIONING,
        disposition=Disposition.ACTIVE,
        epc_list=(ITEM_1, ITEM_2),
        read_point=PLANT,
        biz_location=PLANT,
    )
    return replace(event, **changes)


def packing(**changes) -> EpcisEvent:
    event = EpcisEvent(
        kind=AGGREGATION_EVENT,
        event_id="urn:uuid:0c1e8f5a-3b44-4b8e-8d0e-2f9a6c7d1e22",
        event_time=AT,
        action=EpcisAction.ADD,
        biz_step=BizStep.PACKING,
        disposition=Disposition.IN_PROGRESS,
        parent_id=CASE,
        child_epcs=(ITEM_1, ITEM_2),
        read_point=PLANT,
    )
    return replace(event, **changes)


def shipping(**changes) -> EpcisEvent:
    event = EpcisEvent(
        kind=OBJECT_EVENT,
        event_id="urn:uuid:7f0a9e1b-2c3d-4e5f-8a9b-0c1d2e3f4a33",
        event_time=AT,
        action=EpcisAction.OBSERVE,
        biz_step=BizStep.SHIPPING,
        disposition=Disposition.IN_TRANSIT,
        epc_list=(CASE,),
        read_point=PLANT,
        biz_location=PLANT,
        source_list=((SourceDestType.OWNING_PARTY, FACTORY), (SourceDestType.LOCATION, PLANT)),
        destination_list=(
            (SourceDestType.OWNING_PARTY, DISTRIBUTOR),
            (SourceDestType.LOCATION, WAREHOUSE),
        ),
        extensions={"tc:shipment": "s_0001"},
    )
    return replace(event, **changes)


def through_json(value):
    return json.loads(json.dumps(value))


# ----------------------------------------------------------------------------- identifiers
def test_sgtin_epc_is_the_canonical_digital_link_of_gtin_and_serial():
    assert sgtin_epc(GTIN, "ABC001") == "https://id.gs1.org/01/09506000134352/21/ABC001"


def test_sgtin_epc_pads_a_gtin_13_to_fourteen_digits():
    assert sgtin_epc("9506000134352", "7") == "https://id.gs1.org/01/09506000134352/21/7"


def test_sgtin_epc_refuses_a_wrong_check_digit():
    with pytest.raises(InvalidGtinError):
        sgtin_epc("09506000134353", "ABC001")


@pytest.mark.parametrize("serial", ["", "a/b", "x" * 21, "带"])
def test_sgtin_epc_refuses_a_serial_that_would_break_the_uri(serial):
    with pytest.raises(InvalidCodeError):
        sgtin_epc(GTIN, serial)


def test_sscc_epc_is_the_canonical_digital_link_of_the_sscc():
    assert sscc_epc(SSCC) == "https://id.gs1.org/00/106141412345678908"


def test_sscc_epc_refuses_a_wrong_check_digit():
    with pytest.raises(InvalidCodeError):
        sscc_epc("106141412345678909")


def test_parties_and_sites_are_named_by_stable_urns():
    assert party_id(7) == "urn:tracecert:party:7"
    assert location_id(3) == "urn:tracecert:site:3"


@pytest.mark.parametrize("bad", [0, -1, True, "7"])
def test_party_and_site_ids_are_positive_integers(bad):
    with pytest.raises(ValueError):
        party_id(bad)
    with pytest.raises(ValueError):
        location_id(bad)


# ----------------------------------------------------------------------------- rendering
def test_commissioning_object_event_renders_epcis_members_with_bare_cbv_terms():
    assert to_jsonld(commissioning()) == {
        "type": "ObjectEvent",
        "eventID": "urn:uuid:5b2c3f8e-1d7a-4c7e-9a51-0f5d2b1e7c11",
        "eventTime": "2026-11-25T09:30:00.123+08:00",
        "eventTimeZoneOffset": "+08:00",
        "epcList": [ITEM_1, ITEM_2],
        "action": "ADD",
        "bizStep": "commissioning",
        "disposition": "active",
        "readPoint": {"id": "urn:tracecert:site:1"},
        "bizLocation": {"id": "urn:tracecert:site:1"},
    }


def test_aggregation_event_renders_parent_and_children_and_no_epc_list():
    assert to_jsonld(packing()) == {
        "type": "AggregationEvent",
        "eventID": "urn:uuid:0c1e8f5a-3b44-4b8e-8d0e-2f9a6c7d1e22",
        "eventTime": "2026-11-25T09:30:00.123+08:00",
        "eventTimeZoneOffset": "+08:00",
        "parentID": CASE,
        "childEPCs": [ITEM_1, ITEM_2],
        "action": "ADD",
        "bizStep": "packing",
        "disposition": "in_progress",
        "readPoint": {"id": "urn:tracecert:site:1"},
    }


def test_shipping_event_renders_source_and_destination_lists_and_our_extension():
    rendered = to_jsonld(shipping())
    assert rendered["action"] == "OBSERVE"
    assert rendered["bizStep"] == "shipping"
    assert rendered["disposition"] == "in_transit"
    assert rendered["sourceList"] == [
        {"type": "owning_party", "source": "urn:tracecert:party:3"},
        {"type": "location", "source": "urn:tracecert:site:1"},
    ]
    assert rendered["destinationList"] == [
        {"type": "owning_party", "destination": "urn:tracecert:party:7"},
        {"type": "location", "destination": "urn:tracecert:site:4"},
    ]
    assert rendered["tc:shipment"] == "s_0001"


def test_unpacking_everything_is_a_delete_aggregation_without_children():
    event = packing(action=EpcisAction.DELETE, biz_step=BizStep.UNPACKING, child_epcs=())
    rendered = to_jsonld(event)
    assert rendered["action"] == "DELETE"
    assert rendered["childEPCs"] == []
    assert rendered["parentID"] == CASE


def test_utc_times_render_with_z_and_a_zero_offset():
    rendered = to_jsonld(commissioning(event_time=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)))
    assert rendered["eventTime"] == "2026-01-02T03:04:05.000Z"
    assert rendered["eventTimeZoneOffset"] == "+00:00"


def test_negative_offsets_render_with_their_sign():
    west = timezone(-timedelta(hours=3, minutes=30))
    rendered = to_jsonld(commissioning(event_time=datetime(2026, 1, 2, 3, 4, 5, tzinfo=west)))
    assert rendered["eventTime"] == "2026-01-02T03:04:05.000-03:30"
    assert rendered["eventTimeZoneOffset"] == "-03:30"


def test_microseconds_are_rendered_when_milliseconds_would_lose_them():
    rendered = to_jsonld(commissioning(event_time=AT.replace(microsecond=123456)))
    assert rendered["eventTime"] == "2026-11-25T09:30:00.123456+08:00"


def test_record_time_is_rendered_when_set():
    recorded = datetime(2026, 11, 25, 1, 31, tzinfo=UTC)
    assert (
        to_jsonld(commissioning(record_time=recorded))["recordTime"] == "2026-11-25T01:31:00.000Z"
    )
    assert "recordTime" not in to_jsonld(commissioning())


@pytest.mark.parametrize(
    "notation",
    [
        "shipping",
        "https://ref.gs1.org/cbv/BizStep-shipping",
        "cbv:BizStep-shipping",
        "urn:epcglobal:cbv:bizstep:shipping",
    ],
)
def test_a_cbv_biz_step_in_any_notation_is_held_and_rendered_as_the_bare_term(notation):
    event = shipping(biz_step=notation)
    assert event.biz_step == BizStep.SHIPPING
    assert to_jsonld(event)["bizStep"] == "shipping"


def test_a_non_cbv_biz_step_uri_is_kept_verbatim():
    custom = "https://brand.example.com/steps/bottling"
    assert to_jsonld(commissioning(biz_step=custom))["bizStep"] == custom


def test_cbv_disposition_and_source_type_uris_are_held_as_bare_terms():
    event = shipping(
        disposition="https://ref.gs1.org/cbv/Disp-in_transit",
        source_list=(("https://ref.gs1.org/cbv/SDT-owning_party", FACTORY),),
    )
    assert event.disposition == "in_transit"
    assert event.source_list == (("owning_party", FACTORY),)


def test_an_event_with_a_cbv_uri_equals_one_with_the_bare_term():
    assert shipping(biz_step="https://ref.gs1.org/cbv/BizStep-shipping") == shipping()


def test_the_rendered_event_does_not_share_its_extension_values_with_the_event():
    event = shipping(extensions={"tc:tags": ["a"]})
    to_jsonld(event)["tc:tags"].append("b")
    assert event.extensions == {"tc:tags": ["a"]}


def test_document_names_the_epcis_context_our_namespace_and_schema_version():
    created = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
    doc = document([commissioning(), packing()], created)
    assert doc["@context"] == [EPCIS_CONTEXT_URL, {"tc": TC_NAMESPACE}]
    assert doc["type"] == "EPCISDocument"
    assert doc["schemaVersion"] == "2.0"
    assert doc["creationDate"] == "2026-11-25T02:00:00.000Z"
    assert doc["epcisBody"]["eventList"] == [to_jsonld(commissioning()), to_jsonld(packing())]
    assert "sender" not in doc


def test_document_names_the_sender_when_given():
    doc = document([], datetime(2026, 1, 1, tzinfo=UTC), sender=party_id(3))
    assert doc["sender"] == "urn:tracecert:party:3"


def test_query_document_holds_the_events_in_the_query_results_of_simple_event_query():
    doc = query_document([shipping()], datetime(2026, 1, 1, tzinfo=UTC))
    assert doc["type"] == "EPCISQueryDocument"
    assert doc["@context"] == [EPCIS_CONTEXT_URL, {"tc": TC_NAMESPACE}]
    results = doc["epcisBody"]["queryResults"]
    assert results["queryName"] == "SimpleEventQuery"
    assert results["resultsBody"]["eventList"] == [to_jsonld(shipping())]


def test_documents_refuse_a_naive_creation_date():
    with pytest.raises(ValueError, match="timezone-aware"):
        document([], datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="timezone-aware"):
        query_document([], datetime(2026, 1, 1))


@pytest.mark.parametrize(
    ("make", "changes", "message"),
    [
        (commissioning, {"kind": "TransformationEvent"}, "kind is one of"),
        (commissioning, {"event_time": datetime(2026, 1, 1)}, "timezone-aware"),
        (commissioning, {"record_time": datetime(2026, 1, 1)}, "timezone-aware"),
        (commissioning, {"epc_list": ()}, "at least one EPC"),
        (commissioning, {"epc_list": (ITEM_1, ITEM_1)}, "twice"),
        (commissioning, {"epc_list": ("not a uri",)}, "tuple of URIs"),
        (commissioning, {"parent_id": CASE}, "not parent_id"),
        (commissioning, {"action": "ADD"}, "EpcisAction"),
        (commissioning, {"event_id": "42"}, "event_id is a URI"),
        (commissioning, {"biz_step": "shiping"}, "CBV term or a URI"),
        (commissioning, {"disposition": "activ"}, "CBV term or a URI"),
        (
            commissioning,
            {"event_time": datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=14, minutes=1)))},
            "-14:00 and \\+14:00",
        ),
        (commissioning, {"extensions": {"shipment": "s_1"}}, "namespaced"),
        (commissioning, {"extensions": {"eventTime": "x"}}, "namespaced"),
        (commissioning, {"extensions": {"childQuantityList": []}}, "namespaced"),
        (shipping, {"source_list": (("owner", FACTORY),)}, "source/destination type"),
        (packing, {"epc_list": (ITEM_1,)}, "not epc_list"),
        (packing, {"parent_id": None}, "names its parent_id"),
        (packing, {"action": EpcisAction.DELETE, "parent_id": None}, "names its parent_id"),
        (packing, {"child_epcs": ()}, "at least one child"),
    ],
)
def test_an_event_that_contradicts_epcis_cannot_be_built(make, changes, message):
    with pytest.raises(ValueError, match=message):
        make(**changes)


def test_an_observed_aggregation_may_omit_its_parent():
    event = packing(action=EpcisAction.OBSERVE, parent_id=None)
    assert "parentID" not in to_jsonld(event)


def test_events_are_hashable_despite_their_extensions():
    assert hash(shipping()) == hash(shipping(extensions={"tc:shipment": "other"}))


# ----------------------------------------------------------------------------- round trips
@pytest.mark.parametrize(
    "event",
    [
        commissioning(),
        packing(),
        shipping(record_time=datetime(2026, 11, 25, 1, 31, 2, 5, tzinfo=UTC)),
        shipping(biz_step=BizStep.RECEIVING, disposition=Disposition.IN_PROGRESS),
        packing(action=EpcisAction.DELETE, biz_step=BizStep.UNPACKING, child_epcs=()),
        commissioning(biz_step="https://brand.example.com/steps/bottling", disposition=None),
    ],
    ids=["commissioning", "packing", "shipping", "receiving", "unpacking", "custom-step"],
)
def test_an_event_rendered_and_read_back_is_equal_to_itself(event):
    assert from_jsonld(through_json(to_jsonld(event))) == event


_OFFSETS = st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
_TIMES = st.datetimes(
    min_value=datetime(1970, 1, 1), max_value=datetime(2200, 1, 1), timezones=_OFFSETS
)
_SERIALS = st.text(
    alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-",
    min_size=1,
    max_size=20,
)
_GTINS = st.text(alphabet="0123456789", min_size=13, max_size=13).map(
    lambda body: body + str(check_digit(body))
)
_SSCCS = st.text(alphabet="0123456789", min_size=17, max_size=17).map(
    lambda body: sscc_epc(body + str(check_digit(body)))
)
_ITEMS = st.builds(sgtin_epc, _GTINS, _SERIALS)
_EPCS = st.lists(st.one_of(_ITEMS, _SSCCS), min_size=1, max_size=5, unique=True).map(tuple)
_PLACES = st.one_of(st.none(), st.integers(1, 10**6).map(location_id))
_STEPS = st.one_of(
    st.none(), st.sampled_from(BizStep), st.just("https://brand.example.com/steps/aging")
)
_DISPOSITIONS = st.one_of(st.none(), st.sampled_from(Disposition))
_PARTIES = st.lists(
    st.tuples(
        st.sampled_from(SourceDestType),
        st.one_of(st.integers(1, 999).map(party_id), st.integers(1, 999).map(location_id)),
    ),
    max_size=3,
).map(tuple)
_EXTENSIONS = st.dictionaries(
    st.from_regex(r"tc:[a-z][a-zA-Z]{0,10}", fullmatch=True),
    st.one_of(st.text(max_size=20), st.integers(-(10**9), 10**9), st.lists(st.text(max_size=5))),
    max_size=3,
)


@st.composite
def events(draw):
    kind = draw(st.sampled_from([OBJECT_EVENT, AGGREGATION_EVENT]))
    action = draw(st.sampled_from(EpcisAction))
    common = dict(
        kind=kind,
        event_id=f"urn:uuid:{draw(st.uuids())}",
        event_time=draw(_TIMES),
        action=action,
        biz_step=draw(_STEPS),
        disposition=draw(_DISPOSITIONS),
        read_point=draw(_PLACES),
        biz_location=draw(_PLACES),
        source_list=draw(_PARTIES),
        destination_list=draw(_PARTIES),
        record_time=draw(st.one_of(st.none(), _TIMES)),
        extensions=draw(_EXTENSIONS),
    )
    if kind == OBJECT_EVENT:
        return EpcisEvent(epc_list=draw(_EPCS), **common)
    children = draw(_EPCS)
    if action is EpcisAction.DELETE:
        children = draw(st.one_of(st.just(()), st.just(children)))
    parent = draw(_SSCCS)
    if action is EpcisAction.OBSERVE:
        parent = draw(st.one_of(st.none(), st.just(parent)))
    return EpcisEvent(parent_id=parent, child_epcs=children, **common)


@given(events())
def test_any_event_survives_rendering_to_json_and_reading_back(event):
    back = from_jsonld(through_json(to_jsonld(event)))
    assert back == event
    assert back.event_time.utcoffset() == event.event_time.utcoffset()


@given(st.lists(events(), max_size=4, unique_by=lambda e: e.event_id))
def test_any_document_survives_rendering_and_parsing(evs):
    doc = through_json(document(evs, datetime(2026, 1, 1, tzinfo=UTC)))
    assert parse_document(doc) == evs


# ----------------------------------------------------------------------------- reading
def object_json(**changes):
    obj = {
        "type": "ObjectEvent",
        "eventID": "urn:uuid:11111111-2222-4333-8444-555555555555",
        "eventTime": "2026-11-25T01:30:00.000Z",
        "eventTimeZoneOffset": "+08:00",
        "epcList": [ITEM_1],
        "action": "OBSERVE",
        "bizStep": "receiving",
        "disposition": "in_progress",
    }
    obj.update(changes)
    return {k: v for k, v in obj.items() if v is not None}


def aggregation_json(**changes):
    obj = {
        "type": "AggregationEvent",
        "eventID": "urn:uuid:11111111-2222-4333-8444-666666666666",
        "eventTime": "2026-11-25T09:30:00+08:00",
        "eventTimeZoneOffset": "+08:00",
        "parentID": CASE,
        "childEPCs": [ITEM_1, ITEM_2],
        "action": "ADD",
        "bizStep": "packing",
    }
    obj.update(changes)
    return {k: v for k, v in obj.items() if v is not None}


def test_event_time_is_held_in_the_declared_time_zone_offset():
    event = from_jsonld(object_json())
    assert event.event_time == datetime(2026, 11, 25, 1, 30, tzinfo=UTC)
    assert event.event_time.utcoffset() == timedelta(hours=8)
    assert to_jsonld(event)["eventTime"] == "2026-11-25T09:30:00.000+08:00"


def test_an_event_without_a_time_zone_offset_keeps_the_event_times_own_offset():
    event = from_jsonld(
        object_json(eventTime="2026-11-25T09:30:00-05:00", eventTimeZoneOffset=None)
    )
    assert event.event_time.utcoffset() == -timedelta(hours=5)


def test_fractions_finer_than_a_microsecond_are_truncated():
    event = from_jsonld(object_json(eventTime="2026-11-25T01:30:00.123456789Z"))
    assert event.event_time.microsecond == 123456


@pytest.mark.parametrize(
    ("member", "notation", "term"),
    [
        ("bizStep", "https://ref.gs1.org/cbv/BizStep-receiving", "receiving"),
        ("bizStep", "cbv:BizStep-receiving", "receiving"),
        ("bizStep", "urn:epcglobal:cbv:bizstep:receiving", "receiving"),
        ("disposition", "https://ref.gs1.org/cbv/Disp-recalled", "recalled"),
        ("disposition", "urn:epcglobal:cbv:disp:recalled", "recalled"),
    ],
)
def test_cbv_values_in_any_notation_are_read_as_bare_terms(member, notation, term):
    event = from_jsonld(object_json(**{member: notation}))
    assert getattr(event, "biz_step" if member == "bizStep" else "disposition") == term


def test_source_and_destination_types_are_read_as_bare_terms():
    event = from_jsonld(
        object_json(
            sourceList=[{"type": "urn:epcglobal:cbv:sdt:owning_party", "source": FACTORY}],
            destinationList=[{"type": "location", "destination": WAREHOUSE}],
        )
    )
    assert event.source_list == (("owning_party", FACTORY),)
    assert event.destination_list == (("location", WAREHOUSE),)


def test_standard_members_we_do_not_model_are_kept_verbatim_and_rendered_back():
    transactions = [{"type": "po", "bizTransaction": "http://transaction.acme.com/po/1"}]
    event = from_jsonld(object_json(bizTransactionList=transactions, quantityList=[]))
    assert event.extensions == {"bizTransactionList": transactions, "quantityList": []}
    assert to_jsonld(event)["bizTransactionList"] == transactions


@pytest.mark.parametrize("kind", ["TransformationEvent", "AssociationEvent", "TransactionEvent"])
def test_other_epcis_event_types_are_refused_naming_what_we_take(kind):
    with pytest.raises(InvalidEpcisError, match=f"{kind} is not supported.*ObjectEvent"):
        from_jsonld(object_json(type=kind))


def test_an_extension_event_type_is_refused():
    with pytest.raises(InvalidEpcisError, match="not an event type tracecert takes"):
        from_jsonld(object_json(type="https://example.com/MyEvent"))


def test_a_quantity_only_object_event_is_refused():
    quantities = [{"epcClass": "urn:epc:class:lgtin:4012345.012345.998877", "quantity": 200}]
    with pytest.raises(InvalidEpcisError, match="epcList: the event names no EPC"):
        from_jsonld(object_json(epcList=None, quantityList=quantities))
    with pytest.raises(InvalidEpcisError, match="names no EPC"):
        from_jsonld(object_json(epcList=[], quantityList=quantities))


def test_a_quantity_only_aggregation_is_refused():
    quantities = [{"epcClass": "urn:epc:idpat:sgtin:4012345.098765.*", "quantity": 10}]
    with pytest.raises(InvalidEpcisError, match="childEPCs: the event names no child"):
        from_jsonld(aggregation_json(childEPCs=None, childQuantityList=quantities))


def test_an_aggregation_that_adds_without_a_parent_is_refused():
    with pytest.raises(InvalidEpcisError, match="parentID: an AggregationEvent with action ADD"):
        from_jsonld(aggregation_json(parentID=None))


def test_a_delete_aggregation_without_children_is_taken_as_unpacking_everything():
    event = from_jsonld(aggregation_json(action="DELETE", childEPCs=None, bizStep="unpacking"))
    assert event.child_epcs == ()
    assert event.parent_id == CASE


@pytest.mark.parametrize(
    ("event_time", "message"),
    [
        ("2026-11-25T09:30:00", "has no time zone"),
        ("2026-11-25 09:30:00Z", "is not a date-time"),
        ("2026-02-30T09:30:00Z", "not a real date"),
        ("2016-12-31T23:59:60Z", "leap second"),
        (None, "missing"),
        (1764034200, "is not a date-time"),
    ],
)
def test_an_event_time_we_cannot_hold_is_refused(event_time, message):
    with pytest.raises(InvalidEpcisError, match=f"eventTime: .*{message}"):
        from_jsonld(object_json(eventTime=event_time))


@pytest.mark.parametrize("offset", ["+8:00", "+14:30", "08:00", "Z"])
def test_a_malformed_time_zone_offset_is_refused(offset):
    with pytest.raises(InvalidEpcisError, match="eventTimeZoneOffset"):
        from_jsonld(object_json(eventTimeZoneOffset=offset))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"action": "MOVE"}, "action: 'MOVE' is not one of ADD, OBSERVE, DELETE"),
        ({"action": None}, "action: None is not one of"),
        ({"bizStep": "shiping"}, "bizStep: 'shiping' is neither a CBV 2.0 term nor a URI"),
        ({"epcList": ITEM_1}, "epcList: must be a list"),
        ({"epcList": ["not a uri"]}, r"epcList\[0\]: 'not a uri' is not a URI"),
        ({"epcList": [ITEM_1, ITEM_1]}, "listed twice"),
        ({"eventID": "42"}, "eventID: '42' is not a URI"),
        ({"myField": 1}, "myField: not a member of a ObjectEvent"),
        ({"childEPCs": [ITEM_2]}, "childEPCs: not a member of a ObjectEvent"),
        ({"readPoint": "urn:tracecert:site:1"}, 'readPoint: must be {"id"'),
        (
            {"readPoint": {"id": PLANT, "example:dock": "7"}},
            "readPoint: tracecert keeps only the id",
        ),
        ({"sourceList": [{"source": FACTORY}]}, r"sourceList\[0\].type: a source names its type"),
    ],
)
def test_an_event_we_cannot_take_is_refused_naming_the_member(changes, message):
    with pytest.raises(InvalidEpcisError, match=message):
        from_jsonld(object_json(**changes))


def test_an_event_without_an_event_id_gets_the_same_name_based_id_each_time():
    first = from_jsonld(object_json(eventID=None))
    again = from_jsonld(object_json(eventID=None))
    other = from_jsonld(object_json(eventID=None, bizStep="shipping"))
    assert first.event_id.startswith("urn:uuid:")
    assert first.event_id == again.event_id
    assert first.event_id != other.event_id


def test_a_nested_extension_value_is_copied_not_shared_with_the_input():
    obj = object_json(**{"example:tags": ["a"]})
    event = from_jsonld(obj)
    obj["example:tags"].append("b")
    assert event.extensions["example:tags"] == ["a"]


def test_parse_date_time_reads_rfc_3339_with_zulu_or_offset():
    assert parse_date_time("2026-11-25t01:30:00z") == datetime(2026, 11, 25, 1, 30, tzinfo=UTC)
    assert parse_date_time("2026-11-25T09:30:00.5+08:00").microsecond == 500000


# ----------------------------------------------------------------------------- documents
def partner_document(*events, context=None):
    return {
        "@context": context
        or [
            "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
            {"example": "http://ns.example.com/epcis/"},
        ],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2026-11-25T10:00:00Z",
        "epcisBody": {"eventList": list(events)},
    }


def test_a_partner_prefix_is_copied_into_the_events_own_context():
    doc = partner_document(object_json(**{"example:myField": "x"}))
    (event,) = parse_document(doc)
    assert event.extensions["@context"] == [{"example": "http://ns.example.com/epcis/"}]
    assert event.extensions["example:myField"] == "x"


def test_a_partner_prefix_survives_our_rendering_and_a_second_parse():
    events = parse_document(partner_document(object_json(**{"example:myField": "x"})))
    doc = through_json(document(events, datetime(2026, 1, 1, tzinfo=UTC)))
    assert doc["epcisBody"]["eventList"][0]["@context"] == [
        {"example": "http://ns.example.com/epcis/"}
    ]
    assert parse_document(doc) == events


def test_our_own_documents_add_no_context_to_the_events():
    doc = through_json(document([shipping()], datetime(2026, 1, 1, tzinfo=UTC)))
    (event,) = parse_document(doc)
    assert "@context" not in event.extensions
    assert event == shipping()


def test_a_query_document_is_read_like_a_document():
    doc = through_json(query_document([shipping(), packing()], datetime(2026, 1, 1, tzinfo=UTC)))
    assert parse_document(doc) == [shipping(), packing()]


def test_a_document_without_events_has_none():
    assert parse_document(partner_document()) == []


def test_a_refused_event_is_named_by_its_path_in_the_document():
    doc = partner_document(object_json(), object_json(eventID="urn:x:2", action="MOVE"))
    with pytest.raises(InvalidEpcisError, match=r"epcisBody\.eventList\[1\]\.action: 'MOVE'"):
        parse_document(doc)


def test_two_events_with_the_same_event_id_are_refused():
    doc = partner_document(object_json(), aggregation_json(eventID=object_json()["eventID"]))
    with pytest.raises(InvalidEpcisError, match=r"eventList\[1\]\.eventID: .* of .*eventList\[0\]"):
        parse_document(doc)


def test_the_same_event_sent_twice_without_ids_is_refused():
    doc = partner_document(object_json(eventID=None), object_json(eventID=None))
    with pytest.raises(InvalidEpcisError, match=r"eventList\[1\]: the same event as .*\[0\]"):
        parse_document(doc)


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (object_json(), "type: 'ObjectEvent' is not an EPCIS document"),
        ({"type": "EPCISDocument", "epcisBody": {}}, "epcisBody.eventList: must be a list"),
        ({"type": "EPCISDocument"}, "epcisBody: must be an object"),
        ([], "is a JSON object"),
    ],
)
def test_something_other_than_an_epcis_document_is_refused(doc, message):
    with pytest.raises(InvalidEpcisError, match=message):
        parse_document(doc)


# ----------------------------------------------------------------------------- parse_query
def test_parse_query_reads_repeated_and_pipe_separated_values():
    query = parse_query(
        {
            "EQ_bizStep": ["shipping|receiving", "packing"],
            "EQ_action": ["ADD"],
            "MATCH_epc": [ITEM_1, ITEM_2],
        }
    )
    assert query.eq_biz_step == ("shipping", "receiving", "packing")
    assert query.eq_action == ("ADD",)
    assert query.match_epc == (ITEM_1, ITEM_2)


def test_parse_query_reads_time_bounds_as_aware_datetimes():
    query = parse_query(
        {"GE_eventTime": ["2026-11-25T00:00:00+08:00"], "LT_eventTime": ["2026-11-26T00:00:00Z"]}
    )
    assert query.ge_event_time == datetime(2026, 11, 24, 16, tzinfo=UTC)
    assert query.lt_event_time == datetime(2026, 11, 26, tzinfo=UTC)


def test_an_offset_whose_plus_arrived_as_a_space_is_read_as_plus():
    query = parse_query({"GE_eventTime": ["2026-11-25T00:00:00 08:00"]})
    assert query.ge_event_time == datetime(2026, 11, 24, 16, tzinfo=UTC)


def test_parse_query_normalises_cbv_uris_to_bare_terms():
    query = parse_query(
        {
            "EQ_bizStep": ["https://ref.gs1.org/cbv/BizStep-shipping"],
            "EQ_disposition": ["urn:epcglobal:cbv:disp:in_transit"],
        }
    )
    assert query.eq_biz_step == ("shipping",)
    assert query.eq_disposition == ("in_transit",)


def test_parse_query_takes_a_single_string_as_one_value():
    assert parse_query({"EQ_action": "OBSERVE"}).eq_action == ("OBSERVE",)


def test_parse_query_skips_pagination_parameters_and_empty_params_ask_for_everything():
    assert parse_query({"perPage": ["30"], "nextPageToken": ["x"]}) == EpcisQuery()
    assert parse_query({}) == EpcisQuery()


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"GE_eventTime": ["yesterday"]}, "GE_eventTime: 'yesterday' is not a date-time"),
        ({"LT_eventTime": ["2026-11-25T00:00:00"]}, "LT_eventTime: .* has no time zone"),
        ({"GE_eventTime": ["2026-11-25T00:00:00Z", "2026-11-26T00:00:00Z"]}, "takes one"),
        ({"GE_eventTime": ["2026-11-25T00:00:00Z|2026-11-26T00:00:00Z"]}, "takes one"),
        ({"EQ_action": ["MOVE"]}, "EQ_action: 'MOVE' is not one of"),
        ({"EQ_action": ["ADD,OBSERVE"]}, "separate several with '\\|'"),
        ({"EQ_bizStep": ["shiping"]}, "EQ_bizStep: 'shiping' is neither a CBV 2.0 term"),
        ({"EQ_disposition": ["transit"]}, "EQ_disposition: 'transit'"),
        ({"EQ_bizStep": [""]}, "EQ_bizStep has an empty value"),
        ({"EQ_bizStep": ["shipping||receiving"]}, "empty value"),
        ({"EQ_bizStep": []}, "empty value"),
        ({"MATCH_epc": ["ABC001"]}, "MATCH_epc: 'ABC001' is not a URI"),
        ({"MATCH_epc": ["urn:epc:idpat:sgtin:0614141.*.2017"]}, "fields after it are \\* too"),
        ({"MATCH_epc": ["urn:epc:idpat:sgtin:0614141.107346"]}, "has 3 fields"),
        ({"MATCH_epc": ["urn:epc:idpat:sgtin:0614141.10734.*"]}, "13 digits together"),
        ({"MATCH_anyEPC": ["urn:epc:idpat:sscc:06141*.*"]}, "whole field"),
        ({"MATCH_parentID": ["https:*"]}, "after a URI prefix"),
        ({"EQ_readPoint": ["urn:tracecert:site:1"]}, "EQ_readPoint is an EPCIS query parameter"),
        ({"eventType": ["ObjectEvent"]}, "eventType is an EPCIS query parameter tracecert does"),
        ({"bizStep": ["shipping"]}, "bizStep is not an EPCIS query parameter; use GE_eventTime"),
    ],
)
def test_parse_query_refuses_bad_parameters_saying_what_to_send(params, message):
    with pytest.raises(InvalidEpcisQueryError, match=message):
        parse_query(params)


# ----------------------------------------------------------------------------- matches
def q(**params) -> EpcisQuery:
    return parse_query({name: [value] for name, value in params.items()})


def test_an_empty_query_matches_every_event():
    assert all(matches(e, EpcisQuery()) for e in (commissioning(), packing(), shipping()))


def test_ge_event_time_is_inclusive_and_lt_event_time_exclusive():
    event = commissioning()  # 2026-11-25T09:30:00.123+08:00 = 01:30:00.123Z
    assert matches(event, q(GE_eventTime="2026-11-25T01:30:00.123Z"))
    assert not matches(event, q(GE_eventTime="2026-11-25T01:30:00.124Z"))
    assert matches(event, q(LT_eventTime="2026-11-25T01:30:00.124Z"))
    assert not matches(event, q(LT_eventTime="2026-11-25T09:30:00.123+08:00"))


def test_time_bounds_compare_instants_across_offsets():
    event = commissioning()
    query = q(GE_eventTime="2026-11-24T20:30:00-05:00", LT_eventTime="2026-11-24T20:30:01-05:00")
    assert matches(event, query)


def test_eq_action_keeps_events_with_one_of_the_actions():
    assert matches(commissioning(), q(EQ_action="ADD|DELETE"))
    assert not matches(shipping(), q(EQ_action="ADD|DELETE"))


@pytest.mark.parametrize("asked", ["shipping", "https://ref.gs1.org/cbv/BizStep-shipping"])
@pytest.mark.parametrize("held", ["shipping", "urn:epcglobal:cbv:bizstep:shipping"])
def test_eq_biz_step_matches_the_bare_term_and_its_uri_alike(asked, held):
    assert matches(shipping(biz_step=held), q(EQ_bizStep=asked))
    assert not matches(shipping(biz_step=held), q(EQ_bizStep="receiving"))


def test_eq_biz_step_matches_a_custom_step_by_its_uri_and_never_an_event_without_one():
    custom = "https://brand.example.com/steps/aging"
    assert matches(commissioning(biz_step=custom), q(EQ_bizStep=custom))
    assert not matches(commissioning(biz_step=None), q(EQ_bizStep="commissioning"))


def test_eq_biz_step_on_a_programmatic_query_compares_uri_and_term_alike():
    query = EpcisQuery(eq_biz_step=("https://ref.gs1.org/cbv/BizStep-packing",))
    assert matches(packing(), query)


def test_eq_disposition_keeps_events_with_one_of_the_dispositions():
    assert matches(shipping(), q(EQ_disposition="in_transit|recalled"))
    assert not matches(commissioning(), q(EQ_disposition="in_transit"))
    assert not matches(commissioning(disposition=None), q(EQ_disposition="active"))


def test_match_epc_looks_at_epc_list_and_child_epcs_but_not_the_parent():
    assert matches(commissioning(), q(MATCH_epc=ITEM_2))
    assert matches(packing(), q(MATCH_epc=ITEM_2))
    assert not matches(packing(), q(MATCH_epc=CASE))


def test_match_parent_id_looks_at_the_parent_only():
    assert matches(packing(), q(MATCH_parentID=CASE))
    assert not matches(packing(), q(MATCH_parentID=ITEM_1))
    assert not matches(shipping(), q(MATCH_parentID=CASE))  # the case is in its epcList


def test_match_any_epc_looks_at_epc_list_children_and_parent():
    assert matches(packing(), q(MATCH_anyEPC=CASE))
    assert matches(packing(), q(MATCH_anyEPC=ITEM_1))
    assert matches(shipping(), q(MATCH_anyEPC=CASE))
    assert not matches(commissioning(), q(MATCH_anyEPC=CASE))


def test_an_epc_urn_and_its_digital_link_match_each_other():
    urn_item = "urn:epc:id:sgtin:0614141.107346.2017"
    link_item = "https://id.gs1.org/01/10614141073464/21/2017"
    urn_case = "urn:epc:id:sscc:0614141.1234567890"
    link_case = "https://id.gs1.org/00/106141412345678908"
    event = packing(parent_id=urn_case, child_epcs=(urn_item,))
    assert matches(event, q(MATCH_epc=link_item))
    assert matches(event, q(MATCH_parentID=link_case))
    ours = packing(parent_id=link_case, child_epcs=(link_item,))
    assert matches(ours, q(MATCH_epc=urn_item))
    assert matches(ours, q(MATCH_parentID=urn_case))


def test_a_digital_link_on_another_host_with_a_lot_names_the_same_item():
    printed = f"https://qr.brand.example.com/01/{GTIN}/10/L2026-11/21/ABC001"
    assert matches(commissioning(), q(MATCH_epc=printed))
    assert not matches(commissioning(), q(MATCH_epc=printed.replace("ABC001", "ABC009")))


def test_an_epc_pure_identity_pattern_matches_urn_and_digital_link_epcs():
    urn_item = "urn:epc:id:sgtin:0614141.107346.2017"
    link_item = "https://id.gs1.org/01/10614141073464/21/2017"
    other = "https://id.gs1.org/01/10614141073471/21/2017"  # item reference 107347
    for pattern, expected in [
        ("urn:epc:idpat:sgtin:0614141.107346.*", (True, True, False)),
        ("urn:epc:idpat:sgtin:0614141.107346.2017", (True, True, False)),
        ("urn:epc:idpat:sgtin:0614141.*.*", (True, True, True)),
        ("urn:epc:idpat:sgtin:*.*.*", (True, True, True)),
        ("urn:epc:idpat:sgtin:0614142.*.*", (False, False, False)),
        ("urn:epc:idpat:sgtin:0614141.107346.2018", (False, False, False)),
    ]:
        got = tuple(
            matches(commissioning(epc_list=(epc,)), q(MATCH_epc=pattern))
            for epc in (urn_item, link_item, other)
        )
        assert got == expected, pattern


def test_an_sscc_pattern_matches_cases_of_the_company_prefix():
    event = packing()  # parent SSCC 106141412345678908: extension 1, prefix 0614141
    assert matches(event, q(MATCH_parentID="urn:epc:idpat:sscc:0614141.*"))
    assert matches(event, q(MATCH_parentID="urn:epc:idpat:sscc:0614141.1234567890"))
    assert not matches(event, q(MATCH_parentID="urn:epc:idpat:sscc:0614141.1234567891"))
    assert not matches(event, q(MATCH_parentID="urn:epc:idpat:sgtin:*.*.*"))


def test_a_pattern_of_another_epc_scheme_matches_its_urns_field_by_field():
    event = commissioning(epc_list=("urn:epc:id:grai:0614141.12345.400",))
    assert matches(event, q(MATCH_epc="urn:epc:idpat:grai:0614141.12345.*"))
    assert not matches(event, q(MATCH_epc="urn:epc:idpat:grai:0614141.12346.*"))


def test_a_trailing_star_matches_by_prefix_including_the_canonical_form():
    assert matches(commissioning(), q(MATCH_epc=f"https://id.gs1.org/01/{GTIN}/21/*"))
    assert not matches(commissioning(), q(MATCH_epc="https://id.gs1.org/01/00614141000005/21/*"))
    printed = packing(child_epcs=(f"https://qr.brand.example.com/01/{GTIN}/10/L1/21/Z9",))
    assert matches(printed, q(MATCH_epc=f"https://id.gs1.org/01/{GTIN}/21/Z*"))
    assert matches(printed, q(MATCH_epc="https://qr.brand.example.com/01/*"))


def test_parameters_must_all_hold_while_values_of_one_parameter_are_alternatives():
    query = q(EQ_bizStep="packing|shipping", MATCH_anyEPC=CASE, EQ_action="ADD")
    assert matches(packing(), query)
    assert not matches(shipping(), query)  # OBSERVE
    assert not matches(commissioning(), query)


@pytest.mark.parametrize(
    ("epc", "canonical"),
    [
        ("urn:epc:id:sgtin:0614141.107346.2017", "https://id.gs1.org/01/10614141073464/21/2017"),
        (
            "https://qr.brand.example.com/01/10614141073464/10/L1/21/2017?x=1",
            "https://id.gs1.org/01/10614141073464/21/2017",
        ),
        ("https://id.gs1.org/01/9506000134352/21/A%2FB", f"https://id.gs1.org/01/{GTIN}/21/A%2FB"),
        ("urn:epc:id:sscc:0614141.1234567890", "https://id.gs1.org/00/106141412345678908"),
        ("urn:epc:id:sgln:0614141.07346.1234", "urn:epc:id:sgln:0614141.07346.1234"),
        (
            "https://id.gs1.org/01/10614141073465/21/2017",
            "https://id.gs1.org/01/10614141073465/21/2017",
        ),
        ("https://id.gs1.org/01/10614141073464", "https://id.gs1.org/01/10614141073464"),
    ],
    ids=["sgtin-urn", "link-with-lot", "gtin-13-escaped", "sscc-urn", "sgln", "bad-check", "class"],
)
def test_canonical_epc_names_sgtins_and_ssccs_by_their_digital_link(epc, canonical):
    assert canonical_epc(epc) == canonical


def test_a_percent_escaped_serial_in_a_pattern_matches_the_decoded_serial():
    event = commissioning(epc_list=("https://id.gs1.org/01/10614141073464/21/A%2FB",))
    assert matches(event, q(MATCH_epc="urn:epc:idpat:sgtin:0614141.107346.A%2FB"))
    assert not matches(event, q(MATCH_epc="urn:epc:idpat:sgtin:0614141.107346.A"))
