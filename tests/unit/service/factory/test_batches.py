from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.factory.domain.batches import (
    MAX_CASE_SIZE,
    MAX_CASES_PER_PALLET,
    MAX_LINE_LENGTH,
    MAX_RECALL_REASON,
    Batch,
    BatchSpec,
    BatchStatus,
    Packing,
    is_valid_public_id,
    new_public_id,
    validate_recall_reason,
    validate_spec,
)
from service.factory.domain.errors import (
    BatchAlreadyAnchoredError,
    BatchRecalledError,
    BatchStateError,
    BatchTooLargeError,
    InvalidBatchError,
)
from service.kernel.errors import InvalidLotError

TODAY = date(2026, 3, 14)
S = BatchStatus


def _spec(**overrides):
    arguments = {
        "lot": "LOT-2026.01",
        "production_date": TODAY,
        "line": "Line 1",
        "planned_quantity": 1_000,
        "case_size": 12,
        "cases_per_pallet": 50,
        "max_items": 1_000_000,
        "today": TODAY,
    }
    arguments.update(overrides)
    return validate_spec(**arguments)


def _batch(status: BatchStatus, outbox_id: int | None = None) -> Batch:
    return Batch(
        public_id="b_" + "0" * 24,
        organisation_id=1,
        lot="L1",
        chain_batch_id=b"\x01" * 32,
        metadata_hash=b"\x02" * 32,
        status=status,
        outbox_id=outbox_id,
    )


# ----------------------------------------------------------------------------- validate_spec
def test_a_valid_request_becomes_a_batch_spec():
    assert _spec() == BatchSpec(
        lot="LOT-2026.01",
        production_date=TODAY,
        line="Line 1",
        planned_quantity=1_000,
        packing=Packing(case_size=12, cases_per_pallet=50),
    )


@pytest.mark.parametrize("lot", ["", "x" * 21, "LOT 1", "a/b", "\uff21", "L\x00"])
def test_a_lot_that_is_not_a_gs1_lot_is_refused(lot):
    with pytest.raises(InvalidLotError):
        _spec(lot=lot)


def test_the_line_is_stripped_and_nfc_normalised():
    assert _spec(line="  Line 1\n").line == "Line 1"
    assert _spec(line="Ligne e\u0301").line == "Ligne \u00e9"


def test_a_line_of_sixty_four_characters_is_the_longest_accepted():
    assert _spec(line="x" * MAX_LINE_LENGTH).line == "x" * 64
    with pytest.raises(InvalidBatchError, match="1-64 characters"):
        _spec(line="x" * 65)


@pytest.mark.parametrize("line", ["", "   ", "\n\t"])
def test_an_empty_line_is_refused(line):
    with pytest.raises(InvalidBatchError, match="production line has 1-64 characters"):
        _spec(line=line)


@pytest.mark.parametrize(
    "line", ["Line\x001", "Line\t1", "Line\n1", "Line\u200b1", "Line\u202e1", "Line\x7f1"]
)
def test_a_line_with_control_or_invisible_characters_is_refused(line):
    with pytest.raises(InvalidBatchError, match="control or invisible"):
        _spec(line=line)


@pytest.mark.parametrize("quantity", [0, -1, -1_000])
def test_a_batch_of_no_items_is_refused(quantity):
    with pytest.raises(InvalidBatchError, match="at least one item"):
        _spec(planned_quantity=quantity)


def test_a_batch_of_exactly_the_cap_is_accepted_and_one_more_is_too_large():
    assert _spec(planned_quantity=5_000, max_items=5_000).planned_quantity == 5_000
    with pytest.raises(BatchTooLargeError, match="at most 5,000 items") as caught:
        _spec(planned_quantity=5_001, max_items=5_000)
    assert "split it" in caught.value.detail


def test_a_single_item_batch_is_accepted():
    assert _spec(planned_quantity=1).planned_quantity == 1


