"""Consumers: sign-up and sign-in with one-time codes, sessions, claims and "my certificates".

A claim is accepted at once (the certificate is ``claim_pending``) and minted on chain by the
claim batcher: claims that arrive together share one ``claimBatch`` transaction. Whatever the
chain does, the database changes only through conditional updates keyed by the expected state.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from service.app.ports import Commitments, Ledger, Secrets, UnitOfWork, UnitOfWorkFactory
from service.channel.interface import InvalidRegionError, RegionTree
from service.consumer.app import commands
from service.consumer.domain import accounts
from service.consumer.domain.accounts import Account, Custody, OtpChallenge
from service.consumer.domain.certificates import (
    ACCOUNT_FREE_FAILURES,
    ACCOUNT_LOCK,
    BOTTLE_CAP_FAILURES,
    BOTTLE_CAP_LOCK,
    BOTTLE_CAP_WINDOW,
    ITEM_FREE_FAILURES,
    ITEM_LOCK,
    PENDING_STATES,
    UNMINTED_STATES,
    Certificate,
    CertificateState,
    Deal,
    DealKind,
    PinGuard,
)
from service.consumer.domain.errors import (
    AlreadyClaimedError,
    CertificateNotFoundError,
    InvalidOtpError,
    InvalidPinError,
    InvalidSessionError,
    InvalidWalletBindingError,
    NotClaimableError,
    OtpBudgetExhaustedError,
    OtpNetworkRateLimitedError,
    OtpRateLimitedError,
    PinLockedError,
    WrongPinError,
)
from service.consumer.domain.events import AccountCreated, CertificateClaimRequested
from service.consumer.ports import AccountSession, OtpSender, SessionTokens, StepRecord, Wallets
from service.factory.interface import (
    Batch,
    BatchStatus,
    ItemNotFoundError,
    normalise_pin,
    pin_matches,
    product_name,
)
from service.kernel.actor import Actor
from service.kernel.errors import PermissionDeniedError, RequestInProgressError
from service.kernel.events import canonical_json
from service.kernel.gs1 import is_valid_serial_text
from service.kernel.idempotency import replay
from service.kernel.ports import Clock, DuplicateError, ReferenceCache, StoredResponse
from service.kernel.roles import Role
from service.kernel.text import count
from service.kernel.views import hex0x, iso

log = logging.getLogger(__name__)


# ----------------------------------------------------------------------------- sign-in
@dataclass(frozen=True)
class CodeLimits:
    """How many sign-in codes may go out: per client network an hour, and overall."""

    per_network_per_hour: int = 10
    budget_per_hour: int = 500
    budget_per_day: int = 5000


def request_code(
    cmd: commands.RequestCode,
    uow_factory: UnitOfWorkFactory,
    secrets_: Secrets,
    sender: OtpSender,
    clock: Clock,
    limits: CodeLimits = CodeLimits(),
) -> dict[str, Any]:
    """Send a one-time code; the answer names the challenge to send the code back with.

    Codes are limited per address (30 s apart, 5 an hour), per client network
    (``limits.per_network_per_hour``) and overall (the hourly and daily budgets), so that
    neither one client nor many can pump codes (each costs an SMS)."""
    destination = accounts.normalise_destination(cmd.destination)
    now = clock.now()
    code = accounts.new_otp_code()
    public_id = "otp_" + secrets.token_urlsafe(16)
    hour, day = timedelta(hours=1), timedelta(days=1)
    with uow_factory() as uow:
        wait_until = accounts.may_send_code(
            uow.accounts.challenge_times(destination, now - hour), now
        )
        if wait_until is not None:
            seconds = max(int((wait_until - now).total_seconds()) + 1, 1)
            error = OtpRateLimitedError(
                f"A code was sent to this address recently; ask again in {seconds} s."
            )
            error.retry_after_s = seconds  # type: ignore[misc]
            raise error
        if cmd.network:
            wait = accounts.window_wait(
                *uow.accounts.challenges_since(now - hour, cmd.network),
                limits.per_network_per_hour,
                hour,
                now,
            )
            if wait is not None:
                raise OtpNetworkRateLimitedError(wait)
        for limit, window in ((limits.budget_per_hour, hour), (limits.budget_per_day, day)):
            wait = accounts.window_wait(
                *uow.accounts.challenges_since(now - window), limit, window, now
            )
            if wait is not None:
                log.warning(
                    "sign-in code budget used up (%d per %s); refusing codes for %d s",
                    limit,
                    window,
                    wait,
                )
                raise OtpBudgetExhaustedError(wait)
        uow.accounts.add_challenge(
            OtpChallenge(
                public_id=public_id,
                destination=destination,
                code_hash=accounts.otp_hash(secrets_.otp_key, public_id, code),
                created_at=now,
                expires_at=now + accounts.OTP_TTL,
                network=cmd.network or None,
            )
        )
        uow.commit()
    # After the commit: a code is never sent for a challenge that does not exist.
    sender.send(destination, code)
    return {
        "challenge_id": public_id,
        "channel": destination.channel.value,
        "sent_to": destination.masked(),
        "expires_at": iso(now + accounts.OTP_TTL),
    }


def sign_in(
    cmd: commands.SignIn,
    uow_factory: UnitOfWorkFactory,
    secrets_: Secrets,
    wallets: Wallets,
    tokens: SessionTokens,
    clock: Clock,
    access_ttl: timedelta = accounts.ACCESS_TTL,
    refresh_ttl: timedelta = accounts.SESSION_TTL,
) -> dict[str, Any]:
    """Check the code; open a session, creating the account (and its wallet) on first sign-in.

    The session answers a short-lived access token and a refresh token (see ``refresh``)."""
    if not isinstance(cmd.challenge_id, str) or not cmd.challenge_id.startswith("otp_"):
        raise InvalidOtpError()
    now = clock.now()
    with uow_factory() as uow:
        challenge = uow.accounts.challenge(cmd.challenge_id)
        if challenge is None or not challenge.usable(now):
            raise InvalidOtpError()
        assert challenge.id is not None
        # The try is counted before the code is checked, in one conditional UPDATE: however
        # many guesses race, at most OTP_MAX_ATTEMPTS of them are ever checked.
        tries = uow.accounts.take_attempt(challenge.id, accounts.OTP_MAX_ATTEMPTS)
        if tries is None:
            raise InvalidOtpError("The code is used up; ask for a new code.", attempts_left=0)
        if not accounts.otp_matches(
            secrets_.otp_key, challenge.public_id, cmd.code, challenge.code_hash
        ):
            uow.commit()
            left = max(accounts.OTP_MAX_ATTEMPTS - tries, 0)
            raise InvalidOtpError(
                f"The code is wrong; {count(left, 'try', 'tries')} left for it."
                if left > 0
                else "The code is wrong and used up; ask for a new code.",
                attempts_left=left,
            )
        if not uow.accounts.consume_challenge(challenge.id, now):
            raise InvalidOtpError()
        account = uow.accounts.get_by_destination(challenge.destination)
        created = account is None
        if account is None:
            address, sealed = wallets.create()
            account = uow.accounts.add(
                Account(
                    public_id=accounts.new_public_id(),
                    destination=challenge.destination,
                    wallet_address=address,
                    custody=Custody.CUSTODIAL,
                    created_at=now,
                    sealed_key=sealed,
                )
            )
            uow.events.append(
                AccountCreated(account.public_id, address, Custody.CUSTODIAL.value), now
            )
        assert account.id is not None
        session_id = secrets.token_urlsafe(24)
        refresh_token, refresh_hash = _new_refresh(session_id)
        session = AccountSession(
            id=session_id,
            account_id=account.id,
            expires_at=now + refresh_ttl,
            revoked_at=None,
            refresh_hash=refresh_hash,
        )
        uow.accounts.add_session(session, now)
        uow.commit()
    return {
        **_tokens(tokens, session, account.public_id, refresh_token, now, access_ttl),
        "created": created,
        "account": account_view(account),
    }


def _new_refresh(session_id: str) -> tuple[str, str]:
    """A refresh token (``<session id>.<secret>``) and the hash the session keeps of it."""
    secret = secrets.token_urlsafe(32)
    return f"{session_id}.{secret}", hashlib.sha256(secret.encode()).hexdigest()


def _tokens(
    tokens: SessionTokens,
    session: AccountSession,
    account_public_id: str,
    refresh_token: str,
    now: datetime,
    access_ttl: timedelta,
) -> dict[str, Any]:
    access_expires = min(now + access_ttl, session.expires_at)
    return {
        "token": tokens.issue(session.id, account_public_id, access_expires),
        "token_type": "Bearer",
        "expires_at": iso(access_expires),
        "refresh_token": refresh_token,
        "refresh_expires_at": iso(session.expires_at),
    }


def refresh(
    refresh_token: str,
    uow_factory: UnitOfWorkFactory,
    tokens: SessionTokens,
    clock: Clock,
    access_ttl: timedelta = accounts.ACCESS_TTL,
    refresh_ttl: timedelta = accounts.SESSION_TTL,
    ended: Callable[[str], None] = lambda _sid: None,
) -> dict[str, Any]:
    """Trade a session's refresh token for a new access token and a new refresh token (the
    old one is spent). A spent refresh token sent again means it was copied: the session ends
    (``ended(session id)`` is told), and both holders must sign in again."""
    session_id, _, secret = refresh_token.partition(".")
    if not session_id or not secret or len(refresh_token) > 200:
        raise InvalidSessionError("This is not a refresh token of ours; sign in again.")
    presented = hashlib.sha256(secret.encode()).hexdigest()
    now = clock.now()
    new_token, new_hash = _new_refresh(session_id)
    with uow_factory() as uow:
        session = uow.accounts.session(session_id)
        account = uow.accounts.get(session.account_id) if session is not None else None
        if session is None or account is None or session.refresh_hash is None:
            raise InvalidSessionError("This is not a refresh token of ours; sign in again.")
        if session.revoked_at is not None or now >= session.expires_at:
            raise InvalidSessionError()
        expires = now + refresh_ttl
        if not uow.accounts.rotate_refresh(session_id, presented, new_hash, expires, now):
            if hmac.compare_digest(presented, session.refresh_hash):
                raise InvalidSessionError()  # ended or refreshed by a concurrent request
            uow.accounts.revoke_session(session_id, now)
            uow.commit()
            ended(session_id)
            raise InvalidSessionError(
                "This refresh token was used already, so it may have been copied: the session "
                "is ended for safety. Sign in again."
            )
        uow.commit()
    renewed = replace(session, expires_at=expires, refresh_hash=new_hash)
    return _tokens(tokens, renewed, account.public_id, new_token, now, access_ttl)


def authenticate(
    token: str, uow_factory: UnitOfWorkFactory, tokens: SessionTokens, clock: Clock
) -> tuple[Actor, str]:
    """The consumer actor of a session token, and its session id."""
    session_id = tokens.read(token)
    if session_id is None:
        raise InvalidSessionError()
    with uow_factory.reader() as uow:
        session = uow.accounts.session(session_id)
        account = uow.accounts.get(session.account_id) if session is not None else None
    if (
        session is None
        or account is None
        or session.revoked_at is not None
        or clock.now() >= session.expires_at
    ):
        raise InvalidSessionError()
    return consumer_actor(account), session_id


def consumer_actor(account: Account) -> Actor:
    return Actor(
        principal_id=f"account:{account.public_id}", role=Role.CONSUMER, account_id=account.id
    )


def sign_out(session_id: str, uow_factory: UnitOfWorkFactory, clock: Clock) -> None:
    with uow_factory() as uow:
        uow.accounts.revoke_session(session_id, clock.now())
        uow.commit()


def me(actor: Actor, uow: UnitOfWork) -> dict[str, Any]:
    account_id = _consumer(actor)
    with uow:
        account = uow.accounts.get(account_id)
    if account is None:
        raise InvalidSessionError()
    return account_view(account)


#: How long a wallet-binding message may be signed for.
BINDING_TTL = timedelta(minutes=30)


def wallet_challenge(
    actor: Actor, address: str, uow_factory: UnitOfWorkFactory, ledger: Ledger, clock: Clock
) -> dict[str, Any]:
    """The EIP-712 message that proves the consumer controls ``address`` (self-custody)."""
    account_id = _consumer(actor)
    address = _address(address)
    with uow_factory.reader() as uow:
        account = uow.accounts.get(account_id)
    if account is None:
        raise InvalidSessionError()
    deadline = int((clock.now() + BINDING_TTL).timestamp())
    return {
        "typed_data": ledger.binding_typed_data(account.public_id, address, deadline),
        "deadline": deadline,
    }


def bind_wallet(
    actor: Actor,
    address: str,
    deadline: int,
    signature: bytes,
    uow_factory: UnitOfWorkFactory,
    ledger: Ledger,
    clock: Clock,
) -> dict[str, Any]:
    """Switch to self-custody: certificates claimed from now on go to ``address``, and every
    step the owner takes is a request they sign. Only before the first claim (certificates
    already held stay where they are)."""
    account_id = _consumer(actor)
    address = _address(address)
    now = clock.now()
    if deadline < int(now.timestamp()):
        raise InvalidWalletBindingError("The signed message has expired; ask for a new one.")
    with uow_factory() as uow:
        account = uow.accounts.get(account_id)
        if account is None:
            raise InvalidSessionError()
        signer = ledger.recover_binding_signer(account.public_id, address, deadline, signature)
        if signer is None or signer.lower() != address.lower():
            raise InvalidWalletBindingError(
                "The signature is not this address's over the message given (check the chain "
                "id and the account); sign it exactly as given."
            )
        # The recovered signer is the address in its checksummed spelling.
        if not uow.accounts.bind_wallet(account_id, signer):
            raise InvalidWalletBindingError(
                "Self-custody is chosen before the first claim, with an address no other "
                "account uses."
            )
        uow.commit()
        bound = uow.accounts.get(account_id)
    assert bound is not None
    return account_view(bound)


def _address(text: str) -> str:
    if (
        not isinstance(text, str)
        or len(text) != 42
        or not text.startswith("0x")
        or any(c not in "0123456789abcdefABCDEF" for c in text[2:])
    ):
        raise InvalidWalletBindingError("An address is 0x and 40 hexadecimal digits.")
    return text


def account_view(account: Account) -> dict[str, Any]:
    return {
        "id": account.public_id,
        "channel": account.destination.channel.value,
        "sign_in": account.destination.masked(),
        "wallet_address": account.wallet_address,
        "custody": account.custody.value,
        "created_at": iso(account.created_at),
    }


def _consumer(actor: Actor) -> int:
    if actor.role is not Role.CONSUMER or actor.account_id is None:
        raise PermissionDeniedError(
            "Only a signed-in consumer may do this; sign in with a one-time code."
        )
    return actor.account_id


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


def claim(
    cmd: commands.ClaimCertificate,
    uow_factory: UnitOfWorkFactory,
    commitments: Commitments,
    secrets_: Secrets,
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
    account_id = _consumer(cmd.actor)
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
    uow: UnitOfWork, subject: str, counted: PinGuard, now: datetime, free: int, lock: timedelta
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
    uow_factory: UnitOfWorkFactory,
    ledger: Ledger,
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
    actor: Actor, uow: UnitOfWork, clock: Clock, ledger: Ledger | None = None
) -> list[dict[str, Any]]:
    account_id = _consumer(actor)
    now = clock.now()
    registry = registry_address(ledger)
    with uow:
        certificates = uow.certificates.of_account(account_id)
        return [certificate_view(uow, c, now, registry=registry) for c in certificates]


def get_certificate(
    actor: Actor, uow: UnitOfWork, public_id: str, clock: Clock, ledger: Ledger | None = None
) -> dict[str, Any]:
    """One of the caller's certificates; another's is "not found" (its existence is private)."""
    account_id = _consumer(actor)
    with uow:
        certificate = uow.certificates.get(public_id)
        if certificate is None or certificate.owner_account_id != account_id:
            raise CertificateNotFoundError()
        return certificate_view(uow, certificate, clock.now(), registry=registry_address(ledger))


def registry_address(ledger: Ledger | None) -> str | None:
    """The registry's address (the gift escrow), None before it is deployed."""
    contract = ledger.contract() if ledger is not None else None
    return contract[0] if contract is not None else None


