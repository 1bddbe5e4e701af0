"""Benchmark: consumer verify-scans through the real service, against a bare baseline.

``tracecert run`` is started as users start it (managed anvil, SQLite in a temporary data
directory, the API on 127.0.0.1). A batch of N items is generated, activated and anchored on
chain. Then, on 127.0.0.1 at 32 connections (``wrk``, C, so the load generator takes little of
the two cores; Python clients when wrk is missing):

* **scan**: ``GET /01/{gtin}/10/{lot}/21/{serial}`` with ``Accept: application/json``, a
  different serial on every request (some with a ``region``), which verifies the bottle, runs
  the risk checks and records the scan;
* **baseline**: a bare FastAPI + SQLAlchemy endpoint that looks up one item row by its serial,
  served by uvicorn in a subprocess on the same SQLite file with the same settings as the
  service (one worker, the same log level), measured in the same run.

The two are measured in alternating rounds; the figures are the median round of each for the
requests per second and p50, and the worst round for the scan's p99. Every measured scan must
be in the scan log afterwards. Then claims per second on anvil, one claim per transaction
against ``claimBatch`` (``scripts/bench_chain.py`` measures them; its figures are taken as
they are). The last line is one JSON object:
``{"rps", "baseline_rps", "ratio", "p50_ms", "p99_ms", "claims_per_s": {"single", "batched"}}``
with the details, and whether the targets were met (ratio >= 0.8, p99 <= 50 ms, batched
claims >= 5x single ones).

With ``--db postgres`` the service (and the baseline) use a database of their own on the local
PostgreSQL server (``$TRACECERT_BENCH_PG``, default ``postgres@127.0.0.1:5432``), created for the
run and dropped afterwards, as ``scripts/bench_scans --db postgres`` does.

The service it starts has the scan rate limits off (every request comes from 127.0.0.1);
set ``TRACECERT_SCAN_DEVICE_PER_MIN`` / ``TRACECERT_SCAN_NETWORK_PER_MIN`` in the environment
to measure with them on.

    scripts/bench_verify [--quick] [--items N] [--seconds S] [--shipped] [--db sqlite|postgres]
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from pydantic import BaseModel
from rich.console import Console
from sqlalchemy import Integer, String, create_engine, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from bench_scans import Api, Database, Service  # noqa: E402

from chain.backends import free_port  # noqa: E402

console = Console(stderr=True)
GTIN = "09506000134352"
LOT = "VERIFY"
CONNECTIONS = 32
#: Regions some scans name (the page may send one): Hangzhou Xihu, Nanjing Xuanwu, Beijing.
REGIONS = ("330106", "320102", "110101")
#: With ``--shipped`` the goods are in Zhejiang: one region in ten is Nanjing (a diversion).
SHIPPED_REGIONS = ("330106", "330102", "330108", "330105", "330106") * 2
SHIPPED_REGIONS = (*SHIPPED_REGIONS[:9], "320102")


# ----------------------------------------------------------------------------- the baseline
class _Base(DeclarativeBase):
    pass


class _Item(_Base):
    """The baseline's one table: the service's own ``items``, by the columns it reads."""

    __tablename__ = "items"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    batch_id: Mapped[int] = mapped_column(Integer)
    serial: Mapped[str] = mapped_column(String(64))
    leaf_index: Mapped[int] = mapped_column(Integer)


class _ItemPublic(BaseModel):
    id: int
    batch_id: int
    serial: str
    leaf_index: int


def serve_baseline(url: str, port: int) -> None:
    """The baseline: one SQLAlchemy row lookup by key behind FastAPI, served like the service."""
    import uvicorn
    from fastapi import FastAPI, HTTPException

    sqlite = url.startswith("sqlite")
    engine = create_engine(url, connect_args={"check_same_thread": False} if sqlite else {})
    app = FastAPI()

    @app.get("/items/{serial}", response_model=_ItemPublic)
    def item(serial: str) -> _ItemPublic:
        with Session(engine) as session:
            row = session.scalar(select(_Item).where(_Item.serial == serial))
            if row is None:
                raise HTTPException(404)
            return _ItemPublic(
                id=row.id, batch_id=row.batch_id, serial=row.serial, leaf_index=row.leaf_index
            )

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="info"))
    gc.collect()
    gc.freeze()  # as tracecert run does
    server.run()


class Baseline:
    """The baseline app in a subprocess (this script with ``--serve-baseline``)."""

    def __init__(self, db: Database, workdir: Path) -> None:
        self.port = free_port()
        self.log = (workdir / "baseline.log").open("w")
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--serve-baseline", db.url, "--port", str(self.port)],
            cwd=ROOT,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.base = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{self.base}/items/none", timeout=2)
                return
            except httpx.HTTPError:
                time.sleep(0.2)
            if self.proc.poll() is not None:
                raise RuntimeError("the baseline app exited; see " + self.log.name)
        raise RuntimeError("the baseline app did not start")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


# ----------------------------------------------------------------------------- set-up
def set_up(service: Service, api: Api, items: int, shipped: bool = False) -> dict[str, Any]:
    """A brand, its factory, the product and an anchored batch of ``items``; its serials.
    ``shipped``: the factory then ships every pallet to a distributor in Hangzhou, who receives
    them, so that every scan also reads the bottle's journey."""
    admin = service.cli("admin", "create", "--name", "Platform").split()[-1]
    brand = api.call("POST", "/organisations", admin, 201, json={"name": "B", "kind": "brand"})
    prefixes = {"prefixes": [GTIN[1:8]]}  # the brand's GTINs fall within its company prefixes
    api.call("PUT", f"/organisations/{brand['id']}/company-prefixes", admin, json=prefixes)
    plant = api.call(
        "POST",
        "/organisations",
        admin,
        201,
        json={"name": "F", "kind": "factory", "brand_id": brand["id"]},
    )
    api.call(
        "POST",
        "/products",
        admin,
        201,
        json={"gtin": GTIN, "name": "Baijiu", "brand_id": brand["id"]},
    )
    factory = api.call(
        "POST", f"/organisations/{plant['id']}/api-keys", admin, 201, json={"role": "factory"}
    )["api_key"]
    batch = api.call(
        "POST",
        "/batches",
        factory,
        201,
        json={
            "gtin": GTIN,
            "lot": LOT,
            "production_date": datetime.now(UTC).date().isoformat(),
            "line": "L1",
            "planned_quantity": items,
            "case_size": 6,
            "cases_per_pallet": 100,
        },
    )
    api.call("POST", f"/batches/{batch['id']}/codes", factory)
    api.call("POST", f"/batches/{batch['id']}/activate", factory)
    api.call("POST", f"/batches/{batch['id']}/anchor", factory, 202)
    deadline = time.monotonic() + 120
    while api.call("GET", f"/batches/{batch['id']}", factory)["status"] != "anchored":
        if time.monotonic() > deadline:
            raise RuntimeError("the batch was not anchored within 2 minutes")
        time.sleep(0.3)
    serials = [r[0] for r in service.db.rows("SELECT serial FROM items ORDER BY leaf_index")]
    pallets = [
        r[0] for r in service.db.rows("SELECT sscc FROM logistic_units WHERE kind = 'pallet'")
    ]
    if shipped:
        ship(api, admin, brand["id"], plant["id"], factory, pallets)
    return {"batch": batch["id"], "serials": serials}


