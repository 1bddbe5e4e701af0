"""The diversion alert: one builder for a partner's scan and a consumer's."""

from __future__ import annotations

from datetime import UTC, datetime

from service.alerts.domain.alerts import AlertKind, AlertStatus
from service.channel.domain.custody import diversion_alert
from service.factory.domain.batches import Batch

AT = datetime(2026, 3, 1, 8, 30, tzinfo=UTC)
BATCH = Batch(
    "B-1",
    organisation_id=3,
    lot="L1",
    chain_batch_id=b"\x01" * 32,
    metadata_hash=b"\x02" * 32,
    brand_id=2,
    id=7,
)
EAST = {"code": "CN-31", "name": "Shanghai", "level": 1, "parent": "CN", "path": "CN/CN-31"}
WEST = {"code": "CN-51", "name": "Sichuan", "level": 1, "parent": "CN", "path": "CN/CN-51"}
HOLDER = {"organisation_id": 5, "name": "East Distribution", "kind": "distributor"}
STORE = {"organisation_id": 6, "name": "West Store", "kind": "store"}
CONSUMER = {"organisation_id": None, "name": None, "kind": "consumer"}


def _case(**changes):
    arguments = {
        "code": "000123456789012345",
        "kind": "case",
        "items": 6,
        "batch_id": 7,
        "batch": BATCH,
        "expected_territory": [EAST],
        "responsible_id": 5,
        "responsible": HOLDER,
        "actual_region": WEST,
        "scanner_id": 6,
        "scanned_by": STORE,
        "shipment_id": 11,
        "shipment_public_id": "SH-11",
        "at": AT,
    }
    return diversion_alert(**{**arguments, **changes})


def test_a_partners_diversion_alert_names_the_goods_the_parties_and_the_shipment():
    alert = _case()
    assert alert.kind is AlertKind.DIVERSION and alert.status is AlertStatus.OPEN
    assert alert.dedupe_key == "diversion:000123456789012345:SH-11"
    assert (alert.brand_id, alert.batch_id, alert.serial) == (2, 7, None)
    assert (alert.responsible_id, alert.scanner_id, alert.shipment_id) == (5, 6, 11)
    assert list(alert.detail.items()) == [
        ("code", "000123456789012345"),
        ("kind", "case"),
        ("items", 6),
        ("expected_territory", [EAST]),
        ("responsible", HOLDER),
        ("actual_region", WEST),
        ("scanned_by", STORE),
        ("time", "2026-03-01T08:30:00+00:00"),
        ("batch_id", "B-1"),
    ]


def test_a_consumers_diversion_alert_of_a_loose_bottle_names_its_serial_and_no_scanner():
    alert = _case(
        code="SERIAL1",
        kind="item",
        items=1,
        scanner_id=None,
        scanned_by=CONSUMER,
        shipment_id=None,
        shipment_public_id=None,
    )
    assert alert.dedupe_key == "diversion:SERIAL1:-"
    assert (alert.serial, alert.scanner_id, alert.shipment_id) == ("SERIAL1", None, None)
    assert alert.detail["scanned_by"] == CONSUMER and alert.detail["items"] == 1


def test_goods_of_a_batch_no_longer_found_name_no_brand_nor_batch():
    alert = _case(batch=None)
    assert (alert.brand_id, alert.batch_id, alert.detail["batch_id"]) == (None, 7, None)
