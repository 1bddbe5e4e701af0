from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from service.consumer.domain.certificates import (
    CLAIM_CONFIRMED,
    CLAIM_FAILED,
    CLAIM_TAKEN_BACK,
    HAND_OUT_ACTIONS,
    MAX_LOCK,
    TERMINAL_STATES,
    TRANSITIONS,
    UNMINTED_STATES,
    Action,
    CertificateState,
    PinGuard,
    next_state,
    require_hand_out_allowed,
    step_starts_lock_clock,
    step_undone,
)
from service.consumer.domain.errors import CertificateStateError
from service.factory.domain.errors import BatchRecalledError

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
S, A = CertificateState, Action


@pytest.mark.parametrize("state", list(CertificateState))
@pytest.mark.parametrize("action", list(Action))
def test_every_state_and_action_pair_is_either_a_transition_or_refused(state, action):
    if (state, action) in TRANSITIONS:
        assert next_state(state, action) is TRANSITIONS[(state, action)]
    else:
        with pytest.raises(CertificateStateError) as refused:
            next_state(state, action)
        assert refused.value.code == "certificate_state_conflict"
        assert state.value in refused.value.detail


def test_terminal_states_have_no_way_out():
    assert not [pair for pair in TRANSITIONS if pair[0] in TERMINAL_STATES]
    with pytest.raises(CertificateStateError, match="final"):
        next_state(S.REDEEMED, A.GIFT)


def test_every_state_is_reachable_from_a_claim():
    seen, frontier = {S.CLAIM_PENDING}, [S.CLAIM_PENDING]
    while frontier:
        state = frontier.pop()
        for (source, _), target in TRANSITIONS.items():
            if source is state and target not in seen:
                seen.add(target)
                frontier.append(target)
    assert seen == set(CertificateState)


def test_locks_only_from_active_or_custody_and_redeemed_is_reached_only_by_fulfilment():
    assert {s for (s, a) in TRANSITIONS if a in (A.GIFT, A.PLEDGE, A.DEPOSIT)} == {S.ACTIVE}
    assert [pair for pair, t in TRANSITIONS.items() if t is S.REDEEMED] == [
        (S.REDEMPTION_REQUESTED, A.FULFIL_REDEMPTION)
    ]


def test_a_pin_guard_locks_after_the_free_misses_and_doubles_each_time():
    guard = PinGuard()
    for _ in range(4):
        guard = guard.after_failure(NOW, free=5, lock=timedelta(minutes=15))
        assert not guard.locked(NOW)
    assert guard.attempts_left(5) == 1
    guard = guard.after_failure(NOW, free=5, lock=timedelta(minutes=15))
    assert guard.locked(NOW) and guard.locked_until == NOW + timedelta(minutes=15)
    assert not guard.locked(NOW + timedelta(minutes=15))
    guard = guard.after_failure(NOW, free=5, lock=timedelta(minutes=15))
    assert guard.locked_until == NOW + timedelta(minutes=30)
    for _ in range(30):
        guard = guard.after_failure(NOW, free=5, lock=timedelta(minutes=15))
    assert guard.locked_until == NOW + MAX_LOCK


@pytest.mark.parametrize("action", sorted(HAND_OUT_ACTIONS))
def test_a_recalled_bottle_is_never_handed_out_or_taken_out_of_storage(action):
    with pytest.raises(BatchRecalledError, match="recalled"):
        require_hand_out_allowed(action, batch_recalled=True)
    require_hand_out_allowed(action, batch_recalled=False)


@pytest.mark.parametrize("action", sorted(set(Action) - HAND_OUT_ACTIONS))
def test_a_recall_leaves_every_other_step_to_the_state_machine_and_the_chain(action):
    require_hand_out_allowed(action, batch_recalled=True)


# ----------------------------------------------------------------------------- the chain's answer
def test_a_confirmed_mint_makes_a_pending_claim_active():
    assert (CLAIM_CONFIRMED.source, CLAIM_CONFIRMED.target) == (S.CLAIM_PENDING, S.ACTIVE)
    assert next_state(CLAIM_CONFIRMED.source, A.CONFIRM_CLAIM) is CLAIM_CONFIRMED.target


def test_a_refused_or_skipped_mint_fails_a_pending_claim_for_good():
    assert (CLAIM_FAILED.source, CLAIM_FAILED.target) == (S.CLAIM_PENDING, S.CLAIM_FAILED)
    assert CLAIM_FAILED.target in TERMINAL_STATES


def test_a_mint_taken_back_by_a_reorg_waits_for_its_confirmation_again():
    assert (CLAIM_TAKEN_BACK.source, CLAIM_TAKEN_BACK.target) == (S.ACTIVE, S.CLAIM_PENDING)


def test_only_pending_and_failed_claims_have_no_token_on_chain():
    assert {S.CLAIM_PENDING, S.CLAIM_FAILED} == UNMINTED_STATES
    assert S.CLAIM_PENDING in UNMINTED_STATES and S.ACTIVE not in UNMINTED_STATES


@pytest.mark.parametrize(
    ("action", "target"), [(A.ACCEPT_PLEDGE, S.PLEDGED), (A.CONFIRM_DEPOSIT, S.IN_CUSTODY)]
)
def test_a_confirmed_pledge_or_deposit_starts_the_lock_clock_where_it_led(action, target):
    assert step_starts_lock_clock(action, target, target)
    assert step_starts_lock_clock(action.value, target.value, target.value)  # as stored
    # Moved on before its confirmation (released, withdrawn): no lock to count.
    assert not step_starts_lock_clock(action, S.ACTIVE, target)


@pytest.mark.parametrize("action", [A.GIFT, A.PLEDGE, A.DEPOSIT, A.RELEASE_PLEDGE, A.WITHDRAW])
def test_other_confirmed_steps_start_no_lock_clock(action):
    target = next(t for (s, a), t in TRANSITIONS.items() if a is action)
    assert not step_starts_lock_clock(action, target, target)
    assert not step_starts_lock_clock("claim", S.ACTIVE, S.ACTIVE)


def test_a_failed_step_puts_the_certificate_back_and_moves_its_version_on():
    before = {"state": S.ACTIVE.value, "counterparty_org_id": None}
    assert step_undone(4, 4, before) == {**before, "version": 5}


def test_a_failed_step_leaves_a_certificate_that_moved_on_since():
    before = {"state": S.ACTIVE.value}
    assert step_undone(5, 4, before) is None
    assert step_undone(4, None, before) is None
