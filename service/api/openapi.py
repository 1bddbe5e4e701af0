"""The OpenAPI document, made to say what the service really answers.

FastAPI describes the happy path and its own validation error shape. This module rewrites the
generated document once, from what each route needs, so that no route has to repeat it:

* every error is ``ErrorPublic`` (``{"error", "detail"}``, rendered by ``service.api.errors``);
* the statuses an operation can answer come from its dependencies and parameters (an API key
  -> 401/403; a consumer session -> 401; an optional key -> 401 for a bad one; a path
  parameter -> 404; parameters -> 422; a JSON body -> 400/413/422; everything -> 500/503),
  plus the business outcomes of ``BUSINESS_STATUSES`` (conflicts, rate limits, lookups of
  ids sent in a body);
* security follows the dependency: ``ApiKey`` required, ``ConsumerSession`` required, an
  optional ``ApiKey`` (public endpoints where a partner's key changes the answer), or none;
* ``limit`` declares the configured ``max_page_size`` as its maximum, the bound
  ``deps.page_limit`` enforces.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, iter_route_contexts

from service.api import deps
from service.api.schemas import MAX_ID, ErrorPublic

API_KEY = "ApiKey"
CONSUMER_SESSION = "ConsumerSession"
SCANNER_SESSION = "ScannerSession"
SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    API_KEY: {
        "type": "http",
        "scheme": "bearer",
        "description": "An organisation's API key, tc_<key id>_<secret> (tracecert admin create, "
        "POST /organisations/{id}/api-keys).",
    },
    CONSUMER_SESSION: {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "A consumer's session token from POST /accounts/sessions.",
    },
    SCANNER_SESSION: {
        "type": "http",
        "scheme": "bearer",
        "description": "A scanner device session token, tcs_<session id>_<secret>, from POST "
        "/scanner/sessions; only GET /me, POST /scans and POST /scans/upload accept it "
        "(elsewhere: 403 scanner_session_scope).",
    },
}

ERROR_DESCRIPTIONS: dict[int, str] = {
    400: "Malformed: the body is not JSON (EPCIS: the document or query is not valid, or "
    "unsupported_json: a non-finite or too large number, a lone surrogate, nesting over 32).",
    401: "No valid credentials: send 'Authorization: Bearer <key or session token>'.",
    403: "The caller's role or organisation may not do this.",
    404: "Nothing by this id or code is visible to the caller.",
    409: "The current state does not allow this (already done, in flight, taken...).",
    413: "The request body is larger than the configured limit.",
    422: "A parameter or field is invalid; detail names it and says what to send.",
    429: "Too many attempts; wait and try again.",
    500: "An unexpected failure on our side; try again later.",
    503: "The database or the chain is unavailable; try again later.",
}

#: What a route's own outcomes add to the statuses derived from its shape: state conflicts,
#: rate limits, refusals that do not come from the key's role, and ids sent in a body or a
#: query that name nothing (404). Keyed by method and path, as the document lists them.
BUSINESS_STATUSES: dict[tuple[str, str], frozenset[int]] = {
    # organisations and keys
    ("POST", "/organisations"): frozenset({409}),
    ("GET", "/me"): frozenset({404}),
    ("PUT", "/organisations/{organisation_id}/company-prefixes"): frozenset({409}),
    ("PUT", "/brand/partners"): frozenset({404}),
    # the channel
    ("POST", "/scans"): frozenset({404, 409}),
    ("POST", "/scans/upload"): frozenset({404, 409}),
    ("GET", "/stock"): frozenset({404}),
    ("POST", "/alerts/{alert_id}/status"): frozenset({409}),
    # products and batches
    ("POST", "/products"): frozenset({404, 409}),
    ("POST", "/batches"): frozenset({404, 409}),
    ("POST", "/batches/{batch_id}/codes"): frozenset({409}),
    ("POST", "/batches/{batch_id}/activate"): frozenset({409}),
    ("POST", "/activations"): frozenset({404, 409}),
    ("POST", "/batches/{batch_id}/anchor"): frozenset({409}),
    ("POST", "/batches/{batch_id}/recall"): frozenset({409}),
    ("POST", "/batches/{batch_id}/attestations"): frozenset({409}),
    ("GET", "/batches/{batch_id}/code-file"): frozenset({409}),
    ("POST", "/batches/{batch_id}/code-file/approvals"): frozenset({409}),
    # consumers and certificates
    ("POST", "/accounts/codes"): frozenset({429}),
    ("POST", "/accounts/sessions"): frozenset({401, 429}),
    ("POST", "/accounts/sessions/refresh"): frozenset({401}),
    ("POST", "/claims"): frozenset({403, 404, 409, 429}),
    ("POST", "/me/certificates/{certificate_id}/gift"): frozenset({409}),
    ("POST", "/me/certificates/{certificate_id}/gift/cancel"): frozenset({409}),
    ("POST", "/me/certificates/{certificate_id}/pledge"): frozenset({409}),
    ("POST", "/me/certificates/{certificate_id}/deposit"): frozenset({409}),
    ("POST", "/me/certificates/{certificate_id}/offer/cancel"): frozenset({409}),
    ("POST", "/me/certificates/{certificate_id}/withdraw"): frozenset({409}),
    ("POST", "/me/certificates/{certificate_id}/redemption"): frozenset({404, 409}),
    ("POST", "/me/vouchers/{voucher_id}"): frozenset({409}),
    ("POST", "/gifts/accept"): frozenset({404, 409}),
    ("POST", "/deals/{deal_id}/{verb}"): frozenset({409}),
    # points: not enough of them, or the programme closed (409); an unknown reward (404)
    ("POST", "/me/points/spend"): frozenset({404, 409}),
    # One-ID: no such member of the brand's (404); a blocked value, or one identifier of a
    # type too many (409)
    ("POST", "/touchpoints/identities"): frozenset({404, 409}),
    # erasure: refused while a certificate is on its way somewhere
    ("DELETE", "/account"): frozenset({409}),
    # scans: a code malformed by GS1's syntax is a 400 (a well-formed unknown one is a verdict)
    # and a device or network scanning too fast a 429 scan_rate_limited (issue 12)
    ("GET", "/items/{serial}/verify"): frozenset({400, 429}),
    ("GET", "/01/{gtin}/10/{lot}/21/{serial}"): frozenset({400, 429}),
    ("GET", "/01/{gtin}/21/{serial}"): frozenset({400, 429}),
    # EPCIS reads its body itself: the binding answers 400 to what is not a document
    ("POST", "/epcis/capture"): frozenset({400, 413}),
    ("GET", "/epcis/events"): frozenset({400}),
}


def install(app: FastAPI, *, max_page_size: int) -> None:
    """Serve the rewritten document at ``app.openapi_url`` (built once, on first use)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                openapi_version=app.openapi_version,
                description=app.description,
                routes=app.routes,
            )
            app.openapi_schema = describe(document, app.routes, max_page_size=max_page_size)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def describe(
    document: dict[str, Any], routes: Iterable[Any], *, max_page_size: int
) -> dict[str, Any]:
    """Rewrite ``document`` (FastAPI's) in place for ``routes``, and return it."""
    _exact_integer_bounds(document)
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    schemas["ErrorPublic"] = ErrorPublic.model_json_schema()
    components["securitySchemes"] = SECURITY_SCHEMES
    # Included routers wrap their routes; iter_route_contexts gives each with its full path.
    contexts = list(iter_route_contexts(list(routes)))
    for context in contexts:
        route = context.original_route
        if not isinstance(route, APIRoute) or not route.include_in_schema:
            continue
        path = context.path_format or route.path_format
        for method in route.methods or ():
            operation = document["paths"].get(path, {}).get(method.lower())
            if operation is not None:
                _describe_operation(operation, route, method, path, max_page_size)
    for context in contexts:
        _add_page_operation(document, context.original_route, context.path_format)
    return document


