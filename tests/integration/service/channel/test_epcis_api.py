"""EPCIS 2.0 through the API: the scenario's events export as schema-valid EPCIS, the standard
query parameters select them, captured documents read back equivalent, bad input is refused."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from service.channel.domain import epcis
from service.channel.storage import epcis_schema
from tests.integration.service.api.conftest import case_to_s1, scan_ok
from tests.integration.service.conftest import GTIN, auth

SHARED = Path(__file__).resolve().parents[4] / ".." / "shared" / "standards" / "epcis2"


def official_schema_validate(document: dict) -> None:
    """Validate against the shared copy of GS1's schema when it is there, else the vendored."""
    if SHARED.is_dir():
        import jsonschema

        schema = json.loads((SHARED / "EPCIS-JSON-Schema.json").read_text())
        validator = jsonschema.Draft7Validator(schema, format_checker=epcis_schema.FORMAT_CHECKER)
        errors = sorted(validator.iter_errors(document), key=str)
        assert not errors, [e.message for e in errors[:5]]
    epcis_schema.validate(document)


def run_scenario(api, c) -> dict:
    case_to_s1(api, c, c.cases[0])
    r = scan_ok(
        api,
        c.a,
        action="dispatch",
        code=c.cases[1],
        site_id=c.a_site,
        receiver_id=c.s2_org,
        shipment="A-2",
    )
    scan_ok(api, c.s1, action="receive", code=c.cases[0], site_id=c.s1_site)
    scan_ok(api, c.s2, action="receive", code=c.cases[1], site_id=c.s2_site)
    scan_ok(api, c.s2, action="open", code=c.cases[1], site_id=c.s2_site)
    return r


