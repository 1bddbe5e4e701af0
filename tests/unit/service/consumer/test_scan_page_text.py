"""What the scan page says for each verdict: only what is known, in Chinese and English.

A verdict that is not proven on chain never says genuine, and no verdict promises anything that
depends on someone's manual step (anchoring a batch is the factory's), such as a time."""

from __future__ import annotations

import re

import pytest
from starlette.requests import Request

from service.api import i18n
from service.consumer.api import pages
from service.consumer.domain.verification import PROVEN, Verdict

#: Words that claim the bottle is genuine (正品, 真品, 真实: genuine, authentic, real).
GENUINE = re.compile(r"genuine|authentic|正品|真品|真实|真的", re.IGNORECASE)
#: Words that promise a time.
PROMISE = re.compile(r"\bwithin\b|\bhours?\b|\bminutes?\b|\bsoon\b|小时|分钟|很快|稍后", re.I)
NOT_PROVEN = [v for v in Verdict if v not in PROVEN]


def _text(lang: str, msgid: str) -> str:
    """The catalog's text (an id it lacks raises MissingMessageError)."""
    return i18n.translations(lang).gettext(msgid)


def _request(lang: str) -> Request:
    query = f"lang={lang}".encode()
    return Request(
        {"type": "http", "method": "GET", "path": "/", "query_string": query, "headers": []}
    )


def _banner(html: str) -> str:
    found = re.search(r'<section class="verdict".*?</section>', html, re.S)
    assert found is not None
    return re.sub(r"<[^>]+>", " ", found.group(0))


def test_every_verdict_has_a_headline_and_a_detail_in_both_languages():
    for lang in pages.LANGS:
        for v in Verdict:
            assert _text(lang, f"verdict_{v.value}")
            assert _text(lang, f"verdict_{v.value}_detail")


@pytest.mark.parametrize("lang", pages.LANGS)
@pytest.mark.parametrize("verdict", NOT_PROVEN, ids=str)
def test_a_verdict_not_proven_on_chain_never_says_genuine(lang, verdict):
    for key in (f"verdict_{verdict.value}", f"verdict_{verdict.value}_detail"):
        assert GENUINE.search(_text(lang, key)) is None, (lang, key, _text(lang, key))
    page = pages.render_scan_page(_request(lang), {"serial": "S1", "verdict": verdict.value})
    assert GENUINE.search(_banner(page.body.decode())) is None


@pytest.mark.parametrize("lang", pages.LANGS)
@pytest.mark.parametrize("verdict", list(Verdict), ids=str)
def test_no_verdict_promises_a_time(lang, verdict):
    text = _text(lang, f"verdict_{verdict.value}_detail")
    assert PROMISE.search(text) is None, (lang, text)


def test_not_anchored_says_what_is_known():
    assert "工厂" in _text("zh", "verdict_not_anchored_detail")
    assert "激活" in _text("zh", "verdict_not_anchored_detail")
    assert "区块链" in _text("zh", "verdict_not_anchored_detail")
    en = _text("en", "verdict_not_anchored_detail")
    assert "made and activated by the brand's factory" in en
    assert "not recorded on the blockchain yet" in en
