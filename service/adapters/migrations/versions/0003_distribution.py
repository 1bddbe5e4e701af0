"""Distribution: regions (GB/T 2260 loaded here), channel parents, territories, sites, custody
of cases, pallets and loose items, shipments and their lines, scan events, diversion alerts.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 10:00:00
"""

from typing import Any

from alembic import op
import sqlalchemy as sa


revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "regions",
        sa.Column("code", sa.String(length=12), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("parent_code", sa.String(length=12), nullable=True),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["parent_code"], ["regions.code"], name=op.f("fk_regions_parent_code_regions")
        ),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_regions")),
    )
    op.create_index(op.f("ix_regions_parent_code"), "regions", ["parent_code"])
    _load_gb2260()

    op.create_table(
        "territories",
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("region_code", sa.String(length=12), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_territories_organisation_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["region_code"], ["regions.code"], name=op.f("fk_territories_region_code_regions")
        ),
        sa.PrimaryKeyConstraint("organisation_id", "region_code", name=op.f("pk_territories")),
    )
    op.create_table(
        "sites",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("region_code", sa.String(length=12), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_sites_organisation_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["region_code"], ["regions.code"], name=op.f("fk_sites_region_code_regions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sites")),
        sa.UniqueConstraint("organisation_id", "name", name=op.f("uq_sites_organisation_id_name")),
    )
    op.create_index(op.f("ix_sites_organisation_id"), "sites", ["organisation_id"])
    op.create_table(
        "shipments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=26), nullable=False),
        sa.Column("ref", sa.String(length=64), nullable=False),
        sa.Column("sender_id", sa.Integer(), nullable=False),
        sa.Column("receiver_id", sa.Integer(), nullable=False),
        sa.Column("sender_site_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("dispatched_at", TZ, nullable=False),
        sa.Column("received_at", TZ, nullable=True),
        sa.Column("dispatched_lines", sa.Integer(), nullable=False),
        sa.Column("received_lines", sa.Integer(), nullable=False),
        sa.Column("extra_lines", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["sender_id"], ["organisations.id"], name=op.f("fk_shipments_sender_id_organisations")
        ),
        sa.ForeignKeyConstraint(
            ["receiver_id"],
            ["organisations.id"],
            name=op.f("fk_shipments_receiver_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["sender_site_id"], ["sites.id"], name=op.f("fk_shipments_sender_site_id_sites")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shipments")),
        sa.UniqueConstraint("public_id", name=op.f("uq_shipments_public_id")),
        sa.UniqueConstraint("sender_id", "ref", name=op.f("uq_shipments_sender_id_ref")),
    )
    op.create_index(op.f("ix_shipments_sender_id"), "shipments", ["sender_id"])
    op.create_index(op.f("ix_shipments_receiver_id"), "shipments", ["receiver_id"])
    op.create_table(
        "shipment_lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shipment_id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=True),
        sa.Column("item_id", sa.Integer(), nullable=True),
        sa.Column("items", sa.Integer(), nullable=False),
        sa.Column("dispatched", sa.Boolean(), nullable=False),
        sa.Column("received_at", TZ, nullable=True),
        sa.Column("receipt_site_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["shipment_id"], ["shipments.id"], name=op.f("fk_shipment_lines_shipment_id_shipments")
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"],
            ["logistic_units.id"],
            name=op.f("fk_shipment_lines_unit_id_logistic_units"),
        ),
        sa.ForeignKeyConstraint(
            ["item_id"], ["items.id"], name=op.f("fk_shipment_lines_item_id_items")
        ),
        sa.ForeignKeyConstraint(
            ["receipt_site_id"], ["sites.id"], name=op.f("fk_shipment_lines_receipt_site_id_sites")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shipment_lines")),
        sa.UniqueConstraint(
            "shipment_id", "unit_id", name=op.f("uq_shipment_lines_shipment_id_unit_id")
        ),
        sa.UniqueConstraint(
            "shipment_id", "item_id", name=op.f("uq_shipment_lines_shipment_id_item_id")
        ),
    )
    op.create_index(op.f("ix_shipment_lines_shipment_id"), "shipment_lines", ["shipment_id"])
    op.create_table(
        "scan_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("client_event_id", sa.String(length=64), nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=True),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("code", sa.String(length=512), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=True),
        sa.Column("item_id", sa.Integer(), nullable=True),
        sa.Column("site_id", sa.Integer(), nullable=True),
        sa.Column("region_code", sa.String(length=12), nullable=True),
        sa.Column("shipment_ref", sa.String(length=64), nullable=True),
        sa.Column("receiver_id", sa.Integer(), nullable=True),
        sa.Column("shipment_id", sa.Integer(), nullable=True),
        sa.Column("event_time", TZ, nullable=False),
        sa.Column("recorded_at", TZ, nullable=False),
        sa.Column("request_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_scan_events_organisation_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["logistic_units.id"], name=op.f("fk_scan_events_unit_id_logistic_units")
        ),
        sa.ForeignKeyConstraint(["item_id"], ["items.id"], name=op.f("fk_scan_events_item_id_items")),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name=op.f("fk_scan_events_site_id_sites")),
        sa.ForeignKeyConstraint(
            ["region_code"], ["regions.code"], name=op.f("fk_scan_events_region_code_regions")
        ),
        sa.ForeignKeyConstraint(
            ["receiver_id"],
            ["organisations.id"],
            name=op.f("fk_scan_events_receiver_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["shipment_id"], ["shipments.id"], name=op.f("fk_scan_events_shipment_id_shipments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scan_events")),
        sa.UniqueConstraint(
            "organisation_id",
            "client_event_id",
            name=op.f("uq_scan_events_organisation_id_client_event_id"),
        ),
    )
    op.create_index(op.f("ix_scan_events_unit_id"), "scan_events", ["unit_id"])
    op.create_index(op.f("ix_scan_events_item_id"), "scan_events", ["item_id"])
    op.create_index(op.f("ix_scan_events_event_time"), "scan_events", ["event_time"])
    op.create_index(op.f("ix_scan_events_outcome"), "scan_events", ["outcome"])

    op.create_table(
        "epcis_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.String(length=300), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("brand_id", sa.Integer(), nullable=True),
        sa.Column("event_time", TZ, nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("recorded_at", TZ, nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_epcis_events_organisation_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["brand_id"], ["organisations.id"], name=op.f("fk_epcis_events_brand_id_organisations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_epcis_events")),
        sa.UniqueConstraint("event_id", name=op.f("uq_epcis_events_event_id")),
    )
    op.create_index(op.f("ix_epcis_events_organisation_id"), "epcis_events", ["organisation_id"])
    op.create_index(op.f("ix_epcis_events_event_time"), "epcis_events", ["event_time"])
    op.create_table(
        "epcis_event_epcs",
        sa.Column("event_pk", sa.Integer(), nullable=False),
        sa.Column("epc", sa.String(length=300), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_pk"], ["epcis_events.id"], name=op.f("fk_epcis_event_epcs_event_pk_epcis_events")
        ),
        sa.PrimaryKeyConstraint("event_pk", "epc", name=op.f("pk_epcis_event_epcs")),
    )
    op.create_index(op.f("ix_epcis_event_epcs_epc"), "epcis_event_epcs", ["epc"])

    with op.batch_alter_table("batches") as b:
        b.add_column(sa.Column("generated_at", TZ, nullable=True))

    with op.batch_alter_table("organisations") as b:
        b.add_column(sa.Column("channel_parent_id", sa.Integer(), nullable=True))
        b.create_foreign_key(
            b.f("fk_organisations_channel_parent_id_organisations"),
            "organisations",
            ["channel_parent_id"],
            ["id"],
        )
        b.create_index(b.f("ix_organisations_channel_parent_id"), ["channel_parent_id"])

    with op.batch_alter_table("logistic_units") as b:
        for column in _custody_columns(index_holder=True, opened=True):
            b.add_column(column)
    with op.batch_alter_table("logistic_units") as b:
        _custody_constraints(b, "logistic_units")
        b.create_index(b.f("ix_logistic_units_holder_id"), ["holder_id"])
        b.create_index(b.f("ix_logistic_units_shipment_id"), ["shipment_id"])
    # How many items each case (and pallet) holds, so scans need not count them.
    op.execute(
        "UPDATE logistic_units SET items = (SELECT count(*) FROM items "
        "WHERE items.case_id = logistic_units.id) WHERE kind = 'case'"
    )
    op.execute(
        "UPDATE logistic_units SET items = (SELECT coalesce(sum(c.items), 0) FROM logistic_units c "
        "WHERE c.parent_id = logistic_units.id) WHERE kind = 'pallet'"
    )
    # Everything made so far is at the factory that made it.
    op.execute(
        "UPDATE logistic_units SET holder_id = (SELECT organisation_id FROM batches "
        "WHERE batches.id = logistic_units.batch_id), authorised_id = (SELECT organisation_id "
        "FROM batches WHERE batches.id = logistic_units.batch_id) WHERE batch_id IS NOT NULL"
    )

    with op.batch_alter_table("items") as b:
        for column in _custody_columns(index_holder=False, opened=False):
            b.add_column(column)
    with op.batch_alter_table("items") as b:
        _custody_constraints(b, "items")

    with op.batch_alter_table("alerts") as b:
        b.add_column(sa.Column("responsible_id", sa.Integer(), nullable=True))
        b.add_column(sa.Column("scanner_id", sa.Integer(), nullable=True))
        b.add_column(sa.Column("shipment_id", sa.Integer(), nullable=True))
        b.add_column(sa.Column("note", sa.Text(), nullable=True))
        b.add_column(sa.Column("updated_at", TZ, nullable=True))
    with op.batch_alter_table("alerts") as b:
        b.create_foreign_key(
            b.f("fk_alerts_responsible_id_organisations"), "organisations", ["responsible_id"], ["id"]
        )
        b.create_foreign_key(
            b.f("fk_alerts_scanner_id_organisations"), "organisations", ["scanner_id"], ["id"]
        )
        b.create_foreign_key(b.f("fk_alerts_shipment_id_shipments"), "shipments", ["shipment_id"], ["id"])
        b.create_index(b.f("ix_alerts_responsible_id"), ["responsible_id"])
        b.create_index(b.f("ix_alerts_scanner_id"), ["scanner_id"])


def _custody_columns(index_holder: bool, opened: bool) -> list[sa.Column[Any]]:
    columns: list[sa.Column[Any]] = [
        sa.Column("holder_id", sa.Integer(), nullable=True),
        sa.Column("authorised_id", sa.Integer(), nullable=True),
        sa.Column("holder_site_id", sa.Integer(), nullable=True),
        sa.Column("holder_since", TZ, nullable=True),
        sa.Column("shipment_id", sa.Integer(), nullable=True),
        sa.Column("alert_id", sa.Integer(), nullable=True),
    ]
    if opened:
        columns.append(sa.Column("opened_at", TZ, nullable=True))
        columns.append(sa.Column("items", sa.Integer(), nullable=False, server_default="0"))
    return columns


def _custody_constraints(b: Any, table: str) -> None:
    b.create_foreign_key(b.f(f"fk_{table}_holder_id_organisations"), "organisations", ["holder_id"], ["id"])
    b.create_foreign_key(
        b.f(f"fk_{table}_authorised_id_organisations"), "organisations", ["authorised_id"], ["id"]
    )
    b.create_foreign_key(b.f(f"fk_{table}_holder_site_id_sites"), "sites", ["holder_site_id"], ["id"])
    b.create_foreign_key(b.f(f"fk_{table}_shipment_id_shipments"), "shipments", ["shipment_id"], ["id"])
    b.create_foreign_key(b.f(f"fk_{table}_alert_id_alerts"), "alerts", ["alert_id"], ["id"])


def _load_gb2260() -> None:
    from service.adapters.regions import GB2260_SOURCE, gb2260_rows

    table = sa.table(
        "regions",
        sa.column("code", sa.String),
        sa.column("name", sa.String),
        sa.column("level", sa.Integer),
        sa.column("parent_code", sa.String),
        sa.column("source", sa.String),
    )
    op.bulk_insert(
        table,
        [
            {"code": c, "name": n, "level": lvl, "parent_code": p, "source": GB2260_SOURCE}
            for c, n, lvl, p in gb2260_rows()
        ],
    )


def downgrade() -> None:
    with op.batch_alter_table("alerts") as b:
        b.drop_index("ix_alerts_scanner_id")
        b.drop_index("ix_alerts_responsible_id")
        b.drop_constraint("fk_alerts_shipment_id_shipments", type_="foreignkey")
        b.drop_constraint("fk_alerts_scanner_id_organisations", type_="foreignkey")
        b.drop_constraint("fk_alerts_responsible_id_organisations", type_="foreignkey")
        for column in ("updated_at", "note", "shipment_id", "scanner_id", "responsible_id"):
            b.drop_column(column)
    for table in ("items", "logistic_units"):
        with op.batch_alter_table(table) as b:
            if table == "logistic_units":
                b.drop_index("ix_logistic_units_shipment_id")
                b.drop_index("ix_logistic_units_holder_id")
            for name in ("alert_id_alerts", "shipment_id_shipments", "holder_site_id_sites",
                         "authorised_id_organisations", "holder_id_organisations"):
                b.drop_constraint(f"fk_{table}_{name}", type_="foreignkey")
            for column in ("alert_id", "shipment_id", "holder_since", "holder_site_id",
                           "authorised_id", "holder_id"):
                b.drop_column(column)
            if table == "logistic_units":
                b.drop_column("opened_at")
                b.drop_column("items")
    with op.batch_alter_table("organisations") as b:
        b.drop_index("ix_organisations_channel_parent_id")
        b.drop_constraint("fk_organisations_channel_parent_id_organisations", type_="foreignkey")
        b.drop_column("channel_parent_id")
    with op.batch_alter_table("batches") as b:
        b.drop_column("generated_at")
    for table in (
        "epcis_event_epcs",
        "epcis_events",
        "scan_events",
        "shipment_lines",
        "shipments",
        "sites",
        "territories",
        "regions",
    ):
        op.drop_table(table)
