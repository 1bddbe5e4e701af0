"""SQLite engines: writers of one process queue on a lock that outlives their COMMIT."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import psycopg
import pytest
from psycopg import errors as pg
from sqlalchemy import event
from sqlalchemy import exc as sa_exc

from chain.backends import free_port
from service.kernel.storage.db import DatabaseBusyError, is_outage, make_engine


def test_the_next_writer_begins_only_after_the_previous_commit_ran(tmp_path: Path):
    engine = make_engine(f"sqlite:///{tmp_path / 'w.db'}")
    log: list[str] = []
    second: list[threading.Thread] = []

    def write() -> None:
        with engine.begin() as connection:
            connection.exec_driver_sql("CREATE TABLE IF NOT EXISTS t (x INTEGER)")

    @event.listens_for(engine, "connect")
    def _trace(dbapi_connection, _record) -> None:
        def traced(sql: str) -> None:
            log.append(sql)
            if sql == "COMMIT" and not second:
                # The first writer is about to commit: a second writer starts now and must
                # wait for the lock, not issue its BEGIN IMMEDIATE against an open transaction.
                second.append(threading.Thread(target=write))
                second[0].start()
                time.sleep(0.3)
                log.append("first COMMIT runs")

        dbapi_connection.set_trace_callback(traced)

    write()
    second[0].join(timeout=30)
    engine.dispose()
    order = [s for s in log if s in ("BEGIN IMMEDIATE", "COMMIT", "first COMMIT runs")]
    assert order == [
        "BEGIN IMMEDIATE",
        "COMMIT",
        "first COMMIT runs",
        "BEGIN IMMEDIATE",
        "COMMIT",
    ]


# ----------------------------------------------------------------------------- outages
def test_sqlite_errors_of_a_locked_database_are_outages_and_bugs_are_not(tmp_path: Path):
    path = tmp_path / "o.db"
    engine = make_engine(f"sqlite:///{path}", busy_timeout_s=0.2)
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE t (x INTEGER PRIMARY KEY)")
        connection.exec_driver_sql("INSERT INTO t VALUES (1)")
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process's writer
    try:
        with pytest.raises(sa_exc.OperationalError) as locked, engine.begin() as connection:
            connection.exec_driver_sql("INSERT INTO t VALUES (2)")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert "database is locked" in str(locked.value) and is_outage(locked.value)
    with pytest.raises(sa_exc.OperationalError) as syntax, engine.begin() as connection:
        connection.exec_driver_sql("SELEC 1")  # sqlite3 calls a syntax error "operational" too
    with pytest.raises(sa_exc.IntegrityError) as duplicate, engine.begin() as connection:
        connection.exec_driver_sql("INSERT INTO t VALUES (1)")
    assert not is_outage(syntax.value) and not is_outage(duplicate.value)
    assert not is_outage(RuntimeError("bug")) and not is_outage(KeyError("x"))
    engine.dispose()


def test_the_writer_lock_of_this_process_timing_out_is_an_outage(tmp_path: Path):
    engine = make_engine(f"sqlite:///{tmp_path / 'b.db'}", busy_timeout_s=0.2)
    held = engine.connect()
    held.begin()  # BEGIN IMMEDIATE: this process's writer lock, held by another thread
    errors: list[BaseException] = []

    def second() -> None:
        try:
            with engine.begin():
                pass
        except BaseException as exc:  # what the request would raise
            errors.append(exc)

    thread = threading.Thread(target=second)
    thread.start()
    thread.join(timeout=10)
    held.rollback()
    held.close()
    engine.dispose()
    (error,) = errors
    assert isinstance(error, DatabaseBusyError) and is_outage(error)


def test_postgres_errors_of_an_unreachable_server_are_outages_and_races_are_not():
    engine = make_engine(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/none")
    with pytest.raises(sa_exc.OperationalError) as refused:
        engine.connect()
    engine.dispose()
    assert isinstance(refused.value.orig, psycopg.OperationalError)
    assert is_outage(refused.value)
    for error in (pg.AdminShutdown(), pg.CannotConnectNow(), pg.TooManyConnections()):
        assert is_outage(error), error
    for error in (pg.SerializationFailure(), pg.DeadlockDetected(), pg.UndefinedTable()):
        assert not is_outage(error), error
    assert is_outage(psycopg.InterfaceError("the connection is closed"))
