"""Gift, pledge, custody and redemption through the API, with the chain (py-evm) agreeing."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, timedelta
from threading import Barrier
from typing import Any

import pytest
from sqlalchemy import text

from chain.contracts.certificate_registry import CertificateState as ChainState
from service.identity.app import tenancy
from service.identity.app.commands import CreateApiKey, CreateOrganisation
from service.identity.app.organisations import SYSTEM_ACTOR, create_api_key, create_organisation
from tests.integration.service.conftest import auth
from tests.integration.service.consumer.helpers import (
    mint_claims,
    pinned_batch,
    settle,
    sign_in,
)

#: What the contract says for each state the service keeps (pending offers are Active).
ON_CHAIN = {
    "active": ChainState.ACTIVE,
    "pledge_offered": ChainState.ACTIVE,
    "deposit_offered": ChainState.ACTIVE,
    "pledged": ChainState.PLEDGED,
    "in_custody": ChainState.IN_CUSTODY,
    "redeemed": ChainState.REDEEMED,
    # Asked of a store: the chain moves only when the store hands the bottle out.
    "redemption_requested": ChainState.ACTIVE,
}


@dataclass
class Partners:
    pledgee: int
    pledgee_key: str
    custodian: int
    custodian_key: str
    store: int
    store_key: str
    other_pledgee_key: str


@pytest.fixture
def partners(container, keys) -> Partners:
    uows, clock, pepper = container.uow_factory, container.clock, container.settings.pepper
    actor = SYSTEM_ACTOR

    def org(name: str, kind: str) -> tuple[int, str]:
        o = create_organisation(CreateOrganisation(actor, name, kind, None), uows(), clock)
        assert o.id is not None
        key = create_api_key(CreateApiKey(actor, o.id, kind), uows(), clock, pepper).secret_key
        return o.id, key

    pledgee, pledgee_key = org("Baijiu Credit", "pledgee")
    custodian, custodian_key = org("Cellar Vault", "custodian")
    _, other_key = org("Other Lender", "pledgee")
    # The brand authorises its pledgee and custodian (the other lender stays a stranger).
    tenancy.set_partner(actor, pledgee, ["pledgee"], uows(), clock, brand_id=keys.brand_org)
    tenancy.set_partner(actor, custodian, ["custodian"], uows(), clock, brand_id=keys.brand_org)
    store = create_organisation(
        CreateOrganisation(actor, "Flagship Store", "store", keys.brand_org), uows(), clock
    )
    assert store.id is not None
    store_key = create_api_key(
        CreateApiKey(actor, store.id, "store"), uows(), clock, pepper
    ).secret_key
    return Partners(pledgee, pledgee_key, custodian, custodian_key, store.id, store_key, other_key)


class World:
    """A claimed, minted certificate of Alice's, and helpers to drive the chain."""

    def __init__(self, api, container, keys, otp, quantity: int = 12) -> None:
        self.api, self.container = api, container
        self.lot = pinned_batch(api, container, keys.factory, quantity=quantity)
        self.alice = sign_in(api, otp, "alice@example.com")
        self.bob = sign_in(api, otp, "bob@example.com")
        self.alice_wallet = api.get("/account", headers=self.alice).json()["wallet_address"]
        self.bob_wallet = api.get("/account", headers=self.bob).json()["wallet_address"]
        self.certificate = self.claim(self.lot.serials[0], self.alice)

    def claim(self, serial: str, who: dict[str, str]) -> dict[str, Any]:
        body = self.api.post(
            "/claims", json={"serial": serial, "pin": self.lot.pins[serial]}, headers=who
        ).json()
        mint_claims(self.container, lambda: self.get(body["id"], who)["state"] == "active")
        return self.get(body["id"], who)

    def get(self, certificate_id: str, who: dict[str, str]) -> dict[str, Any]:
        response = self.api.get(f"/me/certificates/{certificate_id}", headers=who)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def settle(self) -> None:
        """Step the sender until every queued chain write is confirmed (or failed)."""
        settle(self.container)

    def on_chain(self, certificate: dict[str, Any]) -> tuple[ChainState, str | None]:
        registry = self.container.runtime.registry
        token = int(certificate["token_id"])
        return registry.certificate(token).state, registry.owner_of(token)

    def post(self, path: str, who: dict[str, str], status: int = 200, **body: Any) -> Any:
        response = self.api.post(path, json=body or None, headers=who)
        assert response.status_code == status, response.text
        return response.json()


