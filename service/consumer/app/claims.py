"""Claims: a certificate claimed with the bottle's hidden PIN (wrong PINs lock the pair, the
account and the item), minted by the claim batcher, and the consumer's certificates.

A claim is accepted at once (the certificate is ``claim_pending``) and minted on chain by the
claim batcher: claims that arrive together share one ``claimBatch`` transaction. Whatever the
chain does, the database changes only through conditional updates keyed by the expected state."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from service.channel.interface import InvalidRegionError, RegionTree
from service.consumer.app import commands
from service.consumer.app.accounts import require_consumer
from service.consumer.app.views import certificate_view, registry_address
from service.consumer.domain.certificates import (
    ACCOUNT_FREE_FAILURES,
    ACCOUNT_LOCK,
    BOTTLE_CAP_FAILURES,
    BOTTLE_CAP_LOCK,
    BOTTLE_CAP_WINDOW,
    ITEM_FREE_FAILURES,
    ITEM_LOCK,
    Certificate,
    CertificateState,
    PinGuard,
)
from service.consumer.domain.errors import (
    AlreadyClaimedError,
    CertificateNotFoundError,
    InvalidPinError,
    InvalidSessionError,
    NotClaimableError,
    PinLockedError,
    WrongPinError,
)
from service.consumer.domain.events import CertificateClaimRequested
from service.consumer.ports import (
    CertificateChain,
    CertificateCommitments,
    ConsumerSecrets,
    ConsumerUnitOfWork,
    ConsumerUnitOfWorkFactory,
    StepRecord,
)
from service.factory.interface import (
    Batch,
    BatchStatus,
    ItemNotFoundError,
    normalise_pin,
    pin_matches,
)
from service.kernel.actor import Actor
from service.kernel.errors import RequestInProgressError
from service.kernel.events import canonical_json
from service.kernel.gs1 import is_valid_serial_text
from service.kernel.idempotency import replay
from service.kernel.ports import Clock, DuplicateError, StoredResponse
from service.kernel.roles import OrganisationKind
from service.kernel.text import count


# ----------------------------------------------------------------------------- claims
def _claimable(batch: Batch, activated: bool) -> None:
    if batch.status is BatchStatus.RECALLED:
        raise NotClaimableError(
            "This bottle's batch was recalled by the brand; it cannot be claimed."
        )
    if not activated:
        raise NotClaimableError(
            "This code was never activated at the factory; it cannot be claimed. "
            "Tell the seller or the brand."
        )
    if batch.status is not BatchStatus.ANCHORED:
        raise NotClaimableError(
            "This bottle's batch is not on chain yet; try again later (usually within the hour)."
        )


def channel_at_claim(
    uow: ConsumerUnitOfWork, serial: str, region: str | None, regions: Callable[[], RegionTree]
) -> str | None:
    """Where the bottle stood in the channel when claimed, against the claim's region:
    ``inside`` (a partner holds it whose territory covers the region), ``outside`` (one whose
    territory does not), ``factory`` (its brand or factory still holds it: it never reached a
    store, as a code from a leaked file has not), None when it cannot be said (no region, no
    custody, a holder without a territory)."""
    target = uow.custody.target(None, serial)
    if target is not None and not target.loose and target.parent_id is not None:
        cases = uow.custody.units_by_id([target.parent_id])  # a sealed case carries it
        target = cases[0] if cases else None
    holder_id = target.custody.holder_id if target is not None else None
    if region is None or holder_id is None:
        return None
    holder = uow.organisations.get(holder_id)
    if holder is None:
        return None
    if holder.kind in (OrganisationKind.BRAND, OrganisationKind.FACTORY):
        return "factory"
    territory = uow.channel.territories([holder_id]).get(holder_id)
    if not territory:
        return None
    return "inside" if regions().within(region, territory) else "outside"


def claim(
    cmd: commands.ClaimCertificate,
    uow_factory: ConsumerUnitOfWorkFactory,
    commitments: CertificateCommitments,
    secrets_: ConsumerSecrets,
    regions: Callable[[], RegionTree],
    clock: Clock,
) -> dict[str, Any]:
    """Claim a bottle with its PIN: the certificate is ``claim_pending`` until minted.

    Wrong PINs count against the caller's (account, bottle) pair and the caller's account;
    either locks after a few misses, for longer with every further miss, and locks only the
    caller: a stranger who read the serial cannot lock the buyer out. They also count against
    the bottle from all accounts together, a cap on distributed guessing
    (``BOTTLE_CAP_FAILURES`` a day). Malformed PINs are refused without counting.
    """
    account_id = require_consumer(cmd.actor)
    if not is_valid_serial_text(cmd.serial):
        raise ItemNotFoundError()
    pin = normalise_pin(cmd.pin)
    if pin is None:
        raise InvalidPinError()
    if cmd.region is not None and cmd.region not in regions():
        raise InvalidRegionError(f"Unknown region code {cmd.region!r}; use a GB/T 2260 code.")
    now = clock.now()
    pair_subject = f"item:{cmd.serial}:account:{account_id}"
    account_subject = f"account:{account_id}"
    item_subject = f"item:{cmd.serial}"
    try:
        with uow_factory() as uow:
            stored = replay(uow, cmd.actor, cmd.idempotency)
            if stored is not None:
                return stored
            item = uow.codes.find_item(cmd.serial)
            batch = uow.batches.get_by_id(item.batch_id) if item is not None else None
            account = uow.accounts.get(account_id)
            if item is None or batch is None or item.id is None:
                raise ItemNotFoundError()
            if account is None:
                raise InvalidSessionError()
            whom = {
                pair_subject: "this bottle from your account",
                account_subject: "your account",
                item_subject: "this bottle from many accounts today",
            }
            _refuse_if_locked(uow.certificates.pin_guards(list(whom)), whom, now)
            # The try is counted before the PIN is checked, each counter in one conditional
            # UPDATE: racing guesses queue on the rows, and one that finds a lock a racing miss
            # just set is refused unchecked. A right PIN gives the account's try back.
            rules = {
                pair_subject: (ITEM_FREE_FAILURES, ITEM_LOCK, None),
                account_subject: (ACCOUNT_FREE_FAILURES, ACCOUNT_LOCK, None),
                item_subject: (BOTTLE_CAP_FAILURES, BOTTLE_CAP_LOCK, BOTTLE_CAP_WINDOW),
            }
            counted = {
                subject: uow.certificates.count_pin_failure(
                    subject, now, now - quiet if quiet is not None else None
                )
                for subject, (_, _, quiet) in rules.items()
            }
            _refuse_if_locked(counted, whom, now)
            if item.pin_hash is None or not pin_matches(
                secrets_.pin_key, item.serial, pin, item.pin_hash
            ):
                pair_guard, account_guard, item_guard = (
                    _lock_as_counted(uow, subject, counted[subject], now, free, lock)
                    for subject, (free, lock, _) in rules.items()
                )
                uow.commit()
                raise _wrong_pin(pair_guard, account_guard, item_guard, now)
            uow.certificates.uncount_pin_failure(account_subject)
            existing = uow.certificates.by_item(item.id)
            if existing is not None:
                raise AlreadyClaimedError()
            activated = item.activated_at is not None or (
                item.case_sscc is None
                and batch.status not in (BatchStatus.DRAFT, BatchStatus.GENERATED)
            )
            _claimable(batch, activated)
            token_id = commitments.token_id(batch.chain_batch_id, item.item_hash)
            channel = channel_at_claim(uow, item.serial, cmd.region, regions)
            certificate = uow.certificates.add(
                Certificate(
                    public_id="crt_" + secrets.token_urlsafe(12),
                    item_id=item.id,
                    batch_id=batch.id or 0,
                    serial=item.serial,
                    token_id=token_id,
                    state=CertificateState.CLAIM_PENDING,
                    owner_account_id=account_id,
                    owner_address=account.wallet_address,
                    claimed_at=now,
                    claim_region=cmd.region,
                )
            )
            assert certificate.id is not None
            uow.certificates.record(
                StepRecord(
                    certificate_id=certificate.id,
                    action="claim",
                    from_state=None,
                    to_state=CertificateState.CLAIM_PENDING,
                    principal_id=cmd.actor.principal_id,
                    status="queued",
                    at=now,
                )
            )
            uow.certificates.clear_pin_guard(pair_subject)
            uow.certificates.clear_pin_guard(item_subject)
            uow.events.append(
                CertificateClaimRequested(
                    certificate_id=certificate.public_id,
                    batch_id=batch.public_id,
                    token_id=str(token_id),
                    owner_address=account.wallet_address,
                    region=cmd.region,
                    device=cmd.device,
                    channel=channel,
                    scanned_first=cmd.scanned_first,
                ),
                now,
            )
            view = certificate_view(uow, certificate, now, batch)
            if cmd.idempotency is not None:
                uow.idempotency.add(
                    cmd.actor.principal_id,
                    cmd.idempotency.key,
                    StoredResponse(cmd.idempotency.request_hash, 202, canonical_json(view)),
                    now,
                )
            uow.commit()
            return view
    except DuplicateError as exc:
        # A racing request won: the same key answers as it did, anything else is a conflict.
        if cmd.idempotency is not None:
            with uow_factory() as uow:
                stored = replay(uow, cmd.actor, cmd.idempotency)
            if stored is not None:
                return stored
            if exc.constraint == "idempotency_keys":
                raise RequestInProgressError() from exc
        raise AlreadyClaimedError() from exc


def _refuse_if_locked(guards: dict[str, PinGuard], whom: dict[str, str], now: datetime) -> None:
    for subject, guard in guards.items():
        if guard.locked(now):
            assert guard.locked_until is not None
            raise PinLockedError(
                f"Too many wrong PINs for {whom[subject]}; try again after "
                f"{guard.locked_until.isoformat(timespec='minutes')}."
            )


def _lock_as_counted(
    uow: ConsumerUnitOfWork,
    subject: str,
    counted: PinGuard,
    now: datetime,
    free: int,
    lock: timedelta,
) -> PinGuard:
    """Lock as the count of a wrong PIN (already counted) says."""
    guard = PinGuard(counted.failures - 1, counted.locked_until).after_failure(now, free, lock)
    if guard.locked_until is not None and guard.locked_until != counted.locked_until:
        uow.certificates.lock_pin_guard(subject, guard.locked_until)
    return guard


def _wrong_pin(pair: PinGuard, account: PinGuard, item: PinGuard, now: datetime) -> WrongPinError:
    left = min(
        pair.attempts_left(ITEM_FREE_FAILURES),
        account.attempts_left(ACCOUNT_FREE_FAILURES),
        item.attempts_left(BOTTLE_CAP_FAILURES),
    )
    if pair.locked(now) or account.locked(now) or item.locked(now):
        return WrongPinError(
            "That PIN does not match this bottle, and too many were wrong: claiming is locked "
            "for a while. Check the characters under the cap before trying again.",
            attempts_left=0,
        )
    return WrongPinError(
        f"That PIN does not match this bottle; {count(left, 'try', 'tries')} left before "
        "claiming locks.",
        attempts_left=left,
    )


def send_claims(
    uow_factory: ConsumerUnitOfWorkFactory,
    ledger: CertificateChain,
    clock: Clock,
    window_s: float,
    max_claims: int,
    force: bool = False,
) -> int:
    """Queue one chain write for waiting claims; return how many it carries (0: none sent).

    Claims wait up to ``window_s`` for company, so a burst shares one ``claimBatch``; a full
    batch goes at once. A claim whose shared transaction failed goes alone, so one bad claim
    cannot hold the others back.
    """
    now = clock.now()
    with uow_factory() as uow:
        oldest = uow.certificates.oldest_queued_claim()
        if oldest is None:
            return 0
        jobs = uow.certificates.queued_claims(max_claims)
        alone = [j for j in jobs if j.alone]
        waiting = (now - oldest).total_seconds() < window_s
        if not alone and not force and len(jobs) < max_claims and waiting:
            return 0
        group = alone[:1] if alone else jobs
        claims = [(j, uow.codes.proof(j.batch_id, j.leaf_index, j.item_count)) for j in group]
        outbox_id = ledger.enqueue_claims(uow.outbox, claims, now)
        uow.certificates.set_claim_outbox(group, outbox_id)
        uow.commit()
    return len(group)


# ----------------------------------------------------------------------------- views
def my_certificates(
    actor: Actor, uow: ConsumerUnitOfWork, clock: Clock, ledger: CertificateChain | None = None
) -> list[dict[str, Any]]:
    account_id = require_consumer(actor)
    now = clock.now()
    registry = registry_address(ledger)
    with uow:
        certificates = uow.certificates.of_account(account_id)
        return [certificate_view(uow, c, now, registry=registry) for c in certificates]


def get_certificate(
    actor: Actor,
    uow: ConsumerUnitOfWork,
    public_id: str,
    clock: Clock,
    ledger: CertificateChain | None = None,
) -> dict[str, Any]:
    """One of the caller's certificates; another's is "not found" (its existence is private)."""
    account_id = require_consumer(actor)
    with uow:
        certificate = uow.certificates.get(public_id)
        if certificate is None or certificate.owner_account_id != account_id:
            raise CertificateNotFoundError()
        return certificate_view(uow, certificate, clock.now(), registry=registry_address(ledger))
