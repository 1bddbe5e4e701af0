"""Digital certificates (数字酒证): the one state machine of a claimed bottle, and the PIN lockouts.

The same machine is enforced three times: here (which action fits which state), in the
database (every change is a conditional ``UPDATE ... WHERE state = <expected>``, so two racing
requests cannot both win), and on chain (the registry's lock rules). A state ending in
``_pending`` waits for its transaction to be confirmed; the chain has not moved yet.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from service.consumer.domain.errors import CertificateStateError
from service.factory.interface import BatchRecalledError


class CertificateState(StrEnum):
    """Where a certificate is in its life."""

    #: Claimed with the right PIN; the mint is queued or in flight.
    CLAIM_PENDING = "claim_pending"
    #: Minted on chain to its owner; free to move.
    ACTIVE = "active"
    #: The mint failed for good (the batch was recalled before it went through).
    CLAIM_FAILED = "claim_failed"
    #: Offered as a gift; the token sits in the registry's escrow until accepted or cancelled.
    GIFTED = "gifted"
    #: Offered as collateral; waits for the pledgee to accept.
    PLEDGE_OFFERED = "pledge_offered"
    #: Locked as collateral to a pledgee.
    PLEDGED = "pledged"
    #: Deposited with a custodian who has not yet confirmed receiving the bottle.
    DEPOSIT_OFFERED = "deposit_offered"
    #: In a custodian's storage (ageing).
    IN_CUSTODY = "in_custody"
    #: The owner asked for the bottle (delivery or pick-up).
    REDEMPTION_REQUESTED = "redemption_requested"
    #: Handed out: the code is dead. Terminal.
    REDEEMED = "redeemed"


class Action(StrEnum):
    """Everything that changes a certificate's state."""

    CONFIRM_CLAIM = "confirm_claim"
    FAIL_CLAIM = "fail_claim"
    GIFT = "gift"
    ACCEPT_GIFT = "accept_gift"
    CANCEL_GIFT = "cancel_gift"
    PLEDGE = "pledge"
    ACCEPT_PLEDGE = "accept_pledge"
    DECLINE_PLEDGE = "decline_pledge"
    RELEASE_PLEDGE = "release_pledge"
    FORECLOSE = "foreclose"
    DEPOSIT = "deposit"
    CONFIRM_DEPOSIT = "confirm_deposit"
    DECLINE_DEPOSIT = "decline_deposit"
    WITHDRAW = "withdraw"
    REQUEST_REDEMPTION = "request_redemption"
    FULFIL_REDEMPTION = "fulfil_redemption"
    #: The owner takes back an offer nobody has taken up yet (off chain only).
    CANCEL_OFFER = "cancel_offer"


S = CertificateState
A = Action

#: ``(state, action) -> next state``; a pair not listed is refused.
TRANSITIONS: dict[tuple[CertificateState, Action], CertificateState] = {
    (S.CLAIM_PENDING, A.CONFIRM_CLAIM): S.ACTIVE,
    (S.CLAIM_PENDING, A.FAIL_CLAIM): S.CLAIM_FAILED,
    (S.ACTIVE, A.GIFT): S.GIFTED,
    (S.GIFTED, A.ACCEPT_GIFT): S.ACTIVE,
    (S.GIFTED, A.CANCEL_GIFT): S.ACTIVE,
    (S.ACTIVE, A.PLEDGE): S.PLEDGE_OFFERED,
    (S.PLEDGE_OFFERED, A.ACCEPT_PLEDGE): S.PLEDGED,
    (S.PLEDGE_OFFERED, A.DECLINE_PLEDGE): S.ACTIVE,
    (S.PLEDGED, A.RELEASE_PLEDGE): S.ACTIVE,
    (S.PLEDGED, A.FORECLOSE): S.ACTIVE,
    (S.ACTIVE, A.DEPOSIT): S.DEPOSIT_OFFERED,
    (S.DEPOSIT_OFFERED, A.CONFIRM_DEPOSIT): S.IN_CUSTODY,
    (S.DEPOSIT_OFFERED, A.DECLINE_DEPOSIT): S.ACTIVE,
    (S.IN_CUSTODY, A.WITHDRAW): S.ACTIVE,
    (S.ACTIVE, A.REQUEST_REDEMPTION): S.REDEMPTION_REQUESTED,
    (S.IN_CUSTODY, A.REQUEST_REDEMPTION): S.REDEMPTION_REQUESTED,
    (S.REDEMPTION_REQUESTED, A.FULFIL_REDEMPTION): S.REDEEMED,
    (S.PLEDGE_OFFERED, A.CANCEL_OFFER): S.ACTIVE,
    (S.DEPOSIT_OFFERED, A.CANCEL_OFFER): S.ACTIVE,
    # Only a request made of a store (the chain has not moved); from storage, the custodian
    # has been asked on chain and hands out or releases.
    (S.REDEMPTION_REQUESTED, A.CANCEL_OFFER): S.ACTIVE,
}

