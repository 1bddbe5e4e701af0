"""Rate limits of the public scan endpoints (issue 12 item 10): token buckets per device and
per client network; 429 ``scan_rate_limited`` with ``Retry-After``, as a page or as JSON."""

from __future__ import annotations

from fastapi.testclient import TestClient

from service.api.limits import ScanLimits
from service.api.rate_limits import Rate

JSON = {"Accept": "application/json"}
#: A well-formed serial we never made: answered (verdict unknown) without a batch.
VERIFY = "/items/0000000000000000000A/verify"
LINK = "/01/09506000134352/10/L1/21/0000000000000000000A"


def device(n: int) -> dict[str, str]:
    return {"Cookie": f"tc_device=phone{n:04d}-abcdefghijklmn"}


class Ticks:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_device_past_its_burst_is_answered_429_with_retry_after(api, container):
    burst = container.settings.scan_device_burst
    answers = [api.get(VERIFY, headers={**JSON, **device(1)}) for _ in range(burst)]
    assert {a.status_code for a in answers} == {200}
    refused = api.get(VERIFY, headers={**JSON, **device(1)})
    assert refused.status_code == 429
    assert refused.json()["error"] == "scan_rate_limited" and refused.json()["detail"]
    assert int(refused.headers["Retry-After"]) >= 1
    # Another phone of the same network scans on.
    assert api.get(VERIFY, headers={**JSON, **device(2)}).status_code == 200


def test_a_browser_gets_the_refusal_as_a_page_with_retry_after(api):
    api.app.state.scan_limits = ScanLimits(Rate(30, 1), Rate(300, 100))
    assert api.get(LINK, headers={"Accept": "text/html", **device(1)}).status_code == 200
    page = api.get(LINK, headers={"Accept": "text/html", **device(1)})
    assert page.status_code == 429 and page.headers["content-type"].startswith("text/html")
    assert "scan_rate_limited" in page.text and int(page.headers["Retry-After"]) == 2


def test_new_cookies_do_not_escape_the_networks_budget_and_time_refills_it(api):
    ticks = Ticks()
    api.app.state.scan_limits = ScanLimits(Rate(30, 20), Rate(60, 5), ticks=ticks)
    statuses = [api.get(VERIFY, headers={**JSON, **device(n)}).status_code for n in range(6)]
    assert statuses == [200] * 5 + [429]
    # Another network is not affected.
    other = TestClient(api.app, client=("198.51.100.7", 50000))
    assert other.get(VERIFY, headers={**JSON, **device(9)}).status_code == 200
    ticks.now += 1.0  # a token a second
    assert api.get(VERIFY, headers={**JSON, **device(50)}).status_code == 200
    assert api.get(VERIFY, headers={**JSON, **device(51)}).status_code == 429


def test_the_limit_can_be_turned_off_for_benchmarks(api):
    api.app.state.scan_limits = ScanLimits(Rate(0, 1), Rate(0, 1))
    assert {api.get(VERIFY, headers=JSON).status_code for _ in range(40)} == {200}


def test_the_openapi_document_declares_the_429_with_retry_after(api):
    paths = api.get("/openapi.json").json()["paths"]
    for path in ("/items/{serial}/verify", "/01/{gtin}/10/{lot}/21/{serial}"):
        operation = paths[path]["get"]
        assert "Retry-After" in operation["responses"]["429"]["headers"]
        assert {"ConsumerSession": []} in operation["security"] and {} in operation["security"]
