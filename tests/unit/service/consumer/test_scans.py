"""The risk rules of consumer scans: suspected clones and which scans judge diversion."""

from datetime import UTC, datetime, timedelta

import pytest

from service.channel.domain.regions import Region, RegionTree
from service.consumer.domain.scans import (
    CloneRule,
    Sighting,
    Witness,
    check_clone,
    comparable_region,
    enough_diversion_evidence,
    judges_diversion,
    with_risk,
)
from service.consumer.domain.verification import Verdict

#: Without the span, to test the counting alone; ``SPANNED`` below needs half an hour.
RULE = CloneRule(max_regions=2, max_devices=3, window=timedelta(days=1), min_span=timedelta(0))
SPANNED = CloneRule(max_regions=2, max_devices=3, window=timedelta(days=1))
T0 = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)
TREE = RegionTree(
    [
        Region("330000", "浙江省", 1, None),
        Region("330100", "杭州市", 2, "330000"),
        Region("330106", "西湖区", 3, "330100"),
        Region("330108", "滨江区", 3, "330100"),
        Region("320000", "江苏省", 1, None),
        Region("320100", "南京市", 2, "320000"),
        Region("320102", "玄武区", 3, "320100"),
        Region("CUSTOM", "Custom top", 1, None),
        Region("CUSTOM-A", "Custom deep", 4, "CUSTOM"),
    ]
)


def seen(*pairs: tuple[str | None, bytes]) -> list[Sighting]:
    return [Sighting(region, device) for region, device in pairs]


# ----------------------------------------------------------------------------- the rule
@pytest.mark.parametrize(
    ("regions", "devices"), [(0, 1), (1, 0), (1, 1)], ids=["no-region", "no-device", "ok"]
)
def test_a_clone_rule_allows_at_least_one_region_and_device(regions, devices):
    if regions and devices:
        assert CloneRule(regions, devices).max_regions == 1
        return
    with pytest.raises(ValueError):
        CloneRule(regions, devices)


def test_a_clone_rule_needs_a_positive_window():
    with pytest.raises(ValueError):
        CloneRule(window=timedelta(0))


def test_a_clone_rules_minimum_span_fits_in_its_window():
    with pytest.raises(ValueError):
        CloneRule(window=timedelta(hours=1), min_span=timedelta(hours=2))


def test_the_first_scan_of_a_code_is_no_clone():
    check = check_clone(RULE, [], Sighting("330100", b"a"))
    assert (check.regions, check.devices, check.suspected, check.new_place) == (1, 1, False, True)


def test_more_devices_than_allowed_make_a_suspected_clone():
    earlier = seen((None, b"a"), (None, b"b"), (None, b"c"))
    assert not check_clone(RULE, earlier[:2], Sighting(None, b"c")).suspected  # exactly M
    check = check_clone(RULE, earlier, Sighting(None, b"d"))
    assert check.devices == 4 and check.suspected and check.new_place


def test_more_regions_than_allowed_make_a_suspected_clone():
    earlier = seen(("330100", b"a"), ("320100", b"b"))
    assert not check_clone(RULE, earlier, Sighting("330100", b"c")).suspected
    check = check_clone(RULE, earlier, Sighting("110100", b"c"))
    assert check.regions == 3 and check.devices == 3 and check.suspected


def test_one_source_claiming_many_regions_vouches_for_one():
    earlier = seen(("330100", b"a"), ("320100", b"a"), ("110100", b"a"), ("440100", b"a"))
    check = check_clone(RULE, earlier, Sighting("510100", b"a"))
    assert (check.regions, check.devices, check.suspected) == (1, 1, False)
    # Two sources over five claimed regions vouch for two of them.
    check = check_clone(RULE, earlier, Sighting("510100", b"b"))
    assert (check.regions, check.devices, check.suspected) == (2, 2, False)


def test_a_burst_of_sources_within_the_minimum_span_is_no_clone():
    earlier = [Sighting(None, bytes([n]), at=T0 + timedelta(minutes=n)) for n in range(3)]
    burst = check_clone(SPANNED, earlier, Sighting(None, b"z", at=T0 + timedelta(minutes=29)))
    assert burst.devices == 4 and not burst.suspected
    spread = check_clone(SPANNED, earlier, Sighting(None, b"z", at=T0 + timedelta(minutes=30)))
    assert spread.devices == 4 and spread.suspected