@pytest.fixture
def world(api, container, keys, otp) -> World:
    return World(api, container, keys, otp)


# ----------------------------------------------------------------------------- gifts
def test_a_gift_to_a_member_waits_in_escrow_and_moves_when_accepted(world, api):
    cid = world.certificate["id"]
    gifted = world.post(f"/me/certificates/{cid}/gift", world.alice, to="bob@example.com")
    assert gifted["state"] == "gifted" and gifted["pending"] is True
    assert gifted["gift"]["to"] == "b***@example.com" and gifted["gift"]["link"] is None
    (offer,) = api.get("/me/gifts", headers=world.bob).json()
    assert offer["ready"] is False  # createGift is not on chain yet
    early = api.post("/gifts/accept", json={"gift_id": offer["id"]}, headers=world.bob)
    assert early.status_code == 409 and early.json()["error"] == "previous_step_pending"

    world.settle()
    assert world.on_chain(world.certificate)[1] == world.container.runtime.registry.address
    (offer,) = api.get("/me/gifts", headers=world.bob).json()
    assert offer["ready"] is True
    accepted = world.post("/gifts/accept", world.bob, gift_id=offer["id"])
    assert accepted["state"] == "active" and accepted["owner_address"] == world.bob_wallet
    world.settle()
    assert world.on_chain(accepted) == (ChainState.ACTIVE, world.bob_wallet)
    assert api.get(f"/me/certificates/{cid}", headers=world.alice).status_code == 404
    assert [h["action"] for h in world.get(cid, world.bob)["history"]] == [
        "claim",
        "gift",
        "accept_gift",
    ]


def test_a_gift_to_an_unknown_address_answers_as_to_a_member_and_waits_for_the_newcomer(
    world, api, otp
):
    alice, cid = world.alice, world.certificate["id"]
    other = world.claim(world.lot.serials[1], alice)
    to_member = api.post(
        f"/me/certificates/{cid}/gift", json={"to": "bob@example.com"}, headers=alice
    )
    to_stranger = api.post(
        f"/me/certificates/{other['id']}/gift", json={"to": "Dora@Example.com"}, headers=alice
    )
    assert to_member.status_code == to_stranger.status_code == 200, to_stranger.text

    def shape(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: shape(v) for k, v in value.items()}
        if isinstance(value, list):
            return [shape(v) for v in value]
        return type(value).__name__

    assert shape(to_member.json()) == shape(to_stranger.json())
    member, stranger = to_member.json()["gift"], to_stranger.json()["gift"]
    assert (member["to"], stranger["to"]) == ("b***@example.com", "d***@example.com")
    assert member["link"] is stranger["link"] is None
    assert member["link_status"] == stranger["link_status"] == "none"
    # Both addresses get the same notice through the sign-in code channel.
    (notice_b,) = otp.notices["bob@example.com"]
    (notice_d,) = otp.notices["dora@example.com"]
    assert notice_b == notice_d and notice_d[0] == "gift" and "sign up" in notice_d[1]
    # No row keeps the stranger's address.
    with world.container.uow_factory.sessions() as s:
        deals = s.execute(text("SELECT * FROM certificate_deals")).all()
    assert deals and not any("dora" in str(row).lower() for row in deals)

    world.settle()
    dora = sign_in(api, otp, "dora@example.com")  # signing up with the address
    (offer,) = api.get("/me/gifts", headers=dora).json()
    assert offer["id"] == stranger["id"] and offer["ready"] is True
    assert api.get("/me/gifts", headers=world.bob).json()[0]["id"] == member["id"]
    # Nobody else can take it by its id.
    carol = sign_in(api, otp, "carol@example.com")
    taken = api.post("/gifts/accept", json={"gift_id": stranger["id"]}, headers=carol)
    assert taken.status_code == 404
    accepted = world.post("/gifts/accept", dora, gift_id=stranger["id"])
    assert accepted["state"] == "active"
    world.settle()
    dora_wallet = api.get("/account", headers=dora).json()["wallet_address"]
    assert world.on_chain(accepted) == (ChainState.ACTIVE, dora_wallet)


