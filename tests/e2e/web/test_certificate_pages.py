"""The certificate's life after the claim, through the real pages in headless Chromium (a
phone's viewport): a gift link made on My certificates and accepted by a newcomer on the page
the link opens, a pledge, custody with its storage age, and redemption, while the pledgee and
the custodian act through the API with their keys (they have no page). After every step that
writes to the chain, the test settles the chain and checks the page shows the confirmed state.
"""

# The Chinese strings use full-width punctuation, as the page shows them; RUF001 flags it.
# ruff: noqa: RUF001

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import BrowserContext, Locator, Page, expect

from chain.contracts.certificate_registry import CertificateState as ChainState
from tests.e2e.web.conftest import Launch, LiveServer, open_page
from tests.e2e.web.consumer_conftest import (
    CUSTODIAN,
    PLEDGEE,
    Bottle,
    Partners,
    Shot,
    bottle,
    client,
    otp,
    partners,
    screenshot,
    sign_in_on_page,
    site,
    token_of,
)
from tests.integration.service.consumer.helpers import (
    RecordingOtpSender,
    mint_claims,
    settle,
    sign_in,
)

pytestmark = pytest.mark.slow

# Fixtures used here but defined in consumer_conftest (pytest finds them in this module).
__all__ = ["bottle", "client", "otp", "partners", "screenshot", "site"]

ALICE, BOB, CAROL = "alice@example.com", "bob@example.com", "+8613900139000"
ZH = {"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"}
GIFT_LINK = re.compile(r"^https?://[^/#]+/gifts/accept#([A-Za-z0-9_-]{20,})$")


# ----------------------------------------------------------------------------- helpers
def certificate(client: httpx.Client, who: dict[str, str], certificate_id: str) -> dict[str, Any]:
    response = client.get(f"/me/certificates/{certificate_id}", headers=who)
    assert response.status_code == 200, response.text
    return dict(response.json())


def last_chain_step(view: dict[str, Any]) -> dict[str, Any]:
    """The latest step of the certificate's history that has a transaction."""
    return next(s for s in reversed(view["history"]) if s["tx_hash"])


def card_of(page: Page, certificate_id: str) -> Locator:
    return page.locator(f".certificate-card[data-id='{certificate_id}']")


def expect_confirmed(card: Locator, view: dict[str, Any], state: str) -> None:
    """The card shows ``state`` with nothing pending, and the transaction of the step that got
    it there (as the API's history has it)."""
    assert view["state"] == state and view["pending"] is False, view
    step = last_chain_step(view)
    assert step["status"] == "confirmed", step
    expect(card).to_have_attribute("data-state", state)
    expect(card).to_have_attribute("data-pending", "false")
    expect(card.locator(".badge.pending")).to_have_count(0)
    tx = card.get_by_test_id("step-tx")
    expect(tx).to_have_attribute("data-action", step["action"])
    expect(tx.locator("code")).to_have_text(step["tx_hash"])


def expect_pending(card: Locator, state: str, action: str) -> None:
    """The card shows ``state`` marked pending on chain, waiting for ``action``'s write."""
    expect(card).to_have_attribute("data-state", state)
    expect(card).to_have_attribute("data-pending", "true")
    expect(card.locator(".badge.pending")).to_be_visible()
    expect(card.locator(".pending-actions")).to_have_attribute("data-actions", action)
    expect(card.get_by_test_id("actions")).to_have_count(0)  # nothing to do until it settles
    expect(card.get_by_test_id("step-tx")).to_have_count(0)


def on_site(site: LiveServer, link: str) -> str:
    """A gift link (made for the public resolver) on the test's server: same path, same
    fragment."""
    parts = urlsplit(link)
    return f"{site.url}{parts.path}#{parts.fragment}"


def open_mine(page: Page, site: LiveServer) -> None:
    page.goto(f"{site.url}/my-certificates")
    page.wait_for_selector("html[data-ready='true']", state="attached")


