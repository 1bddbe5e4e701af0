from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.consumer.domain import accounts
from service.consumer.domain.accounts import Channel, Destination, OtpChallenge
from service.consumer.domain.errors import InvalidDestinationError

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("typed", "channel", "value"),
    [
        ("13800138000", Channel.SMS, "+8613800138000"),
        ("138 0013 8000", Channel.SMS, "+8613800138000"),
        ("+86 (138) 0013-8000", Channel.SMS, "+8613800138000"),
        ("0044 20 7946 0958", Channel.SMS, "+442079460958"),
        ("Alice.Wang+wine@Example.COM", Channel.EMAIL, "alice.wang+wine@example.com"),
    ],
)
def test_destinations_normalise(typed, channel, value):
    assert accounts.normalise_destination(typed) == Destination(channel, value)


@pytest.mark.parametrize(
    "typed", ["", " ", "12345", "+0123456789", "a@b", "a b@example.com", "@example.com", "x" * 255]
)
def test_malformed_destinations_are_refused(typed):
    with pytest.raises(InvalidDestinationError):
        accounts.normalise_destination(typed)


def test_masking_hides_the_middle_of_a_number_and_the_local_part_of_an_email():
    assert Destination(Channel.SMS, "+8613800138000").masked() == "+86138****8000"
    assert Destination(Channel.EMAIL, "alice@example.com").masked() == "a***@example.com"


@given(st.text(max_size=300))
def test_normalising_never_crashes(typed):
    try:
        d = accounts.normalise_destination(typed)
    except InvalidDestinationError:
        return
    assert d.value and d.masked()


def test_codes_are_six_digits_and_match_only_their_challenge():
    key = b"k" * 32
    code = accounts.new_otp_code()
    assert len(code) == 6 and code.isdigit()
    stored = accounts.otp_hash(key, "otp_a", code)
    assert accounts.otp_matches(key, "otp_a", code, stored)
    assert accounts.otp_matches(key, "otp_a", code[:3] + " " + code[3:], stored)
    assert not accounts.otp_matches(key, "otp_b", code, stored)
    assert not accounts.otp_matches(b"x" * 32, "otp_a", code, stored)
    for typed in ("", "12345", "1234567", "12345a", "١٢٣٤٥٦"):
        assert not accounts.otp_matches(key, "otp_a", typed, stored)


def test_a_challenge_is_usable_until_it_expires_is_used_or_runs_out_of_tries():
    c = OtpChallenge(
        "otp_a", Destination(Channel.SMS, "+8613800138000"), b"h", NOW, NOW + accounts.OTP_TTL
    )
    assert c.usable(NOW)
    assert not c.usable(NOW + accounts.OTP_TTL + timedelta(seconds=1))
    c.attempts = accounts.OTP_MAX_ATTEMPTS
    assert not c.usable(NOW)
    c.attempts, c.consumed_at = 0, NOW
    assert not c.usable(NOW)


def test_codes_are_spaced_and_capped_per_hour():
    assert accounts.may_send_code([], NOW) is None
    assert accounts.may_send_code([NOW - timedelta(seconds=10)], NOW) == NOW + timedelta(seconds=20)
    assert accounts.may_send_code([NOW - timedelta(seconds=31)], NOW) is None
    five = [NOW - timedelta(minutes=m) for m in (50, 40, 30, 20, 10)]
    assert accounts.may_send_code(five, NOW) == NOW - timedelta(minutes=50) + timedelta(hours=1)
    assert accounts.may_send_code(five[1:], NOW) is None


def test_public_ids_are_random_and_say_nothing():
    ids = {accounts.new_public_id() for _ in range(100)}
    assert len(ids) == 100 and all(i.startswith("acc_") and len(i) > 20 for i in ids)