def test_a_gift_link_onboards_a_newcomer_and_works_once(world, api, otp):
    cid = world.certificate["id"]
    gifted = world.post(f"/me/certificates/{cid}/gift", world.alice, expires_in_days=3)
    secret = gifted["gift"]["secret"]
    assert gifted["gift"]["link"].endswith(secret)
    world.settle()
    carol = sign_in(api, otp, "+8613900139000")  # signing up is the onboarding
    accepted = world.post("/gifts/accept", carol, secret=secret)
    assert accepted["state"] == "active"
    again = api.post("/gifts/accept", json={"secret": secret}, headers=world.bob)
    assert again.status_code == 422 and again.json()["error"] == "invalid_deal"
    world.settle()
    carol_wallet = api.get("/account", headers=carol).json()["wallet_address"]
    assert world.on_chain(accepted) == (ChainState.ACTIVE, carol_wallet)


def test_the_giver_cancels_and_an_expired_gift_returns(world, api, container, monkeypatch):
    cid = world.certificate["id"]
    world.post(f"/me/certificates/{cid}/gift", world.alice, to="bob@example.com")
    world.settle()
    back = world.post(f"/me/certificates/{cid}/gift/cancel", world.alice)
    assert back["state"] == "active"
    world.settle()
    assert world.on_chain(back) == (ChainState.ACTIVE, world.alice_wallet)
    assert api.get("/me/gifts", headers=world.bob).json() == []

    # A gift link nobody uses: after its expiry the sweeper returns it (chain time too).
    gifted = world.post(f"/me/certificates/{cid}/gift", world.alice, expires_in_days=1)
    world.settle()
    later = container.clock.now() + timedelta(days=2)
    monkeypatch.setattr(container.clock, "now", lambda: later)
    container.runtime.backend.mine(int(later.timestamp()))
    assert container.gift_expiry_step() == 1
    world.settle()
    returned = world.get(cid, world.alice)
    assert returned["state"] == "active" and returned["deals"] == []
    assert world.on_chain(returned) == (ChainState.ACTIVE, world.alice_wallet)
    late = api.post("/gifts/accept", json={"secret": gifted["gift"]["secret"]}, headers=world.bob)
    assert late.status_code == 422


# ----------------------------------------------------------------------------- pledge
def test_pledge_locks_when_the_pledgee_accepts_and_release_unlocks(world, api, partners):
    cid = world.certificate["id"]
    offered = world.post(
        f"/me/certificates/{cid}/pledge",
        world.alice,
        pledgee_id=partners.pledgee,
        amount="10000.00",
        currency="cny",
        due_date=(date.today() + timedelta(days=30)).isoformat(),
        terms="12 months at 3%",
    )
    assert offered["state"] == "pledge_offered"
    (deal,) = offered["deals"]
    assert deal["terms"]["currency"] == "CNY"
    world.settle()  # the pledgee's chain account gets its role
    pledgee = auth(partners.pledgee_key)
    assert [d["id"] for d in api.get("/deals", headers=pledgee).json()] == [deal["id"]]
    accepted = world.post(f"/deals/{deal['id']}/accept", pledgee)
    assert accepted["certificate"]["state"] == "pledged" and accepted["status"] == "active"
    # Locked: no gift while pledged (the chain would refuse too).
    refused = api.post(f"/me/certificates/{cid}/gift", json={}, headers=world.alice)
    assert refused.status_code == 409 and refused.json()["error"] == "certificate_state_conflict"
    world.settle()
    assert world.on_chain(world.get(cid, world.alice))[0] == ChainState.PLEDGED
    assert world.get(cid, world.alice)["locked_since"] is not None
    released = world.post(f"/deals/{deal['id']}/release", pledgee)
    assert released["certificate"]["state"] == "active" and released["status"] == "done"
    assert released["settled_at"] is not None
    world.settle()
    assert world.on_chain(world.get(cid, world.alice)) == (ChainState.ACTIVE, world.alice_wallet)


