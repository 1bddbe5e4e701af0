"""Touchpoints I, anti-farming: what the screening reads (each member's claims with the device
and region they came from, referrals, and consumers' scans of redeemed, recalled or suspected
cloned codes), each award's screening status (pending, released, held or forfeited), each member's
risk as last decided, with the history of decisions (screenings and the brand's reviews), and
each brand's risk rules; whether a certificate's claimer scanned it first. One-ID: the identities integrations asserted for members (by an opaque
reference), their values (a table of its own, deleted with the person), the merges between
members (and their undoing), and each brand's blocked values.

Every touchpoint table is a projection of the event log and the scan stream: the feed's tables
are emptied here, and the projector applies both sources again from the start (as
``tracecert touchpoints rebuild`` does), so the awards it makes again wait for screening.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 05:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

_PROJECTIONS = (
    "touchpoint_stages",
    "touchpoint_certificates",
    "touchpoint_wallets",
    "touchpoint_holdings",
    "touchpoint_point_draws",
    "touchpoint_points",
    "touchpoint_programmes",
    "touchpoint_members",
    "touchpoint_consents",
    "touchpoint_journey_rules",
    "touchpoint_checkpoints",
)


def upgrade() -> None:
    for table in _PROJECTIONS:
        op.execute(sa.text(f"DELETE FROM {table}"))
    op.add_column(
        "touchpoint_certificates",
        sa.Column("scanned_first", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.create_table(
        "touchpoint_sightings",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("brand_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("subject", sa.String(length=80), nullable=True),
        sa.Column("other", sa.String(length=80), nullable=True),
        sa.Column("device", sa.LargeBinary(length=16), nullable=True),
        sa.Column("item", sa.String(length=40), nullable=False),
        sa.Column("verdict", sa.String(length=24), nullable=True),
        sa.Column("region_code", sa.String(length=12), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cause", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_touchpoint_sightings")),
        sa.UniqueConstraint("cause", "kind", name=op.f("uq_touchpoint_sightings_cause")),
    )
    op.create_index(
        "ix_touchpoint_sightings_brand_id_subject", "touchpoint_sightings", ["brand_id", "subject"]
    )
    op.create_index("ix_touchpoint_sightings_device", "touchpoint_sightings", ["device"])
    # Who referred a member (a referral ring's other half), without reading every sighting.
    op.create_index("ix_touchpoint_sightings_other", "touchpoint_sightings", ["other"])
    op.create_table(
        "touchpoint_award_status",
        sa.Column("award_key", sa.String(length=120), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cause", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("award_key", name=op.f("pk_touchpoint_award_status")),
    )
    # The screening finds what waits for it, oldest first, by this index (not by reading
    # the whole ledger, nor every pending award, a page at a time).
    op.create_index(
        "ix_touchpoint_award_status_status_at",
        "touchpoint_award_status",
        ["status", "at", "award_key"],
    )
    op.create_table(
        "touchpoint_risk",
        sa.Column("brand_id", sa.Integer(), nullable=False),
        sa.Column("subject", sa.String(length=80), nullable=False),
        sa.Column("level", sa.String(length=8), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("reasons", sa.Text(), nullable=False),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("review_level", sa.String(length=8), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cause", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("brand_id", "subject", name=op.f("pk_touchpoint_risk")),
    )
    op.create_index("ix_touchpoint_risk_brand_id_level", "touchpoint_risk", ["brand_id", "level"])
    op.create_table(
        "touchpoint_risk_decisions",
        sa.Column("cause", sa.String(length=32), nullable=False),
        sa.Column("brand_id", sa.Integer(), nullable=False),
        sa.Column("subject", sa.String(length=80), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("level", sa.String(length=8), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("reasons", sa.Text(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(
            "cause", "brand_id", "subject", name=op.f("pk_touchpoint_risk_decisions")
        ),
    )
    op.create_index(
        "ix_touchpoint_risk_decisions_brand_id_subject",
        "touchpoint_risk_decisions",
        ["brand_id", "subject"],
    )
    op.create_table(
        "touchpoint_risk_rules",
        sa.Column("brand_id", sa.Integer(), nullable=False),
        sa.Column("settings", sa.Text(), nullable=False),
        sa.Column("set_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cause", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("brand_id", name=op.f("pk_touchpoint_risk_rules")),
    )
    op.create_table(
        "touchpoint_identities",
        sa.Column("brand_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=48), nullable=False),
        sa.Column("ref", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=80), nullable=False),
        sa.Column("proof", sa.String(length=16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cause", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint(
            "brand_id", "kind", "ref", "subject", name=op.f("pk_touchpoint_identities")
        ),
    )
    op.create_index(
        "ix_touchpoint_identities_subject", "touchpoint_identities", ["subject", "brand_id"]
    )
    op.create_table(
        "touchpoint_identity_values",
        sa.Column("brand_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=48), nullable=False),
        sa.Column("ref", sa.String(length=64), nullable=False),
        sa.Column("value", sa.String(length=254), nullable=False),
        sa.PrimaryKeyConstraint(
            "brand_id", "kind", "ref", name=op.f("pk_touchpoint_identity_values")
        ),
    )
    op.create_table(
        "touchpoint_merges",
        sa.Column("brand_id", sa.Integer(), nullable=False),
        sa.Column("cause", sa.String(length=32), nullable=False),
        sa.Column("survivor", sa.String(length=80), nullable=False),
        sa.Column("merged", sa.String(length=80), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("undone_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("undone_cause", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("brand_id", "cause", name=op.f("pk_touchpoint_merges")),
    )
    op.create_index("ix_touchpoint_merges_merged", "touchpoint_merges", ["merged"])
    op.create_table(
        "touchpoint_blocked",
        sa.Column("brand_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=48), nullable=False),
        sa.Column("ref", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cause", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("brand_id", "kind", "ref", name=op.f("pk_touchpoint_blocked")),
    )


def downgrade() -> None:
    op.drop_table("touchpoint_blocked")
    op.drop_index("ix_touchpoint_merges_merged", table_name="touchpoint_merges")
    op.drop_table("touchpoint_merges")
    op.drop_table("touchpoint_identity_values")
    op.drop_index("ix_touchpoint_identities_subject", table_name="touchpoint_identities")
    op.drop_table("touchpoint_identities")
    op.drop_table("touchpoint_risk_rules")
    op.drop_index(
        "ix_touchpoint_risk_decisions_brand_id_subject", table_name="touchpoint_risk_decisions"
    )
    op.drop_table("touchpoint_risk_decisions")
    op.drop_index("ix_touchpoint_risk_brand_id_level", table_name="touchpoint_risk")
    op.drop_table("touchpoint_risk")
    op.drop_index(
        "ix_touchpoint_award_status_status_at", table_name="touchpoint_award_status"
    )
    op.drop_table("touchpoint_award_status")
    op.drop_index("ix_touchpoint_sightings_other", table_name="touchpoint_sightings")
    op.drop_index("ix_touchpoint_sightings_device", table_name="touchpoint_sightings")
    op.drop_index("ix_touchpoint_sightings_brand_id_subject", table_name="touchpoint_sightings")
    op.drop_table("touchpoint_sightings")
    for table in _PROJECTIONS:
        op.execute(sa.text(f"DELETE FROM {table}"))
    with op.batch_alter_table("touchpoint_certificates") as batch:
        batch.drop_column("scanned_first")