def ship(api: Api, admin: str, brand: int, plant: int, factory: str, pallets: list[str]) -> None:
    """The factory ships every pallet to distributor A (Zhejiang), who receives them."""
    a = api.call(
        "POST",
        "/organisations",
        admin,
        201,
        json={"name": "A", "kind": "distributor", "brand_id": brand},
    )["id"]
    a_key = api.call(
        "POST", f"/organisations/{a}/api-keys", admin, 201, json={"role": "distributor"}
    )["api_key"]
    api.call("PUT", f"/organisations/{a}/territories", admin, json={"regions": ["330000"]})

    def site(org: int, kind: str, region: str) -> int:
        body = {"name": f"site {org}", "kind": kind, "region": region}
        return int(api.call("POST", f"/organisations/{org}/sites", admin, 201, json=body)["id"])

    f_site, a_site = site(plant, "plant", "520382"), site(a, "warehouse", "330106")
    t0 = datetime.now(UTC) - timedelta(hours=1)
    for key, action, extra in (
        (factory, "dispatch", {"site_id": f_site, "receiver_id": a, "shipment": "F-1"}),
        (a_key, "receive", {"site_id": a_site}),
    ):
        scans = [
            {
                "client_event_id": f"{action}-{n}",
                "action": action,
                "code": code,
                "time": (t0 + timedelta(seconds=n)).isoformat(),
                **extra,
            }
            for n, code in enumerate(pallets)
        ]
        t0 += timedelta(minutes=10)
        result = api.call("POST", "/scans/upload", key, json={"device_id": "bench", "scans": scans})
        if result["counts"] != {"applied": len(pallets)}:
            raise RuntimeError(f"{action}: {result['counts']}")


# ----------------------------------------------------------------------------- load
def _lua(paths: list[str], json_accept: bool) -> str:
    listed = ",".join(f'"{p}"' for p in paths)
    accept = 'wrk.headers["Accept"] = "application/json"\n' if json_accept else ""
    return f"""
local paths = {{{listed}}}
local n = 0
{accept}request = function()
  n = n + 1
  return wrk.format("GET", paths[(n % #paths) + 1])
end
"""


