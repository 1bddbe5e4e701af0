"""API fuzzing: schemathesis against a seeded ``tracecert run``, with no key and every role's.

``tracecert run`` is started as users start it (managed anvil, SQLite in a temporary data
directory, the API on 127.0.0.1), then seeded over HTTP with a full channel so that requests hit
real rows: a brand, its factory, a distributor and two stores (one outside its territory, so a
diversion alert exists), a custodian, a pledgee, an attestor and an auditor, each with a key;
an anchored batch moved through the channel; a consumer signed in with the one-time code (read
from the service log, dev mode), holding claimed certificates with an open pledge.

The OpenAPI document is fetched from the server and its path and query parameters get the seeded
ids as examples (so the examples phase reads real batches, shipments, alerts, certificates...),
then ``st run`` runs once per caller: anonymous, each role's API key and the consumer's session.
Its JSON reports land in ``--out``; the last line printed is one JSON summary. The exit status is
1 when any run found a failure (a 5xx, a response that breaks the schema, an undeclared status,
...), else 0.

  scripts/schemathesis                    the bounded pass (scripts/test runs it): 45 s a caller
  scripts/schemathesis --long             every caller, all phases, 25 examples per operation
  scripts/schemathesis --callers admin,consumer --examples 50 --phases fuzzing
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from chain.backends import free_port  # noqa: E402

GTIN = "09506000134352"
ZHEJIANG, HANGZHOU, JIANGSU, NANJING = "330000", "330106", "320000", "320102"
ROLES = ["admin", "brand", "factory", "distributor", "store", "custodian", "pledgee",
         "attestor", "auditor"]  # fmt: skip
#: Every caller of the long run: no key, each role's key, a consumer's session.
CALLERS = ["anonymous", *ROLES, "consumer"]
#: The bounded pass of scripts/test: no key, the admin (who may call nearly everything), a
#: partner and the consumer.
QUICK_CALLERS = ["anonymous", "admin", "distributor", "consumer"]
PHASES = "examples,coverage,fuzzing,stateful"


def say(message: str) -> None:
    print(f"[schemathesis] {message}", file=sys.stderr, flush=True)


def wait_for(predicate: Callable[[], Any], what: str, timeout: float = 120.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"timed out waiting for {what}")


class Service:
    """``tracecert run`` in its own process group, its log in a file; stopped by its PID."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.env = {
            **os.environ,
            "TRACECERT_DATA_DIR": str(workdir / "data"),
            "TRACECERT_PORT": str(self.port),
            "TRACECERT_SENDER_POLL_INTERVAL_S": "0.1",
            "TRACECERT_LOG_ANCHOR_INTERVAL_S": "2",
            "TRACECERT_CLAIM_BATCH_WINDOW_S": "0.2",
            # Its consumers and the fuzzer all ask for codes from 127.0.0.1.
            "TRACECERT_OTP_MAX_PER_NETWORK_PER_HOUR": "100000",
            "CHAIN_ANVIL_PORT": str(free_port()),
            "CHAIN_BACKEND": "anvil",
            # Every request comes from 127.0.0.1: the scan rate limits (per device and per
            # network, issue 12) are off unless the caller's environment sets them.
            "TRACECERT_SCAN_DEVICE_PER_MIN": os.environ.get("TRACECERT_SCAN_DEVICE_PER_MIN", "0"),
            "TRACECERT_SCAN_NETWORK_PER_MIN": os.environ.get("TRACECERT_SCAN_NETWORK_PER_MIN", "0"),
        }
        self.env.pop("TRACECERT_DATABASE_URL", None)
        self.log_path = workdir / "service.log"
        self.log = self.log_path.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "service.cli", "run"],
            cwd=ROOT,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.base = f"http://127.0.0.1:{self.port}"
        try:
            wait_for(lambda: self._healthy(), "tracecert run to be healthy", timeout=120)
        except RuntimeError:
            self.stop()
            raise

    def _healthy(self) -> bool:
        if self.proc.poll() is not None:
            raise RuntimeError(f"tracecert run exited; see {self.log_path}")
        return httpx.get(f"{self.base}/health", timeout=2).status_code == 200

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
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.log.close()


