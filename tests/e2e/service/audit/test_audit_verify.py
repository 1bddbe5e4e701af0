"""The auditor's verifier, end to end on anvil (issue 13): ``tracecert run`` builds a history
(two batches anchored, shipments with a diversion, a consumer's three claims, a gift and a
pledge, one batch recalled), the brand's
export streams over HTTP, ``tracecert audit export`` writes it and ``tracecert-verify`` (a
subprocess with nothing of the service on its path, as an auditor runs it) says 0. Then, each
on a copy of the database with the append-only triggers dropped as an insider could, one
change: exit 20, naming the entry or row."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.e2e.service.conftest import (
    GTIN,
    PROJECT_ROOT,
    anchorable_batch,
    post_ok,
    put_prefixes,
    stop_service,
    wait_for,
)

pytestmark = [pytest.mark.anvil, pytest.mark.slow]

VERIFIER = PROJECT_ROOT / "verifier"


def tracecert(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "service.cli", *args],
        env={**env, "COLUMNS": "300"},
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def verify(export: Path, rpc: str) -> tuple[int, dict]:
    """``tracecert-verify EXPORT --rpc URL --json`` with nothing of the service on its path."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(VERIFIER)
    done = subprocess.run(
        [sys.executable, "-m", "tracecert_verify", str(export), "--rpc", rpc, "--json"],
        env=env,
        cwd=export.parent,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.stdout, done.stderr
    return done.returncode, json.loads(done.stdout)


def drop_triggers(db: sqlite3.Connection) -> None:
    db.execute("DROP TRIGGER events_no_update")
    db.execute("DROP TRIGGER events_no_delete")


def edit_payload(db: sqlite3.Connection, index: int, leaf_too: bool) -> None:
    (payload,) = db.execute("SELECT payload FROM events WHERE log_index = ?", (index,)).fetchone()
    forged = bytes(payload).replace(b'"type":"', b'"type":"Forged', 1)
    db.execute("UPDATE events SET payload = ? WHERE log_index = ?", (forged, index))
    if leaf_too:
        leaf = hashlib.sha256(b"\x00" + forged).digest()
        db.execute("UPDATE events SET leaf_hash = ? WHERE log_index = ?", (leaf, index))


def swap(db: sqlite3.Connection, i: int, j: int) -> None:
    rows = {
        k: db.execute(
            "SELECT type, payload, leaf_hash FROM events WHERE log_index = ?", (k,)
        ).fetchone()
        for k in (i, j)
    }
    for k, other in ((i, j), (j, i)):
        db.execute(
            "UPDATE events SET type = ?, payload = ?, leaf_hash = ? WHERE log_index = ?",
            (*rows[other], k),
        )


def test_an_export_verifies_and_each_insider_change_is_named(run_env, tmp_path):
    base = f"http://127.0.0.1:{run_env['TRACECERT_PORT']}"
    rpc = f"http://127.0.0.1:{run_env['CHAIN_ANVIL_PORT']}"
    data = Path(run_env["TRACECERT_DATA_DIR"])
    log = tmp_path / "service.log"
    out = log.open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "run"],
        env=run_env,
        cwd=PROJECT_ROOT,
        stdout=out,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for(lambda: httpx.get(f"{base}/health").status_code == 200, what="healthy API")
        admin = tracecert(run_env, "admin", "create", "--name", "Platform").stdout.split()[-1]
        h_admin = {"Authorization": f"Bearer {admin}"}
        brand = post_ok(
            f"{base}/organisations", h_admin, {"name": "Brand", "kind": "brand"}, status=201
        )
        put_prefixes(base, h_admin, brand["id"])  # GTIN within the brand's GS1 prefix
        factory = post_ok(
            f"{base}/organisations",
            h_admin,
            {"name": "Factory", "kind": "factory", "brand_id": brand["id"]},
            status=201,
        )
        post_ok(
            f"{base}/products",
            h_admin,
            {"gtin": GTIN, "name": "Baijiu 53%", "brand_id": brand["id"]},
            status=201,
        )

        def key(org: int, role: str) -> dict[str, str]:
            secret = post_ok(
                f"{base}/organisations/{org}/api-keys", h_admin, {"role": role}, status=201
            )["api_key"]
            return {"Authorization": f"Bearer {secret}"}

        h_factory, h_brand = key(factory["id"], "factory"), key(brand["id"], "brand")
        kept = post_ok(
            f"{base}/batches",
            h_factory,
            {
                "gtin": GTIN,
                "lot": "LOT-KEPT",
                "production_date": "2026-11-20",
                "line": "L1",
                "planned_quantity": 7,
                "case_size": 6,
                "cases_per_pallet": 10,
            },
            status=201,
        )
        post_ok(f"{base}/batches/{kept['id']}/codes", h_factory)
        code_file = httpx.get(f"{base}/batches/{kept['id']}/code-file", headers=h_factory)
        bottles = list(csv.DictReader(io.StringIO(code_file.text)))
        post_ok(f"{base}/batches/{kept['id']}/activate", h_factory)
        recalled = anchorable_batch(base, h_factory, "LOT-RECALLED", 5)
        for b in (kept, recalled):
            assert httpx.post(f"{base}/batches/{b['id']}/anchor", headers=h_factory).is_success
        for b in (kept, recalled):
            wait_for(
                lambda b=b: (
                    httpx.get(f"{base}/batches/{b['id']}", headers=h_factory).json()["status"]
                    == "anchored"
                ),
                what="batch anchored",
            )
        # Shipments: the pallet to distributor A in Zhejiang; A sends a case on to B, who
        # receives it in Nanjing, outside A's territory (a diversion).
        a, h_a = channel_member(base, h_admin, h_brand, brand["id"], "A", "330000")
        b, h_b = channel_member(base, h_admin, h_brand, brand["id"], "B", "320000")
        plant = site(base, h_admin, factory["id"], "Plant", "plant", "520382")
        a_site = site(base, h_a, a, "Hangzhou DC", "warehouse", "330106")
        b_site = site(base, h_b, b, "Nanjing DC", "warehouse", "320102")
        with sqlite3.connect(data / "tracecert.db") as db:
            units = dict(
                db.execute(
                    "SELECT u.sscc, u.kind FROM logistic_units u JOIN batches b "
                    "ON b.id = u.batch_id WHERE b.public_id = ? ORDER BY u.position",
                    (kept["id"],),
                ).fetchall()
            )
        pallet = next(u for u, k in units.items() if k == "pallet")
        case = next(u for u, k in units.items() if k == "case")
        steps = [
            (h_factory, "dispatch", pallet, plant, {"receiver_id": a, "shipment": "F-1"}),
            (h_a, "receive", pallet, a_site, {}),
            (h_a, "dispatch", case, a_site, {"receiver_id": b, "shipment": "A-1"}),
            (h_b, "receive", case, b_site, {}),
        ]
        for h, action, code, at, extra in steps:
            post_ok(f"{base}/scans", h, {"action": action, "code": code, "site_id": at, **extra})

        # A consumer claims three bottles, gives one away and pledges another to a lender.
        alice = sign_in(base, log, "+8613800138111")
        sign_in(base, log, "+8613800138222")  # the friend she gives a bottle to
        for row in bottles[:3]:
            post_ok(f"{base}/claims", alice, {"serial": row["serial"], "pin": row["pin"]}, 202)
        wait_for(
            lambda: [c["state"] for c in mine(base, alice) if not c["pending"]] == ["active"] * 3,
            what="claims minted",
        )
        by_serial = {c["serial"]: c["id"] for c in mine(base, alice)}
        gift_id, pledged_id = by_serial[bottles[1]["serial"]], by_serial[bottles[2]["serial"]]
        post_ok(f"{base}/me/certificates/{gift_id}/gift", alice, {"to": "+8613800138222"})
        lender = post_ok(
            f"{base}/organisations", h_admin, {"name": "Lender", "kind": "pledgee"}, status=201
        )["id"]
        h_lender = key(lender, "pledgee")
        authorise = ("--brand", str(brand["id"]), "--partner", str(lender), "--role", "pledgee")
        assert tracecert(run_env, "org", "authorise", *authorise).returncode == 0
        offered = post_ok(
            f"{base}/me/certificates/{pledged_id}/pledge",
            alice,
            {"pledgee_id": lender, "amount": "500", "currency": "CNY", "due_date": "2027-12-31"},
        )
        accept_pledge(f"{base}/deals/{offered['deals'][0]['id']}/accept", h_lender)
        wait_for(
            lambda: (
                not any(c["pending"] for c in mine(base, alice))
                and {c["state"] for c in mine(base, alice)} == {"active", "gifted", "pledged"}
            ),
            what="gift and pledge on chain",
        )
        post_ok(f"{base}/batches/{recalled['id']}/recall", h_brand, {"reason": "seal defect"})
        wait_for(
            lambda: (
                httpx.get(f"{base}/batches/{recalled['id']}", headers=h_brand).json()["recall"][
                    "chain"
                ]["status"]
                == "confirmed"
            ),
            what="recall confirmed",
        )
        wait_for(
            lambda: (
                (log := httpx.get(f"{base}/log", headers=h_admin).json())["latest_anchored"]
                and log["latest_anchored"]["size"] == log["size"]
            ),
            what="the whole log anchored",
        )

        # The brand's export over HTTP is a tar stream.
        tar = httpx.get(f"{base}/audit/export", headers=h_brand, timeout=120)
        assert tar.status_code == 200 and tar.headers["content-type"] == "application/x-tar"

        # The brand's export over HTTP is a tar of the same files.
        clean = tmp_path / "clean.db"
        with sqlite3.connect(data / "tracecert.db") as src, sqlite3.connect(clean) as dst:
            src.backup(dst)
        code, report = verify(export_of(run_env, clean, tmp_path / "clean"), rpc)
        assert code == 0, report
        assert report["findings"] == [] and report["facts"]["batches"] == 2
        assert report["facts"]["items"] == 12 and report["facts"]["roots_verified"] >= 1
        assert report["facts"]["rows_replayed"] >= 2
        # The next day's incremental export, from the size this run verified: its frontier's
        # root is the chain's there.
        since = report["facts"]["next_since_index"]
        daily = tracecert(
            {**run_env, "TRACECERT_DATABASE_URL": f"sqlite:///{clean}"},
            "audit",
            "export",
            str(tmp_path / "daily"),
            "--since-index",
            str(since),
        )
        assert daily.returncode == 0, daily.stdout + daily.stderr
        code, report = verify(tmp_path / "daily", rpc)
        assert code == 0 and report["facts"]["frontier_verified"] == since, report

        with sqlite3.connect(clean) as db:
            size = db.execute("SELECT size FROM log_head").fetchone()[0]
            units = db.execute("SELECT sscc, holder_id FROM logistic_units").fetchall()
            active = db.execute(
                "SELECT public_id FROM certificates WHERE state = 'active'"
            ).fetchone()[0]
        sscc, holder = units[0]
        tampers: dict[str, tuple[Tamper, str]] = {
            "payload": (lambda db: edit_payload(db, 3, leaf_too=False), "entry 3"),
            "payload and leaf": (lambda db: edit_payload(db, 3, leaf_too=True), "entry 3"),
            "delete the last": (
                lambda db: db.execute("DELETE FROM events WHERE log_index = ?", (size - 1,)),
                f"entries {size - 1}..{size - 1}",
            ),
            "swap": (lambda db: swap(db, 4, 5), "entry 4"),
            "holder": (
                lambda db: db.execute(
                    "UPDATE logistic_units SET holder_id = ? WHERE sscc = ?", (holder + 1, sscc)
                ),
                f"unit {sscc}",
            ),
            "un-recall": (
                lambda db: db.execute(
                    "UPDATE batches SET status = 'anchored', recalled_at = NULL "
                    "WHERE public_id = ?",
                    (recalled["id"],),
                ),
                f"batch {recalled['id']}",
            ),
            "batch root": (
                lambda db: db.execute(
                    "UPDATE batches SET root = ? WHERE public_id = ?", (b"\x01" * 32, kept["id"])
                ),
                f"batch {kept['id']}",
            ),
            "batch metadata": (
                lambda db: db.execute(
                    "UPDATE batches SET metadata_json = ? WHERE public_id = ?",
                    (json.dumps({**kept_metadata(clean, kept["id"]), "lot": "LOT-X"}), kept["id"]),
                ),
                f"batch {kept['id']}",
            ),
        }
        # The pledged certificate's row set free without its event: the replay names it, and
        # so do the registry's lock views (the token is still pledged on chain).
        tampers["certificate lock"] = (
            lambda db: db.execute(
                "UPDATE certificates SET state = 'active', counterparty_org_id = NULL "
                "WHERE public_id = ?",
                (pledged_id,),
            ),
            f"certificate {pledged_id}",
        )
        tampers["certificate owner"] = (
            lambda db: db.execute(
                "UPDATE certificates SET owner_address = ? WHERE public_id = ?",
                ("0x" + "de" * 20, active),
            ),
            f"certificate {active}",
        )
        for name, (tamper, subject) in tampers.items():
            copy = tmp_path / f"{name.replace(' ', '-')}.db"
            shutil.copy(clean, copy)
            with sqlite3.connect(copy) as db:
                drop_triggers(db)
                tamper(db)
            code, report = verify(export_of(run_env, copy, tmp_path / copy.stem), rpc)
            assert code == 20, (name, report)
            assert subject in {f["subject"] for f in report["findings"]}, (name, report)
            if name == "certificate lock":
                assert {"check": "certificate", "subject": subject} in [
                    {"check": f["check"], "subject": f["subject"]} for f in report["findings"]
                ], report
    finally:
        stop_service(proc, signal.SIGTERM)
        out.close()