def _add_page_operation(document: dict[str, Any], route: Any, path: str | None) -> None:
    """A page served on a path the API also serves (``GET /gifts/accept`` beside its ``POST``)
    is listed too: a 405's ``Allow`` names every method of the path, and so does the document."""
    if not isinstance(route, APIRoute) or route.include_in_schema or path is None:
        return
    item = document["paths"].get(path)
    if item is None:
        return
    for method in route.methods or ():
        item.setdefault(
            method.lower(),
            {
                "tags": list(route.tags) or ["web"],
                "summary": (route.description or route.name).split("\n")[0],
                "operationId": f"{method.lower()}_{route.name}",
                "responses": {
                    "200": {"description": "The page.", "content": {"text/html": {}}},
                    "500": _error_response(500),
                },
            },
        )


_BOUNDS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")


def _exact_integer_bounds(node: Any) -> None:
    """FastAPI's OpenAPI model types bounds as floats, so ``le=2**63 - 1`` came out as
    9.223372036854776e18 (that is 2**63, a value the server refuses). Integer schemas get
    their bounds back as integers; none of ours lies beyond the signed 64-bit range."""
    if isinstance(node, dict):
        if node.get("type") == "integer":
            for key in _BOUNDS:
                value = node.get(key)
                if isinstance(value, float) and value.is_integer():
                    node[key] = max(min(int(value), MAX_ID), -MAX_ID - 1)
        for child in node.values():
            _exact_integer_bounds(child)
    elif isinstance(node, list):
        for child in node:
            _exact_integer_bounds(child)


