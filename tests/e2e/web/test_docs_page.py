"""/docs works where no CDN can be reached: every request that leaves 127.0.0.1 is blocked, and
Swagger UI still loads from our origin and lists the operations."""

from __future__ import annotations

from urllib.parse import urlsplit

from playwright.sync_api import Route

from tests.e2e.web.conftest import Launch, LiveServer, Shot


def test_docs_list_the_operations_with_every_other_origin_blocked(
    live_server: LiveServer, launch: Launch, shot: Shot, page_errors: list[str]
):
    context = launch()
    blocked: list[str] = []

    def only_loopback(route: Route) -> None:
        host = urlsplit(route.request.url).hostname
        if host == "127.0.0.1" or route.request.url.startswith("data:"):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    context.route("**/*", only_loopback)
    page = context.new_page()
    page.on("pageerror", lambda exc: page_errors.append(f"pageerror: {exc}"))
    page.on(
        "console",
        lambda m: page_errors.append(f"console: {m.text}") if m.type == "error" else None,
    )
    response = page.goto(f"{live_server.url}/docs")
    assert response is not None and response.status == 200
    assert "default-src 'self'" in response.headers["content-security-policy"]
    page.wait_for_selector(".opblock", timeout=30_000)
    summaries = page.locator(".opblock-summary-path").all_inner_texts()
    paths = {text.replace("\u200b", "").strip() for text in summaries}
    assert {"/health", "/batches", "/items/{serial}/verify", "/claims"} <= paths
    assert len(summaries) >= 70
    assert page.locator(".information-container .title").inner_text().startswith("tracecert")
    shot(page, "docs")
    assert blocked == []  # nothing even tried to leave the origin
    assert page_errors == []


def test_redoc_is_off(http):
    assert http.get("/redoc").status_code == 404
