"""The scanner page keeps no API key in browser storage (issue 12 item 18a); the headless check
is tests/e2e/web/test_scanner_page.py, this one runs with the fast suite."""

from __future__ import annotations

import re
from pathlib import Path

import service.web

SCANNER_JS = Path(service.web.__file__).parent / "scanner.js"


def test_the_scanner_page_stores_a_session_token_never_the_key() -> None:
    source = SCANNER_JS.read_text(encoding="utf-8")
    assert re.search(r"store\.set\(\s*[\"']apiKey", source) is None
    assert re.search(r"localStorage\.setItem\([^)]*(token|apiKey)", source) is None
    assert re.search(r"store\.set\(\s*[\"'](token|me|expiresAt)", source) is None
    assert 'api("scanner/sessions", { method: "POST", bearer: key })' in source
    assert 'session.set("token", state.token)' in source
    assert "sessionStorage.setItem(PREFIX + key" in source
    assert 'store.remove("apiKey")' in source  # what older versions left behind is removed
