"""The consumer pages in headless Chromium (a phone's viewport) against the real API: the scan
page a bottle's QR code opens (verdict, provenance, chain proof; zh and en), the claim through
the page (sign-in with a one-time code, pending, then confirmed), my certificates, a wrong PIN.
"""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import BrowserContext, expect
from sqlalchemy import text
from starlette.requests import Request

from service.consumer.api import pages
from tests.e2e.web.conftest import Launch, LiveServer, open_page
from tests.e2e.web.consumer_conftest import (
    SESSION,
    Bottle,
    Shot,
    bottle,
    client,
    otp,
    screenshot,
    sign_in_on_page,
    site,
    token_of,
)
from tests.integration.service.consumer.helpers import RecordingOtpSender, mint_claims

pytestmark = pytest.mark.slow

# Fixtures used here but defined in consumer_conftest (pytest finds them in this module).
__all__ = ["bottle", "client", "otp", "screenshot", "site"]

GREEN, RED = "rgb(29, 107, 53)", "rgb(196, 0, 0)"
BUYER = "buyer@example.com"
ZH = {"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"}


def chinese(context: BrowserContext) -> BrowserContext:
    context.set_extra_http_headers(ZH)
    return context


def scan_json(client: httpx.Client, bottle: Bottle) -> dict:
    response = client.get(bottle.path)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    return response.json()


def background(locator) -> str:
    return locator.evaluate("e => getComputedStyle(e).backgroundColor")


def certificate_rows(site: LiveServer) -> int:
    with site.container.uow_factory.sessions() as s:
        return int(s.execute(text("SELECT count(*) FROM certificates")).scalar_one())


# ----------------------------------------------------------------------------- scan page
def test_a_genuine_unclaimed_bottle_shows_the_verdict_provenance_and_its_chain_proof(
    site: LiveServer,
    client: httpx.Client,
    bottle: Bottle,
    launch: Launch,
    screenshot: Shot,
    page_errors: list[str],
) -> None:
    answer = scan_json(client, bottle)
    assert answer["verdict"] == "genuine"
    chain = answer["chain"]
    page = open_page(chinese(launch()), site.url + bottle.path, page_errors)
    assert page.evaluate("document.documentElement.lang") == "zh-CN"

    verdict = page.get_by_test_id("verdict")
    expect(verdict).to_have_attribute("data-verdict", "genuine")
    expect(verdict.locator(".verdict-title")).to_have_text("正品")
    assert background(verdict) == GREEN

    provenance = answer.get("provenance") or {}
    expect(page.get_by_test_id("gtin")).to_have_text(answer["gtin"])
    expect(page.get_by_test_id("lot")).to_have_text(answer["lot"])
    expect(page.get_by_test_id("batch")).to_have_text(answer["batch_id"])
    expect(page.get_by_test_id("production-date")).to_have_text(answer["production_date"])
    if (provenance.get("product") or {}).get("name"):
        expect(page.get_by_test_id("product-name")).to_have_text(provenance["product"]["name"])
    if provenance.get("factory"):
        expect(page.get_by_test_id("factory")).to_have_text(provenance["factory"]["name"])
    # The journey as the API tells it: shipped by the factory, received in Hangzhou.
    journey = provenance.get("journey") or []
    assert [step["step"] for step in journey] == ["shipped", "received"], journey
    steps = page.get_by_test_id("journey").locator("li")
    expect(steps).to_have_count(1 + len(journey))  # production first
    expect(steps.last).to_have_attribute("data-region", "330106")

    # The raw values, each exactly as the JSON has them, and the cast command built from them.
    for testid, value in (
        ("chain-batch-id", chain["chain_batch_id"]),
        ("token-id", chain["token_id"]),
        ("item-hash", chain["item_hash"]),
        ("leaf", chain["leaf"]),
        ("root", chain["root"]),
        ("anchor-tx", chain["anchor_tx_hash"]),
        ("anchor-block", str(chain["anchor_block_number"])),
    ):
        expect(page.get_by_test_id(testid)).to_have_text(value)
    contract = answer.get("contract")
    if contract:
        expect(page.get_by_test_id("contract")).to_have_text(contract["address"])
        expect(page.get_by_test_id("chain-id")).to_have_text(str(contract["chain_id"]))
    assert chain["proof"], "a batch of 12 has a proof"
    assert page.get_by_test_id("proof").locator("li").all_text_contents() == chain["proof"]
    command = page.get_by_test_id("cast-command").text_content() or ""
    assert '"verifyItem(bytes32,uint256,bytes32,bytes32[])(bool)"' in command
    assert f"{chain['chain_batch_id']} {chain['token_id']} {chain['item_hash']}" in command
    assert f'"[{",".join(chain["proof"])}]"' in command

    # Nobody has claimed it: the claim panel asks the visitor to sign in first.
    expect(page.get_by_test_id("certificate")).to_have_attribute("data-state", "none")
    expect(page.get_by_test_id("claim")).to_be_visible()
    expect(page.get_by_test_id("signin")).to_be_visible()
    screenshot(page, "scan-genuine-zh")

    page.get_by_test_id("other-lang").click()
    page.wait_for_selector("html[data-ready='true'][lang='en']", state="attached")
    assert page.url.endswith("?lang=en")
    expect(verdict.locator(".verdict-title")).to_have_text("Genuine")
    expect(page.get_by_test_id("root")).to_have_text(chain["root"])
    # The proof is folded; opening it shows how to check it without us.
    expect(page.get_by_role("heading", name="How to check it yourself")).to_be_hidden()
    page.get_by_test_id("chain-proof-summary").click()
    expect(page.get_by_role("heading", name="How to check it yourself")).to_be_visible()
    screenshot(page, "scan-genuine-en")
    assert page_errors == []


