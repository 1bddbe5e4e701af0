"""Identity's tables: organisations, API keys, scanner sessions, company prefixes, partner
grants. Channel's and the event log's tenant resolver join ``organisations`` by its rows (the
joins listed in pyproject.toml's import contracts)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from service.kernel.storage.rows import (
    Base,
    Bytes32,
    UTCDateTime,
)


class OrganisationRow(Base):
    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: The brand a factory, distributor or store works for (None for brands and partners).
    brand_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id"), nullable=True, index=True
    )
    #: A brand's GS1 company prefix for SSCCs (falls back to the configured one).
    gs1_company_prefix: Mapped[str | None] = mapped_column(String(12), nullable=True)
    #: The organisation above this one in the brand's channel (a store's distributor).
    channel_parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id"), nullable=True, index=True
    )

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


class ScannerSessionRow(Base):
    """A scanner page's device session: the SHA-256 of its token, never the token."""

    __tablename__ = "scanner_sessions"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64))
    key_id: Mapped[str] = mapped_column(ForeignKey("api_keys.key_id"), index=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class CompanyPrefixRow(Base):
    """A GS1 company prefix and the brand that holds it: its GTINs fall within its prefixes."""

    __tablename__ = "company_prefixes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    prefix: Mapped[str] = mapped_column(String(12), unique=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class BrandPartnerRow(Base):
    """A brand's authorisation of a partner organisation in one role for its bottles."""

    __tablename__ = "brand_partners"
    __table_args__ = (UniqueConstraint("brand_id", "partner_id", "role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    role: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
