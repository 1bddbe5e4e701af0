"""Limits at the edge: request bodies above a size are refused before anything reads them,
slow clients are cut off (headers, body, idle keep-alive, concurrency: ``server_config``),
the access log never writes an unbounded request line, and the public scan endpoints answer
each device and each client network at most so fast (``ScanLimits``)."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import h11
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from service.api.rate_limits import Rate, TokenBuckets
from service.kernel.errors import PrinterBusyError

if TYPE_CHECKING:
    import uvicorn

    from service.config import Settings

_log = logging.getLogger(__name__)
_TIMEOUT_408 = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
    b"connection: close\r\ncontent-length: %d\r\n\r\n%s"
)


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


class RenderSlots:
    """At most ``size`` heavy renders (label files) at once in this process; one more is
    refused at once with ``PrinterBusyError`` (503, Retry-After) rather than queued."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._free = threading.BoundedSemaphore(size)

    @contextmanager
    def hold(self) -> Iterator[None]:
        if not self._free.acquire(blocking=False):
            raise PrinterBusyError(
                f"{self.size} label files are being made right now; retry in a few seconds."
            )
        try:
            yield
        finally:
            self._free.release()


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


class _ReadDeadlines:
    """Read deadlines for uvicorn's HTTP protocols, against slow clients (slowloris): a
    request's headers must arrive within ``header_timeout_s`` of the connection or of its first
    byte, and its body within ``body_timeout_s`` of the headers; otherwise the connection is
    answered 408 (when no response has begun) and closed. They live here, below ASGI, because
    an ASGI app is only called once the headers are complete."""

    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    _deadline: asyncio.TimerHandle | None = None
    _reading: str = ""
    # Provided by uvicorn's protocol classes.
    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport
    cycle: Any

    def _arm(self, what: str) -> None:
        self._disarm()
        delay = self.header_timeout_s if what == "headers" else self.body_timeout_s
        self._reading = what
        self._deadline = self.loop.call_later(delay, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self._deadline, self._reading = None, ""

    def _expired(self) -> None:
        what, self._deadline = self._reading, None
        if self.transport.is_closing():
            return
        _log.info("closing a connection that sent its %s too slowly", what)
        if self.cycle is None or not self.cycle.response_started:
            limit = self.header_timeout_s if what == "headers" else self.body_timeout_s
            body = json.dumps(
                {
                    "error": "request_timeout",
                    "detail": f"The request's {what} did not arrive within {limit:g} s; "
                    "send the whole request at once.",
                }
            ).encode()
            self.transport.write(_TIMEOUT_408 % (len(body), body))
        if self.cycle is not None:
            self.cycle.keep_alive = False
        self.transport.close()


class TimedH11Protocol(_ReadDeadlines, H11Protocol):
    """uvicorn's h11 protocol with the read deadlines of :class:`_ReadDeadlines`."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm("headers")

    def data_received(self, data: bytes) -> None:
        if not self._reading and self.conn.their_state is h11.IDLE:
            self._arm("headers")  # the first byte of a request on a kept-alive connection
        super().data_received(data)
        state = self.conn.their_state
        if state is h11.SEND_BODY and self._reading != "body":
            self._arm("body")
        elif state is not h11.IDLE and state is not h11.SEND_BODY:
            self._disarm()  # the whole request is in (or the connection is done)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)


class TimedHttpToolsProtocol(_ReadDeadlines, HttpToolsProtocol):
    """uvicorn's httptools protocol (its faster default) with the same read deadlines."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm("headers")

    def on_message_begin(self) -> None:
        self._arm("headers")
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        self._arm("body")
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)


def server_config(
    app: ASGIApp,
    settings: Settings,
    host: str | None = None,
    port: int | None = None,
    http: str = "httptools",
) -> uvicorn.Config:
    """The uvicorn configuration of ``tracecert run`` (and of the tests that serve for real):
    read deadlines, keep-alive and concurrency limit from ``settings``; ``http`` is
    ``httptools`` (uvicorn's faster parser, the default) or ``h11``."""
    import uvicorn

    base: type[_ReadDeadlines] = TimedHttpToolsProtocol if http == "httptools" else TimedH11Protocol
    protocol = type(
        f"Settings{base.__name__}",
        (base,),
        {"header_timeout_s": settings.header_timeout_s, "body_timeout_s": settings.body_timeout_s},
    )
    return uvicorn.Config(
        app,
        host=host or settings.host,
        port=port or settings.port,
        http=protocol,
        timeout_keep_alive=settings.keep_alive_timeout_s,  # type: ignore[arg-type]
        limit_concurrency=settings.max_concurrency,
        log_level="info",
    )


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