def test_an_unknown_code_shows_the_counterfeit_warning(
    site: LiveServer,
    client: httpx.Client,
    bottle: Bottle,
    launch: Launch,
    screenshot: Shot,
    page_errors: list[str],
) -> None:
    batch = bottle.lot.batch
    path = f"/01/{batch['gtin']}/10/{batch['lot']}/21/ZZZZZZZZZZZZZZZZZZZZ"
    assert client.get(path).json()["verdict"] == "unknown"
    page = open_page(launch(), site.url + path, page_errors)
    verdict = page.get_by_test_id("verdict")
    expect(verdict).to_have_attribute("data-verdict", "unknown")
    expect(verdict.locator(".verdict-title")).to_have_text("Likely counterfeit")
    expect(verdict).to_contain_text("Do not drink it")
    assert background(verdict) == RED
    for absent in ("claim", "chain-proof", "provenance"):
        expect(page.get_by_test_id(absent)).to_have_count(0)
    screenshot(page, "scan-unknown-en")

    page = open_page(chinese(launch()), site.url + path, page_errors)
    expect(page.get_by_test_id("verdict").locator(".verdict-title")).to_have_text("疑似假冒")
    assert page_errors == []


# ----------------------------------------------------------------------------- claim
def test_signing_in_and_claiming_on_the_scan_page_shows_pending_then_confirmed(
    site: LiveServer,
    client: httpx.Client,
    bottle: Bottle,
    otp: RecordingOtpSender,
    launch: Launch,
    screenshot: Shot,
    page_errors: list[str],
) -> None:
    page = open_page(chinese(launch()), site.url + bottle.path, page_errors)
    sign_in_on_page(page, otp, BUYER)
    screenshot(page, "claim-signed-in", page.get_by_test_id("claim"))
    headers = token_of(page)
    assert client.get("/me/certificates", headers=headers).json() == []

    page.get_by_label("PIN 码").fill(bottle.pin.lower())  # typed as a person would
    page.get_by_role("button", name="认领", exact=True).click()
    status = page.get_by_test_id("claim-status")
    expect(status).to_have_attribute("data-state", "claim_pending")
    expect(status).to_contain_text("已受理")
    expect(page.locator(".claim-form")).to_be_hidden()
    screenshot(page, "claim-pending", page.get_by_test_id("claim"))
    (pending,) = client.get("/me/certificates", headers=headers).json()
    assert pending["serial"] == bottle.serial and pending["state"] == "claim_pending"
    # Claimed where the bottle was last received: the journey's last region.
    assert pending["claim_region"] == "330106"

    mint_claims(
        site.container,
        lambda: client.get("/me/certificates", headers=headers).json()[0]["state"] == "active",
    )
    (minted,) = client.get("/me/certificates", headers=headers).json()
    assert minted["chain"]["tx_hash"]
    expect(status).to_have_attribute("data-state", "active")  # the page polls every second
    expect(status).to_contain_text("已确认")
    expect(status.locator(".claim-tx code")).to_have_text(minted["chain"]["tx_hash"])
    screenshot(page, "claim-confirmed", page.get_by_test_id("claim"))

    # Scanned again, the bottle says who claimed it nowhere, only when and where.
    page.reload()
    page.wait_for_selector("html[data-ready='true']", state="attached")
    certificate = page.get_by_test_id("certificate")
    expect(certificate).to_have_attribute("data-state", "active")
    expect(certificate).to_contain_text("330106")
    expect(page.get_by_test_id("claim")).to_have_count(0)
    assert page_errors == []


