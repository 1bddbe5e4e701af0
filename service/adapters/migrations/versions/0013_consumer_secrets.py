"""A gift names a recipient who has no account yet by a keyed hash of their phone or email
(``recipient_key``), so that a gift to a newcomer answers as one to a member (an invitation)
and shows as theirs once they sign up with that address. A sign-in code keeps the client
network that asked for it (``network``), for the per-network limit; ``created_at`` is indexed
for the overall budgets.

Revision ID: 0013
Revises: 0011
Create Date: 2026-12-06 02:10:00
"""

from alembic import op
import sqlalchemy as sa


revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("certificate_deals", schema=None) as batch_op:
        batch_op.add_column(sa.Column("recipient_key", sa.LargeBinary(length=32), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_certificate_deals_recipient_key"), ["recipient_key"], unique=False
        )
    with op.batch_alter_table("otp_challenges", schema=None) as batch_op:
        batch_op.add_column(sa.Column("network", sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f("ix_otp_challenges_network"), ["network"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_otp_challenges_created_at"), ["created_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("otp_challenges", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_otp_challenges_created_at"))
        batch_op.drop_index(batch_op.f("ix_otp_challenges_network"))
        batch_op.drop_column("network")
    with op.batch_alter_table("certificate_deals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_certificate_deals_recipient_key"))
        batch_op.drop_column("recipient_key")
