"""Acceptance of issue 12's tenant isolation: two brands, each with a full channel (factory,
distributor, store, auditor and brand keys, a product, a batch, a shipment, an alert), on SQLite
and PostgreSQL. Every GET route of the app is called with each of brand B's keys, and no answer
names anything of brand A: its batch, GTIN, serials, SSCCs, shipment or organisations.

A route left out carries its reason in ``EXCLUDED``; a new GET route is walked automatically.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from fastapi.routing import APIRoute, iter_route_contexts
from sqlalchemy import text

from tests.integration.service.conftest import auth

ZHEJIANG, HANGZHOU, JIANGSU, NANJING = "330000", "330106", "320000", "320102"

#: GET routes not walked, each with its reason.
EXCLUDED: dict[str, str] = {
    "/items/{serial}/verify": "public by design: a bottle's code answers anyone who holds it",
    "/01/{gtin}/10/{lot}/21/{serial}": "public by design: the GS1 Digital Link of a bottle",
    "/01/{gtin}/21/{serial}": "public by design: the GS1 Digital Link of a bottle",
    "/01/{rest}": "public by design: the GS1 Digital Link resolver",
}
#: Query parameters a route needs to answer at all.
QUERIES: dict[str, str] = {
    "/partners": "?kind=store",
    "/batches/{batch_id}/labels.pdf": "?kind=item",
    "/log/proofs/inclusion": "?index=0&size=1",
    "/log/proofs/consistency": "?old_size=1&size=2",
}


@dataclass
class Tenant:
    """One brand's channel, its keys, and the strings that must not leak to another brand."""

    keys: dict[str, str]
    orgs: dict[str, int]
    batch: str = ""
    gtin: str = ""
    lot: str = ""
    serials: list[str] = field(default_factory=list)
    ssccs: list[str] = field(default_factory=list)
    shipment: str = ""
    alert: int = 0
    names: list[str] = field(default_factory=list)

    def markers(self) -> list[str]:
        return [self.batch, self.gtin, self.shipment, *self.serials, *self.ssccs, *self.names]


def _ok(response, status: int = 200):
    assert response.status_code == status, response.text
    return response.json()


def _tenant(api, container, admin: str, brand: int, factory: int, tag: str, gtin: str) -> Tenant:
    """Brand ``brand`` with its factory ``factory``: a distributor in Zhejiang, a store under
    it in Jiangsu, keys for every role, the product ``gtin``, an activated batch, a pallet
    shipped to the distributor, and a diversion alert (the store sees the distributor's case
    in Nanjing)."""
    h = auth(admin)

    def org(name: str, kind: str, parent: int | None = None) -> int:
        body = {"name": name, "kind": kind, "brand_id": brand}
        made = _ok(api.post("/organisations", json=body, headers=h), 201)["id"]
        if parent is not None:
            body = {"channel_parent_id": parent}
            _ok(api.put(f"/organisations/{made}/channel-parent", json=body, headers=h))
        return int(made)

    def key(org_id: int, role: str) -> str:
        url = f"/organisations/{org_id}/api-keys"
        return str(_ok(api.post(url, json={"role": role}, headers=h), 201)["api_key"])

    def site(org_id: int, kind: str, region: str) -> int:
        body = {"name": f"{tag} {kind} {region}", "kind": kind, "region": region}
        return int(_ok(api.post(f"/organisations/{org_id}/sites", json=body, headers=h), 201)["id"])

    d = org(f"{tag} Distributor", "distributor")
    s = org(f"{tag} Store", "store", parent=d)
    for o, region in ((d, ZHEJIANG), (s, JIANGSU)):
        _ok(api.put(f"/organisations/{o}/territories", json={"regions": [region]}, headers=h))
    t = Tenant(
        keys={
            "brand": key(brand, "brand"),
            "auditor": key(brand, "auditor"),
            "factory": key(factory, "factory"),
            "distributor": key(d, "distributor"),
            "store": key(s, "store"),
        },
        orgs={"brand": brand, "factory": factory, "distributor": d, "store": s},
        gtin=gtin,
        lot=f"LOT-{tag.upper()}",
        names=[f"{tag} Distributor", f"{tag} Store"],
    )
    f_site, d_site = site(factory, "plant", "520382"), site(d, "warehouse", HANGZHOU)
    s_site = site(s, "shop", NANJING)
    product = {"gtin": gtin, "name": f"{tag} Baijiu"}
    existing = api.get(f"/products/{gtin}", headers=auth(t.keys["brand"]))
    if existing.status_code == 404:
        _ok(api.post("/products", json=product, headers=auth(t.keys["brand"])), 201)
    fk = auth(t.keys["factory"])
    body = {
        "gtin": gtin, "lot": t.lot, "production_date": "2026-11-20", "line": "L1",
        "planned_quantity": 24, "case_size": 6, "cases_per_pallet": 2,
    }  # fmt: skip
    t.batch = _ok(api.post("/batches", json=body, headers=fk), 201)["id"]
    _ok(api.post(f"/batches/{t.batch}/codes", headers=fk))
    _ok(api.post(f"/batches/{t.batch}/activate", headers=fk))
    with container.uow_factory.sessions() as db:
        p = {"p": t.batch}
        t.serials = list(db.scalars(text(
            "SELECT i.serial FROM items i JOIN batches b ON b.id = i.batch_id "
            "WHERE b.public_id = :p"), p))  # fmt: skip
        units = db.execute(text(
            "SELECT u.sscc, u.kind FROM logistic_units u JOIN batches b ON b.id = u.batch_id "
            "WHERE b.public_id = :p ORDER BY u.kind DESC, u.position"), p).all()  # fmt: skip
    t.ssccs = [u for u, _ in units]
    pallet = next(u for u, k in units if k == "pallet")
    case = next(u for u, k in units if k == "case")
    shipped = _ok(api.post("/scans", headers=fk, json={
        "action": "dispatch", "code": pallet, "site_id": f_site, "receiver_id": d,
        "shipment": f"{tag}-SHIP"}))  # fmt: skip
    t.shipment = str(shipped["shipment"])
    dk = auth(t.keys["distributor"])
    _ok(
        api.post(
            "/scans", headers=dk, json={"action": "receive", "code": pallet, "site_id": d_site}
        )
    )
    seen = _ok(api.post("/scans", headers=auth(t.keys["store"]), json={
        "action": "observe", "code": case, "site_id": s_site}))  # fmt: skip
    assert seen["alert"] is not None, seen
    t.alert = int(seen["alert"]["id"])
    return t