#: Actions that hand the bottle out, or let it leave a custodian's warehouse. A recalled bottle
#: is never handed out (what most brands do): the brand takes it back, off this system.
HAND_OUT_ACTIONS = frozenset({A.REQUEST_REDEMPTION, A.FULFIL_REDEMPTION, A.WITHDRAW})

#: States in which the certificate has not reached the chain (the scan page says "pending").
PENDING_STATES = frozenset({S.CLAIM_PENDING})
#: States a certificate never leaves.
TERMINAL_STATES = frozenset({S.REDEEMED, S.CLAIM_FAILED})


def next_state(state: CertificateState, action: Action) -> CertificateState:
    """Return the state ``action`` leads to from ``state``; raise if it does not fit."""
    target = TRANSITIONS.get((state, action))
    if target is None:
        allowed = sorted(a.value for (s, a) in TRANSITIONS if s is state)
        hint = (
            f"from {state.value} it may only {', '.join(allowed)}"
            if allowed
            else f"{state.value} is final"
        )
        raise CertificateStateError(
            f"A certificate that is {state.value} cannot {action.value.replace('_', ' ')}: {hint}.",
            state=state.value,
        )
    return target


# ----------------------------------------------------------------------------- the chain's answer
# What a chain write's outcome does to the certificates it carries. Storage applies each as a
# bulk conditional ``UPDATE ... WHERE state = <source>`` (the optimistic guard), so it asks here
# which states those are instead of naming them itself.


@dataclass(frozen=True)
class Transition:
    """A change the chain's answer makes to every certificate still in ``source``."""

    source: CertificateState
    target: CertificateState


def _rule(state: CertificateState, action: Action) -> Transition:
    return Transition(state, next_state(state, action))


#: The mint is on chain: the certificate is ``active``.
CLAIM_CONFIRMED = _rule(S.CLAIM_PENDING, A.CONFIRM_CLAIM)
#: The contract refused or skipped the mint for good (claimed first by someone else, batch
#: recalled meanwhile): the certificate is ``claim_failed``.
CLAIM_FAILED = _rule(S.CLAIM_PENDING, A.FAIL_CLAIM)
#: A reorg took the mint back: the certificate waits for it again, as before its confirmation.
CLAIM_TAKEN_BACK = Transition(CLAIM_CONFIRMED.target, CLAIM_CONFIRMED.source)

#: States in which a certificate's token was never minted (not yet, or never will be): no
#: mint transaction to name, and no holder on chain.
UNMINTED_STATES = frozenset({S.CLAIM_PENDING, S.CLAIM_FAILED})
#: Steps whose confirmation on chain starts the certificate's lock clock (custody age,
#: a pledge's term count from the chain's lock, not from the request).
LOCKING_ACTIONS = frozenset({A.ACCEPT_PLEDGE, A.CONFIRM_DEPOSIT})