@pytest.mark.parametrize("case_size", [1, MAX_CASE_SIZE])
def test_case_sizes_from_one_to_the_maximum_are_accepted(case_size):
    assert _spec(case_size=case_size).packing.case_size == case_size


@pytest.mark.parametrize("case_size", [0, -1, MAX_CASE_SIZE + 1])
def test_case_size_outside_the_bounds_is_refused(case_size):
    with pytest.raises(InvalidBatchError, match="A case holds 1-1000 items"):
        _spec(case_size=case_size)


@pytest.mark.parametrize("cases", [1, MAX_CASES_PER_PALLET])
def test_cases_per_pallet_from_one_to_the_maximum_are_accepted(cases):
    assert _spec(cases_per_pallet=cases).packing.cases_per_pallet == cases


@pytest.mark.parametrize("cases", [0, -1, MAX_CASES_PER_PALLET + 1])
def test_cases_per_pallet_outside_the_bounds_is_refused(cases):
    with pytest.raises(InvalidBatchError, match="A pallet holds 1-10000 cases"):
        _spec(cases_per_pallet=cases)


@pytest.mark.parametrize("days", [-365, -1, 0, 1])
def test_a_production_date_up_to_tomorrow_is_accepted(days):
    # tomorrow is allowed: the factory may be a time zone ahead of the server
    produced = TODAY + timedelta(days=days)
    assert _spec(production_date=produced).production_date == produced


@pytest.mark.parametrize("days", [2, 30])
def test_a_production_date_two_or_more_days_ahead_is_refused(days):
    with pytest.raises(InvalidBatchError, match="in the future"):
        _spec(production_date=TODAY + timedelta(days=days))


# ----------------------------------------------------------------------------- packing
@pytest.mark.parametrize(
    ("items", "cases", "pallets"),
    [
        (0, 0, 0),
        (1, 1, 1),
        (12, 1, 1),
        (13, 2, 1),
        (24, 2, 1),
        (25, 3, 2),
        (48, 4, 2),
        (49, 5, 3),
    ],
)
def test_packing_counts_cases_and_pallets_rounding_up(items, cases, pallets):
    packing = Packing(case_size=12, cases_per_pallet=2)
    assert packing.cases_for(items) == cases
    assert packing.pallets_for(items) == pallets


def test_the_last_case_holds_what_is_left():
    packing = Packing(case_size=12, cases_per_pallet=2)
    assert [packing.items_in_case(p, 25) for p in range(4)] == [12, 12, 1, 0]
    assert [packing.items_in_case(p, 24) for p in range(3)] == [12, 12, 0]


@given(st.integers(1, MAX_CASE_SIZE), st.integers(1, 50), st.integers(0, 20_000))
def test_cases_hold_every_item_once_with_only_the_last_one_partial(case_size, per_pallet, items):
    packing = Packing(case_size, per_pallet)
    cases = packing.cases_for(items)
    counts = [packing.items_in_case(p, items) for p in range(cases)]
    assert sum(counts) == items
    assert all(c == case_size for c in counts[:-1])
    assert all(0 < c <= case_size for c in counts)
    assert packing.items_in_case(cases, items) == 0
    pallets = packing.pallets_for(items)
    assert (pallets - 1) * per_pallet < cases <= pallets * per_pallet or cases == pallets == 0


def test_batch_packing_follows_its_case_size_and_cases_per_pallet():
    batch = _batch(S.DRAFT)
    batch.case_size, batch.cases_per_pallet = 6, 40
    assert batch.packing == Packing(6, 40)


# ----------------------------------------------------------------------------- attributes
def test_batch_attributes_are_what_every_item_leaf_commits_to():
    spec = _spec(production_date=date(2026, 1, 2))
    product = {"name": "Sauce aroma 53%", "volume_ml": 500}
    assert spec.attributes("09506000134352", 7, product) == {
        "gtin": "09506000134352",
        "lot": "LOT-2026.01",
        "production_date": "2026-01-02",
        "factory": 7,
        "line": "Line 1",
        "product": {"name": "Sauce aroma 53%", "volume_ml": 500},
    }