def accept_pledge(url: str, headers: dict[str, str]) -> None:
    """The lender accepts, retrying while its chain account is being registered (409)."""

    def accepted() -> bool:
        answer = httpx.post(url, headers=headers, timeout=60)
        if answer.status_code == 409 and answer.json()["error"] == "previous_step_pending":
            return False
        assert answer.status_code == 200, answer.text
        return True

    wait_for(accepted, what="pledge accepted")


def channel_member(
    base: str, h_admin: dict, h_brand: dict, brand: int, name: str, territory: str
) -> tuple[int, dict[str, str]]:
    """A distributor of the brand with its territory; its id and key headers."""
    org = post_ok(
        f"{base}/organisations",
        h_admin,
        {"name": f"Distributor {name}", "kind": "distributor", "brand_id": brand},
        status=201,
    )["id"]
    response = httpx.put(
        f"{base}/organisations/{org}/territories", json={"regions": [territory]}, headers=h_brand
    )
    assert response.status_code == 200, response.text
    secret = post_ok(
        f"{base}/organisations/{org}/api-keys", h_admin, {"role": "distributor"}, status=201
    )["api_key"]
    return org, {"Authorization": f"Bearer {secret}"}


def site(base: str, h: dict, org: int, name: str, kind: str, region: str) -> int:
    body = {"name": name, "kind": kind, "region": region}
    return int(post_ok(f"{base}/organisations/{org}/sites", h, body, status=201)["id"])


