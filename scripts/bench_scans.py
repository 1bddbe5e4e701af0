"""Benchmark: scan ingest in the channel, through the real service on loopback.

``tracecert run`` is started as users start it (managed anvil, SQLite in a temporary data
directory, the API on 127.0.0.1). A batch of N items (cases of 6, pallets of 100 cases) is then
moved through the channel with offline uploads, every scan expanded to the items it moves and
checked for diversion inline:

1. the factory dispatches every pallet to distributor A (Zhejiang);
2. A receives the pallets;
3. A dispatches the cases: nine in ten to store S1 (Hangzhou), one in ten to store S2
   (Nanjing, outside A's territory);
4. S1 and S2 receive their cases (S2's receipts raise diversion alerts naming A).

``item_scans_per_s`` is the items those scans moved, divided by the wall time of the uploads.
Then eight concurrent clients (``--clients``) receive single cases with ``POST /scans`` (one case
per request) and ``case_scan_p99_ms`` is the 99th percentile of their latencies (the others are
in ``percentiles_ms``); ``case_scan_cpu_ms`` is the CPU time the service's process spent during
those requests (all its threads, from /proc; not the anchorer's proof process), per request.
The last line is one JSON
object with both and the details.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from chain.backends import free_port  # noqa: E402

console = Console(stderr=True)
GTIN = "09506000134352"
UPLOAD = 5_000


PG_SERVER = os.environ.get("TRACECERT_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432")


class Database:
    """The service's database: SQLite in the data directory, or a PostgreSQL database of the
    benchmark's own on the local server (``--db postgres``), dropped at the end."""

    def __init__(self, kind: str, workdir: Path) -> None:
        self.kind = kind
        self.name: str | None = None
        if kind == "postgres":
            self.name = f"tracecert_bench_{uuid.uuid4().hex[:12]}"
            self._admin(f'CREATE DATABASE "{self.name}"')
            self.url = f"{PG_SERVER}/{self.name}"
        else:
            self.url = f"sqlite:///{workdir / 'data' / 'tracecert.db'}"
        self._engine: Any = None

    def _admin(self, sql: str) -> None:
        from sqlalchemy import create_engine, text

        engine = create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                conn.execute(text(sql))
        finally:
            engine.dispose()

    def rows(self, sql: str, **params: Any) -> list[Any]:
        from sqlalchemy import create_engine, text

        if self._engine is None:
            self._engine = create_engine(self.url)
        with self._engine.connect() as conn:
            return list(conn.execute(text(sql), params).all())

    def drop(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
        if self.name is not None:
            self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


class Service:
    """``tracecert run`` in a subprocess, stopped by its PID at the end."""

    def __init__(self, workdir: Path, db: Database) -> None:
        self.db = db
        self.port = free_port()
        self.env = {
            **os.environ,
            "TRACECERT_DATA_DIR": str(workdir / "data"),
            "TRACECERT_PORT": str(self.port),
            "CHAIN_ANVIL_PORT": str(free_port()),
            "CHAIN_BACKEND": "anvil",
            # Every request comes from 127.0.0.1: the scan rate limits (per device and per
            # network, issue 12) are off unless the caller's environment sets them.
            "TRACECERT_SCAN_DEVICE_PER_MIN": os.environ.get("TRACECERT_SCAN_DEVICE_PER_MIN", "0"),
            "TRACECERT_SCAN_NETWORK_PER_MIN": os.environ.get("TRACECERT_SCAN_NETWORK_PER_MIN", "0"),
        }
        self.env.pop("TRACECERT_DATABASE_URL", None)
        if db.kind == "postgres":
            self.env["TRACECERT_DATABASE_URL"] = db.url
        self.log = (workdir / "service.log").open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "service.cli", "run"],
            cwd=ROOT,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.base = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError("tracecert run exited; see " + str(self.log.name))
            time.sleep(0.3)
        self.stop()
        tail = Path(self.log.name).read_text(errors="replace")[-2000:]
        raise RuntimeError(f"tracecert run did not become healthy:\n{tail}")

    def cli(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "service.cli", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
            timeout=300,
        )
        return done.stdout

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


