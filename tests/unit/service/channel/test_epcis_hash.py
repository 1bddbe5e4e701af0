"""The CBV 2.0 event hash through GS1's reference implementation, offline."""

from __future__ import annotations

import hashlib

import pytest
from pyld import jsonld

from service.channel.storage import epcis_hash

EVENT = {
    "type": "ObjectEvent",
    "eventTime": "2005-04-05T02:33:31.116Z",
    "eventTimeZoneOffset": "-06:00",
    "epcList": ["urn:epc:id:sgtin:0614141.107346.2018"],
    "action": "OBSERVE",
    "bizStep": "shipping",
    "disposition": "in_transit",
    "readPoint": {"id": "urn:epc:id:sgln:0012345.11111.400"},
    "example:myField": "Example of a vendor/user extension",
}
CONTEXT = [
    "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
    {"example": "http://ns.example.com/epcis/"},
]
# CBV 2.0 section 8.9: bare terms become CBV URIs, EPC URNs Digital Link URIs, the time UTC in
# milliseconds, the user extension {namespace}name; keys in the standard's order.
PREHASH = (
    "eventType=ObjectEvent"
    "eventTime=2005-04-05T02:33:31.116ZeventTimeZoneOffset=-06:00"
    "epcListepc=https://id.gs1.org/01/10614141073464/21/2018"
    "action=OBSERVE"
    "bizStep=https://ref.gs1.org/cbv/BizStep-shipping"
    "disposition=https://ref.gs1.org/cbv/Disp-in_transit"
    "readPointid=https://id.gs1.org/414/0012345111112/254/400"
    "{http://ns.example.com/epcis/}myField=Example of a vendor/user extension"
)


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Any context fetch from the network fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("the event hash went to the network")

    monkeypatch.setattr(jsonld, "requests_document_loader", refuse, raising=False)


def test_the_hash_is_the_cbv_2_0_hash_of_the_canonical_pre_hash_string():
    expected = "ni:///sha-256;" + hashlib.sha256(PREHASH.encode()).hexdigest() + "?ver=CBV2.0"
    assert epcis_hash.event_hashes(CONTEXT, [EVENT]) == [expected]


def test_the_hash_ignores_event_id_record_time_and_notation():
    other = {
        **EVENT,
        "eventID": "urn:uuid:5b3e2c1e-7d7f-4c1a-9f7e-2f0e1d4a7c11",
        "recordTime": "2026-01-01T00:00:00Z",
        "bizStep": "https://ref.gs1.org/cbv/BizStep-shipping",
        "epcList": ["https://id.gs1.org/01/10614141073464/21/2018"],
    }
    context = ["https://ref.gs1.org/standards/epcis/epcis-context.jsonld", CONTEXT[1]]
    assert epcis_hash.event_hashes(context, [other]) == epcis_hash.event_hashes(CONTEXT, [EVENT])
    changed = {**EVENT, "action": "ADD"}
    assert epcis_hash.event_hashes(CONTEXT, [changed]) != epcis_hash.event_hashes(CONTEXT, [EVENT])


def test_a_context_url_of_a_partner_is_never_fetched():
    context = ["https://ref.gs1.org/standards/epcis/epcis-context.jsonld", "https://evil.example/x"]
    (value,) = epcis_hash.event_hashes(context, [EVENT])
    assert value.startswith("ni:///sha-256;")


def test_prefixes_do_not_leak_from_one_document_to_the_next():
    bare = {k: v for k, v in EVENT.items() if k != "example:myField"} | {"example:f": "1"}
    without = epcis_hash.event_hashes(
        ["https://ref.gs1.org/standards/epcis/epcis-context.jsonld"], [bare]
    )
    epcis_hash.event_hashes(CONTEXT, [EVENT])  # declares the prefix "example"
    again = epcis_hash.event_hashes(
        ["https://ref.gs1.org/standards/epcis/epcis-context.jsonld"], [bare]
    )
    assert again == without


def test_a_time_that_rounds_up_to_the_next_second_hashes_as_that_second():
    # GS1's generator raised on .9995 s and later (rounded to 1,000,000 microseconds); the
    # service's own export carries microseconds, so a posted-back export was refused.
    late = {**EVENT, "eventTime": "2005-04-05T02:33:31.999763Z"}
    next_second = {**EVENT, "eventTime": "2005-04-05T02:33:32.000Z"}
    assert epcis_hash.event_hashes(CONTEXT, [late]) == epcis_hash.event_hashes(
        CONTEXT, [next_second]
    )
    on_time = {**EVENT, "eventTime": "2005-04-05T02:33:31.999499Z"}
    assert epcis_hash.event_hashes(CONTEXT, [on_time]) == epcis_hash.event_hashes(
        CONTEXT, [{**EVENT, "eventTime": "2005-04-05T02:33:31.999Z"}]
    )