def test_my_certificates_lists_a_minted_claim_as_active_with_its_transaction(
    site: LiveServer,
    client: httpx.Client,
    bottle: Bottle,
    otp: RecordingOtpSender,
    launch: Launch,
    screenshot: Shot,
    page_errors: list[str],
) -> None:
    page = open_page(chinese(launch()), f"{site.url}/my-certificates", page_errors)
    expect(page.get_by_role("heading", name="我的酒证")).to_be_visible()
    screenshot(page, "my-certificates-sign-in")
    sign_in_on_page(page, otp, BUYER)
    expect(page.get_by_test_id("certificates-empty")).to_be_visible()

    # The same account claims (here through the API) and the claim is minted.
    headers = token_of(page)
    claimed = client.post(
        "/claims",
        json={"serial": bottle.serial, "pin": bottle.pin, "region": "330106"},
        headers=headers,
    )
    assert claimed.status_code == 202, claimed.text
    mint_claims(
        site.container,
        lambda: client.get("/me/certificates", headers=headers).json()[0]["state"] == "active",
    )
    (minted,) = client.get("/me/certificates", headers=headers).json()

    page.reload()
    page.wait_for_selector("html[data-ready='true']", state="attached")
    card = page.locator(f".certificate-card[data-id='{minted['id']}']")
    expect(card).to_have_attribute("data-state", "active")
    expect(page.get_by_test_id("certificates-empty")).to_be_hidden()
    expect(card.locator(".badge.state")).to_have_text("有效")
    expect(card.locator(".badge.pending")).to_have_count(0)
    expect(card.locator(".serial code")).to_have_text(bottle.serial)
    expect(card.locator(".tx code")).to_have_text(minted["chain"]["tx_hash"])
    expect(card.locator(".claimed")).to_contain_text(minted["claimed_at"][:10])
    expect(card.locator(".claimed")).to_contain_text("330106")
    expect(card.locator(".history li")).to_have_count(len(minted["history"]))
    if minted["product"]["name"]:
        expect(card.locator(".name")).to_have_text(minted["product"]["name"])
    screenshot(page, "my-certificates")

    page.get_by_role("button", name="退出登录").click()
    expect(page.get_by_test_id("signin")).to_be_visible()
    expect(page.locator(".certificate-card")).to_have_count(0)
    assert page.evaluate(f"localStorage.getItem('{SESSION}')") is None
    revoked = client.get(
        "/me/certificates", headers=headers
    )  # signing out ended the token on the server
    assert revoked.status_code == 401 and revoked.json()["error"] == "invalid_session"
    assert page_errors == []


def test_a_wrong_pin_shows_the_servers_sentence_and_claims_nothing(
    site: LiveServer,
    client: httpx.Client,
    bottle: Bottle,
    otp: RecordingOtpSender,
    launch: Launch,
    screenshot: Shot,
    page_errors: list[str],
) -> None:
    page = open_page(launch(), site.url + bottle.path, page_errors)
    sign_in_on_page(page, otp, BUYER)
    wrong = "0000-0000" if bottle.pin != "0000-0000" else "1111-1111"
    page.get_by_label("PIN").fill(wrong)
    page.get_by_role("button", name="Claim", exact=True).click()
    error = page.get_by_test_id("claim-error")
    expect(error).to_be_visible()
    expect(error).to_have_text(
        re.compile(r"^That PIN does not match this bottle; \d+ tries left before claiming locks\.$")
    )
    expect(page.get_by_test_id("claim-status")).to_be_hidden()
    expect(page.locator(".claim-form")).to_be_visible()  # the visitor may try again
    screenshot(page, "claim-wrong-pin", page.get_by_test_id("claim"))

    assert client.get("/me/certificates", headers=token_of(page)).json() == []
    assert certificate_rows(site) == 0
    assert scan_json(client, bottle).get("certificate") is None
    assert page_errors == []


