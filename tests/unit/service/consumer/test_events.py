from datetime import UTC, datetime

from service.factory.domain.events import BatchCreated
from service.identity.domain.events import OrganisationCreated

AT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


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