def _ms(value: str) -> float:
    if value.endswith("us"):
        return float(value[:-2]) / 1000
    if value.endswith("ms"):
        return float(value[:-2])
    if value.endswith("m"):
        return float(value[:-1]) * 60_000
    return float(value[:-1]) * 1000  # seconds


def run_wrk(base: str, paths: list[str], seconds: int, workdir: Path, name: str) -> dict[str, Any]:
    script = workdir / f"{name}.lua"
    script.write_text(_lua(paths, json_accept=True))
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{CONNECTIONS}",
            f"-d{seconds}s",
            "--timeout",
            "10s",
            "--latency",
            "-s",
            str(script),
            base,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    percentiles = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0].endswith("%"):
            percentiles[parts[0]] = _ms(parts[1])
    requests = next(int(line.split()[0]) for line in out.splitlines() if "requests in" in line)
    rps = next(float(line.split()[1]) for line in out.splitlines() if "Requests/sec" in line)
    errors = [line.strip() for line in out.splitlines() if "Non-2xx" in line or "errors" in line]
    if errors:
        raise RuntimeError(f"wrk saw errors against {name}: {errors}")
    return {
        "tool": "wrk",
        "requests": requests,
        "rps": round(rps, 1),
        "p50_ms": percentiles.get("50%"),
        "p99_ms": percentiles.get("99%"),
    }


def run_python(base: str, paths: list[str], seconds: int) -> dict[str, Any]:
    """The same load with Python threads (when wrk is not installed)."""
    latencies: list[float] = []
    lock = threading.Lock()
    stop_at = time.perf_counter() + seconds
    counter = iter(range(10**9))

    def client() -> None:
        local = httpx.Client(base_url=base, timeout=30, headers={"Accept": "application/json"})
        mine: list[float] = []
        while time.perf_counter() < stop_at:
            with lock:
                path = paths[next(counter) % len(paths)]
            t = time.perf_counter()
            response = local.get(path)
            mine.append((time.perf_counter() - t) * 1000)
            if response.status_code != 200:
                raise RuntimeError(f"{path}: {response.status_code} {response.text[:200]}")
        with lock:
            latencies.extend(mine)

    started = time.perf_counter()
    with ThreadPoolExecutor(CONNECTIONS) as pool:
        for done in [pool.submit(client) for _ in range(CONNECTIONS)]:
            done.result()
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "tool": "python",
        "requests": len(latencies),
        "rps": round(len(latencies) / elapsed, 1),
        "p50_ms": round(statistics.median(latencies), 2),
        "p99_ms": round(latencies[max(0, int(len(latencies) * 0.99) - 1)], 2),
    }


def measure(base: str, paths: list[str], seconds: int, workdir: Path, name: str) -> dict[str, Any]:
    if shutil.which("wrk"):
        return run_wrk(base, paths, seconds, workdir, name)
    return run_python(base, paths, seconds)


# ----------------------------------------------------------------------------- claims
def claims_per_s(quick: bool) -> dict[str, Any]:
    """Claims per second on anvil, single against batched, as bench_chain measures them."""
    args = [sys.executable, str(ROOT / "scripts" / "bench_chain.py")]
    if quick:
        args.append("--quick")
    done = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    claims = result["claims_per_s"]
    return {
        "single": claims["single"],
        "batched": claims["batched"],
        "ratio": round(claims["batched"] / claims["single"], 2),
        "params": result["params"],
    }


# ----------------------------------------------------------------------------- main
def scan_paths(
    serials: list[str], rng: random.Random, regions: tuple[str, ...] = REGIONS
) -> list[str]:
    """Every serial once in random order; one request in four names a region."""
    order = list(serials)
    rng.shuffle(order)
    paths = []
    for n, serial in enumerate(order):
        path = f"/01/{GTIN}/10/{LOT}/21/{serial}"
        if n % 4 == 0:
            path += f"?region={regions[(n // 4) % len(regions)]}"
        paths.append(path)
    return paths


