"""Consumer accounts: who a consumer is (a phone number or an email address) and how they sign in.

A consumer signs up and signs in the same way: they ask for a one-time code sent to their phone
or mailbox and send it back. The first successful sign-in creates the account and its wallet.
Codes are six digits, valid for a few minutes and a few tries; the service keeps only a keyed
hash of each. Phone numbers and email addresses never leave the accounts table: events, chain
data and scan pages name an account by its public id or its wallet address.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from service.consumer.domain.errors import InvalidDestinationError

OTP_DIGITS = 6
#: How long a one-time code may be used.
OTP_TTL = timedelta(minutes=5)
#: Wrong codes one challenge takes before it is dead (ask for a new code).
OTP_MAX_ATTEMPTS = 5
#: A new code for the same destination only after this long (stops SMS bombing).
OTP_RESEND_AFTER = timedelta(seconds=30)
#: At most this many codes per destination per hour.
OTP_MAX_PER_HOUR = 5
#: How long a session lasts unless refreshed (each refresh starts it again): the refresh
#: token's life (``TRACECERT_CONSUMER_REFRESH_TTL_S``).
SESSION_TTL = timedelta(days=30)
#: How long one access token (JWT) is valid (``TRACECERT_CONSUMER_SESSION_TTL_S``).
ACCESS_TTL = timedelta(hours=1)

# RFC 5321 bounds the address at 254 characters; the shape check is deliberately simple
# (one @, a dotted domain, no spaces): the one-time code proves the address works.
_EMAIL = re.compile(
    r"[A-Za-z0-9._%+\-]{1,64}@[A-Za-z0-9\-]{1,63}(\.[A-Za-z0-9\-]{1,63})+", re.ASCII
)
# E.164: '+', a country code and at most 15 digits in all.
_E164 = re.compile(r"\+[1-9][0-9]{6,14}", re.ASCII)
# A mainland-China mobile number typed without its country code.
_CN_MOBILE = re.compile(r"1[3-9][0-9]{9}", re.ASCII)


class Channel(StrEnum):
    """How a one-time code reaches the consumer."""

    SMS = "sms"
    EMAIL = "email"


class Custody(StrEnum):
    """Who holds the key of an account's wallet."""

    #: The service holds it, sealed with AES-GCM under the wallet key-encryption key.
    CUSTODIAL = "custodial"
    #: The consumer holds it and signs EIP-712 requests themselves.
    SELF = "self"


@dataclass(frozen=True)
class Destination:
    """A normalised phone number (E.164) or email address (lower case)."""

    channel: Channel
    value: str

    def masked(self) -> str:
        """The destination as shown back to its owner: ``+86138****0000``, ``a***@example.com``."""
        if self.channel is Channel.SMS:
            return self.value[:6] + "****" + self.value[-4:]
        local, _, domain = self.value.partition("@")
        return local[:1] + "***@" + domain


def normalise_destination(text: str) -> Destination:
    """Return the destination a consumer typed, normalised; raise if it is neither kind.

    Phone numbers may carry spaces, dashes and brackets; an 11-digit mainland-China mobile
    number without a country code is read as +86.
    """
    if not isinstance(text, str) or not text.strip() or len(text) > 254:
        raise InvalidDestinationError()
    value = text.strip()
    if "@" in value:
        if _EMAIL.fullmatch(value) is None:
            raise InvalidDestinationError("That email address is malformed; check it and retry.")
        return Destination(Channel.EMAIL, value.lower())
    digits = re.sub(r"[\s\-().]", "", value)
    if _CN_MOBILE.fullmatch(digits):
        digits = "+86" + digits
    elif digits.startswith("00"):
        digits = "+" + digits[2:]
    if _E164.fullmatch(digits) is None:
        raise InvalidDestinationError(
            "That phone number is malformed; give it with its country code, e.g. +86 138 0013 8000."
        )
    return Destination(Channel.SMS, digits)


def new_otp_code() -> str:
    """Return a fresh six-digit one-time code (CSPRNG)."""
    return f"{secrets.randbelow(10**OTP_DIGITS):0{OTP_DIGITS}d}"


def otp_hash(key: bytes, challenge_id: str, code: str) -> bytes:
    """The keyed hash of a challenge's code: what the database keeps instead of the code."""
    return hashlib.blake2s(
        b"tracecert:otp:" + challenge_id.encode("ascii") + b":" + code.encode("ascii"), key=key
    ).digest()


def recipient_key(key: bytes, destination: Destination) -> bytes:
    """The keyed hash a gift names its recipient by (a normalised phone or email): the
    database can match whoever signs up with the address, never read the address."""
    return hashlib.blake2s(
        b"tracecert:recipient:"
        + destination.channel.value.encode("ascii")
        + b":"
        + destination.value.encode("utf-8"),
        key=key,
    ).digest()


def otp_matches(key: bytes, challenge_id: str, typed: str, stored: bytes) -> bool:
    """Whether ``typed`` is the challenge's code (constant time; spaces ignored)."""
    code = typed.replace(" ", "") if isinstance(typed, str) else ""
    if len(code) != OTP_DIGITS or not code.isascii() or not code.isdigit():
        return False
    return hmac.compare_digest(otp_hash(key, challenge_id, code), stored)


def is_otp_shape(typed: str) -> bool:
    """Whether ``typed`` could be a code at all (six digits, spaces ignored)."""
    code = typed.replace(" ", "") if isinstance(typed, str) else ""
    return len(code) == OTP_DIGITS and code.isascii() and code.isdigit()


@dataclass
class OtpChallenge:
    """A one-time code sent to a destination, waiting to be typed back."""

    public_id: str
    destination: Destination
    code_hash: bytes
    created_at: datetime
    expires_at: datetime
    attempts: int = 0
    consumed_at: datetime | None = None
    #: The asking client's counting network, for the per-network limit.
    network: str | None = None
    id: int | None = None

    def usable(self, now: datetime) -> bool:
        return (
            self.consumed_at is None and now <= self.expires_at and self.attempts < OTP_MAX_ATTEMPTS
        )


def window_wait(
    count: int, oldest: datetime | None, limit: int, window: timedelta, now: datetime
) -> int | None:
    """Seconds until one more may be sent when ``count`` were sent within ``window`` (the
    oldest at ``oldest``) and at most ``limit`` may; None if one may be sent now."""
    if count < limit:
        return None
    if oldest is None:
        return int(window.total_seconds())
    return max(int((oldest + window - now).total_seconds()) + 1, 1)


def may_send_code(recent: list[datetime], now: datetime) -> datetime | None:
    """Return None if a new code may be sent now, else when the next one may.

    ``recent`` are the creation times of the destination's codes in the last hour.
    """
    if not recent:
        return None
    latest = max(recent)
    if now - latest < OTP_RESEND_AFTER:
        return latest + OTP_RESEND_AFTER
    in_hour = sorted(t for t in recent if now - t < timedelta(hours=1))
    if len(in_hour) >= OTP_MAX_PER_HOUR:
        return in_hour[len(in_hour) - OTP_MAX_PER_HOUR] + timedelta(hours=1)
    return None


@dataclass
class Account:
    """A consumer: their sign-in destination and their wallet."""

    public_id: str
    destination: Destination
    wallet_address: str
    custody: Custody
    created_at: datetime
    #: The wallet key sealed under the key-encryption key; None for self-custody.
    sealed_key: bytes | None = None
    id: int | None = None


def new_public_id() -> str:
    """An account's public id: 16 random bytes, URL-safe; it says nothing about the person."""
    return "acc_" + secrets.token_urlsafe(16)
