"""The distribution scenario end to end on ``tracecert run`` with a managed anvil, over HTTP.

The factory ships a pallet to distributor A (Zhejiang); A ships cases to store S1 (Hangzhou) and
one case to store S2 (Jiangsu). S2's receipt raises a diversion naming A; a later scan in Jiangsu
of a bottle from that case joins the same alert; S1's receipt raises nothing. The whole scenario
reads back as EPCIS 2.0 that validates against GS1's schema, and the batch is anchored on chain.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.channel.storage import epcis_schema
from tests.e2e.service.conftest import (
    GTIN,
    PROJECT_ROOT,
    anchorable_batch,
    set_up_factory,
    tracecert,
    wait_for,
)

pytestmark = [pytest.mark.anvil, pytest.mark.slow]
SHARED = PROJECT_ROOT / ".." / "shared" / "standards" / "epcis2"


@pytest.fixture
def service(run_env, tmp_path):
    with (tmp_path / "service.log").open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "service.cli", "run"],
            env=run_env,
            cwd=PROJECT_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{run_env['TRACECERT_PORT']}"
        try:
            wait_for(lambda: httpx.get(f"{base}/health").status_code == 200, what="healthy API")
            yield base
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)


class Http:
    def __init__(self, base: str) -> None:
        self.base = base

    def __call__(self, method: str, path: str, key: str, status: int = 200, **kw: Any) -> Any:
        r = httpx.request(
            method, self.base + path, headers={"Authorization": f"Bearer {key}"}, timeout=60, **kw
        )
        assert r.status_code == status, f"{method} {path}: {r.status_code} {r.text}"
        return r.json()


def test_distribution_scenario_on_anvil(service, run_env):
    http = Http(service)
    admin = tracecert(run_env, "admin", "create", "--name", "Platform").stdout.split()[-1]
    factory = set_up_factory(service, {"Authorization": f"Bearer {admin}"})
    factory_key = factory["Authorization"][7:]
    brand_id = next(o["id"] for o in http("GET", "/organisations", admin) if o["kind"] == "brand")
    factory_id = next(
        o["id"] for o in http("GET", "/organisations", admin) if o["kind"] == "factory"
    )
    brand = http("POST", f"/organisations/{brand_id}/api-keys", admin, 201, json={"role": "brand"})[
        "api_key"
    ]

    def party(name: str, kind: str, region: str, parent: int | None = None) -> tuple[int, str]:
        org = http(
            "POST",
            "/organisations",
            admin,
            201,
            json={"name": name, "kind": kind, "brand_id": brand_id},
        )
        if parent:
            http(
                "PUT",
                f"/organisations/{org['id']}/channel-parent",
                brand,
                json={"channel_parent_id": parent},
            )
        http("PUT", f"/organisations/{org['id']}/territories", brand, json={"regions": [region]})
        key = http("POST", f"/organisations/{org['id']}/api-keys", admin, 201, json={"role": kind})[
            "api_key"
        ]
        return org["id"], key

    a, a_key = party("Distributor A", "distributor", "330000")
    s1, s1_key = party("Store S1", "store", "330106", parent=a)
    s2, s2_key = party("Store S2", "store", "320000", parent=a)

    def site(org: int, key: str, name: str, kind: str, region: str) -> int:
        return int(
            http(
                "POST",
                f"/organisations/{org}/sites",
                key,
                201,
                json={"name": name, "kind": kind, "region": region},
            )["id"]
        )

    f_site = site(factory_id, admin, "Plant", "plant", "520382")
    a_site = site(a, a_key, "Hangzhou DC", "warehouse", "330106")
    s1_site = site(s1, s1_key, "West Lake", "shop", "330106")
    s2_site = site(s2, s2_key, "Nanjing", "shop", "320102")

    batch = anchorable_batch(service, factory, "L-DIST", 24)  # 4 cases of 6 on one pallet
    assert http("POST", f"/batches/{batch['id']}/anchor", factory_key, 202)["status"] == "anchoring"
    db = Path(run_env["TRACECERT_DATA_DIR"]) / "tracecert.db"
    with sqlite3.connect(db) as conn:
        pallet = conn.execute(
            "SELECT sscc FROM logistic_units WHERE kind = 'pallet' ORDER BY id LIMIT 1"
        ).fetchone()[0]
        cases = [
            r[0]
            for r in conn.execute(
                "SELECT sscc FROM logistic_units WHERE kind = 'case' ORDER BY position"
            )
        ]
        bottle = conn.execute(
            "SELECT i.serial FROM items i JOIN logistic_units u ON u.id = i.case_id "
            "WHERE u.sscc = ? LIMIT 1",
            (cases[3],),
        ).fetchone()[0]

    def scan(key: str, **body: Any) -> dict[str, Any]:
        return http("POST", "/scans", key, json=body)

    scan(
        factory_key,
        action="dispatch",
        code=f"https://id.tracecert.example/00/{pallet}",
        site_id=f_site,
        receiver_id=a,
        shipment="F-E2E",
    )
    received = scan(a_key, action="receive", code=pallet, site_id=a_site)
    assert received["authorised"] is True and received["alert"] is None
    for case in cases[:3]:
        scan(a_key, action="dispatch", code=case, site_id=a_site, receiver_id=s1, shipment="A-S1")
    scan(a_key, action="dispatch", code=cases[3], site_id=a_site, receiver_id=s2, shipment="A-S2")

    for case in cases[:3]:
        assert scan(s1_key, action="receive", code=case, site_id=s1_site)["alert"] is None
    diverted = scan(s2_key, action="receive", code=cases[3], site_id=s2_site)
    alert = diverted["alert"]
    assert alert["kind"] == "diversion" and alert["responsible"]["organisation_id"] == a
    later = scan(s2_key, action="observe", code=bottle, site_id=s2_site)
    assert later["alert"]["id"] == alert["id"] and later["alert"]["new"] is False
    detail = http("GET", f"/alerts/{alert['id']}", brand)
    assert detail["count"] == 2 and detail["detail"]["actual_region"]["code"] == "320102"
    hops = [
        (h["from"]["organisation_id"], h["to"]["organisation_id"])
        for h in detail["detail"]["chain_of_custody"]
    ]
    assert hops == [(factory_id, a), (a, s2)]
    assert [x["id"] for x in http("GET", "/alerts", s1_key)] == []

    # Offline: S1 observes its cases offline; the same file twice and in two halves agree.
    t0 = datetime.now(UTC) - timedelta(minutes=30)
    offline = [
        {
            "client_event_id": f"off-{n}",
            "action": "observe",
            "code": case,
            "site_id": s1_site,
            "time": (t0 + timedelta(minutes=n)).isoformat(),
        }
        for n, case in enumerate(cases[:3])
    ]
    halves = [
        http("POST", "/scans/upload", s1_key, json={"device_id": "hh", "scans": part})
        for part in (offline[2:], offline[:2])
    ]
    assert [h["counts"] for h in halves] == [{"applied": 1}, {"applied": 2}]
    again = http("POST", "/scans/upload", s1_key, json={"device_id": "hh", "scans": offline})
    assert again["counts"] == {"duplicate": 3}

    # The scenario as EPCIS 2.0, valid against GS1's schema.
    document = http("GET", "/epcis/events", brand, params={"perPage": 1000})
    epcis_schema.validate(document)
    if SHARED.is_dir():
        import jsonschema

        schema = json.loads((SHARED / "EPCIS-JSON-Schema.json").read_text())
        assert not list(jsonschema.Draft7Validator(schema).iter_errors(document))
    steps = [
        e.get("bizStep") for e in document["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    ]
    assert steps.count("shipping") == 5 and steps.count("receiving") == 5
    assert steps.count("packing") == 5 and steps.count("inspecting") == 4
    assert steps.count("commissioning") == 4

    # The export posted back as it is: every event is known, nothing is stored twice.
    posted = http("POST", "/epcis/capture", brand, 202, json=document)
    assert posted["new"] == 0 and posted["duplicates"] == len(steps)
    again = http("GET", "/epcis/events", brand, params={"perPage": 1000})
    ids = [e["eventID"] for e in again["epcisBody"]["queryResults"]["resultsBody"]["eventList"]]
    assert len(ids) == len(set(ids)) == len(steps)

    # Partner privacy: a sighting is judged at the scanner's own site, never at a named region,
    # and the reporter reads its own sighting of the alert, not A's territory or shipments.
    r = httpx.post(
        f"{service}/scans",
        json={"action": "observe", "code": cases[0], "region": "320102"},
        headers={"Authorization": f"Bearer {s2_key}"},
    )
    assert r.status_code == 422 and r.json()["error"] == "invalid_scan"
    reported = http("GET", f"/alerts/{alert['id']}", s2_key)
    assert reported["responsible_id"] is None and "chain_of_custody" not in reported["detail"]
    assert reported["detail"]["actual_region"]["code"] == "320102"

    # The batch's root is on chain meanwhile.
    wait_for(
        lambda: http("GET", f"/batches/{batch['id']}", factory_key)["status"] == "anchored",
        what="batch anchored",
    )
    assert GTIN in json.dumps(document)
