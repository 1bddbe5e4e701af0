"""The OpenAPI document says what the service answers: id bounds, the error shape, statuses,
page sizes, enums, security, and 405 with ``Allow``; and what it says holds on the wire."""

from __future__ import annotations

from typing import Any, get_args

import pytest

from service.alerts.domain.alerts import AlertStatus
from service.channel.domain.custody import ScanAction, SiteKind
from service.consumer.api.certificates import VERBS
from service.consumer.domain.certificates import DealStatus
from service.kernel.roles import OrganisationKind, Role
from tests.integration.service.conftest import auth
from tests.integration.service.consumer.helpers import sign_in

TOO_BIG = 2**63  # one past the largest id a signed 64-bit column can hold
MAX_ID = 2**63 - 1


@pytest.fixture
def doc(api) -> dict[str, Any]:
    response = api.get("/openapi.json")
    assert response.status_code == 200
    return dict(response.json())


@pytest.fixture
def unchanged(counts):
    before = counts()
    yield
    assert counts() == before


def _operations(doc: dict[str, Any]):
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            yield method.upper(), path, operation


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _integer(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any] | None:
    schema = _resolve(doc, schema)
    for branch in schema.get("anyOf", [schema]):
        if branch.get("type") == "integer":
            return branch
    return None


def _body_schema(doc: dict[str, Any], operation: dict[str, Any]) -> dict[str, Any] | None:
    content = operation.get("requestBody", {}).get("content", {}).get("application/json")
    if content is None:
        return None
    schema = content["schema"]
    # EmptyBody | None bodies are an anyOf with null.
    for branch in schema.get("anyOf", [schema]):
        if "$ref" in branch:
            return _resolve(doc, branch)
    return _resolve(doc, schema)


# ----------------------------------------------------------------------------- ids
def test_every_id_the_api_accepts_declares_the_64_bit_bound(doc):
    seen = []
    for method, path, operation in _operations(doc):
        for parameter in operation.get("parameters", []):
            if parameter["name"].endswith("_id") and parameter["in"] in ("path", "query"):
                integer = _integer(doc, parameter["schema"])
                if integer is None:
                    continue  # public ids (batches, shipments, certificates) are strings
                seen.append((method, path, parameter["name"]))
                assert integer.get("minimum") == 1, (method, path, parameter)
                assert integer.get("maximum") == MAX_ID, (method, path, parameter)
        body = _body_schema(doc, operation)
        for model in [body] + [
            _resolve(doc, p["items"])
            for p in (body or {}).get("properties", {}).values()
            if p.get("type") == "array" and "$ref" in p.get("items", {})
        ]:
            for name, prop in (model or {}).get("properties", {}).items():
                integer = _integer(doc, prop)
                if name.endswith("_id") and integer is not None:
                    seen.append((method, path, name))
                    assert integer.get("minimum") == 1, (method, path, name)
                    assert integer.get("maximum") == MAX_ID, (method, path, name)
    names = {name for _, _, name in seen}
    assert {
        "organisation_id",
        "alert_id",
        "brand_id",
        "channel_parent_id",
        "site_id",
        "receiver_id",
        "pledgee_id",
        "custodian_id",
        "store_id",
    } <= names


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/organisations/{big}", None),
        ("POST", "/organisations/{big}/api-keys", {"role": "store"}),
        ("PUT", "/organisations/{big}/territories", {"regions": ["330000"]}),
        ("PUT", "/organisations/{big}/channel-parent", {"channel_parent_id": 1}),
        ("PUT", "/organisations/{org}/channel-parent", {"channel_parent_id": TOO_BIG}),
        ("POST", "/organisations/{big}/sites", {"name": "X", "kind": "shop", "region": "330106"}),
        ("POST", "/organisations", {"name": "X", "kind": "store", "brand_id": TOO_BIG}),
        ("GET", "/stock?organisation_id={big}", None),
        ("GET", "/alerts/{big}", None),
        ("POST", "/alerts/{big}/status", {"status": "dismissed"}),
        ("POST", "/products", {"gtin": "09506000134352", "name": "X", "brand_id": TOO_BIG}),
        ("POST", "/scans", {"action": "observe", "code": "X", "site_id": TOO_BIG}),
        (
            "POST",
            "/scans",
            {"action": "dispatch", "code": "X", "site_id": 1, "receiver_id": TOO_BIG},
        ),
    ],
)
def test_ids_of_64_bits_or_more_are_a_422_and_change_nothing(
    api, keys, unchanged, method, path, body
):
    url = path.format(big=TOO_BIG, org=keys.factory_org)
    response = api.request(method, url, json=body, headers=auth(keys.admin))
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "invalid_request"
    assert "less than or equal to 9223372036854775807" in response.json()["detail"]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/me/certificates/crt_x/pledge", {"pledgee_id": TOO_BIG, "amount": "1.00",
                                           "currency": "CNY", "due_date": "2030-01-01"}),
        ("/me/certificates/crt_x/deposit", {"custodian_id": TOO_BIG}),
        ("/me/certificates/crt_x/redemption", {"method": "pickup", "store_id": TOO_BIG}),
    ],
)  # fmt: skip
def test_consumer_bodies_with_ids_of_64_bits_or_more_are_a_422(api, otp, path, body):
    session = sign_in(api, otp, "big-ids@example.com")
    response = api.post(path, json=body, headers=session)
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "invalid_request"


