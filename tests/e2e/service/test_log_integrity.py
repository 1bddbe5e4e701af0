"""``tracecert run`` on a managed anvil while an insider edits the event log under it: the
anchorer stops, /health turns degraded with the first bad index, ``tracecert log verify`` names
the entry, and anchoring resumes once the log is whole again."""

from __future__ import annotations

import hashlib
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.service.conftest import (
    PROJECT_ROOT,
    post_ok,
    set_up_factory,
    wait_for,
)
from tests.e2e.service.conftest import (
    start_service as _start,
)
from tests.e2e.service.conftest import (
    stop_service as _stop,
)
from tests.e2e.service.conftest import (
    tracecert as _tracecert,
)

pytestmark = [pytest.mark.anvil, pytest.mark.slow]


def _db(env) -> sqlite3.Connection:
    return sqlite3.connect(Path(env["TRACECERT_DATA_DIR"]) / "tracecert.db", timeout=30)


def _log_verify(env) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "service.cli", "log", "verify"],
        env={**env, "COLUMNS": "300"},
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_an_edited_log_stops_anchoring_is_named_and_resumes_when_restored(run_env):
    base = f"http://127.0.0.1:{run_env['TRACECERT_PORT']}"
    proc = _start(run_env)
    try:
        wait_for(lambda: httpx.get(f"{base}/health").status_code == 200, what="healthy API")
        admin = _tracecert(run_env, "admin", "create", "--name", "Platform").stdout.split()[-1]
        h_admin = {"Authorization": f"Bearer {admin}"}
        set_up_factory(base, h_admin)
        anchored = wait_for(
            lambda: (
                (log := httpx.get(f"{base}/log", headers=h_admin).json())["latest_anchored"]
                and log["latest_anchored"]["size"] == log["size"]
                and log["latest_anchored"]
            ),
            what="the whole log anchored",
        )
        assert httpx.get(f"{base}/health").json()["log"]["log_integrity"] == "ok"

        # The insider: triggers dropped, entry 2 and its leaf hash rewritten.
        with _db(run_env) as db:
            db.execute("DROP TRIGGER events_no_update")
            (original,) = db.execute("SELECT payload FROM events WHERE log_index = 2").fetchone()
            forged = original.replace(b'"type":"', b'"type":"Forged')
            leaf = hashlib.sha256(b"\x00" + forged).digest()
            db.execute(
                "UPDATE events SET payload = ?, leaf_hash = ? WHERE log_index = 2", (forged, leaf)
            )
        post_ok(
            f"{base}/organisations", h_admin, {"name": "Brand Two", "kind": "brand"}, status=201
        )

        health = wait_for(
            lambda: (r := httpx.get(f"{base}/health")).status_code == 503 and r.json(),
            what="degraded health",
        )
        assert health["log"]["log_integrity"] == "failed"
        assert health["log"]["first_bad_index"] == 2
        time.sleep(3)  # three anchor intervals: still nothing anchored over the edit
        log = httpx.get(f"{base}/log", headers=h_admin).json()
        assert log["latest_anchor"]["size"] == anchored["size"]
        assert log["latest_anchored"]["problem"] == "root_differs"

        verify = _log_verify(run_env)
        assert verify.returncode == 1, verify.stdout + verify.stderr
        output = verify.stdout + verify.stderr
        assert "EDITED at 2" in output and "ROOT DIFFERS" in output

        # Restored from a backup: the log proves again and anchoring resumes.
        with _db(run_env) as db:
            db.execute(
                "UPDATE events SET payload = ?, leaf_hash = ? WHERE log_index = 2",
                (original, hashlib.sha256(b"\x00" + original).digest()),
            )
        wait_for(
            lambda: httpx.get(f"{base}/health").json()["log"]["log_integrity"] == "ok",
            what="log whole again",
        )
        wait_for(
            lambda: (
                httpx.get(f"{base}/log", headers=h_admin).json()["latest_anchored"]["size"]
                > anchored["size"]
            ),
            what="anchoring resumed",
        )
        assert _log_verify(run_env).returncode == 0
    finally:
        out = _stop(proc, signal.SIGTERM)
    assert "anvil stopped" in out, out
