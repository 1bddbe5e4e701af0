"""Refused distribution requests: each a clear 4xx with a code, and nothing is written."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.integration.service.api.conftest import HANGZHOU, scan
from tests.integration.service.conftest import auth


@pytest.fixture
def unchanged(counts):
    before = counts()
    yield
    assert counts() == before


def test_an_unknown_sscc_is_not_found(api, channel, unchanged):
    r = scan(api, channel.a, action="receive", code="106141412345678908", site_id=channel.a_site)
    assert r.status_code == 404 and r.json()["error"] == "code_not_found"


def test_a_malformed_code_is_invalid(api, channel, unchanged):
    for code in ("106141412345678907", "hello world", "https://x/01/123/21/A", "\u00003"):
        r = scan(api, channel.a, action="observe", code=code, site_id=channel.a_site)
        assert r.status_code == 422 and r.json()["error"] == "invalid_code", code


def test_shipping_goods_you_do_not_hold_is_refused(api, channel, unchanged):
    c = channel
    r = scan(
        api,
        c.a,
        action="dispatch",
        code=c.cases[0],
        site_id=c.a_site,
        receiver_id=c.s1_org,
        shipment="A-9",
    )
    assert r.status_code == 409 and r.json()["error"] == "not_held"


def test_receiving_a_shipment_addressed_to_someone_else_is_refused(api, channel, counts):
    c = channel
    assert (
        scan(
            api,
            c.factory,
            action="dispatch",
            code=c.cases[0],
            site_id=c.f_site,
            receiver_id=c.a_org,
            shipment="F-9",
        ).status_code
        == 200
    )
    before = counts()
    r = scan(api, c.s1, action="receive", code=c.cases[0], site_id=c.s1_site)
    assert r.status_code == 409 and r.json()["error"] == "not_addressed_to_you"
    assert counts() == before


def test_a_future_timestamp_refuses_the_whole_upload(api, channel, unchanged):
    c = channel
    now = datetime.now(UTC)
    scans = [
        {
            "client_event_id": "u-1",
            "action": "observe",
            "code": c.cases[0],
            "site_id": c.a_site,
            "time": (now - timedelta(minutes=5)).isoformat(),
        },
        {
            "client_event_id": "u-2",
            "action": "observe",
            "code": c.cases[1],
            "site_id": c.a_site,
            "time": (now + timedelta(hours=2)).isoformat(),
        },
    ]
    r = api.post("/scans/upload", json={"device_id": "d-1", "scans": scans}, headers=auth(c.a))
    assert r.status_code == 422 and r.json()["error"] == "invalid_scan"
    assert "Scan 1 (u-2)" in r.json()["detail"] and "future" in r.json()["detail"]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"regions": ["999999"]}, "invalid_region"),
        ({"regions": ["33O000"]}, "invalid_region"),  # letter O, not zero
        ({"regions": ["../etc"]}, "invalid_region"),
        ({"regions": "330000"}, "invalid_request"),
        ({"regions": ["330000"], "organisation_id": 1}, "invalid_request"),
    ],
)
def test_a_region_that_does_not_exist_is_refused(api, channel, unchanged, body, code):
    r = api.put(
        f"/organisations/{channel.a_org}/territories", json=body, headers=auth(channel.brand)
    )
    assert r.status_code == 422 and r.json()["error"] == code


def test_a_second_site_with_the_same_name_is_refused(api, channel, unchanged):
    # The channel fixture gave distributor A its "Hangzhou DC".
    r = api.post(
        f"/organisations/{channel.a_org}/sites",
        json={"name": "Hangzhou DC", "kind": "warehouse", "region": HANGZHOU},
        headers=auth(channel.a),
    )
    assert r.status_code == 422 and r.json()["error"] == "invalid_channel"
    assert "Hangzhou DC" in r.json()["detail"]


def test_a_site_in_an_unknown_region_or_of_another_organisation_is_refused(api, channel, unchanged):
    c = channel
    r = api.post(
        f"/organisations/{c.a_org}/sites",
        json={"name": "X", "kind": "warehouse", "region": "999999"},
        headers=auth(c.a),
    )
    assert r.status_code == 422 and r.json()["error"] == "invalid_region"
    r = api.post(
        f"/organisations/{c.s1_org}/sites",
        json={"name": "X", "kind": "shop", "region": HANGZHOU},
        headers=auth(c.a),
    )
    assert r.status_code == 404
    r = api.post(
        f"/organisations/{c.a_org}/sites",
        json={"name": "X", "kind": "castle", "region": HANGZHOU},
        headers=auth(c.a),
    )
    assert r.status_code == 422 and r.json()["error"] == "invalid_request"
    assert "'warehouse'" in r.json()["detail"]
    r = api.post(
        f"/organisations/{c.a_org}/sites",
        json={"name": "Hangzhou DC", "kind": "warehouse", "region": HANGZHOU},
        headers=auth(c.a),
    )
    assert r.status_code == 422 and r.json()["error"] == "invalid_channel"  # name taken


@pytest.mark.parametrize(
    "body",
    [
        {"action": "teleport", "code": "X", "site_id": 1},
        {"action": "receive", "code": "X"},  # no site
        {"action": "dispatch", "code": "X", "site_id": 1},  # no receiver or shipment
        {"action": "observe", "code": "X", "region": "330106"},  # a region, not its site
        {"action": "receive", "code": "X", "site_id": 1, "owner": 5},  # unknown field
        {"action": "receive", "code": "X", "site_id": 1, "time": "2026-01-01T00:00:00"},  # naive
        {"action": "receive", "code": "X", "site_id": 1, "client_event_id": "bad id!"},
    ],
)
def test_malformed_scans_are_refused(api, channel, unchanged, body):
    c = channel
    body = {**body, "code": c.cases[0]}
    if body.get("site_id") == 1:
        body["site_id"] = c.a_site
    r = scan(api, c.a, **body)
    assert r.status_code == 422, r.text
    assert r.json()["error"] in ("invalid_scan", "invalid_request")


def test_a_site_of_another_organisation_cannot_be_scanned_at(api, channel, unchanged):
    c = channel
    r = scan(api, c.a, action="observe", code=c.cases[0], site_id=c.s1_site)
    assert r.status_code == 404 and r.json()["error"] == "site_not_found"


def test_roles_without_goods_cannot_scan(api, channel, keys, unchanged):
    for key in (keys.brand, keys.auditor, keys.attestor):
        r = scan(api, key, action="observe", code=channel.cases[0], site_id=channel.a_site)
        assert r.status_code == 403, r.text


def test_a_client_event_id_reused_for_another_scan_is_refused(api, channel, counts):
    c = channel
    first = scan(
        api, c.a, action="observe", code=c.cases[0], site_id=c.a_site, client_event_id="same-1"
    )
    assert first.status_code == 200
    repeat = scan(
        api, c.a, action="observe", code=c.cases[0], site_id=c.a_site, client_event_id="same-1"
    )
    assert repeat.status_code == 200 and repeat.json()["outcome"] == "duplicate"
    before = counts()
    other = scan(
        api, c.a, action="observe", code=c.cases[1], site_id=c.a_site, client_event_id="same-1"
    )
    assert other.status_code == 409 and other.json()["error"] == "client_event_reused"
    assert counts() == before


def test_partners_do_not_see_each_others_shipments_stock_or_alerts(api, channel):
    c = channel
    r = scan(
        api,
        c.factory,
        action="dispatch",
        code=c.cases[0],
        site_id=c.f_site,
        receiver_id=c.a_org,
        shipment="F-7",
    )
    shipment = r.json()["shipment"]
    for key in (c.s1, c.s2):
        assert api.get(f"/shipments/{shipment}", headers=auth(key)).status_code == 404
        assert api.get("/shipments", params={"direction": "in"}, headers=auth(key)).json() == []
        assert (
            api.get("/stock", params={"organisation_id": c.a_org}, headers=auth(key)).status_code
            == 404
        )
        assert api.get(f"/organisations/{c.a_org}", headers=auth(key)).status_code == 404
    assert [s["id"] for s in api.get("/shipments", headers=auth(c.a)).json()] == [shipment]
    assert api.get(f"/shipments/{shipment}", headers=auth(c.brand)).status_code == 200
