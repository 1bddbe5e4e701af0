"""Factory: products, production batches, cases and pallets, codes with PIN hashes, stored
batch trees, SSCC counters, code-file audit, attestations, alerts, outbox dependencies.

Batches of the thin flow (status ``created``, no product) stay readable: their status becomes
``activated`` (they could be anchored as they were), their items keep their leaves, and their
tree levels are built here.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 09:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("organisations") as b:
        b.add_column(sa.Column("brand_id", sa.Integer(), nullable=True))
        b.add_column(sa.Column("gs1_company_prefix", sa.String(length=12), nullable=True))
        b.create_foreign_key(
            b.f("fk_organisations_brand_id_organisations"), "organisations", ["brand_id"], ["id"]
        )
        b.create_index(b.f("ix_organisations_brand_id"), ["brand_id"], unique=False)

    with op.batch_alter_table("outbox") as b:
        b.add_column(sa.Column("depends_on", sa.Integer(), nullable=True))
        b.create_foreign_key(b.f("fk_outbox_depends_on_outbox"), "outbox", ["depends_on"], ["id"])

    op.create_table(
        "products",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("gtin", sa.String(length=14), nullable=False),
        sa.Column("brand_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["brand_id"], ["organisations.id"], name=op.f("fk_products_brand_id_organisations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_products")),
        sa.UniqueConstraint("gtin", name=op.f("uq_products_gtin")),
    )
    op.create_index(op.f("ix_products_brand_id"), "products", ["brand_id"], unique=False)

    with op.batch_alter_table("batches") as b:
        b.add_column(sa.Column("brand_id", sa.Integer(), nullable=True))
        b.add_column(sa.Column("product_id", sa.Integer(), nullable=True))
        b.add_column(sa.Column("gtin", sa.String(length=14), nullable=True))
        b.add_column(sa.Column("production_date", sa.Date(), nullable=True))
        b.add_column(sa.Column("line", sa.String(length=64), nullable=True))
        b.add_column(
            sa.Column("planned_quantity", sa.Integer(), nullable=False, server_default="0")
        )
        b.add_column(sa.Column("case_size", sa.Integer(), nullable=False, server_default="0"))
        b.add_column(
            sa.Column("cases_per_pallet", sa.Integer(), nullable=False, server_default="0")
        )
        b.add_column(sa.Column("pin_seed_sealed", sa.LargeBinary(), nullable=True))
        b.add_column(sa.Column("recall_reason", sa.Text(), nullable=True))
        b.add_column(sa.Column("recalled_at", sa.DateTime(timezone=True), nullable=True))
        b.add_column(sa.Column("recall_outbox_id", sa.Integer(), nullable=True))
        b.alter_column("root", existing_type=sa.LargeBinary(length=32), nullable=True)
        b.create_foreign_key(
            b.f("fk_batches_brand_id_organisations"), "organisations", ["brand_id"], ["id"]
        )
        b.create_foreign_key(
            b.f("fk_batches_product_id_products"), "products", ["product_id"], ["id"]
        )
        b.create_foreign_key(
            b.f("fk_batches_recall_outbox_id_outbox"), "outbox", ["recall_outbox_id"], ["id"]
        )
        b.create_index(b.f("ix_batches_brand_id"), ["brand_id"], unique=False)
        b.create_unique_constraint(b.f("uq_batches_product_id_lot"), ["product_id", "lot"])
    op.execute("UPDATE batches SET status = 'activated' WHERE status = 'created'")

    op.create_table(
        "logistic_units",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sscc", sa.String(length=18), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=True),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("activated_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["batches.id"], name=op.f("fk_logistic_units_batch_id_batches")
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["logistic_units.id"],
            name=op.f("fk_logistic_units_parent_id_logistic_units"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_logistic_units")),
        sa.UniqueConstraint("sscc", name=op.f("uq_logistic_units_sscc")),
    )
    op.create_index(op.f("ix_logistic_units_batch_id"), "logistic_units", ["batch_id"])
    op.create_index(op.f("ix_logistic_units_parent_id"), "logistic_units", ["parent_id"])

    with op.batch_alter_table("items") as b:
        b.drop_constraint("uq_items_item_id", type_="unique")
        b.drop_constraint("uq_items_token_id", type_="unique")
        b.alter_column("item_id", new_column_name="serial", existing_type=sa.String(length=64))
        b.drop_column("token_id")
        b.add_column(sa.Column("case_id", sa.Integer(), nullable=True))
        b.add_column(sa.Column("pin_hash", sa.LargeBinary(length=32), nullable=True))
    # A second batch: SQLite's table copy drops a constraint on a column renamed in the same one.
    with op.batch_alter_table("items") as b:
        b.create_unique_constraint(b.f("uq_items_serial"), ["serial"])
        b.create_foreign_key(
            b.f("fk_items_case_id_logistic_units"), "logistic_units", ["case_id"], ["id"]
        )
        b.create_index(b.f("ix_items_case_id"), ["case_id"], unique=False)

    op.create_table(
        "batch_tree_levels",
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("level", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("nodes", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["batches.id"], name=op.f("fk_batch_tree_levels_batch_id_batches")
        ),
        sa.PrimaryKeyConstraint("batch_id", "level", name=op.f("pk_batch_tree_levels")),
    )
    _build_levels_of_existing_batches()

    op.create_table(
        "sscc_counters",
        sa.Column("company_prefix", sa.String(length=12), nullable=False),
        sa.Column("next_reference", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("company_prefix", name=op.f("pk_sscc_counters")),
    )
    op.create_table(
        "code_file_approvals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("approved_by", sa.String(length=80), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["batches.id"], name=op.f("fk_code_file_approvals_batch_id_batches")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_code_file_approvals")),
    )
    op.create_index(op.f("ix_code_file_approvals_batch_id"), "code_file_approvals", ["batch_id"])
    op.create_table(
        "code_file_downloads",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("principal_id", sa.String(length=80), nullable=False),
        sa.Column("approval_id", sa.Integer(), nullable=True),
        sa.Column("downloaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["batches.id"], name=op.f("fk_code_file_downloads_batch_id_batches")
        ),
        sa.ForeignKeyConstraint(
            ["approval_id"],
            ["code_file_approvals.id"],
            name=op.f("fk_code_file_downloads_approval_id_code_file_approvals"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_code_file_downloads")),
        sa.UniqueConstraint("approval_id", name=op.f("uq_code_file_downloads_approval_id")),
    )
    op.create_index(op.f("ix_code_file_downloads_batch_id"), "code_file_downloads", ["batch_id"])
    op.create_table(
        "attestations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("report_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("uri", sa.String(length=2000), nullable=False),
        sa.Column("outbox_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["batches.id"], name=op.f("fk_attestations_batch_id_batches")
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_attestations_organisation_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["outbox_id"], ["outbox.id"], name=op.f("fk_attestations_outbox_id_outbox")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attestations")),
        sa.UniqueConstraint("outbox_id", name=op.f("uq_attestations_outbox_id")),
    )
    op.create_index(op.f("ix_attestations_batch_id"), "attestations", ["batch_id"])
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("dedupe_key", sa.String(length=200), nullable=False),
        sa.Column("brand_id", sa.Integer(), nullable=True),
        sa.Column("batch_id", sa.Integer(), nullable=True),
        sa.Column("serial", sa.String(length=64), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["brand_id"], ["organisations.id"], name=op.f("fk_alerts_brand_id_organisations")
        ),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["batches.id"], name=op.f("fk_alerts_batch_id_batches")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_alerts_dedupe_key")),
    )
    op.create_index(op.f("ix_alerts_brand_id"), "alerts", ["brand_id"])


def _build_levels_of_existing_batches() -> None:
    """Store the tree levels of batches made before trees were stored."""
    from chain.merkle import BatchTree

    bind = op.get_bind()
    batches = [row[0] for row in bind.execute(sa.text("SELECT id FROM batches ORDER BY id"))]
    for batch_id in batches:
        leaves = [
            bytes(row[0])
            for row in bind.execute(
                sa.text("SELECT leaf FROM items WHERE batch_id = :b ORDER BY leaf_index"),
                {"b": batch_id},
            )
        ]
        if not leaves:
            continue
        tree = BatchTree(leaves)
        for level, nodes in enumerate(tree.levels()[1:], start=1):
            bind.execute(
                sa.text(
                    "INSERT INTO batch_tree_levels (batch_id, level, nodes) VALUES (:b, :l, :n)"
                ),
                {"b": batch_id, "l": level, "n": b"".join(nodes)},
            )


def downgrade() -> None:
    for table in (
        "alerts",
        "attestations",
        "code_file_downloads",
        "code_file_approvals",
        "sscc_counters",
        "batch_tree_levels",
    ):
        op.drop_table(table)
    op.execute("DELETE FROM items WHERE case_id IS NOT NULL OR pin_hash IS NOT NULL")
    with op.batch_alter_table("items") as b:
        b.drop_index("ix_items_case_id")
        b.drop_constraint("fk_items_case_id_logistic_units", type_="foreignkey")
        b.drop_constraint("uq_items_serial", type_="unique")
        b.drop_column("pin_hash")
        b.drop_column("case_id")
        b.alter_column("serial", new_column_name="item_id", existing_type=sa.String(length=64))
        b.add_column(sa.Column("token_id", sa.String(length=78), nullable=True))
    _fill_token_ids()
    with op.batch_alter_table("items") as b:
        b.alter_column("token_id", existing_type=sa.String(length=78), nullable=False)
        b.create_unique_constraint("uq_items_item_id", ["item_id"])
        b.create_unique_constraint("uq_items_token_id", ["token_id"])
    op.drop_table("logistic_units")
    op.execute("DELETE FROM batches WHERE product_id IS NOT NULL")
    op.execute("UPDATE batches SET status = 'created' WHERE status = 'activated'")
    with op.batch_alter_table("batches") as b:
        b.drop_constraint("uq_batches_product_id_lot", type_="unique")
        b.drop_index("ix_batches_brand_id")
        b.drop_constraint("fk_batches_recall_outbox_id_outbox", type_="foreignkey")
        b.drop_constraint("fk_batches_product_id_products", type_="foreignkey")
        b.drop_constraint("fk_batches_brand_id_organisations", type_="foreignkey")
        for column in (
            "recall_outbox_id",
            "recalled_at",
            "recall_reason",
            "pin_seed_sealed",
            "cases_per_pallet",
            "case_size",
            "planned_quantity",
            "line",
            "production_date",
            "gtin",
            "product_id",
            "brand_id",
        ):
            b.drop_column(column)
        b.alter_column("root", existing_type=sa.LargeBinary(length=32), nullable=False)
    op.drop_index(op.f("ix_products_brand_id"), table_name="products")
    op.drop_table("products")
    with op.batch_alter_table("outbox") as b:
        b.drop_constraint("fk_outbox_depends_on_outbox", type_="foreignkey")
        b.drop_column("depends_on")
    with op.batch_alter_table("organisations") as b:
        b.drop_index("ix_organisations_brand_id")
        b.drop_constraint("fk_organisations_brand_id_organisations", type_="foreignkey")
        b.drop_column("gs1_company_prefix")
        b.drop_column("brand_id")


def _fill_token_ids() -> None:
    from eth_hash.auto import keccak

    bind = op.get_bind()
    rows = list(bind.execute(sa.text("SELECT id, item_id FROM items")))
    for row_id, item_id in rows:
        token = int.from_bytes(keccak(item_id.encode("ascii")), "big")
        bind.execute(
            sa.text("UPDATE items SET token_id = :t WHERE id = :i"), {"t": str(token), "i": row_id}
        )
