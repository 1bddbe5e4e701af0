"""Browser fixtures for the scanner page: the real app served by uvicorn on 127.0.0.1 (SQLite,
py-evm) and Debian's headless Chromium driven by Playwright, with a fake camera when asked.

Chromium is ``/usr/bin/chromium`` (``TRACECERT_CHROMIUM`` overrides it). Without it the tests
skip, unless ``TRACECERT_REQUIRE_BROWSER=1`` (CI), where they fail. Screenshots go to
``tmp_path`` and, when ``TRACECERT_TEST_ARTIFACTS`` is set, are copied there too.
"""

from __future__ import annotations

import io
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import uvicorn
from PIL import Image
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Playwright,
    Request,
    sync_playwright,
)
from sqlalchemy import text

from chain.backends import free_port
from service.api.app import create_app
from service.bootstrap import Container
from service.factory.storage.printing import QrLabelPrinter
from tests.integration.service import conftest as service_fixtures
from tests.integration.service.conftest import auth, make_batch

# The service's integration fixtures (py-evm chain deployed once per session, a bootstrapped
# container, keys of a brand and its factories), reused as they are over this folder's
# SQLite-only ``database_url``.
service_chain = service_fixtures.service_chain
chain = service_fixtures.chain
settings = service_fixtures.settings
container = service_fixtures.container
keys = service_fixtures.keys

CHROMIUM = Path(os.environ.get("TRACECERT_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
]
#: A phone's viewport: the page is mobile first.
MOBILE = {"width": 390, "height": 844}
HANGZHOU, NANJING, ZHEJIANG, JIANGSU = "330106", "320102", "330000", "320000"


# ----------------------------------------------------------------------------- database
@pytest.fixture
def database_url(sqlite_template: Path, tmp_path: Path) -> str:
    """SQLite only: these tests exercise the page; the API's dialects are tested elsewhere."""
    path = tmp_path / "tracecert.db"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite:///{path}"


# ----------------------------------------------------------------------------- server
@dataclass
class LiveServer:
    url: str
    container: Container

    def scan_events(self, code: str | None = None, by: int | None = None) -> int:
        """How many scans the server recorded (of ``code``, made by organisation ``by``)."""
        where = {"code = :code": code, "organisation_id = :by": by}
        clauses = [clause for clause, value in where.items() if value is not None]
        sql = "SELECT count(*) FROM scan_events"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        with self.container.uow_factory.sessions() as s:
            return int(s.execute(text(sql), {"code": code, "by": by}).scalar_one())


@pytest.fixture
def live_server(container: Container) -> Iterator[LiveServer]:
    """The real app under uvicorn in a background thread on a free port."""
    app = create_app(container, manage_workers=False)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, name="uvicorn-scanner", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", container)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def http(live_server: LiveServer) -> Iterator[httpx.Client]:
    """An API client on the live server (for the setup and for checking what changed)."""
    with httpx.Client(base_url=live_server.url, timeout=30) as client:
        yield client


# ----------------------------------------------------------------------------- channel
@dataclass
class Channel:
    """Factory -> distributor A (Zhejiang) -> stores S1 (Hangzhou) and S2 (Jiangsu, outside
    A's territory), with a batch of 4 cases of 6 on 2 pallets, nothing shipped yet."""

    factory: str
    a: str
    s2: str
    a_org: int
    s1_org: int
    s2_org: int
    f_site: int
    a_site: int
    s2_site: int
    pallets: list[str]
    cases: list[str]
    pallet_cases: dict[str, list[str]]


def _org(http: httpx.Client, keys: Any, name: str, kind: str, parent: int | None = None):
    org = http.post(
        "/organisations",
        json={"name": name, "kind": kind, "brand_id": keys.brand_org},
        headers=auth(keys.admin),
    ).json()
    if parent is not None:
        response = http.put(
            f"/organisations/{org['id']}/channel-parent",
            json={"channel_parent_id": parent},
            headers=auth(keys.brand),
        )
        assert response.status_code == 200, response.text
    key = http.post(
        f"/organisations/{org['id']}/api-keys", json={"role": kind}, headers=auth(keys.admin)
    ).json()["api_key"]
    return org["id"], key


def _site(http: httpx.Client, key: str, org: int, name: str, kind: str, region: str) -> int:
    response = http.post(
        f"/organisations/{org}/sites",
        json={"name": name, "kind": kind, "region": region},
        headers=auth(key),
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


@pytest.fixture
def channel(http: httpx.Client, live_server: LiveServer, keys: Any) -> Channel:
    a, a_key = _org(http, keys, "Distributor A", "distributor")
    s1, _ = _org(http, keys, "Store S1", "store", parent=a)
    s2, s2_key = _org(http, keys, "Store S2", "store", parent=a)
    for org, region in ((a, ZHEJIANG), (s1, HANGZHOU), (s2, JIANGSU)):
        response = http.put(
            f"/organisations/{org}/territories",
            json={"regions": [region]},
            headers=auth(keys.brand),
        )
        assert response.status_code == 200, response.text
    batch = make_batch(http, keys.factory, "LOT-WEB", 24)  # 4 cases of 6 on 2 pallets of 2
    with live_server.container.uow_factory.sessions() as s:
        rows = s.execute(
            text(
                "SELECT u.sscc, u.kind, p.sscc FROM logistic_units u "
                "JOIN batches b ON b.id = u.batch_id "
                "LEFT JOIN logistic_units p ON p.id = u.parent_id "
                "WHERE b.public_id = :p ORDER BY u.kind DESC, u.position"
            ),
            {"p": batch["id"]},
        ).all()
    pallets = [u for u, kind, _ in rows if kind == "pallet"]
    cases = [u for u, kind, _ in rows if kind == "case"]
    pallet_cases = {p: [u for u, kind, parent in rows if parent == p] for p in pallets}
    return Channel(
        factory=keys.factory,
        a=a_key,
        s2=s2_key,
        a_org=a,
        s1_org=s1,
        s2_org=s2,
        f_site=_site(http, keys.admin, keys.factory_org, "Plant 1", "plant", "520382"),
        a_site=_site(http, a_key, a, "Hangzhou DC", "warehouse", HANGZHOU),
        s2_site=_site(http, s2_key, s2, "Nanjing shop", "shop", NANJING),
        pallets=pallets,
        cases=cases,
        pallet_cases=pallet_cases,
    )


# ----------------------------------------------------------------------------- browser
def require_browser() -> None:
    if CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK):
        return
    message = f"Debian's chromium is not installed at {CHROMIUM} (apt-get install chromium)"
    if os.environ.get("TRACECERT_REQUIRE_BROWSER") == "1":
        pytest.fail(message + " and TRACECERT_REQUIRE_BROWSER=1")
    pytest.skip(message)


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    require_browser()
    with sync_playwright() as p:
        yield p


Launch = Callable[..., BrowserContext]


@pytest.fixture
def launch(playwright: Playwright) -> Iterator[Launch]:
    """Start Chromium (optionally with ``camera``, a .y4m file, as the fake camera) and return
    a phone-sized context on it; everything started is closed after the test."""
    browsers: list[Browser] = []

    def _launch(camera: Path | None = None) -> BrowserContext:
        args = list(CHROMIUM_ARGS)
        if camera is not None:
            args.append(f"--use-file-for-fake-video-capture={camera}")
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=args
        )
        browsers.append(browser)
        context = browser.new_context(
            viewport=MOBILE, device_scale_factor=2, is_mobile=True, has_touch=True
        )
        context.set_default_timeout(15_000)
        return context

    yield _launch
    for browser in browsers:
        browser.close()


