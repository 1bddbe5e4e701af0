"""Touchpoints I: the feed's checkpoints and the journey it builds (stages reached with their
earliest cause, and the facts it keeps of certificates, wallets and holdings). Every table is a
projection of the event log and the consumer-scan stream: ``tracecert touchpoints rebuild``
fills them again from scratch. An index on the log's type lets the feed read only its kinds of
entry.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 23:30:00
"""

from alembic import op
import sqlalchemy as sa


revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The feed reads the log's entries of a few types: by this index it skips the others (most
    # of the log is the channel's) without reading them.
    op.create_index("ix_events_type_log_index", "events", ["type", "log_index"])
    op.create_table(
        "touchpoint_checkpoints",
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("source", name=op.f("pk_touchpoint_checkpoints")),
    )
    op.create_table(
        "touchpoint_stages",
        sa.Column("brand_id", sa.Integer(), nullable=False),
        sa.Column("subject", sa.String(length=80), nullable=False),
        sa.Column("stage", sa.String(length=16), nullable=False),
        sa.Column("cause_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cause_source", sa.String(length=8), nullable=False),
        sa.Column("cause_position", sa.BigInteger(), nullable=False),
        sa.Column("region_code", sa.String(length=12), nullable=True),
        sa.Column("gtin", sa.String(length=14), nullable=True),
        sa.PrimaryKeyConstraint("brand_id", "subject", "stage", name=op.f("pk_touchpoint_stages")),
    )
    op.create_index(
        "ix_touchpoint_stages_brand_id_stage", "touchpoint_stages", ["brand_id", "stage"]
    )
    op.create_table(
        "touchpoint_certificates",
        sa.Column("certificate_id", sa.String(length=40), nullable=False),
        sa.Column("brand_id", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.String(length=26), nullable=False),
        sa.Column("gtin", sa.String(length=14), nullable=True),
        sa.Column("region_code", sa.String(length=12), nullable=True),
        sa.Column("holder", sa.String(length=80), nullable=True),
        sa.Column("pending_action", sa.String(length=24), nullable=True),
        sa.Column("pending_by", sa.String(length=80), nullable=True),
        sa.PrimaryKeyConstraint("certificate_id", name=op.f("pk_touchpoint_certificates")),
    )
    op.create_table(
        "touchpoint_wallets",
        sa.Column("address", sa.String(length=42), nullable=False),
        sa.Column("subject", sa.String(length=80), nullable=False),
        sa.PrimaryKeyConstraint("address", name=op.f("pk_touchpoint_wallets")),
    )
    op.create_table(
        "touchpoint_holdings",
        sa.Column("subject", sa.String(length=80), nullable=False),
        sa.Column("certificate_id", sa.String(length=40), nullable=False),
        sa.Column("brand_id", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.String(length=26), nullable=False),
        sa.Column("held_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("subject", "certificate_id", name=op.f("pk_touchpoint_holdings")),
    )
    op.create_index(
        "ix_touchpoint_holdings_brand_id_subject", "touchpoint_holdings", ["brand_id", "subject"]
    )


def downgrade() -> None:
    op.drop_index("ix_touchpoint_holdings_brand_id_subject", table_name="touchpoint_holdings")
    op.drop_table("touchpoint_holdings")
    op.drop_table("touchpoint_wallets")
    op.drop_table("touchpoint_certificates")
    op.drop_index("ix_touchpoint_stages_brand_id_stage", table_name="touchpoint_stages")
    op.drop_table("touchpoint_stages")
    op.drop_table("touchpoint_checkpoints")
    op.drop_index("ix_events_type_log_index", table_name="events")
