"""A hypothesis state machine drives one certificate through random lifecycle calls and checks
every answer (allowed: 200 and the predicted state; refused: a 4xx and nothing changed) against
a model of the state machine, and at the end that the chain agrees with the database."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from service.consumer.domain.certificates import TRANSITIONS, Action, CertificateState
from tests.integration.service.conftest import auth
from tests.integration.service.consumer.test_certificate_lifecycle import (
    ON_CHAIN,
    World,
    partners,  # noqa: F401  (fixture)
)

S, A = CertificateState, Action
#: The owner's calls: path suffix, body, and the action the model applies.
OWNER_CALLS = ("gift", "cancel_gift", "pledge", "deposit", "withdraw", "redeem", "cancel_offer")
#: The counterparties' calls: the deal kind they act on, the verb, and the action.
DEAL_CALLS = {
    "accept_pledge": ("pledge", "accept", A.ACCEPT_PLEDGE),
    "decline_pledge": ("pledge", "decline", A.DECLINE_PLEDGE),
    "release_pledge": ("pledge", "release", A.RELEASE_PLEDGE),
    "confirm_deposit": ("custody", "confirm", A.CONFIRM_DEPOSIT),
    "decline_deposit": ("custody", "decline", A.DECLINE_DEPOSIT),
    "fulfil": ("redemption", "fulfil", A.FULFIL_REDEMPTION),
}


@pytest.mark.slow
def test_the_api_follows_the_certificate_state_machine(api, container, keys, otp, partners):  # noqa: F811
    world = World(api, container, keys, otp, quantity=36)
    serials = iter(world.lot.serials[1:])
    due = (date.today() + timedelta(days=30)).isoformat()
    seen: dict[str, set[Any]] = {"allowed": set(), "refused": set(), "states": set()}

    class Lifecycle(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.certificate = world.claim(next(serials), world.alice)
            self.state = S.ACTIVE
            self.deals: dict[str, str] = {}  # kind -> latest deal id
            self.origin: S | None = None

        # -------------------------------------------------------------- helpers
        def _owner(self, call: str) -> tuple[str, dict[str, Any] | None, Action]:
            if call == "gift":
                return "gift", {"expires_in_days": 5}, A.GIFT
            if call == "cancel_gift":
                return "gift/cancel", None, A.CANCEL_GIFT
            if call == "pledge":
                body = {
                    "pledgee_id": partners.pledgee,
                    "amount": "100",
                    "currency": "CNY",
                    "due_date": due,
                }
                return "pledge", body, A.PLEDGE
            if call == "deposit":
                return "deposit", {"custodian_id": partners.custodian}, A.DEPOSIT
            if call == "withdraw":
                return "withdraw", None, A.WITHDRAW
            if call == "cancel_offer":
                return "offer/cancel", None, A.CANCEL_OFFER
            body = {"method": "pickup"}
            if self.state is not S.IN_CUSTODY:
                body["store_id"] = partners.store
            return "redemption", body, A.REQUEST_REDEMPTION

        def _expect(self, action: Action, status: int, answer: dict[str, Any]) -> None:
            allowed = (self.state, action) in TRANSITIONS and not (
                # a request of the bottle from storage is on chain: no taking it back
                action is A.CANCEL_OFFER
                and self.origin is S.IN_CUSTODY
                and self.state is S.REDEMPTION_REQUESTED
            )
            seen["allowed" if allowed else "refused"].add((self.state, action))
            if allowed:
                assert status == 200, (self.state, action, answer)
                if action is A.REQUEST_REDEMPTION:
                    self.origin = self.state
                self.state = TRANSITIONS[(self.state, action)]
                seen["states"].add(self.state)
                world.settle()
            else:
                assert 400 <= status < 500 and status != 404, (self.state, action, answer)

        # -------------------------------------------------------------- rules
        @rule(call=st.sampled_from(OWNER_CALLS + tuple(sorted(DEAL_CALLS))))
        def act(self, call: str) -> None:
            if call in DEAL_CALLS:
                self.counterparty_acts(call)
            else:
                self.owner_acts(call)

        def owner_acts(self, call: str) -> None:
            path, body, action = self._owner(call)
            response = api.post(
                f"/me/certificates/{self.certificate['id']}/{path}", json=body, headers=world.alice
            )
            answer = response.json()
            self._expect(action, response.status_code, answer)
            if response.status_code == 200:
                for deal in answer.get("deals", []):
                    self.deals[deal["kind"]] = deal["id"]

        def counterparty_acts(self, call: str) -> None:
            kind, verb, action = DEAL_CALLS[call]
            deal = self.deals.get(kind)
            if deal is None:
                return
            if kind == "pledge":
                key = partners.pledgee_key
            elif kind == "custody" or self.origin is S.IN_CUSTODY:
                key = partners.custodian_key
            else:
                key = partners.store_key
            response = api.post(f"/deals/{deal}/{verb}", headers=auth(key))
            self._expect(action, response.status_code, response.json())

        @invariant()
        def database_agrees(self) -> None:
            got = world.get(self.certificate["id"], world.alice)
            assert got["state"] == self.state.value

        def teardown(self) -> None:
            world.settle()
            state, owner = world.on_chain(self.certificate)
            if self.state is S.GIFTED:
                assert owner == container.runtime.registry.address
            elif self.state is S.REDEMPTION_REQUESTED:
                expected = S.IN_CUSTODY if self.origin is S.IN_CUSTODY else S.ACTIVE
                assert state == ON_CHAIN[expected.value]
            else:
                assert state == ON_CHAIN[self.state.value] and owner == world.alice_wallet

    run_state_machine_as_test(
        Lifecycle,
        settings=settings(
            max_examples=30,
            stateful_step_count=25,
            deadline=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        ),
    )
    # The machine explored: many allowed and refused pairs, most states.
    assert len(seen["allowed"]) >= 12 and len(seen["refused"]) >= 30, seen
    assert len(seen["states"]) >= 8, seen["states"]
