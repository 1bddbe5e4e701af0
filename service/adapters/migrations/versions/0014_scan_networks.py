"""Consumer scans record the keyed hash of the client's counting network and who vouches for
the scan (anonymous, a signed-in member, the owner): the risk rules count independent sources,
not free-to-forge cookies and regions (issue 12, item 9).

Rows written before have neither (read as anonymous scans whose source is their device).

Revision ID: 0014
Revises: 0011
Create Date: 2026-12-06 02:30:00
"""

from alembic import op
import sqlalchemy as sa


revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "consumer_scans", sa.Column("network_hash", sa.LargeBinary(length=16), nullable=True)
    )
    op.add_column("consumer_scans", sa.Column("witness", sa.String(length=10), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("consumer_scans") as batch:
        batch.drop_column("witness")
        batch.drop_column("network_hash")
