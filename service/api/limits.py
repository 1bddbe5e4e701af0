"""Limits at the edge: request bodies above a size are refused before anything reads them,
the access log never writes an unbounded request line, and the public scan endpoints answer
each device and each client network at most so fast (``ScanLimits``)."""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.domain.rate_limits import Rate, TokenBuckets


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


class ScanLimits:
    """Token buckets of the public scan endpoints, per device and per client network, kept in
    this process: with several workers each counts its own share (issue 18 moves them to a
    shared store). Idle buckets are dropped, so memory stays bounded."""

    def __init__(
        self,
        device: Rate,
        network: Rate,
        max_keys: int = 50_000,
        ticks: Callable[[], float] = time.monotonic,
    ) -> None:
        self.devices = TokenBuckets(device, max_keys)
        self.networks = TokenBuckets(network, max_keys)
        self.ticks = ticks

    @classmethod
    def from_settings(cls, settings: Any) -> ScanLimits:
        return cls(
            Rate(settings.scan_device_per_min, settings.scan_device_burst),
            Rate(settings.scan_network_per_min, settings.scan_network_burst),
        )

    def wait_s(self, device: bytes, network: str) -> int:
        """0 when the scan may go ahead (a token taken from each bucket), else the whole
        seconds to wait (``Retry-After``). A device over its limit takes nothing from its
        network's budget."""
        now = self.ticks()
        wait = self.devices.take(device, now)
        if wait == 0.0:
            wait = self.networks.take(network, now)
        return math.ceil(wait) if wait > 0 else 0
