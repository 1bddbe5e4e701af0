"""Consumer pages: the scan page a bottle's QR code opens, "my certificates" (with the gift,
pledge, custody and redemption actions), the page a gift link opens, and their shared script
and stylesheet (``/consumer/consumer.js``, ``/consumer/consumer.css``).

The scan page is rendered on the server from the verification answer (Jinja2, autoescape on),
in the reader's language from the message catalogs (service/api/i18n.py), so the verdict,
provenance and chain proof show without JavaScript; the script adds sign-in, the claim, the
certificate list and its actions. Like ``/scanner``, the pages load nothing from outside our
origin and run no inline script or style: the template hands values to the script through
``data-*`` attributes.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.responses import Response

from service.api import i18n
from service.api.errors import error_response
from service.api.i18n import LANGS, N_
from service.api.static import WEB_DIR, StaticFile, gzip_page

router = APIRouter(tags=["web"], include_in_schema=False)

TEMPLATES_DIR = WEB_DIR / "templates"

#: ``/consumer/{file}``: nothing else in service/web is served under this prefix. The pages
#: link them with their version (``asset_url``), so a browser keeps them a year (static.py).
CONSUMER_FILES: dict[str, StaticFile] = {
    "consumer.js": StaticFile(WEB_DIR / "consumer.js", "text/javascript; charset=utf-8"),
    "consumer.css": StaticFile(WEB_DIR / "consumer.css", "text/css; charset=utf-8"),
}
FAVICON = StaticFile(WEB_DIR / "favicon.ico", "image/vnd.microsoft.icon", compress=False)

#: Only our origin, and no eval of any kind (the pages need no WebAssembly).
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)

_COMMON_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}
_PAGE_HEADERS = {
    **_COMMON_HEADERS,
    # The scan page carries the live verdict and certificate state: never from a cache.
    "Cache-Control": "no-store",
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    "Vary": "Accept, Accept-Language",
}

HTML_LANG = {"zh": "zh-CN", "en": "en"}

#: How each verdict looks: ok (green), warn (amber: informs, or wait) or alert (red).
VERDICT_TONE = {
    "genuine": "ok",
    "not_anchored": "warn",
    "suspected_clone": "warn",
    "not_activated": "alert",
    "unknown": "alert",
    "recalled": "alert",
    "redeemed": "alert",
    "mismatch": "alert",
}

# ----------------------------------------------------------------------------- text
# The words are in the message catalogs (service/api/i18n.py); the templates name them with
# ``_("id")``. What extraction cannot read there is marked here.

#: Ids the templates compose from a value: ``verdict_<v>`` (headline) and
#: ``verdict_<v>_detail`` (what it means and what to do) for each verdict of VERDICT_TONE, and
#: ``step_<s>`` for the journey's steps (an unknown step shows as it is).
COMPOSED_MESSAGES = (
    N_("verdict_genuine"),
    N_("verdict_genuine_detail"),
    N_("verdict_unknown"),
    N_("verdict_unknown_detail"),
    N_("verdict_not_activated"),
    N_("verdict_not_activated_detail"),
    N_("verdict_not_anchored"),
    N_("verdict_not_anchored_detail"),
    N_("verdict_recalled"),
    N_("verdict_recalled_detail"),
    N_("verdict_redeemed"),
    N_("verdict_redeemed_detail"),
    N_("verdict_mismatch"),
    N_("verdict_mismatch_detail"),
    N_("verdict_suspected_clone"),
    N_("verdict_suspected_clone_detail"),
    N_("step_shipped"),
    N_("step_received"),
    N_("step_scanned"),
)

#: The strings consumer.js writes, each under its id (handed over in ``data-text``).
SCRIPT_MESSAGES = (
    N_("points_balance"),
    N_("points_expiring"),
    N_("points_pending"),
    N_("points_held"),
    N_("points_spend"),
    N_("points_spent"),
    N_("points_closed"),
    N_("points_entry"),
    N_("points_rule_claim"),
    N_("points_rule_referral"),
    N_("points_rule_storage_anniversary"),
    N_("points_rule_redemption"),
    N_("points_rule_first_scan"),
    N_("points_kind_spend"),
    N_("points_kind_expire"),
    N_("points_kind_reverse"),
    N_("points_withheld"),
    N_("code_sent"),
    N_("wrong_pin_none"),
    N_("invalid_sign_in_code_none"),
    N_("network"),
    N_("server"),
    N_("session_ended"),
    N_("claim_pending"),
    N_("claim_confirmed"),
    N_("claim_failed"),
    N_("tx"),
    N_("serial"),
    N_("pending"),
    N_("claimed"),
    N_("region"),
    N_("history"),
    N_("state_claim_pending"),
    N_("state_active"),
    N_("state_claim_failed"),
    N_("state_gifted"),
    N_("state_pledge_offered"),
    N_("state_pledged"),
    N_("state_deposit_offered"),
    N_("state_in_custody"),
    N_("state_redemption_requested"),
    N_("state_redeemed"),
    N_("action_claim"),
    N_("action_confirm_claim"),
    N_("action_fail_claim"),
    N_("action_gift"),
    N_("action_accept_gift"),
    N_("action_cancel_gift"),
    N_("action_cancel_offer"),
    N_("action_pledge"),
    N_("action_accept_pledge"),
    N_("action_decline_pledge"),
    N_("action_release_pledge"),
    N_("action_foreclose"),
    N_("action_deposit"),
    N_("action_confirm_deposit"),
    N_("action_decline_deposit"),
    N_("action_withdraw"),
    N_("action_request_redemption"),
    N_("action_cancel_redemption"),
    N_("action_fulfil_redemption"),
    N_("status_queued"),
    N_("status_sent"),
    N_("status_confirmed"),
    N_("status_failed"),
    N_("status_done"),
    N_("pending_actions"),
    N_("on_chain"),
    N_("do_gift"),
    N_("do_pledge"),
    N_("do_deposit"),
    N_("do_redeem"),
    N_("do_cancel_gift"),
    N_("do_cancel_offer"),
    N_("do_withdraw"),
    N_("do_redeem_storage"),
    N_("close"),
    N_("accept"),
    N_("gift_arriving"),
    N_("gift_expires"),
    N_("gift_link_title"),
    N_("gift_link_expires"),
    N_("gift_sent_to"),
    N_("gift_to_missing"),
    N_("copy"),
    N_("copied"),
    N_("copy_failed"),
    N_("gift_waiting"),
    N_("pledge_waiting"),
    N_("pledge_terms"),
    N_("pledged_to"),
    N_("pledged_to_no_date"),
    N_("deposit_waiting"),
    N_("stored_since"),
    N_("stored_no_date"),
    N_("redemption_waiting"),
    N_("redemption_waiting_storage"),
    N_("redeemed_final"),
    N_("recalled_no_hand_out"),
    N_("partner"),
    N_("choose"),
    N_("no_partners"),
    N_("link_incomplete"),
    N_("gift_accepting"),
    N_("gift_accepted"),
    N_("voucher_needed"),
)


def _script_text(lang: str) -> dict[str, str]:
    """What ``data-text`` hands consumer.js in ``lang``. A count's message comes in the forms
    the language has, ``<id>_<CLDR plural category>`` (en: ``_one``, ``_other``; zh:
    ``_other``), which the script picks with ``Intl.PluralRules``."""
    translations = i18n.translations(lang)
    text = {msgid: translations.gettext(msgid) for msgid in SCRIPT_MESSAGES}
    for category, n in i18n.plural_samples(lang).items():
        text[f"wrong_pin_{category}"] = translations.ngettext("wrong_pin_one", "wrong_pin_other", n)
        text[f"invalid_sign_in_code_{category}"] = translations.ngettext(
            "invalid_sign_in_code_one", "invalid_sign_in_code_other", n
        )
    return text


#: ``data-text`` per language.
SCRIPT_TEXT: dict[str, dict[str, str]] = {lang: _script_text(lang) for lang in LANGS}


# ----------------------------------------------------------------------------- helpers
@functools.cache
def _environment(lang: str, folder: Path = TEMPLATES_DIR) -> jinja2.Environment:
    """The templates in ``lang``: ``_("id")`` is the catalog's text for ``id`` (a misspelt id
    fails the render, as a misspelt name does), and ``message(id, default)`` the same for ids
    composed from a value, with ``default`` when the catalog has none."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(folder),
        autoescape=True,
        undefined=jinja2.StrictUndefined,  # a misspelt name fails the render, not the reader
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=["jinja2.ext.i18n"],
    )
    translations = i18n.translations(lang)
    # Old-style gettext: a translation is text, escaped like any other (newstyle, and trans
    # blocks, would mark it safe HTML).
    env.install_gettext_translations(translations, newstyle=False)  # type: ignore[attr-defined]

    def message(msgid: str, default: str | None = None) -> str:
        try:
            return translations.gettext(msgid)
        except i18n.MissingMessageError:
            if default is None:
                raise
            return default

    env.globals["message"] = message
    # Chinese stays readable in data-text; tojson still escapes < > & ' for the attribute.
    env.policies["json.dumps_kwargs"] = {"sort_keys": True, "ensure_ascii": False}
    env.globals["asset_url"] = asset_url
    return env


