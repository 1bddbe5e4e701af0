"""Consumer sessions refresh: a short-lived access token (JWT) and a rotating refresh token, of
which a session keeps only the SHA-256 of the current one (reuse of an old one ends it).

Revision ID: 0015
Revises: 0011
Create Date: 2026-12-06 02:40:00
"""

from alembic import op
import sqlalchemy as sa


revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("account_sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("refresh_hash", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("account_sessions", schema=None) as batch_op:
        batch_op.drop_column("refresh_hash")
