"""Self-custody: a consumer binds their own address, claims to it, and signs EIP-712 requests
(vouchers) for the steps they take; replayed or wrongly signed vouchers change nothing."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from sqlalchemy import text

from chain.contracts.certificate_registry import CertificateState as ChainState
from tests.integration.service.consumer.helpers import (
    mint_claims,
    pinned_batch,
    settle,
    sign_in,
)
from tests.integration.service.consumer.test_certificate_lifecycle import World, partners  # noqa: F401


def sign(key: Any, typed: dict[str, Any]) -> str:
    return "0x" + bytes(key.sign_message(encode_typed_data(full_message=typed)).signature).hex()


class Holder:
    """A consumer with a wallet of their own (the test holds its key)."""

    def __init__(self, api, otp, destination: str, headers: dict[str, str] | None = None) -> None:
        self.api = api
        self.key = Account.create()
        self.headers = headers or sign_in(api, otp, destination)

    def bind(self, typed_change=None) -> Any:
        challenge = self.api.post(
            "/account/wallet/challenge", json={"address": self.key.address}, headers=self.headers
        ).json()
        typed = copy.deepcopy(challenge["typed_data"])
        if typed_change:
            typed_change(typed)
        return self.api.put(
            "/account/wallet",
            json={
                "address": self.key.address,
                "deadline": challenge["deadline"],
                "signature": sign(self.key, typed),
            },
            headers=self.headers,
        )


@pytest.fixture
def holder(api, container, keys, otp) -> tuple[Holder, dict[str, Any], Any]:
    """A self-custody holder with a claimed, minted certificate."""
    lot = pinned_batch(api, container, keys.factory)
    h = Holder(api, otp, "self@example.com")
    bound = h.bind()
    assert bound.status_code == 200, bound.text
    assert bound.json()["custody"] == "self" and bound.json()["wallet_address"] == h.key.address
    serial = lot.serials[0]
    claimed = api.post(
        "/claims", json={"serial": serial, "pin": lot.pins[serial]}, headers=h.headers
    ).json()
    mint_claims(
        container,
        lambda: (
            api.get(f"/me/certificates/{claimed['id']}", headers=h.headers).json()["state"]
            == "active"
        ),
    )
    assert container.runtime.registry.owner_of(int(claimed["token_id"])) == h.key.address
    return h, claimed, lot


def test_a_binding_signed_for_another_chain_or_by_another_key_is_refused(api, otp, counts):
    h = Holder(api, otp, "h@example.com")
    before = counts()

    def other_chain(typed):
        typed["domain"]["chainId"] = 1

    refused = h.bind(other_chain)
    assert refused.status_code == 422 and refused.json()["error"] == "invalid_wallet_binding"
    impostor = Holder(api, otp, "i@example.com")
    impostor.key = Account.create()
    response = api.post(
        "/account/wallet/challenge", json={"address": h.key.address}, headers=impostor.headers
    ).json()
    forged = api.put(
        "/account/wallet",
        json={
            "address": h.key.address,
            "deadline": response["deadline"],
            "signature": sign(impostor.key, response["typed_data"]),
        },
        headers=impostor.headers,
    )
    assert forged.status_code == 422
    after = counts()
    after.pop("accounts"), before.pop("accounts")  # the impostor signed up in between
    for table in ("otp_challenges", "account_sessions", "events", "log_head"):
        after.pop(table, None), before.pop(table, None)
    assert after == before
    assert api.get("/account", headers=h.headers).json()["custody"] == "custodial"


def test_a_self_custody_gift_runs_once_with_the_owners_signature(
    holder, api, container, counts, otp
):
    h, certificate, _ = holder
    cid = certificate["id"]
    prepared = api.post(f"/me/certificates/{cid}/gift", json={"to": None}, headers=h.headers)
    assert prepared.status_code == 200, prepared.text
    voucher = prepared.json()["voucher"]
    assert prepared.json()["state"] == "active"  # nothing changed yet
    typed = voucher["typed_data"]
    assert typed["message"]["from"] == h.key.address
    assert typed["domain"]["chainId"] == container.runtime.recorded.chain_id

    forwarder = container.runtime.forwarder
    signature = sign(h.key, typed)

    # A voucher signed for another chain id recovers to someone else: refused, nothing moves.
    wrong = copy.deepcopy(typed)
    wrong["domain"]["chainId"] = typed["domain"]["chainId"] + 1
    before, nonce_before = counts(), forwarder.nonces(h.key.address)
    refused = api.post(
        f"/me/vouchers/{voucher['id']}", json={"signature": sign(h.key, wrong)}, headers=h.headers
    )
    assert refused.status_code == 422 and refused.json()["error"] == "invalid_voucher_signature"
    assert counts() == before and forwarder.nonces(h.key.address) == nonce_before

    keyed = {**h.headers, "Idempotency-Key": "sign-gift"}
    done = api.post(f"/me/vouchers/{voucher['id']}", json={"signature": signature}, headers=keyed)
    assert done.status_code == 200, done.text
    # The same key and body answer the same (a retried request is not a replay), except the
    # link's secret, which no replay record keeps.
    again = api.post(f"/me/vouchers/{voucher['id']}", json={"signature": signature}, headers=keyed)
    assert again.status_code == 200 and again.json()["gift"]["link_status"] == "withheld"
    assert {k: v for k, v in again.json().items() if k != "gift"} == {
        k: v for k, v in done.json().items() if k != "gift"
    }
    secret = done.json()["gift"]["secret"]
    assert done.json()["state"] == "gifted" and secret and secret not in again.text
    with container.uow_factory.sessions() as s:
        rows = s.execute(text("SELECT params FROM vouchers")).scalars().all()
        rows += s.execute(text("SELECT body FROM idempotency_keys")).scalars().all()
    assert rows and not any(secret in str(row) for row in rows)
    settle(container)
    assert forwarder.nonces(h.key.address) == nonce_before + 1
    registry = container.runtime.registry
    assert registry.owner_of(int(certificate["token_id"])) == registry.address

    # The same voucher again: refused, and nothing changes anywhere, on chain included.
    before, nonce_before = counts(), forwarder.nonces(h.key.address)
    replay = api.post(
        f"/me/vouchers/{voucher['id']}", json={"signature": signature}, headers=h.headers
    )
    assert replay.status_code == 409 and replay.json()["error"] == "voucher_used"
    assert counts() == before and forwarder.nonces(h.key.address) == nonce_before

    # A newcomer accepts the link; the token leaves escrow to their custodial wallet.
    bob = sign_in(api, otp, "bob@example.com")
    accepted = api.post(
        "/gifts/accept", json={"secret": done.json()["gift"]["secret"]}, headers=bob
    )
    assert accepted.status_code == 200, accepted.text
    settle(container)
    bob_wallet = api.get("/account", headers=bob).json()["wallet_address"]
    assert registry.owner_of(int(certificate["token_id"])) == bob_wallet
    assert registry.certificate(int(certificate["token_id"])).state == ChainState.ACTIVE


def test_someone_elses_voucher_and_unsupported_steps_are_refused(holder, api, otp, partners):  # noqa: F811
    h, certificate, _ = holder
    prepared = api.post(
        f"/me/certificates/{certificate['id']}/gift", json={}, headers=h.headers
    ).json()
    other = sign_in(api, otp, "other@example.com")
    stolen = api.post(
        f"/me/vouchers/{prepared['voucher']['id']}",
        json={"signature": sign(h.key, prepared["voucher"]["typed_data"])},
        headers=other,
    )
    assert stolen.status_code == 404
    malformed = api.post(
        f"/me/vouchers/{prepared['voucher']['id']}",
        json={"signature": "0x1234"},
        headers=h.headers,
    )
    assert malformed.status_code == 422 and malformed.json()["error"] == "invalid_request"
    pledge = api.post(
        f"/me/certificates/{certificate['id']}/pledge",
        json={
            "pledgee_id": partners.pledgee,
            "amount": "1",
            "currency": "CNY",
            "due_date": "2099-01-01",
        },
        headers=h.headers,
    )
    assert pledge.status_code == 422 and "self-custody" in pledge.json()["detail"]


def test_binding_comes_before_the_first_claim(api, container, keys, otp):
    world = World(api, container, keys, otp)
    late = Holder(api, otp, "alice@example.com", world.alice)  # Alice holds a certificate
    response = late.bind()
    assert response.status_code == 422 and "before the first claim" in response.json()["detail"]
