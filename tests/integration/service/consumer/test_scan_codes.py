"""Unknown and malformed codes on both scan paths (``/items/{serial}/verify`` and the GS1
Digital Link): one behaviour, documented in docs/scans.md.

* A well-formed code we never made is a verdict, ``unknown`` (200), on both paths.
* A malformed one (GS1's syntax: GTIN digits and check digit, lot and serial of 1-20
  characters of set 82, percent-encoded in a URI) is a 400 with a ``malformed_*`` code,
  JSON for an API and a page for a browser; the refused value is echoed nowhere, and nothing
  is written.
"""

from __future__ import annotations

import logging

import pytest

from service.api.limits import BoundedAccessLog
from tests.integration.service.conftest import GTIN, serials_of
from tests.integration.service.factory.test_factory_api import anchored_batch

BROWSER = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8", "Accept-Language": "zh-CN"}
LONG = "A" * 60_000


@pytest.fixture
def unchanged(counts):
    """Assert at the end of the test that no table changed."""
    before = counts()
    yield
    assert counts() == before


def test_an_unknown_well_formed_code_is_unknown_on_both_paths(api, unchanged):
    serial = "NEVERMADE0000000000X"
    by_serial = api.get(f"/items/{serial}/verify")
    by_link = api.get(f"/01/{GTIN}/10/LOT-A/21/{serial}")
    assert by_serial.status_code == by_link.status_code == 200
    assert by_serial.json() == by_link.json()
    assert by_serial.json()["verdict"] == "unknown" and by_serial.json()["genuine"] is False
    # Set 82 allows more than we issue: still well formed, still unknown.
    odd = api.get(f"/items/{'A%2B%3C'}/verify").json()
    assert (odd["verdict"], odd["serial"]) == ("unknown", "A+<")


def test_an_unknown_code_shows_the_counterfeit_page_to_a_browser(api, unchanged):
    page = api.get("/items/NEVERMADE0000000000X/verify", headers=BROWSER)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'data-verdict="unknown"' in page.text and "疑似假冒" in page.text


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/01/0950600013435X/21/SERIAL1", "malformed_gtin"),  # not digits
        ("/01/09506000134353/21/SERIAL1", "malformed_gtin"),  # wrong check digit
        ("/01/9506000134353/21/SERIAL1", "malformed_gtin"),  # GTIN-13, wrong check digit
        ("/01/1234567/21/SERIAL1", "malformed_gtin"),  # 7 digits
        ("/01/%EF%BC%99506000134352/21/SERIAL1", "malformed_gtin"),  # fullwidth 9
        (f"/01/{GTIN}/10/{'L' * 21}/21/SERIAL1", "malformed_lot"),
        (f"/01/{GTIN}/10/has%20space/21/SERIAL1", "malformed_lot"),
        (f"/01/{GTIN}/10/LOT-A/21/{'S' * 21}", "malformed_serial"),
        (f"/01/{GTIN}/10/LOT-A/21/{LONG}", "malformed_serial"),
        (f"/01/{GTIN}/21/nul%00", "malformed_serial"),
        (f"/01/{GTIN}/21/caf%C3%A9", "malformed_serial"),
        (f"/01/{GTIN}/21/bad%ZZ", "malformed_code"),  # a broken escape
        (f"/01/{GTIN}", "malformed_code"),  # not an item link
        (f"/01/{GTIN}/10/LOT-A", "malformed_code"),
        (f"/01/{GTIN}/22/V1/21/SERIAL1", "malformed_code"),
        (f"/01/{GTIN}/21/SERIAL1/21/SERIAL2", "malformed_code"),
        ("/items/" + "S" * 21 + "/verify", "malformed_serial"),
        (f"/items/{LONG}/verify", "malformed_serial"),
        ("/items/A1%20/verify", "malformed_serial"),
        ("/items/%00/verify", "malformed_serial"),
    ],
    ids=lambda value: value if len(value) < 60 else f"{value[:30]}...({len(value)})",
)
def test_a_malformed_code_is_a_400_that_echoes_nothing_and_writes_nothing(
    api, unchanged, path, code
):
    response = api.get(path)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error"] == code and body["detail"]
    assert len(response.content) < 400, "the refused value must not come back"
    assert "SERIAL1" not in response.text and LONG[:50] not in response.text

    page = api.get(path, headers=BROWSER)
    assert page.status_code == 400 and page.headers["content-type"].startswith("text/html")
    assert f'data-error="{code}"' in page.text and "无法识别的编码" in page.text
    assert LONG[:50] not in page.text and "S" * 21 not in page.text
    assert page.headers["content-security-policy"].startswith("default-src 'self'")


def test_percent_encoding_is_undone_value_by_value(api, container, keys):
    batch = anchored_batch(api, container, keys, lot="LOT-A")
    serial = serials_of(container, batch["id"])[0]
    encoded = "".join(f"%{ord(c):02X}" for c in serial)
    assert api.get(f"/01/{GTIN}/10/LOT%2DA/21/{encoded}").json()["verdict"] == "genuine"
    # An encoded '/' stays inside its value: a lot we never made, so unknown, not a 404.
    other = api.get(f"/01/{GTIN}/10/LOT%2FA/21/{serial}")
    assert other.status_code == 200 and other.json()["verdict"] == "unknown"


def test_the_access_log_never_carries_an_unbounded_path():
    path = f"/01/{GTIN}/21/{LONG}"
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", path, "1.1", 400),
        None,
    )
    assert BoundedAccessLog().filter(record)
    line = record.getMessage()
    assert len(line) < 400 and "GET /01/" in line and f"({len(path)} characters)" in line
    short = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, "%s %s", ("GET", "/health"), None
    )
    assert BoundedAccessLog().filter(short) and short.getMessage() == "GET /health"
