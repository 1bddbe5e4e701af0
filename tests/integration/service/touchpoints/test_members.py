"""Members and consent on both databases: consent per purpose is recorded with its time, text
version and channel (in the log, without personal data) and enforced at every use (the contact
list, profiling in the member view, a store's view of the phone or e-mail); a consumer downloads
their data and has their account erased, after which no table and no log entry holds their
e-mail address; a rebuild gives the same members and consents."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, select, text

from tests.integration.service.conftest import auth
from tests.integration.service.consumer.helpers import sign_in
from tests.integration.service.consumer.test_certificate_lifecycle import World
from tests.integration.service.touchpoints.test_feed import account_of, brand_of

ALICE = "alice@example.com"


@pytest.fixture
def world(api, container, keys, otp) -> World:
    return World(api, container, keys, otp)


def store_key(api, keys) -> str:
    org = api.post(
        "/organisations",
        json={"name": "Store One", "kind": "store", "brand_id": keys.brand_org},
        headers=auth(keys.admin),
    )
    assert org.status_code == 201, org.text
    key = api.post(
        f"/organisations/{org.json()['id']}/api-keys",
        json={"role": "store"},
        headers=auth(keys.admin),
    )
    assert key.status_code == 201, key.text
    return str(key.json()["api_key"])


def consent(api, who, brand: int, **choices) -> dict:
    body = {"text_version": "2026-12", "channel": "web", **choices}
    answer = api.put(f"/me/consents/{brand}", json=body, headers=who)
    assert answer.status_code == 200, answer.text
    return answer.json()


def member_id(api, container, who) -> str:
    container.touchpoints.catch_up()
    (mine,) = api.get("/me/consents", headers=who).json()
    return str(mine["member_id"])


def test_consent_is_recorded_per_purpose_in_the_log_without_personal_data(
    api, container, keys, world
):
    brand = brand_of(container, world)
    container.touchpoints.catch_up()
    (mine,) = api.get("/me/consents", headers=world.alice).json()
    assert mine["brand_id"] == brand and mine["member_id"].startswith("mem_")
    assert mine["consents"] == {"marketing": None, "profiling": None, "store_sharing": None}
    given = consent(api, world.alice, brand, marketing=True, profiling=False)
    marketing = given["consents"]["marketing"]
    assert marketing["granted"] is True and marketing["text_version"] == "2026-12"
    assert marketing["channel"] == "web" and marketing["cause"].startswith("log:")
    assert given["consents"]["profiling"]["granted"] is False
    assert given["consents"]["store_sharing"] is None
    # The same again records nothing new; a withdrawal does.
    assert consent(api, world.alice, brand, marketing=True)["consents"]["marketing"] == marketing
    withdrawn = consent(api, world.alice, brand, marketing=False, channel="app")
    assert withdrawn["consents"]["marketing"]["granted"] is False
    with container.uow_factory.sessions() as s:
        payloads = s.execute(
            text("SELECT payload FROM events WHERE type = 'ConsentRecorded' ORDER BY log_index")
        ).scalars()
        bodies = [bytes(p).decode() for p in payloads]
    assert len(bodies) == 3 and not any(ALICE in b or "alice" in b for b in bodies)
    # Unknown brand, no purpose, a bad channel, no session.
    for nobody in (999999, keys.factory_org):  # no organisation, or one that is no brand
        missing = api.put(
            f"/me/consents/{nobody}",
            json={"text_version": "v1", "marketing": True},
            headers=world.alice,
        )
        assert missing.status_code == 404, missing.text
    none = api.put(f"/me/consents/{brand}", json={"text_version": "v1"}, headers=world.alice)
    assert none.status_code == 422 and none.json()["error"] == "invalid_request"
    bad = api.put(
        f"/me/consents/{brand}",
        json={"text_version": "v1", "marketing": True, "channel": "fax"},
        headers=world.alice,
    )
    assert bad.status_code == 422
    zero = api.put(
        f"/me/consents/{brand}",
        json={"text_version": "v1", "store_sharing": 0},
        headers=world.alice,
    )
    assert zero.status_code == 422  # 0 is not false: a consent is given in so many words
    assert api.put(f"/me/consents/{brand}", json={"text_version": "v1"}).status_code == 401


def test_the_contact_list_holds_only_members_with_marketing_consent(api, container, keys, world):
    brand = brand_of(container, world)
    world.claim(world.lot.serials[3], world.bob)
    container.touchpoints.catch_up()
    contacts = lambda: api.get("/touchpoints/contacts", headers=auth(keys.brand))  # noqa: E731
    assert contacts().status_code == 200 and contacts().json() == []
    consent(api, world.alice, brand, profiling=True, store_sharing=True)  # not marketing
    assert contacts().json() == []
    consent(api, world.alice, brand, marketing=True)
    (alice,) = contacts().json()
    assert alice["contact"] == ALICE and alice["channel"] == "email"
    assert alice["member_id"] == member_id(api, container, world.alice)
    assert alice["consent"]["granted"] is True
    consent(api, world.alice, brand, marketing=False)
    assert contacts().json() == []
    for key in (keys.auditor, keys.distributor, keys.factory):
        assert api.get("/touchpoints/contacts", headers=auth(key)).status_code == 403


def test_the_member_view_masks_the_contact_and_shows_the_journey_only_with_consent(
    api, container, keys, world
):
    brand = brand_of(container, world)
    mid = member_id(api, container, world.alice)
    view = api.get(f"/touchpoints/members/{mid}", headers=auth(keys.brand))
    assert view.status_code == 200, view.text
    body = view.json()
    assert body["contact"] == {"channel": "email", "value": "a***@example.com", "masked": True}
    assert body["profiling"] is False and body["journey"] is None and body["stage"] is None
    assert body["balance"] == 100 and body["points"][0]["rule"] == "claim"
    consent(api, world.alice, brand, profiling=True)
    body = api.get(f"/touchpoints/members/{mid}", headers=auth(keys.brand)).json()
    assert body["profiling"] is True and body["stage"] == "convert"
    assert [s["stage"] for s in body["journey"]] == ["activate", "convert"]
    assert body["contact"]["masked"] is True  # the brand never sees it in full here
    # A store of the brand: masked until the member agrees to share with stores.
    store = auth(store_key(api, keys))
    assert api.get(f"/touchpoints/members/{mid}", headers=store).json()["contact"]["masked"]
    consent(api, world.alice, brand, store_sharing=True)
    shown = api.get(f"/touchpoints/members/{mid}", headers=store).json()["contact"]
    assert shown == {"channel": "email", "value": ALICE, "masked": False}
    # The list: no contact details; the stage with profiling consent.
    listed = api.get("/touchpoints/members", headers=auth(keys.auditor)).json()
    assert [(m["id"], m["stage"]) for m in listed] == [(mid, "convert")]
    # Another brand's key, a distributor's: nothing.
    assert (
        api.get(f"/touchpoints/members/{mid}", headers=auth(keys.foreign_factory)).status_code
        == 403
    )
    assert api.get(f"/touchpoints/members/{mid}", headers=auth(keys.distributor)).status_code == 403
    assert api.get("/touchpoints/members/mem_nobody", headers=auth(keys.brand)).status_code == 404


def test_a_consumer_downloads_their_data(api, container, keys, world):
    brand = brand_of(container, world)
    consent(api, world.alice, brand, marketing=True)
    container.touchpoints.catch_up()
    answer = api.get("/me/data", headers=world.alice)
    assert answer.status_code == 200, answer.text
    assert "attachment" in answer.headers["content-disposition"]
    data = answer.json()
    assert data["account"]["sign_in"] == ALICE
    assert data["account"]["id"] == account_of(api, world.alice).removeprefix("account:")
    (mine,) = data["brands"]
    assert mine["brand_id"] == brand and mine["member_id"].startswith("mem_")
    assert mine["consents"]["marketing"]["granted"] is True
    assert [c["id"] for c in mine["certificates"]] == [world.certificate["id"]]
    assert [p["points"] for p in mine["points"]] == [100]
    assert {s["stage"] for s in mine["journey"]} == {"activate", "convert"}
    assert api.get("/me/data").status_code == 401
    assert api.get("/me/data", headers=auth(keys.brand)).status_code == 401


def every_text(container) -> str:
    """Every value of every table, and every log payload, as one string."""
    found: list[str] = []
    with container.uow_factory.sessions() as s:
        tables = inspect(s.get_bind()).get_table_names()
        for table in tables:
            if table == "alembic_version":
                continue
            for row in s.execute(text(f'SELECT * FROM "{table}"')):
                for value in row:
                    if isinstance(value, bytes | memoryview):
                        found.append(bytes(value).decode("latin-1"))
                    elif value is not None:
                        found.append(str(value))
    return "\n".join(found)


def test_an_erased_account_leaves_no_identifier_and_withdraws_every_consent(
    api, container, keys, otp, world
):
    brand = brand_of(container, world)
    account_of_erased = account_of(api, world.alice)
    consent(api, world.alice, brand, marketing=True, profiling=True, store_sharing=True)
    mid = member_id(api, container, world.alice)
    assert ALICE in every_text(container)

    # A certificate on its way somewhere blocks the erasure.
    cid = world.certificate["id"]
    world.post(f"/me/certificates/{cid}/gift", world.alice, to="carol@example.com")
    blocked = api.delete("/account", params={"confirm": "erase"}, headers=world.alice)
    assert blocked.status_code == 409 and blocked.json()["error"] == "erasure_blocked"
    assert "gifted" in blocked.json()["detail"]
    world.settle()
    world.post(f"/me/certificates/{cid}/gift/cancel", world.alice)
    world.settle()
    unconfirmed = api.delete("/account", headers=world.alice)
    assert unconfirmed.status_code == 422

    erased = api.delete("/account", params={"confirm": "erase"}, headers=world.alice)
    assert erased.status_code == 204, erased.text
    assert api.get("/account", headers=world.alice).status_code == 401  # the session ended
    container.touchpoints.catch_up()
    assert ALICE not in every_text(container)
    assert "alice@" not in every_text(container)
    view = api.get(f"/touchpoints/members/{mid}", headers=auth(keys.brand)).json()
    assert view["erased"] is True and view["contact"] is None and view["journey"] is None
    assert all(not c["granted"] for c in view["consents"].values())
    assert api.get("/touchpoints/contacts", headers=auth(keys.brand)).json() == []
    # The counts stay: the funnel still counts what the account did.
    funnel = api.get("/touchpoints/funnel", headers=auth(keys.brand)).json()
    assert sum(r["subjects"] for r in funnel if r["stage"] == "convert") >= 1
    # Signing up again with the same address is a new account, not the erased one.
    again = sign_in(api, otp, ALICE)
    assert account_of(api, again) != account_of_erased

    container.touchpoints.catch_up()
    built = container.touchpoints.snapshot()
    assert container.touchpoints.rebuild() > 0
    assert container.touchpoints.snapshot() == built


def test_a_rebuild_gives_the_same_members_and_consents(api, container, world):
    brand = brand_of(container, world)
    consent(api, world.alice, brand, marketing=True)
    consent(api, world.alice, brand, marketing=False, profiling=True)
    container.touchpoints.catch_up()
    built = container.touchpoints.snapshot()
    assert container.touchpoints.rebuild() > 0
    assert container.touchpoints.snapshot() == built
    with container.uow_factory.sessions() as s:
        rows = s.execute(select(text("count(*)")).select_from(text("touchpoint_consents"))).scalar()
    assert rows == 2
