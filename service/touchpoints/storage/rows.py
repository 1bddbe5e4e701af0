"""The touchpoints' tables (migration 0017). Everything here is built by the feed's projector
and can be rebuilt from the event log and the consumer-scan stream: no row is a source of
truth. Subjects are account public ids, wallet addresses or keyed device hashes, never a phone
number or an e-mail address."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from service.kernel.storage.rows import Base, UTCDateTime


class FeedCheckpointRow(Base):
    """Where the projector stands in each source: the log's next index, the scan stream's last
    row id applied."""

    __tablename__ = "touchpoint_checkpoints"

    source: Mapped[str] = mapped_column(String(16), primary_key=True)
    position: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class JourneyStageRow(Base):
    """A stage a subject reached for a brand, with its earliest cause (``log:<index>`` or
    ``scans:<row id>``), where and for what product."""

    __tablename__ = "touchpoint_stages"
    __table_args__ = (Index("ix_touchpoint_stages_brand_id_stage", "brand_id", "stage"),)

    brand_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject: Mapped[str] = mapped_column(String(80), primary_key=True)
    stage: Mapped[str] = mapped_column(String(16), primary_key=True)
    cause_at: Mapped[datetime] = mapped_column(UTCDateTime())
    cause_source: Mapped[str] = mapped_column(String(8))
    cause_position: Mapped[int] = mapped_column(BigInteger)
    region_code: Mapped[str | None] = mapped_column(String(12), nullable=True)
    gtin: Mapped[str | None] = mapped_column(String(14), nullable=True)


class FeedCertificateRow(Base):
    """What the feed keeps of a certificate: brand, batch, product, the claim's region, its
    holder and a step waiting for the chain."""

    __tablename__ = "touchpoint_certificates"

    certificate_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    brand_id: Mapped[int] = mapped_column(Integer)
    batch_id: Mapped[str] = mapped_column(String(26))
    gtin: Mapped[str | None] = mapped_column(String(14), nullable=True)
    region_code: Mapped[str | None] = mapped_column(String(12), nullable=True)
    holder: Mapped[str | None] = mapped_column(String(80), nullable=True)
    pending_action: Mapped[str | None] = mapped_column(String(24), nullable=True)
    pending_by: Mapped[str | None] = mapped_column(String(80), nullable=True)
    #: Migration 0018: since when it is in a custodian's storage (a confirmed deposit).
    stored_since: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    #: Migration 0018: who offered it as a gift, and the log index of the offer (a referral).
    gift_from: Mapped[str | None] = mapped_column(String(80), nullable=True)
    gift_index: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    #: Migration 0019: whether its claimer scanned it before claiming (first-scan points).
    scanned_first: Mapped[bool] = mapped_column(Boolean, server_default=false())


class FeedWalletRow(Base):
    """An account's wallet address, as the log's ``AccountCreated`` names it."""

    __tablename__ = "touchpoint_wallets"
    __table_args__ = (Index("ix_touchpoint_wallets_subject", "subject"),)

    address: Mapped[str] = mapped_column(String(42), primary_key=True)
    subject: Mapped[str] = mapped_column(String(80))
    #: Migration 0018: the log index of the account's ``AccountCreated`` (when it signed up).
    joined: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class HoldingRow(Base):
    """A subject came to hold a certificate of a brand."""

    __tablename__ = "touchpoint_holdings"
    __table_args__ = (Index("ix_touchpoint_holdings_brand_id_subject", "brand_id", "subject"),)

    subject: Mapped[str] = mapped_column(String(80), primary_key=True)
    certificate_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    brand_id: Mapped[int] = mapped_column(Integer)
    batch_id: Mapped[str] = mapped_column(String(26))
    held_at: Mapped[datetime] = mapped_column(UTCDateTime())


class PointsEntryRow(Base):
    """One entry of a brand's points ledger (migration 0018): an award, a spend, an expiry or a
    reversal. Append-only: an entry is never changed; ``key`` says what it is for, so applying
    an event twice adds nothing."""

    __tablename__ = "touchpoint_points"
    __table_args__ = (
        Index("ix_touchpoint_points_holder_brand_id", "holder", "brand_id"),
        Index("ix_touchpoint_points_batch_id", "batch_id"),
        Index("ix_touchpoint_points_expires_at", "expires_at"),
    )

    key: Mapped[str] = mapped_column(String(120), primary_key=True)
    brand_id: Mapped[int] = mapped_column(Integer)
    holder: Mapped[str] = mapped_column(String(80))
    kind: Mapped[str] = mapped_column(String(8))
    amount: Mapped[int] = mapped_column(BigInteger)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    cause: Mapped[str] = mapped_column(String(32))
    rule: Mapped[str | None] = mapped_column(String(40), nullable=True)
    certificate_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    batch_id: Mapped[str | None] = mapped_column(String(26), nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    withheld: Mapped[int] = mapped_column(BigInteger)


class PointsDrawRow(Base):
    """A spend, expiry or reversal took points of an award."""

    __tablename__ = "touchpoint_point_draws"
    __table_args__ = (Index("ix_touchpoint_point_draws_award_key", "award_key"),)

    entry_key: Mapped[str] = mapped_column(String(120), primary_key=True)
    award_key: Mapped[str] = mapped_column(String(120), primary_key=True)
    amount: Mapped[int] = mapped_column(BigInteger)


class PointsProgrammeRow(Base):
    """A brand's points programme as it last set it (the log's ``PointsProgrammeSet``)."""

    __tablename__ = "touchpoint_programmes"

    brand_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: Canonical JSON of the settings.
    settings: Mapped[str] = mapped_column(Text)
    set_at: Mapped[datetime] = mapped_column(UTCDateTime())
    cause: Mapped[str] = mapped_column(String(32))


class MemberRow(Base):
    """A brand's member (migration 0018): an account that reached a stage of the brand's journey
    or recorded a consent with it, with its stable public id and the earliest cause."""

    __tablename__ = "touchpoint_members"
    __table_args__ = (Index("ix_touchpoint_members_subject", "subject"),)

    brand_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject: Mapped[str] = mapped_column(String(80), primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    since_at: Mapped[datetime] = mapped_column(UTCDateTime())
    since_cause: Mapped[str] = mapped_column(String(32))
    #: When the person had their account erased (the member names nobody since).
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class ConsentRow(Base):
    """A member's consent to one purpose of a brand, as last recorded (the log keeps every
    change)."""

    __tablename__ = "touchpoint_consents"

    brand_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject: Mapped[str] = mapped_column(String(80), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(16), primary_key=True)
    granted: Mapped[bool] = mapped_column(Boolean)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    text_version: Mapped[str] = mapped_column(String(40))
    channel: Mapped[str] = mapped_column(String(16))
    cause: Mapped[str] = mapped_column(String(32))


class JourneyRulesRow(Base):
    """A brand's journey rules as it last set them (the log's ``JourneyRulesSet``)."""

    __tablename__ = "touchpoint_journey_rules"

    brand_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: Canonical JSON of the settings.
    settings: Mapped[str] = mapped_column(Text)
    set_at: Mapped[datetime] = mapped_column(UTCDateTime())
    cause: Mapped[str] = mapped_column(String(32))


class SightingRow(Base):
    """What the screening reads (migration 0019): a member's claim with the device and region it
    came from, a referral (``other`` is the new member), or a consumer's scan of a redeemed,
    recalled or suspected cloned code (by a device; no subject). ``item`` is the certificate or
    ``item:<id>``; ``cause`` the log entry or scan row."""

    __tablename__ = "touchpoint_sightings"
    __table_args__ = (
        Index("ix_touchpoint_sightings_brand_id_subject", "brand_id", "subject"),
        Index("ix_touchpoint_sightings_device", "device"),
        Index("ix_touchpoint_sightings_other", "other"),
        UniqueConstraint("cause", "kind", name="uq_touchpoint_sightings_cause"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    brand_id: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str | None] = mapped_column(String(80), nullable=True)
    other: Mapped[str | None] = mapped_column(String(80), nullable=True)
    device: Mapped[bytes | None] = mapped_column(LargeBinary(16), nullable=True)
    item: Mapped[str] = mapped_column(String(40))
    verdict: Mapped[str | None] = mapped_column(String(24), nullable=True)
    region_code: Mapped[str | None] = mapped_column(String(12), nullable=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    cause: Mapped[str] = mapped_column(String(32))


class AwardStatusRow(Base):
    """An award's screening (migration 0019): pending (waiting for it), released (spendable),
    held for the brand's review, or forfeited (a reverse entry took it back)."""

    __tablename__ = "touchpoint_award_status"
    __table_args__ = (Index("ix_touchpoint_award_status_status_at", "status", "at", "award_key"),)

    award_key: Mapped[str] = mapped_column(String(120), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    cause: Mapped[str] = mapped_column(String(32))


class RiskRow(Base):
    """A member's risk as last decided (migration 0019): level, score and reasons (canonical
    JSON), and the brand's last review of it (when, and the level it set)."""

    __tablename__ = "touchpoint_risk"
    __table_args__ = (Index("ix_touchpoint_risk_brand_id_level", "brand_id", "level"),)

    brand_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject: Mapped[str] = mapped_column(String(80), primary_key=True)
    level: Mapped[str] = mapped_column(String(8))
    score: Mapped[int] = mapped_column(Integer)
    reasons: Mapped[str] = mapped_column(Text)
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    review_level: Mapped[str | None] = mapped_column(String(8), nullable=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    cause: Mapped[str] = mapped_column(String(32))


class RiskDecisionRow(Base):
    """Every decision on a member's risk (migration 0019): a screening or a review, with its
    reasons, the reviewer's note, and the log entry that recorded it."""

    __tablename__ = "touchpoint_risk_decisions"
    __table_args__ = (
        Index("ix_touchpoint_risk_decisions_brand_id_subject", "brand_id", "subject"),
    )

    cause: Mapped[str] = mapped_column(String(32), primary_key=True)
    brand_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject: Mapped[str] = mapped_column(String(80), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    level: Mapped[str] = mapped_column(String(8))
    score: Mapped[int] = mapped_column(Integer)
    reasons: Mapped[str] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class RiskRulesRow(Base):
    """A brand's anti-farming rules as it last set them (the log's ``RiskRulesSet``)."""

    __tablename__ = "touchpoint_risk_rules"

    brand_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: Canonical JSON of the settings.
    settings: Mapped[str] = mapped_column(Text)
    set_at: Mapped[datetime] = mapped_column(UTCDateTime())
    cause: Mapped[str] = mapped_column(String(32))


class IdentityRow(Base):
    """An identity a brand's integration asserted for a member (migration 0019): its type
    (``external:<namespace>`` for an external id) and opaque reference (a keyed hash of the
    value), with the proof and the log entry."""

    __tablename__ = "touchpoint_identities"
    __table_args__ = (Index("ix_touchpoint_identities_subject", "subject", "brand_id"),)

    brand_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(48), primary_key=True)
    ref: Mapped[str] = mapped_column(String(64), primary_key=True)
    subject: Mapped[str] = mapped_column(String(80), primary_key=True)
    proof: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    cause: Mapped[str] = mapped_column(String(32))


class IdentityValueRow(Base):
    """An identity's value (migration 0019), beside its reference: what the brand's member view
    shows masked. Not a projection: written when the integration posts it, deleted with the
    person (the log holds only the reference)."""

    __tablename__ = "touchpoint_identity_values"

    brand_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(48), primary_key=True)
    ref: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(254))


class MergeRow(Base):
    """A merge of two members (migration 0019): the survivor (the older) absorbed the merged
    one, for a reason; and its undoing, if undone."""

    __tablename__ = "touchpoint_merges"
    __table_args__ = (Index("ix_touchpoint_merges_merged", "merged"),)

    brand_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cause: Mapped[str] = mapped_column(String(32), primary_key=True)
    survivor: Mapped[str] = mapped_column(String(80))
    merged: Mapped[str] = mapped_column(String(80))
    reason: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    undone_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    undone_cause: Mapped[str | None] = mapped_column(String(32), nullable=True)


class BlockedRow(Base):
    """A value on a brand's blocked list (migration 0019): it links nobody."""

    __tablename__ = "touchpoint_blocked"

    brand_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(48), primary_key=True)
    ref: Mapped[str] = mapped_column(String(64), primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    cause: Mapped[str] = mapped_column(String(32))