def test_a_pledgee_forecloses_only_after_the_due_date(world, api, partners, container, monkeypatch):
    cid = world.certificate["id"]
    due = date.today() + timedelta(days=1)
    offered = world.post(
        f"/me/certificates/{cid}/pledge",
        world.alice,
        pledgee_id=partners.pledgee,
        amount="500",
        currency="CNY",
        due_date=due.isoformat(),
    )
    deal = offered["deals"][0]["id"]
    world.settle()
    pledgee = auth(partners.pledgee_key)
    world.post(f"/deals/{deal}/accept", pledgee)
    world.settle()
    early = api.post(f"/deals/{deal}/foreclose", headers=pledgee)
    assert early.status_code == 422 and "due on" in early.json()["detail"]
    later = container.clock.now() + timedelta(days=3)
    monkeypatch.setattr(container.clock, "now", lambda: later)
    foreclosed = world.post(f"/deals/{deal}/foreclose", pledgee)
    assert foreclosed["certificate"]["state"] == "active"
    world.settle()
    state, owner = world.on_chain(world.certificate)
    assert state == ChainState.ACTIVE and owner == foreclosed["certificate"]["owner_address"]
    assert owner != world.alice_wallet
    assert api.get(f"/me/certificates/{cid}", headers=world.alice).status_code == 404


# ----------------------------------------------------------------------------- custody, redemption
def test_custody_ages_the_bottle_then_the_custodian_hands_it_out(world, api, partners):
    cid = world.certificate["id"]
    offered = world.post(
        f"/me/certificates/{cid}/deposit", world.alice, custodian_id=partners.custodian
    )
    deal = offered["deals"][0]["id"]
    world.settle()
    custodian = auth(partners.custodian_key)
    confirmed = world.post(f"/deals/{deal}/confirm", custodian)
    assert confirmed["certificate"]["state"] == "in_custody"
    world.settle()
    stored = world.get(cid, world.alice)
    assert stored["locked_since"] is not None and stored["storage_age_days"] == 0
    # The age counts from the custody's start on chain, as the service's clock reads it.
    later = world.container.clock.now() + timedelta(days=400)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(world.container.clock, "now", lambda: later)
        assert world.get(cid, world.alice)["storage_age_days"] == 400
    assert world.on_chain(stored)[0] == ChainState.IN_CUSTODY
    refused = api.post(
        f"/me/certificates/{cid}/pledge",
        json={
            "pledgee_id": partners.pledgee,
            "amount": "1",
            "currency": "CNY",
            "due_date": (date.today() + timedelta(days=9)).isoformat(),
        },
        headers=world.alice,
    )
    assert refused.status_code == 409  # no pledge while in custody

    asked = world.post(f"/me/certificates/{cid}/redemption", world.alice, method="pickup")
    assert asked["state"] == "redemption_requested"
    redemption = next(d for d in asked["deals"] if d["kind"] == "redemption")["id"]
    world.settle()
    fulfilled = world.post(f"/deals/{redemption}/fulfil", custodian)
    assert fulfilled["certificate"]["state"] == "redeemed"
    world.settle()
    assert world.on_chain(world.certificate)[0] == ChainState.REDEEMED
    twice = api.post(f"/deals/{redemption}/fulfil", headers=custodian)
    assert twice.status_code == 409
    scan = api.get(f"/items/{world.certificate['serial']}/verify").json()
    assert scan["verdict"] == "redeemed" and scan["certificate"]["state"] == "redeemed"


