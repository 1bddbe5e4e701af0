"""Benchmark: one integrity pass over the event log at 100k and 1M events (SQLite or PostgreSQL).

The anchorer proves the whole stored log before it anchors more
(``service.ledger.app.log_integrity``: every stored leaf hash re-read in pages and folded into
an RFC 6962 tree edge, density checked, the entries since the last anchor re-hashed and their
links checked). This measures, per log size, on a database filled through the service's own
append path (linked entries):

* ``pass_seconds``: one anchorer pass (``prove``) with ``--new`` entries since the last anchor,
  the time the worker spends every ``TRACECERT_LOG_ANCHOR_INTERVAL_S`` (30 s by default);
* ``verify_seconds``: ``tracecert log verify``'s pass (every payload re-hashed and its link
  checked); ``failed_pass_seconds``: the first anchorer pass over a log with one edited entry
  below the last anchor (the locating pass included), and ``failed_again_seconds``: the passes
  after it while nothing changed (what was located is not located again);
* ``append_us``: the append path's cost per event, one event per transaction.

The chain is a stand-in holding the anchored root (its reads are two calls per pass, not what
is measured). The last line is one JSON object with these figures per size.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _bench_db import database  # noqa: E402
from sqlalchemy import text  # noqa: E402

from service.factory.domain.events import BatchCreated  # noqa: E402
from service.kernel.storage.db import make_engine, migrate  # noqa: E402
from service.ledger.app import log_integrity  # noqa: E402
from service.ledger.storage.commitments import ChainCommitments, leaf_hash  # noqa: E402
from service.unit_of_work import SqlAlchemyUnitOfWorkFactory  # noqa: E402

console = Console(stderr=True)
INTERVAL_S = 30.0  # TRACECERT_LOG_ANCHOR_INTERVAL_S's default
AT = datetime(2026, 12, 1, tzinfo=UTC)


class Clock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class Chain:
    """The two reads an integrity pass makes of the chain: the latest size and its root."""

    def __init__(self) -> None:
        self.roots: dict[int, bytes] = {}

    def latest_log_size(self) -> int:
        return max(self.roots, default=0)

    def log_root(self, size: int) -> bytes:
        return self.roots.get(size, bytes(32))


def event(n: int) -> BatchCreated:
    """A typical entry (~400 bytes): a batch with its two on-chain hashes."""
    return BatchCreated(
        batch_id=f"b_{n:012d}",
        organisation_id=3,
        brand_id=2,
        gtin="09506000134352",
        lot=f"L{n}",
        chain_batch_id=n.to_bytes(32, "big"),
        metadata_hash=(n + 1).to_bytes(32, "big"),
        planned_quantity=1000,
    )


def grow(uows: SqlAlchemyUnitOfWorkFactory, start: int, end: int) -> None:
    """Append entries ``start`` up to ``end`` through the bulk append path."""
    for first in range(start, end, 10_000):
        with uows() as uow:
            uow.events.append_many([event(n) for n in range(first, min(end, first + 10_000))], AT)
            uow.commit()


def append_us(uows: SqlAlchemyUnitOfWorkFactory, count: int) -> float:
    """Microseconds per event appended one per transaction (the append path and its commit)."""
    started = time.perf_counter()
    for n in range(count):
        with uows() as uow:
            uow.events.append(event(n), AT)
            uow.commit()
    return (time.perf_counter() - started) / count * 1e6


def anchor_now(uows: SqlAlchemyUnitOfWorkFactory, chain: Chain, commitments: Any) -> int:
    with uows.reader() as uow:
        size = uow.events.size()
        found = log_integrity.inspect(uow, commitments, size, [size])
    root = found.roots[size]
    assert root is not None
    chain.roots[size] = root
    return size


def edit_one(uows: SqlAlchemyUnitOfWorkFactory, index: int) -> None:
    """An insider's edit (payload and leaf hash), with the append-only triggers dropped."""
    with uows.engine.begin() as conn:
        payload = conn.execute(
            text("SELECT payload FROM events WHERE log_index = :i"), {"i": index}
        ).scalar_one()
        forged = bytes(payload).replace(b'"planned_quantity":1000', b'"planned_quantity":9000')
        if conn.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE events DISABLE TRIGGER USER"))
        else:
            conn.execute(text("DROP TRIGGER IF EXISTS events_no_update"))
        conn.execute(
            text("UPDATE events SET payload = :p, leaf_hash = :h WHERE log_index = :i"),
            {"p": forged, "h": leaf_hash(forged), "i": index},
        )


