"""Tenant authorisations: the GS1 company prefixes each brand holds (its GTINs fall within
them) and the partners each brand authorises (store, custodian, pledgee, attestor).

Existing brands keep working: each gets its own SSCC prefix if it recorded one, else the
configured ``TRACECERT_GS1_COMPANY_PREFIX`` when it is the only brand; and every product it
registered already that falls outside those gets the GTIN's 12-digit prefix (exactly that
product), until the admin records the prefix GS1 assigned. A partner that attested a brand's
batch, or holds a deal (pledge, custody, redemption) on one of its bottles, stays authorised by
that brand in that role.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 02:20:00
"""

import os
from datetime import UTC, datetime

from alembic import op
import sqlalchemy as sa


revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "company_prefixes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("prefix", sa.String(length=12), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_company_prefixes_organisation_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_company_prefixes")),
        sa.UniqueConstraint("prefix", name=op.f("uq_company_prefixes_prefix")),
    )
    op.create_index(
        op.f("ix_company_prefixes_organisation_id"), "company_prefixes", ["organisation_id"]
    )
    op.create_table(
        "brand_partners",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("brand_id", sa.Integer(), nullable=False),
        sa.Column("partner_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["brand_id"], ["organisations.id"], name=op.f("fk_brand_partners_brand_id_organisations")
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["organisations.id"],
            name=op.f("fk_brand_partners_partner_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_brand_partners")),
        sa.UniqueConstraint(
            "brand_id", "partner_id", "role", name=op.f("uq_brand_partners_brand_id_partner_id_role")
        ),
    )
    op.create_index(op.f("ix_brand_partners_brand_id"), "brand_partners", ["brand_id"])
    op.create_index(op.f("ix_brand_partners_partner_id"), "brand_partners", ["partner_id"])
    _seed()


_PREFIXES = sa.table(
    "company_prefixes",
    sa.column("prefix", sa.String),
    sa.column("organisation_id", sa.Integer),
    sa.column("created_at", sa.DateTime(timezone=True)),
)
_PARTNERS = sa.table(
    "brand_partners",
    sa.column("brand_id", sa.Integer),
    sa.column("partner_id", sa.Integer),
    sa.column("role", sa.String),
    sa.column("created_at", sa.DateTime(timezone=True)),
)


def _seed() -> None:
    bind = op.get_bind()
    now = datetime.now(UTC)
    brands = bind.execute(
        sa.text("SELECT id, gs1_company_prefix FROM organisations WHERE kind = 'brand' ORDER BY id")
    ).all()
    default = os.environ.get("TRACECERT_GS1_COMPANY_PREFIX", "0614141")
    taken: set[str] = set()
    prefixes: list[tuple[str, int]] = []
    for brand_id, own in brands:
        prefix = own or (default if len(brands) == 1 else None)
        if prefix and prefix not in taken:
            taken.add(prefix)
            prefixes.append((prefix, brand_id))
    held: dict[int, list[str]] = {}
    for prefix, brand_id in prefixes:
        held.setdefault(brand_id, []).append(prefix)
    products = bind.execute(sa.text("SELECT gtin, brand_id FROM products ORDER BY id")).all()
    for gtin, brand_id in products:
        body = gtin[1:]
        if any(body.startswith(p) for p in held.get(brand_id, [])):
            continue
        if body[:12] not in taken:
            taken.add(body[:12])
            prefixes.append((body[:12], brand_id))
            held.setdefault(brand_id, []).append(body[:12])
    op.bulk_insert(
        _PREFIXES,
        [{"prefix": p, "organisation_id": b, "created_at": now} for p, b in prefixes],
    )
    attested = bind.execute(
        sa.text(
            "SELECT DISTINCT b.brand_id, a.organisation_id FROM attestations a "
            "JOIN batches b ON b.id = a.batch_id WHERE b.brand_id IS NOT NULL"
        )
    ).all()
    dealt = bind.execute(
        sa.text(
            "SELECT DISTINCT b.brand_id, d.counterparty_org_id, o.kind FROM certificate_deals d "
            "JOIN certificates c ON c.id = d.certificate_id JOIN batches b ON b.id = c.batch_id "
            "JOIN organisations o ON o.id = d.counterparty_org_id "
            "WHERE b.brand_id IS NOT NULL AND o.kind IN ('store', 'custodian', 'pledgee')"
        )
    ).all()
    partners = {(b, p, "attestor") for b, p in attested} | {(b, p, k) for b, p, k in dealt}
    op.bulk_insert(
        _PARTNERS,
        [
            {"brand_id": b, "partner_id": p, "role": r, "created_at": now}
            for b, p, r in sorted(partners)
        ],
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_brand_partners_partner_id"), table_name="brand_partners")
    op.drop_index(op.f("ix_brand_partners_brand_id"), table_name="brand_partners")
    op.drop_table("brand_partners")
    op.drop_index(op.f("ix_company_prefixes_organisation_id"), table_name="company_prefixes")
    op.drop_table("company_prefixes")
