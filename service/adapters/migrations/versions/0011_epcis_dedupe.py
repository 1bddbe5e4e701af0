"""EPCIS capture deduplicates per tenant: an event is known by (scope, eventID), and by its CBV
2.0 event hash where it came without an eventID. The scope is the capturer's brand (or its own
organisation without one), so one tenant's capture never learns another's ids.

Revision ID: 0011
Revises: 0005
Create Date: 2026-12-05 10:40:00
"""

from alembic import op
import sqlalchemy as sa


revision = "0011"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("epcis_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("scope_key", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("event_hash", sa.String(length=100), nullable=True))
    op.execute(
        "UPDATE epcis_events SET scope_key = CASE WHEN brand_id IS NOT NULL "
        "THEN 'brand:' || CAST(brand_id AS VARCHAR(20)) "
        "ELSE 'org:' || CAST(organisation_id AS VARCHAR(20)) END"
    )
    with op.batch_alter_table("epcis_events", schema=None) as batch_op:
        batch_op.alter_column("scope_key", existing_type=sa.String(length=32), nullable=False)
        batch_op.drop_constraint("uq_epcis_events_event_id", type_="unique")
        batch_op.create_unique_constraint(
            batch_op.f("uq_epcis_events_scope_key_event_id"), ["scope_key", "event_id"]
        )
        batch_op.create_index(
            batch_op.f("ix_epcis_events_scope_key_event_hash"), ["scope_key", "event_hash"]
        )


def downgrade() -> None:
    with op.batch_alter_table("epcis_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_epcis_events_scope_key_event_hash"))
        batch_op.drop_constraint(batch_op.f("uq_epcis_events_scope_key_event_id"), type_="unique")
        batch_op.create_unique_constraint(batch_op.f("uq_epcis_events_event_id"), ["event_id"])
        batch_op.drop_column("event_hash")
        batch_op.drop_column("scope_key")
