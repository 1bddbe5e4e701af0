"""Consumer scans through the API on both databases and py-evm: every scan recorded (region,
keyed device hash, verdict), the suspected-clone flag, and diversion caught from a consumer's
scan the way a partner's observe catches it."""

from __future__ import annotations

import sqlite3
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, text

from service.channel.app.diversions import ConsumerDiversions
from service.consumer.app import verification as scans
from service.consumer.app.commands import ScanItem
from service.kernel.storage.db import READ_ONLY
from tests.integration.service.api.conftest import HANGZHOU, NANJING, ZHEJIANG, scan_ok
from tests.integration.service.conftest import GTIN, auth, run_sender_until, serials_of
from tests.integration.service.consumer.helpers import (
    pinned_batch,
    sign_in,
)

JSON = {"Accept": "application/json"}


def link(batch: dict, serial: str, region: str | None = None) -> str:
    path = f"/01/{GTIN}/10/{batch['lot']}/21/{serial}"
    return path + (f"?region={region}" if region else "")


def recorded(container) -> list[dict]:
    container.scan_log.flush()
    with container.uow_factory.sessions() as s:
        return [
            dict(r) for r in s.execute(text("SELECT * FROM consumer_scans ORDER BY id")).mappings()
        ]


def device(n: int) -> dict[str, str]:
    """A phone of its own: a device cookie as the service hands them out."""
    return {"Cookie": f"tc_device=phone{n:04d}-abcdefghijklmn"}


def network(api: TestClient, n: int) -> TestClient:
    """A client in a counting network of its own (198.51.n.0/24)."""
    return TestClient(api.app, client=(f"198.51.{n}.7", 50000))


def later(container, minutes: float) -> None:
    """Move the service's clock forward."""
    container.clock.offset += timedelta(minutes=minutes)


# ----------------------------------------------------------------------------- records
def test_every_scan_is_recorded_with_region_and_a_device_hash_never_the_address(
    api, container, keys
):
    lot = pinned_batch(api, container, keys.factory)
    serial = lot.serials[0]
    ua = {"User-Agent": "Mozilla/5.0 (iPhone; tracecert-test)"}
    first = api.get(link(lot.batch, serial, HANGZHOU), headers={**JSON, **ua})
    assert first.status_code == 200 and first.json()["verdict"] == "genuine"
    cookie = first.cookies.get("tc_device")
    assert cookie and "testclient" not in cookie
    assert "httponly" in first.headers["set-cookie"].lower()
    # The phone sends its cookie back: the same device, and no new cookie.
    again = api.get(f"/items/{serial}/verify", headers={**JSON, **ua})
    assert again.status_code == 200 and "set-cookie" not in again.headers
    partner = api.get(f"/items/{serial}/verify", headers={**JSON, **auth(keys.distributor)})
    assert partner.status_code == 200

    rows = recorded(container)
    assert [(r["region_code"], r["verdict"]) for r in rows] == [
        (HANGZHOU, "genuine"),
        (None, "genuine"),
        (None, "genuine"),
    ]
    with container.uow_factory.sessions() as s:
        item_id = s.execute(text("SELECT id FROM items WHERE serial = :s"), {"s": serial}).scalar()
    assert {r["item_id"] for r in rows} == {item_id}
    consumer, again_row, partner_row = rows
    assert (
        consumer["device_hash"] == again_row["device_hash"] and len(consumer["device_hash"]) == 16
    )
    assert consumer["organisation_id"] is None and partner_row["organisation_id"] is not None
    # Nothing that was sent is stored as it came: no address, no user agent, no cookie.
    stored = repr(rows).encode()
    for sent in (b"testclient", b"iPhone", cookie.encode()):
        assert sent not in stored
    assert set(rows[0]) == {
        "id",
        "item_id",
        "batch_id",
        "scanned_at",
        "region_code",
        "device_hash",
        "verdict",
        "organisation_id",
        "scan_id",
        "network_hash",
        "witness",
    }
    # The network only as a keyed hash: one for all three (one client), 16 bytes.
    assert {bytes(r["network_hash"]) for r in rows} == {bytes(consumer["network_hash"])}
    assert len(consumer["network_hash"]) == 16
    assert [r["witness"] for r in rows] == ["anonymous", "anonymous", "anonymous"]