def claim_through_api(
    client: httpx.Client, site: LiveServer, bottle: Bottle, who: dict[str, str]
) -> dict[str, Any]:
    claimed = client.post("/claims", json={"serial": bottle.serial, "pin": bottle.pin}, headers=who)
    assert claimed.status_code == 202, claimed.text
    cid = claimed.json()["id"]
    mint_claims(site.container, lambda: certificate(client, who, cid)["state"] == "active")
    return certificate(client, who, cid)


def chinese(context: BrowserContext) -> BrowserContext:
    context.set_extra_http_headers(ZH)
    return context


# ----------------------------------------------------------------------------- the whole life
def test_a_bottle_is_claimed_gifted_by_link_pledged_stored_and_redeemed_through_the_pages(
    site: LiveServer,
    client: httpx.Client,
    bottle: Bottle,
    otp: RecordingOtpSender,
    partners: Partners,
    launch: Launch,
    screenshot: Shot,
    page_errors: list[str],
) -> None:
    container = site.container

    # (1) Alice scans the bottle: genuine, nobody has claimed it.
    alice_context = launch()
    alice = open_page(alice_context, site.url + bottle.path, page_errors)
    expect(alice.get_by_test_id("verdict")).to_have_attribute("data-verdict", "genuine")
    expect(alice.get_by_test_id("certificate")).to_have_attribute("data-state", "none")

    # (2) She signs up, claims with the PIN, and the claim is minted.
    sign_in_on_page(alice, otp, ALICE)
    alice_auth = token_of(alice)
    alice.get_by_label("PIN").fill(bottle.pin)
    alice.get_by_role("button", name="Claim", exact=True).click()
    status = alice.get_by_test_id("claim-status")
    expect(status).to_have_attribute("data-state", "claim_pending")
    (claimed,) = client.get("/me/certificates", headers=alice_auth).json()
    cid, token = claimed["id"], int(claimed["token_id"])
    mint_claims(container, lambda: certificate(client, alice_auth, cid)["state"] == "active")
    expect(status).to_have_attribute("data-state", "active")

    # (3) On My certificates she makes a gift link: shown once, with its expiry and a copy button.
    open_mine(alice, site)
    card = card_of(alice, cid)
    expect(card).to_have_attribute("data-state", "active")
    expect(card.get_by_test_id("actions").get_by_role("button")).to_have_text(
        ["Gift", "Pledge", "Store", "Redeem"]
    )
    card.get_by_role("button", name="Gift", exact=True).click()
    card.get_by_label("Valid for (days)").select_option("3")
    card.get_by_role("button", name="Make a gift link").click()
    expect_pending(card, "gifted", "gift")
    link = card.get_by_test_id("gift-link").input_value()
    match = GIFT_LINK.match(link)
    assert match, link
    secret = match.group(1)
    gifted = certificate(client, alice_auth, cid)
    assert gifted["pending"] is True and gifted["pending_actions"] == ["gift"]
    (gift,) = [d for d in gifted["deals"] if d["kind"] == "gift"]
    assert gift["expires_at"][:10] == (date.today() + timedelta(days=3)).isoformat()
    expect(card.get_by_test_id("gift-note")).to_contain_text(
        re.compile(r"Works until \d{4}-\d{2}-\d{2} \d{2}:\d{2}\.")
    )
    alice_context.grant_permissions(["clipboard-read", "clipboard-write"], origin=site.url)
    card.get_by_role("button", name="Copy").click()
    expect(card.get_by_role("button", name="Copied")).to_be_visible()
    assert alice.evaluate("navigator.clipboard.readText()") == link
    screenshot(alice, "gift-link", card)
    settle(container)  # createGift: the token sits in the registry's escrow
    expect_confirmed(card, certificate(client, alice_auth, cid), "gifted")
    expect(card.get_by_test_id("gift-link")).to_have_value(link)  # still on this page
    expect(card.get_by_test_id("actions").get_by_role("button")).to_have_text(["Cancel gift"])
    assert container.runtime.registry.owner_of(token) == container.runtime.registry.address

    # (4) Bob, new here, opens the link (the secret rides in the fragment), signs up, accepts.
    bob_context = launch()
    bob = open_page(bob_context, on_site(site, link), page_errors)
    assert bob.evaluate("location.hash") == "#" + secret
    expect(bob.get_by_role("heading", name="Accept a gift", exact=True).first).to_be_visible()
    expect(bob.get_by_role("button", name="Accept the gift")).to_be_hidden()
    sign_in_on_page(bob, otp, BOB)
    bob_auth = token_of(bob)
    bob.get_by_role("button", name="Accept the gift").click()
    accepted = bob.get_by_test_id("gift-status")
    expect(accepted).to_have_attribute("data-state", "pending")
    bob_card = card_of(bob, cid)
    expect_pending(bob_card, "active", "accept_gift")
    settle(container)  # claimGift
    expect(accepted).to_have_attribute("data-state", "active")
    expect(accepted).to_have_text("Confirmed: the certificate is in your wallet.")
    expect_confirmed(bob_card, certificate(client, bob_auth, cid), "active")
    screenshot(bob, "gift-accepted", bob.get_by_test_id("gift-accept"))
    # Alice's page notices the certificate left her.
    expect(card_of(alice, cid)).to_have_count(0)
    expect(alice.get_by_test_id("certificates-empty")).to_be_visible()
    bob_wallet = client.get("/account", headers=bob_auth).json()["wallet_address"]
    assert container.runtime.registry.owner_of(token) == bob_wallet

    # (5) Bob pledges it on My certificates; the pledgee accepts, later releases (its API).
    open_mine(bob, site)
    card = card_of(bob, cid)
    expect(card).to_have_attribute("data-state", "active")
    card.get_by_role("button", name="Pledge", exact=True).click()
    card.get_by_label("Pledgee").select_option(label=PLEDGEE)
    card.get_by_label("Amount").fill("10000.00")
    expect(card.get_by_label("Currency")).to_have_value("CNY")
    due = (date.today() + timedelta(days=180)).isoformat()
    card.get_by_label("Due date").fill(due)
    card.get_by_label("Terms (optional)").fill("6 months at 3%")
    screenshot(bob, "pledge-form", card)
    card.get_by_role("button", name="Offer as collateral").click()
    expect(card).to_have_attribute("data-state", "pledge_offered")
    expect(card.get_by_test_id("certificate-status")).to_contain_text(
        f"Waiting for {PLEDGEE} to accept the pledge."
    )
    expect(card.get_by_test_id("certificate-status")).to_contain_text(f"10000.00 CNY, due {due}")
    settle(container)  # the pledgee's chain account gets its role
    pledge = partners.deal(client, partners.pledgee_key, cid, "pledge")
    assert pledge["terms"] == {
        "amount": "10000.00",
        "currency": "CNY",
        "due_date": due,
        "terms": "6 months at 3%",
    }
    partners.act(client, partners.pledgee_key, pledge["id"], "accept")
    expect_pending(card, "pledged", "accept_pledge")  # the page asks again while it waits
    settle(container)
    pledged = certificate(client, bob_auth, cid)
    expect_confirmed(card, pledged, "pledged")
    expect(card.get_by_test_id("certificate-status")).to_contain_text(
        f"Pledged to {PLEDGEE}, locked since {pledged['locked_since'][:10]}."
    )
    expect(card.get_by_test_id("actions")).to_have_count(0)  # locked
    assert container.runtime.registry.certificate(token).state == ChainState.PLEDGED
    screenshot(bob, "pledged", card)
    partners.act(client, partners.pledgee_key, pledge["id"], "release")
    expect_pending(card, "active", "release_pledge")
    settle(container)
    expect_confirmed(card, certificate(client, bob_auth, cid), "active")

    # (6) Bob stores it with the custodian, who confirms receiving it (its API).
    card.get_by_role("button", name="Store", exact=True).click()
    card.get_by_label("Custodian").select_option(label=CUSTODIAN)
    card.get_by_role("button", name="Store with this custodian").click()
    expect(card).to_have_attribute("data-state", "deposit_offered")
    expect(card.get_by_test_id("certificate-status")).to_have_text(
        f"Waiting for {CUSTODIAN} to confirm receiving the bottle."
    )
    settle(container)  # the custodian's role
    custody = partners.deal(client, partners.custodian_key, cid, "custody")
    partners.act(client, partners.custodian_key, custody["id"], "confirm")
    expect_pending(card, "in_custody", "confirm_deposit")
    settle(container)
    stored = certificate(client, bob_auth, cid)
    expect_confirmed(card, stored, "in_custody")
    assert stored["storage_age_days"] == 0 and stored["locked_since"]
    expect(card.get_by_test_id("certificate-status")).to_have_text(
        f"Stored with {CUSTODIAN} since {stored['locked_since'][:10]}: 0 days."
    )
    expect(card.get_by_test_id("actions").get_by_role("button")).to_have_text(
        ["Withdraw", "Redeem from storage"]
    )
    assert container.runtime.registry.certificate(token).state == ChainState.IN_CUSTODY
    screenshot(bob, "in-custody", card)

    # (7) Bob asks for the bottle from storage; the custodian hands it out (its API).
    card.get_by_role("button", name="Redeem from storage").click()
    # From storage the custodian hands it out: no store to choose, no delivery.
    expect(card.locator("select[name='store_id']")).to_have_count(1)
    expect(card.locator("select[name='store_id']")).to_be_hidden()
    expect(card.locator("select[name='method']")).to_be_hidden()
    card.get_by_role("button", name="Ask for the bottle").click()
    expect_pending(card, "redemption_requested", "request_redemption")
    settle(container)
    expect_confirmed(card, certificate(client, bob_auth, cid), "redemption_requested")
    expect(card.get_by_test_id("certificate-status")).to_have_text(
        f"Waiting for {CUSTODIAN} to hand out the bottle from storage."
    )
    redemption = partners.deal(client, partners.custodian_key, cid, "redemption")
    assert redemption["terms"] == {"method": "pickup"}
    partners.act(client, partners.custodian_key, redemption["id"], "fulfil")
    expect_pending(card, "redeemed", "fulfil_redemption")
    settle(container)
    expect_confirmed(card, certificate(client, bob_auth, cid), "redeemed")
    expect(card.locator(".badge.state")).to_have_text("Redeemed")
    expect(card.get_by_test_id("certificate-status")).to_have_text(
        "Redeemed: the bottle was handed out; this certificate is closed."
    )
    expect(card.get_by_test_id("actions")).to_have_count(0)  # terminal
    expect(card.locator(".history li")).to_have_count(
        len(certificate(client, bob_auth, cid)["history"])
    )
    screenshot(bob, "redeemed", card)

    # (8) The bottle's code is dead: its scan page says so, and so does the chain.
    bob.goto(site.url + bottle.path)
    bob.wait_for_selector("html[data-ready='true']", state="attached")
    verdict = bob.get_by_test_id("verdict")
    expect(verdict).to_have_attribute("data-verdict", "redeemed")
    expect(verdict.locator(".verdict-title")).to_have_text("This code is dead")
    expect(bob.get_by_test_id("certificate")).to_have_attribute("data-state", "redeemed")
    screenshot(bob, "scan-redeemed", verdict)
    assert container.runtime.registry.certificate(token).state == ChainState.REDEEMED
    assert page_errors == []