class Api:
    def __init__(self, base: str) -> None:
        self.client = httpx.Client(base_url=base, timeout=300)

    def call(self, method: str, path: str, key: str, status: int = 200, **kw: Any) -> Any:
        response = self.client.request(
            method, path, headers={"Authorization": f"Bearer {key}"}, **kw
        )
        if response.status_code != status:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text[:300]}")
        return response.json()


def set_up(service: Service, api: Api, items: int) -> dict[str, Any]:
    admin = service.cli("admin", "create", "--name", "Platform").split()[-1]

    def org(name: str, kind: str, brand: int | None = None) -> int:
        body = {"name": name, "kind": kind, **({"brand_id": brand} if brand else {})}
        return int(api.call("POST", "/organisations", admin, 201, json=body)["id"])

    def key(org_id: int, role: str) -> str:
        return str(
            api.call("POST", f"/organisations/{org_id}/api-keys", admin, 201, json={"role": role})[
                "api_key"
            ]
        )

    def site(org_id: int, name: str, kind: str, region: str) -> int:
        body = {"name": name, "kind": kind, "region": region}
        return int(api.call("POST", f"/organisations/{org_id}/sites", admin, 201, json=body)["id"])

    brand = org("Brand", "brand")
    prefixes = {"prefixes": [GTIN[1:8]]}  # the brand's GTINs fall within its company prefixes
    api.call("PUT", f"/organisations/{brand}/company-prefixes", admin, json=prefixes)
    plant = org("Factory", "factory", brand)
    a, s1, s2 = (
        org("Distributor A", "distributor", brand),
        org("Store S1", "store", brand),
        org("Store S2", "store", brand),
    )
    for org_id, region in ((a, "330000"), (s1, "330106"), (s2, "320000")):
        api.call("PUT", f"/organisations/{org_id}/territories", admin, json={"regions": [region]})
    api.call(
        "POST", "/products", admin, 201, json={"gtin": GTIN, "name": "Baijiu", "brand_id": brand}
    )
    factory_key = key(plant, "factory")
    batch = api.call(
        "POST",
        "/batches",
        factory_key,
        201,
        json={
            "gtin": GTIN,
            "lot": "BENCH",
            "production_date": datetime.now(UTC).date().isoformat(),
            "line": "L1",
            "planned_quantity": items,
            "case_size": 6,
            "cases_per_pallet": 100,
        },
    )
    api.call("POST", f"/batches/{batch['id']}/codes", factory_key)
    api.call("POST", f"/batches/{batch['id']}/activate", factory_key)
    units: dict[str, list[str]] = {"pallet": [], "case": []}
    for kind in ("pallet", "case"):
        offset = 0
        while True:
            # Read the SSCCs back the way a printer gets them: the label PDFs carry them, but a
            # benchmark reads them from the database the service itself writes.
            rows = _ssccs(service, batch["id"], kind, offset)
            if not rows:
                break
            units[kind] += rows
            offset += len(rows)
    return {
        "factory": factory_key,
        "a": key(a, "distributor"),
        "s1": key(s1, "store"),
        "s2": key(s2, "store"),
        "a_org": a,
        "s1_org": s1,
        "s2_org": s2,
        "f_site": site(plant, "Plant", "plant", "520382"),
        "a_site": site(a, "Hangzhou DC", "warehouse", "330106"),
        "s1_site": site(s1, "West Lake", "shop", "330106"),
        "s2_site": site(s2, "Nanjing", "shop", "320102"),
        "pallets": units["pallet"],
        "cases": units["case"],
    }


def _ssccs(service: Service, batch_id: str, kind: str, offset: int) -> list[str]:
    rows = service.db.rows(
        "SELECT u.sscc FROM logistic_units u JOIN batches b ON b.id = u.batch_id "
        "WHERE b.public_id = :b AND u.kind = :k ORDER BY u.position LIMIT 50000 OFFSET :o",
        b=batch_id,
        k=kind,
        o=offset,
    )
    return [r[0] for r in rows]


