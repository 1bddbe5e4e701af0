"""Limits at the edge: request bodies above a size are refused before anything reads them,
and the access log never writes an unbounded request line."""

from __future__ import annotations

import json
import logging
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodySizeLimitMiddleware:
    """Answer 413 when a body exceeds ``max_bytes`` (by Content-Length or while streaming)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    too_large = int(value) > self.max_bytes
                except ValueError:
                    too_large = True
                if too_large:
                    await self._refuse(send)
                    return
        messages: list[Message] = []
        size = 0
        more = True
        while more:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                await self._refuse(send)
                return
            more = message.get("more_body", False)

        async def replay() -> Message:
            if messages:
                return messages.pop(0)
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, send: Send) -> None:
        body: Any = {
            "error": "request_too_large",
            "detail": f"The request body exceeds {self.max_bytes} bytes; send a smaller one.",
        }
        raw = json.dumps(body).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(raw)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": raw})


class BoundedAccessLog(logging.Filter):
    """Cut any argument of an access-log line (the request path above all) to ``max_chars``,
    saying how long it was: a 60 KB path is refused with a short answer and must not become a
    60 KB log line either."""

    def __init__(self, max_chars: int = 200) -> None:
        super().__init__()
        self.max_chars = max_chars

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(self._bounded(arg) for arg in record.args)
        return True

    def _bounded(self, value: Any) -> Any:
        if isinstance(value, str) and len(value) > self.max_chars:
            return f"{value[: self.max_chars]}... ({len(value)} characters)"
        return value


def bound_access_log(logger: str = "uvicorn.access") -> None:
    """Put :class:`BoundedAccessLog` on the server's access log (once)."""
    access = logging.getLogger(logger)
    if not any(isinstance(f, BoundedAccessLog) for f in access.filters):
        access.addFilter(BoundedAccessLog())