class Api:
    def __init__(self, base: str) -> None:
        self.client = httpx.Client(base_url=base, timeout=120)

    def call(self, method: str, path: str, token: str | None, status: int = 200, **kw: Any) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = self.client.request(method, path, headers=headers, **kw)
        if response.status_code != status:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text[:300]}")
        return response.json() if response.content else None


def sign_in(api: Api, service: Service, destination: str) -> str:
    """A consumer's session token through the one-time code (dev mode: the code is logged)."""
    sent = api.call("POST", "/accounts/codes", None, 202, json={"destination": destination})
    pattern = re.compile(rf"one-time code for {re.escape(destination)} \(\w+\): (\d{{6}})")
    code = wait_for(
        lambda: (pattern.findall(service.log_path.read_text()) or [None])[-1], "code in the log"
    )
    session = api.call(
        "POST",
        "/accounts/sessions",
        None,
        201,
        json={"challenge_id": sent["challenge_id"], "code": code},
    )
    return str(session["token"])


def seed(service: Service, api: Api) -> dict[str, Any]:
    """A full channel with real rows; the callers' tokens and the ids to use as examples."""
    admin = service.cli("admin", "create", "--name", "Platform").split()[-1]
    tokens: dict[str, str | None] = {"anonymous": None, "admin": admin}

    def org(name: str, kind: str, brand: int | None = None) -> int:
        body = {"name": name, "kind": kind, **({"brand_id": brand} if brand else {})}
        return int(api.call("POST", "/organisations", admin, 201, json=body)["id"])

    def key(org_id: int, role: str) -> str:
        body = {"role": role}
        path = f"/organisations/{org_id}/api-keys"
        return str(api.call("POST", path, admin, 201, json=body)["api_key"])

    def site(org_id: int, name: str, kind: str, region: str) -> int:
        body = {"name": name, "kind": kind, "region": region}
        return int(api.call("POST", f"/organisations/{org_id}/sites", admin, 201, json=body)["id"])

    brand = org("Brand", "brand")
    # The brand's GTINs (GTIN, and the one the admin registers below) fall within its prefixes.
    prefixes = {"prefixes": [GTIN[1:8], "4006381"]}
    api.call("PUT", f"/organisations/{brand}/company-prefixes", admin, json=prefixes)
    orgs = {"brand": brand}
    for kind in ("factory", "distributor", "store"):
        orgs[kind] = org(kind.title(), kind, brand)
    orgs["store2"] = org("Store outside", "store", brand)
    for kind in ("custodian", "pledgee", "attestor", "auditor"):
        orgs[kind] = org(kind.title(), kind)
    for role in ROLES[1:]:
        tokens[role] = key(orgs[role], role)
    brand_key = tokens["brand"]
    store2_key = key(orgs["store2"], "store")
    api.call("POST", "/products", brand_key, 201, json={"gtin": GTIN, "name": "Baijiu 53%"})
    # The brand authorises its partners: its bottles go only to them.
    for partner in ("custodian", "pledgee", "attestor"):
        body = {"organisation_id": orgs[partner], "roles": [partner]}
        api.call("PUT", "/brand/partners", brand_key, json=body)
    for child in ("store", "store2"):
        body = {"channel_parent_id": orgs["distributor"]}
        api.call("PUT", f"/organisations/{orgs[child]}/channel-parent", brand_key, json=body)
    for name, region in (("distributor", ZHEJIANG), ("store", HANGZHOU), ("store2", JIANGSU)):
        body = {"regions": [region]}
        api.call("PUT", f"/organisations/{orgs[name]}/territories", brand_key, json=body)
    sites = {
        "factory": site(orgs["factory"], "Plant", "plant", "520382"),
        "distributor": site(orgs["distributor"], "DC", "warehouse", HANGZHOU),
        "store": site(orgs["store"], "Shop", "shop", HANGZHOU),
        "store2": site(orgs["store2"], "Shop 2", "shop", NANJING),
    }

    # An anchored batch of 2 pallets x 2 cases x 6 bottles, its PINs read before activation.
    factory = tokens["factory"]
    batch_body = {"gtin": GTIN, "lot": "FUZZ1", "production_date": "2026-11-20", "line": "L1",
            "planned_quantity": 24, "case_size": 6, "cases_per_pallet": 2}  # fmt: skip
    batch = api.call("POST", "/batches", factory, 201, json=batch_body)
    batch_id = batch["id"]
    api.call("POST", f"/batches/{batch_id}/codes", factory)
    code_file = api.client.get(
        f"/batches/{batch_id}/code-file", headers={"Authorization": f"Bearer {factory}"}
    )
    rows = list(csv.DictReader(io.StringIO(code_file.text)))
    api.call("POST", f"/batches/{batch_id}/activate", factory)
    api.call("POST", f"/batches/{batch_id}/anchor", factory, 202)
    wait_for(
        lambda: api.call("GET", f"/batches/{batch_id}", factory)["status"] == "anchored",
        "the batch to be anchored",
    )
    pallets = sorted({r["pallet_sscc"] for r in rows})
    cases = sorted({r["case_sscc"] for r in rows if r["pallet_sscc"] == pallets[0]})

    # Through the channel: pallet 1 to the distributor; one case to each store (the second
    # store is outside the distributor's territory: a diversion alert).
    def scan(token: str | None, **scan_body: Any) -> dict[str, Any]:
        return dict(api.call("POST", "/scans", token, json=scan_body))

    dist, store = tokens["distributor"], tokens["store"]
    scan(factory, action="dispatch", code=pallets[0], site_id=sites["factory"],
         receiver_id=orgs["distributor"], shipment="SHIP-1")  # fmt: skip
    scan(dist, action="receive", code=pallets[0], site_id=sites["distributor"])
    scan(dist, action="dispatch", code=cases[0], site_id=sites["distributor"],
         receiver_id=orgs["store"], shipment="SHIP-2")  # fmt: skip
    scan(store, action="receive", code=cases[0], site_id=sites["store"])
    scan(dist, action="dispatch", code=cases[1], site_id=sites["distributor"],
         receiver_id=orgs["store2"], shipment="SHIP-3")  # fmt: skip
    scan(store2_key, action="receive", code=cases[1], site_id=sites["store2"])
    (shipment,) = api.call("GET", "/shipments?direction=in", store)
    alerts = api.call("GET", "/alerts", brand_key)

    # A consumer with two certificates, one offered as a pledge to the pledgee.
    consumer = sign_in(api, service, "fuzz@example.com")
    tokens["consumer"] = consumer
    first, second = rows[0], rows[1]
    for row in (first, second):
        body = {"serial": row["serial"], "pin": row["pin"], "region": HANGZHOU}
        api.call("POST", "/claims", consumer, 202, json=body)
    wait_for(
        lambda: (
            all(c["state"] == "active" for c in api.call("GET", "/me/certificates", consumer))
            and len(api.call("GET", "/me/certificates", consumer)) == 2
        ),
        "the claims to be minted",
    )
    certificates = {c["serial"]: c["id"] for c in api.call("GET", "/me/certificates", consumer)}
    pledge = {"pledgee_id": orgs["pledgee"], "amount": "1000.00", "currency": "CNY",
              "due_date": "2030-01-01"}  # fmt: skip
    api.call("POST", f"/me/certificates/{certificates[second['serial']]}/pledge", consumer,
             json=pledge)  # fmt: skip
    deals = api.call("GET", "/deals", tokens["pledgee"])
    examples = {
        "organisation_id": orgs["distributor"],
        "alert_id": alerts[0]["id"] if alerts else 1,
        "batch_id": batch_id,
        "serial": first["serial"],
        "sscc": cases[0],
        "code": first["serial"],
        "gtin": GTIN,
        "lot": "FUZZ1",
        "certificate_id": certificates[first["serial"]],
        "deal_id": deals[0]["id"] if deals else "plg_unknown",
        "shipment_id": shipment["id"],
        "region": HANGZHOU,
        "parent": ZHEJIANG,
        "fmt": "png",
    }
    # Bodies that reach real rows (the examples phase sends them as they are).
    bodies = {
        ("POST", "/scans"): {"action": "observe", "code": cases[0], "site_id": sites["store"]},
        ("POST", "/activations"): {"code": cases[0]},
        ("POST", "/claims"): {"serial": rows[2]["serial"], "pin": "000000"},
        ("POST", "/batches"): {**batch_body, "lot": "FUZZ2"},
        ("POST", "/products"): {"gtin": "04006381333931", "name": "Other", "brand_id": brand},
        ("POST", "/batches/{batch_id}/recall"): {"reason": "fuzzing"},
        ("POST", "/alerts/{alert_id}/status"): {"status": "dismissed", "note": "fuzzing"},
        ("PUT", "/organisations/{organisation_id}/territories"): {"regions": [ZHEJIANG]},
    }
    return {"tokens": tokens, "examples": examples, "bodies": bodies}


