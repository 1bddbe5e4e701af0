"""The anti-farming signals, each on the behaviour it is for and on the honest behaviour next to
it; the score and level; a review's effect on later screenings; the awards a decision settles;
and the regions' centres from the maintained dataset."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.adapters.regions.places import region_centre
from service.touchpoints.app.risk import screened, settled
from service.touchpoints.domain.errors import InvalidRiskRulesError
from service.touchpoints.domain.risk import (
    DEFAULT_RISK_RULES,
    Evidence,
    Level,
    Sighting,
    Signal,
    assess,
    distance_km,
    risk_rules_from_settings,
)
from service.touchpoints.ports import RiskState

T0 = datetime(2026, 3, 1, 9, tzinfo=UTC)
BEIJING, SHENZHEN, TIANJIN = "110101", "440300", "120101"
DONGCHENG, XICHENG = "110101", "110102"
PHONE, FARM = b"p" * 16, b"f" * 16
ME = "account:me"


def claim(n: int, minutes: float = 0, region: str | None = BEIJING, device: bytes = PHONE):
    return Sighting(
        "claim", ME, device, f"crt_{n}", T0 + timedelta(minutes=minutes), f"log:{n}", region
    )


def scan(n: int, verdict: str, item: str | None = None, minutes: float = 0, region=BEIJING):
    at = T0 + timedelta(minutes=minutes)
    return Sighting("scan", None, PHONE, item or f"item:{n}", at, f"scans:{n}", region, verdict)


def signals(evidence: Evidence, since: datetime | None = None) -> set[Signal]:
    return {r.signal for r in assess(evidence, region_centre, since=since).reasons}


def test_the_regions_centres_come_from_the_dataset_and_fall_back_to_a_parent():
    beijing, shenzhen = region_centre(BEIJING), region_centre(SHENZHEN)
    assert beijing is not None and shenzhen is not None
    assert 1900 < distance_km(beijing, shenzhen) < 2000  # about 1,950 km
    assert region_centre("130171") is not None  # a development zone: its prefecture's centre
    assert region_centre("999999") is None


def test_an_honest_member_raises_nothing():
    own = [claim(1), claim(2, 60 * 24 * 30), claim(3, 60 * 24 * 90, TIANJIN)]
    evidence = Evidence(ME, own, own, {PHONE: 1})
    found = assess(evidence, region_centre)
    assert (found.level, found.score, found.reasons) == (Level.CLEAR, 0, ())


def test_a_phone_claiming_for_more_accounts_than_a_household_has():
    own = [claim(1, device=FARM)]
    assert signals(Evidence(ME, own, own, {FARM: 3})) == set()  # a family of three
    found = assess(Evidence(ME, own, own, {FARM: 40}), region_centre)
    (reason,) = found.reasons
    assert reason.signal is Signal.SHARED_DEVICE and "40 accounts" in reason.detail
    assert reason.refs == ("log:1",) and found.level is Level.GREY


def test_velocity_counts_claims_in_any_24_hours():
    burst = [claim(n, minutes=n * 10) for n in range(6)]
    assert signals(Evidence(ME, burst)) == {Signal.VELOCITY}
    spread = [claim(n, minutes=n * 60 * 5) for n in range(6)]  # 6 claims over 25 hours
    assert signals(Evidence(ME, spread)) == set()
    assert signals(Evidence(ME, burst[:5])) == set()  # a case of five for a banquet


def test_impossible_travel_between_two_sightings_of_a_member_or_a_device():
    fast = [claim(1, 0, BEIJING), claim(2, 30, SHENZHEN)]  # 1,950 km in 30 minutes
    found = assess(Evidence(ME, fast), region_centre)
    (reason,) = found.reasons
    assert reason.signal is Signal.IMPOSSIBLE_TRAVEL and reason.refs == ("log:1", "log:2")
    assert BEIJING in reason.detail and SHENZHEN in reason.detail
    flight = [claim(1, 0, BEIJING), claim(2, 60 * 3.5, SHENZHEN)]  # a flight: 560 km/h
    assert signals(Evidence(ME, flight)) == set()
    # Neighbouring districts at the same minute: the centres are rough, not a journey.
    assert signals(Evidence(ME, [claim(1, 0, DONGCHENG), claim(2, 0, XICHENG)])) == set()
    # The member's phone scanned in Shenzhen 20 minutes after their claim in Beijing.
    seen = [scan(7, "genuine", minutes=20, region=SHENZHEN)]
    assert signals(Evidence(ME, [claim(1)], seen)) == {Signal.IMPOSSIBLE_TRAVEL}
    # Unknown or missing regions say nothing.
    assert signals(Evidence(ME, [claim(1, 0, "999999"), claim(2, 1, None)])) == set()


def test_recycled_caps_and_the_clone_flag_are_scans_by_the_members_devices():
    one = [scan(1, "redeemed")]
    assert signals(Evidence(ME, [claim(1)], one)) == set()  # their own opened bottle
    same = [scan(1, "redeemed", "item:9"), scan(2, "redeemed", "item:9", 5)]
    assert signals(Evidence(ME, [claim(1)], same)) == set()
    caps = [scan(1, "redeemed"), scan(2, "recalled", minutes=1)]
    found = assess(Evidence(ME, [claim(1)], caps), region_centre)
    assert {r.signal for r in found.reasons} == {Signal.RECYCLED_CAPS}
    assert found.reasons[0].refs == ("scans:1", "scans:2")
    cloned = [scan(3, "suspected_clone")]
    assert signals(Evidence(ME, [claim(1)], cloned)) == {Signal.CLONE_FLAG}


def test_a_referral_ring_is_a_new_member_on_the_referrers_phone_or_referring_back():
    referral = Sighting("referral", ME, None, "crt_1", T0, "log:9", other="account:new")
    own = [claim(1), referral]
    honest = Evidence(ME, own, referred_devices={"account:new": frozenset({b"n" * 16})})
    assert signals(honest) == set()
    same_phone = Evidence(ME, own, referred_devices={"account:new": frozenset({PHONE})})
    assert signals(same_phone) == {Signal.REFERRAL_RING}
    mutual = Evidence(ME, own, referred_by=frozenset({"account:new"}))
    assert signals(mutual) == {Signal.REFERRAL_RING}


def test_signals_add_up_to_a_level_and_a_review_resets_what_counts():
    farm = [claim(n, n * 5, BEIJING if n % 2 else SHENZHEN, FARM) for n in range(8)]
    found = assess(Evidence(ME, farm, farm, {FARM: 40}), region_centre)
    assert {r.signal for r in found.reasons} == {
        Signal.SHARED_DEVICE,
        Signal.VELOCITY,
        Signal.IMPOSSIBLE_TRAVEL,
    }
    assert found.score == 100 and found.level is Level.BLACK
    later = T0 + timedelta(hours=2)
    cleared = assess(Evidence(ME, farm, farm, {FARM: 40}), region_centre, since=later)
    assert cleared.level is Level.CLEAR  # everything before the clearing review


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3000), st.sampled_from([BEIJING, SHENZHEN, TIANJIN]),
                          st.booleans()), max_size=12),
       st.integers(0, 50))  # fmt: skip
def test_the_score_is_the_reasons_weights_capped_and_the_level_follows_it(sightings, crowd):
    own = [claim(n, minutes, region, FARM if farm else PHONE)
           for n, (minutes, region, farm) in enumerate(sightings)]  # fmt: skip
    found = assess(Evidence(ME, own, own, {FARM: crowd, PHONE: 1}), region_centre)
    assert found.score == min(100, sum(r.weight for r in found.reasons))
    assert found.level is DEFAULT_RISK_RULES.level(found.score)
    assert len({r.signal for r in found.reasons}) == len(found.reasons)
    assert all(r.refs and set(r.refs) <= {s.cause for s in own} for r in found.reasons)


def test_a_review_stands_until_new_evidence_and_a_blacklisting_until_cleared():
    clear = assess(Evidence(ME, [claim(1)]), region_centre)
    why = [{"signal": "velocity"}]
    black = RiskState(1, ME, Level.BLACK, 90, why, T0, "log:3", T0, Level.BLACK)
    assert screened(black, clear) == (Level.BLACK, 90, why)
    grey = RiskState(1, ME, Level.GREY, 45, [], T0, "log:3", T0, Level.GREY)
    assert screened(grey, clear)[0] is Level.GREY  # held until the brand decides
    assert screened(None, clear) == (Level.CLEAR, 0, [])


def test_a_decision_settles_the_awards_its_level_concerns():
    awards = {"pending": ["a"], "held": ["b"], "released": ["c"]}
    assert settled(Level.CLEAR, awards) == ["a", "b"]
    assert settled(Level.GREY, awards) == ["a"]
    assert settled(Level.BLACK, awards) == ["a", "b", "c"]


def test_claims_of_bottles_that_never_reached_a_store_in_the_region():
    def at_channel(n: int, channel: str | None) -> Sighting:
        c = claim(n, n * 60 * 24 * 10)
        return Sighting(c.kind, c.subject, c.device, c.item, c.at, c.cause, c.region, channel)

    assert signals(Evidence(ME, [at_channel(1, "inside"), at_channel(2, None)])) == set()
    assert signals(Evidence(ME, [at_channel(1, "outside")])) == set()  # a traveller
    found = assess(Evidence(ME, [at_channel(1, "factory")]), region_centre)
    (reason,) = found.reasons
    assert reason.signal is Signal.OFF_CHANNEL and reason.refs == ("log:1",)
    assert found.level is Level.CLEAR  # alone: a brand's own shop ships from its warehouse
    outside = [at_channel(1, "outside"), at_channel(2, "outside"), at_channel(3, "inside")]
    (reason,) = assess(Evidence(ME, outside), region_centre).reasons
    assert reason.refs == ("log:1", "log:2") and "2 were held by a partner" in reason.detail


def test_risk_rules_round_trip_through_their_settings_and_are_checked():
    assert risk_rules_from_settings(DEFAULT_RISK_RULES.settings()) == DEFAULT_RISK_RULES
    changed = risk_rules_from_settings({"claims_per_day": 8, "weights": {"velocity": 0}})
    assert changed.claims_per_day == 8 and changed.weights[Signal.VELOCITY] == 0
    assert changed.weights[Signal.SHARED_DEVICE] == DEFAULT_RISK_RULES.weights[Signal.SHARED_DEVICE]
    burst = [claim(n, minutes=n) for n in range(6)]
    assert not assess(Evidence(ME, burst), region_centre, changed).reasons  # 6 <= 8
    for bad in ({"grey_at": 0}, {"grey_at": 90}, {"claims_per_day": True}, {"speed": 1},
                {"weights": {"velocity": 101}}, {"weights": {"nope": 1}}):  # fmt: skip
        with pytest.raises(InvalidRiskRulesError):
            risk_rules_from_settings(bad)
