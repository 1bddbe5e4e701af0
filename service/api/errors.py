"""The one HTTP error handler: error classes to status codes, ``{"error", "detail"}`` bodies."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from service.domain.errors import ErrorKind, TracecertError

log = logging.getLogger(__name__)

STATUS_BY_KIND: dict[ErrorKind, int] = {
    ErrorKind.NOT_FOUND: 404,
    ErrorKind.INVALID: 422,
    # The EPCIS 2.0 REST binding answers 400 to invalid documents and queries.
    ErrorKind.MALFORMED: 400,
    ErrorKind.CONFLICT: 409,
    ErrorKind.FORBIDDEN: 403,
    ErrorKind.UNAUTHENTICATED: 401,
    ErrorKind.RATE_LIMITED: 429,
    ErrorKind.UNAVAILABLE: 503,
}

_HTTP_CODES = {
    404: ("not_found", "No such resource; check the path."),
    405: ("method_not_allowed", "This method is not allowed here; see /docs."),
    413: ("request_too_large", "The request body is too large; send a smaller one."),
}


def error_response(
    status: int, code: str, detail: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    headers = dict(headers or {})
    if status == 401:
        headers.setdefault("WWW-Authenticate", "Bearer")
    return JSONResponse({"error": code, "detail": detail}, status_code=status, headers=headers)


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(request: Request) -> str:
    """The methods the target path supports, over every route that serves it (RFC 9110
    15.5.6): Starlette's own ``Allow`` names only the first such route's."""
    routes = request.app.router.routes
    allowed = [
        method
        for method in _METHODS
        if any(r.matches({**request.scope, "method": method})[0] is Match.FULL for r in routes)
    ]
    return ", ".join(allowed)


def _validation_detail(exc: RequestValidationError) -> tuple[int, str, str]:
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        return 400, "malformed_json", "The body is not valid JSON; send a JSON object."
    parts = []
    for e in errors[:5]:
        where = ".".join(str(p) for p in e.get("loc", ()) if p != "body") or "body"
        parts.append(f"{where}: {e.get('msg', 'invalid')}")
    return 422, "invalid_request", "; ".join(parts) + ". Fix these fields and send again."


async def handle_error(request: Request, exc: Exception) -> JSONResponse:
    """Render every failure as ``{"error": code, "detail": text}`` with the right status."""
    if isinstance(exc, TracecertError):
        return error_response(STATUS_BY_KIND[exc.kind], exc.code, exc.detail)
    if isinstance(exc, RequestValidationError):
        return error_response(*_validation_detail(exc))
    if isinstance(exc, StarletteHTTPException):
        code, detail = _HTTP_CODES.get(exc.status_code, ("http_error", str(exc.detail)))
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = allowed_methods(request)
        return error_response(exc.status_code, code, detail, headers)
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal_error", "Something failed on our side; retry later.")


def install(app: FastAPI) -> None:
    for cls in (TracecertError, RequestValidationError, StarletteHTTPException, Exception):
        app.add_exception_handler(cls, handle_error)