def _walk(dependant: Dependant) -> Iterator[Dependant]:
    """The route's dependant and every dependency below it."""
    yield dependant
    for sub in dependant.dependencies:
        yield from _walk(sub)


def _describe_operation(
    operation: dict[str, Any], route: APIRoute, method: str, path: str, max_page_size: int
) -> None:
    tree = list(_walk(route.dependant))
    calls = {d.call for d in tree if d.call is not None}
    path_params = any(d.path_params for d in tree)
    params = path_params or any(d.query_params or d.header_params or d.cookie_params for d in tree)
    statuses: set[int] = {500, 503}
    if deps.get_scanner_actor in calls:
        operation["security"] = [{API_KEY: []}, {SCANNER_SESSION: []}]
        statuses |= {401, 403}
    elif deps.get_actor in calls:
        operation["security"] = [{API_KEY: []}]
        statuses |= {401, 403}
    elif deps.get_scanner_session in calls:
        operation["security"] = [{SCANNER_SESSION: []}]
        statuses |= {401}
    elif deps.get_consumer_session in calls:
        operation["security"] = [{CONSUMER_SESSION: []}]
        statuses |= {401}
    elif deps.get_scan_caller in calls:
        # Anonymous is fine; a partner's key sent must be valid; a consumer's session is
        # optional (an expired one scans anonymously).
        operation["security"] = [{}, {API_KEY: []}, {CONSUMER_SESSION: []}]
        statuses |= {401}
    elif deps.get_optional_actor in calls:
        # Anonymous is fine; a key sent must be valid (and not a scanner session: 403).
        operation["security"] = [{}, {API_KEY: []}]
        statuses |= {401, 403}
    else:
        operation.pop("security", None)
    if path_params:
        statuses.add(404)
    if params:
        statuses.add(422)
    if route.body_field is not None:
        statuses |= {400, 413, 422}
    statuses |= BUSINESS_STATUSES.get((method, path), frozenset())

    responses = operation.setdefault("responses", {})
    for status in sorted(statuses):
        key = str(status)
        declared = responses.get(key)
        if declared is None or status == 422:  # FastAPI's 422 is its own shape: replace it
            responses[key] = _error_response(status)
    for parameter in operation.get("parameters", []):
        if parameter.get("in") == "query" and parameter.get("name") == "limit":
            _bound_limit(parameter["schema"], max_page_size)


def _error_response(status: int) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": ERROR_DESCRIPTIONS[status],
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorPublic"}}},
    }
    if status == 401:
        response["headers"] = {
            "WWW-Authenticate": {"description": "Bearer", "schema": {"type": "string"}}
        }
    if status == 429:
        response["headers"] = {
            "Retry-After": {
                "description": "Seconds to wait before trying again.",
                "schema": {"type": "integer", "minimum": 0},
            }
        }
    return response


def _bound_limit(schema: dict[str, Any], max_page_size: int) -> None:
    """``limit`` is ``integer | null``: bound the integer branch (or the schema itself)."""
    for branch in schema.get("anyOf", [schema]):
        if branch.get("type") == "integer":
            branch["maximum"] = max_page_size