def with_examples(
    document: dict[str, Any],
    examples: dict[str, Any],
    bodies: dict[tuple[str, str], dict[str, Any]],
) -> dict[str, Any]:
    """The document with the seeded ids as examples of the parameters that take them, and
    seeded bodies as examples of a few operations' bodies."""
    for path, item in document["paths"].items():
        for method, operation in item.items():
            body = bodies.get((method.upper(), path))
            content = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if body is not None and content is not None:
                content["examples"] = {"seeded": {"value": body}}
            for parameter in operation.get("parameters", []):
                value = examples.get(parameter["name"])
                if value is not None and parameter["in"] in ("path", "query"):
                    parameter["examples"] = {"seeded": {"value": value}}
    return document


def run_caller(
    caller: str,
    token: str | None,
    schema: Path,
    base: str,
    out: Path,
    args: argparse.Namespace,
    extra: list[str],
) -> dict[str, Any]:
    report = out / f"{caller}.json"
    command = [
        str(Path(sys.executable).with_name("st")),
        "run",
        str(schema),
        "--url",
        base,
        "--phases",
        args.phases,
        "--max-examples",
        str(args.examples),
        "--workers",
        str(args.workers),
        "--seed",
        str(args.seed),
        "--checks",
        "all",
        # A consumer's or a partner's own rows are checked by the cross-party tests; these
        # two checks need links or several users the run does not have.
        "--exclude-checks",
        "ignored_auth,object_level_authorization,positive_data_acceptance",
        "--request-timeout",
        "120",
        # labels.pdf draws up to 10,000 labels by default (8.3 s on an idle machine, 31 s seen
        # under load in a long run): slow by design, not wrong. Only a stall beyond that counts.
        "--max-response-time",
        "90",
        "--report",
        "json",
        "--report-json-path",
        str(report),
        "--no-color",
        *extra,
    ]
    if args.max_time and "--max-time" not in extra:
        command += ["--max-time", str(args.max_time)]
    if token is not None:
        command += ["-H", f"Authorization: Bearer {token}"]
    say(f"{caller}: st run ({args.phases}, {args.examples} examples per operation)")
    started = time.monotonic()
    with (out / f"{caller}.log").open("w") as log:
        done = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, check=False)
    took = time.monotonic() - started
    failures: dict[str, int] = {}
    operations = cases = 0
    if report.is_file():
        data = json.loads(report.read_text())
        failures = summarise(data)
        operations = int(data["operations"]["tested"])
        cases = int(data["test_cases"]["generated"])
    say(f"{caller}: exit {done.returncode} in {took:.0f} s, failures {failures or 'none'}")
    return {
        "caller": caller,
        "exit": done.returncode,
        "seconds": round(took, 1),
        "failures": failures,
        "operations": operations,
        "test_cases": cases,
        "report": str(report),
    }