def test_the_scan_page_records_its_scan_too(api, container, keys):
    lot = pinned_batch(api, container, keys.factory)
    page = api.get(link(lot.batch, lot.serials[0], NANJING), headers={"Accept": "text/html"})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "tc_device" in page.headers["set-cookie"]
    assert [r["region_code"] for r in recorded(container)] == [NANJING]


@pytest.mark.parametrize("region", ["999999", "33010", "x" * 13, "%00"])
def test_an_unknown_region_is_refused_and_nothing_is_recorded(api, container, keys, region):
    lot = pinned_batch(api, container, keys.factory)
    response = api.get(link(lot.batch, lot.serials[0], region), headers=JSON)
    assert response.status_code == 422, response.text
    assert response.json()["error"] in {"invalid_region", "invalid_request"}
    assert recorded(container) == []


def test_codes_we_never_made_are_answered_but_not_recorded(api, container, keys):
    lot = pinned_batch(api, container, keys.factory)
    unknown = api.get(link(lot.batch, "0000000000000000000A"), headers=JSON).json()
    assert (unknown["verdict"], unknown["genuine"]) == ("unknown", False)
    by_serial = api.get("/items/0000000000000000000A/verify")
    assert by_serial.status_code == 200 and by_serial.json()["verdict"] == "unknown"
    assert recorded(container) == []


# ----------------------------------------------------------------------------- clones
def test_the_clone_flag_appears_after_too_many_devices_and_never_blocks_a_claim(
    api, container, keys, otp
):
    lot = pinned_batch(api, container, keys.factory)
    serial = lot.serials[0]
    max_devices = container.settings.clone_max_devices
    for n in range(max_devices):  # independent sources: networks of their own, over time
        answer = network(api, n).get(link(lot.batch, serial), headers={**JSON, **device(n)})
        assert answer.json()["verdict"] == "genuine"
        later(container, 10)
    flagged = network(api, 99).get(link(lot.batch, serial), headers={**JSON, **device(99)}).json()
    assert flagged["verdict"] == "suspected_clone" and flagged["genuine"] is True
    assert flagged["chain"]["on_chain"] is True and "alert" not in {
        k for k, v in flagged.items() if v is not None
    }
    # Other bottles of the batch are not affected.
    other = api.get(link(lot.batch, lot.serials[1]), headers={**JSON, **device(99)}).json()
    assert other["verdict"] == "genuine"
    # The brand's auditors get one flag for the code.
    alerts = api.get("/alerts", headers=auth(keys.auditor)).json()
    (clone,) = [a for a in alerts if a["kind"] == "suspected_clone"]
    assert clone["serial"] == serial and clone["detail"]["devices"] == max_devices + 1
    # It informs only: the owner claims the bottle with its PIN as ever.
    owner = sign_in(api, otp, "owner@example.com")
    claim = api.post("/claims", json={"serial": serial, "pin": lot.pins[serial]}, headers=owner)
    assert claim.status_code == 202, claim.text
    after = api.get(link(lot.batch, serial), headers={**JSON, **device(1)}).json()
    assert (
        after["verdict"] == "suspected_clone" and after["certificate"]["state"] == "claim_pending"
    )


def test_too_many_cities_flag_a_clone_and_districts_of_one_city_count_once(api, container, keys):
    lot = pinned_batch(api, container, keys.factory)
    serial = lot.serials[0]
    # Two districts of Hangzhou (one network), Nanjing, Beijing: three cities, the most allowed.
    for n, region in ((1, HANGZHOU), (1, "330102"), (2, NANJING), (3, "110101")):
        answer = network(api, n).get(link(lot.batch, serial, region), headers=JSON)
        assert answer.json()["verdict"] == "genuine", region
        later(container, 15)
    body = network(api, 4).get(link(lot.batch, serial, "440106"), headers=JSON).json()
    assert body["verdict"] == "suspected_clone"  # Guangzhou: a fourth city


def test_five_forged_scans_from_one_network_change_nothing_the_next_consumer_sees(
    api, container, keys
):
    lot = pinned_batch(api, container, keys.factory)
    serial = lot.serials[0]
    # New cookies and new cities each time, spread over two hours, all from one network.
    for n, region in enumerate((HANGZHOU, NANJING, "110101", "440106", "510104", "420102")):
        answer = api.get(link(lot.batch, serial, region), headers={**JSON, **device(n)})
        assert answer.json()["verdict"] == "genuine"
        later(container, 20)
    nxt = network(api, 7).get(link(lot.batch, serial), headers={**JSON, **device(77)}).json()
    assert nxt["verdict"] == "genuine"
    assert api.get("/alerts", headers=auth(keys.auditor)).json() == []


