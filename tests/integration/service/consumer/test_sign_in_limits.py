"""Sign-in codes cannot be pumped: per client network, an overall budget, and a try counter
that holds under concurrent guesses (issue 12 item 11). On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from datetime import timedelta
from threading import Barrier

from fastapi.testclient import TestClient
from sqlalchemy import text

from service.api.app import create_app
from service.consumer.app.accounts import CodeLimits
from service.consumer.domain.accounts import OTP_MAX_ATTEMPTS


@contextmanager
def client_from(container, address: str) -> Iterator[TestClient]:
    with TestClient(create_app(container, manage_workers=False), client=(address, 50000)) as c:
        yield c


def limit(container, **changes: int) -> None:
    container.settings = settings = container.settings.model_copy(update=changes)
    limits = CodeLimits(
        settings.otp_max_per_network_per_hour,
        settings.otp_budget_per_hour,
        settings.otp_budget_per_day,
    )
    container.consumers = replace(container.consumers, code_limits=limits)


def test_codes_from_one_network_are_limited_and_other_networks_are_not(container, otp):
    limit(container, otp_max_per_network_per_hour=3)
    with (
        client_from(container, "203.0.113.7") as one,
        client_from(container, "203.0.113.99") as same,
    ):
        answers = [
            one.post("/accounts/codes", json={"destination": f"n{i}@example.com"}) for i in range(3)
        ]
        assert [a.status_code for a in answers] == [202, 202, 202]
        # Another address of the same /24: the same network.
        pumped = same.post("/accounts/codes", json={"destination": "n3@example.com"})
    assert pumped.status_code == 429, pumped.text
    assert pumped.json()["error"] == "code_rate_limited_network"
    assert 3500 <= int(pumped.headers["Retry-After"]) <= 3601
    assert "n3@example.com" not in otp.sent
    with client_from(container, "198.51.100.4") as other:
        assert (
            other.post("/accounts/codes", json={"destination": "n3@example.com"}).status_code == 202
        )
    assert sorted(otp.sent) == [f"n{i}@example.com" for i in range(4)]


def test_the_overall_budget_stops_codes_from_every_network(container, otp):
    limit(container, otp_budget_per_hour=2, otp_budget_per_day=10)
    for i, address in enumerate(("192.0.2.1", "198.51.100.1")):
        with client_from(container, address) as c:
            assert (
                c.post("/accounts/codes", json={"destination": f"b{i}@example.com"}).status_code
                == 202
            )
    with client_from(container, "203.0.113.1") as c:
        over = c.post("/accounts/codes", json={"destination": "b2@example.com"})
    assert over.status_code == 429 and over.json()["error"] == "code_budget_exhausted"
    assert int(over.headers["Retry-After"]) > 0 and "try again later" in over.json()["detail"]
    assert "b2@example.com" not in otp.sent


def test_the_daily_budget_counts_a_whole_day(container, otp):
    limit(container, otp_budget_per_hour=5, otp_budget_per_day=5)
    with client_from(container, "192.0.2.1") as c:
        for i in range(5):
            assert (
                c.post("/accounts/codes", json={"destination": f"d{i}@example.com"}).status_code
                == 202
            )
        # Five hours ago: out of the hourly window, still in the day's.
        with container.uow_factory.sessions.begin() as s:
            s.execute(
                text("UPDATE otp_challenges SET created_at = :at"),
                {"at": container.clock.now() - timedelta(hours=5)},
            )
        over = c.post("/accounts/codes", json={"destination": "d5@example.com"})
    assert over.status_code == 429 and over.json()["error"] == "code_budget_exhausted"
    assert 19 * 3600 - 5 <= int(over.headers["Retry-After"]) <= 19 * 3600 + 5


def test_the_same_address_asked_again_says_when_in_retry_after(api, otp):
    assert api.post("/accounts/codes", json={"destination": "r@example.com"}).status_code == 202
    again = api.post("/accounts/codes", json={"destination": "r@example.com"})
    assert again.status_code == 429 and again.json()["error"] == "code_rate_limited"
    assert 1 <= int(again.headers["Retry-After"]) <= 31


def test_sixteen_concurrent_guesses_check_at_most_the_allowed_tries(api, container, otp):
    sent = api.post("/accounts/codes", json={"destination": "g@example.com"}).json()
    code = otp.last("g@example.com")
    wrong = [f"{(int(code) + 1 + i) % 1_000_000:06d}" for i in range(16)]
    barrier = Barrier(16)

    def guess(typed: str):
        barrier.wait()
        return api.post(
            "/accounts/sessions", json={"challenge_id": sent["challenge_id"], "code": typed}
        )

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(guess, wrong))
    assert {a.status_code for a in answers} == {401}
    # A guess that was checked says so (tries left, or used up); the others found none left.
    checked = [
        a
        for a in answers
        if a.json()["detail"].startswith(("The code is wrong;", "The code is wrong and used up"))
    ]
    assert len(checked) <= OTP_MAX_ATTEMPTS, [a.json()["detail"] for a in answers]
    assert sorted(a.json().get("attempts_left", 0) for a in checked) == list(
        range(OTP_MAX_ATTEMPTS - len(checked), OTP_MAX_ATTEMPTS)
    )
    with container.uow_factory.sessions() as s:
        tries = s.execute(text("SELECT attempts FROM otp_challenges")).scalar_one()
    assert tries == OTP_MAX_ATTEMPTS
    # The right code now comes too late: the tries are used up.
    late = api.post("/accounts/sessions", json={"challenge_id": sent["challenge_id"], "code": code})
    assert late.status_code == 401 and late.json()["error"] == "invalid_sign_in_code"
