"""The kernel's event base: canonical bytes and an entry's link in the event log."""

from datetime import UTC, datetime

from service.identity.domain.events import OrganisationCreated
from service.kernel.events import canonical_json
from tests.unit.service.kernel.declared import modules_named

AT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_canonical_json_sorts_keys_and_has_no_whitespace():
    assert canonical_json({"b": 1, "a": [1, 2], "c": "酒"}) == '{"a":[1,2],"b":1,"c":"酒"}'.encode()


def test_a_linked_entry_carries_its_index_and_predecessor_and_reads_back():
    from service.kernel.events import log_link

    payload = OrganisationCreated(1, "store").canonical_bytes(AT, log_index=7, prev=b"\xab" * 32)
    assert b'"log_index":7' in payload and b'"prev":"0x' + b"ab" * 32 + b'"' in payload
    link = log_link(payload)
    assert link is not None and (link.index, link.prev) == (7, b"\xab" * 32)
    assert log_link(OrganisationCreated(1, "store").canonical_bytes(AT)) is None


def test_malformed_links_are_refused():
    import pytest

    from service.kernel.events import MalformedEntryError, log_link

    for payload in (b"\xff", b"[1]", b'{"log_index":-1,"prev":"0x00"}', b'{"log_index":1}'):
        with pytest.raises(MalformedEntryError):
            log_link(payload)
    with pytest.raises(MalformedEntryError):
        log_link(b'{"log_index":1,"prev":"0x' + b"zz" * 32 + b'"}')


def test_no_event_field_collides_with_the_log_link_keys():
    from service.kernel import events
    from service.kernel.events import LINK_KEYS, Event

    def subclasses(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)

    modules_named("events")  # every event class declared, wherever its area keeps it
    for cls in subclasses(Event):
        names = {f.name for f in __import__("dataclasses").fields(cls)}
        assert not names & {*LINK_KEYS, "type", "occurred_at"}, cls
    assert bytes(32) == events.NO_PREVIOUS_LEAF
