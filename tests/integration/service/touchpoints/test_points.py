"""Points on both databases and py-evm: a claim, a referral and a redemption earn by the brand's
programme within its caps, once per bottle; a spend draws the points that expire first, once per
Idempotency-Key, and concurrent spends never overdraw; a recall reverses, the expiry job
expires; a rebuild from the log gives the same ledger."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import text

from service.kernel.errors import InvalidRequestError
from service.kernel.idempotency import Idempotency
from service.touchpoints.domain.errors import InsufficientPointsError
from tests.integration.service.conftest import GTIN, auth
from tests.integration.service.consumer.helpers import sign_in
from tests.integration.service.consumer.test_certificate_lifecycle import (  # noqa: F401
    World,
    partners,
)
from tests.integration.service.touchpoints.test_feed import brand_of, gift_to_bob

CHEAP = {"id": "sticker", "name": "A sticker", "points": 30}


@pytest.fixture
def world(api, container, keys, otp) -> World:
    return World(api, container, keys, otp)


def screened(container) -> None:
    """The feed caught up and the anti-farming screening run (as the worker does)."""
    container.touchpoints.catch_up()
    container.risk.screen()


def mine(api, container, who) -> dict:
    screened(container)
    answer = api.get("/me/points", headers=who)
    assert answer.status_code == 200, answer.text
    return answer.json()


def balance(api, container, who, brand: int) -> int:
    found = [b for b in mine(api, container, who)["brands"] if b["brand_id"] == brand]
    return found[0]["balance"] if found else 0


def entries(api, container, who, brand: int) -> list[dict]:
    screened(container)
    answer = api.get(f"/me/points/{brand}/entries", headers=who)
    assert answer.status_code == 200, answer.text
    return answer.json()


def set_programme(api, keys, **settings) -> dict:
    answer = api.put("/touchpoints/points/programme", json=settings, headers=auth(keys.brand))
    assert answer.status_code == 200, answer.text
    return answer.json()


def spend(api, who, brand: int, reward: str, key: str | None = "k1"):
    headers = {**who, **({"Idempotency-Key": key} if key else {})}
    return api.post("/me/points/spend", json={"brand_id": brand, "reward": reward}, headers=headers)


def ledger_sums(container) -> list[tuple]:
    """Per holder and brand: the balance, and the sum of what is left of each award."""
    with container.uow_factory.sessions() as s:
        return s.execute(
            text(
                "SELECT p.holder, p.brand_id, SUM(p.amount),"
                " (SELECT COALESCE(SUM(a.amount - COALESCE((SELECT SUM(d.amount)"
                "   FROM touchpoint_point_draws d WHERE d.award_key = a.key), 0)), 0)"
                "  FROM touchpoint_points a WHERE a.kind = 'earn' AND a.holder = p.holder"
                "  AND a.brand_id = p.brand_id)"
                " FROM touchpoint_points p GROUP BY p.holder, p.brand_id"
            )
        ).all()


def test_a_claim_earns_once_per_bottle_and_a_gift_earns_its_recipient_nothing(
    api, container, world
):
    brand = brand_of(container, world)
    (points,) = mine(api, container, world.alice)["brands"]
    assert points["brand_id"] == brand and points["brand"] and points["balance"] == 100
    assert points["open"] is True and {r["id"] for r in points["rewards"]} == {
        "coupon-50",
        "tasting",
    }
    (claim,) = points["latest"]
    cid = world.certificate["id"]
    assert claim["id"] == f"claim:{cid}" and claim["kind"] == "earn" and claim["rule"] == "claim"
    assert claim["points"] == 100 and claim["withheld"] == 0 and claim["cause"].startswith("log:")
    assert points["expiring"] == [{"points": 100, "expires_at": claim["expires_at"]}]

    gift_to_bob(api, world)  # Bob signed up before the gift: no referral either
    assert balance(api, container, world.bob, brand) == 0
    assert balance(api, container, world.alice, brand) == 100
    # Bob claims a bottle of his own: his points are his own.
    world.claim(world.lot.serials[3], world.bob)
    assert balance(api, container, world.bob, brand) == 100
    for who in (world.alice, world.bob):
        assert api.get("/me/points", headers=who).status_code == 200
    assert api.get("/me/points").status_code == 401


def test_a_gift_to_someone_who_signs_up_for_it_earns_the_giver_a_referral(
    api, container, otp, world
):
    brand = brand_of(container, world)
    cid = world.certificate["id"]
    world.post(f"/me/certificates/{cid}/gift", world.alice, to="carol@example.com")
    world.settle()
    carol = sign_in(api, otp, "carol@example.com")  # signs up after the gift was offered
    (offer,) = api.get("/me/gifts", headers=carol).json()
    world.post("/gifts/accept", carol, gift_id=offer["id"])
    world.settle()
    kinds = {e["id"]: e["points"] for e in entries(api, container, world.alice, brand)}
    assert kinds == {f"claim:{cid}": 100, f"referral:{cid}": 50}
    assert balance(api, container, carol, brand) == 0  # the bottle's claim points were earned


def test_caps_withhold_what_exceeds_them_and_say_so(api, container, keys, world):
    brand = brand_of(container, world)
    set_programme(api, keys, caps={"day": 150, "week": 0, "month": 0})
    world.claim(world.lot.serials[2], world.alice)
    world.claim(world.lot.serials[3], world.alice)
    earned = sorted(
        (e["points"], e["withheld"]) for e in entries(api, container, world.alice, brand)
    )
    assert earned == [(0, 100), (50, 50), (100, 0)]
    assert balance(api, container, world.alice, brand) == 150


def test_a_spend_draws_the_earliest_expiring_points_once_per_idempotency_key(
    api, container, keys, world
):
    brand = brand_of(container, world)
    screened(container)
    set_programme(api, keys, rewards=[CHEAP, {"id": "big", "name": "Big", "points": 1000}])
    world.claim(world.lot.serials[2], world.alice)  # a second award, expiring later
    screened(container)

    first = spend(api, world.alice, brand, "sticker", key="spend-1")
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["points"] == 30 and body["balance"] == 170 and body["id"].startswith("spend:")
    (draw,) = body["draws"]
    assert draw == {"award": f"claim:{world.certificate['id']}", "points": 30}  # the earlier one
    again = spend(api, world.alice, brand, "sticker", key="spend-1")
    assert again.status_code == 200 and again.json() == body  # answered, not spent again
    assert balance(api, container, world.alice, brand) == 170

    short = spend(api, world.alice, brand, "big", key="spend-2")
    assert short.status_code == 409 and short.json()["error"] == "insufficient_points"
    assert short.json()["balance"] == 170 and short.json()["needed"] == 1000
    unknown = spend(api, world.alice, brand, "yacht", key="spend-3")
    assert unknown.status_code == 404 and unknown.json()["error"] == "unknown_reward"
    keyless = spend(api, world.alice, brand, "sticker", key=None)
    assert keyless.status_code == 422 and "Idempotency-Key" in keyless.json()["detail"]
    assert spend(api, {}, brand, "sticker").status_code == 401
    # Three more: the fourth sticker takes the first award's last 10 and 20 of the second.
    for n in range(2, 5):
        assert spend(api, world.alice, brand, "sticker", key=f"s{n}").status_code == 200
    latest = entries(api, container, world.alice, brand)[0]
    assert latest["kind"] == "spend" and latest["points"] == -30
    with container.uow_factory.sessions() as s:
        draws = s.execute(
            text(
                "SELECT award_key, amount FROM touchpoint_point_draws WHERE entry_key = :k"
                " ORDER BY award_key"
            ),
            {"k": latest["id"]},
        ).all()
    first_award = f"claim:{world.certificate['id']}"
    assert dict(draws)[first_award] == 10 and sum(n for _, n in draws) == 30 and len(draws) == 2
    assert balance(api, container, world.alice, brand) == 200 - 4 * 30
    for holder, brand_id, total, left in ledger_sums(container):
        assert total == left >= 0, (holder, brand_id)


def test_sixteen_concurrent_spends_of_one_balance_never_overdraw_it(api, container, keys, world):
    brand = brand_of(container, world)
    set_programme(api, keys, rewards=[CHEAP])
    screened(container)
    me = api.get("/account", headers=world.alice).json()
    with container.uow_factory.sessions() as s:
        account_id = s.execute(
            text("SELECT id FROM accounts WHERE public_id = :p"), {"p": me["id"]}
        ).scalar_one()
    from service.kernel.actor import Actor
    from service.kernel.roles import Role

    alice = Actor(f"account:{account_id}", Role.CONSUMER, account_id=account_id)

    def one(n: int) -> str:
        try:
            container.points.spend(alice, brand, "sticker", Idempotency(f"c{n}", bytes(32)))
            return "spent"
        except InsufficientPointsError:
            return "short"

    with ThreadPoolExecutor(16) as pool:
        outcomes = list(pool.map(one, range(16)))
    assert outcomes.count("spent") == 3 and outcomes.count("short") == 13  # 100 // 30
    assert balance(api, container, world.alice, brand) == 10
    for _, _, total, left in ledger_sums(container):
        assert total == left >= 0


def test_a_recall_reverses_what_is_left_and_names_what_was_spent(api, container, keys, world):
    brand = brand_of(container, world)
    set_programme(api, keys, rewards=[CHEAP])
    screened(container)
    assert spend(api, world.alice, brand, "sticker").status_code == 200
    recalled = api.post(
        f"/batches/{world.lot.batch['id']}/recall",
        json={"reason": "seal defect"},
        headers=auth(keys.brand),
    )
    assert recalled.status_code == 200, recalled.text
    reversal = entries(api, container, world.alice, brand)[0]
    cid = world.certificate["id"]
    assert reversal["id"] == f"reverse:claim:{cid}" and reversal["kind"] == "reverse"
    assert reversal["points"] == -70 and reversal["withheld"] == 30
    assert balance(api, container, world.alice, brand) == 0


class Later:
    """The service's clock, ``days`` on."""

    def __init__(self, clock, days: int) -> None:
        self.clock, self.days = clock, days

    def now(self):
        return self.clock.now() + timedelta(days=self.days)


