import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.factory.domain.batches import Packing
from service.factory.domain.units import plan_packing, references_available, sscc_for_reference
from service.kernel.gs1 import is_valid_sscc, make_sscc, sscc_capacity

PREFIX = "0614141"  # 7 digits: 10^9 references per extension digit
SHORT = "061414123456"  # 12 digits: 10^4 references per extension digit


@pytest.mark.parametrize(
    ("items", "case_size", "per_pallet", "cases", "pallets"),
    [
        (0, 12, 2, 0, 0),
        (1, 12, 2, 1, 1),
        (12, 12, 2, 1, 1),
        (13, 12, 2, 2, 1),
        (24, 12, 2, 2, 1),
        (25, 12, 2, 3, 2),
        (1_000, 6, 100, 167, 2),
        (1_000, 1, 1, 1_000, 1_000),
        (1_000, 1_000, 10_000, 1, 1),
    ],
)
def test_plan_has_one_sscc_per_case_and_per_pallet(items, case_size, per_pallet, cases, pallets):
    plan = plan_packing(items, Packing(case_size, per_pallet), PREFIX, 0)
    assert len(plan.case_ssccs) == cases
    assert len(plan.pallet_ssccs) == pallets


def test_pallets_take_the_first_references_then_cases_in_one_block():
    plan = plan_packing(25, Packing(12, 2), PREFIX, 500)
    assert plan.pallet_ssccs == (make_sscc(0, PREFIX, 500), make_sscc(0, PREFIX, 501))
    assert plan.case_ssccs == tuple(make_sscc(0, PREFIX, r) for r in (502, 503, 504))
    assert plan.packing == Packing(12, 2)


@given(st.integers(1, 3_000), st.integers(1, 40), st.integers(1, 30), st.integers(0, 10**6))
def test_every_planned_sscc_is_valid_and_distinct(items, case_size, per_pallet, first):
    plan = plan_packing(items, Packing(case_size, per_pallet), PREFIX, first)
    ssccs = plan.pallet_ssccs + plan.case_ssccs
    assert all(is_valid_sscc(s) for s in ssccs)
    assert all(s[1:8] == PREFIX for s in ssccs)
    assert len(set(ssccs)) == len(ssccs)
    # every case lands on a planned pallet, every item in a planned case
    assert plan.pallet_of_case(len(plan.case_ssccs) - 1) == len(plan.pallet_ssccs) - 1
    assert plan.case_of_item(items - 1) == len(plan.case_ssccs) - 1


def test_items_fill_cases_and_cases_fill_pallets_in_order():
    plan = plan_packing(25, Packing(12, 2), PREFIX, 0)
    assert [plan.case_of_item(i) for i in (0, 11, 12, 23, 24)] == [0, 0, 1, 1, 2]
    assert [plan.pallet_of_case(c) for c in (0, 1, 2)] == [0, 0, 1]


def test_consecutive_batches_get_disjoint_sscc_blocks():
    packing = Packing(10, 5)
    first = plan_packing(95, packing, PREFIX, 0)
    used = len(first.pallet_ssccs) + len(first.case_ssccs)
    second = plan_packing(95, packing, PREFIX, used)
    assert not set(first.pallet_ssccs + first.case_ssccs) & set(
        second.pallet_ssccs + second.case_ssccs
    )


def test_a_plan_crossing_the_capacity_rolls_into_the_next_extension_digit():
    plan = plan_packing(2, Packing(1, 10), SHORT, 9_998)
    assert plan.pallet_ssccs == (make_sscc(0, SHORT, 9_998),)
    assert plan.case_ssccs == (make_sscc(0, SHORT, 9_999), make_sscc(1, SHORT, 0))


@pytest.mark.parametrize(
    ("reference", "extension", "serial_reference"),
    [
        (0, 0, 0),
        (9_999, 0, 9_999),
        (10_000, 1, 0),
        (10_001, 1, 1),
        (45_678, 4, 5_678),
        (99_999, 9, 9_999),
    ],
)
def test_sscc_for_reference_uses_the_extension_digit_once_the_prefix_is_full(
    reference, extension, serial_reference
):
    sscc = sscc_for_reference(SHORT, reference)
    assert sscc == make_sscc(extension, SHORT, serial_reference)
    assert sscc[0] == str(extension)


def test_sscc_for_reference_beyond_ten_extension_digits_is_refused():
    with pytest.raises(ValueError, match="extension digit"):
        sscc_for_reference(SHORT, 10 * sscc_capacity(SHORT))


@pytest.mark.parametrize(
    ("prefix", "next_reference", "left"),
    [
        (SHORT, 0, 100_000),
        (SHORT, 10_000, 90_000),
        (SHORT, 99_999, 1),
        (SHORT, 100_000, 0),
        (PREFIX, 0, 10**10),
        ("061414", 5, 10**11 - 5),
    ],
)
def test_references_available_counts_every_extension_digit(prefix, next_reference, left):
    assert references_available(prefix, next_reference) == left


def test_the_last_available_reference_still_makes_an_sscc():
    last = 10 * sscc_capacity(SHORT) - 1
    assert references_available(SHORT, last) == 1
    assert is_valid_sscc(sscc_for_reference(SHORT, last))