def test_withdrawing_from_storage_ends_the_lock(world, api, partners):
    cid = world.certificate["id"]
    offered = world.post(
        f"/me/certificates/{cid}/deposit", world.alice, custodian_id=partners.custodian
    )
    world.settle()
    world.post(f"/deals/{offered['deals'][0]['id']}/confirm", auth(partners.custodian_key))
    world.settle()
    back = world.post(f"/me/certificates/{cid}/withdraw", world.alice)
    assert back["state"] == "active" and back["locked_since"] is None
    world.settle()
    assert world.on_chain(back) == (ChainState.ACTIVE, world.alice_wallet)


def test_a_store_hands_out_a_bottle_its_owner_kept(world, api, partners):
    cid = world.certificate["id"]
    asked = world.post(
        f"/me/certificates/{cid}/redemption",
        world.alice,
        method="delivery",
        store_id=partners.store,
        address="No. 1 West Lake Road, Hangzhou",
    )
    deal = asked["deals"][0]["id"]
    with world.container.uow_factory.sessions() as s:
        sealed = s.execute(text("SELECT sealed_details FROM certificate_deals")).scalar_one()
        payloads = b"".join(s.scalars(text("SELECT payload FROM events")))
    assert b"West Lake" not in sealed and b"West Lake" not in payloads
    # The store delivering it reads the address; another consumer cannot reach the deal at all.
    (listed,) = api.get("/deals", headers=auth(partners.store_key)).json()
    assert listed["delivery_address"] == "No. 1 West Lake Road, Hangzhou"
    assert api.get(f"/me/certificates/{cid}", headers=world.bob).status_code == 404
    assert "West Lake" not in str(api.get(f"/me/certificates/{cid}", headers=world.alice).json())
    done = world.post(f"/deals/{deal}/fulfil", auth(partners.store_key))
    assert done["certificate"]["state"] == "redeemed"
    world.settle()
    assert world.on_chain(world.certificate)[0] == ChainState.REDEEMED


# ----------------------------------------------------------------------------- access
def test_nobody_else_can_read_or_act_on_a_certificate_or_a_deal(world, api, partners):
    cid = world.certificate["id"]
    for path, body in (
        (f"/me/certificates/{cid}/gift", {}),
        (f"/me/certificates/{cid}/deposit", {"custodian_id": partners.custodian}),
        (f"/me/certificates/{cid}/withdraw", None),
        (f"/me/certificates/{cid}/redemption", {"method": "pickup", "store_id": partners.store}),
    ):
        response = api.post(path, json=body, headers=world.bob)
        assert response.status_code == 404, (path, response.text)
    offered = world.post(
        f"/me/certificates/{cid}/pledge",
        world.alice,
        pledgee_id=partners.pledgee,
        amount="1",
        currency="CNY",
        due_date=(date.today() + timedelta(days=9)).isoformat(),
    )
    deal = offered["deals"][0]["id"]
    assert (
        api.post(f"/deals/{deal}/accept", headers=auth(partners.other_pledgee_key)).status_code
        == 404
    )
    # Someone else's deal is not found, whatever the verb (issue 12, small ones).
    for verb in ("accept", "confirm", "fulfil"):
        wrong = api.post(f"/deals/{deal}/{verb}", headers=auth(partners.custodian_key))
        assert wrong.status_code == 404 and wrong.json()["error"] == "deal_not_found"
        wrong = api.post(f"/deals/{deal}/{verb}", headers=auth(partners.store_key))
        assert wrong.status_code == 404 and wrong.json()["error"] == "deal_not_found"
    assert api.get("/deals", headers=world.alice).status_code == 401  # a consumer token is no key
    assert api.get("/deals", headers=auth(partners.other_pledgee_key)).json() == []
    assert world.get(cid, world.alice)["state"] == "pledge_offered"