def later(monkeypatch, container, days: int) -> None:
    """The points' use cases and their writes see the clock ``days`` on."""
    monkeypatch.setattr(container.points.writes, "clock", Later(container.clock, days))


def test_the_expiry_job_expires_what_is_left_and_a_rebuild_gives_the_same_ledger(
    api, container, keys, world, monkeypatch
):
    brand = brand_of(container, world)
    set_programme(api, keys, rewards=[CHEAP], expires_after_days=30)
    world.claim(world.lot.serials[2], world.alice)  # earned after the change: 30 days
    screened(container)
    assert spend(api, world.alice, brand, "sticker").status_code == 200
    # Nothing has expired yet.
    container.points.run_expiry()
    assert balance(api, container, world.alice, brand) == 170
    # The spend drew the 30-day award (it expires first). A month on, what is left of it
    # expires; the first award lasts a year.
    clock = container.points.writes.clock
    with pytest.raises(InvalidRequestError):  # never as of a time to come
        container.points.run_expiry(clock.now() + timedelta(days=31))
    later(monkeypatch, container, 31)
    container.points.run_expiry()
    expired = [e for e in entries(api, container, world.alice, brand) if e["kind"] == "expire"]
    assert [e["points"] for e in expired] == [-70]
    assert balance(api, container, world.alice, brand) == 100
    # The same run again, or one as of an earlier time, changes nothing.
    container.points.run_expiry()
    container.points.run_expiry(clock.now() + timedelta(days=2))
    assert balance(api, container, world.alice, brand) == 100
    later(monkeypatch, container, 400)
    container.points.run_expiry()
    assert balance(api, container, world.alice, brand) == 0

    built = container.touchpoints.snapshot()
    assert container.touchpoints.rebuild() > 0
    assert container.touchpoints.snapshot() == built


