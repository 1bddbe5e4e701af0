"""Benchmark: the auditor's export and ``tracecert-verify`` over a large history.

A SQLite database is filled through the service's own paths: ``--events`` log entries (the bulk
append path, linked entries of ~400 bytes), one batch of ``--items`` items committed with the
service's commitments (item hashes, leaves, the keccak tree), the log anchored at its full
size. Then:

* ``export_s``: ``SqlAlchemyAuditExporter.write`` (what ``tracecert audit export`` runs);
* ``verify_s`` and ``peak_rss_mb``: ``python -m tracecert_verify EXPORT --rpc URL --json`` as a
  subprocess, as an auditor runs it; its peak RSS is the child's ``ru_maxrss``.

The chain is a stand-in JSON-RPC server in this process answering the verifier's few reads
(chain id, genesis, ``logRoot(size)``, ``batch(bytes32)``) with the values the service
computed: the verifier recomputes everything else itself, which is what is measured. Targets
(issue 13): 1,000,000 events and a 1,000,000-item batch verified in <= 60 s with <= 1 GB.
The last line is one JSON object ``{"events", "items", "export_s", "verify_s",
"peak_rss_mb", "targets_met", ...}``.

    scripts/bench_audit [--quick] [--events N] [--items N]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402

from chain._keccak import keccak256  # noqa: E402
from chain.merkle import BatchTree  # noqa: E402
from service.audit.storage import SqlAlchemyAuditExporter  # noqa: E402
from service.factory.domain.events import BatchAnchored, BatchCreated  # noqa: E402
from service.kernel.actor import Actor  # noqa: E402
from service.kernel.roles import Role  # noqa: E402
from service.kernel.storage.db import make_engine, migrate  # noqa: E402
from service.ledger.app import log_access  # noqa: E402
from service.ledger.storage.commitments import ChainCommitments, leaf_hash  # noqa: E402
from service.unit_of_work import SqlAlchemyUnitOfWorkFactory  # noqa: E402

AT = datetime(2026, 12, 1, tzinfo=UTC)
GENESIS = "0x" + "ab" * 32
REGISTRY = "0x" + "11" * 20
BATCH = "01JBENCHAUDIT0000000000000"
TARGET_VERIFY_S, TARGET_RSS_MB = 60.0, 1024


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def filler(n: int) -> BatchCreated:
    return BatchCreated(
        batch_id=f"b_{n:012d}",
        organisation_id=2,
        brand_id=1,
        gtin="09506000134352",
        lot=f"L{n}",
        chain_batch_id=n.to_bytes(32, "big"),
        metadata_hash=(n + 1).to_bytes(32, "big"),
        planned_quantity=1000,
    )


def fill(url: str, events: int, items: int) -> dict[str, Any]:
    """The history; returns what the stand-in chain must answer."""
    engine = make_engine(url)
    uows = SqlAlchemyUnitOfWorkFactory(engine, leaf_hash)
    c = ChainCommitments()
    chain_id = c.chain_batch_id(BATCH)
    metadata = {"gtin": "09506000134352", "lot": "BENCH", "production_date": "2026-11-20"}
    metadata_hash = c.attributes_hash(metadata)
    serials = [f"BENCH{n:010d}" for n in range(items)]
    item_hashes, leaves = c.commit_items(chain_id, metadata_hash, serials)
    root = BatchTree(leaves).root
    with engine.begin() as conn:
        for org_id, name, kind, brand in ((1, "Brand", "brand", None), (2, "F", "factory", 1)):
            conn.execute(
                text(
                    "INSERT INTO organisations (id, name, kind, created_at, brand_id) "
                    "VALUES (:i, :n, :k, :t, :b)"
                ),
                {"i": org_id, "n": name, "k": kind, "t": AT, "b": brand},
            )
        conn.execute(
            text(
                "INSERT INTO batches (id, public_id, organisation_id, brand_id, gtin, lot, "
                "planned_quantity, case_size, cases_per_pallet, chain_batch_id, root, "
                "item_count, metadata_json, metadata_hash, status, created_at) VALUES (1, :p, "
                "2, 1, :g, 'BENCH', :n, 0, 0, :c, :r, :n, :m, :h, 'anchored', :t)"
            ),
            {
                "p": BATCH,
                "g": metadata["gtin"],
                "n": items,
                "c": chain_id,
                "r": root,
                "m": json.dumps(metadata),
                "h": metadata_hash,
                "t": AT,
            },
        )
        for start in range(0, items, 50_000):
            conn.execute(
                text(
                    "INSERT INTO items (batch_id, serial, item_hash, leaf, leaf_index) "
                    "VALUES (1, :s, :h, :l, :i)"
                ),
                [
                    {"s": serials[i], "h": item_hashes[i], "l": leaves[i], "i": i}
                    for i in range(start, min(items, start + 50_000))
                ],
            )
        conn.execute(
            text(
                "INSERT INTO deployments (chain_id, genesis_hash, contract, address, tx_hash, "
                "block_number, deployed_at) VALUES (31337, :g, 'CertificateRegistry', :a, :t, "
                "1, :at)"
            ),
            {"g": bytes.fromhex(GENESIS[2:]), "a": REGISTRY, "t": bytes(32), "at": AT},
        )
    with uows() as uow:
        uow.events.append_many(
            [
                BatchCreated(
                    BATCH, 2, 1, metadata["gtin"], "BENCH", chain_id, metadata_hash, items
                ),
                BatchAnchored(BATCH, chain_id, bytes(32), 1),
            ],
            AT,
        )
        uow.commit()
    for first in range(2, events, 10_000):
        with uows() as uow:
            uow.events.append_many(
                [filler(n) for n in range(first, min(events, first + 10_000))], AT
            )
            uow.commit()
    with uows.reader() as uow:
        size = uow.events.size()
        log_root = c.log_root(uow.events.leaf_hashes(size))
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO log_anchors (size, root, status, requested_at, anchored_at) "
                "VALUES (:s, :r, 'anchored', :t, :t)"
            ),
            {"s": size, "r": log_root, "t": AT},
        )
    engine.dispose()
    return {
        "log_roots": {size: log_root},
        "batches": {chain_id: (root, items, metadata_hash)},
        "engine_url": url,
    }


def stand_in_chain(answers: dict[str, Any]) -> ThreadingHTTPServer:
    log_root_sel = keccak256(b"logRoot(uint64)")[:4].hex()
    batch_sel = keccak256(b"batch(bytes32)")[:4].hex()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            req = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            method, params = req["method"], req["params"]
            result: Any
            if method == "eth_chainId":
                result = hex(31337)
            elif method == "eth_getBlockByNumber":
                result = {"hash": GENESIS}
            else:
                data = params[0]["data"][2:]
                selector, arg = data[:8], bytes.fromhex(data[8:])
                if selector == log_root_sel:
                    result = answers["log_roots"].get(int.from_bytes(arg, "big"), bytes(32))
                elif selector == batch_sel:
                    root, count, meta = answers["batches"][arg]
                    result = root + count.to_bytes(32, "big") + (1).to_bytes(32, "big")
                    result += bytes(32) + meta
                else:
                    result = bytes(32)
                result = "0x" + result.hex()
            body = json.dumps({"jsonrpc": "2.0", "id": req["id"], "result": result}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def run(events: int, items: int) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="tracecert-bench-audit-"))
    try:
        url = f"sqlite:///{workdir / 'bench.db'}"
        migrate(url)
        started = time.perf_counter()
        answers = fill(url, events, items)
        say(
            f"{events:,} events and {items:,} items stored in {time.perf_counter() - started:.1f} s"
        )
        engine = make_engine(url)
        uows = SqlAlchemyUnitOfWorkFactory(engine, leaf_hash)
        started = time.perf_counter()
        manifest = SqlAlchemyAuditExporter(uows.read_sessions, log_access.cut_all).write(
            workdir / "export", Actor("bench:audit", Role.ADMIN)
        )
        export_s = time.perf_counter() - started
        engine.dispose()
        size_mb = sum(p.stat().st_size for p in (workdir / "export").iterdir()) / 2**20
        say(f"exported in {export_s:.1f} s ({size_mb:.0f} MB); verifying")
        server = stand_in_chain(answers)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        env["PYTHONPATH"] = str(ROOT / "verifier")
        rpc = f"http://127.0.0.1:{server.server_address[1]}"
        started = time.perf_counter()
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "tracecert_verify",
                str(workdir / "export"),
                "--rpc",
                rpc,
                "--json",
            ],
            env=env,
            capture_output=True,
            text=True,
        )
        verify_s = time.perf_counter() - started
        server.shutdown()
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        report = json.loads(done.stdout)
        if done.returncode != 0:
            raise SystemExit(f"the verifier did not verify the history: {report}")
        return {
            "events": manifest["log_size"],
            "items": report["facts"]["items"],
            "export_s": round(export_s, 1),
            "export_mb": round(size_mb),
            "verify_s": round(verify_s, 1),
            "peak_rss_mb": round(peak_mb),
            "chain": "stand-in JSON-RPC (this process)",
            "targets": {"verify_s": TARGET_VERIFY_S, "peak_rss_mb": TARGET_RSS_MB},
            "targets_met": verify_s <= TARGET_VERIFY_S and peak_mb <= TARGET_RSS_MB,
        }
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="20,000 of each (a smoke run)")
    args = parser.parse_args()
    if args.quick:
        args.events, args.items = 20_000, 20_000
    print(json.dumps(run(max(args.events, 2), max(args.items, 1))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
