"""The consumer's tables: accounts, one-time codes and sessions, certificates with their steps and
deals, organisation wallets and their nonces, vouchers, PIN guards, and the consumer scan log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from service.kernel.storage.rows import (
    Base,
    Bytes32,
    UTCDateTime,
)


# ----------------------------------------------------------------------------- consumers
class AccountRow(Base):
    """A consumer account: its sign-in destination and its wallet."""

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    channel: Mapped[str] = mapped_column(String(8))
    #: E.164 phone number or lower-case email address; never leaves this table.
    destination: Mapped[str] = mapped_column(String(254), unique=True)
    wallet_address: Mapped[str] = mapped_column(String(42), unique=True)
    custody: Mapped[str] = mapped_column(String(16))
    #: The wallet key, AES-GCM sealed under the key-encryption key; NULL for self-custody.
    sealed_key: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class OtpChallengeRow(Base):
    """A one-time sign-in code sent to a destination (only its keyed hash is kept)."""

    __tablename__ = "otp_challenges"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    channel: Mapped[str] = mapped_column(String(8))
    destination: Mapped[str] = mapped_column(String(254), index=True)
    code_hash: Mapped[bytes] = mapped_column(Bytes32)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: The asking client's counting network (an IPv4 /24, an IPv6 /48).
    network: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    consumed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class AccountSessionRow(Base):
    """A signed-in session; its id is the ``sid`` of the session token (JWT)."""

    __tablename__ = "account_sessions"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    #: SHA-256 (hex) of the session's current refresh token; a rotated-out one ends it.
    refresh_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)


class CertificateRow(Base):
    """A bottle's digital certificate (one per item, created by the claim)."""

    __tablename__ = "certificates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), unique=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id"), index=True)
    #: keccak256(serial) as a decimal string (uint256 does not fit an integer column).
    token_id: Mapped[str] = mapped_column(String(78), unique=True)
    state: Mapped[str] = mapped_column(String(24), index=True)
    owner_account_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts.id"), nullable=True, index=True
    )
    owner_address: Mapped[str] = mapped_column(String(42))
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: GB/T 2260 code of where it was claimed, as the claimer's page reported it.
    claim_region: Mapped[str | None] = mapped_column(String(12), nullable=True)
    claim_outbox_id: Mapped[int | None] = mapped_column(
        ForeignKey("outbox.id"), nullable=True, index=True
    )
    claim_tx_hash: Mapped[bytes | None] = mapped_column(Bytes32, nullable=True)
    claim_block_number: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    version: Mapped[int] = mapped_column(Integer, default=0)
    #: Owner when an organisation holds it (a pledgee after foreclosure).
    owner_org_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id"), nullable=True, index=True
    )
    #: Pledgee or custodian while locked.
    counterparty_org_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id"), nullable=True, index=True
    )
    locked_since: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class CertificateActionRow(Base):
    """One step in a certificate's history (claim, gift, pledge, ...), with its chain write."""

    __tablename__ = "certificate_actions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    certificate_id: Mapped[int] = mapped_column(ForeignKey("certificates.id"), index=True)
    action: Mapped[str] = mapped_column(String(24))
    from_state: Mapped[str | None] = mapped_column(String(24), nullable=True)
    to_state: Mapped[str] = mapped_column(String(24))
    principal_id: Mapped[str] = mapped_column(String(80))
    #: queued (waiting for its chain write), sent, confirmed, failed; done when off chain only.
    status: Mapped[str] = mapped_column(String(16), index=True)
    outbox_id: Mapped[int | None] = mapped_column(
        ForeignKey("outbox.id"), nullable=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    deal_id: Mapped[int | None] = mapped_column(
        ForeignKey("certificate_deals.id"), nullable=True, index=True
    )
    #: Who signed the forwarded request, and over which nonce (a failure rewinds it).
    signer: Mapped[str | None] = mapped_column(String(42), nullable=True)
    nonce: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    #: What a failed chain write puts back: the certificate's and deal's earlier values, valid
    #: while the certificate is still at ``version_after``.
    undo: Mapped[Any | None] = mapped_column(JSON, nullable=True)
    version_after: Mapped[int | None] = mapped_column(Integer, nullable=True)


class CertificateDealRow(Base):
    """A gift, pledge, custody or redemption of a certificate, with its off-chain terms."""

    __tablename__ = "certificate_deals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    certificate_id: Mapped[int] = mapped_column(ForeignKey("certificates.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), index=True)
    counterparty_org_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id"), nullable=True, index=True
    )
    recipient_account_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts.id"), nullable=True, index=True
    )
    #: A gift's recipient address as a keyed hash (a newcomer invited by phone or email).
    recipient_key: Mapped[bytes | None] = mapped_column(Bytes32, nullable=True, index=True)
    secret_hash: Mapped[bytes | None] = mapped_column(Bytes32, nullable=True, unique=True)
    claim_key_address: Mapped[str | None] = mapped_column(String(42), nullable=True)
    sealed_claim_key: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    gift_nonce: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    terms: Mapped[Any] = mapped_column(JSON)
    sealed_details: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    origin_state: Mapped[str | None] = mapped_column(String(24), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class OrganisationWalletRow(Base):
    """The chain account of a pledgee, custodian or store (custodial, sealed like consumers')."""

    __tablename__ = "organisation_wallets"

    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), primary_key=True)
    address: Mapped[str] = mapped_column(String(42), unique=True)
    sealed_key: Mapped[bytes] = mapped_column(LargeBinary)
    #: The role granted on chain (PLEDGEE_ROLE, CUSTODIAN_ROLE), by this outbox write.
    role: Mapped[str | None] = mapped_column(String(32), nullable=True)
    grant_outbox_id: Mapped[int | None] = mapped_column(ForeignKey("outbox.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class WalletNonceRow(Base):
    """The next forwarder nonce of a custodial wallet (only we sign for it, so we count)."""

    __tablename__ = "wallet_nonces"

    address: Mapped[str] = mapped_column(String(42), primary_key=True)
    next_nonce: Mapped[int] = mapped_column(BigInteger, default=0)
    #: The wallet's latest forwarded write: the next one waits for it (nonces are in order).
    last_outbox_id: Mapped[int | None] = mapped_column(ForeignKey("outbox.id"), nullable=True)


class VoucherRow(Base):
    """A request a self-custody owner must sign (EIP-712 ForwardRequest) before it runs."""

    __tablename__ = "vouchers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    certificate_id: Mapped[int] = mapped_column(ForeignKey("certificates.id"), index=True)
    #: The use case to run once signed, and its parameters (with values it generated).
    kind: Mapped[str] = mapped_column(String(32))
    params: Mapped[Any] = mapped_column(JSON)
    signer: Mapped[str] = mapped_column(String(42))
    nonce: Mapped[int] = mapped_column(BigInteger)
    deadline: Mapped[int] = mapped_column(BigInteger)
    typed_data: Mapped[Any] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class PinGuardRow(Base):
    """Wrong-PIN bookkeeping of an item (``item:<serial>``) or an account (``account:<id>``)."""

    __tablename__ = "pin_guards"

    subject: Mapped[str] = mapped_column(String(80), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ConsumerScanRow(Base):
    """One scan of a bottle's code through the verify or Digital Link routes (a consumer's, or
    a partner's with its key). Written in bulk by ``ConsumerScanRecorder``; never a raw
    address, user agent or cookie: ``device_hash`` is a keyed hash."""

    __tablename__ = "consumer_scans"
    __table_args__ = (
        Index("ix_consumer_scans_item_id_scanned_at", "item_id", "scanned_at"),
        # Migration 0009: a replay of spilled scans skips those already written.
        Index("uq_consumer_scans_scan_id", "scan_id", unique=True),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True
    )
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"))
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id"), index=True)
    scanned_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: GB/T 2260 (or custom tree) code the scan page reported; None when it sent none.
    region_code: Mapped[str | None] = mapped_column(String(12), nullable=True)
    device_hash: Mapped[bytes] = mapped_column(LargeBinary(16))
    verdict: Mapped[str] = mapped_column(String(24))
    #: The partner whose key scanned; None for a consumer.
    organisation_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id"), nullable=True
    )
    #: Unique per scan, given when it is recorded (None for rows from before migration 0009).
    scan_id: Mapped[bytes | None] = mapped_column(LargeBinary(16), nullable=True)
    #: Migration 0014: the keyed hash of the client's counting network, and who vouches for
    #: the scan (anonymous, member, owner); None on older rows (read as anonymous).
    network_hash: Mapped[bytes | None] = mapped_column(LargeBinary(16), nullable=True)
    witness: Mapped[str | None] = mapped_column(String(10), nullable=True)
