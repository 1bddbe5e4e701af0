import itertools

import pytest

from service.domain.batches import BatchStatus
from service.domain.verification import Verdict, alerts_brand, verdict

S, V = BatchStatus, Verdict
NOT_ANCHORED_YET = [S.DRAFT, S.GENERATED, S.ACTIVATED, S.ANCHORING, S.ANCHOR_FAILED]


def _expected(status, activated, proof_valid, on_chain):
    """The specification, status by status (order matters: a recall beats everything)."""
    if status is S.RECALLED:
        return V.RECALLED
    if not activated:
        return V.NOT_ACTIVATED
    if status in NOT_ANCHORED_YET:
        return V.NOT_ANCHORED
    # anchored and activated: only the chain accepting a valid proof makes it genuine
    return {
        (True, True): V.GENUINE,
        (True, False): V.MISMATCH,
        (True, None): V.MISMATCH,
        (False, True): V.MISMATCH,
        (False, False): V.MISMATCH,
        (False, None): V.MISMATCH,
    }[(proof_valid, on_chain)]


@pytest.mark.parametrize(
    ("status", "activated", "proof_valid", "on_chain"),
    list(itertools.product(BatchStatus, [True, False], [True, False], [True, False, None])),
)
def test_verdict_for_every_combination(status, activated, proof_valid, on_chain):
    assert verdict(status, activated, proof_valid, on_chain) is _expected(
        status, activated, proof_valid, on_chain
    )


def test_only_an_activated_item_of_an_anchored_batch_the_chain_accepts_is_genuine():
    combinations = itertools.product(BatchStatus, [True, False], [True, False], [True, False, None])
    genuine = [c for c in combinations if verdict(*c) is V.GENUINE]
    assert genuine == [(S.ANCHORED, True, True, True)]


@pytest.mark.parametrize(
    ("status", "activated", "proof_valid", "on_chain"),
    list(itertools.product(BatchStatus, [True, False], [True, False], [True, False, None])),
)
def test_a_redeemed_certificate_makes_every_verdict_but_a_recall_redeemed(
    status, activated, proof_valid, on_chain
):
    expected = V.RECALLED if status is S.RECALLED else V.REDEEMED
    assert verdict(status, activated, proof_valid, on_chain, redeemed=True) is expected


@pytest.mark.parametrize(
    ("status", "activated", "proof_valid", "on_chain", "expected"),
    [
        (S.ANCHORED, True, True, True, V.GENUINE),
        (S.ANCHORED, True, True, False, V.MISMATCH),  # the chain rejects what the DB proves
        (S.ANCHORED, True, False, True, V.MISMATCH),  # the DB's proof does not fold to its root
        (S.ANCHORED, False, True, True, V.NOT_ACTIVATED),
        (S.ANCHORING, True, True, None, V.NOT_ANCHORED),
        (S.ACTIVATED, True, True, None, V.NOT_ANCHORED),
        (S.GENERATED, False, False, None, V.NOT_ACTIVATED),
        (S.RECALLED, True, True, True, V.RECALLED),
        (S.RECALLED, False, False, None, V.RECALLED),
    ],
)
def test_verdicts_of_the_cases_that_matter(status, activated, proof_valid, on_chain, expected):
    assert verdict(status, activated, proof_valid, on_chain) is expected


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
