"""Benchmark: one-item-one-code generation at factory scale, anchored on a real anvil.

A batch of N items (default 1,000,000) in cases of 6 and pallets of 100 cases goes through the
service's own code path (``service.factory.app``) on SQLite or PostgreSQL: serials and PIN seed
(generate), leaves and PIN hashes (hash), rows (insert, with the aggregation events and the
commit), the Merkle tree (tree), then activation and the anchor transaction confirmed on a
fresh anvil (anchor). In the same run it measures:

* a baseline: inserting N bare rows (an integer key and a 20-character text) into a fresh
  table of the same database through the same bulk path;
* streaming the code file (the CSV with PINs) for the whole batch: rows per second;
* the anchor's gas per item, against a plain OpenZeppelin ERC-721 ``mint`` deployed here.

Peak memory is the process's maximum resident set size (``ru_maxrss``). The last line is one
JSON object with ``items``, ``seconds`` per stage, ``baseline_insert_seconds``,
``ratio_to_baseline``, ``peak_rss_mb``, ``csv_rows_per_s``, ``gas_per_item`` and
``erc721_mint_gas``.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _bench_db import database  # noqa: E402
from sqlalchemy import text  # noqa: E402

from chain.backends import AnvilBackend, anvil_binary, free_port  # noqa: E402
from chain.config import ChainSettings  # noqa: E402
from service.bootstrap import Container, bootstrap  # noqa: E402
from service.config import Settings  # noqa: E402
from service.factory.app.batches import anchor_batch, create_batch, get_batch  # noqa: E402
from service.factory.app.codes import activate_codes, generate_codes  # noqa: E402
from service.factory.app.commands import (  # noqa: E402
    ActivateCodes,
    AnchorBatch,
    CreateBatch,
    DownloadCodeFile,
    GenerateCodes,
    RegisterProduct,
)
from service.factory.app.printing import download_code_file  # noqa: E402
from service.factory.app.products import register_product  # noqa: E402
from service.factory.domain.codes import new_serials  # noqa: E402
from service.identity.app import tenancy  # noqa: E402
from service.identity.app.commands import CreateOrganisation  # noqa: E402
from service.identity.app.organisations import SYSTEM_ACTOR, create_organisation  # noqa: E402
from service.kernel.actor import Actor  # noqa: E402
from service.kernel.roles import Role  # noqa: E402
from service.kernel.storage.db import migrate  # noqa: E402
from service.kernel.storage.sql import bulk_insert  # noqa: E402

console = Console(stderr=True)
GTIN = "09506000134352"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Stages:
    """Times each stage from the generation's progress reports (see ``generate_codes``)."""

    def __init__(self, progress: Progress, items: int) -> None:
        self.progress = progress
        self.task = progress.add_task("generate", total=items)
        self.seconds: dict[str, float] = {}
        self.last = time.perf_counter()

    def __call__(self, stage: str, done: int, total: int) -> None:
        now = time.perf_counter()
        self.seconds[stage] = self.seconds.get(stage, 0.0) + now - self.last
        self.last = now
        self.progress.update(self.task, description=stage, completed=done)


def baseline_insert(container: Container, items: int) -> float:
    """Insert ``items`` bare rows (key + serial-sized text) through the same bulk path."""
    serials = new_serials(items)
    rows = [(n, s) for n, s in enumerate(serials)]
    with container.uow_factory.sessions() as s:
        s.execute(text("CREATE TABLE bench_bare (id BIGINT PRIMARY KEY, code VARCHAR(20))"))
        s.commit()
    started = time.perf_counter()
    with container.uow_factory.sessions() as s:
        for start in range(0, items, 50_000):
            bulk_insert(s, "bench_bare", ("id", "code"), rows[start : start + 50_000])
        s.commit()
    seconds = time.perf_counter() - started
    with container.uow_factory.sessions() as s:
        s.execute(text("DROP TABLE bench_bare"))
        s.commit()
    return seconds


def erc721_mint_gas(container: Container) -> int:
    """Gas of a plain OpenZeppelin ERC-721 mint (a later one, like claim_one), on this chain."""
    from eth_abi.abi import encode as abi_encode
    from eth_utils.crypto import keccak

    from chain.artifacts import load_artifact
    from chain.deploy import deploy, send_transaction

    client, account = container.runtime.client, container.runtime.account
    baseline = deploy(client, account, load_artifact(ROOT / "artifacts", "BaselineERC721"))
    selector = keccak(b"mint(address,uint256)")[:4]
    gas = []
    for token in (1, 2):
        data = selector + abi_encode(["address", "uint256"], [account.address, token])
        gas.append(send_transaction(client, account, baseline.address, data).gas_used)
    return int(gas[-1])


def run(items: int, db: str) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="bench_codes_"))
    url, drop = database(db, workdir, "tc_bench")
    backend = AnvilBackend(anvil_binary(ROOT), port=free_port(), state_file=None)
    backend.start()
    try:
        migrate(url)
        settings = Settings(
            data_dir=workdir,
            database_url=url,
            workers_enabled=False,
            max_batch_items=max(items, 1),
            chain=ChainSettings(backend="anvil", confirmations=1, artifacts_dir=ROOT / "artifacts"),
        )
        container = bootstrap(settings, backend=backend)
        try:
            return measure(container, items)
        finally:
            container.close()
    finally:
        backend.stop()
        drop()
        shutil.rmtree(workdir, ignore_errors=True)  # a million items leave ~1 GB behind


