"""The one declarative base every area's rows are declared on, its types, and the kernel's rows.

One ``Base`` (one ``MetaData``): the migrations describe one schema, and ``service/schema.py``
imports every area's rows so that ``Base.metadata`` is whole. The kernel's own rows are the
event log (``log_head``, ``events``) and the idempotency keys.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    TypeDecorator,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

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


class LogHeadRow(Base):
    """One row whose ``size`` is bumped under a row lock to hand out dense log indexes; it
    keeps the last entry's leaf hash, which the next entry links to (``prev``)."""

    __tablename__ = "log_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    last_leaf: Mapped[bytes | None] = mapped_column(Bytes32, nullable=True)


class EventRow(Base):
    """The append-only event log; triggers refuse UPDATE and DELETE on both dialects."""

    __tablename__ = "events"
    #: Migration 0017: readers of a few kinds of entry (the touchpoints' feed) skip the rest
    #: in the index, not by reading every row.
    __table_args__ = (Index("ix_events_type_log_index", "type", "log_index"),)

    log_index: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    type: Mapped[str] = mapped_column(String(64))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    leaf_hash: Mapped[bytes] = mapped_column(Bytes32)


class IdempotencyKeyRow(Base):
    __tablename__ = "idempotency_keys"

    principal_id: Mapped[str] = mapped_column(String(80), primary_key=True)
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    request_hash: Mapped[bytes] = mapped_column(Bytes32)
    status_code: Mapped[int] = mapped_column(Integer)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