def all_events(api, key, **params) -> list[dict]:
    out, token = [], None
    for _ in range(50):
        query = {**params, "perPage": 25, **({"nextPageToken": token} if token else {})}
        response = api.get("/epcis/events", params=query, headers=auth(key))
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("application/ld+json")
        document = response.json()
        official_schema_validate(document)
        out += document["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
        link = response.headers.get("link")
        if not link:
            return out
        token = link.split("nextPageToken=")[1].split(">")[0]
    raise AssertionError("too many pages")


def test_the_whole_scenario_exports_as_valid_epcis(api, channel):
    c = channel
    run_scenario(api, c)
    events = all_events(api, c.brand)
    steps = [e.get("bizStep") for e in events]
    # 4 cases + 2 pallets packed, 4 cases commissioned, 5 shipping/receiving pairs, 1 unpacking.
    assert steps.count("packing") == 6 and steps.count("commissioning") == 4
    assert steps.count("shipping") == 3 and steps.count("receiving") == 3
    assert steps.count("unpacking") == 1
    times = [epcis.parse_date_time(e["eventTime"]) for e in events]
    assert times == sorted(times)
    shipping = [e for e in events if e.get("bizStep") == "shipping"]
    assert {e["disposition"] for e in shipping} == {"in_transit"}
    assert shipping[0]["epcList"] == [f"https://id.gs1.org/00/{c.pallet}"]
    assert shipping[0]["destinationList"][0]["destination"] == f"urn:tracecert:party:{c.a_org}"
    unpacking = next(e for e in events if e.get("bizStep") == "unpacking")
    assert unpacking["action"] == "DELETE" and len(unpacking["childEPCs"]) == 6
    assert all(x.startswith(f"https://id.gs1.org/01/{GTIN}/21/") for x in unpacking["childEPCs"])


def test_standard_query_parameters_select_events(api, channel):
    c = channel
    run_scenario(api, c)
    shipped = all_events(api, c.brand, EQ_bizStep="shipping")
    assert len(shipped) == 3
    both = all_events(api, c.brand, EQ_bizStep="shipping|receiving")
    assert len(both) == 6
    case_epc = f"https://id.gs1.org/00/{c.cases[1]}"
    of_case = all_events(api, c.brand, MATCH_epc=case_epc)
    # MATCH_epc looks at epcList and childEPCs: the case was packed onto its pallet too.
    assert sorted(e.get("bizStep") for e in of_case) == ["packing", "receiving", "shipping"]
    packed = next(e for e in of_case if e["bizStep"] == "packing")
    assert packed["parentID"] == f"https://id.gs1.org/00/{c.pallet}"
    as_parent = all_events(api, c.brand, MATCH_parentID=case_epc)
    assert {e["bizStep"] for e in as_parent} == {"packing", "unpacking"}
    first = epcis.parse_date_time(shipped[0]["eventTime"])
    after = all_events(api, c.brand, EQ_bizStep="shipping", GE_eventTime=first.isoformat())
    assert len(after) == 3
    none = all_events(api, c.brand, EQ_bizStep="shipping", LT_eventTime=first.isoformat())
    assert none == []


def test_partners_read_only_their_own_events(api, channel):
    c = channel
    run_scenario(api, c)
    s1 = all_events(api, c.s1)
    assert s1 and all(e.get("bizStep") in ("shipping", "receiving") for e in s1)
    assert all(f"00/{c.cases[1]}" not in json.dumps(e) for e in s1)  # S2's case is not S1's
    s2 = all_events(api, c.s2)
    assert any(e.get("bizStep") == "unpacking" for e in s2)


def test_a_captured_document_reads_back_equivalent(api, channel):
    c = channel
    path = SHARED / "Example_9.6.1-ObjectEvent.jsonld"
    if not path.exists():
        pytest.skip("../shared is absent")
    document = json.loads(path.read_text())
    captured = api.post("/epcis/capture", json=document, headers=auth(c.a))
    assert captured.status_code == 202, captured.text
    assert captured.json()["stored"] == len(document["epcisBody"]["eventList"])
    again = api.post("/epcis/capture", json=document, headers=auth(c.a))
    assert again.json()["stored"] == 0 and again.json()["duplicates"] == captured.json()["stored"]
    sent = epcis.parse_document(document)
    read = all_events(api, c.a)
    got = epcis.parse_document(
        epcis.document([epcis.from_jsonld(e) for e in read], sent[0].event_time)
    )
    by_id = {e.event_id: e for e in got}
    assert len(sent) == 2
    for event in sent:
        assert by_id[event.event_id] == event
    # The standard parameters find captured events too (here by the example's EPC).
    epc = sent[0].epc_list[0]
    found = all_events(api, c.a, MATCH_epc=epc)
    assert [e["eventID"] for e in found] == [sent[0].event_id]
    # Another distributor does not see A's captured events; the brand does.
    assert all(e.get("eventID") not in by_id for e in all_events(api, c.s1))
    assert {e.event_id for e in sent} <= {e["eventID"] for e in all_events(api, c.brand)}


@pytest.mark.parametrize(
    ("mutate", "code"),
    [
        (lambda d: d.pop("type"), "invalid_epcis"),
        (lambda d: d["epcisBody"]["eventList"][0].update(eventTime="yesterday"), "invalid_epcis"),
        (lambda d: d["epcisBody"]["eventList"][0].update(action="MOVE"), "invalid_epcis"),
        (lambda d: d["epcisBody"]["eventList"][0].update(epcList="not-a-list"), "invalid_epcis"),
        (
            lambda d: d["epcisBody"]["eventList"][0].update(type="TransformationEvent"),
            "invalid_epcis",
        ),
    ],
)
def test_malformed_documents_are_refused_and_nothing_is_stored(api, channel, counts, mutate, code):
    c = channel
    path = SHARED / "Example_9.6.1-ObjectEvent.jsonld"
    if not path.exists():
        pytest.skip("../shared is absent")
    document = copy.deepcopy(json.loads(path.read_text()))
    mutate(document)
    before = counts()
    response = api.post("/epcis/capture", json=document, headers=auth(c.a))
    assert response.status_code == 400, response.text
    assert response.json()["error"] == code and response.json()["detail"]
    assert counts() == before


@pytest.mark.parametrize(
    "params",
    [
        {"GE_eventTime": "yesterday"},
        {"EQ_colour": "red"},
        {"perPage": 0},
        {"perPage": 5000},
        {"nextPageToken": "not-ours"},
        {"GE_eventTime": "2026-01-01T00:00:00"},  # no time zone
    ],
)
def test_bad_queries_are_refused(api, channel, params):
    response = api.get("/epcis/events", params=params, headers=auth(channel.brand))
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_epcis_query"


def test_capture_takes_json_only_and_needs_a_partner_role(api, channel, keys):
    r = api.post(
        "/epcis/capture",
        content=b"<xml/>",
        headers={**auth(channel.a), "Content-Type": "application/xml"},
    )
    assert r.status_code == 400 and r.json()["error"] == "invalid_epcis"
    r = api.post("/epcis/capture", json={"type": "EPCISDocument"}, headers=auth(keys.attestor))
    assert r.status_code == 403


# ----------------------------------------------------------------------------- re-capture
def _export(api, key) -> dict:
    """GET /epcis/events in one page: the EPCISQueryDocument as we answer it."""
    response = api.get("/epcis/events", params={"perPage": 1000}, headers=auth(key))
    assert response.status_code == 200 and "link" not in response.headers
    return dict(response.json())


def _event_list(document: dict) -> list[dict]:
    return list(document["epcisBody"]["queryResults"]["resultsBody"]["eventList"])


def _ids(api, key) -> list[str]:
    return [e["eventID"] for e in all_events(api, key)]


def test_an_export_posted_back_as_it_is_is_known_and_adds_nothing(api, channel, counts):
    c = channel
    run_scenario(api, c)
    export = _export(api, c.brand)
    before_ids = _ids(api, c.brand)
    assert len(before_ids) == len(set(before_ids)) == len(_event_list(export)) == 17
    before = counts()
    posted = api.post("/epcis/capture", json=export, headers=auth(c.brand))
    assert posted.status_code == 202, posted.text
    assert posted.json()["new"] == 0 and posted.json()["duplicates"] == 17
    assert counts()["epcis_events"] == before["epcis_events"]
    assert _ids(api, c.brand) == before_ids


def test_an_export_without_event_ids_is_known_by_its_event_hashes(api, channel):
    c = channel
    run_scenario(api, c)
    export = _export(api, c.brand)
    for event in _event_list(export):
        del event["eventID"]
    posted = api.post("/epcis/capture", json=export, headers=auth(c.brand))
    assert posted.status_code == 202, posted.text
    assert posted.json() | {"captureID": None} == {
        "captureID": None, "events": 17, "new": 0, "stored": 0, "duplicates": 17,
    }  # fmt: skip
    ids = _ids(api, c.brand)
    assert len(ids) == len(set(ids)) == 17


def _partner_document(c) -> dict:
    """Two observations by a partner's own system, without eventIDs."""
    return {
        "@context": [
            "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
            {"ex": "https://example.com/epcis/"},
        ],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2026-11-25T08:00:00Z",
        "epcisBody": {
            "eventList": [
                {
                    "type": "ObjectEvent",
                    "eventTime": f"2026-11-25T0{n}:00:00.000+08:00",
                    "eventTimeZoneOffset": "+08:00",
                    "epcList": [f"https://id.gs1.org/00/{c.cases[n]}"],
                    "action": "OBSERVE",
                    "bizStep": "inspecting",
                    "ex:shelf": f"B-{n}",
                }
                for n in (1, 2)
            ]
        },
    }


def test_events_without_ids_are_captured_once_by_their_cbv_event_hash(api, channel):
    c = channel
    document = _partner_document(c)
    first = api.post("/epcis/capture", json=document, headers=auth(c.a)).json()
    assert first["new"] == 2 and first["duplicates"] == 0
    ids = _ids(api, c.a)
    assert len(ids) == 2 and all(i.startswith("ni:///sha-256;") for i in ids)
    assert all(i.endswith("?ver=CBV2.0") for i in ids)
    # The same events again, and written differently (bizStep as a CBV URI, keys reordered):
    # the same events by the CBV 2.0 hash.
    again = copy.deepcopy(document)
    for event in again["epcisBody"]["eventList"]:
        event["bizStep"] = "https://ref.gs1.org/cbv/BizStep-inspecting"
        again_event = dict(reversed(list(event.items())))
        event.clear()
        event.update(again_event)
    second = api.post("/epcis/capture", json=again, headers=auth(c.a)).json()
    assert second["new"] == 0 and second["duplicates"] == 2
    # What we export of them carries the hash as eventID, so it is known by id too.
    export = _export(api, c.a)
    third = api.post("/epcis/capture", json=export, headers=auth(c.a)).json()
    assert third["new"] == 0 and third["duplicates"] == 2
    assert _ids(api, c.a) == ids


def test_another_tenants_event_id_is_neither_a_duplicate_nor_revealed(api, channel, keys):
    c = channel
    document = _partner_document(c)
    for n, event in enumerate(document["epcisBody"]["eventList"]):
        event["eventID"] = f"urn:uuid:6b7e2a3c-0000-4000-8000-00000000000{n}"
    mine = api.post("/epcis/capture", json=document, headers=auth(c.a)).json()
    assert mine["new"] == 2
    # A factory of another brand sends events with the same ids: new to its tenant.
    theirs = api.post("/epcis/capture", json=document, headers=auth(keys.foreign_factory))
    assert theirs.status_code == 202, theirs.text
    assert theirs.json()["new"] == 2 and theirs.json()["duplicates"] == 0
    sent = sorted(e["eventID"] for e in document["epcisBody"]["eventList"])
    # Each tenant reads its own copy, once.
    brand_ids = _ids(api, c.brand)
    assert sorted(i for i in brand_ids if i in sent) == sent
    assert sorted(_ids(api, keys.foreign_factory)) == sent
