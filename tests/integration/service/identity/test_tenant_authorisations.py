"""Issue 12 items 3 and 4 through the API: a brand's GTINs fall within its own company
prefixes, and an attestor reports only on batches of brands that authorised it."""

from __future__ import annotations

from pathlib import Path

from tests.integration.service.conftest import (
    BRAND_ONE_PREFIXES,
    GTIN,
    auth,
    make_batch,
    serials_of,
)
from tests.integration.service.consumer import test_certificate_lifecycle as lifecycle
from tests.integration.service.factory.test_factory_api import anchored_batch

#: A claimed certificate of Alice's, and a brand's authorised pledgee, custodian and store.
world, partners = lifecycle.world, lifecycle.partners

REPORT = {"report_hash": "0x" + "ab" * 32, "uri": "https://lab.example/r/1.pdf"}


def _brand_two_key(api, keys) -> str:
    body = {"role": "brand"}
    url = f"/organisations/{keys.foreign_brand_org}/api-keys"
    return api.post(url, json=body, headers=auth(keys.admin)).json()["api_key"]


# ----------------------------------------------------------------------------- item 4
def test_a_brand_cannot_register_another_brands_gtin_and_learns_nothing_of_it(api, keys, counts):
    brand_two = _brand_two_key(api, keys)
    before = counts()
    for gtin in (GTIN, "04006381333948"):  # registered by Brand One / free, in its prefix
        r = api.post("/products", json={"gtin": gtin, "name": "Fake"}, headers=auth(brand_two))
        assert r.status_code == 403, r.text
        assert r.json()["error"] == "gtin_outside_company_prefixes"
        assert "exist" not in r.json()["detail"]
    assert counts() == before
    own = api.post(
        "/products", json={"gtin": "00614141000012", "name": "Own"}, headers=auth(brand_two)
    )
    assert own.status_code == 201, own.text


def test_the_admin_sets_a_brands_prefixes_and_a_taken_prefix_is_refused(api, keys, counts):
    url = f"/organisations/{keys.brand_org}/company-prefixes"
    got = api.get(url, headers=auth(keys.admin))
    assert got.status_code == 200 and got.json()["prefixes"] == sorted(BRAND_ONE_PREFIXES)
    assert api.get(url, headers=auth(keys.brand)).status_code == 403
    before = counts()
    other = f"/organisations/{keys.foreign_brand_org}/company-prefixes"
    for taken in ("9506000", "95060001", "950600"):
        r = api.put(other, json={"prefixes": [taken]}, headers=auth(keys.admin))
        assert r.status_code == 409 and r.json()["error"] == "company_prefix_taken", r.text
    assert counts() == before
    r = api.put(other, json={"prefixes": ["0614141", "7012345"]}, headers=auth(keys.admin))
    assert r.status_code == 200 and r.json()["prefixes"] == ["0614141", "7012345"]


# ----------------------------------------------------------------------------- item 3
def test_an_attestor_the_brand_did_not_authorise_sees_no_batch_of_it(api, container, keys):
    batch = anchored_batch(api, container, keys, "LOT-ATT")
    url = f"/batches/{batch['id']}/attestations"
    (lab,) = api.get("/brand/partners", headers=auth(keys.brand)).json()
    assert lab["roles"] == ["attestor"]
    gone = api.delete(f"/brand/partners/{lab['organisation_id']}", headers=auth(keys.brand))
    assert gone.status_code == 204
    assert api.get("/brand/partners", headers=auth(keys.brand)).json() == []
    refused = api.post(url, json=REPORT, headers=auth(keys.attestor))
    assert refused.status_code == 404 and refused.json()["error"] == "batch_not_found"
    read = api.get(f"/batches/{batch['id']}", headers=auth(keys.attestor))
    assert read.status_code == 404
    back = api.put(
        "/brand/partners",
        json={"organisation_id": lab["organisation_id"], "roles": ["attestor"]},
        headers=auth(keys.brand),
    )
    assert back.status_code == 200, back.text
    assert api.post(url, json=REPORT, headers=auth(keys.attestor)).status_code == 202


def test_a_brand_authorises_partners_only_in_their_kinds_roles(api, keys):
    (lab,) = api.get("/brand/partners", headers=auth(keys.brand)).json()
    body = {"organisation_id": lab["organisation_id"], "roles": ["store"]}
    r = api.put("/brand/partners", json=body, headers=auth(keys.brand))
    assert r.status_code == 422 and r.json()["error"] == "invalid_request"
    assert api.put("/brand/partners", json=body, headers=auth(keys.factory)).status_code == 403
    # The admin acts for a brand it names.
    admin = auth(keys.admin)
    assert api.get("/brand/partners", headers=admin).status_code == 422
    named = api.get(f"/brand/partners?brand_id={keys.brand_org}", headers=admin).json()
    assert named == [lab]
    assert api.get(f"/brand/partners?brand_id={keys.foreign_brand_org}", headers=admin).json() == []
    make_batch(api, keys.factory)  # the brand's channel still works


