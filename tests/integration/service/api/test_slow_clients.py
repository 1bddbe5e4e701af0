"""Slow clients are cut off: a real server on 127.0.0.1 with ``server_config`` (both of uvicorn's
HTTP parsers), a client that dribbles its headers or its body, and an idle kept-alive
connection."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn

from service.api.limits import server_config
from service.config import Settings

TIMEOUT_S = 1.0


async def _echo(scope, receive, send) -> None:
    """Reads the whole body, then answers its length."""
    if scope["type"] != "http":
        return
    size, more = 0, True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            return
        size += len(message.get("body", b""))
        more = message.get("more_body", False)
    body = str(size).encode()
    headers = [(b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@pytest.fixture(params=["httptools", "h11"])
def server(request) -> Iterator[tuple[int, uvicorn.Config]]:
    settings = Settings(
        header_timeout_s=TIMEOUT_S, body_timeout_s=TIMEOUT_S, keep_alive_timeout_s=TIMEOUT_S
    )
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = server_config(_echo, settings, "127.0.0.1", sock.getsockname()[1], request.param)
    config.lifespan = "off"
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    for _ in range(100):
        if server.started:
            break
        time.sleep(0.05)
    yield sock.getsockname()[1], config
    server.should_exit = True
    thread.join(5)
    sock.close()


def _dribble(port: int, head: bytes, slow: bytes, every_s: float = 0.2) -> tuple[float, bytes]:
    """Send ``head`` at once, then ``slow`` a byte every ``every_s``; return how long the server
    kept the connection open, and what it answered."""
    client = socket.create_connection(("127.0.0.1", port))
    client.settimeout(every_s)
    started, answer = time.monotonic(), b""
    try:
        client.sendall(head)
        for byte in slow:
            client.sendall(bytes([byte]))
            try:
                chunk = client.recv(4096)
            except TimeoutError:
                continue
            answer += chunk
            if not chunk:
                break
        else:
            raise AssertionError("the server took the whole slow request")
    except (BrokenPipeError, ConnectionResetError):
        pass
    finally:
        client.close()
    return time.monotonic() - started, answer


def test_a_client_dribbling_its_headers_is_cut_off_within_the_timeout(server):
    port, _ = server
    held, answer = _dribble(port, b"", b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100)
    assert held < TIMEOUT_S + 0.6
    assert answer.startswith(b"HTTP/1.1 408") and b"request_timeout" in answer


def test_a_client_dribbling_its_body_is_cut_off_within_the_timeout(server):
    port, _ = server
    head = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"
    held, answer = _dribble(port, head, b"b" * 100)
    assert held < TIMEOUT_S + 0.6
    assert answer.startswith(b"HTTP/1.1 408")


def test_a_prompt_client_is_served_and_an_idle_kept_alive_connection_closes(server):
    port, config = server
    client = socket.create_connection(("127.0.0.1", port))
    client.settimeout(5)
    try:
        client.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc")
        assert client.recv(4096).startswith(b"HTTP/1.1 200")
        started = time.monotonic()
        assert client.recv(4096) == b""  # closed by the server, idle
        assert time.monotonic() - started < TIMEOUT_S + 0.6
    finally:
        client.close()
    assert config.limit_concurrency == Settings().max_concurrency == 200


@pytest.mark.parametrize(
    "field", ["header_timeout_s", "body_timeout_s", "keep_alive_timeout_s", "max_concurrency"]
)
def test_timeouts_and_the_concurrency_limit_must_be_positive(field):
    with pytest.raises(ValueError, match=field):
        Settings(**{field: 0})
