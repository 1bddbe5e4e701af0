"""Consumer scans get a unique scan id, so a replay of scans spilled to disk while the database
was away writes each of them exactly once (a crash between the replay's commit and the spill
file's removal, or a commit whose answer was lost, must not duplicate rows).

Rows written before have none (NULLs never collide in a unique index, on SQLite and PostgreSQL).

Revision ID: 0009
Revises: 0005
Create Date: 2026-12-05 10:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = "0009"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "consumer_scans", sa.Column("scan_id", sa.LargeBinary(length=16), nullable=True)
    )
    op.create_index(
        "uq_consumer_scans_scan_id", "consumer_scans", ["scan_id"], unique=True
    )


def downgrade() -> None:
    op.drop_index("uq_consumer_scans_scan_id", table_name="consumer_scans")
    with op.batch_alter_table("consumer_scans") as batch:
        batch.drop_column("scan_id")
