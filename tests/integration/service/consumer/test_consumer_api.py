"""Consumer accounts and claims through the API, on both databases and py-evm."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from threading import Barrier

import pytest
from eth_account import Account
from sqlalchemy import text

from chain.contracts.certificate_registry import ClaimRequest
from chain.deploy import send_transaction
from tests.integration.service.conftest import auth, run_sender_until
from tests.integration.service.consumer.helpers import (
    mint_claims,
    pinned_batch,
    sign_in,
)


def wrong_pin(pin: str) -> str:
    """A well-formed PIN that is not ``pin``."""
    return "0000-0000" if pin != "0000-0000" else "1111-1111"


# ----------------------------------------------------------------------------- accounts
def test_sign_up_creates_an_account_with_a_custodial_wallet_and_sign_in_finds_it(
    api, container, otp
):
    sent = api.post("/accounts/codes", json={"destination": "138 0013 8000"})
    assert sent.status_code == 202
    assert sent.json()["sent_to"] == "+86138****8000"
    first = api.post(
        "/accounts/sessions",
        json={"challenge_id": sent.json()["challenge_id"], "code": otp.last("+8613800138000")},
    )
    assert first.status_code == 201 and first.json()["created"] is True
    account = first.json()["account"]
    assert account["custody"] == "custodial" and account["wallet_address"].startswith("0x")
    me = api.get("/account", headers={"Authorization": f"Bearer {first.json()['token']}"})
    assert me.status_code == 200 and me.json() == account

    with container.uow_factory.sessions() as s:
        sealed, destination = s.execute(text("SELECT sealed_key, destination FROM accounts")).one()
    # The key is sealed with the wallet KEK, bound to the address, and opens to that address.
    assert (
        container.wallets.open(account["wallet_address"], sealed).address
        == account["wallet_address"]
    )
    assert destination == "+8613800138000"
    # No personal data in the event log.
    with container.uow_factory.sessions() as s:
        payloads = b"".join(s.scalars(text("SELECT payload FROM events")))
    assert b"13800138000" not in payloads and account["wallet_address"].encode() in payloads

    # A second sign-in with a new code finds the same account (the 30 s resend wait is
    # skipped by moving the first challenge back in time).
    with container.uow_factory.sessions.begin() as s:
        s.execute(text("UPDATE otp_challenges SET created_at = '2000-01-01 00:00:00+00:00'"))
    again = sign_in(api, otp, "+8613800138000")
    assert api.get("/account", headers=again).json()["id"] == account["id"]


def test_wrong_codes_count_and_a_used_code_does_not_open_a_second_session(api, otp):
    sent = api.post("/accounts/codes", json={"destination": "a@example.com"}).json()
    code = otp.last("a@example.com")
    bad = "000000" if code != "000000" else "111111"
    wrong = api.post("/accounts/sessions", json={"challenge_id": sent["challenge_id"], "code": bad})
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_sign_in_code"
    assert "4 tries left" in wrong.json()["detail"]
    ok = api.post("/accounts/sessions", json={"challenge_id": sent["challenge_id"], "code": code})
    assert ok.status_code == 201
    reused = api.post(
        "/accounts/sessions", json={"challenge_id": sent["challenge_id"], "code": code}
    )
    assert reused.status_code == 401 and reused.json()["error"] == "invalid_sign_in_code"


def test_codes_for_one_address_are_rate_limited(api, otp):
    assert api.post("/accounts/codes", json={"destination": "b@example.com"}).status_code == 202
    again = api.post("/accounts/codes", json={"destination": "B@example.com"})
    assert again.status_code == 429 and again.json()["error"] == "code_rate_limited"
    assert len(otp.sent["b@example.com"]) == 1


def test_sign_out_stops_the_token_at_once(api, otp):
    headers = sign_in(api, otp, "c@example.com")
    me = api.get("/account", headers=headers)
    assert me.status_code == 200, me.text
    assert api.delete("/accounts/sessions/current", headers=headers).status_code == 204
    after = api.get("/account", headers=headers)
    assert after.status_code == 401 and after.json()["error"] == "invalid_session"


@pytest.mark.parametrize(
    "header",
    [None, "Bearer nonsense", "Bearer eyJhbGciOiJIUzI1NiJ9.e30.c2ln", "Basic abc"],
)
def test_consumer_endpoints_refuse_missing_and_forged_tokens(api, header):
    headers = {"Authorization": header} if header else {}
    response = api.get("/me/certificates", headers=headers)
    assert response.status_code == 401 and response.json()["error"] == "invalid_session"


@pytest.mark.parametrize(
    "destination", ["", "not an address", "12345", "a@b", "+0123456789", "x" * 300]
)
def test_malformed_destinations_are_refused(api, otp, destination):
    response = api.post("/accounts/codes", json={"destination": destination})
    assert response.status_code == 422
    assert response.json()["error"] in ("invalid_destination", "invalid_request")
    assert otp.sent == {}


# ----------------------------------------------------------------------------- claims
def test_claim_is_pending_then_minted_in_one_shared_transaction(api, container, keys, otp):
    lot = pinned_batch(api, container, keys.factory)
    alice, bob = sign_in(api, otp, "alice@example.com"), sign_in(api, otp, "bob@example.com")
    s1, s2, s3 = lot.serials[:3]
    claims = [
        api.post(
            "/claims", json={"serial": s1, "pin": lot.pins[s1], "region": "330106"}, headers=alice
        ),
        api.post("/claims", json={"serial": s2, "pin": lot.pins[s2].lower()}, headers=alice),
        api.post("/claims", json={"serial": s3, "pin": lot.pins[s3].replace("-", "")}, headers=bob),
    ]
    assert [c.status_code for c in claims] == [202] * 3, [c.text for c in claims]
    first = claims[0].json()
    assert first["state"] == "claim_pending" and first["pending"] is True
    assert first["chain"]["status"] == "queued" and first["claim_region"] == "330106"
    assert first["product"]["gtin"] == lot.batch["gtin"]
    assert first["product"]["name"] == "Sauce-aroma 53% vol 500 ml"

    # Within the batching window nothing is sent; forced, all three share one claimBatch.
    assert container.claim_step() == 0
    mint_claims(
        container,
        lambda: all(
            c["state"] == "active" for c in api.get("/me/certificates", headers=alice).json()
        ),
    )
    with container.uow_factory.sessions() as s:
        kinds = s.execute(text("SELECT kind FROM outbox WHERE kind LIKE 'claim%'")).scalars().all()
    assert kinds == ["claim_batch"]
    mine = api.get("/me/certificates", headers=alice).json()
    assert sorted(c["serial"] for c in mine) == sorted([s1, s2])
    tx = {c["chain"]["tx_hash"] for c in mine}
    assert len(tx) == 1 and None not in tx
    registry = container.runtime.registry
    for c in mine:
        assert (
            registry.owner_of(int(c["token_id"]))
            == api.get("/account", headers=alice).json()["wallet_address"]
        )
    assert [h["action"] for h in mine[0]["history"]] == ["claim"]
    assert mine[0]["history"][0]["status"] == "confirmed"
    # Bob's certificate went in the same transaction, and only he sees it.
    (bobs,) = api.get("/me/certificates", headers=bob).json()
    assert bobs["serial"] == s3 and bobs["chain"]["tx_hash"] in tx
    assert api.get(f"/me/certificates/{bobs['id']}", headers=alice).status_code == 404
    assert api.get(f"/me/certificates/{bobs['id']}", headers=bob).status_code == 200


def test_a_claimed_bottle_cannot_be_claimed_again(api, container, keys, otp):
    lot = pinned_batch(api, container, keys.factory)
    alice, bob = sign_in(api, otp, "alice@example.com"), sign_in(api, otp, "bob@example.com")
    serial = lot.serials[0]
    body = {"serial": serial, "pin": lot.pins[serial]}
    assert api.post("/claims", json=body, headers=alice).status_code == 202
    for who in (alice, bob):
        again = api.post("/claims", json=body, headers=who)
        assert again.status_code == 409 and again.json()["error"] == "already_claimed"


def test_a_strangers_wrong_pins_lock_only_the_stranger_and_the_buyer_claims_at_once(
    api, container, keys, otp
):
    lot = pinned_batch(api, container, keys.factory)
    mallory = sign_in(api, otp, "mallory@example.com")
    serial = lot.serials[0]
    bad = {"serial": serial, "pin": wrong_pin(lot.pins[serial])}
    answers = [api.post("/claims", json=bad, headers=mallory) for _ in range(6)]
    assert [a.status_code for a in answers[:5]] == [403] * 5
    assert (
        answers[0].json()["error"] == "wrong_pin" and "4 tries left" in answers[0].json()["detail"]
    )
    assert answers[5].status_code == 429 and answers[5].json()["error"] == "pin_locked"
    # The lock holds for the stranger, even with the right PIN...
    right = {"serial": serial, "pin": lot.pins[serial]}
    locked = api.post("/claims", json=right, headers=mallory)
    assert locked.status_code == 429 and "from your account" in locked.json()["detail"]
    with container.uow_factory.sessions() as s:
        assert s.execute(text("SELECT count(*) FROM certificates")).scalar_one() == 0
    # ...and not for the buyer, who claims at once.
    alice = sign_in(api, otp, "alice@example.com")
    claimed = api.post("/claims", json=right, headers=alice)
    assert claimed.status_code == 202, claimed.text


def test_sixteen_racing_wrong_pins_get_no_more_than_the_free_tries_checked(
    api, container, keys, otp
):
    lot = pinned_batch(api, container, keys.factory)
    mallory = sign_in(api, otp, "mallory@example.com")
    serial = lot.serials[0]
    bad = {"serial": serial, "pin": wrong_pin(lot.pins[serial])}
    barrier = Barrier(16)

    def guess(_: int):
        barrier.wait()
        return api.post("/claims", json=bad, headers=mallory)

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(guess, range(16)))
    statuses = sorted(a.status_code for a in answers)
    # Each checked guess is a 403 wrong_pin; the pair locks after five, and the racing rest
    # are refused unchecked.
    assert statuses == [403] * 5 + [429] * 11, [a.text for a in answers]
    with container.uow_factory.sessions() as s:
        counted = dict(s.execute(text("SELECT subject, failures FROM pin_guards")).all())
    assert sorted(counted.values()) == [5, 5, 5], counted
    assert f"item:{serial}" in counted and len(counted) == 3


def test_wrong_pins_from_many_accounts_cap_guessing_at_one_bottle(api, container, keys, otp):
    lot = pinned_batch(api, container, keys.factory)
    serial = lot.serials[0]
    bad = {"serial": serial, "pin": wrong_pin(lot.pins[serial])}
    # Ten accounts, five wrong PINs each: no account or pair goes past its own lock...
    for i in range(10):
        who = sign_in(api, otp, f"guesser{i}@example.com")
        statuses = [api.post("/claims", json=bad, headers=who).status_code for _ in range(5)]
        assert statuses == [403] * 5, (i, statuses)
    # ...but the bottle has had 50 wrong PINs today: claiming it pauses for everyone, for a day.
    alice = sign_in(api, otp, "alice@example.com")
    paused = api.post("/claims", json={"serial": serial, "pin": lot.pins[serial]}, headers=alice)
    assert paused.status_code == 429 and paused.json()["error"] == "pin_locked"
    assert "many accounts" in paused.json()["detail"]
    # Another bottle is untouched.
    other = lot.serials[1]
    ok = api.post("/claims", json={"serial": other, "pin": lot.pins[other]}, headers=alice)
    assert ok.status_code == 202, ok.text
    # A day later the bottle can be claimed again.
    with container.uow_factory.sessions.begin() as s:
        s.execute(
            text("UPDATE pin_guards SET locked_until = :at, updated_at = :at"),
            {"at": container.clock.now() - timedelta(days=1, seconds=1)},
        )
    later = api.post("/claims", json={"serial": serial, "pin": lot.pins[serial]}, headers=alice)
    assert later.status_code == 202, later.text


def test_an_account_locks_after_wrong_pins_across_bottles(api, container, keys, otp):
    lot = pinned_batch(api, container, keys.factory)
    mallory = sign_in(api, otp, "mallory@example.com")
    statuses = []
    for serial in lot.serials[:11]:
        bad = {"serial": serial, "pin": wrong_pin(lot.pins[serial])}
        statuses.append(api.post("/claims", json=bad, headers=mallory).status_code)
    assert statuses[:10] == [403] * 10 and statuses[10] == 429
    serial = lot.serials[11]
    locked = api.post("/claims", json={"serial": serial, "pin": lot.pins[serial]}, headers=mallory)
    assert locked.status_code == 429 and "your account" in locked.json()["detail"]


@pytest.mark.parametrize("pin", ["", "123", "ABCD-EFG!", "ÄBCD-EFGH", "x" * 32])
def test_malformed_pins_are_refused_without_counting(api, container, keys, otp, counts, pin):
    lot = pinned_batch(api, container, keys.factory)
    alice = sign_in(api, otp, "alice@example.com")
    before = counts()
    response = api.post("/claims", json={"serial": lot.serials[0], "pin": pin}, headers=alice)
    assert response.status_code == 422
    assert response.json()["error"] in ("invalid_pin", "invalid_request")
    assert counts() == before


@pytest.mark.parametrize("extra", [{"owner": "0x" + "11" * 20}, {"state": "active"}])
def test_extra_fields_in_a_claim_are_refused(api, container, keys, otp, counts, extra):
    lot = pinned_batch(api, container, keys.factory)
    alice = sign_in(api, otp, "alice@example.com")
    serial = lot.serials[0]
    before = counts()
    response = api.post(
        "/claims", json={"serial": serial, "pin": lot.pins[serial], **extra}, headers=alice
    )
    assert response.status_code == 422 and response.json()["error"] == "invalid_request"
    assert counts() == before


def test_claims_need_an_anchored_batch_and_none_after_recall(api, container, keys, otp):
    pending = pinned_batch(api, container, keys.factory, lot="LOT-P", anchor=False)
    alice = sign_in(api, otp, "alice@example.com")
    serial = pending.serials[0]
    early = api.post("/claims", json={"serial": serial, "pin": pending.pins[serial]}, headers=alice)
    assert early.status_code == 409 and early.json()["error"] == "not_claimable"
    assert "not on chain yet" in early.json()["detail"]

    lot = pinned_batch(api, container, keys.factory, lot="LOT-R")
    recall = api.post(
        f"/batches/{lot.batch['id']}/recall",
        json={"reason": "cork taint"},
        headers={"Authorization": f"Bearer {keys.factory}"},
    )
    assert recall.status_code == 200, recall.text
    serial = lot.serials[0]
    late = api.post("/claims", json={"serial": serial, "pin": lot.pins[serial]}, headers=alice)
    assert late.status_code == 409 and "recalled" in late.json()["detail"]


def test_the_same_idempotency_key_answers_the_same_and_a_different_body_is_refused(
    api, container, keys, otp
):
    lot = pinned_batch(api, container, keys.factory)
    alice = sign_in(api, otp, "alice@example.com")
    s1, s2 = lot.serials[:2]
    headers = {**alice, "Idempotency-Key": "claim-1"}
    first = api.post("/claims", json={"serial": s1, "pin": lot.pins[s1]}, headers=headers)
    again = api.post("/claims", json={"serial": s1, "pin": lot.pins[s1]}, headers=headers)
    assert first.status_code == again.status_code == 202 and first.json() == again.json()
    other = api.post("/claims", json={"serial": s2, "pin": lot.pins[s2]}, headers=headers)
    assert other.status_code == 422 and other.json()["error"] == "idempotency_key_reused"
    with container.uow_factory.sessions() as s:
        assert s.execute(text("SELECT count(*) FROM certificates")).scalar_one() == 1


def test_sixteen_racing_claims_with_the_right_pin_make_one_certificate(api, container, keys, otp):
    lot = pinned_batch(api, container, keys.factory)
    people = [sign_in(api, otp, f"p{i}@example.com") for i in range(16)]
    serial = lot.serials[0]
    barrier = Barrier(16)

    def claim(headers):
        barrier.wait()
        return api.post(
            "/claims", json={"serial": serial, "pin": lot.pins[serial]}, headers=headers
        )

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(claim, people))
    codes = sorted(a.status_code for a in answers)
    assert codes == [202] + [409] * 15, [a.text for a in answers]
    assert {a.json()["error"] for a in answers if a.status_code == 409} == {"already_claimed"}
    winner = next(a for a in answers if a.status_code == 202)
    owner = next(h for h, a in zip(people, answers, strict=True) if a is winner)
    mint_claims(
        container,
        lambda: (
            api.get(f"/me/certificates/{winner.json()['id']}", headers=owner).json()["state"]
            == "active"
        ),
    )
    assert container.runtime.registry.is_claimed(int(winner.json()["token_id"]))
    with container.uow_factory.sessions() as s:
        assert s.execute(text("SELECT count(*) FROM certificates")).scalar_one() == 1


def _claim_events(api, keys, kind: str) -> list[dict]:
    events = api.get("/log/events", params={"limit": 500}, headers=auth(keys.admin)).json()
    return [json.loads(e["payload"]) for e in events if e["type"] == kind]


def _claim_outbox(container) -> list[tuple[str, str]]:
    with container.uow_factory.sessions() as s:
        return [
            tuple(r)
            for r in s.execute(
                text("SELECT kind, status FROM outbox WHERE kind LIKE 'claim%' ORDER BY id")
            )
        ]


def test_a_bottle_claimed_first_by_a_voucher_fails_alone_and_the_shared_claim_mints_the_rest(
    api, container, keys, otp
):
    """Anyone may submit a valid voucher before the batcher's transaction is mined: that one
    claim is skipped (the token is someone else's), the others are minted in the same
    transaction, and the skipped certificate ends claim_failed naming the reason."""
    lot = pinned_batch(api, container, keys.factory)
    alice, bob = sign_in(api, otp, "alice@example.com"), sign_in(api, otp, "bob@example.com")
    s1, s2, s3 = lot.serials[:3]
    taken = api.post("/claims", json={"serial": s1, "pin": lot.pins[s1]}, headers=alice)
    assert taken.status_code == 202
    for serial, who in ((s2, alice), (s3, bob)):
        claimed = api.post("/claims", json={"serial": serial, "pin": lot.pins[serial]}, headers=who)
        assert claimed.status_code == 202
    # A voucher for s1's item (signed by the relayer, for someone else) is submitted first.
    registry, relayer = container.runtime.registry, container.runtime.account
    proof = api.get(
        f"/batches/{lot.batch['id']}/items/{s1}/proof", headers=auth(keys.factory)
    ).json()
    token = int(taken.json()["token_id"])
    assert int(proof["token_id"]) == token
    elsewhere = Account.from_key("0x" + "00" * 31 + "02")  # a funded dev account
    request = ClaimRequest(
        bytes.fromhex(proof["chain_batch_id"][2:]),
        token,
        bytes.fromhex(proof["item_hash"][2:]),
        elsewhere.address,
    )
    deadline = registry.client.block_timestamp() + 3600
    voucher = registry.sign_claim_voucher(relayer, request, deadline)
    submitted = send_transaction(
        registry.client,
        elsewhere,
        registry.address,
        registry.encode_claim_with_voucher(
            request, deadline, [bytes.fromhex(p[2:]) for p in proof["proof"]], voucher
        ),
    )
    assert submitted.status == 1 and registry.owner_of(token) == elsewhere.address

    mint_claims(
        container,
        lambda: {c["state"] for c in api.get("/me/certificates", headers=bob).json()} == {"active"},
    )
    assert _claim_outbox(container) == [("claim_batch", "confirmed")]
    mine = {c["serial"]: c for c in api.get("/me/certificates", headers=alice).json()}
    assert mine[s1]["state"] == "claim_failed" and mine[s1]["chain"]["status"] == "failed"
    assert mine[s2]["state"] == "active" and mine[s2]["chain"]["status"] == "confirmed"
    (bobs,) = api.get("/me/certificates", headers=bob).json()
    assert bobs["chain"]["tx_hash"] == mine[s2]["chain"]["tx_hash"]  # one shared transaction
    assert registry.owner_of(token) == elsewhere.address
    (failed,) = _claim_events(api, keys, "CertificateClaimFailed")
    assert failed["certificate_id"] == mine[s1]["id"]
    assert failed["error"] == "CertificateRegistryAlreadyClaimed"
    assert {e["certificate_id"] for e in _claim_events(api, keys, "CertificateClaimed")} == {
        mine[s2]["id"],
        bobs["id"],
    }


def test_a_recall_between_claim_and_mint_fails_only_the_recalled_claim_in_the_shared_one(
    api, container, keys, otp
):
    """A recall confirmed on chain between claim and mint: the shared transaction skips the
    recalled bottle and mints the other; the recalled claim ends claim_failed, naming the recall."""
    lot = pinned_batch(api, container, keys.factory)
    good = pinned_batch(api, container, keys.factory, lot="LOT-G")
    alice = sign_in(api, otp, "alice@example.com")
    s1, g1 = lot.serials[0], good.serials[0]
    recalled = api.post("/claims", json={"serial": s1, "pin": lot.pins[s1]}, headers=alice)
    kept = api.post("/claims", json={"serial": g1, "pin": good.pins[g1]}, headers=alice)
    assert (recalled.status_code, kept.status_code) == (202, 202)
    factory = {"Authorization": f"Bearer {keys.factory}"}
    assert (
        api.post(
            f"/batches/{lot.batch['id']}/recall", json={"reason": "leak"}, headers=factory
        ).status_code
        == 200
    )

    def settled() -> bool:
        container.claim_step(force=True)
        states = {
            c["serial"]: c["state"] for c in api.get("/me/certificates", headers=alice).json()
        }
        return states == {s1: "claim_failed", g1: "active"}

    container.claim_step(force=True)
    run_sender_until(container, settled, steps=40)
    assert _claim_outbox(container) == [("claim_batch", "confirmed")]
    registry = container.runtime.registry
    assert registry.is_claimed(int(kept.json()["token_id"]))
    assert not registry.is_claimed(int(recalled.json()["token_id"]))
    (failed,) = _claim_events(api, keys, "CertificateClaimFailed")
    assert failed["certificate_id"] == recalled.json()["id"]
    assert failed["error"] == "CertificateRegistryBatchIsRecalled"
