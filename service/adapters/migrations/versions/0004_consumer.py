"""Consumers: accounts with their wallets, one-time sign-in codes, sessions, certificates and
their history, and the wrong-PIN lockouts.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 12:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=40), nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("destination", sa.String(length=254), nullable=False),
        sa.Column("wallet_address", sa.String(length=42), nullable=False),
        sa.Column("custody", sa.String(length=16), nullable=False),
        sa.Column("sealed_key", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts")),
        sa.UniqueConstraint("public_id", name=op.f("uq_accounts_public_id")),
        sa.UniqueConstraint("destination", name=op.f("uq_accounts_destination")),
        sa.UniqueConstraint("wallet_address", name=op.f("uq_accounts_wallet_address")),
    )
    op.create_table(
        "otp_challenges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=40), nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("destination", sa.String(length=254), nullable=False),
        sa.Column("code_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("expires_at", TZ, nullable=False),
        sa.Column("consumed_at", TZ, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_otp_challenges")),
        sa.UniqueConstraint("public_id", name=op.f("uq_otp_challenges_public_id")),
    )
    op.create_index(op.f("ix_otp_challenges_destination"), "otp_challenges", ["destination"])
    op.create_table(
        "account_sessions",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("expires_at", TZ, nullable=False),
        sa.Column("revoked_at", TZ, nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_account_sessions_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account_sessions")),
    )
    op.create_index(op.f("ix_account_sessions_account_id"), "account_sessions", ["account_id"])
    op.create_table(
        "certificates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=40), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("token_id", sa.String(length=78), nullable=False),
        sa.Column("state", sa.String(length=24), nullable=False),
        sa.Column("owner_account_id", sa.Integer(), nullable=True),
        sa.Column("owner_address", sa.String(length=42), nullable=False),
        sa.Column("claimed_at", TZ, nullable=False),
        sa.Column("claim_region", sa.String(length=12), nullable=True),
        sa.Column("claim_outbox_id", sa.Integer(), nullable=True),
        sa.Column("claim_tx_hash", sa.LargeBinary(length=32), nullable=True),
        sa.Column("claim_block_number", sa.BigInteger(), nullable=True),
        sa.Column("confirmed_at", TZ, nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("owner_org_id", sa.Integer(), nullable=True),
        sa.Column("counterparty_org_id", sa.Integer(), nullable=True),
        sa.Column("locked_since", TZ, nullable=True),
        sa.ForeignKeyConstraint(
            ["item_id"], ["items.id"], name=op.f("fk_certificates_item_id_items")
        ),
        sa.ForeignKeyConstraint(
            ["owner_org_id"],
            ["organisations.id"],
            name=op.f("fk_certificates_owner_org_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["counterparty_org_id"],
            ["organisations.id"],
            name=op.f("fk_certificates_counterparty_org_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["batches.id"], name=op.f("fk_certificates_batch_id_batches")
        ),
        sa.ForeignKeyConstraint(
            ["owner_account_id"],
            ["accounts.id"],
            name=op.f("fk_certificates_owner_account_id_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["claim_outbox_id"], ["outbox.id"], name=op.f("fk_certificates_claim_outbox_id_outbox")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_certificates")),
        sa.UniqueConstraint("public_id", name=op.f("uq_certificates_public_id")),
        sa.UniqueConstraint("item_id", name=op.f("uq_certificates_item_id")),
        sa.UniqueConstraint("token_id", name=op.f("uq_certificates_token_id")),
    )
    op.create_index(op.f("ix_certificates_batch_id"), "certificates", ["batch_id"])
    op.create_index(op.f("ix_certificates_state"), "certificates", ["state"])
    op.create_index(op.f("ix_certificates_owner_account_id"), "certificates", ["owner_account_id"])
    op.create_index(op.f("ix_certificates_claim_outbox_id"), "certificates", ["claim_outbox_id"])
    op.create_index(op.f("ix_certificates_owner_org_id"), "certificates", ["owner_org_id"])
    op.create_index(
        op.f("ix_certificates_counterparty_org_id"), "certificates", ["counterparty_org_id"]
    )
    op.create_table(
        "certificate_deals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=40), nullable=False),
        sa.Column("certificate_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("counterparty_org_id", sa.Integer(), nullable=True),
        sa.Column("recipient_account_id", sa.Integer(), nullable=True),
        sa.Column("secret_hash", sa.LargeBinary(length=32), nullable=True),
        sa.Column("claim_key_address", sa.String(length=42), nullable=True),
        sa.Column("sealed_claim_key", sa.LargeBinary(), nullable=True),
        sa.Column("gift_nonce", sa.BigInteger(), nullable=True),
        sa.Column("expires_at", TZ, nullable=True),
        sa.Column("terms", sa.JSON(), nullable=False),
        sa.Column("sealed_details", sa.LargeBinary(), nullable=True),
        sa.Column("origin_state", sa.String(length=24), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("settled_at", TZ, nullable=True),
        sa.ForeignKeyConstraint(
            ["certificate_id"],
            ["certificates.id"],
            name=op.f("fk_certificate_deals_certificate_id_certificates"),
        ),
        sa.ForeignKeyConstraint(
            ["counterparty_org_id"],
            ["organisations.id"],
            name=op.f("fk_certificate_deals_counterparty_org_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["recipient_account_id"],
            ["accounts.id"],
            name=op.f("fk_certificate_deals_recipient_account_id_accounts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_certificate_deals")),
        sa.UniqueConstraint("public_id", name=op.f("uq_certificate_deals_public_id")),
        sa.UniqueConstraint("secret_hash", name=op.f("uq_certificate_deals_secret_hash")),
    )
    for column in ("certificate_id", "status", "counterparty_org_id", "recipient_account_id"):
        op.create_index(
            op.f(f"ix_certificate_deals_{column}"), "certificate_deals", [column]
        )
    op.create_table(
        "organisation_wallets",
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(length=42), nullable=False),
        sa.Column("sealed_key", sa.LargeBinary(), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=True),
        sa.Column("grant_outbox_id", sa.Integer(), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_organisation_wallets_organisation_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["grant_outbox_id"],
            ["outbox.id"],
            name=op.f("fk_organisation_wallets_grant_outbox_id_outbox"),
        ),
        sa.PrimaryKeyConstraint("organisation_id", name=op.f("pk_organisation_wallets")),
        sa.UniqueConstraint("address", name=op.f("uq_organisation_wallets_address")),
    )
    op.create_table(
        "wallet_nonces",
        sa.Column("address", sa.String(length=42), nullable=False),
        sa.Column("next_nonce", sa.BigInteger(), nullable=False),
        sa.Column("last_outbox_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["last_outbox_id"], ["outbox.id"], name=op.f("fk_wallet_nonces_last_outbox_id_outbox")
        ),
        sa.PrimaryKeyConstraint("address", name=op.f("pk_wallet_nonces")),
    )
    op.create_table(
        "certificate_actions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("certificate_id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=24), nullable=False),
        sa.Column("from_state", sa.String(length=24), nullable=True),
        sa.Column("to_state", sa.String(length=24), nullable=False),
        sa.Column("principal_id", sa.String(length=80), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("outbox_id", sa.Integer(), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("settled_at", TZ, nullable=True),
        sa.Column("deal_id", sa.Integer(), nullable=True),
        sa.Column("signer", sa.String(length=42), nullable=True),
        sa.Column("nonce", sa.BigInteger(), nullable=True),
        sa.Column("undo", sa.JSON(), nullable=True),
        sa.Column("version_after", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["certificate_id"],
            ["certificates.id"],
            name=op.f("fk_certificate_actions_certificate_id_certificates"),
        ),
        sa.ForeignKeyConstraint(
            ["deal_id"],
            ["certificate_deals.id"],
            name=op.f("fk_certificate_actions_deal_id_certificate_deals"),
        ),
        sa.ForeignKeyConstraint(
            ["outbox_id"], ["outbox.id"], name=op.f("fk_certificate_actions_outbox_id_outbox")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_certificate_actions")),
    )
    op.create_index(
        op.f("ix_certificate_actions_certificate_id"), "certificate_actions", ["certificate_id"]
    )
    op.create_index(op.f("ix_certificate_actions_status"), "certificate_actions", ["status"])
    op.create_index(op.f("ix_certificate_actions_outbox_id"), "certificate_actions", ["outbox_id"])
    op.create_index(op.f("ix_certificate_actions_deal_id"), "certificate_actions", ["deal_id"])
    op.create_table(
        "vouchers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=40), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("certificate_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("signer", sa.String(length=42), nullable=False),
        sa.Column("nonce", sa.BigInteger(), nullable=False),
        sa.Column("deadline", sa.BigInteger(), nullable=False),
        sa.Column("typed_data", sa.JSON(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("used_at", TZ, nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_vouchers_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["certificate_id"],
            ["certificates.id"],
            name=op.f("fk_vouchers_certificate_id_certificates"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vouchers")),
        sa.UniqueConstraint("public_id", name=op.f("uq_vouchers_public_id")),
    )
    op.create_index(op.f("ix_vouchers_account_id"), "vouchers", ["account_id"])
    op.create_index(op.f("ix_vouchers_certificate_id"), "vouchers", ["certificate_id"])
    op.create_table(
        "pin_guards",
        sa.Column("subject", sa.String(length=80), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("locked_until", TZ, nullable=True),
        sa.Column("updated_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("subject", name=op.f("pk_pin_guards")),
    )


def downgrade() -> None:
    for table in (
        "pin_guards",
        "vouchers",
        "certificate_actions",
        "wallet_nonces",
        "organisation_wallets",
        "certificate_deals",
        "certificates",
        "account_sessions",
        "otp_challenges",
        "accounts",
    ):
        op.drop_table(table)