# ----------------------------------------------------------------------------- errors
def test_errors_are_declared_as_the_error_body_the_service_sends(doc):
    schemas = doc["components"]["schemas"]
    assert "HTTPValidationError" not in schemas and "ValidationError" not in schemas
    assert set(schemas["ErrorPublic"]["required"]) == {"error", "detail"}
    for method, path, operation in _operations(doc):
        for status, response in operation["responses"].items():
            if int(status) < 400 or (path, status) == ("/health", "503"):
                continue  # /health answers its status body when degraded
            schema = response["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorPublic"}, (method, path, status)


def test_statuses_follow_what_each_operation_needs(doc):
    ops = {(m, p): {int(s) for s in o["responses"]} for m, p, o in _operations(doc)}
    pages = {(m, p) for m, p, o in _operations(doc) if o.get("tags") == ["web"]}
    assert pages == {("GET", "/gifts/accept")}  # listed because POST /gifts/accept is API
    for (method, path), statuses in ops.items():
        if (method, path) in pages:
            continue
        assert {500, 503} <= statuses, (method, path)
        if "{" in path:
            assert 404 in statuses, (method, path)
    assert {401, 403, 404, 409, 413, 400, 422} <= ops[("POST", "/batches")]
    assert {401, 403, 404, 409, 422, 429} <= ops[("POST", "/claims")]
    assert 403 not in ops[("POST", "/accounts/codes")] and 429 in ops[("POST", "/accounts/codes")]
    assert {400, 413} <= ops[("POST", "/epcis/capture")]
    # Every extra the table declares names an operation that exists.
    from service.api import openapi

    assert set(openapi.BUSINESS_STATUSES) <= set(ops)


def test_a_refused_request_answers_a_declared_status_with_the_error_body(api, keys, doc):
    cases = [
        ("GET", "/batches", {}, 401),
        ("GET", "/organisations", auth(keys.factory), 403),
        ("GET", "/organisations/999999", auth(keys.admin), 404),
        ("POST", "/organisations", auth(keys.admin), 422),
    ]
    for method, path, headers, status in cases:
        response = api.request(method, path, headers=headers, json={})
        assert response.status_code == status, response.text
        assert set(response.json()) == {"error", "detail"}
        template = path if path != "/organisations/999999" else "/organisations/{organisation_id}"
        assert str(status) in doc["paths"][template][method.lower()]["responses"]


# ----------------------------------------------------------------------------- page sizes
def test_limit_is_bounded_by_the_configured_page_size(api, keys, doc, settings):
    limited = [
        (p, m)
        for m, p, o in _operations(doc)
        for q in o.get("parameters", [])
        if q["name"] == "limit"
    ]
    assert len(limited) >= 8
    for path, method in limited:
        (limit,) = [q for q in doc["paths"][path][method.lower()]["parameters"]
                    if q["name"] == "limit"]  # fmt: skip
        integer = _integer(doc, limit["schema"])
        assert integer == {"type": "integer", "minimum": 1,
                           "maximum": settings.max_page_size}, path  # fmt: skip
    ok = api.get(f"/organisations?limit={settings.max_page_size}", headers=auth(keys.admin))
    assert ok.status_code == 200
    over = api.get(f"/organisations?limit={settings.max_page_size + 1}", headers=auth(keys.admin))
    assert over.status_code == 422 and over.json()["error"] == "invalid_request"


# ----------------------------------------------------------------------------- enums
def _enum(doc: dict[str, Any], schema: dict[str, Any]) -> set[str]:
    schema = _resolve(doc, schema)
    for branch in schema.get("anyOf", [schema]):
        branch = _resolve(doc, branch)
        if "enum" in branch:
            return set(branch["enum"])
    raise AssertionError(f"no enum in {schema}")


def _param(doc: dict[str, Any], method: str, path: str, name: str) -> dict[str, Any]:
    for parameter in doc["paths"][path][method]["parameters"]:
        if parameter["name"] == name:
            return dict(parameter["schema"])
    raise AssertionError(name)


