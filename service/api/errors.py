"""The one HTTP error handler: error classes to status codes, ``{"error", "detail"}`` bodies.

:func:`handle_error` is the one mapping. FastAPI calls it for the errors it catches itself
(business errors, validation, HTTP errors); :class:`ErrorMiddleware` calls it for every other
exception and does **not** raise it again. Starlette's own catch-all (``ServerErrorMiddleware``)
re-raises after its 500, and the server then drops the kept-alive connection: the client's next
request met a reset. An exception that says the database cannot be used now (the adapters
decide, through the container's ``outages`` monitor) is a 503 ``database_unavailable`` with
``Retry-After``, logged once per outage; anything else is a bug: a 500 with one traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.kernel.errors import DatabaseUnavailableError, ErrorKind, TracecertError

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
#: What a 503 without a more specific hint tells a client to wait, in seconds.
DEFAULT_RETRY_AFTER_S = 5


def error_response(
    status: int,
    code: str,
    detail: str,
    facts: dict[str, Any] | None = None,
    retry_after_s: int | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """``{"error", "detail", **facts}``; a 401 names the scheme, a retryable refusal (an outage
    above all) says when to try again."""
    out = dict(headers or {})
    if status == 401:
        out.setdefault("WWW-Authenticate", "Bearer")
    if status == 503 and retry_after_s is None:
        retry_after_s = DEFAULT_RETRY_AFTER_S
    if retry_after_s is not None:
        out["Retry-After"] = str(retry_after_s)
    body = {**(facts or {}), "error": code, "detail": detail}
    return JSONResponse(body, status_code=status, headers=out or None)


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


def _outages(request: Request) -> Any:
    container = getattr(request.app.state, "container", None)
    return getattr(container, "outages", None)


def _where(request: Request) -> str:
    return f"{request.method} {request.url.path}"


async def handle_error(request: Request, exc: Exception) -> JSONResponse:
    """Render every failure as ``{"error": code, "detail": text}`` with the right status."""
    if not isinstance(exc, TracecertError | RequestValidationError | StarletteHTTPException):
        outages = _outages(request)
        if outages is not None and outages.failed(exc, _where(request)):
            exc = DatabaseUnavailableError()
    if isinstance(exc, TracecertError):
        return error_response(
            STATUS_BY_KIND[exc.kind], exc.code, exc.detail, exc.facts, exc.retry_after_s
        )
    if isinstance(exc, RequestValidationError):
        return error_response(*_validation_detail(exc))
    if isinstance(exc, StarletteHTTPException):
        code, detail = _HTTP_CODES.get(exc.status_code, ("http_error", str(exc.detail)))
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = allowed_methods(request)
        return error_response(exc.status_code, code, detail, headers=headers)
    log.error("unhandled error on %s", _where(request), exc_info=exc)
    return error_response(500, "internal_error", "Something failed on our side; retry later.")


class ErrorMiddleware:
    """Answer any exception the routes let through with :func:`handle_error`'s response, and
    end there: the server keeps the connection for the client's next request. Successful
    answers tell the outage monitor that the service works again."""

    def __init__(self, app: ASGIApp, outages: Any = None) -> None:
        self.app = app
        self.outages = outages

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 0

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except Exception as exc:
            request = Request(scope)
            response = await handle_error(request, exc)
            if status:
                # The answer had begun: it cannot be replaced, only cut short (the server
                # closes the connection). Said once, here.
                log.error("error after the answer began on %s", _where(request), exc_info=exc)
                return
            await response(scope, receive, send)
            return
        if status < 500 and self.outages is not None:
            self.outages.succeeded()


def install(app: FastAPI) -> None:
    """Register the mapping for FastAPI's own errors, and the catch-all middleware (added
    last, so it wraps every other middleware)."""
    for cls in (TracecertError, RequestValidationError, StarletteHTTPException):
        app.add_exception_handler(cls, handle_error)
    container = getattr(app.state, "container", None)
    app.add_middleware(ErrorMiddleware, outages=getattr(container, "outages", None))