@pytest.fixture
def page_errors() -> list[str]:
    """What went wrong on the pages a test opens (asserted empty): uncaught errors, console
    errors, and any request that leaves the page's origin (no CDN, no font, no WASM fetch)."""
    return []


def _console(errors: list[str], message: ConsoleMessage) -> None:
    # Chromium logs every 4xx answer and every request made offline as "Failed to load
    # resource"; the page shows those itself, so only other errors count.
    if message.type == "error" and not message.text.startswith("Failed to load resource"):
        errors.append(f"console: {message.text}")


def _request(errors: list[str], origin: str, request: Request) -> None:
    if not request.url.startswith((origin + "/", "data:", "blob:")):
        errors.append(f"request outside {origin}: {request.url}")


def open_page(context: BrowserContext, url: str, errors: list[str]) -> Page:
    page = context.new_page()
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(url))
    page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
    page.on("console", lambda message: _console(errors, message))
    page.on("request", lambda request: _request(errors, origin, request))
    page.goto(url)
    page.wait_for_selector("html[data-ready='true']", state="attached")
    return page


Shot = Callable[[Page, str], Path]


@pytest.fixture
def shot(tmp_path: Path, request: pytest.FixtureRequest) -> Shot:
    """Save a full-page screenshot under tmp_path (and $TRACECERT_TEST_ARTIFACTS if set),
    after checking that the page fits the phone's width (no sideways scrolling)."""
    folder = tmp_path / "screenshots"
    folder.mkdir()
    extra = os.environ.get("TRACECERT_TEST_ARTIFACTS")
    target = Path(extra) / "scanner" / request.node.name if extra else None

    def _shot(page: Page, name: str) -> Path:
        # Against the phone's width, not innerWidth: mobile Chromium zooms out to fit content.
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= MOBILE["width"], f"{name}: the page is {width}px wide, wider than the phone"
        path = folder / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        if target is not None:
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target / path.name)
        return path

    return _shot


# ----------------------------------------------------------------------------- fake camera
def write_y4m(path: Path, data: str, width: int = 640, height: int = 480, frames: int = 10) -> Path:
    """A YUV4MPEG2 (4:2:0) video of ``data`` as a QR code centred on white, for Chromium's
    ``--use-file-for-fake-video-capture`` (which loops it)."""
    png = QrLabelPrinter().qr_png(data, module_px=8)
    qr = Image.open(io.BytesIO(png)).convert("L")
    assert qr.width <= width and qr.height <= height, "the QR code does not fit the frame"
    frame = Image.new("L", (width, height), 255)
    frame.paste(qr, ((width - qr.width) // 2, (height - qr.height) // 2))
    luma = frame.tobytes()
    chroma = bytes([128]) * ((width // 2) * (height // 2))  # no colour
    with path.open("wb") as f:
        f.write(f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode("ascii"))
        for _ in range(frames):
            f.write(b"FRAME\n" + luma + chroma + chroma)
    return path
