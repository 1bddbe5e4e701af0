"""The same Alembic migrations build the same schema on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import subprocess
import sys

from sqlalchemy import inspect, text

from service.kernel.storage.db import downgrade, make_engine, migrate
from service.schema import metadata


def test_migrations_create_every_table_of_the_models_and_run_twice(empty_database_url):
    migrate(empty_database_url)
    migrate(empty_database_url)  # already at head: nothing to do
    engine = make_engine(empty_database_url)
    try:
        tables = set(inspect(engine).get_table_names())
        assert set(metadata.tables) <= tables
        assert "alembic_version" in tables
        for name, table in metadata.tables.items():
            columns = {c["name"] for c in inspect(engine).get_columns(name)}
            assert columns == {c.name for c in table.columns}, name
    finally:
        engine.dispose()


def test_migrations_downgrade_to_nothing_and_back(empty_database_url):
    migrate(empty_database_url)
    downgrade(empty_database_url)
    engine = make_engine(empty_database_url)
    try:
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    finally:
        engine.dispose()
    migrate(empty_database_url)


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path):
    url = f"sqlite:///{tmp_path / 'x.db'}"
    migrate(url)
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
    finally:
        engine.dispose()


def test_migrations_build_every_unique_constraint_index_and_foreign_key_of_the_models(
    empty_database_url,
):
    migrate(empty_database_url)
    engine = make_engine(empty_database_url)
    try:
        inspector = inspect(engine)
        for name, table in metadata.tables.items():
            uniques = {tuple(u["column_names"]) for u in inspector.get_unique_constraints(name)}
            # PostgreSQL reports a unique index for each unique constraint as well.
            uniques |= {
                tuple(i["column_names"]) for i in inspector.get_indexes(name) if i["unique"]
            }
            expected = {
                tuple(c.name for c in constraint.columns)
                for constraint in table.constraints
                if constraint.__class__.__name__ == "UniqueConstraint"
            } | {(c.name,) for c in table.columns if c.unique}
            assert expected <= uniques, name
            indexes = {tuple(i["column_names"]) for i in inspector.get_indexes(name)}
            assert {(c.name,) for c in table.columns if c.index} <= indexes, name
            foreign = {
                (tuple(fk["constrained_columns"]), fk["referred_table"])
                for fk in inspector.get_foreign_keys(name)
            }
            assert {
                ((fk.parent.name,), fk.column.table.name) for fk in table.foreign_keys
            } <= foreign, name
    finally:
        engine.dispose()


def test_migration_0012_gives_existing_brands_prefixes_that_cover_their_products(
    empty_database_url,
):
    migrate(empty_database_url, "0011")
    engine = make_engine(empty_database_url)
    at = "2026-12-01 00:00:00"
    with engine.begin() as c:
        c.execute(
            text(
                "INSERT INTO organisations (id, name, kind, created_at, gs1_company_prefix) VALUES "
                "(1, 'Brand One', 'brand', :at, '0614141'), (2, 'Brand Two', 'brand', :at, NULL)"
            ),
            {"at": at},
        )
        c.execute(
            text(
                "INSERT INTO products (id, gtin, brand_id, name, attributes, created_at) VALUES "
                "(1, '00614141000012', 1, 'a', '{}', :at), (2, '09506000134352', 2, 'b', '{}', :at)"
            ),
            {"at": at},
        )
    migrate(empty_database_url)
    with engine.begin() as c:
        held = c.execute(
            text("SELECT prefix, organisation_id FROM company_prefixes ORDER BY prefix")
        ).all()
    engine.dispose()
    # Brand One keeps its own prefix; Brand Two, with none, gets exactly its product's GTIN.
    assert [tuple(r) for r in held] == [("0614141", 1), ("950600013435", 2)]


def test_the_schema_declares_every_table_the_migrations_create(empty_database_url):
    # service/schema.py imports every area's rows: a row module it forgot would leave its
    # tables out of the metadata (and out of Alembic's comparison and the tests' counts).
    migrate(empty_database_url)
    engine = make_engine(empty_database_url)
    try:
        tables = set(inspect(engine).get_table_names()) - {"alembic_version"}
        assert tables == set(metadata.tables)
    finally:
        engine.dispose()
    # On its own, too: in this process other imports may have declared the rows it forgot.
    script = "import json, service.schema as s; print(json.dumps(sorted(s.metadata.tables)))"
    alone = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert set(json.loads(alone.stdout)) == tables
