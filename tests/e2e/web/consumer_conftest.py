"""Fixtures of the consumer pages: the app with the consumer pages served by uvicorn, a code
sender that records the one-time codes, a bottle whose PIN is known and whose batch was
shipped into Hangzhou, a pledgee, a custodian and a store with their API keys, settling the
chain, and screenshots (kept as artifacts and, on request, for the docs).

Import what a test module uses from here (``from tests.e2e.web.consumer_conftest import ...``);
the browser fixtures (``launch``, ``page_errors``) come from this folder's conftest.py.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from PIL import Image
from playwright.sync_api import Locator, Page, expect
from sqlalchemy import text

from chain.backends import free_port
from service.api.app import create_app
from service.bootstrap import Container
from service.identity.app import tenancy
from service.identity.app.commands import CreateApiKey, CreateOrganisation
from service.identity.app.organisations import SYSTEM_ACTOR, create_api_key, create_organisation
from tests.e2e.web.conftest import HANGZHOU, MOBILE, ZHEJIANG, LiveServer, _org, _site
from tests.integration.service.conftest import auth
from tests.integration.service.consumer.helpers import (
    PinnedBatch,
    RecordingOtpSender,
    pinned_batch,
)

DIGITAL_LINK = "/01/{gtin}/10/{lot}/21/{serial}"
#: Where ``TRACECERT_DOCS_IMG`` is unset, no picture for the docs is written.
DOCS_IMG_BUDGET = 150_000
UNSTICK_BAR = (
    "p => { const bar = document.querySelector('.bar'); if (bar) bar.style.position = p; }"
)


# ----------------------------------------------------------------------------- server
def consumer_app(container: Container) -> FastAPI:
    """The real app, as ``tracecert run`` serves it (workers off: tests drive the batcher)."""
    return create_app(container, manage_workers=False)


@pytest.fixture
def otp(container: Container) -> RecordingOtpSender:
    """The server's one-time codes, recorded instead of sent."""
    sender = RecordingOtpSender()
    container.otp_sender = sender
    container.consumers = replace(container.consumers, otp_sender=sender)
    certificates = container.certificates
    container.certificates = replace(
        certificates, services=replace(certificates.services, notices=sender)
    )
    return sender


