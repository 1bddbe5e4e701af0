"""The consumer's events: accounts created; certificates claimed and each step on them
requested, confirmed or failed. They name accounts by id, never a phone number or address."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from service.kernel.events import Event


@dataclass(frozen=True)
class AccountCreated(Event):
    """A consumer signed up; the account is named by its public id and wallet, never by its
    phone number or email address."""

    type: ClassVar[str] = "AccountCreated"
    account_id: str
    wallet_address: str
    custody: str


@dataclass(frozen=True)
class WalletBound(Event):
    """A consumer proved (by an EIP-712 signature) that they hold ``wallet_address`` and chose
    self-custody: their certificates are claimed to it from now on."""

    type: ClassVar[str] = "WalletBound"
    account_id: str
    wallet_address: str


@dataclass(frozen=True)
class AccountErased(Event):
    """A consumer had their account erased: their phone number or e-mail address is gone, and
    the account (and its wallet) no longer names a person."""

    type: ClassVar[str] = "AccountErased"
    account_id: str


@dataclass(frozen=True)
class CertificateClaimRequested(Event):
    """A consumer claimed a bottle with its PIN; the mint is queued."""

    type: ClassVar[str] = "CertificateClaimRequested"
    certificate_id: str
    batch_id: str
    token_id: str
    owner_address: str
    region: str | None
    #: The keyed hash of the claiming device's cookie (as its scans record it), when a browser
    #: claimed: what the anti-farming screening counts accounts per device by. Never the cookie.
    device: bytes | None = None
    #: Where the bottle stood in the channel when claimed, against the claim's region:
    #: ``inside`` or ``outside`` the holding partner's territory, ``factory`` (it never left
    #: its brand or factory), or None when it cannot be said.
    channel: str | None = None
    #: Whether the claimer scanned the bottle before claiming it (from the claiming device, or
    #: signed in as themselves): what the brand's first-scan points reward.
    scanned_first: bool = False


@dataclass(frozen=True)
class CertificateClaimed(Event):
    """A certificate was minted on chain to its owner."""

    type: ClassVar[str] = "CertificateClaimed"
    certificate_id: str
    token_id: str
    owner_address: str
    tx_hash: bytes
    block_number: int


@dataclass(frozen=True)
class CertificateClaimFailed(Event):
    """A certificate's mint failed for good (the contract refused it)."""

    type: ClassVar[str] = "CertificateClaimFailed"
    certificate_id: str
    token_id: str
    outbox_id: int
    error: str


@dataclass(frozen=True)
class CertificateActionRequested(Event):
    """A certificate changed state (gift, pledge, custody, redemption); its chain write, if
    it needs one, is queued. Parties are named by account or organisation id, never by
    phone, email or address."""

    type: ClassVar[str] = "CertificateActionRequested"
    certificate_id: str
    action: str
    from_state: str
    to_state: str
    by: str
    deal_id: str | None


@dataclass(frozen=True)
class CertificateActionConfirmed(Event):
    """A certificate's step is on chain."""

    type: ClassVar[str] = "CertificateActionConfirmed"
    certificate_id: str
    action: str
    tx_hash: bytes
    block_number: int


@dataclass(frozen=True)
class CertificateActionFailed(Event):
    """A certificate's step failed on chain and was put back."""

    type: ClassVar[str] = "CertificateActionFailed"
    certificate_id: str
    action: str
    outbox_id: int
    error: str
