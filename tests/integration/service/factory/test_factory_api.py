"""The factory API on a real database and chain (py-evm): print files, recall, attestation,
alerts and refused requests that write nothing."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import text

from service.factory.domain import codes
from tests.integration.service.conftest import (
    GTIN,
    auth,
    batch_body,
    make_batch,
    run_sender_until,
    serials_of,
)


@pytest.fixture
def unchanged(counts):
    before = counts()
    yield
    assert counts() == before


def stored_pin_hashes(container, batch_id: str) -> dict[str, bytes]:
    with container.uow_factory.sessions() as s:
        rows = s.execute(
            text(
                "SELECT i.serial, i.pin_hash FROM items i JOIN batches b ON b.id = i.batch_id "
                "WHERE b.public_id = :p"
            ),
            {"p": batch_id},
        )
        return {serial: bytes(pin) for serial, pin in rows}


def anchored_batch(api, container, keys, lot: str = "LOT-A", quantity: int = 12) -> dict:
    batch = make_batch(api, keys.factory, lot, quantity)
    assert api.post(f"/batches/{batch['id']}/anchor", headers=auth(keys.factory)).status_code == 202
    run_sender_until(
        container,
        lambda: (
            api.get(f"/batches/{batch['id']}", headers=auth(keys.factory)).json()["status"]
            == "anchored"
        ),
    )
    return batch


# ----------------------------------------------------------------------------- code file
def test_code_file_downloads_once_then_needs_an_admin_approval_each_time(
    api, container, keys, counts
):
    batch = make_batch(api, keys.factory, activate=False)
    url = f"/batches/{batch['id']}/code-file"

    first = api.get(url, headers=auth(keys.factory))
    assert first.status_code == 200 and first.headers["cache-control"] == "no-store"
    rows = list(csv.DictReader(io.StringIO(first.text)))
    assert len(rows) == 12
    hashes = stored_pin_hashes(container, batch["id"])
    key = container.secrets.pin_key
    assert all(codes.pin_matches(key, r["serial"], r["pin"], hashes[r["serial"]]) for r in rows)
    assert not codes.pin_matches(key, rows[0]["serial"], rows[1]["pin"], hashes[rows[0]["serial"]])

    before = counts()
    second = api.get(url, headers=auth(keys.factory))
    assert second.status_code == 403 and second.json()["error"] == "code_file_approval_required"
    assert counts() == before

    denied = api.post(
        f"{url}/approvals", json={"reason": "printer jam"}, headers=auth(keys.factory)
    )
    assert denied.status_code == 403 and denied.json()["error"] == "permission_denied"
    approval = api.post(
        f"{url}/approvals", json={"reason": "printer jam"}, headers=auth(keys.admin)
    )
    assert approval.status_code == 201
    third = api.get(url, headers=auth(keys.factory))
    assert third.status_code == 200
    assert [r["pin"] for r in csv.DictReader(io.StringIO(third.text))] == [r["pin"] for r in rows]
    assert api.get(url, headers=auth(keys.factory)).status_code == 403

    events = api.get("/log/events", params={"limit": 500}, headers=auth(keys.admin)).json()
    downloads = [e for e in events if e["type"] == "CodeFileDownloaded"]
    assert len(downloads) == 2 and '"download_number":2' in downloads[1]["payload"]
    assert [e["type"] for e in events].count("CodeFileReprintApproved") == 1


def test_code_file_is_for_the_factory_only_and_sealed_once_activated(api, keys, counts):
    batch = make_batch(api, keys.factory, activate=False)
    url = f"/batches/{batch['id']}/code-file"
    before = counts()
    for key in (keys.brand, keys.auditor, keys.distributor, keys.attestor):
        assert api.get(url, headers=auth(key)).status_code == 403
    assert api.get(url, headers=auth(keys.other_factory)).status_code == 404
    assert counts() == before
    api.post(f"/batches/{batch['id']}/activate", headers=auth(keys.factory))
    before = counts()
    sealed = api.get(url, headers=auth(keys.factory))
    assert sealed.status_code == 409 and sealed.json()["error"] == "code_file_sealed"
    approval = api.post(f"{url}/approvals", json={"reason": "x"}, headers=auth(keys.admin))
    assert approval.status_code == 409
    assert counts() == before


def test_code_file_of_a_draft_is_refused(api, keys, counts):
    batch = api.post("/batches", json=batch_body(), headers=auth(keys.factory))
    assert batch.status_code == 201
    before = counts()
    response = api.get(f"/batches/{batch.json()['id']}/code-file", headers=auth(keys.factory))
    assert response.status_code == 422
    assert counts() == before


# ----------------------------------------------------------------------------- recall
def test_recall_while_the_anchor_is_in_flight_reaches_the_chain_after_it(api, container, keys):
    batch = make_batch(api, keys.factory)
    api.post(f"/batches/{batch['id']}/anchor", headers=auth(keys.factory))
    recalled = api.post(
        f"/batches/{batch['id']}/recall", json={"reason": "seal defect"}, headers=auth(keys.brand)
    )
    assert recalled.status_code == 200
    assert recalled.json()["status"] == "recalled"
    assert recalled.json()["recall"]["chain"]["status"] == "queued"
    with container.uow_factory.sessions() as s:
        anchor, recall = s.execute(
            text("SELECT outbox_id, recall_outbox_id FROM batches WHERE public_id = :p"),
            {"p": batch["id"]},
        ).one()
        depends = s.execute(
            text("SELECT depends_on FROM outbox WHERE id = :r"), {"r": recall}
        ).scalar_one()
    assert depends == anchor

    def recall_confirmed() -> bool:
        body = api.get(f"/batches/{batch['id']}", headers=auth(keys.brand)).json()
        return body["recall"]["chain"]["status"] == "confirmed"

    run_sender_until(container, recall_confirmed)
    body = api.get(f"/batches/{batch['id']}", headers=auth(keys.brand)).json()
    assert body["status"] == "recalled" and body["anchor"]["status"] == "confirmed"
    assert body["anchor"]["block_number"] <= body["recall"]["chain"]["block_number"]
    record = container.runtime.registry.batch(bytes.fromhex(batch["chain_batch_id"][2:]))
    assert record is not None and record.recalled
    types = [
        e["type"]
        for e in api.get("/log/events", params={"limit": 500}, headers=auth(keys.admin)).json()
    ]
    assert types.index("BatchAnchored") < types.index("BatchRecallConfirmed")

    serial = serials_of(container, batch["id"])[3]
    scan = api.get(f"/01/{GTIN}/10/LOT-1/21/{serial}").json()
    assert scan["verdict"] == "recalled" and scan["recall"]["reason"] == "seal defect"


def test_recall_of_a_batch_that_never_reached_the_chain_stays_off_chain(api, container, keys):
    batch = make_batch(api, keys.factory, activate=False)
    recalled = api.post(
        f"/batches/{batch['id']}/recall", json={"reason": "wrong label"}, headers=auth(keys.factory)
    ).json()
    assert recalled["status"] == "recalled" and recalled["recall"]["chain"] is None
    with container.uow_factory.sessions() as s:
        assert s.execute(text("SELECT count(*) FROM outbox")).scalar_one() == 0
    for action in ("codes", "activate", "anchor"):
        response = api.post(f"/batches/{batch['id']}/{action}", headers=auth(keys.factory))
        assert response.status_code == 409 and response.json()["error"] == "batch_recalled"
    again = api.post(
        f"/batches/{batch['id']}/recall", json={"reason": "again"}, headers=auth(keys.factory)
    )
    assert again.status_code == 409 and again.json()["error"] == "batch_recalled"


def test_recalled_items_list_every_item_with_its_holder_page_by_page(api, container, keys):
    batch = make_batch(api, keys.factory, quantity=13)
    api.post(f"/batches/{batch['id']}/recall", json={"reason": "x"}, headers=auth(keys.brand))
    pages = [
        api.get(
            f"/batches/{batch['id']}/recalled-items",
            params={"offset": offset, "limit": 5},
            headers=auth(keys.brand),
        ).json()
        for offset in (0, 5, 10)
    ]
    listed = [i["serial"] for page in pages for i in page["items"]]
    assert listed == serials_of(container, batch["id"])
    assert {i["last_holder"]["organisation_id"] for p in pages for i in p["items"]} == {
        keys.factory_org
    }
    assert pages[0]["total"] == 13


@pytest.mark.parametrize(
    "path",
    [
        "/batches/b_000000000000000000000000/recall",
        "/batches/not-a-batch/recall",
    ],
)
def test_recalling_an_unknown_batch_is_not_found_and_writes_nothing(api, keys, unchanged, path):
    response = api.post(path, json={"reason": "x"}, headers=auth(keys.brand))
    assert response.status_code == 404 and response.json()["error"] == "batch_not_found"


@pytest.mark.parametrize("reason", ["", " ", "tab\there", "x" * 1001])
def test_recall_needs_a_printable_reason(api, keys, counts, reason):
    batch = make_batch(api, keys.factory, generate=False)
    before = counts()
    response = api.post(
        f"/batches/{batch['id']}/recall", json={"reason": reason}, headers=auth(keys.factory)
    )
    assert response.status_code == 422
    assert counts() == before


# ----------------------------------------------------------------------------- attestation
def test_attestation_needs_an_anchored_batch_and_goes_on_chain_once(api, container, keys, counts):
    report = {"report_hash": "0x" + "ab" * 32, "uri": "https://lab.example/r/1.pdf"}
    batch = make_batch(api, keys.factory)
    before = counts()
    early = api.post(
        f"/batches/{batch['id']}/attestations", json=report, headers=auth(keys.attestor)
    )
    assert early.status_code == 409 and early.json()["error"] == "batch_state_conflict"
    assert counts() == before

    batch = anchored_batch(api, container, keys, "LOT-B")
    url = f"/batches/{batch['id']}/attestations"
    for key in (keys.factory, keys.brand):
        assert api.post(url, json=report, headers=auth(key)).status_code == 403
    assert api.post(url, json=report, headers=auth(keys.attestor)).status_code == 202
    before = counts()
    twice = api.post(url, json=report, headers=auth(keys.attestor))
    assert twice.status_code == 409 and twice.json()["error"] == "attestation_exists"
    for bad in (
        {**report, "report_hash": "0x1234"},
        {**report, "report_hash": "0x" + "00" * 32},
        {**report, "uri": "ftp://lab.example/r"},
        {**report, "uri": "https://lab.example/r\n1"},
        {**report, "extra": 1},
    ):
        assert api.post(url, json=bad, headers=auth(keys.attestor)).status_code == 422, bad
    assert counts() == before

    def confirmed() -> bool:
        body = api.get(f"/batches/{batch['id']}", headers=auth(keys.brand)).json()
        return body["attestations"][0]["chain"]["status"] == "confirmed"

    run_sender_until(container, confirmed)
    registry = container.runtime.registry
    assert registry.attestation_count(bytes.fromhex(batch["chain_batch_id"][2:])) == 1


# ----------------------------------------------------------------------------- scans and alerts
def test_consumer_scans_of_an_inert_code_raise_one_alert_the_brand_sees(api, container, keys):
    batch = make_batch(api, keys.factory, activate=False)
    serial = serials_of(container, batch["id"])[0]
    for _ in range(3):
        scan = api.get(f"/01/{GTIN}/10/LOT-1/21/{serial}").json()
        assert scan["verdict"] == "not_activated"
    partner = api.get(f"/items/{serial}/verify", headers=auth(keys.distributor)).json()
    assert partner["verdict"] == "not_activated" and partner.get("alert") is None
    alerts = api.get("/alerts", headers=auth(keys.brand)).json()
    assert len(alerts) == 1
    assert alerts[0]["kind"] == "inactive_code_scanned" and alerts[0]["count"] == 3
    assert alerts[0]["serial"] == serial
    assert api.get("/alerts", headers=auth(keys.auditor)).json() == alerts
    assert api.get("/alerts", headers=auth(keys.factory)).status_code == 403
    events = api.get("/log/events", params={"limit": 500}, headers=auth(keys.admin)).json()
    assert [e["type"] for e in events].count("AlertRaised") == 1


def test_digital_link_scans_say_unknown_for_other_products_or_lots(api, container, keys):
    batch = anchored_batch(api, container, keys)
    serial = serials_of(container, batch["id"])[2]
    assert api.get(f"/01/{GTIN}/10/LOT-A/21/{serial}").json()["verdict"] == "genuine"
    assert api.get(f"/01/{GTIN[1:]}/21/{serial}").json()["verdict"] == "genuine"  # GTIN-13
    for path in (
        f"/01/{GTIN}/10/LOT-B/21/{serial}",
        f"/01/04006381333931/10/LOT-A/21/{serial}",
        f"/01/{GTIN}/10/LOT-A/21/0000000000000000000A",
    ):
        body = api.get(path).json()
        assert (body["verdict"], body["genuine"]) == ("unknown", False), path
        # Nothing about the genuine item leaks to whoever holds a copied serial.
        assert body["batch_id"] is None and body["chain"] is None, path


def test_proof_and_units_are_served_to_the_factory_and_brand(api, container, keys):
    batch = anchored_batch(api, container, keys, quantity=20)
    serial = serials_of(container, batch["id"])[19]
    proof = api.get(f"/batches/{batch['id']}/items/{serial}/proof", headers=auth(keys.brand)).json()
    assert proof["leaf_index"] == 19 and proof["root"] == batch["root"]
    with container.uow_factory.sessions() as s:
        sscc = s.execute(
            text(
                "SELECT u.sscc FROM items i JOIN logistic_units u ON u.id = i.case_id "
                "WHERE i.serial = :s"
            ),
            {"s": serial},
        ).scalar_one()
    case = api.get(f"/units/{sscc}", headers=auth(keys.auditor)).json()
    assert case["kind"] == "case" and case["position"] == 3  # items 18-19 in the 4th case of 6
    assert case["children"] == serials_of(container, batch["id"])[18:20]
    pallet = api.get(f"/units/{case['parent_sscc']}", headers=auth(keys.factory)).json()
    assert pallet["kind"] == "pallet" and case["sscc"] in pallet["children"]
    assert len(pallet["children"]) == 2  # cases per pallet
    assert api.get(f"/units/{sscc}", headers=auth(keys.foreign_factory)).status_code == 404
    svg = api.get(f"/codes/{sscc}/qr.svg", headers=auth(keys.factory))
    assert svg.status_code == 200 and svg.content.startswith(b"<svg")
    assert api.get(f"/codes/{serial}/qr.png", headers=auth(keys.foreign_factory)).status_code == 404


# ----------------------------------------------------------------------------- roles
@pytest.mark.parametrize(
    ("method", "path", "who"),
    [
        ("post", "/batches/{id}/codes", "brand"),
        ("post", "/batches/{id}/codes", "attestor"),
        ("post", "/batches/{id}/activate", "brand"),
        ("post", "/batches/{id}/anchor", "auditor"),
        ("get", "/batches/{id}/labels.pdf", "brand"),
        ("get", "/batches/{id}", "distributor"),
        ("post", "/products", "factory"),
    ],
)
def test_roles_that_may_not_act_get_403_and_nothing_changes(api, keys, counts, method, path, who):
    batch = make_batch(api, keys.factory, generate=False)
    before = counts()
    body = {"gtin": GTIN, "name": "x"} if path == "/products" else None
    response = getattr(api, method)(
        path.format(id=batch["id"]),
        headers=auth(getattr(keys, who)),
        **({"json": body} if body else {}),
    )
    assert response.status_code == 403, response.text
    assert response.json()["error"] == "permission_denied"
    assert counts() == before


def test_product_rules_through_the_api(api, keys, counts):
    before = counts()
    dup = api.post("/products", json={"gtin": GTIN, "name": "again"}, headers=auth(keys.brand))
    assert dup.status_code == 409 and dup.json()["error"] == "product_exists"
    bad = api.post(
        "/products", json={"gtin": "4006381333932", "name": "x"}, headers=auth(keys.brand)
    )
    assert bad.status_code == 422 and bad.json()["error"] == "invalid_gtin"
    nested = api.post(
        "/products",
        json={"gtin": "4006381333931", "name": "x", "attributes": {"a": [1]}},
        headers=auth(keys.brand),
    )
    assert nested.status_code == 422 and nested.json()["error"] == "invalid_product"
    assert counts() == before
    made = api.post(
        "/products",
        json={"gtin": "4006381333931", "name": "Gift box", "attributes": {"vintage": 2019}},
        headers=auth(keys.brand),
    )
    assert made.status_code == 201 and made.json()["gtin"] == "04006381333931"
    assert [p["gtin"] for p in api.get("/products", headers=auth(keys.factory)).json()] == [
        GTIN,
        "04006381333931",
    ]
    assert api.get("/products", headers=auth(keys.foreign_factory)).json() == []