def step_starts_lock_clock(action: str, state: str, step_target: str) -> bool:
    """Whether a confirmed step starts the lock clock: a locking step, and the certificate
    still in the state it led to (not moved on meanwhile). Takes the enums or their stored
    values (a step's action may be one no :class:`Action` names, such as ``claim``)."""
    return action in LOCKING_ACTIONS and state == step_target


def step_undone(
    version: int, version_after: int | None, before: Mapping[str, object]
) -> dict[str, object] | None:
    """What a failed step puts back: the certificate's fields as they were before the step,
    and the next version, when nothing changed it since (it is still at the version the step
    left); ``None`` when it moved on, and keeps its state."""
    if version != version_after:
        return None
    return {**before, "version": version + 1}


def require_hand_out_allowed(action: Action, batch_recalled: bool) -> None:
    """Raise if ``action`` would hand out (or take out of storage) a bottle of a recalled batch.

    The registry refuses the same calls on chain (``CertificateRegistryBatchIsRecalled``); the
    service refuses them first, so nothing is queued that could only fail.
    """
    if batch_recalled and action in HAND_OUT_ACTIONS:
        raise BatchRecalledError(
            "The brand recalled this bottle's batch: it is not handed out or taken out of "
            "storage. The brand arranges the return; see the recall notice on the scan page."
        )


class DealKind(StrEnum):
    """What an owner arranges for a certificate with someone else."""

    GIFT = "gift"
    PLEDGE = "pledge"
    CUSTODY = "custody"
    REDEMPTION = "redemption"


class DealStatus(StrEnum):
    """Where an arrangement stands."""

    OFFERED = "offered"
    ACTIVE = "active"
    DONE = "done"
    DECLINED = "declined"
    CANCELLED = "cancelled"


#: The arrangement each action opens, settles or ends, and the status it leaves it in.
DEAL_OF_ACTION: dict[Action, tuple[DealKind, DealStatus]] = {
    A.GIFT: (DealKind.GIFT, DealStatus.OFFERED),
    A.ACCEPT_GIFT: (DealKind.GIFT, DealStatus.DONE),
    A.CANCEL_GIFT: (DealKind.GIFT, DealStatus.CANCELLED),
    A.PLEDGE: (DealKind.PLEDGE, DealStatus.OFFERED),
    A.ACCEPT_PLEDGE: (DealKind.PLEDGE, DealStatus.ACTIVE),
    A.DECLINE_PLEDGE: (DealKind.PLEDGE, DealStatus.DECLINED),
    A.RELEASE_PLEDGE: (DealKind.PLEDGE, DealStatus.DONE),
    A.FORECLOSE: (DealKind.PLEDGE, DealStatus.DONE),
    A.DEPOSIT: (DealKind.CUSTODY, DealStatus.OFFERED),
    A.CONFIRM_DEPOSIT: (DealKind.CUSTODY, DealStatus.ACTIVE),
    A.DECLINE_DEPOSIT: (DealKind.CUSTODY, DealStatus.DECLINED),
    A.WITHDRAW: (DealKind.CUSTODY, DealStatus.DONE),
    A.REQUEST_REDEMPTION: (DealKind.REDEMPTION, DealStatus.OFFERED),
    A.FULFIL_REDEMPTION: (DealKind.REDEMPTION, DealStatus.DONE),
}

#: The deal a cancelled offer belongs to, by the state it was made in.
OFFER_OF_STATE: dict[CertificateState, DealKind] = {
    S.PLEDGE_OFFERED: DealKind.PLEDGE,
    S.DEPOSIT_OFFERED: DealKind.CUSTODY,
    S.REDEMPTION_REQUESTED: DealKind.REDEMPTION,
}