def asset_url(name: str) -> str:
    """The versioned URL of a consumer page file (``/consumer/consumer.js?v=<hash>``), or of
    the icon (``/favicon.ico?v=<hash>``)."""
    if name == "favicon.ico":
        return FAVICON.url("/favicon.ico")
    return CONSUMER_FILES[name].url(f"/consumer/{name}")


def choose_lang(request: Request) -> str:
    """``?lang=zh|en``, else Chinese for an Accept-Language starting with zh, else English."""
    asked = request.query_params.get("lang")
    if asked in LANGS:
        return asked
    accept = request.headers.get("accept-language", "").strip().lower()
    return "zh" if accept.startswith("zh") else "en"


def _quality(accept: str, media_type: str, *, wildcards: bool) -> float:
    """The q-value ``accept`` gives ``media_type`` (0 if none), optionally through */*."""
    best = 0.0
    kind = media_type.split("/")[0]
    for part in accept.split(","):
        name, *params = (p.strip() for p in part.split(";"))
        name = name.lower()
        if name != media_type and not (wildcards and name in ("*/*", f"{kind}/*")):
            continue
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        best = max(best, q)
    return best


def wants_html(request: Request) -> bool:
    """True when the client asks for HTML by name and prefers it to JSON: a browser opening a
    bottle's QR code. ``*/*`` alone (curl, HTTP libraries) keeps the JSON answer."""
    accept = request.headers.get("accept", "")
    html = _quality(accept, "text/html", wildcards=False)
    return html > 0 and html > _quality(accept, "application/json", wildcards=True)


