"""The verdict from the database's view and the chain's view of a batch (the chain is the
truth): every combination over a small space, properties over any bytes, and the alerts."""

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.consumer.domain.verification import (
    NOT_READ,
    PROVEN,
    BatchOnChain,
    BatchOnRecord,
    Verdict,
    alerts_brand,
    differences,
    verdict,
)
from service.factory.domain.batches import BatchStatus

S, V = BatchStatus, Verdict
NOT_ANCHORED_YET = [S.DRAFT, S.GENERATED, S.ACTIVATED, S.ANCHORING, S.ANCHOR_FAILED]
ROOT, OTHER_ROOT = b"\x01" * 32, b"\x02" * 32
META, OTHER_META = b"\x0a" * 32, b"\x0b" * 32

RECORDS = [
    BatchOnRecord(status, root, count, meta, anchor_confirmed, recall_confirmed)
    for status, root, count, meta, anchor_confirmed, recall_confirmed in itertools.product(
        BatchStatus,
        [ROOT, OTHER_ROOT, None],
        [6, 7],
        [META, OTHER_META],
        [True, False],
        [True, False],
    )
]
CHAINS = [
    None,
    NOT_READ,
    *(
        BatchOnChain(root, count, recalled, meta)
        for root, count, recalled, meta in itertools.product(
            [ROOT, OTHER_ROOT], [6, 7], [True, False], [META, OTHER_META]
        )
    ),
]
FLAGS = list(itertools.product([True, False], repeat=3))  # activated, proof_valid, redeemed


def _on_chain(record):
    return record.status is S.ANCHORED or (record.status is S.RECALLED and record.anchor_confirmed)


def _expected_differences(record, chain):
    """The specification of a disagreement, written apart from the code."""
    if not _on_chain(record):
        return set()
    if chain is None:
        return {"anchored"}
    found = {
        name
        for name, here, there in [
            ("root", record.root, chain.root),
            ("item_count", record.item_count, chain.item_count),
            ("metadata_hash", record.metadata_hash, chain.metadata_hash),
        ]
        if here != there
    }
    recalled_here = record.status is S.RECALLED
    if chain.recalled and not recalled_here:
        found.add("recalled")  # recalled on chain, not in the database: the issue's repro
    if recalled_here and not chain.recalled and record.recall_confirmed:
        found.add("recalled")  # the database claims a confirmed recall the chain lacks
    return found


def _expected(record, chain, activated, proof_valid, redeemed):
    if _on_chain(record) and chain is not NOT_READ and _expected_differences(record, chain):
        return V.MISMATCH
    if record.status is S.RECALLED:
        return V.RECALLED
    if redeemed:
        return V.REDEEMED
    if not activated:
        return V.NOT_ACTIVATED
    if record.status in NOT_ANCHORED_YET:
        return V.NOT_ANCHORED
    return V.GENUINE if proof_valid else V.MISMATCH


def _cases():
    for record, chain, (activated, proof_valid, redeemed) in itertools.product(
        RECORDS, CHAINS, FLAGS
    ):
        if chain is NOT_READ and record.status is S.ANCHORED:
            continue  # no verdict without the chain (tested below)
        yield record, chain, activated, proof_valid, redeemed


def test_the_verdict_of_every_combination_of_the_two_views():
    checked = 0
    for record, chain, activated, proof_valid, redeemed in _cases():
        expected = _expected(record, chain, activated, proof_valid, redeemed)
        assert verdict(record, chain, activated, proof_valid, redeemed) is expected, (
            record,
            chain,
            activated,
            proof_valid,
            redeemed,
        )
        if chain is not NOT_READ:
            assert set(differences(record, chain)) == _expected_differences(record, chain)
        checked += 1
    assert checked > 40_000


def test_genuine_only_when_the_chain_holds_exactly_what_the_database_holds():
    for record, chain, activated, proof_valid, redeemed in _cases():
        if verdict(record, chain, activated, proof_valid, redeemed) is V.GENUINE:
            assert record.status is S.ANCHORED and activated and proof_valid and not redeemed
            assert chain == BatchOnChain(
                record.root, record.item_count, False, record.metadata_hash
            )


def test_any_difference_is_a_mismatch_and_never_genuine():
    for record, chain, activated, proof_valid, redeemed in _cases():
        if chain is not NOT_READ and differences(record, chain):
            assert verdict(record, chain, activated, proof_valid, redeemed) is V.MISMATCH


def test_the_issue_repro_recalled_on_chain_set_back_to_anchored_in_the_database():
    record = BatchOnRecord(S.ANCHORED, ROOT, 6, META, anchor_confirmed=True)
    chain = BatchOnChain(ROOT, 6, True, META)
    assert differences(record, chain) == ("recalled",)
    assert verdict(record, chain, True, True) is V.MISMATCH