def test_batch_attributes_leave_out_quantities_and_packing():
    attributes = _spec().attributes("09506000134352", 7, {})
    assert set(attributes) == {"gtin", "lot", "production_date", "factory", "line", "product"}


# ----------------------------------------------------------------------------- status machine
OK = None


def _assert_outcome(call, expected):
    if isinstance(expected, type) and issubclass(expected, Exception):
        with pytest.raises(expected) as caught:
            call()
        assert type(caught.value) is expected
        assert caught.value.detail
    else:
        assert call() is expected


GENERATABLE = {
    S.DRAFT: OK,
    S.GENERATED: BatchStateError,
    S.ACTIVATED: BatchStateError,
    S.ANCHORING: BatchStateError,
    S.ANCHORED: BatchStateError,
    S.ANCHOR_FAILED: BatchStateError,
    S.RECALLED: BatchRecalledError,
}


@pytest.mark.parametrize(("status", "expected"), GENERATABLE.items())
def test_codes_may_be_generated_only_once_from_a_draft(status, expected):
    _assert_outcome(_batch(status).require_generatable, expected)


def test_generating_again_names_the_status():
    with pytest.raises(BatchStateError, match="'generated': its codes were generated already"):
        _batch(S.GENERATED).require_generatable()


ACTIVATABLE = {
    S.DRAFT: BatchStateError,
    S.GENERATED: OK,
    S.ACTIVATED: OK,
    S.ANCHORING: OK,
    S.ANCHORED: OK,
    S.ANCHOR_FAILED: OK,
    S.RECALLED: BatchRecalledError,
}


@pytest.mark.parametrize(("status", "expected"), ACTIVATABLE.items())
def test_codes_may_be_activated_once_generated_until_recalled(status, expected):
    _assert_outcome(_batch(status).require_activatable, expected)


def test_activating_a_draft_says_to_generate_first():
    with pytest.raises(BatchStateError, match="generate its codes before activating"):
        _batch(S.DRAFT).require_activatable()


ANCHORABLE = {
    S.DRAFT: BatchStateError,
    S.GENERATED: BatchStateError,
    S.ACTIVATED: True,
    S.ANCHORING: False,  # one is in flight: nothing new to queue
    S.ANCHORED: BatchAlreadyAnchoredError,
    S.ANCHOR_FAILED: True,  # a failed anchor may be queued again
    S.RECALLED: BatchRecalledError,
}


@pytest.mark.parametrize(("status", "expected"), ANCHORABLE.items())
def test_an_anchor_may_be_queued_once_every_code_is_activated(status, expected):
    _assert_outcome(_batch(status).require_anchorable, expected)


@pytest.mark.parametrize("status", [S.DRAFT, S.GENERATED])
def test_anchoring_before_activation_says_what_comes_first(status):
    with pytest.raises(BatchStateError, match=f"'{status}': generate and activate all its codes"):
        _batch(status).require_anchorable()


ATTESTABLE = {
    S.DRAFT: BatchStateError,
    S.GENERATED: BatchStateError,
    S.ACTIVATED: BatchStateError,
    S.ANCHORING: BatchStateError,
    S.ANCHORED: OK,
    S.ANCHOR_FAILED: BatchStateError,
    S.RECALLED: BatchRecalledError,
}


@pytest.mark.parametrize(("status", "expected"), ATTESTABLE.items())
def test_only_an_anchored_batch_may_be_attested(status, expected):
    _assert_outcome(_batch(status).require_attestable, expected)


def test_attesting_too_early_says_to_wait_for_the_anchor():
    with pytest.raises(BatchStateError, match="'anchoring': only an anchored batch"):
        _batch(S.ANCHORING).require_attestable()


