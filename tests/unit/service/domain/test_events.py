from datetime import UTC, datetime

from service.domain.events import BatchCreated, OrganisationCreated, canonical_json

AT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_canonical_json_sorts_keys_and_has_no_whitespace():
    assert canonical_json({"b": 1, "a": [1, 2], "c": "酒"}) == '{"a":[1,2],"b":1,"c":"酒"}'.encode()


def test_event_bytes_carry_type_time_and_fields_with_hex_bytes():
    event = BatchCreated(
        batch_id="b_1",
        organisation_id=2,
        brand_id=1,
        gtin="09506000134352",
        lot="L1",
        chain_batch_id=b"\x01" * 32,
        metadata_hash=b"\x03" * 32,
        planned_quantity=3,
    )
    payload = event.canonical_bytes(AT)
    assert payload.startswith(b'{"batch_id":"b_1","brand_id":1,"chain_batch_id":"0x0101')
    assert b'"type":"BatchCreated"' in payload
    assert b'"occurred_at":"2026-01-02T03:04:05+00:00"' in payload
    assert b" " not in payload


def test_same_event_gives_identical_bytes():
    assert OrganisationCreated(1, "factory").canonical_bytes(AT) == OrganisationCreated(
        1, "factory"
    ).canonical_bytes(AT)


def test_organisation_event_names_no_person_or_organisation_name():
    payload = OrganisationCreated(1, "store").canonical_bytes(AT)
    assert set(__import__("json").loads(payload)) == {
        "type",
        "occurred_at",
        "organisation_id",
        "kind",
        "brand_id",
    }


def test_a_linked_entry_carries_its_index_and_predecessor_and_reads_back():
    from service.domain.events import log_link

    payload = OrganisationCreated(1, "store").canonical_bytes(AT, log_index=7, prev=b"\xab" * 32)
    assert b'"log_index":7' in payload and b'"prev":"0x' + b"ab" * 32 + b'"' in payload
    link = log_link(payload)
    assert link is not None and (link.index, link.prev) == (7, b"\xab" * 32)
    assert log_link(OrganisationCreated(1, "store").canonical_bytes(AT)) is None


def test_malformed_links_are_refused():
    import pytest

    from service.domain.events import MalformedEntryError, log_link

    for payload in (b"\xff", b"[1]", b'{"log_index":-1,"prev":"0x00"}', b'{"log_index":1}'):
        with pytest.raises(MalformedEntryError):
            log_link(payload)
    with pytest.raises(MalformedEntryError):
        log_link(b'{"log_index":1,"prev":"0x' + b"zz" * 32 + b'"}')


def test_no_event_field_collides_with_the_log_link_keys():
    from service.domain import events
    from service.domain.events import LINK_KEYS, Event

    def subclasses(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)

    for cls in subclasses(Event):
        names = {f.name for f in __import__("dataclasses").fields(cls)}
        assert not names & {*LINK_KEYS, "type", "occurred_at"}, cls
    assert bytes(32) == events.NO_PREVIOUS_LEAF
