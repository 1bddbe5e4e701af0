"""Commands: what a caller asks the service to do, in the imperative."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from service.consumer.ports import SignedVoucher
from service.kernel.actor import Actor
from service.kernel.idempotency import Idempotency


@dataclass(frozen=True)
class ScanItem:
    """A scan of an item code; ``actor`` is None for an anonymous (consumer) scan."""

    serial: str
    gtin: str | None = None
    lot: str | None = None
    actor: Actor | None = None


@dataclass(frozen=True)
class RequestCode:
    """Send a one-time sign-in code to a phone number or email address."""

    destination: str
    #: The asking client's counting network (``service.api.clients.network_key``).
    network: str = ""


@dataclass(frozen=True)
class SignIn:
    """Trade a one-time code for a session (and an account, on first sign-in)."""

    challenge_id: str
    code: str


@dataclass(frozen=True)
class ClaimCertificate:
    """Claim a bottle's certificate with the hidden PIN."""

    actor: Actor
    serial: str
    pin: str
    region: str | None = None
    idempotency: Idempotency | None = None
    #: The keyed hash of the claiming device (its cookie), when a browser claims.
    device: bytes | None = None
    #: Whether the claimer scanned the bottle first (from this device, or signed in).
    scanned_first: bool = False


@dataclass(frozen=True)
class CertificateCommand:
    """An owner's action on one of their certificates that needs nothing more."""

    actor: Actor
    certificate_id: str
    idempotency: Idempotency | None = None
    #: A self-custody owner's signature of the request (second call).
    voucher: SignedVoucher | None = None


@dataclass(frozen=True)
class Gift:
    """Offer a certificate as a gift: to a member (``to``) or by a link (no ``to``)."""

    actor: Actor
    certificate_id: str
    to: str | None = None
    expires_in_days: int = 7
    message: str | None = None
    idempotency: Idempotency | None = None
    voucher: SignedVoucher | None = None
    #: Values the first call generated (claim key, link secret, expiry), for the signed call.
    preset: dict[str, Any] | None = None


@dataclass(frozen=True)
class AcceptGift:
    """Accept a gift: named to the caller (``gift_id``) or by its link (``secret``)."""

    actor: Actor
    gift_id: str | None = None
    secret: str | None = None
    idempotency: Idempotency | None = None


@dataclass(frozen=True)
class Pledge:
    actor: Actor
    certificate_id: str
    pledgee_id: int
    amount: str
    currency: str
    due_date: date
    terms: str | None = None
    idempotency: Idempotency | None = None


@dataclass(frozen=True)
class Deposit:
    actor: Actor
    certificate_id: str
    custodian_id: int
    idempotency: Idempotency | None = None


@dataclass(frozen=True)
class RequestRedemption:
    actor: Actor
    certificate_id: str
    method: str
    store_id: int | None = None
    address: str | None = None
    idempotency: Idempotency | None = None
    voucher: SignedVoucher | None = None


@dataclass(frozen=True)
class DealCommand:
    """A counterparty's action on a deal (pledgee, custodian, store)."""

    actor: Actor
    deal_id: str
    idempotency: Idempotency | None = None
