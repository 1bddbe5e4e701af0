"""Our EPCIS 2.0 JSON-LD against GS1's official schema and examples (shared/standards/epcis2)."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator

from service.channel.domain.epcis import (
    AGGREGATION_EVENT,
    OBJECT_EVENT,
    BizStep,
    Disposition,
    EpcisAction,
    EpcisEvent,
    SourceDestType,
    document,
    location_id,
    parse_document,
    party_id,
    query_document,
    sgtin_epc,
    sscc_epc,
    to_jsonld,
)
from service.channel.domain.errors import InvalidEpcisError
from service.channel.storage import epcis_schema
from service.channel.storage.epcis_schema import (
    FORMAT_CHECKER,
    context,
    is_date_time,
    is_uri,
    validate,
)

REPO = Path(__file__).parents[4]
SHARED = REPO / ".." / "shared" / "standards" / "epcis2"
VENDORED = REPO / "service" / "channel" / "storage" / "epcis"
EXAMPLES = ["Example_9.6.1-ObjectEvent.jsonld", "Example_9.6.3-AggregationEvent.jsonld"]

GTIN = "09506000134352"
ITEMS = tuple(sgtin_epc(GTIN, f"SER{n:03d}") for n in range(3))
CASE = sscc_epc("106141412345678908")
SHANGHAI = timezone(timedelta(hours=8))
CREATED = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.fixture
def shared() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"GS1's EPCIS 2.0 files are not at {SHARED.resolve()} (../shared is absent)")
    return SHARED


@pytest.fixture
def official_validator(shared: Path) -> Draft7Validator:
    schema = json.loads((shared / "EPCIS-JSON-Schema.json").read_text("utf-8"))
    return Draft7Validator(schema, format_checker=FORMAT_CHECKER)


def distribution_events() -> list[EpcisEvent]:
    """One event of each kind the distribution flow records, as it will record them."""
    at = datetime(2026, 11, 25, 9, 0, tzinfo=SHANGHAI)
    plant, warehouse = location_id(1), location_id(4)
    factory, distributor = party_id(3), party_id(7)
    return [
        EpcisEvent(
            kind=OBJECT_EVENT,
            event_id="urn:uuid:00000000-0000-4000-8000-000000000001",
            event_time=at,
            action=EpcisAction.ADD,
            biz_step=BizStep.COMMISSIONING,
            disposition=Disposition.ACTIVE,
            epc_list=ITEMS,
            read_point=plant,
            biz_location=plant,
        ),
        EpcisEvent(
            kind=AGGREGATION_EVENT,
            event_id="urn:uuid:00000000-0000-4000-8000-000000000002",
            event_time=at + timedelta(minutes=5),
            action=EpcisAction.ADD,
            biz_step=BizStep.PACKING,
            disposition=Disposition.IN_PROGRESS,
            parent_id=CASE,
            child_epcs=ITEMS,
            read_point=plant,
        ),
        EpcisEvent(
            kind=OBJECT_EVENT,
            event_id="urn:uuid:00000000-0000-4000-8000-000000000003",
            event_time=at + timedelta(hours=2),
            action=EpcisAction.OBSERVE,
            biz_step=BizStep.SHIPPING,
            disposition=Disposition.IN_TRANSIT,
            epc_list=(CASE,),
            read_point=plant,
            biz_location=plant,
            source_list=(
                (SourceDestType.OWNING_PARTY, factory),
                (SourceDestType.POSSESSING_PARTY, factory),
                (SourceDestType.LOCATION, plant),
            ),
            destination_list=(
                (SourceDestType.OWNING_PARTY, distributor),
                (SourceDestType.LOCATION, warehouse),
            ),
            extensions={"tc:shipment": "s_0001"},
        ),
        EpcisEvent(
            kind=OBJECT_EVENT,
            event_id="urn:uuid:00000000-0000-4000-8000-000000000004",
            event_time=at + timedelta(days=1),
            action=EpcisAction.OBSERVE,
            biz_step=BizStep.RECEIVING,
            disposition=Disposition.IN_PROGRESS,
            epc_list=(CASE,),
            read_point=warehouse,
            biz_location=warehouse,
            source_list=((SourceDestType.OWNING_PARTY, factory),),
            destination_list=((SourceDestType.OWNING_PARTY, distributor),),
            record_time=datetime(2026, 11, 26, 1, 0, 0, 1, tzinfo=UTC),
            extensions={"tc:shipment": "s_0001"},
        ),
        EpcisEvent(
            kind=AGGREGATION_EVENT,
            event_id="urn:uuid:00000000-0000-4000-8000-000000000005",
            event_time=at + timedelta(days=1, hours=1),
            action=EpcisAction.DELETE,
            biz_step=BizStep.UNPACKING,
            disposition=Disposition.SELLABLE_ACCESSIBLE,
            parent_id=CASE,
            child_epcs=(),
            biz_location=warehouse,
        ),
    ]


def example(shared: Path, name: str) -> dict[str, Any]:
    return json.loads((shared / name).read_text("utf-8"))


def errors_of(validator: Draft7Validator, doc: Any) -> list[str]:
    return [e.message for e in validator.iter_errors(doc)]


# ----------------------------------------------------------------------------- vendored files
@pytest.mark.parametrize("name", ["EPCIS-JSON-Schema.json", "epcis-context.jsonld"])
def test_vendored_schema_and_context_are_byte_identical_to_gs1s(shared, name):
    assert (VENDORED / name).read_bytes() == (shared / name).read_bytes()


def test_context_is_the_epcis_json_ld_context_and_a_copy():
    ctx = context()
    assert ctx["@context"]["epcis"] == "https://ref.gs1.org/epcis/"
    assert ctx["@context"]["cbv"] == "https://ref.gs1.org/cbv/"
    ctx["@context"].clear()
    assert context()["@context"]["epcis"] == "https://ref.gs1.org/epcis/"


# ----------------------------------------------------------------------------- what we render
def test_every_event_kind_we_render_validates_against_the_official_schema(official_validator):
    doc = json.loads(json.dumps(document(distribution_events(), CREATED, sender=party_id(3))))
    assert errors_of(official_validator, doc) == []
    validate(doc)
    assert [e["type"] for e in doc["epcisBody"]["eventList"]] == [
        "ObjectEvent",
        "AggregationEvent",
        "ObjectEvent",
        "ObjectEvent",
        "AggregationEvent",
    ]


@pytest.mark.parametrize("index", range(5))
def test_each_rendered_event_alone_in_a_document_is_valid(official_validator, index):
    doc = document([distribution_events()[index]], CREATED)
    assert errors_of(official_validator, json.loads(json.dumps(doc))) == []


def test_the_query_document_we_answer_with_validates_and_reads_back(official_validator):
    doc = json.loads(json.dumps(query_document(distribution_events(), CREATED)))
    assert errors_of(official_validator, doc) == []
    assert parse_document(doc) == distribution_events()


def test_what_we_render_reads_back_to_the_same_events():
    doc = json.loads(json.dumps(document(distribution_events(), CREATED)))
    validate(doc)
    assert parse_document(doc) == distribution_events()


# ----------------------------------------------------------------------------- GS1's examples
@pytest.mark.parametrize("name", EXAMPLES)
def test_the_official_examples_are_valid_and_we_take_them(shared, official_validator, name):
    doc = example(shared, name)
    assert errors_of(official_validator, doc) == []
    validate(doc)
    events = parse_document(doc)
    assert [e.event_id for e in events] == [e["eventID"] for e in doc["epcisBody"]["eventList"]]


@pytest.mark.parametrize("name", EXAMPLES)
def test_the_official_examples_rendered_again_stay_valid_and_read_back_equal(
    shared, official_validator, name
):
    events = parse_document(example(shared, name))
    again = json.loads(json.dumps(document(events, CREATED)))
    assert errors_of(official_validator, again) == []
    validate(again)
    assert parse_document(again) == events


def test_the_object_event_example_keeps_its_vendor_field_transactions_and_prefix(shared):
    doc = example(shared, "Example_9.6.1-ObjectEvent.jsonld")
    _, receiving = parse_document(doc)
    rendered = to_jsonld(receiving)
    original = doc["epcisBody"]["eventList"][1]
    assert rendered["example:myField"] == original["example:myField"]
    assert rendered["bizTransactionList"] == original["bizTransactionList"]
    assert rendered["@context"] == [{"example": "http://ns.example.com/epcis/"}]
    assert receiving.biz_location == "urn:epc:id:sgln:0012345.11111.0"


def test_the_aggregation_example_is_held_at_its_declared_offset(shared):
    (event,) = parse_document(example(shared, "Example_9.6.3-AggregationEvent.jsonld"))
    # eventTime 2013-06-08T14:58:56.591Z with eventTimeZoneOffset +02:00
    assert event.event_time == datetime(2013, 6, 8, 14, 58, 56, 591000, tzinfo=UTC)
    assert to_jsonld(event)["eventTime"] == "2013-06-08T16:58:56.591+02:00"
    assert event.parent_id == "urn:epc:id:sscc:0614141.1234567890"
    assert event.extensions["childQuantityList"][1]["uom"] == "KGM"


# ----------------------------------------------------------------------------- rejections
def first_event(doc: dict[str, Any]) -> dict[str, Any]:
    return doc["epcisBody"]["eventList"][0]


MALFORMED: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    ("missing-type", lambda d: d.pop("type"), "(document): 'type' is a required property"),
    (
        "event-time-not-a-date-time",
        lambda d: first_event(d).update(eventTime="x"),
        "epcisBody.eventList[0].eventTime: 'x' is not a 'date-time'",
    ),
    (
        "event-time-without-zone",
        lambda d: first_event(d).update(eventTime="2026-11-25T09:00:00"),
        "epcisBody.eventList[0].eventTime: '2026-11-25T09:00:00' is not a 'date-time'",
    ),
    (
        "action-move",
        lambda d: first_event(d).update(action="MOVE"),
        "epcisBody.eventList[0].action: 'MOVE' is not one of ['OBSERVE', 'ADD', 'DELETE']",
    ),
    (
        "epc-list-not-a-list",
        lambda d: first_event(d).update(epcList=ITEMS[0]),
        f"epcisBody.eventList[0].epcList: '{ITEMS[0]}' is not of type 'array'",
    ),
    (
        "epc-not-a-uri",
        lambda d: first_event(d).update(epcList=["SER000"]),
        "epcisBody.eventList[0].epcList[0]: 'SER000' is not a 'uri'",
    ),
    (
        "unknown-top-level-type",
        lambda d: d.update(type="EPCISDoc"),
        "type: 'EPCISDoc' is not an EPCIS type; send an EPCISDocument",
    ),
    (
        "missing-time-zone-offset",
        lambda d: first_event(d).pop("eventTimeZoneOffset"),
        "epcisBody.eventList[0]: 'eventTimeZoneOffset' is a required property",
    ),
    (
        "biz-step-typo",
        lambda d: first_event(d).update(bizStep="comissioning"),
        "epcisBody.eventList[0].bizStep: 'comissioning' matches none of the forms",
    ),
    (
        "vendor-field-without-namespace",
        lambda d: first_event(d).update(myField=1),
        "epcisBody.eventList[0]: 'myField' is not a member the schema allows here",
    ),
    (
        "creation-date-missing",
        lambda d: d.pop("creationDate"),
        "(document): 'creationDate' is a required property",
    ),
]


@pytest.mark.parametrize(
    ("mutate", "expected"), [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED]
)
def test_a_malformed_document_is_rejected_naming_the_path(mutate, expected):
    doc = json.loads(json.dumps(document(distribution_events(), CREATED)))
    mutate(doc)
    with pytest.raises(InvalidEpcisError) as raised:
        validate(doc)
    assert raised.value.code == "invalid_epcis"
    assert expected in raised.value.detail


@pytest.mark.parametrize(
    ("mutate", "expected"), [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED]
)
def test_the_official_schema_also_rejects_each_malformed_document(
    official_validator, mutate, expected
):
    doc = json.loads(json.dumps(document(distribution_events(), CREATED)))
    mutate(doc)
    assert errors_of(official_validator, doc) != []


def test_a_transformation_event_is_valid_by_schema_but_refused_by_us(official_validator):
    doc = json.loads(json.dumps(document([], CREATED)))
    doc["epcisBody"]["eventList"].append(
        {
            "type": "TransformationEvent",
            "eventTime": "2026-11-25T09:00:00.000+08:00",
            "eventTimeZoneOffset": "+08:00",
            "inputEPCList": [ITEMS[0]],
            "outputEPCList": [ITEMS[1]],
            "bizStep": "commissioning",
        }
    )
    assert errors_of(official_validator, doc) == []
    validate(doc)
    with pytest.raises(
        InvalidEpcisError, match=r"eventList\[0\]\.type: TransformationEvent is not"
    ):
        parse_document(doc)


def test_a_document_with_no_events_is_valid_and_holds_no_events(official_validator):
    doc = json.loads(json.dumps(document([], CREATED)))
    assert errors_of(official_validator, doc) == []
    validate(doc)
    assert parse_document(doc) == []


def test_a_quantity_only_event_is_valid_by_schema_but_refused_by_us(official_validator):
    doc = json.loads(json.dumps(document(distribution_events()[:1], CREATED)))
    event = first_event(doc)
    event.pop("epcList")
    event["quantityList"] = [{"epcClass": f"https://id.gs1.org/01/{GTIN}/10/L1", "quantity": 6}]
    assert errors_of(official_validator, doc) == []
    validate(doc)
    with pytest.raises(InvalidEpcisError, match="names no EPC"):
        parse_document(doc)


def test_a_rejection_lists_five_errors_and_counts_the_rest():
    doc = json.loads(json.dumps(document(distribution_events(), CREATED)))
    for event in doc["epcisBody"]["eventList"]:
        event["eventTime"] = "soon"
        event["action"] = "MOVE"
    with pytest.raises(InvalidEpcisError) as raised:
        validate(doc)
    assert raised.value.detail.count("; ") == epcis_schema.MAX_REPORTED_ERRORS - 1
    assert "(and 5 more)" in raised.value.detail


def test_something_that_is_not_an_object_is_rejected():
    with pytest.raises(InvalidEpcisError, match=r"\(document\): \[\] is not of type 'object'"):
        validate([])


def test_a_document_is_not_changed_by_validation():
    doc = json.loads(json.dumps(document(distribution_events(), CREATED)))
    before = copy.deepcopy(doc)
    validate(doc)
    assert doc == before


# ----------------------------------------------------------------------------- formats
@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("2026-11-25T09:00:00Z", True),
        ("2026-11-25t09:00:00.123456789z", True),
        ("2005-04-03T20:33:31.116000-06:00", True),
        ("2016-12-31T23:59:60Z", True),  # RFC 3339 allows a leap second
        ("2024-02-29T00:00:00+14:00", True),
        ("2026-11-25T09:00:00", False),  # no time zone
        ("2026-11-25 09:00:00Z", False),
        ("2025-02-29T00:00:00Z", False),
        ("2026-13-01T00:00:00Z", False),
        ("2026-11-25T24:00:00Z", False),
        ("2026-11-25T09:00:00+24:00", False),
        ("20261125T090000Z", False),
        (20261125, True),  # formats only constrain strings
    ],
)
def test_date_time_format_is_rfc_3339(value, valid):
    assert is_date_time(value) is valid
    assert FORMAT_CHECKER.conforms(value, "date-time") is valid


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("https://id.gs1.org/01/09506000134352/21/SER000", True),
        ("urn:epc:id:sgtin:0614141.107346.2017", True),
        ("ni:///sha-256;df7bb3c352fef055?ver=CBV2.0", True),
        ("urn:uuid:5b2c3f8e-1d7a-4c7e-9a51-0f5d2b1e7c11", True),
        ("tc:shipment", True),
        ("https://example.com/a%20b", True),
        ("SER000", False),  # no scheme
        ("https://example.com/a b", False),
        ("https://example.com/%zz", False),
        ("https://example.com/带", False),
        ("1abc:def", False),
        ("", False),
    ],
)
def test_uri_format_is_an_absolute_rfc_3986_uri(value, valid):
    assert is_uri(value) is valid
    assert FORMAT_CHECKER.conforms(value, "uri") is valid