def upload(
    api: Api, key: str, device: str, scans: list[dict[str, Any]]
) -> tuple[dict[str, int], int]:
    """Upload ``scans`` in files of UPLOAD; the outcomes counted, and the items the applied
    scans moved as the server answered them (a pallet's every bottle, a case's six)."""
    counts: dict[str, int] = {}
    items = 0
    for start in range(0, len(scans), UPLOAD):
        result = api.call(
            "POST",
            "/scans/upload",
            key,
            json={"device_id": device, "scans": scans[start : start + UPLOAD]},
        )
        for outcome, n in result["counts"].items():
            counts[outcome] = counts.get(outcome, 0) + n
        items += sum(r["items"] for r in result["results"] if r["outcome"] == "applied")
    return counts, items


def diversion_alerts(api: Api, key: str) -> int:
    """The diversion alerts the key's organisation is responsible for, every page read."""
    found, offset = 0, 0
    while True:
        page = api.call("GET", "/alerts", key, params={"limit": 500, "offset": offset})
        found += sum(1 for a in page if a["kind"] == "diversion")
        if len(page) < 500:
            return found
        offset += len(page)


def bulk_ingest(api: Api, s: dict[str, Any]) -> dict[str, Any]:
    t0 = datetime.now(UTC) - timedelta(hours=6)
    clock = [t0]

    def at() -> str:
        clock[0] += timedelta(milliseconds=10)
        return clock[0].isoformat()

    def scans(action: str, codes: list[str], prefix: str, **extra: Any) -> list[dict[str, Any]]:
        return [
            {"client_event_id": f"{prefix}-{n}", "action": action, "code": c, "time": at(), **extra}
            for n, c in enumerate(codes)
        ]

    cases = s["cases"]
    held_back = cases[-min(3000, len(cases) // 5) :]  # kept at A for the latency phase
    moving = cases[: len(cases) - len(held_back)]
    to_s2 = moving[::10]
    to_s1 = [c for c in moving if c not in set(to_s2)]
    steps = [
        (
            "factory",
            "dispatch pallets",
            scans(
                "dispatch",
                s["pallets"],
                "fd",
                site_id=s["f_site"],
                receiver_id=s["a_org"],
                shipment="F-BULK",
            ),
        ),
        ("a", "receive pallets", scans("receive", s["pallets"], "ar", site_id=s["a_site"])),
        (
            "a",
            "dispatch cases",
            scans(
                "dispatch",
                to_s1,
                "ad1",
                site_id=s["a_site"],
                receiver_id=s["s1_org"],
                shipment="A-S1",
            )
            + scans(
                "dispatch",
                to_s2,
                "ad2",
                site_id=s["a_site"],
                receiver_id=s["s2_org"],
                shipment="A-S2",
            ),
        ),
        ("s1", "S1 receives", scans("receive", to_s1, "s1r", site_id=s["s1_site"])),
        ("s2", "S2 receives (diverted)", scans("receive", to_s2, "s2r", site_id=s["s2_site"])),
    ]
    per_step = {}
    items = 0
    started = time.perf_counter()
    for who, name, batch in steps:
        t = time.perf_counter()
        counts, moved = upload(api, s[who], f"bench-{who}", batch)
        elapsed = time.perf_counter() - t
        if counts != {"applied": len(batch)}:
            raise RuntimeError(f"{name}: {counts}")
        items += moved
        per_step[name] = {
            "scans": len(batch),
            "items": moved,
            "seconds": round(elapsed, 3),
            "item_scans_per_s": round(moved / elapsed),
        }
        console.print(f"{name:24s} {len(batch):6d} scans {moved:8,d} items {elapsed:7.2f} s")
    total = time.perf_counter() - started
    alerts = diversion_alerts(api, s["a"])
    if alerts != len(to_s2):
        raise RuntimeError(f"{alerts} diversion alerts for {len(to_s2)} diverted cases")
    return {
        "item_scans": items,
        "seconds": round(total, 3),
        "item_scans_per_s": round(items / total),
        "steps": per_step,
        "diversion_alerts": alerts,
        "held_back": held_back,
    }


def _dispatch_for_latency(api: Api, s: dict[str, Any], cases: list[str]) -> None:
    t0 = datetime.now(UTC) - timedelta(hours=1)
    batch = [
        {
            "client_event_id": f"lat-d-{n}",
            "action": "dispatch",
            "code": c,
            "site_id": s["a_site"],
            "receiver_id": s["s1_org"],
            "shipment": "A-LAT",
            "time": (t0 + timedelta(seconds=n)).isoformat(),
        }
        for n, c in enumerate(cases)
    ]
    upload(api, s["a"], "bench-lat", batch)


def _online_receipt_span(db: Database) -> float:
    """Seconds between the first and last online scan (server-made ``srv-`` event ids)."""
    ((first, last),) = db.rows(
        "SELECT min(recorded_at), max(recorded_at) FROM scan_events "
        "WHERE client_event_id LIKE 'srv-%'"
    )
    if first is None:
        return 0.0
    if isinstance(first, str):  # SQLite keeps ISO text
        first, last = datetime.fromisoformat(first), datetime.fromisoformat(last)
    return float((last - first).total_seconds())


def service_cpu_seconds(pid: int) -> float:
    """CPU time (user + system) the service's process has used so far, from /proc (Linux):
    its own threads, not its children (anvil). 0 where /proc is missing."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def latency_wrk(
    api_base: str,
    s: dict[str, Any],
    cases: list[str],
    clients: int,
    workdir: Path,
    db: Database,
    pid: int,
) -> dict[str, Any]:
    """Single case receipts by ``wrk`` (C, so the load generator takes little of the 2 cores):
    each request receives the next case at S1's shop; wrk stops when the cases run out, so
    every measured request is a first receipt (one wrk thread, so one sequence of cases)."""
    _dispatch_for_latency(Api(api_base), s, cases)
    script = workdir / "receive.lua"
    codes = ",".join(f'"{c}"' for c in cases)
    script.write_text(
        f"""
local codes = {{{codes}}}
local n = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {s["s1"]}"
request = function()
  n = n + 1
  local code = codes[math.min(n, #codes)]
  local body = '{{"action":"receive","site_id":{s["s1_site"]},"code":"' .. code .. '"}}'
  return wrk.format(nil, "/scans", nil, body)
end
response = function(status, headers, body)
  if n >= #codes then wrk.thread:stop() end
end
"""
    )
    # wrk runs for whole seconds even once a thread stopped: long enough for ~400 req/s.
    seconds = max(1, len(cases) // 400)
    cpu = service_cpu_seconds(pid)
    out = subprocess.run(
        ["wrk", "-t1", f"-c{clients}", f"-d{seconds}s", "--latency", "-s", str(script), api_base],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    cpu = service_cpu_seconds(pid) - cpu
    percentiles = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0].endswith("%"):
            value = parts[1]
            ms = (
                float(value[:-2])
                if value.endswith("ms")
                else (
                    float(value[:-2]) / 1000 if value.endswith("us") else float(value[:-1]) * 1000
                )
            )
            percentiles[parts[0]] = ms
    requests = next(int(line.split()[0]) for line in out.splitlines() if "requests in" in line)
    # wrk's own rate divides by the whole duration; the receipts' first and last recording
    # times give the span the requests really took.
    span = _online_receipt_span(db)
    rps = round(requests / span, 1) if span > 0 else None
    errors = [line.strip() for line in out.splitlines() if "Non-2xx" in line or "errors" in line]
    if errors:
        raise RuntimeError(f"wrk saw errors: {errors}")
    return {
        "tool": "wrk",
        "clients": clients,
        "requests": requests,
        "rps": rps,
        "p50_ms": percentiles.get("50%"),
        "p99_ms": percentiles.get("99%"),
        "percentiles_ms": percentiles,
        "distinct_cases": len(cases),
        "cpu_ms_per_scan": round(cpu * 1000 / requests, 2) if requests else None,
    }


def latency_python(
    api_base: str, s: dict[str, Any], cases: list[str], clients: int, pid: int
) -> dict[str, Any]:
    """The same with Python threads (when wrk is not installed): each case received once."""
    _dispatch_for_latency(Api(api_base), s, cases)
    latencies: list[float] = []
    lock = threading.Lock()
    work = list(cases)

    def client() -> None:
        local = httpx.Client(base_url=api_base, timeout=30)
        headers = {"Authorization": f"Bearer {s['s1']}"}
        mine: list[float] = []
        while True:
            with lock:
                if not work:
                    break
                code = work.pop()
            t = time.perf_counter()
            response = local.post(
                "/scans",
                json={"action": "receive", "code": code, "site_id": s["s1_site"]},
                headers=headers,
            )
            mine.append((time.perf_counter() - t) * 1000)
            if response.status_code != 200:
                raise RuntimeError(response.text)
        with lock:
            latencies.extend(mine)

    started = time.perf_counter()
    cpu = service_cpu_seconds(pid)
    with ThreadPoolExecutor(clients) as pool:
        for done in [pool.submit(client) for _ in range(clients)]:
            done.result()  # a refused scan fails the benchmark, not just its thread
    elapsed = time.perf_counter() - started
    cpu = service_cpu_seconds(pid) - cpu
    if len(latencies) != len(cases):
        raise RuntimeError(f"{len(latencies)} of {len(cases)} case scans measured")
    latencies.sort()
    return {
        "tool": "python",
        "requests": len(latencies),
        "clients": clients,
        "rps": round(len(latencies) / elapsed, 1),
        "p50_ms": round(statistics.median(latencies), 2),
        "p99_ms": round(latencies[max(0, int(len(latencies) * 0.99) - 1)], 2),
        "cpu_ms_per_scan": round(cpu * 1000 / len(latencies), 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short run (CI)")
    parser.add_argument("--items", type=int, default=None, help="items in the batch")
    parser.add_argument(
        "--clients", type=int, default=8, help="concurrent clients of the case scans (8)"
    )
    parser.add_argument(
        "--db",
        choices=("sqlite", "postgres"),
        default="sqlite",
        help="the service's database: SQLite (default) or a database of its own on the local "
        "PostgreSQL ($TRACECERT_BENCH_PG, default postgres@127.0.0.1:5432), dropped afterwards",
    )
    args = parser.parse_args()
    items = args.items or (12_000 if args.quick else 120_000)
    workdir = Path(tempfile.mkdtemp(prefix="bench_scans_"))
    db = Database(args.db, workdir)
    service: Service | None = None
    try:
        service = Service(workdir, db)
        api = Api(service.base)
        with console.status(f"setting up a batch of {items:,} items and the channel"):
            s = set_up(service, api, items)
        ingest = bulk_ingest(api, s)
        held = ingest.pop("held_back")
        if shutil.which("wrk"):
            lat = latency_wrk(service.base, s, held, args.clients, workdir, db, service.proc.pid)
        else:
            console.print("[yellow]wrk not found (apt-get install wrk): Python clients[/yellow]")
            lat = latency_python(service.base, s, held, args.clients, service.proc.pid)
    finally:
        if service is not None:
            service.stop()
        db.drop()
        shutil.rmtree(workdir, ignore_errors=True)
    result = {
        "item_scans_per_s": ingest["item_scans_per_s"],
        "case_scan_p99_ms": lat["p99_ms"],
        "case_scan_cpu_ms": lat["cpu_ms_per_scan"],
        "ingest": ingest,
        "case_scans": lat,
        "params": {"items": items, "case_size": 6, "cases_per_pallet": 100, "db": args.db},
    }
    console.print(
        f"bulk ingest {ingest['item_scans']:,} item-scans in {ingest['seconds']} s = "
        f"{ingest['item_scans_per_s']:,}/s; single case scans at {args.clients} clients: "
        f"p50 {lat['p50_ms']} ms, p99 {lat['p99_ms']} ms ({lat['rps']} req/s), "
        f"{lat['cpu_ms_per_scan']} CPU ms per scan in the service"
    )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
