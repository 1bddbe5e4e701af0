"""The ledger's tables: the chain's identity and the contract's deployment, the outbox and its
transaction attempts, the event log's anchors and checks, and the workers' leases."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from service.kernel.storage.rows import (
    Base,
    Bytes32,
    UTCDateTime,
)


class ChainIdentityRow(Base):
    __tablename__ = "chain_identity"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chain_id: Mapped[int] = mapped_column(BigInteger)
    genesis_hash: Mapped[bytes] = mapped_column(Bytes32)
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime())


class DeploymentRow(Base):
    __tablename__ = "deployments"
    __table_args__ = (UniqueConstraint("chain_id", "genesis_hash", "contract"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chain_id: Mapped[int] = mapped_column(BigInteger)
    genesis_hash: Mapped[bytes] = mapped_column(Bytes32)
    contract: Mapped[str] = mapped_column(String(64))
    address: Mapped[str] = mapped_column(String(42))
    tx_hash: Mapped[bytes] = mapped_column(Bytes32)
    block_number: Mapped[int] = mapped_column(BigInteger)
    deployed_at: Mapped[datetime] = mapped_column(UTCDateTime())


class OutboxRow(Base):
    __tablename__ = "outbox"
    __table_args__ = (
        # The sender reads the confirmed writes it still follows, and the writes holding the
        # nonces of a gap; /health reads the highest confirmed nonces. None may scan history.
        Index("ix_outbox_status_final_at", "status", "final_at"),
        Index("ix_outbox_status_nonce", "status", "nonce"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    to_address: Mapped[str] = mapped_column(String(42))
    calldata: Mapped[bytes] = mapped_column(LargeBinary)
    value: Mapped[str] = mapped_column(String(78), default="0")
    gas_limit: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    nonce: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    sender: Mapped[str | None] = mapped_column(String(42), nullable=True)
    mined_tx_hash: Mapped[bytes | None] = mapped_column(Bytes32, nullable=True)
    mined_block_number: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    mined_block_hash: Mapped[bytes | None] = mapped_column(Bytes32, nullable=True)
    failure_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: Sent only after this write is confirmed (e.g. a recall after its batch's anchor).
    depends_on: Mapped[int | None] = mapped_column(ForeignKey("outbox.id"), nullable=True)
    error_name: Mapped[str | None] = mapped_column(String(100), nullable=True)
    error_args: Mapped[Any | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: Buried past the finality window: the sender no longer follows it.
    final_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    #: Set while a confirmed write is off the chain after a reorg, its business effect kept:
    #: when that was noticed, and the transaction and block it had been confirmed with.
    reorged_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    reorged_tx_hash: Mapped[bytes | None] = mapped_column(Bytes32, nullable=True)
    reorged_block_number: Mapped[int | None] = mapped_column(BigInteger, nullable=True)

    attempts: Mapped[list[TxAttemptRow]] = relationship(
        back_populates="request", lazy="raise", order_by="TxAttemptRow.id"
    )


class TxAttemptRow(Base):
    __tablename__ = "tx_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    outbox_id: Mapped[int] = mapped_column(ForeignKey("outbox.id"), index=True)
    tx_hash: Mapped[bytes] = mapped_column(Bytes32, unique=True)
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    sender: Mapped[str] = mapped_column(String(42))
    nonce: Mapped[int] = mapped_column(BigInteger)
    max_fee_per_gas: Mapped[int] = mapped_column(BigInteger)
    max_priority_fee_per_gas: Mapped[int] = mapped_column(BigInteger)
    gas_limit: Mapped[int] = mapped_column(BigInteger)
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[float | None] = mapped_column(Float, nullable=True)

    request: Mapped[OutboxRow] = relationship(back_populates="attempts", lazy="raise")


class LogAnchorRow(Base):
    __tablename__ = "log_anchors"

    size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    root: Mapped[bytes] = mapped_column(Bytes32)
    status: Mapped[str] = mapped_column(String(16))
    outbox_id: Mapped[int | None] = mapped_column(
        ForeignKey("outbox.id"), nullable=True, unique=True
    )
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime())
    anchored_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class LogCheckRow(Base):
    """The last integrity pass over the event log (one row, ``id`` 1), for every process."""

    __tablename__ = "log_checks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    status: Mapped[str] = mapped_column(String(16))
    checked_size: Mapped[int] = mapped_column(BigInteger)
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime())
    chain_size: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    first_bad_index: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    failed_since: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    #: ``{"reason", "findings", "roots"}``.
    detail: Mapped[Any] = mapped_column(JSON)


class WorkerLeaseRow(Base):
    """Leases so that only one process runs the sender against a database."""

    __tablename__ = "worker_leases"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(80), nullable=True)
    expires_at: Mapped[float] = mapped_column(Float, default=0.0)