@pytest.mark.parametrize("extra", [{"owner": "0x" + "11" * 20}, {"state": "active"}])
def test_extra_fields_are_refused_and_change_nothing(world, api, counts, extra):
    before = counts()
    response = api.post(
        f"/me/certificates/{world.certificate['id']}/gift", json=extra, headers=world.alice
    )
    assert response.status_code == 422 and response.json()["error"] == "invalid_request"
    assert counts() == before


def test_an_idempotency_key_replays_and_refuses_another_body(world, api, counts):
    cid = world.certificate["id"]
    headers = {**world.alice, "Idempotency-Key": "gift-1"}
    body = {"to": "bob@example.com", "expires_in_days": 3}
    first = api.post(f"/me/certificates/{cid}/gift", json=body, headers=headers)
    again = api.post(f"/me/certificates/{cid}/gift", json=body, headers=headers)
    assert first.status_code == again.status_code == 200 and first.json() == again.json()
    before = counts()
    other = api.post(f"/me/certificates/{cid}/gift", json={"expires_in_days": 4}, headers=headers)
    assert other.status_code == 422 and other.json()["error"] == "idempotency_key_reused"
    assert counts() == before  # rows and the event log alike
    with world.container.uow_factory.sessions() as s:
        assert s.execute(text("SELECT count(*) FROM certificate_deals")).scalar_one() == 1


def test_a_replayed_gift_withholds_its_link_and_no_row_keeps_the_secret(world, api, otp):
    cid = world.certificate["id"]
    headers = {**world.alice, "Idempotency-Key": "gift-link-1"}
    first = api.post(f"/me/certificates/{cid}/gift", json={"expires_in_days": 3}, headers=headers)
    assert first.status_code == 200, first.text
    secret = first.json()["gift"]["secret"]
    assert first.json()["gift"]["link_status"] == "shown" and secret in first.json()["gift"]["link"]
    again = api.post(f"/me/certificates/{cid}/gift", json={"expires_in_days": 3}, headers=headers)
    assert again.status_code == 200
    replayed = again.json()["gift"]
    assert replayed["id"] == first.json()["gift"]["id"]
    assert (replayed["link"], replayed["secret"], replayed["link_status"]) == (
        None,
        None,
        "withheld",
    )
    assert "cancel the gift and make a new one" in replayed["link_note"]
    assert secret not in again.text
    with world.container.uow_factory.sessions() as s:
        stored = s.execute(text("SELECT body FROM idempotency_keys")).scalars().all()
    assert stored and not any(secret.encode() in bytes(b) for b in stored)
    # The link shown once still works.
    world.settle()
    carol = sign_in(api, otp, "carol@example.com")
    assert world.post("/gifts/accept", carol, secret=secret)["state"] == "active"


# ----------------------------------------------------------------------------- races, failures
def test_sixteen_conflicting_actions_one_wins_and_the_chain_agrees(world, api, partners):
    cid = world.certificate["id"]
    due = (date.today() + timedelta(days=9)).isoformat()
    attempts = [
        ("gift", {"expires_in_days": 2}),
        ("deposit", {"custodian_id": partners.custodian}),
        (
            "pledge",
            {"pledgee_id": partners.pledgee, "amount": "9", "currency": "CNY", "due_date": due},
        ),
        ("redemption", {"method": "pickup", "store_id": partners.store}),
    ] * 4
    barrier = Barrier(16)

    def attempt(job):
        barrier.wait()
        return api.post(f"/me/certificates/{cid}/{job[0]}", json=job[1], headers=world.alice)

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(attempt, attempts))
    codes = sorted(a.status_code for a in answers)
    assert codes == [200] + [409] * 15, [a.text for a in answers]
    winner = next(a.json() for a in answers if a.status_code == 200)
    with world.container.uow_factory.sessions() as s:
        open_deals = s.execute(
            text("SELECT count(*) FROM certificate_deals WHERE status IN ('offered','active')")
        ).scalar_one()
    assert open_deals == 1
    world.settle()
    state, owner = world.on_chain(winner)
    final = world.get(cid, world.alice)
    if final["state"] == "gifted":
        assert owner == world.container.runtime.registry.address
    else:
        assert state == ON_CHAIN[final["state"]] and owner == world.alice_wallet


