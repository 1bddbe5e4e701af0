"""Anti-farming on both databases and py-evm: a claim's points wait for the screening; a phone
that claims for more accounts than a household has greylists them (their points held, the case
in the brand's review queue with the log entries behind it); the brand's review clears
(releases) or blacklists (forfeits, earns nothing more, off the contact list), each decision a
log entry; the queue and the risk are the brand's own; a rebuild gives the same state."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from tests.integration.service.conftest import auth
from tests.integration.service.consumer.helpers import mint_claims, sign_in
from tests.integration.service.consumer.test_certificate_lifecycle import World
from tests.integration.service.touchpoints.test_feed import brand_of
from tests.integration.service.touchpoints.test_members import consent, member_id, store_key

FARM_PHONE = "tc_device=farmphone0000000000000001"


@pytest.fixture
def world(api, container, keys, otp) -> World:
    return World(api, container, keys, otp)


def points_of(api, container, who, brand: int, screen: bool = True) -> dict:
    container.touchpoints.catch_up()
    if screen:
        container.risk.screen()
    found = [
        b for b in api.get("/me/points", headers=who).json()["brands"] if b["brand_id"] == brand
    ]
    return found[0] if found else {"balance": 0, "pending": 0, "held": 0}


def claim_from(world: World, serial: str, who: dict, cookie: str | None) -> dict:
    headers = {**who, **({"Cookie": cookie} if cookie else {})}
    answer = world.api.post(
        "/claims", json={"serial": serial, "pin": world.lot.pins[serial]}, headers=headers
    )
    assert answer.status_code == 202, answer.text
    cid = answer.json()["id"]
    mint_claims(world.container, lambda: world.get(cid, who)["state"] == "active")
    return answer.json()


def farm(api, otp, world: World, accounts: int) -> list[dict]:
    """``accounts`` sign-ups that each claim a bottle from one phone."""
    members = []
    for n in range(accounts):
        who = sign_in(api, otp, f"farm{n}@example.com")
        claim_from(world, world.lot.serials[2 + n], who, FARM_PHONE)
        members.append(who)
    return members


def review(api, keys, member: str, level: str, note: str = "checked the receipts", **kw):
    return api.post(
        f"/touchpoints/members/{member}/review",
        json={"level": level, "note": note},
        headers={**auth(kw.get("key", keys.brand)), **kw.get("headers", {})},
    )


def test_points_wait_for_the_screening_then_a_clear_member_may_spend_them(api, container, world):
    brand = brand_of(container, world)
    waiting = points_of(api, container, world.alice, brand, screen=False)
    assert (waiting["balance"], waiting["pending"], waiting["held"]) == (0, 100, 0)
    spend = api.post(
        "/me/points/spend",
        json={"brand_id": brand, "reward": "coupon-50"},
        headers={**world.alice, "Idempotency-Key": "early"},
    )
    assert spend.status_code == 409 and spend.json()["error"] == "insufficient_points"
    ran = container.risk.screen()
    assert ran["screened"] == 1 and ran["levels"]["clear"] == 1
    screened = points_of(api, container, world.alice, brand, screen=False)
    assert (screened["balance"], screened["pending"], screened["held"]) == (100, 0, 0)
    assert container.risk.screen()["screened"] == 0  # nothing waits any more
    with container.uow_factory.sessions() as s:
        (payload,) = s.execute(
            text("SELECT payload FROM events WHERE type = 'MembersScreened'")
        ).scalars()
    assert b'"level":"clear"' in bytes(payload) and b"alice" not in bytes(payload)


def test_a_phone_claiming_for_many_accounts_greylists_them_for_the_brands_review(
    api, container, keys, otp, world
):
    brand = brand_of(container, world)
    members = farm(api, otp, world, 4)  # more than 3 accounts on one phone
    for who in members:
        held = points_of(api, container, who, brand)
        assert (held["balance"], held["pending"], held["held"]) == (0, 0, 100)
    alice = points_of(api, container, world.alice, brand)  # claimed with no cookie: clear
    assert alice["balance"] == 100
    queue = api.get("/touchpoints/risk/queue", headers=auth(keys.brand))
    assert queue.status_code == 200, queue.text
    cases = queue.json()
    assert len(cases) == 4 and {c["level"] for c in cases} == {"grey"}
    (reason,) = cases[0]["reasons"]
    assert reason["signal"] == "accounts_per_device" and "4 accounts" in reason["detail"]
    assert reason["events"] and all(e.startswith("log:") for e in reason["events"])
    assert cases[0]["points"] == {"held": 100}
    # The auditor reads the queue; a partner, a store or a consumer does not.
    assert api.get("/touchpoints/risk/queue", headers=auth(keys.auditor)).status_code == 200
    for headers in (auth(keys.distributor), world.alice):
        assert api.get("/touchpoints/risk/queue", headers=headers).status_code in (401, 403)
    brand_two = api.get(
        "/touchpoints/risk/queue", params={"brand_id": keys.foreign_brand_org},
        headers=auth(keys.brand),
    )  # fmt: skip
    assert brand_two.status_code == 403

    first, second = (member_id(api, container, who) for who in members[:2])
    cleared = review(api, keys, first, "clear", headers={"Idempotency-Key": "r1"})
    assert cleared.status_code == 200, cleared.text
    body = cleared.json()
    assert body["level"] == "clear" and body["review_level"] == "clear"
    assert [d["kind"] for d in body["decisions"]] == ["screen", "review"]
    assert body["decisions"][-1]["note"] == "checked the receipts"
    again = review(api, keys, first, "clear", headers={"Idempotency-Key": "r1"})
    assert again.json()["log_index"] == body["log_index"]  # answered once
    assert points_of(api, container, members[0], brand)["balance"] == 100

    black = review(api, keys, second, "black", note="one phone, forty accounts")
    assert black.status_code == 200, black.text
    forfeited = points_of(api, container, members[1], brand)
    assert (forfeited["balance"], forfeited["pending"], forfeited["held"]) == (0, 0, 0)
    history = api.get(f"/me/points/{brand}/entries", headers=members[1]).json()
    assert [e["kind"] for e in history] == ["reverse", "earn"]
    # Blacklisted: a new claim earns nothing (all of it withheld), and no campaigns.
    claim_from(world, world.lot.serials[9], members[1], None)
    container.touchpoints.catch_up()
    container.risk.screen()
    latest = api.get(f"/me/points/{brand}/entries", headers=members[1]).json()[0]
    assert (latest["kind"], latest["points"], latest["withheld"]) == ("earn", 0, 100)
    consent(api, members[1], brand, marketing=True)
    container.touchpoints.catch_up()
    contacts = api.get("/touchpoints/contacts", headers=auth(keys.brand)).json()
    assert all(c["member_id"] != second for c in contacts)
    # The member view shows the risk to the brand, not to a store's staff.
    view = api.get(f"/touchpoints/members/{second}", headers=auth(keys.brand)).json()
    assert view["risk"]["level"] == "black" and view["risk"]["review_level"] == "black"
    store = api.get(f"/touchpoints/members/{second}", headers=auth(store_key(api, keys)))
    assert store.status_code == 200 and store.json()["risk"] is None

    # Only the brand reviews; its own members only; a note is needed.
    assert review(api, keys, first, "black", key=keys.auditor).status_code == 403
    assert review(api, keys, "mem_nobody", "black").status_code == 404
    assert review(api, keys, first, "black", note="").status_code == 422
    assert review(api, keys, first, "maybe").status_code == 422
    with container.uow_factory.sessions() as s:
        reviews = s.execute(text("SELECT COUNT(*) FROM events WHERE type = 'RiskReviewed'"))
        assert reviews.scalar_one() == 2

    before = container.touchpoints.snapshot()
    container.touchpoints.rebuild()
    assert container.touchpoints.snapshot() == before


def test_a_claim_names_where_its_bottle_stood_in_the_channel(api, container, world):
    """The World's bottles never left their factory: a claim with a region says so; without a
    region nothing can be said."""
    with container.uow_factory.sessions() as s:
        (first,) = s.execute(
            text("SELECT payload FROM events WHERE type = 'CertificateClaimRequested'")
        ).scalars()
    assert b'"channel":null' in bytes(first)  # claimed without a region
    answer = api.post(
        "/claims",
        json={"serial": world.lot.serials[5], "pin": world.lot.pins[world.lot.serials[5]],
              "region": "110101"},
        headers=world.bob,
    )  # fmt: skip
    assert answer.status_code == 202, answer.text
    with container.uow_factory.sessions() as s:
        payloads = s.execute(
            text("SELECT payload FROM events WHERE type = 'CertificateClaimRequested'")
        ).scalars()
        last = bytes(list(payloads)[-1])
    assert b'"channel":"factory"' in last and b'"region":"110101"' in last


def test_the_brand_sets_its_risk_rules_and_later_screenings_use_them(
    api, container, keys, otp, world
):
    brand = brand_of(container, world)
    rules = api.get("/touchpoints/risk/rules", headers=auth(keys.auditor))
    assert rules.status_code == 200, rules.text
    assert rules.json()["device_accounts"] == 3 and rules.json()["grey_at"] == 40
    assert rules.json()["weights"]["accounts_per_device"] == 45
    # A brand whose stores' tablets claim for their customers allows more accounts a device.
    put = api.put(
        "/touchpoints/risk/rules",
        json={"device_accounts": 10, "weights": {"velocity": 50}},
        headers={**auth(keys.brand), "Idempotency-Key": "rules-1"},
    )
    assert put.status_code == 200, put.text
    assert put.json()["device_accounts"] == 10 and put.json()["weights"]["velocity"] == 50
    assert put.json()["weights"]["impossible_travel"] == 40 and put.json()["log_index"] > 0
    members = farm(api, otp, world, 4)
    for who in members:
        assert points_of(api, container, who, brand)["balance"] == 100
    # Refused: out of bounds, grey above black, a partner or an auditor setting them.
    for body in ({"device_accounts": 0}, {"grey_at": 90, "black_at": 80}, {"weights": {"x": 1}},
                 {"travel_kmh": "fast"}):  # fmt: skip
        answer = api.put("/touchpoints/risk/rules", json=body, headers=auth(keys.brand))
        assert answer.status_code == 422, (body, answer.text)
    assert (
        api.put("/touchpoints/risk/rules", json={"grey_at": 90, "black_at": 80},
                headers=auth(keys.brand)).json()["error"] == "invalid_risk_rules"
    )  # fmt: skip
    for key in (keys.auditor, keys.distributor):
        answer = api.put("/touchpoints/risk/rules", json={}, headers=auth(key))
        assert answer.status_code == 403
    before = container.touchpoints.snapshot()
    container.touchpoints.rebuild()
    assert container.touchpoints.snapshot() == before


def test_the_cli_runs_the_screening(api, container, world, monkeypatch):
    from typer.testing import CliRunner

    from service import cli

    monkeypatch.setattr(cli, "_offline_container", lambda settings: container)
    monkeypatch.setenv("TRACECERT_DATABASE_URL", container.settings.database_url)
    monkeypatch.setattr(container, "close", lambda: None)  # the fixture closes it
    ran = CliRunner().invoke(cli.app, ["touchpoints", "screen"])
    assert ran.exit_code == 0, ran.output
    assert "screened 1 members: 1 clear, 0 grey, 0 black" in " ".join(ran.output.split())
    brand = brand_of(container, world)
    assert points_of(api, container, world.alice, brand, screen=False)["balance"] == 100
    again = CliRunner().invoke(cli.app, ["touchpoints", "screen"])
    assert "screened 0 members" in " ".join(again.output.split())