# ----------------------------------------------------------------------------- diversion
def _anchor(api, container, channel):
    batch_id = channel.batch["id"]
    assert api.post(f"/batches/{batch_id}/anchor", headers=auth(channel.factory)).status_code == 202
    run_sender_until(
        container,
        lambda: (
            api.get(f"/batches/{batch_id}", headers=auth(channel.factory)).json()["status"]
            == "anchored"
        ),
    )


def _at_a(api, channel):
    """The factory ships the pallet to distributor A (Zhejiang), who receives it in Hangzhou."""
    scan_ok(
        api,
        channel.factory,
        action="dispatch",
        code=channel.pallet,
        site_id=channel.f_site,
        receiver_id=channel.a_org,
        shipment="F-0001",
    )
    scan_ok(api, channel.a, action="receive", code=channel.pallet, site_id=channel.a_site)


def _bottle_of(container, case: str) -> str:
    with container.uow_factory.sessions() as s:
        return s.execute(
            text(
                "SELECT i.serial FROM items i JOIN logistic_units u ON u.id = i.case_id "
                "WHERE u.sscc = :c ORDER BY i.leaf_index LIMIT 1"
            ),
            {"c": case},
        ).scalar_one()


def test_an_out_of_territory_consumer_scan_raises_a_diversion_alert_a_later_one_joins(
    api, container, channel
):
    _anchor(api, container, channel)
    _at_a(api, channel)
    bottle = _bottle_of(container, channel.cases[0])
    batch = channel.batch

    # Inside A's territory: nothing to report.
    inside = api.get(link(batch, bottle, HANGZHOU), headers=JSON).json()
    assert inside["verdict"] == "genuine"
    assert not [a for a in api.get("/alerts", headers=auth(channel.brand)).json()]

    # In Nanjing (Jiangsu), from one network: one word, recorded, alerting nobody yet.
    assert api.get(link(batch, bottle, NANJING), headers=JSON).json()["verdict"] == "genuine"
    assert api.get("/alerts", headers=auth(channel.brand)).json() == []
    # From a second network: a diversion naming A, raised by a consumer; the consumer sees
    # nothing of it.
    outside = network(api, 2).get(link(batch, bottle, NANJING), headers=JSON).json()
    assert outside["verdict"] == "genuine" and outside.get("alert") is None
    # Raised by the scan log's writer, with the scan (not by the scan's request).
    container.scan_log.flush()
    (alert,) = api.get("/alerts", headers=auth(channel.brand)).json()
    assert alert["kind"] == "diversion" and alert["count"] == 1
    assert alert["responsible_id"] == channel.a_org and alert["scanner_id"] is None
    detail = api.get(f"/alerts/{alert['id']}", headers=auth(channel.brand)).json()["detail"]
    assert detail["scanned_by"]["kind"] == "consumer"
    assert detail["actual_region"]["code"] == NANJING
    assert [t["code"] for t in detail["expected_territory"]] == [ZHEJIANG]
    assert detail["code"] == channel.cases[0] and detail["kind"] == "case"
    assert [c["to"]["organisation_id"] for c in detail["chain_of_custody"]] == [channel.a_org]
    # A sees the alert it is responsible for.
    assert [a["id"] for a in api.get("/alerts", headers=auth(channel.a)).json()] == [alert["id"]]

    # Another consumer scan outside joins it (counted when the scan log writes it), and so
    # does a partner's observe there.
    network(api, 3).get(link(batch, bottle, NANJING), headers={**JSON, **device(2)})
    assert api.get("/alerts", headers=auth(channel.brand)).json()[0]["count"] == 1
    container.scan_log.flush()
    assert api.get("/alerts", headers=auth(channel.brand)).json()[0]["count"] == 2
    observed = scan_ok(api, channel.s2, action="observe", code=bottle, site_id=channel.s2_site)
    assert observed["alert"]["id"] == alert["id"] and observed["alert"]["new"] is False
    (joined,) = api.get("/alerts", headers=auth(channel.brand)).json()
    assert joined["id"] == alert["id"] and joined["count"] == 3


