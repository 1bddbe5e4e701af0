"""Bad input gets a clear 4xx with a machine code, and nothing is written."""

from __future__ import annotations

import pytest

from service.identity.app.commands import CreateApiKey
from service.identity.app.organisations import SYSTEM_ACTOR, create_api_key
from tests.integration.service.conftest import GTIN, auth, batch_body, make_batch

GOOD = batch_body()


@pytest.fixture
def unchanged(counts):
    """Assert at the end of the test that no table changed."""
    before = counts()
    yield
    assert counts() == before


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({**GOOD, "gtin": "09506000134353"}, 422, "invalid_gtin"),  # wrong check digit
        ({**GOOD, "gtin": "0950600013435X"}, 422, "invalid_gtin"),
        ({**GOOD, "gtin": "1234"}, 422, "invalid_gtin"),
        ({**GOOD, "gtin": "04006381333931"}, 404, "product_not_found"),  # valid, not registered
        ({**GOOD, "lot": "has space"}, 422, "invalid_lot"),
        ({**GOOD, "lot": "nul\u0000lot"}, 422, "invalid_lot"),
        ({**GOOD, "lot": "../../etc"}, 422, "invalid_lot"),
        ({**GOOD, "lot": "L1'; DROP TABLE items; --"}, 422, "invalid_request"),  # > 20 chars
        ({**GOOD, "lot": "\uff211"}, 422, "invalid_lot"),  # fullwidth A homoglyph
        ({**GOOD, "lot": "x" * 21}, 422, "invalid_request"),
        ({**GOOD, "line": "tab\tline"}, 422, "invalid_batch"),
        ({**GOOD, "planned_quantity": 0}, 422, "invalid_request"),
        ({**GOOD, "planned_quantity": -5}, 422, "invalid_request"),
        ({**GOOD, "planned_quantity": "many"}, 422, "invalid_request"),
        ({**GOOD, "case_size": 0}, 422, "invalid_request"),
        ({**GOOD, "cases_per_pallet": 10**6}, 422, "invalid_request"),
        ({**GOOD, "production_date": "2026-13-45"}, 422, "invalid_request"),
        ({**GOOD, "production_date": "2999-01-01"}, 422, "invalid_batch"),
        ({k: v for k, v in GOOD.items() if k != "lot"}, 422, "invalid_request"),
        ({**GOOD, "status": "anchored"}, 422, "invalid_request"),
        ({**GOOD, "organisation_id": 2}, 422, "invalid_request"),
        ({**GOOD, "root": "0x" + "00" * 32}, 422, "invalid_request"),
        ([1, 2, 3], 422, "invalid_request"),
    ],
)
def test_malformed_batch_is_refused_and_writes_nothing(api, keys, unchanged, body, status, code):
    response = api.post("/batches", json=body, headers=auth(keys.factory))
    assert response.status_code == status, response.text
    assert response.json()["error"] == code
    assert response.json()["detail"]


def test_batch_above_the_configured_cap_is_refused(api, keys, container, unchanged):
    body = {**GOOD, "planned_quantity": container.settings.max_batch_items + 1}
    response = api.post("/batches", json=body, headers=auth(keys.factory))
    assert response.status_code == 422
    assert response.json()["error"] == "batch_too_large"


def test_duplicate_lot_of_a_product_is_a_conflict(api, keys, counts):
    assert api.post("/batches", json=GOOD, headers=auth(keys.factory)).status_code == 201
    before = counts()
    for key in (keys.factory, keys.other_factory):  # another factory of the brand, same lot
        response = api.post("/batches", json=GOOD, headers=auth(key))
        assert response.status_code == 409
        assert response.json()["error"] == "lot_exists"
    assert counts() == before


def test_product_of_another_brand_cannot_be_batched(api, keys, unchanged):
    response = api.post("/batches", json=GOOD, headers=auth(keys.foreign_factory))
    assert response.status_code == 404
    assert response.json()["error"] == "product_not_found"