def test_a_recall_whose_chain_write_is_in_flight_is_recalled_not_a_mismatch():
    record = BatchOnRecord(S.RECALLED, ROOT, 6, META, anchor_confirmed=True)
    chain = BatchOnChain(ROOT, 6, False, META)
    assert differences(record, chain) == ()
    assert verdict(record, chain, True, True) is V.RECALLED


def test_a_recall_the_database_holds_as_confirmed_but_the_chain_lacks_is_a_mismatch():
    record = BatchOnRecord(S.RECALLED, ROOT, 6, META, True, recall_confirmed=True)
    chain = BatchOnChain(ROOT, 6, False, META)
    assert differences(record, chain) == ("recalled",)
    assert verdict(record, chain, True, True) is V.MISMATCH


@pytest.mark.parametrize(
    ("chain", "named"),
    [
        (None, ("anchored",)),
        (BatchOnChain(OTHER_ROOT, 6, False, META), ("root",)),
        (BatchOnChain(ROOT, 7, False, META), ("item_count",)),
        (BatchOnChain(ROOT, 6, False, OTHER_META), ("metadata_hash",)),
        (
            BatchOnChain(OTHER_ROOT, 7, True, OTHER_META),
            ("root", "item_count", "metadata_hash", "recalled"),
        ),
    ],
)
def test_differences_name_each_field_in_order(chain, named):
    record = BatchOnRecord(S.ANCHORED, ROOT, 6, META, anchor_confirmed=True)
    assert differences(record, chain) == named


def test_an_anchored_batch_gets_no_verdict_without_the_chain():
    record = BatchOnRecord(S.ANCHORED, ROOT, 6, META, anchor_confirmed=True)
    with pytest.raises(ValueError):
        verdict(record, NOT_READ, True, True)


def test_a_recall_is_shown_without_the_chain():
    record = BatchOnRecord(S.RECALLED, ROOT, 6, META, anchor_confirmed=True)
    assert verdict(record, NOT_READ, True, True) is V.RECALLED


def test_a_batch_the_database_does_not_hold_as_anchored_is_never_compared_nor_genuine():
    for status in NOT_ANCHORED_YET:
        record = BatchOnRecord(status, ROOT, 6, META)
        for chain in CHAINS:
            assert differences(record, chain if chain is not NOT_READ else None) == ()
            assert verdict(record, chain, True, True) is V.NOT_ANCHORED


hashes = st.binary(min_size=32, max_size=32)
records = st.builds(
    BatchOnRecord,
    st.sampled_from(BatchStatus),
    st.one_of(st.none(), hashes),
    st.integers(1, 2**40),
    hashes,
    st.booleans(),
    st.booleans(),
)
chains = st.builds(BatchOnChain, hashes, st.integers(1, 2**40), st.booleans(), hashes)


@given(records, st.one_of(st.none(), chains), st.booleans(), st.booleans(), st.booleans())
def test_property_never_genuine_unless_both_views_agree(
    record, chain, activated, proof_valid, redeemed
):
    result = verdict(record, chain, activated, proof_valid, redeemed)
    assert result is _expected(record, chain, activated, proof_valid, redeemed)
    if result in PROVEN:
        assert chain is not None and not chain.recalled
        assert (chain.root, chain.item_count, chain.metadata_hash) == (
            record.root,
            record.item_count,
            record.metadata_hash,
        )


@given(records, chains)
def test_property_the_chain_agreeing_field_by_field_has_no_differences(record, chain):
    agreeing = BatchOnChain(
        record.root or chain.root,
        record.item_count,
        record.status is S.RECALLED and record.recall_confirmed,
        record.metadata_hash,
    )
    if record.root is not None:
        assert differences(record, agreeing) == ()


ALERTS = {
    (V.GENUINE, True): False,
    (V.GENUINE, False): False,
    (V.UNKNOWN, True): False,
    (V.UNKNOWN, False): False,
    (V.NOT_ACTIVATED, True): True,  # a consumer holds a code never activated: a leaked file?
    (V.NOT_ACTIVATED, False): False,  # a partner scanning at the line
    (V.NOT_ANCHORED, True): False,
    (V.NOT_ANCHORED, False): False,
    (V.RECALLED, True): False,
    (V.RECALLED, False): False,
    # The code is dead; a later scan is most often its owner looking at the empty bottle.
    (V.REDEEMED, True): False,
    (V.REDEEMED, False): False,
    (V.MISMATCH, True): True,  # altered records always alert
    (V.MISMATCH, False): True,
    # The clone rule raises its own alert, once per new region or device beyond the limits.
    (V.SUSPECTED_CLONE, True): False,
    (V.SUSPECTED_CLONE, False): False,
}


def test_the_alert_table_covers_every_verdict_and_caller():
    assert set(ALERTS) == set(itertools.product(Verdict, [True, False]))


@pytest.mark.parametrize(("case", "expected"), ALERTS.items())
def test_alerts_brand_for_every_verdict_and_caller(case, expected):
    result, anonymous = case
    assert alerts_brand(result, anonymous) is expected