RECALLABLE = {
    S.DRAFT: OK,
    S.GENERATED: OK,
    S.ACTIVATED: OK,
    S.ANCHORING: OK,
    S.ANCHORED: OK,
    S.ANCHOR_FAILED: OK,
    S.RECALLED: BatchRecalledError,
}


@pytest.mark.parametrize(("status", "expected"), RECALLABLE.items())
def test_a_batch_may_be_recalled_once_from_any_status(status, expected):
    _assert_outcome(_batch(status).require_recallable, expected)


def test_recalling_twice_says_a_recall_is_final():
    with pytest.raises(BatchRecalledError, match="a recall is final"):
        _batch(S.RECALLED).require_recallable()


def test_the_tables_cover_every_status():
    for table in (GENERATABLE, ACTIVATABLE, ANCHORABLE, ATTESTABLE, RECALLABLE):
        assert set(table) == set(BatchStatus)


@pytest.mark.parametrize(
    ("status", "outbox_id", "expected"),
    [
        (S.DRAFT, None, False),
        (S.GENERATED, None, False),
        (S.ACTIVATED, None, False),
        (S.ANCHORING, 5, True),
        (S.ANCHORED, 5, True),
        (S.ANCHOR_FAILED, 5, False),  # the anchor reverted: the chain has no such batch
        (S.RECALLED, None, False),  # recalled before any anchor was queued
        (S.RECALLED, 5, True),  # recalled after an anchor was queued
    ],
)
def test_the_chain_knows_a_batch_once_an_anchor_is_in_flight_or_done(status, outbox_id, expected):
    assert _batch(status, outbox_id).chain_knows_it is expected


def test_every_status_has_a_chain_knows_it_answer():
    assert {s for s in BatchStatus if _batch(s, outbox_id=None).chain_knows_it} == {
        S.ANCHORING,
        S.ANCHORED,
    }


# ----------------------------------------------------------------------------- recall reasons
def test_a_recall_reason_is_stripped_and_nfc_normalised():
    assert validate_recall_reason("  Contaminated cork e\u0301 ") == "Contaminated cork \u00e9"


def test_a_recall_reason_of_a_thousand_characters_is_the_longest_accepted():
    assert validate_recall_reason("r" * MAX_RECALL_REASON) == "r" * 1_000
    with pytest.raises(InvalidBatchError, match="recall reason has 1-1000 characters"):
        validate_recall_reason("r" * 1_001)


@pytest.mark.parametrize("reason", ["", "   "])
def test_an_empty_recall_reason_is_refused(reason):
    with pytest.raises(InvalidBatchError, match="recall reason has 1-1000"):
        validate_recall_reason(reason)


@pytest.mark.parametrize("reason", ["bad\x00cork", "bad\x1bcork", "bad\u200bcork", "a\nb"])
def test_a_recall_reason_with_control_characters_is_refused(reason):
    with pytest.raises(InvalidBatchError, match="control or invisible"):
        validate_recall_reason(reason)


# ----------------------------------------------------------------------------- public ids
def test_public_ids_are_random_and_well_formed():
    ids = {new_public_id() for _ in range(1_000)}
    assert len(ids) == 1_000
    assert all(is_valid_public_id(i) for i in ids)
    assert all(len(i) == 26 and i.startswith("b_") for i in ids)


@pytest.mark.parametrize(
    "value",
    [
        "b_" + "0" * 23,
        "b_" + "0" * 25,
        "b_" + "A" * 24,  # upper-case hex is not how ids are made
        "b_" + "g" * 24,
        "c_" + "0" * 24,
        "B_" + "0" * 24,
        "b-" + "0" * 24,
        "b_" + "0" * 24 + "\n",
        " b_" + "0" * 24,
        "",
    ],
)
def test_malformed_public_ids_are_refused(value):
    assert not is_valid_public_id(value)
