"""``tracecert run`` end to end on a managed anvil: serve, anchor, verify, stop, continue."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.e2e.service.conftest import (
    anchorable_batch,
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


def _anvil_alive(port: str) -> bool:
    found = subprocess.run(["pgrep", "-f", f"anvil.*--port {port}"], capture_output=True)
    return found.returncode == 0


def _first_case(env, batch_id: str) -> str:
    with sqlite3.connect(Path(env["TRACECERT_DATA_DIR"]) / "tracecert.db") as db:
        (sscc,) = db.execute(
            "SELECT u.sscc FROM logistic_units u JOIN batches b ON b.id = u.batch_id "
            "WHERE b.public_id = ? AND u.kind = 'case' ORDER BY u.position LIMIT 1",
            (batch_id,),
        ).fetchone()
    return str(sscc)


def test_run_serves_anchors_and_continues_after_a_restart(run_env):
    base = f"http://127.0.0.1:{run_env['TRACECERT_PORT']}"
    proc = _start(run_env)
    try:
        wait_for(lambda: httpx.get(f"{base}/health").status_code == 200, what="healthy API")
        assert httpx.get(f"{base}/openapi.json").status_code == 200
        assert httpx.get(f"{base}/docs").status_code == 200
        admin = _tracecert(run_env, "admin", "create", "--name", "Platform").stdout.split()[-1]
        h_admin = {"Authorization": f"Bearer {admin}"}
        h = set_up_factory(base, h_admin)
        batch = anchorable_batch(base, h, "L", 3)
        case = httpx.get(f"{base}/units/{_first_case(run_env, batch['id'])}", headers=h).json()
        serial = case["children"][1]
        assert httpx.post(f"{base}/batches/{batch['id']}/anchor", headers=h).status_code == 202
        wait_for(
            lambda: (
                httpx.get(f"{base}/batches/{batch['id']}", headers=h).json()["status"] == "anchored"
            ),
            what="batch anchored",
        )
        assert httpx.get(f"{base}/items/{serial}/verify").json()["genuine"] is True
        wait_for(
            lambda: httpx.get(f"{base}/log", headers=h_admin).json()["latest_anchored"],
            what="log anchored",
        )
    finally:
        out = _stop(proc, signal.SIGTERM)
    assert "anvil stopped" in out, out
    assert not _anvil_alive(run_env["CHAIN_ANVIL_PORT"])

    # Running again continues with the same database and the same chain.
    proc = _start(run_env)
    try:
        health = wait_for(
            lambda: (r := httpx.get(f"{base}/health")).status_code == 200 and r.json(),
            what="healthy API after restart",
        )
        assert health["chain"]["genesis_mismatch"] is False
        assert httpx.get(f"{base}/items/{serial}/verify").json()["genuine"] is True
        assert "log verified" in _tracecert(run_env, "log", "verify").stdout
    finally:
        out = _stop(proc, signal.SIGINT)
    assert "anvil stopped" in out, out