# ----------------------------------------------------------------------------- item 5
def _brand_two_distributor(api, keys) -> tuple[int, str, int]:
    org = api.post(
        "/organisations",
        json={
            "name": "Distributor of Brand Two",
            "kind": "distributor",
            "brand_id": keys.foreign_brand_org,
        },
        headers=auth(keys.admin),
    ).json()["id"]
    key = api.post(
        f"/organisations/{org}/api-keys", json={"role": "distributor"}, headers=auth(keys.admin)
    ).json()["api_key"]
    site = api.post(
        f"/organisations/{org}/sites",
        json={"name": "Nanjing DC", "kind": "warehouse", "region": "320102"},
        headers=auth(key),
    )
    assert site.status_code == 201, site.text
    return org, key, int(site.json()["id"])


def test_a_partner_of_another_brand_cannot_sight_the_brands_goods(api, channel, keys, counts):
    c = channel
    _, b2, b2_site = _brand_two_distributor(api, keys)
    before = counts()
    for code in (c.cases[0], c.pallet):
        for body in (
            {"action": "observe", "code": code},
            {"action": "observe", "code": code, "site_id": b2_site},
            {"action": "receive", "code": code, "site_id": b2_site},
        ):
            r = api.post("/scans", json=body, headers=auth(b2))
            assert r.status_code == 404, r.text
            assert r.json()["error"] == "code_not_found"
            assert "region" not in r.json() and "holder" not in r.text
    assert counts() == before
    # The brand's own partner still sights them.
    seen = api.post("/scans", json={"action": "observe", "code": c.cases[0]}, headers=auth(c.s2))
    assert seen.status_code == 200, seen.text


# ----------------------------------------------------------------------------- item 6
def _stranger(api, keys, name: str, kind: str, brand: int | None = None) -> int:
    body = {"name": name, "kind": kind, **({"brand_id": brand} if brand else {})}
    return int(api.post("/organisations", json=body, headers=auth(keys.admin)).json()["id"])


def test_a_bottle_goes_only_to_partners_its_brand_authorised(world, api, keys, partners, counts):
    cid = world.certificate["id"]
    other_store = _stranger(api, keys, "Brand Two Store", "store", keys.foreign_brand_org)
    lender = _stranger(api, keys, "Unasked Lender", "pledgee")
    vault = _stranger(api, keys, "Unasked Vault", "custodian")
    before = counts()
    for path, body in (
        ("redemption", {"method": "pickup", "store_id": other_store}),
        (
            "pledge",
            {"pledgee_id": lender, "amount": "100", "currency": "CNY", "due_date": "2099-01-01"},
        ),
        ("deposit", {"custodian_id": vault}),
    ):
        r = api.post(f"/me/certificates/{cid}/{path}", json=body, headers=world.alice)
        assert r.status_code == 422, r.text
        assert r.json()["error"] == "partner_not_authorised"
    assert counts() == before


def test_partners_are_listed_for_the_brands_of_the_consumers_bottles(world, api, keys, partners):
    _stranger(api, keys, "Brand Two Store", "store", keys.foreign_brand_org)
    _stranger(api, keys, "Unasked Lender", "pledgee")
    assert api.get("/partners?kind=store").status_code == 401
    stores = api.get("/partners?kind=store", headers=world.alice).json()
    assert [s["id"] for s in stores] == [partners.store]
    pledgees = api.get("/partners?kind=pledgee", headers=world.alice).json()
    assert [p["id"] for p in pledgees] == [partners.pledgee]
    only = f"/partners?kind=pledgee&brand_id={keys.foreign_brand_org}"
    assert api.get(only, headers=world.alice).json() == []
    # Bob holds no bottle: he is shown nobody.
    assert api.get("/partners?kind=store", headers=world.bob).json() == []


# ----------------------------------------------------------------------------- small ones
def test_only_the_admin_registers_organisations_and_only_the_factory_fetches_qr_images(
    api, container, keys
):
    batch = make_batch(api, keys.factory, "LOT-QR", 6)
    code = serials_of(container, batch["id"])[0]
    assert api.get(f"/codes/{code}/qr.png", headers=auth(keys.factory)).status_code == 200
    assert api.get(f"/codes/{code}/qr.png", headers=auth(keys.brand)).status_code == 403
    body = {"name": "A store", "kind": "store", "brand_id": keys.brand_org}
    assert api.post("/organisations", json=body, headers=auth(keys.brand)).status_code == 403
    # ... and the docs say so.
    docs = (Path(__file__).parents[4] / "docs" / "factory.md").read_text()
    assert "| `GET /codes/{serial or SSCC}/qr.png` or `.svg` | factory |" in docs
    distributor = (Path(__file__).parents[4] / "docs" / "distributor.md").read_text()
    assert "register the distributor or store (of the brand), **admin**" in distributor