def test_the_owners_own_scans_never_count():
    owner = [Sighting(r, b"o", Witness.OWNER) for r in ("330100", "320100", "110100", "440100")]
    check = check_clone(RULE, owner, Sighting(None, b"a"))
    assert (check.regions, check.devices, check.suspected) == (0, 1, False)
    again = check_clone(RULE, owner, Sighting("510100", b"o", Witness.OWNER))
    assert (again.devices, again.suspected, again.new_place) == (0, False, False)


def test_a_member_and_a_network_with_the_same_hash_are_two_sources():
    check = check_clone(RULE, [Sighting(None, b"a")], Sighting(None, b"a", Witness.MEMBER))
    assert check.devices == 2 and check.new_place


def test_diversion_from_anonymous_scans_needs_two_networks_or_one_member():
    one = Sighting("320102", b"n1")
    assert not enough_diversion_evidence(2, [one, one], Sighting("320102", b"n1"))
    assert enough_diversion_evidence(2, [one], Sighting("320102", b"n2"))
    assert enough_diversion_evidence(1, [], Sighting("320102", b"n1"))
    assert enough_diversion_evidence(2, [], Sighting("320102", b"m", Witness.MEMBER))
    assert enough_diversion_evidence(2, [Sighting("320102", b"m", Witness.MEMBER)], one)
    # The owner's word is not a second network.
    assert not enough_diversion_evidence(2, [Sighting("320102", b"o", Witness.OWNER)], one)


def test_the_same_source_in_the_same_place_again_adds_nothing_new():
    earlier = seen(("330100", b"a"), ("320100", b"b"), ("110100", b"c"))
    check = check_clone(RULE, earlier, Sighting("330100", b"a"))
    assert check.suspected and not check.new_place


def test_scans_without_a_region_count_their_source_only():
    earlier = seen((None, b"a"), (None, b"a"))
    check = check_clone(RULE, earlier, Sighting(None, b"a"))
    assert (check.regions, check.devices, check.suspected) == (0, 1, False)


def test_repeated_sightings_count_once():
    earlier = seen(("330100", b"a"), ("330100", b"a"), ("330100", b"a"))
    check = check_clone(RULE, earlier * 50, Sighting("330100", b"a"))
    assert (check.regions, check.devices, check.suspected) == (1, 1, False)


# ----------------------------------------------------------------------------- regions
@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("330106", "330100"),  # a district counts as its city
        ("330108", "330100"),
        ("330100", "330100"),
        ("330000", "330000"),  # a province stays a province
        ("CUSTOM-A", "CUSTOM"),  # a custom tree compares at its top levels too
        ("999999", None),
        (None, None),
    ],
)
def test_regions_are_compared_at_city_level(code, expected):
    assert comparable_region(TREE, code) == expected


def test_two_districts_of_one_city_are_one_place():
    earlier = [Sighting(comparable_region(TREE, "330106"), b"a")]
    check = check_clone(RULE, earlier, Sighting(comparable_region(TREE, "330108"), b"a"))
    assert check.regions == 1 and not check.new_place


# ----------------------------------------------------------------------------- verdicts
@pytest.mark.parametrize("result", list(Verdict))
def test_only_a_genuine_code_under_suspicion_becomes_a_suspected_clone(result):
    suspected = check_clone(
        RULE, seen((None, b"a"), (None, b"b"), (None, b"c")), Sighting(None, b"d")
    )
    calm = check_clone(RULE, [], Sighting(None, b"a"))
    expected = Verdict.SUSPECTED_CLONE if result is Verdict.GENUINE else result
    assert with_risk(result, suspected) is expected
    assert with_risk(result, calm) is result
    assert with_risk(result, None) is result


@pytest.mark.parametrize(
    ("anonymous", "region", "claimed", "expected"),
    [
        (True, "320102", False, True),
        (False, "320102", False, False),  # partners observe through /scans
        (True, None, False, False),  # no region, no place to judge
        (True, "320102", True, False),  # sold: its owner may take it anywhere
    ],
)
def test_which_scans_judge_diversion(anonymous, region, claimed, expected):
    assert judges_diversion(anonymous, region, claimed) is expected