def sign_in(base: str, log: Path, phone: str) -> dict[str, str]:
    """A consumer's session, with the one-time code read from the service's log."""
    sent = post_ok(f"{base}/accounts/codes", {}, {"destination": phone}, 202)
    pattern = re.compile(rf"one-time code for {re.escape(phone)} \(\w+\): (\d{{6}})")
    code = wait_for(lambda: (pattern.findall(log.read_text()) or [None])[-1], what="code")
    session = post_ok(
        f"{base}/accounts/sessions", {}, {"challenge_id": sent["challenge_id"], "code": code}, 201
    )
    return {"Authorization": f"Bearer {session['token']}"}


def mine(base: str, headers: dict[str, str]) -> list[dict]:
    return list(httpx.get(f"{base}/me/certificates", headers=headers).json())


def kept_metadata(db_path: Path, batch_id: str) -> dict:
    with sqlite3.connect(db_path) as db:
        (raw,) = db.execute(
            "SELECT metadata_json FROM batches WHERE public_id = ?", (batch_id,)
        ).fetchone()
    return dict(json.loads(raw))


def export_of(env: dict[str, str], db: Path, out: Path) -> Path:
    done = tracecert(
        {**env, "TRACECERT_DATABASE_URL": f"sqlite:///{db}"}, "audit", "export", str(out)
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return out


Tamper = Callable[[sqlite3.Connection], None]
