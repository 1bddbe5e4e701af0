"""One-ID on both databases: the brand's integration asserts members' identifiers; one that
another member holds, or signs in with, merges the two (the older survives; the survivor shows
both members' points); an unmerge gives both back; limits per type and blocked values are
refused; the log holds no identifier's value; a rebuild gives the same state; erasing an account
deletes its identifiers' values."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from tests.integration.service.conftest import GTIN, auth
from tests.integration.service.consumer.helpers import sign_in
from tests.integration.service.consumer.test_certificate_lifecycle import World
from tests.integration.service.touchpoints.test_members import member_id

CAROL_PHONE = "+8613800000001"
OPENID = "oWx_9fJ2kQ-openid-of-alice"


@pytest.fixture
def world(api, container, keys, otp) -> World:
    return World(api, container, keys, otp)


def asserted(api, keys, member: str, kind: str, value: str, status: int = 200, key=None):
    answer = api.post(
        "/touchpoints/identities",
        json={"member_id": member, "type": kind, "value": value},
        headers=auth(key or keys.brand),
    )
    assert answer.status_code == status, answer.text
    return answer.json()


def view(api, keys, member: str) -> dict:
    answer = api.get(f"/touchpoints/members/{member}", headers=auth(keys.brand))
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_an_asserted_identifier_merges_the_same_person_and_an_unmerge_parts_them(
    api, container, keys, otp, world
):
    carol = sign_in(api, otp, CAROL_PHONE)  # signs in with her phone, later than Alice
    world.claim(world.lot.serials[2], carol)
    world.claim(world.lot.serials[3], world.bob)
    container.touchpoints.catch_up()
    container.risk.screen()
    alice, bob, carol_id = (member_id(api, container, w) for w in (world.alice, world.bob, carol))
    assert view(api, keys, alice)["balance"] == 100

    # The integration knows Alice's phone: Carol signs in with it, so Carol is Alice.
    merged = asserted(api, keys, alice, "phone", "138 0000 0001")
    assert merged["members"] == [alice, carol_id] and merged["merged_into"] is None
    (merge,) = merged["merges"]
    assert (merge["survivor"], merge["merged"]) == (alice, carol_id)
    assert "sign-in" in merge["reason"]
    assert view(api, keys, alice)["balance"] == 200  # both members' points
    assert view(api, keys, carol_id)["merged_into"] == alice
    phones = [i for i in view(api, keys, alice)["identities"] if i["type"] == "phone"]
    assert {p["value"] for p in phones} == {"+86138****0001"}  # masked, never in full

    # An OpenID the integration first saw for Bob, then for Alice: one person.
    asserted(api, keys, bob, "external:wechat_openid", OPENID)
    again = asserted(api, keys, alice, "external:wechat_openid", OPENID)
    assert set(again["members"]) == {alice, bob, carol_id}
    bob_merge = next(m for m in again["merges"] if m["merged"] == bob)
    # One OpenID of an app per person: a second is refused while Bob is part of Alice.
    refused = asserted(api, keys, alice, "external:wechat_openid", "oOther", status=409)
    assert refused["error"] == "identity_limit"
    # Alice downloads her data: the identifiers linked to her, in full, and the screening's
    # decisions about her.
    (mine,) = api.get("/me/data", headers=world.alice).json()["brands"]
    assert {(i["type"], i["value"]) for i in mine["identities"]} == {
        ("phone", CAROL_PHONE),
        ("external:wechat_openid", OPENID),
    }
    assert mine["risk"]["level"] == "clear" and mine["risk"]["decisions"][0]["kind"] == "screen"

    undone = api.post(
        f"/touchpoints/merges/{bob_merge['id']}/undo",
        json={"note": "two brothers share the WeChat account"},
        headers={**auth(keys.brand), "Idempotency-Key": "undo-1"},
    )
    assert undone.status_code == 200, undone.text
    assert view(api, keys, alice)["members"] == [alice, carol_id]
    assert view(api, keys, bob)["merged_into"] is None and view(api, keys, bob)["balance"] == 100
    gone = api.post(
        f"/touchpoints/merges/{bob_merge['id']}/undo", json={"note": "again"},
        headers=auth(keys.brand),
    )  # fmt: skip
    assert gone.status_code == 404 and gone.json()["error"] == "unknown_merge"

    # Blocked values link nobody; malformed ones, other brands' members, other callers: no.
    blocked = api.post(
        "/touchpoints/identities/blocked",
        json={"type": "phone", "value": "+8613800000009"},
        headers=auth(keys.brand),
    )
    assert blocked.status_code == 200 and blocked.json()["value"] == "+86138****0009"
    no = asserted(api, keys, bob, "phone", "+8613800000009", status=409)
    assert no["error"] == "identity_blocked"
    for kind, value in (("fax", "1"), ("phone", "not a phone"), ("external:Bad", "x")):
        assert asserted(api, keys, bob, kind, value, status=422)["error"] in (
            "invalid_identity",
            "invalid_request",
        )
    asserted(api, keys, "mem_nobody", "external:wechat_openid", "oZ", status=404)
    for key in (keys.auditor, keys.distributor):
        asserted(api, keys, bob, "external:wechat_openid", "oZ", status=403, key=key)

    # The log holds references, never the values.
    with container.uow_factory.sessions() as s:
        payloads = b"".join(
            bytes(p)
            for p in s.execute(
                text(
                    "SELECT payload FROM events WHERE type IN "
                    "('IdentityLinked', 'MembersMerged', 'MembersUnmerged', 'IdentityBlocked')"
                )
            ).scalars()
        )
    assert payloads.count(b"IdentityLinked") == 3 and payloads.count(b"MembersMerged") == 2
    for secret in (OPENID.encode(), b"13800000001", b"13800000009"):
        assert secret not in payloads

    before = container.touchpoints.snapshot()
    container.touchpoints.rebuild()
    assert container.touchpoints.snapshot() == before

    # Erasing Bob's account deletes the OpenID's value with his identities.
    assert api.delete("/account", params={"confirm": "erase"}, headers=world.bob).status_code in (
        200,
        204,
    )
    container.touchpoints.catch_up()
    with container.uow_factory.sessions() as s:
        values = s.execute(text("SELECT value FROM touchpoint_identity_values")).scalars().all()
    assert OPENID not in values


def test_a_phones_anonymous_scans_join_the_one_member_who_claims_from_it(
    api, container, keys, world
):
    """Alice scans a bottle before signing in, then claims it from the same phone: with her
    profiling consent, the brand sees her journey begin at that scan. A phone several members
    claim from (a store's tablet) links nobody."""
    phone = "tc_device=alicesphone00000000000001"
    path = f"/01/{GTIN}/10/{world.lot.batch['lot']}/21/{world.lot.serials[4]}?region=330106"
    assert api.get(path, headers={"Accept": "application/json", "Cookie": phone}).status_code == 200
    container.scan_log.flush()
    claim = api.post(
        "/claims",
        json={"serial": world.lot.serials[4], "pin": world.lot.pins[world.lot.serials[4]]},
        headers={**world.alice, "Cookie": phone},
    )
    assert claim.status_code == 202, claim.text
    container.touchpoints.catch_up()
    alice = member_id(api, container, world.alice)
    consent = api.put(
        f"/me/consents/{keys.brand_org}",
        json={"profiling": True, "text_version": "2026-12", "channel": "web"},
        headers=world.alice,
    )
    assert consent.status_code == 200, consent.text
    container.touchpoints.catch_up()
    seen = view(api, keys, alice)
    (device,) = seen["devices"]
    assert device["shared"] is False and device["member_id"] == alice
    stages = {step["stage"]: step["cause"] for step in seen["journey"]}
    assert stages["discover"].startswith("scans:")  # the anonymous scan, by her phone


def test_a_wallet_an_account_holds_is_that_accounts_proof(api, container, keys, world):
    world.claim(world.lot.serials[3], world.bob)
    container.touchpoints.catch_up()
    alice, bob = (member_id(api, container, w) for w in (world.alice, world.bob))
    merged = asserted(api, keys, alice, "wallet", world.bob_wallet.upper().replace("0X", "0x"))
    (merge,) = merged["merges"]
    assert (merge["survivor"], merge["merged"]) == (alice, bob)
    assert "wallet binding" in merge["reason"]
    wallets = [i for i in merged["identities"] if i["type"] == "wallet"]
    assert {w["member_id"] for w in wallets} == {alice, bob}
    assert all("…" in w["value"] for w in wallets)
