"""Helpers shared by the end-to-end tests that drive ``tracecert run`` over HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from chain.backends import anvil_binary, free_port

PROJECT_ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def run_env(tmp_path: Path, artifacts: Path) -> dict[str, str]:
    """Environment for ``tracecert run`` on a managed anvil with its data in ``tmp_path``."""
    if not anvil_binary(PROJECT_ROOT).is_file():
        pytest.skip("anvil binary missing")
    env = dict(os.environ)
    env.update(
        TRACECERT_DATA_DIR=str(tmp_path / "data"),
        TRACECERT_PORT=str(free_port()),
        TRACECERT_LOG_ANCHOR_INTERVAL_S="1",
        TRACECERT_RISK_SCREEN_INTERVAL_S="1",
        TRACECERT_SENDER_POLL_INTERVAL_S="0.1",
        # The consumers of a run all sign in from 127.0.0.1.
        TRACECERT_OTP_MAX_PER_NETWORK_PER_HOUR="1000",
        CHAIN_BACKEND="anvil",
        CHAIN_ANVIL_PORT=str(free_port()),
        CHAIN_ARTIFACTS_DIR=str(artifacts),
    )
    env.pop("TRACECERT_DATABASE_URL", None)
    return env


def tracecert(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "service.cli", *args],
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


def start_service(env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "service.cli", "run"],
        env=env,
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def stop_service(proc: subprocess.Popen[str], sig: int) -> str:
    proc.send_signal(sig)
    out, _ = proc.communicate(timeout=60)
    return out


def wait_for(predicate: Callable[[], Any], timeout: float = 90.0, what: str = "condition") -> Any:
    """Poll ``predicate`` until it returns something truthy; HTTP errors count as "not yet"."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


GTIN = "09506000134352"


def put_prefixes(base: str, h_admin: dict[str, str], brand_id: int) -> None:
    """Record the brand's GS1 company prefix, the one ``GTIN`` falls within."""
    response = httpx.put(
        f"{base}/organisations/{brand_id}/company-prefixes",
        json={"prefixes": [GTIN[1:8]]},
        headers=h_admin,
        timeout=120,
    )
    assert response.status_code == 200, response.text


def post_ok(url: str, headers: dict[str, str], json: Any = None, status: int = 200) -> Any:
    """POST and insist on ``status``; return the JSON body."""
    response = httpx.post(url, json=json, headers=headers, timeout=120)
    assert response.status_code == status, response.text
    return response.json()


def set_up_factory(base: str, h_admin: dict[str, str]) -> dict[str, str]:
    """Over HTTP: a brand, its factory (with a key) and the product ``GTIN``; the key's headers."""
    brand = post_ok(
        f"{base}/organisations", h_admin, {"name": "Brand", "kind": "brand"}, status=201
    )
    put_prefixes(base, h_admin, brand["id"])
    org = post_ok(
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
    key = post_ok(
        f"{base}/organisations/{org['id']}/api-keys", h_admin, {"role": "factory"}, status=201
    )["api_key"]
    return {"Authorization": f"Bearer {key}"}


def anchorable_batch(base: str, h: dict[str, str], lot: str, n_items: int = 4) -> dict[str, Any]:
    """Over HTTP: a batch of ``n_items`` with its codes generated and activated."""
    batch = post_ok(
        f"{base}/batches",
        h,
        {
            "gtin": GTIN,
            "lot": lot,
            "production_date": "2026-11-20",
            "line": "L1",
            "planned_quantity": n_items,
            "case_size": 6,
            "cases_per_pallet": 10,
        },
        status=201,
    )
    post_ok(f"{base}/batches/{batch['id']}/codes", h)
    post_ok(f"{base}/batches/{batch['id']}/activate", h)
    return dict(httpx.get(f"{base}/batches/{batch['id']}", headers=h).json())