def run(sizes: list[int], new: int, db: str, appends: int) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="tracecert-bench-log-"))
    url, drop = database(db, workdir, "tc_bench_log")
    try:
        migrate(url)
        engine = make_engine(url)
        uows = SqlAlchemyUnitOfWorkFactory(engine, leaf_hash)
        commitments, chain, clock = ChainCommitments(), Chain(), Clock()
        result: dict[str, Any] = {"db": engine.dialect.name, "new": new, "sizes": {}}
        result["append_us"] = round(append_us(uows, appends), 1)
        stored = appends
        for size in sizes:
            started = time.perf_counter()
            grow(uows, stored, size - new)
            anchored = anchor_now(uows, chain, commitments)
            grow(uows, anchored, size)
            stored = size
            if engine.dialect.name == "postgresql":
                # What autovacuum does after a bulk of inserts: planner statistics and the
                # visibility map (an index-only scan needs it). Without statistics the planner
                # sorted the table for every page: 6 s per pass at 1M instead of 1.2 s.
                with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                    conn.execute(text("VACUUM ANALYZE events"))
            fill_s = time.perf_counter() - started
            console.print(f"{size:,} events stored in {fill_s:.1f} s; measuring one pass")

            started = time.perf_counter()
            check = log_integrity.prove(uows, commitments, chain, clock)  # type: ignore[arg-type]
            pass_s = time.perf_counter() - started
            assert check.status == "ok" and check.size == size, check

            started = time.perf_counter()
            report = log_integrity.verify(uows, commitments, chain)  # type: ignore[arg-type]
            verify_s = time.perf_counter() - started
            assert report.ok, report
            result["sizes"][size] = {
                "pass_seconds": round(pass_s, 2),
                "verify_seconds": round(verify_s, 2),
            }
        # The failure path, once, on the largest log: an anchored entry edited.
        largest = sizes[-1]
        edit_one(uows, largest // 2)
        started = time.perf_counter()
        check = log_integrity.prove(uows, commitments, chain, clock)  # type: ignore[arg-type]
        failed_s = time.perf_counter() - started
        assert check.status == "failed" and check.first_bad_index == largest // 2, check
        with uows() as uow:
            log_integrity.record(uow, check)
            uow.commit()
        started = time.perf_counter()
        again = log_integrity.prove(uows, commitments, chain, clock)  # type: ignore[arg-type]
        repeat_s = time.perf_counter() - started
        assert again.first_bad_index == largest // 2, again
        result["sizes"][largest]["failed_pass_seconds"] = round(failed_s, 2)
        result["sizes"][largest]["failed_again_seconds"] = round(repeat_s, 2)
        result["interval_s"] = INTERVAL_S
        result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        engine.dispose()
        return result
    finally:
        drop()
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes", default="100000,1000000", help="log sizes to measure, comma-separated"
    )
    parser.add_argument("--new", type=int, default=1000, help="entries since the last anchor")
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--appends", type=int, default=2000, help="single appends timed")
    parser.add_argument("--quick", action="store_true", help="a short run (10k events)")
    args = parser.parse_args()
    sizes = [10_000] if args.quick else sorted(int(s) for s in args.sizes.split(","))
    appends = 200 if args.quick else args.appends
    if sizes[0] <= args.new + appends:
        parser.error("every size must exceed --new plus --appends")
    result = run(sizes, args.new, args.db, appends)

    table = Table(title=f"tracecert log integrity on {result['db']} ({args.new} new entries)")
    columns = ("events", "anchorer pass s", "% of 30 s", "log verify s", "failed: 1st, next s")
    for column in columns:
        table.add_column(column, justify="right")
    for size, figures in result["sizes"].items():
        table.add_row(
            f"{size:,}",
            f"{figures['pass_seconds']:.2f}",
            f"{figures['pass_seconds'] / INTERVAL_S:.0%}",
            f"{figures['verify_seconds']:.2f}",
            f"{figures['failed_pass_seconds']:.2f}, {figures['failed_again_seconds']:.2f}"
            if "failed_pass_seconds" in figures
            else "",
        )
    console.print(table)
    console.print(
        f"append: {result['append_us']} us per event, one per transaction; "
        f"peak RSS {result['peak_rss_mb']} MB"
    )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