def chain_holder(
    uow: UnitOfWork, certificate: Certificate, registry: str | None
) -> dict[str, Any] | None:
    """Whom the registry's ``ownerOf`` names: the owner, or, once a gift's ``createGift`` is
    on chain, the registry itself, which holds the token in escrow until the recipient accepts
    (so the owner shown and the chain's owner differ for a reason anyone can read). None while
    the token is not minted."""
    if certificate.state in UNMINTED_STATES:
        return None
    if certificate.state is CertificateState.GIFTED:
        gift = uow.certificates.open_deal(certificate.id or 0, DealKind.GIFT)
        if gift is not None and gift.gift_nonce is not None:
            return {"address": registry, "held_as": "gift_escrow"}
    return {"address": certificate.owner_address, "held_as": "owner"}


def certificate_view(
    uow: UnitOfWork,
    certificate: Certificate,
    now: datetime,
    batch: Batch | None = None,
    *,
    registry: str | None = None,
) -> dict[str, Any]:
    """The owner's view: state, product, the mint on chain, who the chain names as owner (the
    gift escrow: ``registry``), open deals, history, and the days in storage as of ``now``
    (proof of ageing)."""
    assert certificate.id is not None
    batch = batch or uow.batches.get_by_id(certificate.batch_id)
    steps = uow.certificates.history([certificate.id])[certificate.id]
    claim_step = next((s for s in steps if s.action == "claim"), None)
    unsettled = [s.action for s in steps if s.status in ("queued", "sent")]
    age = None
    if certificate.state is CertificateState.IN_CUSTODY and certificate.locked_since is not None:
        age = max((now - certificate.locked_since).days, 0)
    return {
        "id": certificate.public_id,
        "serial": certificate.serial,
        "token_id": str(certificate.token_id),
        "state": certificate.state.value,
        "pending": certificate.state in PENDING_STATES or bool(unsettled),
        "pending_actions": unsettled,
        "owner_address": certificate.owner_address,
        "chain_holder": chain_holder(uow, certificate, registry),
        "claimed_at": iso(certificate.claimed_at),
        "claim_region": certificate.claim_region,
        "counterparty_id": certificate.counterparty_org_id,
        "locked_since": iso(certificate.locked_since),
        "storage_age_days": age,
        "product": {
            "gtin": batch.gtin if batch else None,
            "lot": batch.lot if batch else None,
            "name": product_name(batch) if batch else None,
            "production_date": batch.production_date.isoformat()
            if batch and batch.production_date
            else None,
            "batch_id": batch.public_id if batch else None,
            # A recalled bottle is never handed out: the page offers no redemption for it.
            "recalled": batch is not None and batch.status is BatchStatus.RECALLED,
        },
        "chain": {
            "status": claim_step.status if claim_step else None,
            "tx_hash": hex0x(certificate.claim_tx_hash),
            "block_number": certificate.claim_block_number,
            "confirmed_at": iso(certificate.confirmed_at),
        },
        "deals": [
            deal_view(d)
            for kind in DealKind
            if (d := uow.certificates.open_deal(certificate.id, kind)) is not None
        ],
        "history": [
            {
                "action": s.action,
                "from": s.from_state,
                "to": s.to_state,
                "status": s.status,
                "at": iso(s.at),
                "settled_at": iso(s.settled_at),
                "tx_hash": hex0x(s.tx_hash),
            }
            for s in steps
        ],
    }


