"""The touchpoints' feed on both databases and py-evm: a consumer's scan, claims, a gift and its
acceptance move each subject along the journey; the projector applies each entry once, also
when killed before its checkpoint; a rebuild from scratch gives the state the live projector
built, whatever its pages; /health shows the lag."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from service import cli
from service.touchpoints.app.projector import Projector
from service.touchpoints.domain.journey import Source, Stage, account_subject, device_subject
from service.touchpoints.storage.feed import SqlAlchemyFeed
from service.touchpoints.storage.repositories import SqlAlchemyFeedCheckpoints
from tests.integration.service.conftest import GTIN, auth
from tests.integration.service.consumer.helpers import mint_claims, pinned_batch
from tests.integration.service.consumer.test_certificate_lifecycle import World

JSON = {"Accept": "application/json"}


@pytest.fixture
def world(api, container, keys, otp) -> World:
    return World(api, container, keys, otp)


def brand_of(container, world: World) -> int:
    with container.uow_factory.sessions() as s:
        return int(
            s.execute(
                text("SELECT brand_id FROM batches WHERE public_id = :id"),
                {"id": world.lot.batch["id"]},
            ).scalar_one()
        )


def account_of(api, who) -> str:
    return account_subject(api.get("/account", headers=who).json()["id"])


def stages(container, brand_id: int, subject: str) -> dict[Stage, str]:
    with container.uow_factory.reader() as uow:
        return {s: c.ref() for s, c in uow.journeys.stages(brand_id, subject).items()}


def log_index_of(container, event_type: str, nth: int = 0) -> int:
    with container.uow_factory.sessions() as s:
        return int(
            s.execute(
                text("SELECT log_index FROM events WHERE type = :t ORDER BY log_index"),
                {"t": event_type},
            )
            .scalars()
            .all()[nth]
        )


def scan(api, container, world: World, serial: str, region: str = "330106") -> None:
    path = f"/01/{GTIN}/10/{world.lot.batch['lot']}/21/{serial}?region={region}"
    answer = api.get(path, headers=JSON)
    assert answer.status_code == 200 and answer.json()["verdict"] == "genuine", answer.text
    container.scan_log.flush()


def gift_to_bob(api, world: World) -> None:
    cid = world.certificate["id"]
    world.post(f"/me/certificates/{cid}/gift", world.alice, to="bob@example.com")
    world.settle()
    (offer,) = api.get("/me/gifts", headers=world.bob).json()
    world.post("/gifts/accept", world.bob, gift_id=offer["id"])
    world.settle()


def test_scans_claims_and_a_gift_move_each_subject_along_the_journey(api, container, keys, world):
    brand = brand_of(container, world)
    scan(api, container, world, world.lot.serials[1])
    second = world.claim(world.lot.serials[2], world.alice)  # same batch, same day: not loyal
    gift_to_bob(api, world)
    assert container.touchpoints.catch_up() > 0

    alice, bob = account_of(api, world.alice), account_of(api, world.bob)
    assert stages(container, brand, alice) == {
        Stage.ACTIVATE: f"log:{log_index_of(container, 'CertificateClaimRequested', 0)}",
        Stage.CONVERT: f"log:{log_index_of(container, 'CertificateClaimed', 0)}",
        Stage.USE_SHARE: f"log:{log_index_of(container, 'CertificateActionConfirmed', 0)}",
    }
    # Bob came to hold a certificate by accepting the gift: converted, by that confirmation.
    assert stages(container, brand, bob) == {
        Stage.CONVERT: f"log:{log_index_of(container, 'CertificateActionConfirmed', 1)}"
    }
    with container.uow_factory.sessions() as s:
        device = s.execute(text("SELECT device_hash, id FROM consumer_scans")).one()
    assert stages(container, brand, device_subject(bytes(device[0]))) == {
        Stage.DISCOVER: f"scans:{device[1]}"
    }
    assert second["state"] == "active"
    # Another brand sees none of it.
    assert stages(container, brand + 1000, alice) == {}
    # The brand's funnel counts subjects per stage, month, region and product.
    answer = api.get("/touchpoints/funnel", headers=auth(keys.brand))
    assert answer.status_code == 200, answer.text
    # Everything happened within the test, in one month (UTC), named YYYY-MM.
    (month,) = {r["period"] for r in answer.json()}
    assert month[:4].isdigit() and month[4] == "-" and month[5:].isdigit()
    funnel = {
        (r["period"], r["stage"], r["region_code"], r["gtin"]): r["subjects"] for r in answer.json()
    }
    assert funnel == {
        (month, "discover", "330106", GTIN): 1,
        (month, "activate", None, GTIN): 1,
        (month, "convert", None, GTIN): 2,
        (month, "use_share", None, GTIN): 1,
    }
    assert api.get("/touchpoints/funnel", headers=auth(keys.auditor)).json() == answer.json()
    assert (
        api.get(
            "/touchpoints/funnel", params={"limit": 2, "offset": 2}, headers=auth(keys.brand)
        ).json()
        == answer.json()[2:4]
    )


def test_a_certificate_of_another_batch_makes_its_holder_loyal(api, container, keys, otp, world):
    brand = brand_of(container, world)
    other = pinned_batch(api, container, keys.factory, lot="LOT-D")
    serial = other.serials[0]
    body = api.post(
        "/claims", json={"serial": serial, "pin": other.pins[serial]}, headers=world.alice
    ).json()
    mint_claims(container, lambda: world.get(body["id"], world.alice)["state"] == "active")
    container.touchpoints.catch_up()
    reached = stages(container, brand, account_of(api, world.alice))
    assert reached[Stage.LOYAL] == f"log:{log_index_of(container, 'CertificateClaimed', 1)}"


def test_the_projector_applies_each_entry_once_even_when_killed_before_its_checkpoint(
    api, container, world, monkeypatch
):
    scan(api, container, world, world.lot.serials[1])
    gift_to_bob(api, world)
    empty = container.touchpoints.snapshot()

    def killed(self, *args, **kwargs):
        raise RuntimeError("killed between applying and checkpointing")

    with monkeypatch.context() as m:
        m.setattr(SqlAlchemyFeedCheckpoints, "advance", killed)
        with pytest.raises(RuntimeError):
            container.touchpoints.step()
    assert container.touchpoints.snapshot() == empty  # nothing of the page was kept
    assert container.touchpoints.lag()["log_position"] == 0

    container.touchpoints.catch_up()
    once = container.touchpoints.snapshot()
    assert once != empty
    # Applying again changes nothing: the checkpoints stand at the end of both sources.
    assert container.touchpoints.step() == 0
    assert container.touchpoints.snapshot() == once
    assert container.touchpoints.rebuild() > 0
    assert container.touchpoints.snapshot() == once


def test_the_checkpoint_moves_only_from_where_it_stands(api, container, world):
    gift_to_bob(api, world)
    other = Projector(container.uow_factory, container.clock)
    with container.uow_factory() as uow:
        checkpoints = uow.feed_checkpoints
        assert checkpoints.advance(Source.LOG, 0, 3, container.clock.now())
        # The same move again (a second projector on the same page) is refused.
        assert not checkpoints.advance(Source.LOG, 0, 3, container.clock.now())
        uow.rollback()
    first = container.touchpoints.catch_up()
    assert first > 0 and other.step() == 0  # nothing left for the second one


def test_a_projector_that_lost_the_race_to_its_page_keeps_nothing_of_it(
    api, container, world, monkeypatch
):
    """Two processes' projectors read the same checkpoint; the one that commits second finds
    it moved and rolls its page back. (On SQLite a projector's page holds the one write lock
    from its first statement, so a second one waits instead of racing: PostgreSQL only.)"""
    if container.engine.dialect.name == "sqlite":
        pytest.skip("SQLite's single writer serialises projectors: there is no race to lose")
    scan(api, container, world, world.lot.serials[1])
    gift_to_bob(api, world)
    winner = Projector(container.uow_factory, container.clock)
    loser = Projector(container.uow_factory, container.clock)
    read = SqlAlchemyFeed.log_entries

    def raced(self, start, end, types):
        # The loser has read its checkpoint; the winner applies and commits everything now.
        monkeypatch.setattr(SqlAlchemyFeed, "log_entries", read)
        assert winner.catch_up() > 0
        return read(self, start, end, types)

    monkeypatch.setattr(SqlAlchemyFeed, "log_entries", raced)
    assert loser.step() == 0  # its log page rolled back; the scans were caught up already
    won = loser.snapshot()
    assert loser.lag()["log_behind"] == 0
    assert loser.rebuild() > 0
    assert loser.snapshot() == won  # nothing of the loser's page was kept


def test_a_rebuild_gives_the_state_the_live_projector_built_page_by_page(api, container, world):
    live = Projector(container.uow_factory, container.clock, page=2)
    scan(api, container, world, world.lot.serials[1])
    live.catch_up()
    world.claim(world.lot.serials[2], world.bob)
    scan(api, container, world, world.lot.serials[2], region="320102")
    live.step()  # part of what is new: the sources are read interleaved, in small pages
    gift_to_bob(api, world)
    scan(api, container, world, world.lot.serials[3])
    live.catch_up()
    built = live.snapshot()

    assert live.rebuild() > 0
    assert live.snapshot() == built
    health = api.get("/health").json()["touchpoints"]
    assert health["log_behind"] == 0 and health["scan_ids_behind"] == 0
    assert health["log_position"] == health["log_size"] > 0


def test_health_shows_how_far_the_feed_stands_behind(api, container, world):
    before = api.get("/health").json()["touchpoints"]
    assert before["log_behind"] == before["log_size"] > 0
    container.touchpoints.catch_up()
    after = api.get("/health").json()["touchpoints"]
    assert after["log_behind"] == 0 and after["log_position"] == after["log_size"]


def test_the_cli_rebuilds_the_feed_and_says_where_it_stands(api, container, world, monkeypatch):
    scan(api, container, world, world.lot.serials[1])
    container.touchpoints.catch_up()
    built = container.touchpoints.snapshot()
    monkeypatch.setattr(cli, "_offline_container", lambda settings: container)
    monkeypatch.setenv("TRACECERT_DATABASE_URL", container.settings.database_url)
    monkeypatch.setattr(container, "close", lambda: None)  # the fixture closes it

    rebuilt = CliRunner().invoke(cli.app, ["touchpoints", "rebuild"])
    assert rebuilt.exit_code == 0, rebuilt.output
    assert "touchpoints rebuilt" in rebuilt.output
    assert container.touchpoints.snapshot() == built
    status = CliRunner().invoke(cli.app, ["touchpoints", "status"])
    assert status.exit_code == 0, status.output
    size = container.touchpoints.lag()["log_size"]
    assert f"event log: {size} of {size} applied (0 behind)" in " ".join(status.output.split())


def test_the_funnel_is_the_brands_own(api, container, keys, world):
    container.touchpoints.catch_up()
    brand = brand_of(container, world)
    mine = api.get("/touchpoints/funnel", headers=auth(keys.brand))
    assert mine.status_code == 200 and mine.json(), mine.text
    # An admin names the brand, and reads what the brand reads.
    admin = api.get("/touchpoints/funnel", params={"brand_id": brand}, headers=auth(keys.admin))
    assert admin.json() == mine.json()
    unnamed = api.get("/touchpoints/funnel", headers=auth(keys.admin))
    assert unnamed.status_code == 422 and unnamed.json()["error"] == "invalid_request"
    # Another brand's id, a partner's or a factory's key, no key: refused.
    other = api.get(
        "/touchpoints/funnel", params={"brand_id": keys.foreign_brand_org}, headers=auth(keys.brand)
    )
    assert other.status_code == 403 and other.json()["error"] == "permission_denied"
    for key in (keys.distributor, keys.factory):
        refused = api.get("/touchpoints/funnel", headers=auth(key))
        assert refused.status_code == 403 and refused.json()["error"] == "permission_denied"
    assert api.get("/touchpoints/funnel").status_code == 401
    assert api.get("/touchpoints/funnel", headers=world.alice).status_code == 401


def test_a_brands_journey_rules_apply_to_what_follows_them(api, container, keys, otp, world):
    brand = brand_of(container, world)
    default = api.get("/touchpoints/journey/rules", headers=auth(keys.auditor))
    assert default.status_code == 200, default.text
    assert default.json() == {
        "brand_id": brand,
        "loyal_after_days": 30,
        "loyal_other_batch": True,
        "use_share": ["deposit", "gift", "pledge", "request_redemption"],
        "log_index": None,
    }
    changed = api.put(
        "/touchpoints/journey/rules",
        json={"loyal_other_batch": False, "use_share": ["pledge"]},
        headers=auth(keys.brand),
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["loyal_other_batch"] is False and changed.json()["log_index"] > 0
    # Another batch is no longer loyalty; a gift no longer counts as sharing.
    other = pinned_batch(api, container, keys.factory, lot="LOT-R")
    serial = other.serials[0]
    body = api.post(
        "/claims", json={"serial": serial, "pin": other.pins[serial]}, headers=world.alice
    ).json()
    mint_claims(container, lambda: world.get(body["id"], world.alice)["state"] == "active")
    gift_to_bob(api, world)
    container.touchpoints.catch_up()
    reached = stages(container, brand, account_of(api, world.alice))
    assert Stage.LOYAL not in reached and Stage.USE_SHARE not in reached
    assert Stage.CONVERT in reached
    built = container.touchpoints.snapshot()
    assert container.touchpoints.rebuild() > 0 and container.touchpoints.snapshot() == built
    # Only the brand sets them, within bounds.
    for key in (keys.auditor, keys.admin, keys.distributor):
        refused = api.put(
            "/touchpoints/journey/rules", json={"loyal_after_days": 5}, headers=auth(key)
        )
        assert refused.status_code == 403, refused.text
    for bad in ({"loyal_after_days": 0}, {"use_share": ["dance"]}, {"colour": "red"}):
        answer = api.put("/touchpoints/journey/rules", json=bad, headers=auth(keys.brand))
        assert answer.status_code == 422, (bad, answer.text)


def test_killed_anywhere_between_applying_and_checkpointing_each_entry_applies_once(
    api, container, world
):
    """A property over where the projector dies: a log of scans, claims, a gift, a consent,
    a screening and a spend, projected in pages of two entries; for any choice of the
    checkpoint moves that fail (the process killed after applying a page, before its
    checkpoint), resuming gives exactly the state of one clean pass."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from service.touchpoints.app import projector as projector_module

    scan(api, container, world, world.lot.serials[1])
    scan(api, container, world, world.lot.serials[2], region="320102")
    gift_to_bob(api, world)
    world.claim(world.lot.serials[3], world.bob)
    container.touchpoints.catch_up()
    container.risk.screen()
    brand = brand_of(container, world)
    api.put(
        f"/me/consents/{brand}",
        json={"marketing": True, "text_version": "v1", "channel": "web"},
        headers=world.alice,
    )
    spent = api.post(
        "/me/points/spend",
        json={"brand_id": brand, "reward": "coupon-50"},
        headers={**world.bob, "Idempotency-Key": "prop-1"},
    )
    assert spent.status_code in (200, 409), spent.text
    container.touchpoints.rebuild()
    clean = container.touchpoints.snapshot()
    real_advance = SqlAlchemyFeedCheckpoints.advance

    def forget() -> None:
        with container.uow_factory() as uow:
            for repo in (uow.journeys, uow.points, uow.members, uow.risk, uow.identities):
                repo.clear()
            uow.commit()

    @settings(
        max_examples=25,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(st.sets(st.integers(1, 40), max_size=4))
    def resumed(deaths: set[int]) -> None:
        forget()
        calls = {"n": 0}

        def advance(self, *args, **kwargs):
            calls["n"] += 1
            if calls["n"] in deaths:
                raise RuntimeError("killed between applying and checkpointing")
            return real_advance(self, *args, **kwargs)

        projector = Projector(container.uow_factory, container.clock, page=2)
        old_range = projector_module.LOG_RANGE
        projector_module.LOG_RANGE = 1
        SqlAlchemyFeedCheckpoints.advance = advance  # type: ignore[method-assign]
        try:
            for _ in range(len(deaths) + 1):
                try:
                    projector.catch_up()
                    break
                except RuntimeError:
                    continue  # the process restarts from its checkpoints
        finally:
            SqlAlchemyFeedCheckpoints.advance = real_advance  # type: ignore[method-assign]
            projector_module.LOG_RANGE = old_range
        assert projector.lag()["log_behind"] == 0
        assert container.touchpoints.snapshot() == clean

    resumed()
