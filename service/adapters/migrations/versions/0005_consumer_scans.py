"""Consumer scans: every scan of a bottle's code through the verify and Digital Link routes,
with its region, a keyed hash of the device and the verdict (never a raw address).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 15:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "consumer_scans",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("scanned_at", TZ, nullable=False),
        sa.Column("region_code", sa.String(length=12), nullable=True),
        sa.Column("device_hash", sa.LargeBinary(length=16), nullable=False),
        sa.Column("verdict", sa.String(length=24), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["item_id"], ["items.id"], name=op.f("fk_consumer_scans_item_id_items")
        ),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["batches.id"], name=op.f("fk_consumer_scans_batch_id_batches")
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_consumer_scans_organisation_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consumer_scans")),
    )
    # The risk checks read one item's recent scans; auditors read a batch's.
    op.create_index(
        "ix_consumer_scans_item_id_scanned_at", "consumer_scans", ["item_id", "scanned_at"]
    )
    op.create_index(op.f("ix_consumer_scans_batch_id"), "consumer_scans", ["batch_id"])
    # A scan's journey lookup reads shipment lines by item and by case or pallet.
    op.create_index("ix_shipment_lines_unit_id", "shipment_lines", ["unit_id"])
    op.create_index("ix_shipment_lines_item_id", "shipment_lines", ["item_id"])


def downgrade() -> None:
    op.drop_index("ix_shipment_lines_item_id", table_name="shipment_lines")
    op.drop_index("ix_shipment_lines_unit_id", table_name="shipment_lines")
    op.drop_table("consumer_scans")
