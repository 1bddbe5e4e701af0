"""SQLAlchemy 2 rows. Repositories turn them into domain objects; nothing else touches them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC timestamps on both dialects (SQLite drops the zone otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


Bytes32 = LargeBinary(32)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class OrganisationRow(Base):
    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    api_keys: Mapped[list[ApiKeyRow]] = relationship(back_populates="organisation", lazy="raise")


class ApiKeyRow(Base):
    __tablename__ = "api_keys"

    key_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    secret_hash: Mapped[bytes] = mapped_column(Bytes32)
    role: Mapped[str] = mapped_column(String(32))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    organisation: Mapped[OrganisationRow] = relationship(back_populates="api_keys", lazy="raise")


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
    error_name: Mapped[str | None] = mapped_column(String(100), nullable=True)
    error_args: Mapped[Any | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

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


class BatchRow(Base):
    __tablename__ = "batches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(26), unique=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    lot: Mapped[str] = mapped_column(String(64))
    chain_batch_id: Mapped[bytes] = mapped_column(Bytes32, unique=True)
    root: Mapped[bytes] = mapped_column(Bytes32)
    item_count: Mapped[int] = mapped_column(Integer)
    metadata_json: Mapped[Any] = mapped_column(JSON)
    metadata_hash: Mapped[bytes] = mapped_column(Bytes32)
    status: Mapped[str] = mapped_column(String(16))
    outbox_id: Mapped[int | None] = mapped_column(ForeignKey("outbox.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    items: Mapped[list[ItemRow]] = relationship(back_populates="batch", lazy="raise")


class ItemRow(Base):
    __tablename__ = "items"
    __table_args__ = (UniqueConstraint("batch_id", "leaf_index"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id"))
    # Token ids derive from the item id alone, so item ids are unique across all batches.
    item_id: Mapped[str] = mapped_column(String(64), unique=True)
    token_id: Mapped[str] = mapped_column(String(78), unique=True)  # uint256 as decimal
    item_hash: Mapped[bytes] = mapped_column(Bytes32)
    leaf: Mapped[bytes] = mapped_column(Bytes32)
    leaf_index: Mapped[int] = mapped_column(Integer)

    batch: Mapped[BatchRow] = relationship(back_populates="items", lazy="raise")


class LogHeadRow(Base):
    """One row whose ``size`` is bumped under a row lock to hand out dense log indexes."""

    __tablename__ = "log_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)


class EventRow(Base):
    """The append-only event log; triggers refuse UPDATE and DELETE on both dialects."""

    __tablename__ = "events"

    log_index: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    type: Mapped[str] = mapped_column(String(64))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    leaf_hash: Mapped[bytes] = mapped_column(Bytes32)


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


class IdempotencyKeyRow(Base):
    __tablename__ = "idempotency_keys"

    principal_id: Mapped[str] = mapped_column(String(80), primary_key=True)
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    request_hash: Mapped[bytes] = mapped_column(Bytes32)
    status_code: Mapped[int] = mapped_column(Integer)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class WorkerLeaseRow(Base):
    """Leases so that only one process runs the sender against a database."""

    __tablename__ = "worker_leases"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(80), nullable=True)
    expires_at: Mapped[float] = mapped_column(Float, default=0.0)
