"""Touchpoints I, points and members: each brand's points programme and its append-only ledger
(entries and the draws linking spends, expiries and reversals to the awards they take from),
the facts the feed now keeps for them (a bottle's time in storage, a gift's giver, an account's
sign-up), each brand's members with their consents per purpose, and each brand's journey rules.

Every touchpoint table is a projection of the event log and the scan stream, and the new facts
are read from entries the feed has already passed: the feed's tables are emptied here, and the
projector applies both sources again from the start (as ``tracecert touchpoints rebuild`` does).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 02:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

_PROJECTIONS = (
    "touchpoint_stages",
    "touchpoint_certificates",
    "touchpoint_wallets",
    "touchpoint_holdings",
    "touchpoint_checkpoints",
)


def upgrade() -> None:
    for table in _PROJECTIONS:
        op.execute(sa.text(f"DELETE FROM {table}"))
    op.add_column(
        "touchpoint_certificates",
        sa.Column("stored_since", sa.DateTime(timezone=True), nullable=True),
    )
    op.add_column(
        "touchpoint_certificates", sa.Column("gift_from", sa.String(length=80), nullable=True)
    )
    op.add_column("touchpoint_certificates", sa.Column("gift_index", sa.BigInteger(), nullable=True))
    op.add_column("touchpoint_wallets", sa.Column("joined", sa.BigInteger(), nullable=True))
    op.create_index("ix_touchpoint_wallets_subject", "touchpoint_wallets", ["subject"])
    op.create_table(
        "touchpoint_points",
        sa.Column("key", sa.String(length=120), nullable=False),
        sa.Column("brand_id", sa.Integer(), nullable=False),
        sa.Column("holder", sa.String(length=80), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cause", sa.String(length=32), nullable=False),
        sa.Column("rule", sa.String(length=40), nullable=True),
        sa.Column("certificate_id", sa.String(length=40), nullable=True),
        sa.Column("batch_id", sa.String(length=26), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("withheld", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_touchpoint_points")),
    )
    op.create_index(
        "ix_touchpoint_points_holder_brand_id", "touchpoint_points", ["holder", "brand_id"]
    )
    op.create_index("ix_touchpoint_points_batch_id", "touchpoint_points", ["batch_id"])
    # By expiry date alone: an index led by the kind (nearly every entry is an award) would
    # tempt SQLite's planner away from the holder's index.
    op.create_index("ix_touchpoint_points_expires_at", "touchpoint_points", ["expires_at"])
    op.create_table(
        "touchpoint_point_draws",
        sa.Column("entry_key", sa.String(length=120), nullable=False),
        sa.Column("award_key", sa.String(length=120), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("entry_key", "award_key", name=op.f("pk_touchpoint_point_draws")),
    )
    op.create_index(
        "ix_touchpoint_point_draws_award_key", "touchpoint_point_draws", ["award_key"]
    )
    op.create_table(
        "touchpoint_programmes",
        sa.Column("brand_id", sa.Integer(), nullable=False),
        sa.Column("settings", sa.Text(), nullable=False),
        sa.Column("set_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cause", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("brand_id", name=op.f("pk_touchpoint_programmes")),
    )


    op.create_table(
        "touchpoint_members",
        sa.Column("brand_id", sa.Integer(), nullable=False),
        sa.Column("subject", sa.String(length=80), nullable=False),
        sa.Column("public_id", sa.String(length=40), nullable=False),
        sa.Column("since_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("since_cause", sa.String(length=32), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("brand_id", "subject", name=op.f("pk_touchpoint_members")),
        sa.UniqueConstraint("public_id", name=op.f("uq_touchpoint_members_public_id")),
    )
    op.create_index("ix_touchpoint_members_subject", "touchpoint_members", ["subject"])
    op.create_table(
        "touchpoint_consents",
        sa.Column("brand_id", sa.Integer(), nullable=False),
        sa.Column("subject", sa.String(length=80), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("granted", sa.Boolean(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("text_version", sa.String(length=40), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("cause", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint(
            "brand_id", "subject", "purpose", name=op.f("pk_touchpoint_consents")
        ),
    )
    op.create_table(
        "touchpoint_journey_rules",
        sa.Column("brand_id", sa.Integer(), nullable=False),
        sa.Column("settings", sa.Text(), nullable=False),
        sa.Column("set_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cause", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("brand_id", name=op.f("pk_touchpoint_journey_rules")),
    )


def downgrade() -> None:
    op.drop_table("touchpoint_journey_rules")
    op.drop_table("touchpoint_consents")
    op.drop_index("ix_touchpoint_members_subject", table_name="touchpoint_members")
    op.drop_table("touchpoint_members")
    op.drop_table("touchpoint_programmes")
    op.drop_index("ix_touchpoint_point_draws_award_key", table_name="touchpoint_point_draws")
    op.drop_table("touchpoint_point_draws")
    op.drop_index("ix_touchpoint_points_expires_at", table_name="touchpoint_points")
    op.drop_index("ix_touchpoint_points_batch_id", table_name="touchpoint_points")
    op.drop_index("ix_touchpoint_points_holder_brand_id", table_name="touchpoint_points")
    op.drop_table("touchpoint_points")
    for table in _PROJECTIONS:
        op.execute(sa.text(f"DELETE FROM {table}"))
    op.drop_index("ix_touchpoint_wallets_subject", table_name="touchpoint_wallets")
    with op.batch_alter_table("touchpoint_wallets") as batch:
        batch.drop_column("joined")
    with op.batch_alter_table("touchpoint_certificates") as batch:
        batch.drop_column("gift_index")
        batch.drop_column("gift_from")
        batch.drop_column("stored_since")
