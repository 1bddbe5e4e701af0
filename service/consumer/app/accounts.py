"""Accounts: sign-up and sign-in with one-time codes (limited per destination, network and
budget), sessions with rotating refresh tokens, and the consumer's own wallet binding."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from service.consumer.app import commands
from service.consumer.domain import accounts
from service.consumer.domain.accounts import Account, Custody, OtpChallenge
from service.consumer.domain.certificates import CertificateState
from service.consumer.domain.errors import (
    ErasureBlockedError,
    InvalidOtpError,
    InvalidSessionError,
    InvalidWalletBindingError,
    OtpBudgetExhaustedError,
    OtpNetworkRateLimitedError,
    OtpRateLimitedError,
)
from service.consumer.domain.events import AccountCreated, AccountErased, WalletBound
from service.consumer.ports import (
    AccountSession,
    CertificateChain,
    ConsumerSecrets,
    ConsumerUnitOfWork,
    ConsumerUnitOfWorkFactory,
    OtpSender,
    SessionTokens,
    Wallets,
)
from service.kernel.actor import Actor
from service.kernel.errors import PermissionDeniedError
from service.kernel.ports import Clock
from service.kernel.roles import Role
from service.kernel.text import count
from service.kernel.views import iso

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
    uow_factory: ConsumerUnitOfWorkFactory,
    secrets_: ConsumerSecrets,
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
    uow_factory: ConsumerUnitOfWorkFactory,
    secrets_: ConsumerSecrets,
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
    uow_factory: ConsumerUnitOfWorkFactory,
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
    token: str, uow_factory: ConsumerUnitOfWorkFactory, tokens: SessionTokens, clock: Clock
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


def sign_out(session_id: str, uow_factory: ConsumerUnitOfWorkFactory, clock: Clock) -> None:
    with uow_factory() as uow:
        uow.accounts.revoke_session(session_id, clock.now())
        uow.commit()


def me(actor: Actor, uow: ConsumerUnitOfWork) -> dict[str, Any]:
    account_id = require_consumer(actor)
    with uow:
        account = uow.accounts.get(account_id)
    if account is None:
        raise InvalidSessionError()
    return account_view(account)


#: How long a wallet-binding message may be signed for.
BINDING_TTL = timedelta(minutes=30)


def wallet_challenge(
    actor: Actor,
    address: str,
    uow_factory: ConsumerUnitOfWorkFactory,
    ledger: CertificateChain,
    clock: Clock,
) -> dict[str, Any]:
    """The EIP-712 message that proves the consumer controls ``address`` (self-custody)."""
    account_id = require_consumer(actor)
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
    uow_factory: ConsumerUnitOfWorkFactory,
    ledger: CertificateChain,
    clock: Clock,
) -> dict[str, Any]:
    """Switch to self-custody: certificates claimed from now on go to ``address``, and every
    step the owner takes is a request they sign. Only before the first claim (certificates
    already held stay where they are)."""
    account_id = require_consumer(actor)
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
        uow.events.append(WalletBound(account.public_id, signer), now)
        uow.commit()
        bound = uow.accounts.get(account_id)
    assert bound is not None
    return account_view(bound)


#: Certificate states nothing waits on: an account may be erased with its certificates in these.
SETTLED = frozenset(
    {CertificateState.ACTIVE, CertificateState.REDEEMED, CertificateState.CLAIM_FAILED}
)


def erase_account(
    actor: Actor, uow_factory: ConsumerUnitOfWorkFactory, secrets_: ConsumerSecrets, clock: Clock
) -> list[str]:
    """Erase the signed-in consumer (PIPL): their phone or e-mail address, sign-in codes and
    sessions go, and the account and its wallet name nobody from now on (the certificates stay
    on chain, keyed to the address). The log records that it happened, naming the account's
    public id only; the touchpoints forget the member and withdraw every consent. Refused while
    a certificate is on its way somewhere. Answers the sessions it ended."""
    account_id = require_consumer(actor)
    now = clock.now()
    with uow_factory() as uow:
        account = uow.accounts.get(account_id)
        if account is None:
            raise InvalidSessionError()
        waiting = sorted(
            {c.state.value for c in uow.certificates.of_account(account_id)}
            - {s.value for s in SETTLED}
        )
        if waiting:
            raise ErasureBlockedError(
                "Some of your certificates are still on their way somewhere ("
                + ", ".join(waiting)
                + "); accept, cancel, release or collect them first, then ask again."
            )
        key = accounts.recipient_key(secrets_.otp_key, account.destination)
        ended = uow.accounts.erase(account_id, key, now)
        uow.events.append(AccountErased(account.public_id), now)
        uow.commit()
    return ended


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


def require_consumer(actor: Actor) -> int:
    if actor.role is not Role.CONSUMER or actor.account_id is None:
        raise PermissionDeniedError(
            "Only a signed-in consumer may do this; sign in with a one-time code."
        )
    return actor.account_id
