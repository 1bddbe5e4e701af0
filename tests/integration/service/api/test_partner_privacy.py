"""Partner privacy: a sighting is judged at the scanner's own site, an alert shows each reader
what its rights allow, and no answer reveals another party's holdings. Two distributors (A in
Zhejiang, B in Jiangsu) and a store (S2 in Nanjing) read every path: the observe answer, alerts
(list and detail), shipments, stock and EPCIS."""

from __future__ import annotations

import json

import pytest

from tests.integration.service.api.conftest import (
    JIANGSU,
    NANJING,
    Channel,
    _org,
    _site,
    case_to_s1,
    scan,
    scan_ok,
)
from tests.integration.service.conftest import auth


@pytest.fixture
def b(api, keys) -> tuple[int, str, int]:
    """Distributor B of the same brand, in Jiangsu, with a warehouse in Nanjing."""
    org, key = _org(api, keys, "Distributor B", "distributor")
    response = api.put(
        f"/organisations/{org}/territories", json={"regions": [JIANGSU]}, headers=auth(keys.brand)
    )
    assert response.status_code == 200, response.text
    return org, key, _site(api, key, org, "Nanjing DC", "warehouse", NANJING)


def _a_holds_the_pallet_and_ships_a_case_to_s1(api, c: Channel) -> str:
    sent = case_to_s1(api, c, c.cases[1], "F-PRIV", "A-PRIV")
    scan_ok(api, c.s1, action="receive", code=c.cases[1], site_id=c.s1_site)
    return str(sent["shipment"])


def test_a_sighting_is_judged_at_the_scanners_own_site_never_at_a_named_region(
    api, channel, counts
):
    c = channel
    _a_holds_the_pallet_and_ships_a_case_to_s1(api, c)
    before = counts()
    # S2 cannot claim to have seen A's case in Hangzhou, nor anywhere else it names.
    named = scan(api, c.s2, action="observe", code=c.cases[0], region="330106")
    assert named.status_code == 422 and named.json()["error"] == "invalid_scan"
    assert "site_id" in named.json()["detail"]
    assert counts() == before
    # With its only site unnamed, S2's sighting is judged at its Nanjing shop.
    seen = scan_ok(api, c.s2, action="observe", code=c.cases[0])
    assert seen["region"] == NANJING and seen["authorised"] is False
    alert = api.get(f"/alerts/{seen['alert']['id']}", headers=auth(c.brand)).json()
    assert alert["detail"]["actual_region"]["code"] == NANJING


def test_an_observation_of_an_organisation_with_several_sites_names_one(api, channel, counts):
    c = channel
    _site(api, c.a, c.a_org, "Ningbo DC", "warehouse", "330200")
    before = counts()
    r = scan(api, c.a, action="observe", code=c.cases[0])
    assert r.status_code == 422 and r.json()["error"] == "invalid_scan"
    assert "several sites" in r.json()["detail"]
    assert counts() == before


def test_partners_see_only_what_concerns_them_on_every_read_path(api, channel, b):
    c = channel
    b_org, b_key, b_site = b
    to_s1 = _a_holds_the_pallet_and_ships_a_case_to_s1(api, c)

    # S2 (a store under A, in Nanjing) sees A's case on its shelf: a diversion by A.
    seen = scan_ok(api, c.s2, action="observe", code=c.cases[0], site_id=c.s2_site)
    assert seen["authorised"] is False and seen["alert"]["new"] is True
    assert "holder" not in seen  # not who holds the goods
    assert seen["alert"]["responsible"] is None  # nor who let them go
    alert_id = seen["alert"]["id"]
    # B sees it too: its sighting joins the alert, and its answer names nobody either.
    joined = scan_ok(api, b_key, action="observe", code=c.cases[0], site_id=b_site)
    assert joined["alert"]["id"] == alert_id and joined["alert"]["responsible"] is None
    assert "holder" not in joined
    # A looking at its own goods is told it holds them.
    own = scan_ok(api, c.a, action="observe", code=c.cases[0], site_id=c.a_site)
    assert own["holder"] == c.a_org and own["authorised"] is True

    # The brand sees everything: who is responsible, who saw it, the whole journey.
    full = api.get(f"/alerts/{alert_id}", headers=auth(c.brand)).json()
    assert full["responsible_id"] == c.a_org and full["scanner_id"] == c.s2_org
    assert full["detail"]["scanned_by"]["organisation_id"] == c.s2_org
    assert [h["to"]["organisation_id"] for h in full["detail"]["chain_of_custody"]] == [c.a_org]
    assert full["count"] == 2

    # The reporter sees its own sighting and the outcome: no holder, territory or journey.
    for view in (
        api.get(f"/alerts/{alert_id}", headers=auth(c.s2)).json(),
        next(a for a in api.get("/alerts", headers=auth(c.s2)).json() if a["id"] == alert_id),
    ):
        assert view["status"] == "open" and view["scanner_id"] == c.s2_org
        assert view["responsible_id"] is None and view["note"] is None
        assert set(view["detail"]) <= {
            "code", "kind", "items", "actual_region", "scanned_by", "time",
        }  # fmt: skip
        assert view["detail"]["actual_region"]["code"] == NANJING
        assert "Distributor A" not in json.dumps(view, ensure_ascii=False)

    # The responsible distributor sees its goods, its territory and its own shipments; not
    # who reported it (S2 is no party of any shipment of these goods).
    mine = api.get(f"/alerts/{alert_id}", headers=auth(c.a)).json()
    assert mine["responsible_id"] == c.a_org and mine["scanner_id"] is None
    assert "scanned_by" not in mine["detail"]
    assert [h["to"]["organisation_id"] for h in mine["detail"]["chain_of_custody"]] == [c.a_org]

    # Another reporter whose sighting joined, and everyone else, see nothing of it.
    for key in (b_key, c.s1):
        assert api.get(f"/alerts/{alert_id}", headers=auth(key)).status_code == 404
        assert all(a["id"] != alert_id for a in api.get("/alerts", headers=auth(key)).json())

    # Shipments and stock of A stay A's.
    for key in (c.s2, b_key):
        assert api.get(f"/shipments/{to_s1}", headers=auth(key)).status_code == 404
        for direction in ("in", "out"):
            listed = api.get("/shipments", params={"direction": direction}, headers=auth(key))
            assert listed.status_code == 200 and listed.json() == []
        stock = api.get("/stock", params={"organisation_id": c.a_org}, headers=auth(key))
        assert stock.status_code == 404

    # EPCIS: S2 and B read their own inspections, nothing of A's or S1's.
    for key, org, site in ((c.s2, c.s2_org, c.s2_site), (b_key, b_org, b_site)):
        response = api.get("/epcis/events", headers=auth(key))
        assert response.status_code == 200, response.text
        events = response.json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
        assert [e["bizStep"] for e in events] == ["inspecting"]
        assert events[0]["readPoint"]["id"] == f"urn:tracecert:site:{site}"
        text = json.dumps(events)
        for foreign in (
            f"urn:tracecert:party:{c.a_org}",
            f"urn:tracecert:site:{c.a_site}",
            f"urn:tracecert:party:{c.s1_org}",
            c.cases[1],
            "F-PRIV",
            to_s1,
        ):
            assert foreign not in text, (org, foreign)
