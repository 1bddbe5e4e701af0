from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from service.domain.certificates import (
    HAND_OUT_ACTIONS,
    MAX_LOCK,
    TERMINAL_STATES,
    TRANSITIONS,
    Action,
    CertificateState,
    PinGuard,
    next_state,
    require_hand_out_allowed,
)
from service.domain.errors import BatchRecalledError, CertificateStateError

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