def _writes_during(container, call) -> int:
    """Write transactions (any BEGIN that is not read-only) on the service's engine while
    ``call`` runs."""
    begun: list[bool] = []

    def on_begin(connection) -> None:
        if not connection.get_execution_options().get(READ_ONLY, False):
            begun.append(True)

    event.listen(container.engine, "begin", on_begin)
    try:
        call()
    finally:
        event.remove(container.engine, "begin", on_begin)
    return len(begun)


def test_an_out_of_territory_scan_writes_nothing_in_its_request_and_one_alert_with_the_log(
    api, container, channel
):
    _anchor(api, container, channel)
    _at_a(api, channel)
    case = channel.cases[0]
    bottle = _bottle_of(container, case)
    # One network's word first: recorded, alerting nobody (the second network proves it).
    network(api, 1).get(link(channel.batch, bottle, NANJING), headers=JSON)
    container.scan_log.flush()
    answers = []

    def scan_outside() -> None:
        answers.append(
            network(api, 2).get(link(channel.batch, bottle, NANJING), headers=JSON).json()
        )

    # The request path: no write transaction at all, and an inline answer (no thread hop
    # for a write).
    assert _writes_during(container, scan_outside) == 0
    assert answers[0]["verdict"] == "genuine"
    assert api.get("/alerts", headers=auth(channel.brand)).json() == []
    assert container.verifier.scan(
        ScanItem(bottle), scans.ScanOrigin(b"p" * 16, NANJING, b"n" * 32), inline=True
    ) not in (None, scans.DEFERRED)
    # The writer raises it: one alert for the goods, each sighting counted once.
    container.scan_log.flush()
    (alert,) = api.get("/alerts", headers=auth(channel.brand)).json()
    assert alert["kind"] == "diversion" and alert["count"] == 2
    assert alert["responsible_id"] == channel.a_org
    assert (
        api.get(f"/alerts/{alert['id']}", headers=auth(channel.brand)).json()["detail"]["code"]
        == case
    )
    with container.uow_factory.reader() as uow:
        assert uow.custody.units_by_sscc([case])[0].custody.alert_id == alert["id"]


def test_a_diversion_alert_is_raised_exactly_once_when_its_scans_are_replayed_from_the_spill(
    api, container, channel
):
    _anchor(api, container, channel)
    _at_a(api, channel)
    bottle = _bottle_of(container, channel.cases[1])
    container.scan_log.flush()
    log = container.scan_log
    raise_them = log.diversions

    def then_the_database_goes(uow, found):
        raise_them(uow, found)  # raised in the transaction, which then fails
        raise sqlite3.OperationalError("database is locked")

    log.diversions = then_the_database_goes
    # Three networks: the first alone proves nothing; the second raises, the third counts.
    for n in range(3):
        network(api, n).get(link(channel.batch, bottle, NANJING), headers={**JSON, **device(n)})
    with pytest.raises(sqlite3.OperationalError):
        log.flush()
    assert log.status()["spilled"] == 3
    assert api.get("/alerts", headers=auth(channel.brand)).json() == []  # rolled back
    log.diversions = raise_them
    left = b"".join(p.read_bytes() for p in sorted(log.spill.directory.glob("*.jsonl")))
    assert log.flush() == 3 and log.flush() == 0
    assert log.status()["spilled"] == 0 and log.status()["replayed"] == 3
    (alert,) = api.get("/alerts", headers=auth(channel.brand)).json()
    assert alert["kind"] == "diversion" and alert["count"] == 2
    # A crash between the replay's commit and the file's removal: the file is replayed again,
    # and neither its scans nor their alert are written twice.
    (log.spill.directory / "00000000000000000001-1-again.jsonl").write_bytes(left)
    assert log.flush() == 0 and len(recorded(container)) == 3
    (again,) = api.get("/alerts", headers=auth(channel.brand)).json()
    assert again["id"] == alert["id"] and again["count"] == 2
    with container.uow_factory.reader() as uow:
        raised = [e for e in uow.events.entries(0, 10_000) if e.type == "AlertRaised"]
    assert len(raised) == 1


def test_a_spoofed_region_from_one_network_raises_no_diversion(api, container, channel):
    _anchor(api, container, channel)
    _at_a(api, channel)
    bottle = _bottle_of(container, channel.cases[0])
    for n, region in enumerate((NANJING, "320102", "110101", "440106", NANJING)):
        answer = api.get(link(channel.batch, bottle, region), headers={**JSON, **device(n)})
        assert answer.json()["verdict"] == "genuine"
        later(container, 30)
    assert api.get("/alerts", headers=auth(channel.brand)).json() == []
    assert len(recorded(container)) == 5  # recorded all the same