def test_the_programme_is_the_brands_own(api, container, keys, world):
    brand = brand_of(container, world)
    read = api.get("/touchpoints/points/programme", headers=auth(keys.brand))
    assert read.status_code == 200 and read.json()["earn"]["claim"] == 100
    assert read.json()["brand_id"] == brand
    changed = set_programme(api, keys, earn={"claim": 10}, enabled=True)
    assert changed["earn"]["claim"] == 10 and changed["log_index"] > 0
    assert changed["earn"]["referral"] == 50  # what was left out keeps the default
    for key in (keys.auditor, keys.brand):
        answer = api.get("/touchpoints/points/programme", headers=auth(key))
        assert answer.json()["earn"]["claim"] == 10
    admin = api.get(
        "/touchpoints/points/programme", params={"brand_id": brand}, headers=auth(keys.admin)
    )
    assert admin.json()["earn"]["claim"] == 10
    for key in (keys.auditor, keys.distributor, keys.factory, keys.admin):
        refused = api.put(
            "/touchpoints/points/programme", json={"enabled": False}, headers=auth(key)
        )
        assert refused.status_code == 403, refused.text
    bad = api.put(
        "/touchpoints/points/programme",
        json={"rewards": [CHEAP, CHEAP]},
        headers=auth(keys.brand),
    )
    assert bad.status_code == 422 and bad.json()["error"] == "invalid_points_programme"
    closed = set_programme(api, keys, enabled=False)
    assert closed["enabled"] is False
    world.claim(world.lot.serials[2], world.alice)
    assert balance(api, container, world.alice, brand) == 100  # the second claim earned nothing
    refused = spend(api, world.alice, brand, "coupon-50")
    assert refused.status_code == 409 and refused.json()["error"] == "points_programme_closed"


