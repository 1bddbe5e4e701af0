"""SQLite engines: writers of one process queue on a lock that outlives their COMMIT."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from sqlalchemy import event

from service.adapters.db import make_engine


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