def test_malformed_json_is_refused(api, keys, unchanged):
    response = api.post(
        "/batches",
        content=b'{"gtin": "09506000134352", "lot": [',
        headers={**auth(keys.factory), "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["error"] == "malformed_json"


def test_huge_body_is_refused_before_it_is_read(api, keys, container, unchanged):
    huge = b'{"gtin": "' + b"0" * container.settings.max_body_bytes + b'"}'
    response = api.post(
        "/batches", content=huge, headers={**auth(keys.factory), "Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["error"] == "request_too_large"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer nonsense"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer tc_0123456789abcdef_" + "A" * 43},
    ],
)
def test_missing_or_wrong_key_is_unauthenticated(api, keys, unchanged, headers):
    response = api.post("/batches", json=GOOD, headers=headers)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_api_key"


def test_revoked_key_is_unauthenticated(api, keys, counts):
    key_id = keys.other_factory.split("_")[1]
    revoked = api.post(f"/api-keys/{key_id}/revoke", headers=auth(keys.admin))
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    before = counts()
    response = api.post("/batches", json=GOOD, headers=auth(keys.other_factory))
    assert response.status_code == 401
    assert counts() == before


def test_key_revoked_after_use_is_refused_at_once(api, keys, counts):
    # The first call leaves the key's actor in the reference cache; revoking forgets it.
    assert api.get("/batches", headers=auth(keys.other_factory)).status_code == 200
    key_id = keys.other_factory.split("_")[1]
    assert api.post(f"/api-keys/{key_id}/revoke", headers=auth(keys.admin)).status_code == 200
    before = counts()
    response = api.post("/batches", json=GOOD, headers=auth(keys.other_factory))
    assert response.status_code == 401
    assert counts() == before


def test_known_key_id_with_another_secret_is_refused(api, keys, unchanged):
    assert api.get("/batches", headers=auth(keys.factory)).status_code == 200
    prefix, key_id, secret = keys.factory.split("_", 2)
    forged = f"{prefix}_{key_id}_{'A' * len(secret)}"
    assert forged != keys.factory
    response = api.post("/batches", json=GOOD, headers=auth(forged))
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_api_key"


def test_wrong_role_is_forbidden(api, keys, unchanged):
    response = api.post("/batches", json=GOOD, headers=auth(keys.distributor))
    assert response.status_code == 403
    assert response.json()["error"] == "permission_denied"


def test_another_organisations_batch_is_not_found_for_every_action(api, keys, counts):
    batch = make_batch(api, keys.factory, activate=False)
    case = api.get(f"/batches/{batch['id']}", headers=auth(keys.factory)).json()
    before = counts()
    for key in (keys.other_factory, keys.foreign_factory):
        other = auth(key)
        for response in (
            api.get(f"/batches/{batch['id']}", headers=other),
            api.post(f"/batches/{batch['id']}/codes", headers=other),
            api.post(f"/batches/{batch['id']}/activate", headers=other),
            api.post(f"/batches/{batch['id']}/anchor", headers=other),
            api.post(f"/batches/{batch['id']}/recall", json={"reason": "x"}, headers=other),
            api.get(f"/batches/{batch['id']}/code-file", headers=other),
            api.get(f"/batches/{batch['id']}/labels.pdf", headers=other),
            api.get(f"/batches/{batch['id']}/items/A1/proof", headers=other),
        ):
            assert response.status_code == 404, response.text
            assert response.json()["error"] == "batch_not_found"
    assert case["status"] == "generated"
    again = api.get(f"/batches/{batch['id']}", headers=auth(keys.factory)).json()
    assert again["status"] == "generated"
    assert counts() == before


def test_another_brand_cannot_see_or_recall_a_batch(api, keys, container, counts):
    batch = make_batch(api, keys.factory)
    foreign_brand_key = create_api_key(
        CreateApiKey(SYSTEM_ACTOR, keys.foreign_brand_org, "brand"),
        container.uow_factory(),
        container.clock,
        container.settings.pepper,
    ).secret_key
    before = counts()
    assert api.get(f"/batches/{batch['id']}", headers=auth(foreign_brand_key)).status_code == 404
    response = api.post(
        f"/batches/{batch['id']}/recall", json={"reason": "x"}, headers=auth(foreign_brand_key)
    )
    assert response.status_code == 404
    assert api.get(f"/products/{GTIN}", headers=auth(foreign_brand_key)).status_code == 404
    assert counts() == before
    # ...while the own brand and its auditor see it.
    assert api.get(f"/batches/{batch['id']}", headers=auth(keys.brand)).status_code == 200
    assert api.get(f"/batches/{batch['id']}", headers=auth(keys.auditor)).status_code == 200


def test_unknown_role_for_a_new_key_is_refused(api, keys, unchanged):
    response = api.post(
        f"/organisations/{keys.factory_org}/api-keys",
        json={"role": "superuser"},
        headers=auth(keys.admin),
    )
    # The schema declares the roles (an enum): validation refuses any other and names them.
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_request"
    assert "'auditor'" in response.json()["detail"]


def test_key_request_cannot_set_the_organisation_or_the_secret(api, keys, unchanged):
    response = api.post(
        f"/organisations/{keys.factory_org}/api-keys",
        json={"role": "factory", "organisation_id": 1, "secret": "x"},
        headers=auth(keys.admin),
    )
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_request"


def test_non_admin_cannot_create_organisations_or_keys(api, keys, unchanged):
    assert (
        api.post(
            "/organisations", json={"name": "X", "kind": "store"}, headers=auth(keys.factory)
        ).status_code
        == 403
    )
    assert (
        api.post(
            f"/organisations/{keys.factory_org}/api-keys",
            json={"role": "factory"},
            headers=auth(keys.factory),
        ).status_code
        == 403
    )


@pytest.mark.parametrize("name", ["", " ", "a\u0000b", "tab\tname", "x" * 201, "zero\u200bwidth"])
def test_bad_organisation_names_are_refused(api, keys, unchanged, name):
    response = api.post(
        "/organisations", json={"name": name, "kind": "store"}, headers=auth(keys.admin)
    )
    assert response.status_code == 422
    assert response.json()["error"] in {"invalid_request", "invalid_organisation"}


def test_unknown_organisation_kind_is_refused(api, keys, unchanged):
    response = api.post(
        "/organisations", json={"name": "Y", "kind": "bank"}, headers=auth(keys.admin)
    )
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_request"
    assert "'distributor'" in response.json()["detail"]


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": -1},
        {"limit": 10**30},
        {"limit": 501},
        {"offset": -5},
        {"limit": "ten"},
    ],
)
def test_bad_page_limits_are_refused(api, keys, unchanged, params):
    response = api.get("/log/events", params=params, headers=auth(keys.admin))
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_request"