@pytest.fixture
def site(container: Container, otp: RecordingOtpSender) -> Iterator[LiveServer]:
    """The app under uvicorn on a free port (workers off: tests drive the claim batcher)."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(consumer_app(container), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, name="uvicorn-consumer", daemon=True)
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
def client(site: LiveServer) -> Iterator[httpx.Client]:
    """A JSON client on the live server, for the setup and for checking what changed."""
    with httpx.Client(base_url=site.url, timeout=30, headers={"Accept": "application/json"}) as c:
        yield c


# ----------------------------------------------------------------------------- sign-in
SESSION = "tracecert.consumer.session"  # the page's localStorage key


def sign_in_on_page(page: Page, otp: RecordingOtpSender, destination: str) -> None:
    """Address, then the code the server 'sent' (recorded), as a visitor would type them."""
    signin = page.get_by_test_id("signin")
    expect(signin).to_be_visible()
    signin.locator("input[name='destination']").fill(destination)
    signin.locator(".destination-form button[type='submit']").click()
    code = signin.locator("input[name='code']")
    expect(code).to_be_visible()
    expect(signin.locator(".sent")).to_contain_text(re.compile(r"\*\*\*|@"))
    code.fill(otp.last(destination))
    signin.locator(".code-form button[type='submit']").click()
    expect(page.get_by_test_id("who")).to_be_visible()
    expect(signin).to_be_hidden()


def token_of(page: Page) -> dict[str, str]:
    stored = page.evaluate(f"JSON.parse(localStorage.getItem('{SESSION}'))")
    return {"Authorization": f"Bearer {stored['token']}"}


# ----------------------------------------------------------------------------- bottles
@dataclass
class Bottle:
    """One bottle of an anchored batch that went factory -> distributor A (Hangzhou)."""

    lot: PinnedBatch
    serial: str
    pin: str

    @property
    def path(self) -> str:
        batch = self.lot.batch
        return DIGITAL_LINK.format(gtin=batch["gtin"], lot=batch["lot"], serial=self.serial)


def _scan(client: httpx.Client, key: str, **body: Any) -> None:
    response = client.post("/scans", json=body, headers=auth(key))
    assert response.status_code == 200, response.text


@pytest.fixture
def bottle(client: httpx.Client, site: LiveServer, keys: Any) -> Bottle:
    """A bottle nobody has claimed, genuine (anchored), shipped to distributor A's Hangzhou
    warehouse and received there: its journey ends in region 330106."""
    lot = pinned_batch(client, site.container, keys.factory, lot="LOT-CONSUMER")
    a, a_key = _org(client, keys, "Distributor A", "distributor")
    territory = client.put(
        f"/organisations/{a}/territories", json={"regions": [ZHEJIANG]}, headers=auth(keys.brand)
    )
    assert territory.status_code == 200, territory.text
    plant = _site(client, keys.admin, keys.factory_org, "Plant 1", "plant", "520382")
    warehouse = _site(client, a_key, a, "Hangzhou DC", "warehouse", HANGZHOU)
    with site.container.uow_factory.sessions() as s:
        (pallet,) = s.scalars(
            text(
                "SELECT u.sscc FROM logistic_units u JOIN batches b ON b.id = u.batch_id "
                "WHERE b.public_id = :p AND u.kind = 'pallet'"
            ),
            {"p": lot.batch["id"]},
        ).all()
    _scan(
        client,
        keys.factory,
        action="dispatch",
        code=pallet,
        site_id=plant,
        receiver_id=a,
        shipment="F-CONSUMER-1",
    )
    _scan(client, a_key, action="receive", code=pallet, site_id=warehouse)
    serial = lot.serials[0]
    return Bottle(lot, serial, lot.pins[serial])


# ----------------------------------------------------------------------------- screenshots
Shot = Callable[..., Path]  # (page, name, focus: Locator | None = None) -> the full-page PNG


def _docs_copy(source: Path, target: Path) -> None:
    """A copy small enough for the docs (under DOCS_IMG_BUDGET): palette colours, then half
    the pixels (one CSS pixel each) if that is not enough."""
    image = Image.open(source).convert("RGB")
    for scale in (1.0, 0.5):
        sized = (
            image
            if scale == 1.0
            else image.resize(
                (int(image.width * scale), int(image.height * scale)), Image.Resampling.LANCZOS
            )
        )
        buffer = io.BytesIO()
        sized.quantize(colors=64, method=Image.Quantize.MEDIANCUT).save(
            buffer, format="PNG", optimize=True
        )
        if buffer.tell() <= DOCS_IMG_BUDGET or scale == 0.5:
            target.write_bytes(buffer.getvalue())
            return


@pytest.fixture
def screenshot(tmp_path: Path, request: pytest.FixtureRequest) -> Shot:
    """Save a full-page screenshot under tmp_path (and $TRACECERT_TEST_ARTIFACTS/consumer if
    set) after checking the page fits the phone's width. With $TRACECERT_DOCS_IMG set (a
    folder, e.g. docs/img), a small copy named consumer-<name>.png goes there too: of the
    whole page, or of ``focus`` (an element) where the page is long and only that part matters."""
    folder = tmp_path / "screenshots"
    folder.mkdir()
    extra = os.environ.get("TRACECERT_TEST_ARTIFACTS")
    target = Path(extra) / "consumer" / request.node.name if extra else None
    docs = os.environ.get("TRACECERT_DOCS_IMG")

    def _shot(page: Page, name: str, focus: Locator | None = None) -> Path:
        # Against the phone's width, not innerWidth: mobile Chromium zooms out to fit content.
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= MOBILE["width"], f"{name}: the page is {width}px wide, wider than the phone"
        path = folder / f"{name}.png"
        page.screenshot(path=str(path), full_page=True, animations="disabled", caret="hide")
        if target is not None:
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target / path.name)
        if docs:
            Path(docs).mkdir(parents=True, exist_ok=True)
            source = path
            if focus is not None:
                source = folder / f"{name}-focus.png"
                # The sticky bar would cover the top of an element scrolled into view (set
                # through the CSSOM: the page's CSP refuses an injected stylesheet).
                page.evaluate(UNSTICK_BAR, "static")
                try:
                    focus.screenshot(path=str(source), animations="disabled", caret="hide")
                finally:
                    page.evaluate(UNSTICK_BAR, "")
            _docs_copy(source, Path(docs) / f"consumer-{name}.png")
        return path

    return _shot


# ----------------------------------------------------------------------------- chain, partners
PLEDGEE, CUSTODIAN, STORE = "Baijiu Credit", "Cellar Vault", "Flagship Store"


@dataclass
class Partners:
    """A pledgee, a custodian and the brand's store, each with its API key."""

    pledgee: int
    pledgee_key: str
    custodian: int
    custodian_key: str
    store: int
    store_key: str

    def deal(
        self, client: httpx.Client, key: str, certificate_id: str, kind: str
    ) -> dict[str, Any]:
        """The open ``kind`` of deal (offered or active) the partner holding ``key`` has on the
        certificate."""
        response = client.get("/deals", headers=auth(key))
        assert response.status_code == 200, response.text
        (found,) = [
            d
            for d in response.json()
            if d["certificate"]["id"] == certificate_id
            and d["kind"] == kind
            and d["status"] in ("offered", "active")
        ]
        return dict(found)

    def act(self, client: httpx.Client, key: str, deal_id: str, verb: str) -> dict[str, Any]:
        """``POST /deals/{id}/{verb}`` as the partner would (with an Idempotency-Key)."""
        response = client.post(
            f"/deals/{deal_id}/{verb}",
            headers={**auth(key), "Idempotency-Key": f"{verb}-{deal_id}"},
        )
        assert response.status_code == 200, response.text
        return dict(response.json())


@pytest.fixture
def partners(site: LiveServer, keys: Any) -> Partners:
    """Baijiu Credit (pledgee), Cellar Vault (custodian) and the brand's Flagship Store."""
    container = site.container
    uows, clock, pepper = container.uow_factory, container.clock, container.settings.pepper

    def org(name: str, kind: str, brand: int | None = None) -> tuple[int, str]:
        made = create_organisation(
            CreateOrganisation(SYSTEM_ACTOR, name, kind, brand), uows(), clock
        )
        assert made.id is not None
        key = create_api_key(
            CreateApiKey(SYSTEM_ACTOR, made.id, kind), uows(), clock, pepper
        ).secret_key
        return made.id, key

    pledgee, pledgee_key = org(PLEDGEE, "pledgee")
    custodian, custodian_key = org(CUSTODIAN, "custodian")
    for partner, role in ((pledgee, "pledgee"), (custodian, "custodian")):
        tenancy.set_partner(SYSTEM_ACTOR, partner, [role], uows(), clock, brand_id=keys.brand_org)
    store, store_key = org(STORE, "store", keys.brand_org)
    return Partners(pledgee, pledgee_key, custodian, custodian_key, store, store_key)
