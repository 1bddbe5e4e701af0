"""The scanner page in headless Chromium against the real API: typed codes, the camera (a fake
video of a QR label), diversion warnings, offline capture with upload, and refused codes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, expect

from service.channel.api import scanner as scanner_page
from service.kernel.gs1 import make_sscc
from tests.e2e.web.conftest import Channel, Launch, LiveServer, Shot, open_page, write_y4m
from tests.integration.service.conftest import auth

pytestmark = pytest.mark.slow

RESOLVER = "https://id.tracecert.example"
QUEUE = "tracecert.scanner.queue"
RED = "rgb(196, 0, 0)"


def api_scan(http: httpx.Client, key: str, **body: object) -> dict:
    response = http.post("/scans", json=body, headers=auth(key))
    assert response.status_code == 200, response.text
    return response.json()


def factory_ships(http: httpx.Client, c: Channel, code: str, ref: str) -> None:
    """The factory dispatches ``code`` (pallet or case) to distributor A."""
    api_scan(
        http,
        c.factory,
        action="dispatch",
        code=code,
        site_id=c.f_site,
        receiver_id=c.a_org,
        shipment=ref,
    )


def sign_in(page: Page, key: str, site_id: int) -> None:
    page.get_by_label("API 密钥 API key").fill(key)
    page.get_by_role("button", name="登录 Sign in").click()
    expect(page.locator("#app")).to_be_visible()
    page.get_by_label("站点 Site").select_option(str(site_id))


def type_code(page: Page, code: str) -> None:
    field = page.get_by_label("手动输入 Enter code")
    field.fill(code)
    field.press("Enter")


def result(page: Page, code: str):
    return page.locator(f"#results li[data-code='{code}']")


def badge(page: Page):
    return page.get_by_test_id("queue-count")


def scanner(live_server: LiveServer, context: BrowserContext, errors: list[str]) -> Page:
    return open_page(context, f"{live_server.url}/scanner", errors)


def test_typed_pallet_is_received_and_lands_in_stock(
    live_server: LiveServer,
    http: httpx.Client,
    channel: Channel,
    launch: Launch,
    shot: Shot,
    page_errors: list[str],
) -> None:
    c = channel
    pallet = c.pallets[0]
    factory_ships(http, c, pallet, "F-0001")
    page = scanner(live_server, launch(), page_errors)
    shot(page, "01-sign-in")
    sign_in(page, c.a, c.a_site)
    expect(page.get_by_test_id("org-name")).to_have_text("Distributor A")

    type_code(page, pallet)
    card = result(page, pallet)
    expect(card).to_have_attribute("data-outcome", "applied")
    expect(card).to_contain_text("件数 Items: 12")
    expect(card).to_contain_text("托盘 pallet")
    expect(card).to_have_attribute("data-alert", "false")
    expect(card.locator(".diversion")).to_have_count(0)
    shot(page, "02-pallet-received")

    stock = http.get("/stock", headers=auth(c.a)).json()
    assert stock["totals"]["cases"] == 2 and stock["totals"]["items"] == 12
    assert set(c.pallet_cases[pallet]) <= _codes(stock)
    assert live_server.scan_events(pallet, by=c.a_org) == 1
    assert page_errors == []


def _codes(stock: dict) -> set[str]:
    return {str(v) for row in stock["cases"] for v in row.values()}


def test_camera_reads_a_case_label_once_however_many_frames_show_it(
    live_server: LiveServer,
    http: httpx.Client,
    channel: Channel,
    launch: Launch,
    shot: Shot,
    page_errors: list[str],
    tmp_path: Path,
) -> None:
    c = channel
    case = c.cases[2]
    factory_ships(http, c, case, "F-0002")
    uri = f"{RESOLVER}/00/{case}"
    video = write_y4m(tmp_path / "label.y4m", uri)
    page = scanner(live_server, launch(camera=video), page_errors)
    sign_in(page, c.a, c.a_site)

    page.get_by_role("button", name="开启摄像头 Start camera").click()
    expect(page.locator("#camera-status")).to_have_attribute("data-camera", "on")
    card = result(page, uri)
    expect(card).to_have_attribute("data-outcome", "applied", timeout=20_000)
    expect(card).to_contain_text(case)
    expect(card).to_contain_text("件数 Items: 6")
    shot(page, "01-camera-read")

    # The label stays in view (every frame of the looped video shows it) for longer than the
    # 3 s window: the decoder keeps reading it, the page sends it once.
    reads = int(page.locator("#camera-status").get_attribute("data-reads") or "0")
    page.wait_for_timeout(3_500)
    later = int(page.locator("#camera-status").get_attribute("data-reads") or "0")
    assert later >= reads + 5, f"the camera stopped decoding ({reads} -> {later} reads)"
    expect(page.locator("#results li")).to_have_count(1)
    assert live_server.scan_events(case, by=c.a_org) == 1
    assert live_server.scan_events(by=c.a_org) == 1

    page.get_by_role("button", name="关闭摄像头 Stop camera").click()
    expect(page.locator("#camera")).to_be_hidden()
    assert page_errors == []


def test_a_receipt_outside_the_territory_shows_a_red_diversion_warning(
    live_server: LiveServer,
    http: httpx.Client,
    channel: Channel,
    launch: Launch,
    shot: Shot,
    page_errors: list[str],
) -> None:
    c = channel
    pallet = c.pallets[0]
    case = c.pallet_cases[pallet][0]
    factory_ships(http, c, pallet, "F-0001")
    api_scan(http, c.a, action="receive", code=pallet, site_id=c.a_site)
    api_scan(
        http,
        c.a,
        action="dispatch",
        code=case,
        site_id=c.a_site,
        receiver_id=c.s2_org,
        shipment="A-0002",
    )

    page = scanner(live_server, launch(), page_errors)
    sign_in(page, c.s2, c.s2_site)
    type_code(page, case)
    card = result(page, case)
    expect(card).to_have_attribute("data-alert", "true")
    warning = card.get_by_role("alert")
    expect(warning).to_be_visible()
    expect(warning).to_contain_text("窜货预警 Diversion alert")
    expect(warning).to_contain_text("Distributor A")
    assert warning.evaluate("e => getComputedStyle(e).backgroundColor") == RED
    shot(page, "01-diversion")
    assert page_errors == []


def test_scans_made_offline_are_queued_then_uploaded_once(
    live_server: LiveServer,
    http: httpx.Client,
    channel: Channel,
    launch: Launch,
    shot: Shot,
    page_errors: list[str],
) -> None:
    c = channel
    cases = c.cases[2:4]
    for n, case in enumerate(cases):
        factory_ships(http, c, case, f"F-01{n}")
    before = live_server.scan_events()
    context = launch()
    page = scanner(live_server, context, page_errors)
    sign_in(page, c.a, c.a_site)

    context.set_offline(True)
    expect(page.locator("#net")).to_have_attribute("data-state", "offline")
    for case in cases:
        type_code(page, case)
        expect(result(page, case)).to_have_attribute("data-outcome", "queued")
    expect(badge(page)).to_have_text("2")
    expect(result(page, cases[0])).to_contain_text("待上传 queued")
    shot(page, "01-queued-offline")
    assert live_server.scan_events() == before
    queued = page.evaluate(f"localStorage.getItem('{QUEUE}')")
    assert [e["body"]["code"] for e in json.loads(queued)] == cases

    context.set_offline(False)  # the page uploads by itself on the 'online' event
    expect(badge(page)).to_have_text("0")
    for case in cases:
        expect(result(page, case)).to_have_attribute("data-outcome", "applied")
    expect(page.locator("#upload-status")).to_contain_text("已处理 applied: 2")
    shot(page, "02-uploaded")
    assert live_server.scan_events() == before + 2
    stock = http.get("/stock", headers=auth(c.a)).json()
    assert stock["totals"]["cases"] == 2 and set(cases) <= _codes(stock)

    # The same queue uploaded again (as after a crash before the answer): duplicates, no change.
    page.evaluate("([key, value]) => localStorage.setItem(key, value)", [QUEUE, queued])
    page.reload()
    page.wait_for_selector("html[data-ready='true']", state="attached")
    expect(badge(page)).to_have_text("0")  # the page uploads what it finds queued at start
    for case in cases:
        expect(result(page, case)).to_have_attribute("data-outcome", "duplicate")
    shot(page, "03-uploaded-again")
    assert live_server.scan_events() == before + 2
    assert http.get("/stock", headers=auth(c.a)).json()["totals"]["cases"] == 2
    assert page_errors == []


def test_an_unknown_code_shows_the_servers_reason_and_queues_nothing(
    live_server: LiveServer,
    channel: Channel,
    launch: Launch,
    shot: Shot,
    page_errors: list[str],
) -> None:
    c = channel
    unknown = make_sscc(0, "0614141", 999_999_999)
    page = scanner(live_server, launch(), page_errors)
    sign_in(page, c.a, c.a_site)
    before = live_server.scan_events()
    type_code(page, unknown)
    card = result(page, unknown)
    expect(card).to_have_attribute("data-outcome", "error")
    expect(card.locator(".detail")).to_contain_text(
        re.compile(r"No case, pallet or item has the code .*\(code_not_found\)")
    )
    expect(badge(page)).to_have_text("0")
    assert page.evaluate(f"localStorage.getItem('{QUEUE}')") in (None, "[]")
    assert live_server.scan_events() == before
    shot(page, "01-unknown-code")
    assert page_errors == []


def test_dispatch_goes_to_the_chosen_child_under_the_sessions_shipment_reference(
    live_server: LiveServer,
    http: httpx.Client,
    channel: Channel,
    launch: Launch,
    shot: Shot,
    page_errors: list[str],
) -> None:
    c = channel
    pallet = c.pallets[0]
    first, second = c.pallet_cases[pallet]
    factory_ships(http, c, pallet, "F-0001")
    api_scan(http, c.a, action="receive", code=pallet, site_id=c.a_site)

    page = scanner(live_server, launch(), page_errors)
    sign_in(page, c.a, c.a_site)
    page.get_by_text("发货 Dispatch").click()
    ref = page.get_by_test_id("shipment-ref")
    expect(ref).to_have_text(re.compile(r"^WEB-\d{8}-[0-9A-F]{8}$"))
    page.get_by_label("收货方 Receiver").select_option(str(c.s1_org))
    type_code(page, first)
    expect(result(page, first)).to_have_attribute("data-outcome", "applied")
    shot(page, "01-dispatched")
    shipment_id = http.get("/shipments?direction=out", headers=auth(c.a)).json()[0]["id"]
    shipment = http.get(f"/shipments/{shipment_id}", headers=auth(c.a)).json()
    assert shipment["ref"] == ref.text_content()
    assert shipment["receiver"]["organisation_id"] == c.s1_org
    assert [line["code"] for line in shipment["dispatched"]] == [first]

    # "New shipment" starts another reference; a typed organisation id overrides the list.
    page.get_by_role("button", name="新发货单 New shipment").click()
    expect(ref).not_to_have_text(shipment["ref"])
    page.get_by_label("或机构编号 or organisation id").fill(str(c.s2_org))
    type_code(page, second)
    expect(result(page, second)).to_have_attribute("data-outcome", "applied")
    outbound = http.get("/shipments?direction=out", headers=auth(c.a)).json()
    assert {(s["ref"], s["receiver_id"]) for s in outbound} == {
        (shipment["ref"], c.s1_org),
        (ref.text_content(), c.s2_org),
    }
    assert page_errors == []


def test_a_refused_upload_keeps_the_queue_until_the_bad_scan_is_removed(
    live_server: LiveServer,
    http: httpx.Client,
    channel: Channel,
    launch: Launch,
    shot: Shot,
    page_errors: list[str],
) -> None:
    c = channel
    good = c.cases[2]
    factory_ships(http, c, good, "F-0003")
    bad = make_sscc(0, "0614141", 999_999_998)
    page = scanner(live_server, launch(), page_errors)
    sign_in(page, c.a, c.a_site)
    page.get_by_label("离线模式 Work offline").check()  # forced offline: the network is up
    expect(page.locator("#net")).to_have_attribute("data-state", "offline")
    type_code(page, good)
    type_code(page, bad)
    expect(badge(page)).to_have_text("2")

    # The server validates an upload as a whole: one unknown code refuses it, nothing is kept.
    page.get_by_role("button", name=re.compile("上传 Upload")).click()
    status = page.locator("#upload-status")
    expect(status).to_contain_text("上传失败 Upload refused")
    expect(status).to_contain_text("code_not_found")
    expect(badge(page)).to_have_text("2")
    shot(page, "01-upload-refused")
    assert live_server.scan_events(by=c.a_org) == 0

    result(page, bad).get_by_role("button", name="移除 Remove").click()
    expect(badge(page)).to_have_text("1")
    page.get_by_label("离线模式 Work offline").uncheck()  # back online: uploads what is left
    expect(badge(page)).to_have_text("0")
    expect(result(page, good)).to_have_attribute("data-outcome", "applied")
    assert live_server.scan_events(by=c.a_org) == 1
    assert page_errors == []


def test_the_page_and_only_its_own_files_are_served(
    live_server: LiveServer, http: httpx.Client, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    page = http.get("/scanner")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.headers["cache-control"] == "no-cache"
    csp = page.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self' 'wasm-unsafe-eval'" in csp
    assert "https:" not in csp and "unsafe-inline" not in csp
    assert re.search(r'<script type="module" src="scanner/scanner\.js\?v=[0-9a-f]{12}">', page.text)

    for name, kind in (("scanner.js", "text/javascript"), ("scanner.css", "text/css")):
        response = http.get(f"/scanner/{name}")
        assert response.status_code == 200 and response.headers["content-type"].startswith(kind)
    module = http.get("/scanner/vendor/zxing-wasm/reader/index.js")
    assert module.headers["content-type"].startswith("text/javascript")
    assert 'from "../share.js"' in module.text  # resolved by the next whitelisted name
    assert http.get("/scanner/vendor/zxing-wasm/share.js").status_code == 200
    wasm = http.get("/scanner/vendor/zxing-wasm/reader/zxing_reader.wasm")
    assert wasm.headers["content-type"] == "application/wasm"
    assert wasm.content[:4] == b"\0asm"

    for path in (
        "/scanner/scanner.html",
        "/scanner/__init__.py",
        "/scanner/vendor/zxing-wasm/package.json",
        "/scanner/vendor/zxing-wasm/dist/full/zxing_full.wasm",
        "/scanner/vendor/..%2F..%2Fpyproject.toml",
        "/scanner/vendor/hardhat/package.json",
    ):
        response = http.get(path)
        assert response.status_code == 404, path
        assert response.json()["error"] == "not_found"

    monkeypatch.setattr(scanner_page, "NODE_MODULES", tmp_path / "no-node-modules")
    missing = http.get("/scanner/vendor/zxing-wasm/share.js")
    assert missing.status_code == 503
    assert "run scripts/run or scripts/test, which install node_modules" in missing.json()["detail"]
    assert http.get("/scanner").status_code == 200  # typed codes still work without the decoder


def _storage(page: Page, kind: str) -> dict[str, str]:
    return dict(
        page.evaluate(f"Object.fromEntries(Object.keys({kind}).map((k) => [k, {kind}.getItem(k)]))")
    )


def test_the_key_is_traded_for_a_session_that_ends_on_sign_out_or_expiry(
    live_server: LiveServer,
    http: httpx.Client,
    channel: Channel,
    launch: Launch,
    shot: Shot,
    page_errors: list[str],
) -> None:
    """Issue 12 item 18a: the API key is never stored; only a scanner session token, in
    sessionStorage; the page asks for the key again once the session is refused."""
    c = channel
    case = c.cases[3]
    factory_ships(http, c, case, "F-SESSION")
    page = scanner(live_server, launch(), page_errors)
    sign_in(page, c.a, c.a_site)
    local, tab = _storage(page, "localStorage"), _storage(page, "sessionStorage")
    assert not any(c.a in v for v in [*local.values(), *tab.values()])
    token = json.loads(tab["tracecert.scanner.token"])
    assert token.startswith("tcs_")
    assert http.get("/me", headers=auth(token)).status_code == 200
    assert http.get("/stock", headers=auth(token)).status_code == 403

    # The session ends (another device signed it out, or it expired): the next scan is queued
    # and the page asks for the key again.
    assert http.delete("/scanner/sessions/current", headers=auth(token)).status_code == 204
    type_code(page, case)
    expect(page.locator("#signin")).to_be_visible()
    expect(page.locator("#signin-error")).to_contain_text("paste the API key again")
    expect(badge(page)).to_have_text("1")
    assert "tracecert.scanner.token" not in _storage(page, "sessionStorage")
    shot(page, "01-session-ended")

    # Signing in again uploads the queued scan; "sign out" ends the new session on the server.
    sign_in(page, c.a, c.a_site)
    expect(badge(page)).to_have_text("0")
    expect(result(page, case)).to_have_attribute("data-outcome", "applied")
    second = json.loads(_storage(page, "sessionStorage")["tracecert.scanner.token"])
    assert second != token
    page.get_by_role("button", name="退出 Sign out").click()
    expect(page.locator("#signin")).to_be_visible()
    for _ in range(50):
        if http.get("/me", headers=auth(second)).status_code == 401:
            break
        page.wait_for_timeout(100)
    assert http.get("/me", headers=auth(second)).status_code == 401
    assert not any(c.a in v for v in _storage(page, "localStorage").values())
    assert page_errors == []