def _day(value: Any) -> str:
    """The date part of an ISO date or date-time (as the API renders them), or ''."""
    if value is None:
        return ""
    if isinstance(value, datetime | date):
        return value.isoformat()[:10]
    return str(value)[:10]


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _dict(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, Mapping) else {}


def _region(value: Any) -> dict[str, str] | None:
    """``{"code", "name"}`` (or a bare code) as ``{"code", "label"}`` for display."""
    if isinstance(value, str):
        return {"code": value, "label": value}
    region = _dict(value)
    code, name = _text(region.get("code")), _text(region.get("name"))
    if not code and not name:
        return None
    return {"code": code, "label": f"{name} ({code})" if name and code else name or code}


def _link(uri: str) -> bool:
    """Only web addresses become links: a javascript: or data: URI stays text."""
    return uri.lower().startswith(("https://", "http://"))


def _cast_command(chain: dict[str, Any], contract: dict[str, Any]) -> str:
    proof = ",".join(_text(p) for p in chain.get("proof") or [])
    return (
        f"cast call {_text(contract.get('address')) or '<contract>'} "
        '"verifyItem(bytes32,uint256,bytes32,bytes32[])(bool)" '
        f"{_text(chain.get('chain_batch_id'))} {_text(chain.get('token_id'))} "
        f'{_text(chain.get("item_hash"))} "[{proof}]" --rpc-url "$RPC_URL"'
    )


def _other_lang_href(request: Request, lang: str) -> str:
    other = "en" if lang == "zh" else "zh"
    query = {k: v for k, v in request.query_params.items() if k != "lang"}
    return "?" + urlencode({**query, "lang": other})


def _common(request: Request, lang: str) -> dict[str, Any]:
    return {
        "lang": lang,
        "html_lang": HTML_LANG[lang],
        "script_text": SCRIPT_TEXT[lang],
        "other_lang_href": _other_lang_href(request, lang),
        "my_certificates_href": "/my-certificates?" + urlencode({"lang": lang}),
    }