def deal_view(deal: Deal, certificate: Certificate | None = None) -> dict[str, Any]:
    """A gift, pledge, custody or redemption as its owner and its counterparty see it."""
    return {
        "id": deal.public_id,
        "kind": deal.kind.value,
        "status": deal.status.value,
        "counterparty_id": deal.counterparty_org_id,
        "terms": deal.terms,
        "expires_at": iso(deal.expires_at),
        "created_at": iso(deal.created_at),
        "settled_at": iso(deal.settled_at),
        "ready": deal.kind is not DealKind.GIFT or deal.gift_nonce is not None,
        "certificate_state": certificate.state.value if certificate is not None else None,
    }


@dataclass(frozen=True)
class ConsumerUseCases:
    """The consumers' use cases (sign-in codes, sessions, wallets, claims, their certificates)
    with their adapters and settings bound once in bootstrap: the routes and the CLI pass the
    request's data only. Each builds its own unit of work (a reader for those that only read)."""

    uows: UnitOfWorkFactory
    commitments: Commitments
    ledger: Ledger
    secrets: Secrets
    wallets: Wallets
    tokens: SessionTokens
    otp_sender: OtpSender
    regions: Callable[[], RegionTree]
    clock: Clock
    #: Sessions checked recently are remembered here (the API's dependency); ending one forgets it.
    cache: ReferenceCache
    #: Settings: how many sign-in codes may go out, and how long tokens last.
    code_limits: CodeLimits
    access_ttl: timedelta
    refresh_ttl: timedelta

    def request_code(self, cmd: commands.RequestCode) -> dict[str, Any]:
        return request_code(
            cmd, self.uows, self.secrets, self.otp_sender, self.clock, self.code_limits
        )

    def sign_in(self, cmd: commands.SignIn) -> dict[str, Any]:
        return sign_in(
            cmd,
            self.uows,
            self.secrets,
            self.wallets,
            self.tokens,
            self.clock,
            self.access_ttl,
            self.refresh_ttl,
        )

    def refresh(self, refresh_token: str) -> dict[str, Any]:
        return refresh(
            refresh_token,
            self.uows,
            self.tokens,
            self.clock,
            self.access_ttl,
            self.refresh_ttl,
            self.forget_session,
        )

    def authenticate(self, token: str) -> tuple[Actor, str]:
        return authenticate(token, self.uows, self.tokens, self.clock)

    def forget_session(self, session_id: str) -> None:
        """Stop answering the session from memory (signed out, or its refresh token reused)."""
        self.cache.forget(("session", session_id))

    def sign_out(self, session_id: str) -> None:
        sign_out(session_id, self.uows, self.clock)

    def me(self, actor: Actor) -> dict[str, Any]:
        return me(actor, self.uows.reader())

    def wallet_challenge(self, actor: Actor, address: str) -> dict[str, Any]:
        return wallet_challenge(actor, address, self.uows, self.ledger, self.clock)

    def bind_wallet(
        self, actor: Actor, address: str, deadline: int, signature: bytes
    ) -> dict[str, Any]:
        return bind_wallet(actor, address, deadline, signature, self.uows, self.ledger, self.clock)

    def my_certificates(self, actor: Actor) -> list[dict[str, Any]]:
        return my_certificates(actor, self.uows.reader(), self.clock, self.ledger)

    def get_certificate(self, actor: Actor, certificate_id: str) -> dict[str, Any]:
        return get_certificate(actor, self.uows.reader(), certificate_id, self.clock, self.ledger)

    def claim(self, cmd: commands.ClaimCertificate) -> dict[str, Any]:
        return claim(cmd, self.uows, self.commitments, self.secrets, self.regions, self.clock)