def consumer_scans(db: Database) -> int:
    return int(db.rows("SELECT count(*) FROM consumer_scans")[0][0])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run (CI)")
    parser.add_argument("--items", type=int, default=None, help="items in the batch")
    parser.add_argument("--seconds", type=int, default=None, help="seconds per measured round")
    parser.add_argument("--rounds", type=int, default=None, help="rounds of each")
    parser.add_argument(
        "--shipped",
        action="store_true",
        help="ship the batch to a distributor first: every scan also reads a journey",
    )
    parser.add_argument(
        "--db",
        choices=("sqlite", "postgres"),
        default="sqlite",
        help="the service's database: SQLite (default) or a database of its own on the local "
        "PostgreSQL ($TRACECERT_BENCH_PG, default postgres@127.0.0.1:5432), dropped afterwards",
    )
    parser.add_argument("--serve-baseline", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_baseline is not None:
        serve_baseline(args.serve_baseline, args.port)
        return 0
    items = args.items or (2_000 if args.quick else 20_000)
    seconds = args.seconds or (2 if args.quick else 10)
    rounds = args.rounds or (1 if args.quick else 3)
    rng = random.Random(7)
    workdir = Path(tempfile.mkdtemp(prefix="bench_verify_"))
    db = Database(args.db, workdir)
    service: Service | None = None
    baseline: Baseline | None = None
    try:
        service = Service(workdir, db)
        api = Api(service.base)
        with console.status(f"setting up an anchored batch of {items:,} items"):
            s = set_up(service, api, items, shipped=args.shipped)
        serials = s["serials"]
        paths = scan_paths(serials, rng, SHIPPED_REGIONS if args.shipped else REGIONS)
        first = httpx.get(service.base + paths[1], headers={"Accept": "application/json"}).json()
        if first["verdict"] != "genuine":
            raise RuntimeError(f"a scan of an anchored bottle says {first['verdict']}")
        baseline = Baseline(db, workdir)
        base_paths = [f"/items/{serial}" for serial in rng.sample(serials, len(serials))]
        if httpx.get(baseline.base + base_paths[0]).status_code != 200:
            raise RuntimeError("the baseline does not find an item")
        # Warm both (first connections, caches, the chain check of the batch root).
        measure(service.base, paths, 1, workdir, "warm-scan")
        measure(baseline.base, base_paths, 1, workdir, "warm-baseline")
        before = consumer_scans(db)
        scan_rounds, base_rounds = [], []
        for n in range(rounds):
            base_rounds.append(measure(baseline.base, base_paths, seconds, workdir, "baseline"))
            scan_rounds.append(measure(service.base, paths, seconds, workdir, "scan"))
            console.print(
                f"round {n + 1}: baseline {base_rounds[-1]['rps']:,.0f} rps, "
                f"scan {scan_rounds[-1]['rps']:,.0f} rps "
                f"(p99 {scan_rounds[-1]['p99_ms']} ms)"
            )
        time.sleep(0.5)  # the scan log writes every ~100 ms
        after = consumer_scans(db)
        if baseline is not None:
            baseline.stop()
            baseline = None
        service.stop()
        service = None
        recorded = consumer_scans(db)  # with what the scan log wrote at shutdown
    finally:
        if baseline is not None:
            baseline.stop()
        if service is not None:
            service.stop()
        db.drop()
        shutil.rmtree(workdir, ignore_errors=True)
    measured = sum(r["requests"] for r in scan_rounds)
    added = after - before
    if added < measured:
        raise RuntimeError(f"{measured} scans answered but {added} recorded")
    with console.status("claims per second on anvil (bench_chain)"):
        claims = claims_per_s(args.quick)
    rps = statistics.median(r["rps"] for r in scan_rounds)
    baseline_rps = statistics.median(r["rps"] for r in base_rounds)
    p99 = max(r["p99_ms"] for r in scan_rounds)
    ratio = round(rps / baseline_rps, 3)
    result = {
        "rps": rps,
        "baseline_rps": baseline_rps,
        "ratio": ratio,
        "p50_ms": statistics.median(r["p50_ms"] for r in scan_rounds),
        "p99_ms": p99,
        "baseline_p99_ms": max(r["p99_ms"] for r in base_rounds),
        "claims_per_s": {"single": claims["single"], "batched": claims["batched"]},
        "claims_ratio": claims["ratio"],
        "targets_met": {
            "ratio_at_least_0.8": ratio >= 0.8,
            "p99_at_most_50_ms": p99 <= 50,
            "batched_claims_at_least_5x": claims["ratio"] >= 5,
        },
        "scans_recorded": {
            "measured_requests": measured,
            "rows_added": added,
            "rows_at_shutdown": recorded,
        },
        "rounds": {"scan": scan_rounds, "baseline": base_rounds},
        "params": {
            "items": items,
            "connections": CONNECTIONS,
            "seconds": seconds,
            "rounds": rounds,
            "db": args.db,
            "shipped": args.shipped,
            "tool": scan_rounds[0]["tool"],
            "claims": claims["params"],
        },
    }
    console.print(
        f"verify-scan {rps:,.0f} rps (p50 {result['p50_ms']} ms, p99 {p99} ms) "
        f"vs baseline {baseline_rps:,.0f} rps: ratio {ratio}; "
        f"claims/s single {claims['single']}, batched {claims['batched']} "
        f"(x{claims['ratio']})"
    )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
