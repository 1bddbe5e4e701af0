"""``tracecert run`` end to end on a managed anvil: serve, anchor, verify, stop, continue."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from chain.backends import anvil_binary, free_port
from tests.e2e.service.conftest import wait_for

PROJECT_ROOT = Path(__file__).resolve().parents[3]
pytestmark = [pytest.mark.anvil, pytest.mark.slow]


@pytest.fixture
def run_env(tmp_path, artifacts):
    if not anvil_binary(PROJECT_ROOT).is_file():
        pytest.skip("anvil binary missing")
    env = dict(os.environ)
    env.update(
        TRACECERT_DATA_DIR=str(tmp_path / "data"),
        TRACECERT_PORT=str(free_port()),
        TRACECERT_LOG_ANCHOR_INTERVAL_S="1",
        TRACECERT_SENDER_POLL_INTERVAL_S="0.1",
        CHAIN_BACKEND="anvil",
        CHAIN_ANVIL_PORT=str(free_port()),
        CHAIN_ARTIFACTS_DIR=str(artifacts),
    )
    env.pop("TRACECERT_DATABASE_URL", None)
    return env


def _tracecert(env, *args) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "service.cli", *args],
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


def _start(env) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "service.cli", "run"],
        env=env,
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _stop(proc: subprocess.Popen[str], sig: int) -> str:
    proc.send_signal(sig)
    out, _ = proc.communicate(timeout=60)
    return out


def _anvil_alive(port: str) -> bool:
    found = subprocess.run(["pgrep", "-f", f"anvil.*--port {port}"], capture_output=True)
    return found.returncode == 0


def test_run_serves_anchors_and_continues_after_a_restart(run_env):
    base = f"http://127.0.0.1:{run_env['TRACECERT_PORT']}"
    proc = _start(run_env)
    try:
        wait_for(lambda: httpx.get(f"{base}/health").status_code == 200, what="healthy API")
        assert httpx.get(f"{base}/openapi.json").status_code == 200
        assert httpx.get(f"{base}/docs").status_code == 200
        admin = _tracecert(run_env, "admin", "create", "--name", "Platform").stdout.split()[-1]
        h_admin = {"Authorization": f"Bearer {admin}"}
        org = httpx.post(
            f"{base}/organisations", json={"name": "F", "kind": "factory"}, headers=h_admin
        ).json()
        factory = httpx.post(
            f"{base}/organisations/{org['id']}/api-keys", json={"role": "factory"}, headers=h_admin
        ).json()["api_key"]
        h = {"Authorization": f"Bearer {factory}"}
        batch = httpx.post(
            f"{base}/batches", json={"lot": "L", "items": ["E1", "E2", "E3"]}, headers=h
        ).json()
        assert httpx.post(f"{base}/batches/{batch['id']}/anchor", headers=h).status_code == 202
        wait_for(
            lambda: (
                httpx.get(f"{base}/batches/{batch['id']}", headers=h).json()["status"] == "anchored"
            ),
            what="batch anchored",
        )
        assert httpx.get(f"{base}/items/E2/verify").json()["genuine"] is True
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
        assert httpx.get(f"{base}/items/E2/verify").json()["genuine"] is True
        assert "log verified" in _tracecert(run_env, "log", "verify").stdout
    finally:
        out = _stop(proc, signal.SIGINT)
    assert "anvil stopped" in out, out
