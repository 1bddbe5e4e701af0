"""Answers that say exactly what happened: counts in the right plural form (with the count as a
field), a state conflict named as one (with the state), a step that waits for the chain with
when to retry (Retry-After), and the gift escrow the chain names as owner shown in the view."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import text

from tests.integration.service.conftest import auth
from tests.integration.service.consumer.helpers import pinned_batch, sign_in
from tests.integration.service.consumer.test_certificate_lifecycle import World, partners, world
from tests.integration.service.consumer.test_consumer_api import wrong_pin

# Fixtures used here but defined in test_certificate_lifecycle (pytest finds them here).
__all__ = ["partners", "world"]


def test_the_last_try_is_said_in_the_singular_and_counted_in_a_field(api, container, keys, otp):
    sent = api.post("/accounts/codes", json={"destination": "a@example.com"}).json()
    code = otp.last("a@example.com")
    bad = "000000" if code != "000000" else "111111"
    answers = [
        api.post("/accounts/sessions", json={"challenge_id": sent["challenge_id"], "code": bad})
        for _ in range(5)
    ]
    details = [a.json()["detail"] for a in answers]
    assert "4 tries left" in details[0] and "1 try left" in details[3]
    assert "1 tries" not in " ".join(details) and "used up" in details[4]
    assert [a.json()["attempts_left"] for a in answers] == [4, 3, 2, 1, 0]

    lot = pinned_batch(api, container, keys.factory)
    mallory = sign_in(api, otp, "mallory@example.com")
    serial = lot.serials[0]
    claims = [
        api.post(
            "/claims", json={"serial": serial, "pin": wrong_pin(lot.pins[serial])}, headers=mallory
        )
        for _ in range(5)
    ]
    assert [c.json()["attempts_left"] for c in claims] == [4, 3, 2, 1, 0]
    assert "1 try left before claiming locks" in claims[3].json()["detail"]
    assert "locked" in claims[4].json()["detail"]


def test_a_second_redemption_request_from_storage_is_a_state_conflict(
    world: World, api, partners, counts
):
    cid = world.certificate["id"]
    offered = world.post(
        f"/me/certificates/{cid}/deposit", world.alice, custodian_id=partners.custodian
    )
    world.settle()
    world.post(f"/deals/{offered['deals'][0]['id']}/confirm", auth(partners.custodian_key))
    world.settle()
    asked = world.post(f"/me/certificates/{cid}/redemption", world.alice, method="pickup")
    assert asked["state"] == "redemption_requested"
    before = counts()
    again = api.post(
        f"/me/certificates/{cid}/redemption", json={"method": "pickup"}, headers=world.alice
    )
    assert again.status_code == 409, again.text
    body = again.json()
    assert body["error"] == "certificate_state_conflict"
    assert body["state"] == "redemption_requested" and "store" not in body["detail"].lower()
    assert counts() == before


def test_a_pledgees_first_accept_says_when_to_retry_and_the_retry_goes_through(
    world: World, api, partners, counts
):
    cid = world.certificate["id"]
    offered = world.post(
        f"/me/certificates/{cid}/pledge",
        world.alice,
        pledgee_id=partners.pledgee,
        amount="500",
        currency="CNY",
        due_date=(date.today() + timedelta(days=30)).isoformat(),
    )
    deal = offered["deals"][0]["id"]
    pledgee = auth(partners.pledgee_key)
    before = counts()
    # The pledgee's chain account is still being registered (its first deal registers it).
    first = api.post(f"/deals/{deal}/accept", headers=pledgee)
    assert first.status_code == 409 and first.json()["error"] == "previous_step_pending"
    assert first.headers["retry-after"] == "10"
    assert "10 seconds" in first.json()["detail"] and "same request" in first.json()["detail"]
    assert counts() == before
    world.settle()
    again = world.post(f"/deals/{deal}/accept", pledgee)
    assert again["certificate"]["state"] == "pledged"


def test_an_open_gift_shows_the_escrow_the_chain_names_as_owner(world: World, api, container):
    cid = world.certificate["id"]
    assert world.certificate["chain_holder"] == {
        "address": world.alice_wallet,
        "held_as": "owner",
    }
    gifted = world.post(f"/me/certificates/{cid}/gift", world.alice, to="bob@example.com")
    # createGift is not on chain yet: the chain still names the giver.
    assert gifted["chain_holder"] == {"address": world.alice_wallet, "held_as": "owner"}
    world.settle()
    view = world.get(cid, world.alice)
    registry = container.runtime.registry.address
    assert view["owner_address"] == world.alice_wallet and view["state"] == "gifted"
    assert view["chain_holder"] == {"address": registry, "held_as": "gift_escrow"}
    assert world.on_chain(view)[1] == view["chain_holder"]["address"]
    listed = api.get("/me/certificates", headers=world.alice).json()
    assert [c["chain_holder"]["held_as"] for c in listed] == ["gift_escrow"]
    with container.uow_factory.sessions() as s:
        assert s.execute(text("SELECT count(*) FROM certificates")).scalar_one() == 1
