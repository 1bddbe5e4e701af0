"""Engines and migrations for SQLite (WAL) and PostgreSQL, and what counts as an outage."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

import psycopg
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "adapters" / "migrations"
#: Execution option for transactions that only read (plain BEGIN on SQLite).
READ_ONLY = "tracecert_read_only"
#: How long a writer waits for SQLite's write lock by default (another process holding it).
BUSY_TIMEOUT_S = 30.0


class DatabaseBusyError(TimeoutError):
    """Raised when a writer of this process waited too long for SQLite's write lock."""


# PostgreSQL SQLSTATE classes of a server that cannot serve now: connection exception (08),
# insufficient resources (53: disk full, too many connections), operator intervention (57:
# shutting down, cannot connect now, statement timeout), system error (58); and 55000, which
# a database that does not accept connections answers. Serialization failures and deadlocks
# (class 40) are not outages: they are races the code should not have.
_PG_OUTAGE_CLASSES = ("08", "53", "57", "58")
_PG_OUTAGE_STATES = ("55000",)
# SQLite's messages for a database it cannot use now (another process's lock, the disk).
_SQLITE_OUTAGES = (
    "database is locked",
    "database table is locked",
    "disk i/o error",
    "unable to open database file",
    "database or disk is full",
)


def is_outage(exc: BaseException) -> bool:
    """Return whether ``exc`` (or what it wraps) says the database cannot be reached or used
    now, as opposed to a bug: a refused or dropped connection, a server shutting down, a pool
    timeout, SQLite's "database is locked"-style errors. The one place that decides it; the
    API answers 503 ``database_unavailable`` for these (it is given this function)."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen or len(seen) > 16:
            continue
        seen.add(id(current))
        if _outage_itself(current):
            return True
        todo += [getattr(current, "orig", None), current.__cause__, current.__context__]
    return False


def _outage_itself(exc: BaseException) -> bool:
    if isinstance(exc, DatabaseBusyError | sa_exc.TimeoutError | sa_exc.DisconnectionError):
        return True
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, psycopg.InterfaceError):  # "the connection is closed"
        return True
    if isinstance(exc, psycopg.OperationalError):
        state = exc.sqlstate
        return state is None or state[:2] in _PG_OUTAGE_CLASSES or state in _PG_OUTAGE_STATES
    if isinstance(exc, sqlite3.OperationalError):
        message = str(exc).lower()
        return any(m in message for m in _SQLITE_OUTAGES)
    return False


def normalise_url(url: str) -> str:
    """Use psycopg 3 for plain ``postgresql://`` URLs."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def make_engine(url: str, busy_timeout_s: float = BUSY_TIMEOUT_S, **kwargs: Any) -> Engine:
    """Create an engine; on SQLite, every transaction is ``BEGIN IMMEDIATE``.

    SQLite upgrades a read transaction to a write one lazily, and two connections that both
    read and then want to write deadlock ("database is locked" without waiting for the busy
    timeout). Taking the write lock at BEGIN makes writers queue up on ``busy_timeout``
    (``busy_timeout_s``; then "database is locked", an outage: see :func:`is_outage`).
    """
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, **kwargs)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url, connect_args={"check_same_thread": False, "timeout": busy_timeout_s}, **kwargs
    )
    busy_ms = int(busy_timeout_s * 1000)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event (below) issue BEGIN, not the sqlite3 module.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    # Writers of this process queue on a lock before BEGIN IMMEDIATE: SQLite's own busy wait
    # sleeps in growing steps (up to 100 ms), which under 8 concurrent writers turned a 5 ms
    # transaction into a second-long tail. Other processes still meet busy_timeout.
    writer = threading.RLock()
    # Driver connections whose transaction holds the lock. The lock is released only once the
    # driver's COMMIT or ROLLBACK has run: SQLAlchemy's commit/rollback events fire before it,
    # and releasing there let the next writer's BEGIN IMMEDIATE meet the still-open transaction.
    holding: set[int] = set()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Readers (see READ_ONLY) need no write lock: in WAL mode they never block anyone.
        read_only = connection.get_execution_options().get(READ_ONLY, False)
        driver = connection.connection.dbapi_connection
        if not read_only:
            if not writer.acquire(timeout=busy_timeout_s):
                raise DatabaseBusyError(
                    f"another writer held the database for {busy_timeout_s:g} s"
                )
            holding.add(id(driver))
        try:
            connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")
        except BaseException:
            _release(driver)
            raise

    def _release(connection: Any) -> None:
        # The dialect hands over the pool's proxy; "begin" saw the driver connection inside it.
        driver = getattr(connection, "dbapi_connection", connection)
        if id(driver) in holding:
            holding.discard(id(driver))
            writer.release()

    dialect = engine.dialect
    for name in ("do_commit", "do_rollback"):
        _end_then_release(dialect, name, _release)
    return engine


def _end_then_release(dialect: Any, name: str, release: Any) -> None:
    """Wrap ``dialect.<name>`` (this engine's instance) to call ``release`` after it ran."""
    end = getattr(dialect, name)

    def wrapped(dbapi_connection: Any) -> None:
        try:
            end(dbapi_connection)
        finally:
            release(dbapi_connection)

    setattr(dialect, name, wrapped)


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    # Percent signs in passwords would be read as interpolation by ConfigParser.
    cfg.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    return cfg


def migrate(url: str, revision: str = "head") -> None:
    """Bring the database at ``url`` to ``revision`` (the same migrations on both dialects)."""
    parsed = make_url(normalise_url(url))
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str = "base") -> None:
    """Take the database at ``url`` back to ``revision`` (``base`` drops everything)."""
    command.downgrade(alembic_config(url), revision)


def schema_revision(url: str) -> tuple[str | None, str]:
    """Return the database's schema revision (None: not set up, not even created) and the
    newest one this code has, without creating or changing anything.

    Raises:
        sqlalchemy.exc.OperationalError: the database cannot be reached.
    """
    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    assert head is not None
    parsed = make_url(normalise_url(url))
    if parsed.get_backend_name() == "sqlite":
        if not parsed.database or parsed.database == ":memory:":
            return None, head
        if not Path(parsed.database).is_file():
            return None, head  # connecting would create the file: nothing is there yet
    engine = create_engine(normalise_url(url))
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision(), head
    finally:
        engine.dispose()


def known_revision(url: str, revision: str) -> bool:
    """Return whether ``revision`` is one of this code's migrations."""
    script = ScriptDirectory.from_config(alembic_config(url))
    return any(r.revision == revision for r in script.walk_revisions())
