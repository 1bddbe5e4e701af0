"""The distribution flow through the API on both dialects: channel, shipments by scanning,
diversion caught inline, offline uploads, stock and privacy between partners."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from tests.integration.service.api.conftest import (
    HANGZHOU,
    NANJING,
    ZHEJIANG,
    Channel,
    _site,
    scan,
    scan_ok,
)
from tests.integration.service.conftest import auth


def test_regions_ship_with_gb2260(api):
    provinces = api.get("/regions").json()
    assert len(provinces) == 34 and {"330000", "320000", "110000"} <= {p["code"] for p in provinces}
    region = api.get(f"/regions/{HANGZHOU}").json()
    assert region["level"] == 3 and region["parent"] == "330100"
    assert region["path"] == "浙江省 杭州市 西湖区"
    assert api.get("/regions/999999").status_code == 422


def test_the_diversion_scenario(api, container, channel, keys):
    c = channel
    # The factory ships a pallet (two cases) to distributor A in Zhejiang; A receives it.
    r = scan(
        api,
        c.factory,
        action="dispatch",
        code=c.pallet,
        site_id=c.f_site,
        receiver_id=c.a_org,
        shipment="F-0001",
    )
    assert r.status_code == 200, r.text
    shipment = r.json()["shipment"]
    assert r.json()["items"] == 12
    r = scan(api, c.a, action="receive", code=c.pallet, site_id=c.a_site)
    assert r.status_code == 200, r.text
    assert r.json()["authorised"] is True and r.json()["alert"] is None
    assert r.json()["shipment_status"] == "received"
    stock = api.get("/stock", headers=auth(c.a)).json()
    assert stock["totals"]["cases"] == 2 and stock["totals"]["items"] == 12

    # A ships one case to S1 in Hangzhou and one to S2 in Jiangsu.
    r = scan(
        api,
        c.a,
        action="dispatch",
        code=c.cases[0],
        site_id=c.a_site,
        receiver_id=c.s1_org,
        shipment="A-0001",
    )
    assert r.status_code == 200, r.text
    r = scan(
        api,
        c.a,
        action="dispatch",
        code=c.cases[1],
        site_id=c.a_site,
        receiver_id=c.s2_org,
        shipment="A-0002",
    )
    assert r.status_code == 200, r.text
    to_s2 = r.json()["shipment"]

    # S1's receipt raises nothing; S2's receipt raises a diversion naming A.
    r = scan(api, c.s1, action="receive", code=c.cases[0], site_id=c.s1_site)
    assert r.json()["alert"] is None and r.json()["authorised"] is True
    r = scan(api, c.s2, action="receive", code=c.cases[1], site_id=c.s2_site)
    assert r.status_code == 200, r.text
    alert = r.json()["alert"]
    assert alert["kind"] == "diversion" and alert["new"] is True
    assert alert["responsible"]["organisation_id"] == c.a_org
    assert r.json()["authorised"] is False

    detail = api.get(f"/alerts/{alert['id']}", headers=auth(c.brand)).json()
    evidence = detail["detail"]
    assert evidence["code"] == c.cases[1] and evidence["items"] == 6
    assert [t["code"] for t in evidence["expected_territory"]] == [ZHEJIANG]
    assert evidence["actual_region"]["code"] == NANJING
    assert evidence["scanned_by"]["organisation_id"] == c.s2_org
    chain = [
        (h["from"]["organisation_id"], h["to"]["organisation_id"])
        for h in evidence["chain_of_custody"]
    ]
    assert chain == [(keys.factory_org, c.a_org), (c.a_org, c.s2_org)]
    assert detail["responsible_id"] == c.a_org

    # A later scan in Jiangsu of a bottle from that case links to the same alert.
    with container.uow_factory.sessions() as s:
        bottle = s.execute(
            text(
                "SELECT i.serial FROM items i JOIN logistic_units u ON u.id = i.case_id "
                "WHERE u.sscc = :c LIMIT 1"
            ),
            {"c": c.cases[1]},
        ).scalar_one()
    r = scan(api, c.s2, action="observe", code=bottle, site_id=c.s2_site)
    assert r.status_code == 200, r.text
    assert r.json()["alert"]["id"] == alert["id"] and r.json()["alert"]["new"] is False
    alerts = api.get("/alerts", headers=auth(c.brand)).json()
    diversions = [a for a in alerts if a["kind"] == "diversion"]
    assert len(diversions) == 1 and diversions[0]["count"] == 2

    # Shipments and privacy: S1 sees neither S2's shipment nor the alert; A sees both.
    assert api.get(f"/shipments/{to_s2}", headers=auth(c.s1)).status_code == 404
    assert api.get(f"/shipments/{to_s2}", headers=auth(c.a)).status_code == 200
    assert api.get(f"/alerts/{alert['id']}", headers=auth(c.s1)).status_code == 404
    assert [a["id"] for a in api.get("/alerts", headers=auth(c.a)).json()] == [alert["id"]]
    assert api.get("/alerts", headers=auth(c.s1)).json() == []
    assert (
        api.get("/stock", params={"organisation_id": c.s2_org}, headers=auth(c.s1)).status_code
        == 404
    )
    assert api.get(f"/shipments/{shipment}", headers=auth(c.brand)).json()["status"] == "received"

    # The brand confirms the alert; the change is logged; it cannot be reopened.
    confirmed = api.post(
        f"/alerts/{alert['id']}/status",
        json={"status": "confirmed", "note": "A admitted the sale"},
        headers=auth(c.brand),
    )
    assert confirmed.status_code == 200 and confirmed.json()["status"] == "confirmed"
    again = api.post(
        f"/alerts/{alert['id']}/status", json={"status": "dismissed"}, headers=auth(c.brand)
    )
    assert again.status_code == 409 and again.json()["error"] == "alert_state_conflict"
    assert (
        api.post(
            f"/alerts/{alert['id']}/status", json={"status": "dismissed"}, headers=auth(c.a)
        ).status_code
        == 403
    )


def test_partial_receipt_reports_missing_and_extra(api, channel):
    c = channel
    scan_ok(
        api,
        c.factory,
        action="dispatch",
        code=c.pallet,
        site_id=c.f_site,
        receiver_id=c.a_org,
        shipment="F-0002",
    )
    # A receives one case of the two; a third case, never scanned out, arrives too (extra).
    r = scan(api, c.a, action="receive", code=c.cases[0], site_id=c.a_site)
    shipment = r.json()["shipment"]
    assert r.json()["shipment_status"] == "partially_received"
    r = scan(api, c.a, action="receive", code=c.cases[2], site_id=c.a_site, shipment=shipment)
    assert r.status_code == 200, r.text
    assert r.json()["extra"] is True
    view = api.get(f"/shipments/{shipment}", headers=auth(c.a)).json()
    assert view["items"] == {"dispatched": 12, "received": 6, "missing": 6, "extra": 6}
    assert [m["code"] for m in view["missing"]] == [c.cases[1]]
    assert [e["code"] for e in view["extra"]] == [c.cases[2]]


def test_opening_a_case_lets_its_bottles_travel_alone(api, container, channel):
    c = channel
    scan_ok(
        api,
        c.factory,
        action="dispatch",
        code=c.cases[0],
        site_id=c.f_site,
        receiver_id=c.a_org,
        shipment="F-0003",
    )
    scan_ok(api, c.a, action="receive", code=c.cases[0], site_id=c.a_site)
    with container.uow_factory.sessions() as s:
        bottle = s.execute(
            text(
                "SELECT i.serial FROM items i JOIN logistic_units u ON u.id = i.case_id "
                "WHERE u.sscc = :c ORDER BY i.leaf_index LIMIT 1"
            ),
            {"c": c.cases[0]},
        ).scalar_one()
    sealed = scan(
        api,
        c.a,
        action="dispatch",
        code=bottle,
        site_id=c.a_site,
        receiver_id=c.s1_org,
        shipment="A-0100",
    )
    assert sealed.status_code == 422 and sealed.json()["error"] == "invalid_scan"
    opened = scan(api, c.a, action="open", code=c.cases[0], site_id=c.a_site)
    assert opened.status_code == 200, opened.text
    r = scan(
        api,
        c.a,
        action="dispatch",
        code=bottle,
        site_id=c.a_site,
        receiver_id=c.s1_org,
        shipment="A-0100",
    )
    assert r.status_code == 200 and r.json()["items"] == 1
    r = scan(api, c.s1, action="receive", code=bottle, site_id=c.s1_site)
    assert r.json()["authorised"] is True
    assert api.get("/stock", headers=auth(c.s1)).json()["totals"]["loose_items"] == 1


def _offline_file(c: Channel, depot: int) -> list[dict]:
    t0 = datetime.now(UTC) - timedelta(hours=2)

    def at(minutes: int) -> str:
        return (t0 + timedelta(minutes=minutes)).isoformat()

    return [
        {
            "client_event_id": "ev-1",
            "action": "receive",
            "code": c.pallet,
            "site_id": c.a_site,
            "time": at(0),
        },
        {
            "client_event_id": "ev-2",
            "action": "dispatch",
            "code": c.cases[0],
            "site_id": c.a_site,
            "receiver_id": c.s1_org,
            "shipment": "OFF-1",
            "time": at(10),
        },
        {
            "client_event_id": "ev-3",
            "action": "dispatch",
            "code": c.cases[1],
            "site_id": c.a_site,
            "receiver_id": c.s2_org,
            "shipment": "OFF-2",
            "time": at(11),
        },
        {
            "client_event_id": "ev-4",
            "action": "observe",
            "code": c.cases[1],
            "site_id": depot,  # A's depot in Nanjing, outside A's territory
            "time": at(50),
        },
    ]


def _fingerprint(container) -> dict:
    """The state the scans leave, without ids or clocks that differ from run to run."""
    with container.uow_factory.sessions() as s:

        def rows(sql: str) -> list:
            return [tuple(r) for r in s.execute(text(sql)).all()]

        return {
            "units": rows(
                "SELECT sscc, holder_id, authorised_id, holder_since, shipment_id IS NOT NULL, "
                "alert_id IS NOT NULL FROM logistic_units WHERE holder_id <> (SELECT "
                "organisation_id FROM batches WHERE batches.id = logistic_units.batch_id) "
                "ORDER BY sscc"
            ),
            "lines": rows(
                "SELECT s.ref, u.sscc, l.dispatched, l.received_at FROM shipment_lines l "
                "JOIN shipments s ON s.id = l.shipment_id "
                "JOIN logistic_units u ON u.id = l.unit_id ORDER BY s.ref, u.sscc"
            ),
            "shipments": rows("SELECT ref, status, received_at FROM shipments ORDER BY ref"),
            "scans": rows(
                "SELECT client_event_id, outcome FROM scan_events "
                "WHERE client_event_id LIKE 'ev-%' ORDER BY client_event_id"
            ),
            "alerts": rows(
                "SELECT a.kind, a.count, a.responsible_id, a.scanner_id, s.ref FROM alerts a "
                "LEFT JOIN shipments s ON s.id = a.shipment_id ORDER BY a.id"
            ),
            "events": rows(
                "SELECT type, count(*) FROM events WHERE type IN ('GoodsDispatched', "
                "'GoodsReceived', 'AlertRaised') GROUP BY type ORDER BY type"
            ),
        }


@pytest.mark.parametrize("order", ["once", "twice", "halves_reversed", "last_first"])
def test_offline_uploads_are_idempotent_and_order_free(api, container, channel, order):
    c = channel
    scan(
        api,
        c.factory,
        action="dispatch",
        code=c.pallet,
        site_id=c.f_site,
        receiver_id=c.a_org,
        shipment="F-0009",
    )
    events = _offline_file(c, _site(api, c.a, c.a_org, "Nanjing depot", "warehouse", NANJING))

    def upload(part):
        r = api.post("/scans/upload", json={"device_id": "hh-7", "scans": part}, headers=auth(c.a))
        assert r.status_code == 200, r.text
        return r.json()

    if order == "once":
        assert upload(events)["counts"] == {"applied": 4}
    elif order == "twice":
        upload(events)
        before = _fingerprint(container)
        assert upload(events)["counts"] == {"duplicate": 4}
        assert _fingerprint(container) == before
    elif order == "halves_reversed":
        late = upload(events[2:])
        assert late["counts"] == {"pending": 2}  # dispatch and observe wait for the receipt
        assert upload(events[:2])["counts"] == {"applied": 2}
    else:
        # The observation alone first: nothing is wrong yet (the factory may ship anywhere);
        # once A's receipt and dispatch are known it is checked again and becomes a diversion.
        alone = upload(events[3:])
        assert alone["counts"] == {"applied": 1} and alone["results"][0]["alert"] is None
        assert upload(events[:3])["counts"] == {"applied": 3}

    state = _fingerprint(container)
    t0 = datetime.fromisoformat(events[0]["time"])
    in_transit = [
        (c.cases[0], c.a_org, c.a_org, t0, True, False),
        (c.cases[1], c.a_org, c.a_org, t0, True, True),
        (c.pallet, c.a_org, c.a_org, t0, False, False),
    ]
    assert [u[0] for u in state["units"]] == sorted(u[0] for u in in_transit)
    for unit in state["units"]:
        expected = next(u for u in in_transit if u[0] == unit[0])
        assert unit[1:3] == expected[1:3] and unit[4:] == expected[4:], unit
        assert datetime.fromisoformat(str(unit[3])).replace(tzinfo=UTC) == t0, unit
    assert state["shipments"][0][:2] == ("F-0009", "received")
    assert [s[:2] for s in state["shipments"][1:]] == [
        ("OFF-1", "dispatched"),
        ("OFF-2", "dispatched"),
    ]
    assert {(line[0], line[1], line[2]) for line in state["lines"]} == {
        ("F-0009", c.pallet, True),
        ("F-0009", c.cases[0], True),
        ("F-0009", c.cases[1], True),
        ("OFF-1", c.cases[0], True),
        ("OFF-2", c.cases[1], True),
    }
    assert [s[1] for s in state["scans"]] == ["applied"] * 4
    # The observation in Nanjing of the case A is sending to Jiangsu is a diversion by A.
    assert state["alerts"] == [("diversion", 1, c.a_org, c.a_org, "OFF-2")]
    assert state["events"] == [("AlertRaised", 1), ("GoodsDispatched", 3), ("GoodsReceived", 1)]


def test_a_custom_region_tree_loads_and_territories_use_it(api, channel, keys, counts):
    c = channel
    tree = {
        "source": "sales-districts",
        "regions": [
            {"code": "ZJ-EAST", "name": "浙东销售区", "parent": ZHEJIANG},
            {"code": "ZJ-EAST-1", "name": "宁波片区", "parent": "ZJ-EAST"},
        ],
    }
    assert api.post("/regions", json=tree, headers=auth(keys.brand)).status_code == 403
    loaded = api.post("/regions", json=tree, headers=auth(keys.admin))
    assert loaded.status_code == 201 and loaded.json() == {"source": "sales-districts", "loaded": 2}
    region = api.get("/regions/ZJ-EAST-1").json()
    assert region["level"] == 3 and region["path"] == "浙江省 浙东销售区 宁波片区"
    r = api.put(
        f"/organisations/{c.s1_org}/territories",
        json={"regions": ["ZJ-EAST"]},
        headers=auth(c.brand),
    )
    assert r.status_code == 200 and r.json()["territories"][0]["code"] == "ZJ-EAST"
    before = counts()
    for bad in (
        [{"code": "X1", "name": "x", "parent": "NOPE"}],  # unknown parent
        [{"code": "ZJ-EAST", "name": "again"}],  # exists
        [{"code": "C1", "name": "c", "parent": "C2"}, {"code": "C2", "name": "c", "parent": "C1"}],
        [{"code": "bad code", "name": "x"}],
    ):
        r = api.post("/regions", json={"source": "bad", "regions": bad}, headers=auth(keys.admin))
        assert r.status_code == 422, bad
    assert counts() == before


def test_a_recall_lists_each_item_with_whoever_holds_it_now_and_where(api, channel, keys):
    c = channel
    for key, body in (
        (c.factory, dict(action="dispatch", code=c.pallet, site_id=c.f_site,
                         receiver_id=c.a_org, shipment="F-R")),
        (c.a, dict(action="receive", code=c.pallet, site_id=c.a_site)),
        (c.a, dict(action="dispatch", code=c.cases[0], site_id=c.a_site,
                   receiver_id=c.s1_org, shipment="A-R1")),
        (c.s1, dict(action="receive", code=c.cases[0], site_id=c.s1_site)),
        (c.a, dict(action="dispatch", code=c.cases[1], site_id=c.a_site,
                   receiver_id=c.s2_org, shipment="A-R2")),
        (c.s2, dict(action="receive", code=c.cases[1], site_id=c.s2_site)),
        (c.s2, dict(action="open", code=c.cases[1], site_id=c.s2_site)),
    ):  # fmt: skip
        response = scan(api, key, **body)
        assert response.status_code == 200, response.text
    recalled = api.post(
        f"/batches/{c.batch['id']}/recall", json={"reason": "Bad cork"}, headers=auth(keys.brand)
    )
    assert recalled.status_code == 200, recalled.text
    items = api.get(
        f"/batches/{c.batch['id']}/recalled-items",
        params={"limit": 100},
        headers=auth(keys.brand),
    ).json()["items"]
    where = {(i["case_sscc"], i["last_holder"]["organisation_id"], i["region"]) for i in items}
    assert where == {
        (c.cases[0], c.s1_org, HANGZHOU),  # sealed case received by S1
        (c.cases[1], c.s2_org, NANJING),  # opened at S2: each bottle keeps S2's custody
        (c.cases[2], keys.factory_org, None),  # never shipped: still the factory's
        (c.cases[3], keys.factory_org, None),
    }
    assert len(items) == 24