def test_a_year_in_storage_earns_its_anniversary_once(
    api,
    container,
    keys,
    world,
    partners,  # noqa: F811
    monkeypatch,
):
    brand = brand_of(container, world)
    cid = world.certificate["id"]
    offered = world.post(
        f"/me/certificates/{cid}/deposit", world.alice, custodian_id=partners.custodian
    )
    world.settle()
    world.post(f"/deals/{offered['deals'][0]['id']}/confirm", auth(partners.custodian_key))
    world.settle()
    screened(container)
    container.points.run_expiry()  # not a year yet
    assert balance(api, container, world.alice, brand) == 100
    later(monkeypatch, container, 366)
    container.points.run_expiry()
    container.points.run_expiry()  # the same year is not earned twice
    anniversaries = [
        e for e in entries(api, container, world.alice, brand) if e["rule"] == "storage_anniversary"
    ]
    assert [(e["id"], e["points"]) for e in anniversaries] == [(f"storage_anniversary:{cid}:1", 30)]
    # The claim's award (a year) expired on the way: 100 expired, 30 earned.
    assert balance(api, container, world.alice, brand) == 30
    built = container.touchpoints.snapshot()
    assert container.touchpoints.rebuild() > 0 and container.touchpoints.snapshot() == built


def test_the_cli_runs_the_expiry_job(api, container, world, monkeypatch):
    from typer.testing import CliRunner

    from service import cli

    monkeypatch.setattr(cli, "_offline_container", lambda settings: container)
    monkeypatch.setenv("TRACECERT_DATABASE_URL", container.settings.database_url)
    monkeypatch.setattr(container, "close", lambda: None)  # the fixture closes it
    ran = CliRunner().invoke(cli.app, ["points", "expire", "--as-of", "2026-01-01"])
    assert ran.exit_code == 0, ran.output
    assert "points expiry ran as of 2026-01-01T00:00:00+00:00" in " ".join(ran.output.split())
    later = CliRunner().invoke(cli.app, ["points", "expire", "--as-of", "2999-01-01"])
    assert later.exit_code != 0 and "never a later one" in " ".join(later.output.split())


def test_a_claimer_who_scanned_the_bottle_first_earns_the_first_scan_points(api, container, world):
    """Bob scans a bottle signed in and claims it; a phone scans another before its owner signs
    in, and Alice claims it from that phone: each claim earns the first-scan points beside the
    claim's; Alice's first claim, with no scan before it, earns none."""
    brand = brand_of(container, world)
    lot = world.lot.batch["lot"]
    for serial, headers in (
        (world.lot.serials[2], {**world.bob}),
        (world.lot.serials[3], {"Cookie": "tc_device=alicesphone00000000000001"}),
    ):
        answer = api.get(
            f"/01/{GTIN}/10/{lot}/21/{serial}", headers={"Accept": "application/json", **headers}
        )
        assert answer.status_code == 200 and answer.json()["verdict"] == "genuine"
    world.claim(world.lot.serials[2], world.bob)
    kinds = {e["rule"]: e["points"] for e in entries(api, container, world.bob, brand)}
    assert kinds == {"claim": 100, "first_scan": 10}
    alice = {e["rule"] for e in entries(api, container, world.alice, brand)}
    assert alice == {"claim"}
    # The scan may still be in the scan log's buffer when Alice claims from the same phone.
    phone = {**world.alice, "Cookie": "tc_device=alicesphone00000000000001"}
    world.claim(world.lot.serials[3], phone)
    rules = sorted(e["rule"] for e in entries(api, container, world.alice, brand))
    assert rules == ["claim", "claim", "first_scan"]
    with container.uow_factory.sessions() as s:
        flags = s.execute(
            text(
                "SELECT payload FROM events WHERE type = 'CertificateClaimRequested' "
                "ORDER BY log_index"
            )
        ).scalars()
        said = [b'"scanned_first":true' in bytes(p) for p in flags]
    assert said == [False, True, True]
