"""The scan page on a phone, measured in headless Chromium (a 412 x 915 phone): tap targets of
at least the page's own 48 px, a header that leaves the screen to the text at 200 % text size,
the verdict as the page's heading, the chain proof folded (and opened from the keyboard),
whole words, buttons in the page's font, Chinese line height, the icon, and static files that
are compressed, versioned (a year, immutable) and revalidated with 304s."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.e2e.web.conftest import Launch, LiveServer, open_page
from tests.e2e.web.consumer_conftest import Bottle, bottle, client, otp, site

pytestmark = pytest.mark.slow

# Fixtures used here but defined in consumer_conftest (pytest finds them in this module).
__all__ = ["bottle", "client", "otp", "site"]

PHONE = {"width": 412, "height": 915}
TAP = 48
ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}

#: Words of Latin letters outside code that a line break cut in two (each word's text range
#: must lie on one line).
SPLIT_WORDS = """() => {
  const split = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const parent = node.parentElement;
    if (!parent || parent.closest("code, pre, script, style, [hidden]")) continue;
    if (!parent.getClientRects().length) continue;
    for (const m of node.data.matchAll(/[A-Za-z]{3,}/g)) {
      const range = document.createRange();
      range.setStart(node, m.index);
      range.setEnd(node, m.index + m[0].length);
      const tops = new Set([...range.getClientRects()].map((r) => Math.round(r.top)));
      if (tops.size > 1) split.push(m[0]);
    }
  }
  return split;
}"""


def _phone(launch: Launch) -> BrowserContext:
    context = launch()
    return context


def _open(context: BrowserContext, url: str, errors: list[str]) -> Page:
    page = open_page(context, url, errors)
    page.set_viewport_size(PHONE)
    return page


def _box(page: Page, selector: str) -> dict[str, float]:
    box = page.locator(selector).first.bounding_box()
    assert box is not None, f"{selector} is not laid out"
    return box


def test_tap_targets_heading_fold_font_and_words_on_the_scan_page(
    site: LiveServer, bottle: Bottle, launch: Launch, page_errors: list[str]
) -> None:
    page = _open(_phone(launch), site.url + bottle.path + "?lang=en", page_errors)

    # Every control the page offers is at least its own 48 px tall (and wide).
    for selector in (".bar .lang", "a.my-link", ".proof > summary", "button:visible"):
        box = _box(page, selector)
        assert box["height"] >= TAP and box["width"] >= TAP, (selector, box)

    # The verdict is the page's one top heading.
    headings = page.get_by_role("heading", level=1)
    expect(headings).to_have_count(1)
    expect(headings).to_have_text("Genuine")

    # The chain proof is folded: a line, not most of the page; the keyboard opens it.
    proof = page.get_by_test_id("chain-proof")
    assert proof.evaluate("e => e.open") is False
    expect(page.get_by_test_id("cast-command")).to_be_hidden()
    share = page.evaluate(
        "() => document.querySelector('.proof').getBoundingClientRect().height"
        " / document.documentElement.scrollHeight"
    )
    assert share < 0.15, f"the folded proof still takes {share:.0%} of the page"
    page.get_by_test_id("chain-proof-summary").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("cast-command")).to_be_visible()
    assert proof.evaluate("e => e.open") is True
    page.keyboard.press("Space")
    expect(page.get_by_test_id("cast-command")).to_be_hidden()

    # Buttons speak in the page's font.
    body_font, button_font = page.evaluate(
        "() => [getComputedStyle(document.body).fontFamily,"
        " getComputedStyle(document.querySelector('button')).fontFamily]"
    )
    assert button_font == body_font

    # Ordinary words are never cut in two, at normal and at double text size.
    assert page.evaluate(SPLIT_WORDS) == []
    page.evaluate("document.documentElement.style.fontSize = '200%'")
    assert page.evaluate(SPLIT_WORDS) == []
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert page_errors == []


def test_at_double_text_size_the_header_leaves_the_screen_to_the_text(
    site: LiveServer, bottle: Bottle, launch: Launch, page_errors: list[str]
) -> None:
    page = _open(_phone(launch), site.url + bottle.path + "?lang=en", page_errors)
    page.evaluate("document.documentElement.style.fontSize = '200%'")
    page.evaluate("window.scrollTo(0, 600)")
    covered = page.evaluate(
        """() => {
          const r = document.querySelector('.bar').getBoundingClientRect();
          return Math.max(0, Math.min(r.bottom, innerHeight) - Math.max(r.top, 0));
        }"""
    )
    assert covered <= 0.05 * PHONE["height"], f"the header covers {covered} of 915 px"
    assert page_errors == []


def test_chinese_text_has_room_between_lines(
    site: LiveServer, bottle: Bottle, launch: Launch, page_errors: list[str]
) -> None:
    context = launch()
    context.set_extra_http_headers(ZH)
    page = _open(context, site.url + bottle.path, page_errors)
    ratios = page.evaluate(
        """() => [...document.querySelectorAll('main p:not([hidden]), main dd, main li')]
          .filter((e) => e.getClientRects().length && !e.closest('code, pre'))
          .map((e) => { const s = getComputedStyle(e);
                        return parseFloat(s.lineHeight) / parseFloat(s.fontSize); })"""
    )
    body = [r for r in ratios if r < 1.4 or r > 1.5]  # headings and the banner title apart
    assert ratios and all(1.6 <= r <= 1.75 for r in body), ratios
    assert page_errors == []


def test_static_files_are_compressed_versioned_and_revalidated_with_304(
    site: LiveServer, bottle: Bottle, launch: Launch, page_errors: list[str]
) -> None:
    page = _phone(launch).new_page()
    documents = []
    page.on(
        "response", lambda r: documents.append(r) if r.request.resource_type == "document" else None
    )
    page.goto(site.url + bottle.path)
    page.wait_for_selector("html[data-ready='true']", state="attached")

    # The page itself came compressed (by about two thirds).
    assert documents[0].headers.get("content-encoding") == "gzip"
    encoded, decoded = page.evaluate(
        "() => { const n = performance.getEntriesByType('navigation')[0];"
        " return [n.encodedBodySize, n.decodedBodySize]; }"
    )
    assert encoded < 0.5 * decoded, (encoded, decoded)

    # Scripts and styles: linked by version, kept a year, compressed, and a 304 when unchanged.
    urls = page.evaluate(
        "() => [document.querySelector('script[src]').src,"
        " document.querySelector('link[rel=stylesheet]').href,"
        " document.querySelector('link[rel=icon]').href]"
    )
    for url in urls[:2]:
        assert re.search(r"\?v=[0-9a-f]{12}$", url), url
        first = page.evaluate(
            """async (url) => { const r = await fetch(url, {cache: 'no-store'});
              const b = await r.arrayBuffer();
              return [r.status, r.headers.get('etag'), r.headers.get('cache-control'),
                      r.headers.get('content-encoding'), b.byteLength]; }""",
            url,
        )
        status, etag, cache, encoding, size = first
        assert status == 200 and etag and size > 0
        assert cache == "public, max-age=31536000, immutable" and encoding == "gzip"
        again = page.evaluate(
            """async ([url, etag]) => {
              const r = await fetch(url, {cache: 'no-store', headers: {'If-None-Match': etag}});
              return [r.status, (await r.arrayBuffer()).byteLength]; }""",
            [url, etag],
        )
        assert again == [304, 0], (url, again)

    # The icon the page names, and the one browsers ask for unasked.
    for url in (urls[2], site.url + "/favicon.ico"):
        icon = page.evaluate(
            "async (u) => { const r = await fetch(u); return [r.status,"
            " r.headers.get('content-type'), (await r.arrayBuffer()).byteLength]; }",
            url,
        )
        assert icon[0] == 200 and icon[1] == "image/vnd.microsoft.icon" and icon[2] > 0
    assert page_errors == []


def test_unversioned_and_stale_urls_are_revalidated_not_kept(site: LiveServer) -> None:
    with httpx.Client(base_url=site.url) as http:
        plain = http.get("/consumer/consumer.js")
        assert plain.status_code == 200 and plain.headers["cache-control"] == "no-cache"
        stale = http.get("/consumer/consumer.js?v=000000000000")
        assert stale.headers["cache-control"] == "no-cache"
        since = http.get(
            "/consumer/consumer.js", headers={"If-Modified-Since": plain.headers["last-modified"]}
        )
        assert since.status_code == 304
        raw = http.get("/consumer/consumer.js", headers={"Accept-Encoding": "identity"})
        assert "content-encoding" not in raw.headers and raw.text.startswith("//")
        assert raw.headers["etag"] != plain.headers["etag"]  # each encoding its own tag
        scanner = http.get("/scanner")
        assert re.search(r'src="scanner/scanner\.js\?v=[0-9a-f]{12}"', scanner.text)
        wasm = http.get("/scanner/vendor/zxing-wasm/reader/zxing_reader.wasm")
        again = http.get(
            "/scanner/vendor/zxing-wasm/reader/zxing_reader.wasm",
            headers={"If-None-Match": wasm.headers["etag"]},
        )
        assert again.status_code == 304 and again.content == b""