def test_a_step_the_chain_refuses_is_put_back(world, api, container, keys):
    """The brand recalls the batch after the claim: the gift's createGift reverts, and the
    certificate is active again with its gift cancelled; the wallet's nonce is reused."""
    cid = world.certificate["id"]
    recall = api.post(
        f"/batches/{world.lot.batch['id']}/recall",
        json={"reason": "taint"},
        headers=auth(keys.factory),
    )
    assert recall.status_code == 200
    world.settle()
    gifted = world.post(f"/me/certificates/{cid}/gift", world.alice, expires_in_days=2)
    assert gifted["state"] == "gifted"
    world.settle()
    back = world.get(cid, world.alice)
    assert back["state"] == "active" and back["deals"] == [] and back["pending"] is False
    assert back["history"][-1]["status"] == "failed"
    with container.uow_factory.sessions() as s:
        assert s.execute(text("SELECT next_nonce FROM wallet_nonces")).scalar_one() == 0


def test_a_step_the_chain_refused_can_be_asked_again(world, api, partners, keys):
    """The pledgee's accept is refused on chain (the batch was recalled after the offer) and put
    back; accepting again signs the same call over the same (rewound) nonce. It is a new
    attempt, queued and refused again, never a 500 on the outbox's dedupe key."""
    cid = world.certificate["id"]
    offered = world.post(
        f"/me/certificates/{cid}/pledge",
        world.alice,
        pledgee_id=partners.pledgee,
        amount="100.00",
        currency="CNY",
        due_date=(date.today() + timedelta(days=30)).isoformat(),
    )
    (deal,) = offered["deals"]
    world.settle()
    recall = api.post(
        f"/batches/{world.lot.batch['id']}/recall",
        json={"reason": "taint"},
        headers=auth(keys.factory),
    )
    assert recall.status_code == 200
    world.settle()
    pledgee = auth(partners.pledgee_key)
    for _ in range(2):
        accepted = api.post(f"/deals/{deal['id']}/accept", headers=pledgee)
        assert accepted.status_code == 200, accepted.text
        assert accepted.json()["certificate"]["state"] == "pledged"
        world.settle()
        back = world.get(cid, world.alice)
        assert back["state"] == "pledge_offered" and back["history"][-1]["status"] == "failed"


def test_used_and_expired_gift_links_are_refused_and_change_nothing(
    world, api, container, counts, otp, monkeypatch
):
    cid = world.certificate["id"]
    used = world.post(f"/me/certificates/{cid}/gift", world.alice, expires_in_days=1)
    world.settle()
    world.post("/gifts/accept", world.bob, secret=used["gift"]["secret"])
    world.settle()
    forwarder = container.runtime.forwarder
    # Bob gives it on by link; nobody uses that link in time.
    link = world.post(f"/me/certificates/{cid}/gift", world.bob, expires_in_days=1)
    world.settle()
    later = container.clock.now() + timedelta(days=2)
    monkeypatch.setattr(container.clock, "now", lambda: later)
    carol = sign_in(api, otp, "carol@example.com")
    before = counts()
    nonces = {w: forwarder.nonces(w) for w in (world.alice_wallet, world.bob_wallet)}
    for secret, code in (
        (used["gift"]["secret"], "already accepted"),
        (link["gift"]["secret"], "expired"),
    ):
        response = api.post("/gifts/accept", json={"secret": secret}, headers=carol)
        assert response.status_code == 422 and response.json()["error"] == "invalid_deal"
        assert code in response.json()["detail"]
    unknown = api.post("/gifts/accept", json={"secret": "not-a-secret"}, headers=carol)
    assert unknown.status_code == 404 and unknown.json()["error"] == "deal_not_found"
    assert counts() == before
    assert {w: forwarder.nonces(w) for w in nonces} == nonces