def test_enums_of_the_server_are_enums_in_the_schema(doc):
    schemas = doc["components"]["schemas"]
    prop = lambda model, name: schemas[model]["properties"][name]  # noqa: E731
    assert _enum(doc, prop("ScanCreate", "action")) == set(ScanAction)
    assert _enum(doc, prop("OrganisationCreate", "kind")) == set(OrganisationKind)
    assert _enum(doc, prop("ApiKeyCreate", "role")) == set(Role) - {Role.CONSUMER}
    assert _enum(doc, prop("SiteCreate", "kind")) == set(SiteKind)
    assert _enum(doc, prop("AlertStatusUpdate", "status")) == {"confirmed", "dismissed"}
    assert _enum(doc, prop("RedemptionCreate", "method")) == {"pickup", "delivery"}
    assert _enum(doc, _param(doc, "get", "/alerts", "status")) == set(AlertStatus)
    assert _enum(doc, _param(doc, "get", "/deals", "status")) == set(DealStatus)
    assert _enum(doc, _param(doc, "get", "/partners", "kind")) == {"pledgee", "custodian", "store"}
    from service.consumer.api.certificates import DealVerb

    verbs = _enum(doc, _param(doc, "post", "/deals/{deal_id}/{verb}", "verb"))
    assert verbs == {verb for _, verb in VERBS} == set(get_args(DealVerb))


def test_a_value_outside_an_enum_is_a_422_that_names_the_choices(api, keys, unchanged):
    response = api.post(
        f"/organisations/{keys.factory_org}/api-keys",
        json={"role": "consumer"},
        headers=auth(keys.admin),
    )
    assert response.status_code == 422 and response.json()["error"] == "invalid_request"
    assert "'brand'" in response.json()["detail"]
    response = api.get("/alerts?status=burning", headers=auth(keys.brand))
    assert response.status_code == 422 and "'dismissed'" in response.json()["detail"]


# ----------------------------------------------------------------------------- methods
@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("TRACE", "/health", "GET"),
        ("POST", "/health", "GET"),
        ("DELETE", "/organisations", "GET, POST"),  # two routes serve the path: both count
        ("PUT", "/regions/330106", "GET"),
    ],
)
def test_an_unsupported_method_is_a_405_with_allow(api, method, path, allow):
    response = api.request(method, path)
    assert response.status_code == 405
    assert response.headers["allow"] == allow
    assert response.json()["error"] == "method_not_allowed"


# ----------------------------------------------------------------------------- security
def test_public_endpoints_do_not_require_a_key(doc):
    security = {(m, p): o.get("security") for m, p, o in _operations(doc)}
    for public in [
        ("GET", "/health"),
        ("GET", "/chain"),
        ("GET", "/regions"),
        ("GET", "/regions/{code}"),
        ("POST", "/accounts/codes"),
        ("POST", "/accounts/sessions"),
    ]:
        assert security[public] is None, public
    # A partner's key changes a scan's answer: optional, and valid when sent; a consumer's
    # session is optional too (a signed-in member's scan weighs more, issue 12).
    for scan in [
        ("GET", "/items/{serial}/verify"),
        ("GET", "/01/{gtin}/10/{lot}/21/{serial}"),
        ("GET", "/01/{gtin}/21/{serial}"),
    ]:
        assert security[scan] == [{}, {"ApiKey": []}, {"ConsumerSession": []}], scan
    assert security[("GET", "/batches")] == [{"ApiKey": []}]
    assert security[("POST", "/claims")] == [{"ConsumerSession": []}]
    # Partners are listed per brand, for the brands of the consumer's own bottles.
    assert security[("GET", "/partners")] == [{"ConsumerSession": []}]
    # The scanner page's routes also take its device session; its sign-out only that.
    for scanning in [("GET", "/me"), ("POST", "/scans"), ("POST", "/scans/upload")]:
        assert security[scanning] == [{"ApiKey": []}, {"ScannerSession": []}], scanning
    assert security[("POST", "/scanner/sessions")] == [{"ApiKey": []}]
    assert security[("DELETE", "/scanner/sessions/current")] == [{"ScannerSession": []}]
    assert set(doc["components"]["securitySchemes"]) == {
        "ApiKey",
        "ConsumerSession",
        "ScannerSession",
    }


def test_a_public_endpoint_answers_without_a_key(api):
    assert api.get("/regions").status_code == 200
    assert api.get("/partners?kind=store").status_code == 401
    unknown = api.get("/items/not-a-serial/verify")  # well formed, never made: a verdict
    assert unknown.status_code == 200 and unknown.json()["verdict"] == "unknown"