# ----------------------------------------------------------------------------- gifts to members
def test_a_gift_to_a_member_arrives_in_their_incoming_gifts_and_the_giver_can_cancel_it(
    site: LiveServer,
    client: httpx.Client,
    bottle: Bottle,
    otp: RecordingOtpSender,
    launch: Launch,
    screenshot: Shot,
    page_errors: list[str],
) -> None:
    container = site.container
    bob = open_page(chinese(launch()), f"{site.url}/my-certificates", page_errors)
    sign_in_on_page(bob, otp, BOB)  # Bob is a member now, with nothing yet
    bob_auth = token_of(bob)
    incoming = bob.get_by_test_id("incoming-gifts")
    expect(bob.get_by_test_id("certificates-empty")).to_be_visible()
    expect(incoming).to_be_hidden()
    alice = open_page(chinese(launch()), f"{site.url}/my-certificates", page_errors)
    sign_in_on_page(alice, otp, ALICE)
    alice_auth = token_of(alice)
    cid = claim_through_api(client, site, bottle, alice_auth)["id"]
    open_mine(alice, site)
    card = card_of(alice, cid)

    # A gift to a member names them: no link.
    card.get_by_role("button", name="转赠", exact=True).click()
    card.get_by_role("button", name="转赠给此会员").click()
    expect(card.get_by_test_id("action-error")).to_have_text(
        "请填写受赠人的手机号或邮箱，或者生成转赠链接。"
    )
    # (A gift to an address nobody signed up with is an invitation, answered exactly as this
    # one: test_certificate_lifecycle.py covers it at the API.)
    card.get_by_label("受赠人的手机号或邮箱").fill(BOB)
    card.get_by_role("button", name="转赠给此会员").click()
    expect_pending(card, "gifted", "gift")
    expect(card.get_by_test_id("gift-note")).to_have_text(
        "已转赠给 b***@example.com，等待对方接受。"
    )
    expect(card.get_by_test_id("gift-link")).to_have_count(0)

    # Bob opens his page: the gift is arriving (not on chain yet), then it can be accepted.
    open_mine(bob, site)
    gift = bob.get_by_test_id("incoming-gift")
    expect(gift).to_have_attribute("data-ready", "false")
    expect(gift).to_contain_text("正在送达")
    settle(container)
    expect(gift).to_have_attribute("data-ready", "true")
    expect(gift.get_by_role("button", name="接受")).to_be_visible()
    expect_confirmed(card, certificate(client, alice_auth, cid), "gifted")

    # Alice takes it back: her certificate is active again and Bob's gift is gone.
    card.get_by_role("button", name="取消转赠").click()
    expect_pending(card, "active", "cancel_gift")
    settle(container)
    expect_confirmed(card, certificate(client, alice_auth, cid), "active")
    expect(incoming).to_be_hidden()
    alice_wallet = client.get("/account", headers=alice_auth).json()["wallet_address"]
    token = int(certificate(client, alice_auth, cid)["token_id"])
    assert container.runtime.registry.owner_of(token) == alice_wallet

    # She gives it again; this time Bob accepts it from his incoming gifts.
    card.get_by_role("button", name="转赠", exact=True).click()
    card.get_by_label("受赠人的手机号或邮箱").fill(BOB)
    card.get_by_label("留言（可选）").fill("生日快乐")
    card.get_by_role("button", name="转赠给此会员").click()
    expect_pending(card, "gifted", "gift")
    settle(container)
    open_mine(bob, site)
    expect(gift).to_have_attribute("data-ready", "true")
    expect(gift).to_contain_text("“生日快乐”")
    screenshot(bob, "incoming-gift", incoming)
    gift.get_by_role("button", name="接受").click()
    bob_card = card_of(bob, cid)
    expect_pending(bob_card, "active", "accept_gift")
    expect(incoming).to_be_hidden()
    settle(container)
    expect_confirmed(bob_card, certificate(client, bob_auth, cid), "active")
    expect(card_of(alice, cid)).to_have_count(0)
    bob_wallet = client.get("/account", headers=bob_auth).json()["wallet_address"]
    assert container.runtime.registry.owner_of(token) == bob_wallet
    assert page_errors == []