def test_a_signed_in_members_scan_out_of_territory_raises_a_diversion_by_itself(
    api, container, channel, otp
):
    _anchor(api, container, channel)
    _at_a(api, channel)
    bottle = _bottle_of(container, channel.cases[0])
    member = sign_in(api, otp, "member@example.com")
    answer = api.get(link(channel.batch, bottle, NANJING), headers={**JSON, **member})
    assert answer.status_code == 200 and answer.json()["verdict"] == "genuine"
    container.scan_log.flush()
    (alert,) = api.get("/alerts", headers=auth(channel.brand)).json()
    assert alert["kind"] == "diversion"
    assert [r["witness"] for r in recorded(container)] == ["member"]


def test_an_expired_or_bogus_session_scans_anonymously(api, container, keys):
    lot = pinned_batch(api, container, keys.factory)
    bogus = {"Authorization": "Bearer not-a-session"}
    answer = api.get(link(lot.batch, lot.serials[0]), headers={**JSON, **bogus})
    assert answer.status_code == 200 and answer.json()["verdict"] == "genuine"
    assert [r["witness"] for r in recorded(container)] == ["anonymous"]


def test_a_partner_alert_is_joined_by_a_consumer_scan_of_the_same_goods(api, container, channel):
    _anchor(api, container, channel)
    _at_a(api, channel)
    bottle = _bottle_of(container, channel.cases[1])
    first = scan_ok(api, channel.s2, action="observe", code=bottle, site_id=channel.s2_site)
    assert first["alert"]["new"] is True
    api.get(link(channel.batch, bottle, NANJING), headers=JSON)
    container.scan_log.flush()
    (alert,) = api.get("/alerts", headers=auth(channel.brand)).json()
    assert alert["id"] == first["alert"]["id"] and alert["count"] == 2


def test_a_consumer_scan_without_a_region_judges_no_diversion(api, container, channel):
    _anchor(api, container, channel)
    _at_a(api, channel)
    bottle = _bottle_of(container, channel.cases[0])
    assert api.get(link(channel.batch, bottle), headers=JSON).json()["verdict"] == "genuine"
    assert api.get("/alerts", headers=auth(channel.brand)).json() == []
    assert [r["region_code"] for r in recorded(container)] == [None]


def test_goods_still_at_the_factory_are_nowhere_out_of_place(api, container, channel):
    _anchor(api, container, channel)
    bottle = _bottle_of(container, channel.cases[0])
    assert api.get(link(channel.batch, bottle, NANJING), headers=JSON).status_code == 200
    assert api.get("/alerts", headers=auth(channel.brand)).json() == []


# ----------------------------------------------------------------------------- the hot path
def test_a_recall_shows_at_once_after_the_batch_was_verified(api, container, keys):
    lot = pinned_batch(api, container, keys.factory)
    assert api.get(link(lot.batch, lot.serials[0]), headers=JSON).json()["verdict"] == "genuine"
    recalled = api.post(
        f"/batches/{lot.batch['id']}/recall",
        json={"reason": "seal defect"},
        headers=auth(keys.brand),
    )
    assert recalled.status_code == 200, recalled.text
    body = api.get(link(lot.batch, lot.serials[1]), headers=JSON).json()
    assert body["verdict"] == "recalled" and body["recall"]["reason"] == "seal defect"


def test_the_hot_path_answers_exactly_what_the_full_read_answers(api, container, channel):
    """Goods that travelled, a claimed bottle and a plain one: the same answer either way."""
    _anchor(api, container, channel)
    _at_a(api, channel)
    serials = serials_of(container, channel.batch["id"])
    travelled, plain = _bottle_of(container, channel.cases[0]), serials[-1]
    for serial in (travelled, plain):
        fast = container.verifier.scan(ScanItem(serial))
        full = scans.scan_item(
            ScanItem(serial),
            container.uow_factory,
            container.commitments,
            container.ledger,
            container.clock,
            container.regions.tree,
            ConsumerDiversions(container.regions.tree),
        )
        assert fast == full
        assert fast["provenance"]["journey"] if serial == travelled else True