@dataclass
class Deal:
    """A gift, pledge, custody or redemption of a certificate, with its off-chain terms."""

    public_id: str
    certificate_id: int
    kind: DealKind
    status: DealStatus
    created_at: datetime
    #: The pledgee, custodian or store.
    counterparty_org_id: int | None = None
    #: A gift's recipient once known (named at creation, or who accepted the link).
    recipient_account_id: int | None = None
    #: A gift's recipient by phone or email, as a keyed hash (``accounts.recipient_key``):
    #: whoever signs up with that address later sees the gift as theirs.
    recipient_key: bytes | None = None
    #: A gift link's secret, hashed; the link itself is shown once.
    secret_hash: bytes | None = None
    #: The one-time key whose signature releases a gift from escrow, and its key sealed.
    claim_key_address: str | None = None
    sealed_claim_key: bytes | None = None
    #: The gift's nonce on chain (known once the gift is confirmed).
    gift_nonce: int | None = None
    expires_at: datetime | None = None
    #: Pledge amount, currency, terms and due date; redemption method and store.
    terms: dict[str, object] = field(default_factory=dict)
    #: A delivery address, sealed (personal data stays off chain and out of the log).
    sealed_details: bytes | None = None
    #: The state the certificate was in when a redemption was requested.
    origin_state: CertificateState | None = None
    settled_at: datetime | None = None
    id: int | None = None


@dataclass
class Certificate:
    """A bottle's certificate as the service keeps it."""

    public_id: str
    item_id: int
    batch_id: int
    serial: str
    token_id: int
    state: CertificateState
    owner_account_id: int | None
    owner_address: str
    claimed_at: datetime
    claim_region: str | None = None
    claim_tx_hash: bytes | None = None
    claim_block_number: int | None = None
    confirmed_at: datetime | None = None
    #: Increases with every change; conditional updates compare it.
    version: int = 0
    id: int | None = None
    #: Owner when an organisation holds it (a pledgee after foreclosure).
    owner_org_id: int | None = None
    #: Pledgee or custodian while locked.
    counterparty_org_id: int | None = None
    #: When the current lock (pledge, custody) began on chain: custody age counts from here.
    locked_since: datetime | None = None


# ----------------------------------------------------------------------------- PIN lockouts
# Wrong PINs are counted per (account, bottle), per account and per bottle. The first two lock
# only the one who typed them, so a stranger who read a serial cannot lock the buyer out; the
# third is a cap on guesses at one bottle from all accounts together (distributed guessing).
#: Wrong PINs one account may type for one item before that pair locks; then every further
#: miss doubles the lock.
ITEM_FREE_FAILURES = 5
ITEM_LOCK = timedelta(minutes=15)
#: Wrong PINs one item takes from all accounts together before claiming it pauses for a day
#: (then each further miss pauses it a day again); the count starts over after a day without
#: a wrong PIN.
BOTTLE_CAP_FAILURES = 50
BOTTLE_CAP_LOCK = timedelta(days=1)
BOTTLE_CAP_WINDOW = timedelta(days=1)
#: Wrong PINs one account may type (over all items) before it locks.
ACCOUNT_FREE_FAILURES = 10
ACCOUNT_LOCK = timedelta(hours=1)
#: No lock grows beyond this.
MAX_LOCK = timedelta(days=1)


@dataclass(frozen=True)
class PinGuard:
    """Wrong-PIN bookkeeping of one subject (an item or an account)."""

    failures: int = 0
    locked_until: datetime | None = None
    #: When the last wrong PIN was counted.
    updated_at: datetime | None = None

    def locked(self, now: datetime) -> bool:
        return self.locked_until is not None and now < self.locked_until

    def after_failure(self, now: datetime, free: int, lock: timedelta) -> PinGuard:
        """The guard after one more wrong PIN: locked once ``free`` misses are used up, the
        lock doubling with every further miss (capped at :data:`MAX_LOCK`)."""
        failures = self.failures + 1
        if failures < free:
            return PinGuard(failures, self.locked_until, now)
        span = min(lock * (2 ** (failures - free)), MAX_LOCK)
        return PinGuard(failures, now + span, now)

    def attempts_left(self, free: int) -> int:
        return max(free - self.failures, 0)