def scan_context(body: Mapping[str, Any]) -> dict[str, Any]:
    """What scan.html shows, from a verification answer (any key may be missing)."""
    verdict = _text(body.get("verdict")) or "unknown"
    if verdict not in VERDICT_TONE:
        verdict = "unknown"  # a verdict this page does not know yet must not read as genuine
    chain = _dict(body.get("chain"))
    contract = _dict(body.get("contract"))
    provenance = _dict(body.get("provenance"))
    product = _dict(provenance.get("product"))
    certificate = body.get("certificate")
    certificate = _dict(certificate) if certificate is not None else None
    journey: list[dict[str, Any]] = [
        {
            "at": _day(step.get("at")),
            "step": _text(step.get("step")),
            "region": _region(step.get("region")),
        }
        for step in (_dict(s) for s in provenance.get("journey") or [])
    ]
    # The claim is offered where the bottle was last received (its shop), when known.
    claim_region = next(
        (s["region"]["code"] for s in reversed(journey) if s["region"] and s["region"]["code"]),
        "",
    )
    # A suspected clone is genuine and flagged only: its owner may still claim it.
    genuine = verdict in ("genuine", "suspected_clone") and bool(body.get("genuine", True))
    return {
        "verdict": verdict,
        "tone": VERDICT_TONE[verdict],
        "serial": _text(body.get("serial")),
        "recall": _dict(body.get("recall")) if body.get("recall") else None,
        "known": verdict != "unknown",
        "product": {
            "name": _text(product.get("name")),
            "gtin": _text(product.get("gtin") or body.get("gtin")),
            "lot": _text(product.get("lot") or body.get("lot")),
            "batch_id": _text(body.get("batch_id")),
            "production_date": _day(product.get("production_date") or body.get("production_date")),
        },
        "factory": _text(_dict(provenance.get("factory")).get("name")),
        "attestations": [
            {
                "uri": _text(a.get("uri")),
                "link": _link(_text(a.get("uri"))),
                "report_hash": _text(a.get("report_hash")),
                "tx_hash": _text(a.get("tx_hash")),
            }
            for a in (_dict(a) for a in provenance.get("attestations") or [])
        ],
        "journey": journey,
        "certificate": None
        if certificate is None
        else {
            "state": _text(certificate.get("state")),
            "pending": bool(certificate.get("pending")),
            "claimed_on": _day(certificate.get("claimed_on")),
            "region": _region(certificate.get("claim_region")),
        },
        "claimable": genuine and certificate is None,
        "claim_region": claim_region,
        "chain": None
        if not chain
        else {
            "contract": _text(contract.get("address")),
            "chain_id": _text(contract.get("chain_id")),
            "anchored": chain.get("anchored"),
            "valid": chain.get("valid"),
            "on_chain": chain.get("on_chain"),
            "chain_batch_id": _text(chain.get("chain_batch_id")),
            "token_id": _text(chain.get("token_id")),
            "item_hash": _text(chain.get("item_hash")),
            "leaf": _text(chain.get("leaf")),
            "root": _text(chain.get("root")),
            "proof": [_text(p) for p in chain.get("proof") or []],
            "anchor_tx_hash": _text(chain.get("anchor_tx_hash")),
            "anchor_block_number": _text(chain.get("anchor_block_number")),
            "cast": _cast_command(chain, contract),
        },
    }


def _page(
    request: Request, template: str, context: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    html = _environment(context["lang"]).get_template(template).render(**context)
    page = HTMLResponse(html, status_code=status_code, headers=_PAGE_HEADERS)
    gzip_page(request, page)
    return page


# ----------------------------------------------------------------------------- pages
def render_scan_page(request: Request, body: Mapping[str, Any]) -> HTMLResponse:
    """The scan page for a verification answer (the JSON of the Digital Link route or of
    ``/items/{serial}/verify``, as a dict): verdict, provenance, certificate, chain proof,
    and the claim panel for a genuine bottle nobody has claimed."""
    lang = choose_lang(request)
    return _page(request, "scan.html", {**_common(request, lang), "scan": scan_context(body)})


def render_error_page(request: Request, status: int, code: str, detail: str) -> HTMLResponse:
    """What a browser gets when a scan is refused (a malformed code above all): the reason in
    its language and the machine code, with the refusal's status. The API's ``detail`` is
    shown only for refusals without a text of their own; it never repeats the refused input."""
    lang = choose_lang(request)
    _ = i18n.translations(lang).gettext
    malformed = code.startswith("malformed_")
    error = {
        "code": code,
        "title": _("error_malformed_title") if malformed else _("error_title"),
        "detail": _("error_malformed_detail") if malformed else _("error_detail"),
        "api_detail": "" if malformed or status >= 500 else detail,
    }
    return _page(request, "error.html", {**_common(request, lang), "error": error}, status)


@router.get("/my-certificates", response_class=HTMLResponse)
def my_certificates_page(request: Request) -> HTMLResponse:
    """My certificates (我的酒证): sign in, then the list (filled by consumer.js)."""
    return _page(request, "my_certificates.html", _common(request, choose_lang(request)))


@router.get("/gifts/accept", response_class=HTMLResponse)
def gift_accept_page(request: Request) -> HTMLResponse:
    """The page a gift link opens (``/gifts/accept#<secret>``): sign in or up, then accept.
    The secret travels in the fragment, which browsers never send, so it reaches no server
    or proxy log; consumer.js reads it and posts it to ``POST /gifts/accept``."""
    return _page(request, "gift_accept.html", _common(request, choose_lang(request)))


@router.get("/consumer/{file}", response_model=None)
def consumer_asset(file: str, request: Request) -> Response:
    """consumer.js and consumer.css (ETag, 304, gzip; a year when versioned); any other name
    is 404."""
    found = CONSUMER_FILES.get(file)
    if found is None:
        return error_response(
            404, "not_found", "No such file for the consumer pages; check the path."
        )
    return found.respond(request)


@router.get("/favicon.ico", response_model=None)
def favicon(request: Request) -> Response:
    """The pages' icon (browsers ask for it whether linked or not)."""
    return FAVICON.respond(request)