def summarise(data: dict[str, Any]) -> dict[str, int]:
    """Failures by type (ServerError, JsonSchemaError, UndefinedStatusCode...) and errors,
    from st's JSON report."""
    counts: dict[str, int] = {}
    for failure in data.get("failures", []):
        name = f"{failure['type']} ({', '.join(failure.get('operations', []))})"
        counts[name] = counts.get(name, 0) + int(failure.get("count", 1))
    if data.get("errors"):
        counts["errors"] = len(data["errors"])
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--long", action="store_true", help="every caller, 25 examples")
    parser.add_argument("--callers", help="comma-separated: " + ", ".join(CALLERS))
    parser.add_argument("--examples", type=int, help="max examples per operation")
    parser.add_argument("--phases", default=PHASES)
    # One worker: with two, Hypothesis (inside st) parses lambda sources with ast.parse on two
    # threads at once, which CPython 3.11 can fail with "SystemError: AST constructor recursion
    # depth mismatch" (python/cpython#106905), an error of the tool, not of the API under test.
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-time", type=int, help="seconds per caller (a budget for st)")
    parser.add_argument("--out", type=Path, help="where the reports go (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the service's data directory")
    args = parser.parse_args()
    callers = (args.callers or ",".join(CALLERS if args.long else QUICK_CALLERS)).split(",")
    unknown = set(callers) - set(CALLERS)
    if unknown:
        parser.error(f"unknown callers {sorted(unknown)}; use {', '.join(CALLERS)}")
    if args.examples is None:
        args.examples = 25 if args.long else 15
    if args.max_time is None and not args.long:
        args.max_time = 45
    work = Path(tempfile.mkdtemp(prefix="tracecert-schemathesis-"))
    out = args.out or work / "reports"
    out.mkdir(parents=True, exist_ok=True)
    say(f"starting tracecert run (anvil, SQLite) in {work}")
    service = Service(work)
    results = []
    try:
        api = Api(service.base)
        seeded = seed(service, api)
        say("seeded: " + json.dumps(seeded["examples"]))
        document = api.client.get("/openapi.json").json()
        schema = work / "openapi.json"
        schema.write_text(json.dumps(with_examples(document, seeded["examples"], seeded["bodies"])))
        for caller in callers:
            # Signing out ends the session the consumer's run uses: that operation runs last,
            # with a session of its own.
            extra = ["--exclude-path", "/accounts/sessions/current"] if caller == "consumer" else []
            results.append(
                run_caller(caller, seeded["tokens"][caller], schema, service.base, out, args, extra)
            )
        if "consumer" in callers:
            token = sign_in(api, service, "fuzz-sign-out@example.com")
            # One operation, and the session is gone after its first call: a short budget.
            extra = ["--include-path", "/accounts/sessions/current", "--max-time", "20"]
            results.append(
                run_caller("consumer-sign-out", token, schema, service.base, out, args, extra)
            )
        server_errors = service.log_path.read_text().count("unhandled error")
    finally:
        service.stop()
        if not args.keep:
            shutil.rmtree(work / "data", ignore_errors=True)
    failed = [r for r in results if r["failures"] or r["exit"] != 0]
    summary = {
        "callers": len(results),
        "failed_callers": [r["caller"] for r in failed],
        "server_errors_logged": server_errors,
        "reports": str(out),
        "results": results,
    }
    print(json.dumps(summary))
    return 1 if failed or server_errors else 0


if __name__ == "__main__":
    sys.exit(main())