def test_wrong_pins_are_counted_in_the_pages_language_and_plural(
    site: LiveServer,
    bottle: Bottle,
    otp: RecordingOtpSender,
    launch: Launch,
    page_errors: list[str],
) -> None:
    wrong = "0000-0000" if bottle.pin != "0000-0000" else "1111-1111"
    said = {}
    for lang, label, button in (("zh", "PIN 码", "认领"), ("en", "PIN", "Claim")):
        page = open_page(launch(), f"{site.url}{bottle.path}?lang={lang}", page_errors)
        sign_in_on_page(page, otp, f"{lang}-{BUYER}")
        error = page.get_by_test_id("claim-error")
        for _ in range(2 if lang == "zh" else 4):
            before = error.text_content() if error.is_visible() else None
            page.get_by_label(label, exact=True).fill(wrong)
            page.get_by_role("button", name=button, exact=True).click()
            expect(error).to_be_visible()
            if before is not None:
                expect(error).not_to_have_text(before)
            said.setdefault(lang, []).append(error.text_content())
    # Each account's wrong PINs at the bottle count on their own (a stranger's never lock the
    # buyer): 4, 3 tries left in Chinese, then 4, 3, 2, 1 in English.
    zh = pages.SCRIPT_TEXT["zh"]["wrong_pin_other"]
    assert said["zh"] == [zh.format(n=4), zh.format(n=3)]
    assert "还可再试 4 次" in said["zh"][0]
    assert said["en"][3] == "That PIN does not match this bottle; 1 try left before claiming locks."
    assert "4 tries left" in said["en"][0] and "2 tries left" in said["en"][2]
    assert page_errors == []


# ----------------------------------------------------------------------------- serving
def test_the_pages_and_only_their_own_files_are_served(
    site: LiveServer, client: httpx.Client, bottle: Bottle
) -> None:
    browser = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
    for path in ("/my-certificates", "/gifts/accept", bottle.path):
        response = client.get(path, headers=browser)
        assert response.status_code == 200, path
        assert response.headers["content-type"].startswith("text/html")
        assert response.headers["cache-control"] == "no-store"
        csp = response.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "script-src 'self'" in csp
        assert "unsafe" not in csp and "https:" not in csp
        assert re.search(
            r'<script type="module" src="/consumer/consumer\.js\?v=[0-9a-f]{12}"></script>',
            response.text,
        )
        assert "<style" not in response.text and " style=" not in response.text
        assert re.search(r"<script(?![^>]*\bsrc=)", response.text) is None  # no inline script
    # API clients keep the JSON answer.
    for accept in ("application/json", "*/*"):
        answer = client.get(bottle.path, headers={"Accept": accept})
        assert answer.headers["content-type"].startswith("application/json"), accept

    for name, kind in (("consumer.js", "text/javascript"), ("consumer.css", "text/css")):
        response = client.get(f"/consumer/{name}")
        assert response.status_code == 200 and response.headers["content-type"].startswith(kind)
    for path in (
        "/consumer/scanner.js",
        "/consumer/templates",
        "/consumer/__init__.py",
        "/consumer/..%2Fapi%2Frouters%2Fpages.py",
    ):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.json()["error"] == "not_found"


@pytest.mark.parametrize(
    ("accept", "html"),
    [
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", True),
        ("text/html", True),
        ("*/*", False),
        ("", False),
        ("application/json", False),
        ("application/json, text/html;q=0.5", False),
        ("text/html;q=0", False),
    ],
)
def test_only_clients_asking_for_html_by_name_get_the_page(accept: str, html: bool) -> None:
    request = _request({"accept": accept})
    assert pages.wants_html(request) is html


@pytest.mark.parametrize(
    ("query", "accept_language", "lang"),
    [
        ("", "zh-CN,zh;q=0.9", "zh"),
        ("", "en-GB,zh;q=0.5", "en"),
        ("", "", "en"),
        ("lang=zh", "en-US", "zh"),
        ("lang=en", "zh-CN", "en"),
        ("lang=fr", "zh-TW", "zh"),
    ],
)
def test_the_language_is_the_query_then_accept_language_then_english(
    query: str, accept_language: str, lang: str
) -> None:
    request = _request({"accept-language": accept_language}, query)
    assert pages.choose_lang(request) == lang


def test_values_from_the_answer_are_escaped_and_only_web_addresses_become_links() -> None:
    body = {
        "serial": "S1",
        "verdict": "genuine",
        "genuine": True,
        "provenance": {
            "product": {"name": "<script>alert(1)</script>"},
            "attestations": [
                {"uri": "javascript:alert(1)", "report_hash": "0x01", "tx_hash": "0x02"},
                {"uri": "https://lab.example/r/1", "report_hash": "0x03", "tx_hash": "0x04"},
            ],
        },
    }
    html = pages.render_scan_page(_request({}), body).body.decode()
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html
    assert 'href="javascript:' not in html
    assert 'href="https://lab.example/r/1"' in html
    # A verdict the page does not know yet reads as unknown, never as genuine.
    strange = pages.render_scan_page(_request({}), {"serial": "S1", "verdict": "new_one"})
    assert 'data-verdict="unknown"' in strange.body.decode()


def _request(headers: dict[str, str], query: str = "") -> Request:
    return Request(
        {
            "type": "http",
            "method": "GET",
            "path": "/",
            "query_string": query.encode(),
            "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
        }
    )
