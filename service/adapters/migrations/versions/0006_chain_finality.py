"""Chain finality: the sender follows confirmed writes until they are final, and a confirmed
write that a reorg removed keeps the transaction and block it had been confirmed with.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05 10:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("final_at", TZ, nullable=True))
        batch.add_column(sa.Column("reorged_at", TZ, nullable=True))
        batch.add_column(sa.Column("reorged_tx_hash", sa.LargeBinary(length=32), nullable=True))
        batch.add_column(sa.Column("reorged_block_number", sa.BigInteger(), nullable=True))
    op.create_index("ix_outbox_status_final_at", "outbox", ["status", "final_at"])
    op.create_index("ix_outbox_status_nonce", "outbox", ["status", "nonce"])
    # Writes confirmed before this revision count as final: following all of history would cost
    # the first pass one read per block ever written to. `tracecert chain recheck` checks them.
    op.execute("UPDATE outbox SET final_at = updated_at WHERE status = 'confirmed'")


def downgrade() -> None:
    op.drop_index("ix_outbox_status_nonce", table_name="outbox")
    op.drop_index("ix_outbox_status_final_at", table_name="outbox")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("reorged_block_number")
        batch.drop_column("reorged_tx_hash")
        batch.drop_column("reorged_at")
        batch.drop_column("final_at")