# ----------------------------------------------------------------------------- gift links
def test_a_used_or_expired_gift_link_shows_the_servers_sentence(
    site: LiveServer,
    client: httpx.Client,
    bottle: Bottle,
    otp: RecordingOtpSender,
    launch: Launch,
    screenshot: Shot,
    page_errors: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    container = site.container
    alice_auth = sign_in(client, otp, ALICE)
    carol_auth = sign_in(client, otp, CAROL)
    cid = claim_through_api(client, site, bottle, alice_auth)["id"]
    used = client.post(
        f"/me/certificates/{cid}/gift", json={"expires_in_days": 3}, headers=alice_auth
    )
    assert used.status_code == 200, used.text
    settle(container)
    taken = client.post(
        "/gifts/accept", json={"secret": used.json()["gift"]["secret"]}, headers=carol_auth
    )
    assert taken.status_code == 200, taken.text
    settle(container)

    # A link without its secret says so before anything else.
    context = launch()
    page = open_page(context, f"{site.url}/gifts/accept", page_errors)
    expect(page.get_by_test_id("gift-error")).to_have_text(
        "This link is incomplete: open the whole link you were sent."
    )
    expect(page.get_by_test_id("signin")).to_be_hidden()

    # Bob opens the link Carol already used.
    page = open_page(context, on_site(site, used.json()["gift"]["link"]), page_errors)
    sign_in_on_page(page, otp, BOB)
    page.get_by_role("button", name="Accept the gift").click()
    error = page.get_by_test_id("gift-error")
    expect(error).to_have_text("This gift was already accepted or cancelled.")
    expect(page.get_by_role("button", name="Accept the gift")).to_be_hidden()  # final
    expect(page.get_by_test_id("gift-status")).to_be_hidden()
    expect(page.locator(".certificate-card")).to_have_count(0)
    screenshot(page, "gift-link-used", page.get_by_test_id("gift-accept"))

    # Carol gives it on by a link for one day, and Bob opens it two days later.
    late = client.post(
        f"/me/certificates/{cid}/gift", json={"expires_in_days": 1}, headers=carol_auth
    )
    assert late.status_code == 200, late.text
    settle(container)
    later = container.clock.now() + timedelta(days=2)
    monkeypatch.setattr(container.clock, "now", lambda: later)
    page = open_page(context, on_site(site, late.json()["gift"]["link"]), page_errors)
    expect(page.get_by_test_id("who")).to_be_visible()  # still signed in
    page.get_by_role("button", name="Accept the gift").click()
    expect(page.get_by_test_id("gift-error")).to_have_text(
        "This gift link has expired; ask the giver to send it again."
    )
    assert client.get("/me/certificates", headers=token_of(page)).json() == []
    assert certificate(client, carol_auth, cid)["state"] == "gifted"
    assert page_errors == []


def test_the_owner_takes_back_an_offer_nobody_took_up_from_the_page(
    site: LiveServer,
    client: httpx.Client,
    bottle: Bottle,
    otp: RecordingOtpSender,
    launch: Launch,
    partners: Partners,
    page_errors: list[str],
) -> None:
    alice = open_page(chinese(launch()), f"{site.url}/my-certificates", page_errors)
    sign_in_on_page(alice, otp, ALICE)
    alice_auth = token_of(alice)
    cid = claim_through_api(client, site, bottle, alice_auth)["id"]
    offered = client.post(
        f"/me/certificates/{cid}/deposit",
        json={"custodian_id": partners.custodian},
        headers=alice_auth,
    )
    assert offered.status_code == 200, offered.text
    open_mine(alice, site)
    card = card_of(alice, cid)
    expect(card).to_have_attribute("data-state", "deposit_offered")
    card.get_by_role("button", name="撤回").click()
    expect(card).to_have_attribute("data-state", "active")
    assert certificate(client, alice_auth, cid)["deals"] == []
    late = client.post(
        f"/deals/{offered.json()['deals'][0]['id']}/confirm",
        headers={"Authorization": f"Bearer {partners.custodian_key}"},
    )
    assert late.status_code == 409
    assert page_errors == []


def test_a_recalled_bottle_in_storage_offers_no_hand_out_and_the_page_says_why(
    site: LiveServer,
    client: httpx.Client,
    bottle: Bottle,
    otp: RecordingOtpSender,
    launch: Launch,
    partners: Partners,
    keys: Any,
    page_errors: list[str],
) -> None:
    container = site.container
    page = open_page(launch(), f"{site.url}/my-certificates", page_errors)
    sign_in_on_page(page, otp, ALICE)
    alice_auth = token_of(page)
    cid = claim_through_api(client, site, bottle, alice_auth)["id"]
    offered = client.post(
        f"/me/certificates/{cid}/deposit",
        json={"custodian_id": partners.custodian},
        headers=alice_auth,
    )
    assert offered.status_code == 200, offered.text
    settle(container)  # the custodian's role
    custody = partners.deal(client, partners.custodian_key, cid, "custody")
    partners.act(client, partners.custodian_key, custody["id"], "confirm")
    settle(container)
    recall = client.post(
        f"/batches/{bottle.lot.batch['id']}/recall",
        json={"reason": "Bottling fault"},
        headers={"Authorization": f"Bearer {keys.factory}"},
    )
    assert recall.status_code == 200, recall.text
    settle(container)

    open_mine(page, site)
    card = card_of(page, cid)
    expect(card).to_have_attribute("data-state", "in_custody")
    expect(card).to_have_attribute("data-recalled", "true")
    expect(card.get_by_test_id("certificate-status")).to_contain_text(
        "The brand recalled this batch: the bottle is not handed out or taken out of storage. "
        "The brand arranges the return."
    )
    # Neither "Withdraw" nor "Redeem from storage": the bottle stays where it is.
    expect(card.get_by_test_id("actions")).to_have_count(0)
    # Asked anyway (an old page, a script): 409 batch_recalled, and nothing changes.
    before = certificate(client, alice_auth, cid)
    for path, body in (("withdraw", None), ("redemption", {"method": "pickup"})):
        refused = client.post(f"/me/certificates/{cid}/{path}", json=body, headers=alice_auth)
        assert refused.status_code == 409, refused.text
        assert refused.json()["error"] == "batch_recalled"
        assert "recalled" in refused.json()["detail"]
    assert certificate(client, alice_auth, cid) == before
    token = int(before["token_id"])
    assert container.runtime.registry.certificate(token).state == ChainState.IN_CUSTODY
    assert page_errors == []


# ----------------------------------------------------------------------------- my points
def test_my_points_shows_what_a_claim_earned_and_spends_it_on_a_reward(
    site: LiveServer,
    client: httpx.Client,
    bottle: Bottle,
    otp: RecordingOtpSender,
    launch: Launch,
    keys: Any,
    screenshot: Shot,
    page_errors: list[str],
) -> None:
    programme = client.put(
        "/touchpoints/points/programme",
        json={"rewards": [{"id": "glass", "name": "A tasting glass", "points": 60}]},
        headers={"Authorization": f"Bearer {keys.brand}"},
    )
    assert programme.status_code == 200, programme.text
    alice = open_page(chinese(launch()), f"{site.url}/my-certificates", page_errors)
    sign_in_on_page(alice, otp, ALICE)
    alice_auth = token_of(alice)
    claim_through_api(client, site, bottle, alice_auth)
    site.container.touchpoints.catch_up()
    open_mine(alice, site)
    panel = alice.get_by_test_id("my-points")
    expect(panel).to_be_visible()
    # Earned, and waiting for the anti-farming screening (the worker's job) before it is spent.
    expect(panel.get_by_test_id("points-pending")).to_have_text("100 积分审核中（通常不到一分钟）")
    expect(panel.get_by_test_id("points-balance")).to_have_text("0 积分")
    site.container.risk.screen()
    open_mine(alice, site)
    panel = alice.get_by_test_id("my-points")
    expect(panel.get_by_test_id("points-pending")).to_have_count(0)
    expect(panel.get_by_test_id("points-balance")).to_have_text("100 积分")
    expect(panel).to_contain_text("认领酒证")
    panel.get_by_role("button", name="用 60 积分兑换").click()
    expect(panel).to_contain_text("已兑换：A tasting glass")
    expect(panel.get_by_test_id("points-balance")).to_have_text("40 积分")
    expect(panel).to_contain_text("已兑换：A tasting glass")  # still there after the redraw
    expect(panel).to_contain_text("-60 · 兑换 A tasting glass")
    expect(panel.get_by_role("button", name="用 60 积分兑换")).to_be_disabled()
    screenshot(alice, "my-points", focus=panel)  # and the page fits the phone's width
    mine = client.get("/me/points", headers=alice_auth).json()["brands"][0]
    assert mine["balance"] == 40 and mine["latest"][0]["rule"] == "glass"
    assert page_errors == []
