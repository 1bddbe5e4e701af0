"""Scanner device sessions: the scanner page trades an API key for a short-lived token scoped to
scanning; only the token's SHA-256 is kept, with its key, organisation, expiry and end.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 03:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = "0016"
# Chained after 0015 (consumer session refresh, on the branch this one started from) so that
# the branch has a single head; the lead re-chains the numbers at merge.
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "scanner_sessions",
        sa.Column("id", sa.String(length=16), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["key_id"], ["api_keys.key_id"], name=op.f("fk_scanner_sessions_key_id_api_keys")
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_scanner_sessions_organisation_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scanner_sessions")),
    )
    op.create_index(op.f("ix_scanner_sessions_key_id"), "scanner_sessions", ["key_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_scanner_sessions_key_id"), table_name="scanner_sessions")
    op.drop_table("scanner_sessions")