def measure(container: Container, items: int) -> dict[str, Any]:
    uows, clock, admin = container.uow_factory, container.clock, SYSTEM_ACTOR
    brand = create_organisation(CreateOrganisation(admin, "Brand", "brand"), uows(), clock)
    assert brand.id is not None
    tenancy.set_company_prefixes(admin, brand.id, [GTIN[1:8]], uows(), clock)
    plant = create_organisation(
        CreateOrganisation(admin, "Factory", "factory", brand.id), uows(), clock
    )
    register_product(
        RegisterProduct(admin, GTIN, "Baijiu 53% vol 500 ml", {}, brand.id), uows(), clock
    )
    assert plant.id is not None
    actor = Actor("bench", Role.FACTORY, plant.id, brand_id=brand.id)
    batch = create_batch(
        CreateBatch(actor, GTIN, "BENCH-1", date.today(), "L1", items, 6, 100),
        uows,
        container.commitments,
        clock,
        items,
    )
    with Progress(
        TextColumn("{task.description:>8}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        stages = Stages(progress, items)
        started = time.perf_counter()
        generate_codes(
            GenerateCodes(actor, batch["id"]),
            uows,
            container.commitments,
            container.secrets,
            clock,
            container.settings.gs1_company_prefix,
            stages,
        )
        generated = time.perf_counter()

        # The code file, streamed in full (this is the audited, once-only download).
        task = progress.add_task("csv", total=items)
        csv_started = time.perf_counter()
        _, chunks = download_code_file(
            DownloadCodeFile(actor, batch["id"]),
            uows,
            container.secrets,
            clock,
            container.settings.resolver_url,
        )
        # The download is recorded (and, on SQLite, the generation's write-ahead log may be
        # checkpointed) before the first byte: timed apart from the streaming itself.
        first = next(chunks)
        csv_setup = time.perf_counter() - csv_started
        streaming = time.perf_counter()
        rows = first.count(b"\n")
        for chunk in chunks:
            rows += chunk.count(b"\n")
            progress.update(task, completed=rows - 1)
        csv_seconds = time.perf_counter() - streaming
        assert rows - 1 == items, (rows, items)

        anchor_started = time.perf_counter()
        activate_codes(ActivateCodes(actor, batch_id=batch["id"]), uows, clock)
        activated = time.perf_counter()
        anchor_batch(AnchorBatch(actor, batch["id"]), uows, container.ledger, clock)
        deadline = time.monotonic() + 120
        while True:
            container.sender_step()
            view = get_batch(actor, batch["id"], uows.reader(), container.ledger)
            if view["status"] == "anchored":
                break
            if time.monotonic() > deadline or view["status"] == "anchor_failed":
                raise RuntimeError(f"anchor did not confirm: {view['anchor']}")
            time.sleep(0.02)
        anchored = time.perf_counter()
    receipt = container.runtime.client.receipt(bytes.fromhex(view["anchor"]["tx_hash"][2:]))
    assert receipt is not None
    anchor_gas = receipt.gas_used
    peak_rss = peak_rss_mb()  # before the baseline, which holds every row in memory itself

    baseline = baseline_insert(container, items)
    mint_gas = erc721_mint_gas(container)
    s = stages.seconds
    insert = sum(s.get(k, 0.0) for k in ("insert", "events", "commit", "statistics"))
    total = anchored - started - csv_seconds - csv_setup
    return {
        "items": items,
        "seconds": {
            "total": round(total, 3),
            "generate": round(s.get("generate", 0.0), 3),
            "hash": round(s.get("hash", 0.0), 3),
            "insert": round(insert, 3),
            "tree": round(s.get("tree", 0.0), 3),
            "anchor": round(anchored - anchor_started, 3),
            "activate": round(activated - anchor_started, 3),
            "events": round(s.get("events", 0.0), 3),
            "commit": round(s.get("commit", 0.0), 3),
            "statistics": round(s.get("statistics", 0.0), 3),
            "generation_only": round(generated - started, 3),
        },
        "baseline_insert_seconds": round(baseline, 3),
        "ratio_to_baseline": round(total / baseline, 2),
        "peak_rss_mb": round(peak_rss, 1),
        "csv_rows_per_s": round(items / csv_seconds),
        "csv_setup_seconds": round(csv_setup, 3),
        "gas_per_item": round(anchor_gas / items, 4),
        "anchor_gas": anchor_gas,
        "erc721_mint_gas": mint_gas,
        "ratio_gas_per_item_to_mint": round(anchor_gas / items / mint_gas, 6),
        "db": container.engine.dialect.name,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=1_000_000, help="items in the batch")
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    args = parser.parse_args()
    if args.items < 1:
        parser.error("--items must be at least 1")
    result = run(args.items, args.db)

    table = Table(title=f"tracecert code generation: {args.items:,} items on {result['db']}")
    table.add_column("stage")
    table.add_column("seconds", justify="right")
    for stage, seconds in result["seconds"].items():
        table.add_row(stage, f"{seconds:.2f}")
    table.add_row("baseline insert (bare rows)", f"{result['baseline_insert_seconds']:.2f}")
    console.print(table)
    console.print(
        f"ratio to baseline {result['ratio_to_baseline']}x, peak RSS {result['peak_rss_mb']} MB, "
        f"CSV {result['csv_rows_per_s']:,} rows/s, anchor {result['anchor_gas']:,} gas = "
        f"{result['gas_per_item']} gas/item vs ERC-721 mint {result['erc721_mint_gas']:,}"
    )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