def test_the_owner_takes_back_offers_nobody_took_up(world, api, partners):
    cid = world.certificate["id"]
    offered = world.post(
        f"/me/certificates/{cid}/pledge",
        world.alice,
        pledgee_id=partners.pledgee,
        amount="1",
        currency="CNY",
        due_date=(date.today() + timedelta(days=9)).isoformat(),
    )
    deal = offered["deals"][0]["id"]
    back = world.post(f"/me/certificates/{cid}/offer/cancel", world.alice)
    assert back["state"] == "active" and back["deals"] == []
    world.settle()
    late = api.post(f"/deals/{deal}/accept", headers=auth(partners.pledgee_key))
    assert late.status_code == 409
    asked = world.post(
        f"/me/certificates/{cid}/redemption", world.alice, method="pickup", store_id=partners.store
    )
    assert asked["state"] == "redemption_requested"
    assert world.post(f"/me/certificates/{cid}/offer/cancel", world.alice)["state"] == "active"
    nothing = api.post(f"/me/certificates/{cid}/offer/cancel", headers=world.alice)
    assert nothing.status_code == 409
    assert [h["action"] for h in world.get(cid, world.alice)["history"]][-2:] == [
        "request_redemption",
        "cancel_offer",
    ]


def test_a_recalled_bottle_is_never_handed_out_and_the_refusal_changes_nothing(
    world, api, partners, keys, counts
):
    custodian, store = auth(partners.custodian_key), auth(partners.store_key)

    def stored(serial: str) -> dict[str, Any]:
        certificate = world.claim(serial, world.alice)
        offered = world.post(
            f"/me/certificates/{certificate['id']}/deposit",
            world.alice,
            custodian_id=partners.custodian,
        )
        world.settle()
        world.post(f"/deals/{offered['deals'][0]['id']}/confirm", custodian)
        world.settle()
        return world.get(certificate["id"], world.alice)

    asked = stored(world.lot.serials[1])  # asked from storage before the recall (on chain)
    asked_view = world.post(
        f"/me/certificates/{asked['id']}/redemption", world.alice, method="pickup"
    )
    from_storage = next(d for d in asked_view["deals"] if d["kind"] == "redemption")["id"]
    kept = stored(world.lot.serials[2])
    at_store = world.claim(world.lot.serials[3], world.alice)  # asked of a store (off chain)
    store_view = world.post(
        f"/me/certificates/{at_store['id']}/redemption",
        world.alice,
        method="pickup",
        store_id=partners.store,
    )
    from_store = store_view["deals"][0]["id"]
    held = world.certificate  # in the owner's hands
    world.settle()
    recall = api.post(
        f"/batches/{world.lot.batch['id']}/recall",
        json={"reason": "leak"},
        headers=auth(keys.factory),
    )
    assert recall.status_code == 200, recall.text
    world.settle()

    before = counts()
    chain_before = [world.on_chain(c) for c in (asked, kept, at_store, held)]
    refusals = [
        (f"/deals/{from_storage}/fulfil", custodian, None),
        (f"/deals/{from_store}/fulfil", store, None),
        (f"/me/certificates/{kept['id']}/withdraw", world.alice, None),
        (f"/me/certificates/{kept['id']}/redemption", world.alice, {"method": "pickup"}),
        (
            f"/me/certificates/{held['id']}/redemption",
            world.alice,
            {"method": "pickup", "store_id": partners.store},
        ),
    ]
    for path, who, body in refusals:
        response = api.post(path, json=body, headers=who)
        assert response.status_code == 409, (path, response.text)
        assert response.json()["error"] == "batch_recalled", path
        assert "recalled" in response.json()["detail"]
    assert counts() == before  # no row, no event, no chain write
    assert [world.on_chain(c) for c in (asked, kept, at_store, held)] == chain_before
    assert world.get(kept["id"], world.alice)["product"]["recalled"] is True
    assert world.get(asked["id"], world.alice)["state"] == "redemption_requested"