def _path_values(a: Tenant) -> dict[str, str]:
    """Path parameters, filled with brand A's objects."""
    return {
        "organisation_id": str(a.orgs["distributor"]),
        "brand_id": str(a.orgs["brand"]),
        "member_id": "mem_unknown",
        "shipment_id": a.shipment,
        "alert_id": str(a.alert),
        "gtin": a.gtin,
        "batch_id": a.batch,
        "serial": a.serials[0],
        "sscc": a.ssccs[0],
        "code": a.serials[0],
        "fmt": "png",
        "lot": a.lot,
        "certificate_id": "crt_unknown",
        "code_": a.serials[0],
        "file": "x",
        "name": "x",
        "rest": "x",
    }


def _url(path: str, values: dict[str, str]) -> str:
    def fill(match: re.Match[str]) -> str:
        return values[match.group(1).split(":")[0]]

    return re.sub(r"\{([^}]+)\}", fill, path) + QUERIES.get(path, "")


def _get_paths(app) -> list[str]:
    """Every GET path of the app's route table (included routers give each its full path)."""
    paths = set()
    for context in iter_route_contexts(list(app.routes)):
        route = context.original_route
        if isinstance(route, APIRoute) and "GET" in (route.methods or ()):
            paths.add(context.path_format or route.path_format)
    return sorted(paths)


def test_no_read_endpoint_shows_one_brand_anything_of_another(api, container, keys):
    a = _tenant(api, container, keys.admin, keys.brand_org, keys.factory_org, "Alpha",
                "09506000134352")  # fmt: skip
    a.names += ["Brand One", "Factory One"]
    b_factory = next(
        o["id"]
        for o in api.get("/organisations", headers=auth(keys.admin)).json()
        if o["name"] == "Factory Three"
    )
    b = _tenant(api, container, keys.admin, keys.foreign_brand_org, b_factory, "Beta",
                "00614141000012")  # fmt: skip
    values = _path_values(a)
    gets = _get_paths(api.app)
    walked = [p for p in gets if p not in EXCLUDED]
    assert set(EXCLUDED) <= set(gets), "an exclusion names a route that no longer exists"
    assert len(walked) >= 30
    leaks: list[str] = []
    answered: dict[int, int] = {}
    for path in walked:
        url = _url(path, values)
        asked = {v for v in values.values() if v in url}
        for role, key in b.keys.items():
            response = api.get(url, headers=auth(key))
            assert response.status_code < 500, (path, role, response.text)
            answered[response.status_code] = answered.get(response.status_code, 0) + 1
            body = response.content.decode("latin-1")
            # An error may repeat the id it was asked about; nothing else of A may appear.
            markers = a.markers() if response.is_success else [
                m for m in a.markers() if m not in asked
            ]  # fmt: skip
            found = [m for m in markers if m and m in body]
            if found:
                leaks.append(f"{role} GET {url} -> {response.status_code}: {found[:3]}")
    assert leaks == [], "\n".join(leaks)
    # The walk reads real answers, not only refusals.
    assert answered.get(200, 0) >= 40, answered
    # The same walk shows brand A its own goods: the markers are live, not typos.
    assert a.batch in api.get("/batches", headers=auth(a.keys["brand"])).text
    assert a.shipment in api.get("/shipments", headers=auth(a.keys["distributor"])).text
    alerts = api.get("/alerts", headers=auth(a.keys["auditor"])).json()
    assert a.alert in [x["id"] for x in alerts]