@pytest.mark.parametrize(
    "path",
    [
        "/batches/b_000000000000000000000000",
        "/batches/..%2F..%2Fetc",
        "/batches/%00",
        "/batches/b_' OR 1=1 --",
    ],
)
def test_unknown_or_odd_batch_ids_are_not_found(api, keys, unchanged, path):
    response = api.get(path, headers=auth(keys.factory))
    assert response.status_code == 404
    assert response.json()["error"] in {"batch_not_found", "not_found"}


@pytest.mark.parametrize(
    ("item", "status", "code"),
    [
        ("%00", 400, "malformed_serial"),
        ("..%2F..", 404, "not_found"),  # the decoded path is another route
        ("x" * 65, 400, "malformed_serial"),
        ("A1%20", 400, "malformed_serial"),
        ("NOT-A-CODE", 200, None),  # well formed, never made: the verdict is unknown
    ],
)
def test_odd_item_ids_do_not_verify(api, unchanged, item, status, code):
    response = api.get(f"/items/{item}/verify")
    assert response.status_code == status
    if code is None:
        assert response.json()["verdict"] == "unknown"
    else:
        assert response.json()["error"] == code


def test_unknown_route_and_method_render_the_error_shape(api, unchanged):
    response = api.get("/no/such/route")
    assert response.status_code == 404 and response.json()["error"] == "not_found"
    response = api.delete("/health")
    assert response.status_code == 405 and response.json()["error"] == "method_not_allowed"


def test_bad_idempotency_key_header_is_refused(api, keys, unchanged):
    response = api.post(
        "/batches", json=GOOD, headers={**auth(keys.factory), "Idempotency-Key": "x" * 129}
    )
    assert response.status_code == 422


def test_idempotency_key_reused_with_another_body_is_refused(api, keys, counts):
    headers = {**auth(keys.factory), "Idempotency-Key": "k-1"}
    first = api.post("/batches", json=GOOD, headers=headers)
    again = api.post("/batches", json=GOOD, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    before = counts()
    other = api.post("/batches", json={**GOOD, "lot": "LOT-2"}, headers=headers)
    assert other.status_code == 422
    assert other.json()["error"] == "idempotency_key_reused"
    assert counts() == before
