"""A database outage end to end (issue 10, items 6-9): ``tracecert run`` on a managed anvil and
SQLite, with its workers and scan-log writer running, while another process holds the
database's write lock for a few seconds. Over one kept-alive connection, writes answer 503
``database_unavailable`` with ``Retry-After`` and the connection stays; consumer scans go on
being answered and are all stored once afterwards; the service's log says the outage once when
it starts and once when it ends, without a traceback."""

from __future__ import annotations

import signal
import sqlite3
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.service.conftest import (
    GTIN,
    anchorable_batch,
    set_up_factory,
    start_service,
    stop_service,
    tracecert,
    wait_for,
)

pytestmark = [pytest.mark.anvil, pytest.mark.slow]
JSON = {"Accept": "application/json"}


def test_a_locked_database_is_a_503_on_a_kept_connection_logged_once_and_loses_no_scan(run_env):
    run_env["TRACECERT_DATABASE_BUSY_TIMEOUT_S"] = "0.5"
    base = f"http://127.0.0.1:{run_env['TRACECERT_PORT']}"
    db_path = Path(run_env["TRACECERT_DATA_DIR"]) / "tracecert.db"
    proc = start_service(run_env)
    output = ""
    try:
        wait_for(lambda: httpx.get(f"{base}/health").status_code == 200, what="healthy API")
        admin = tracecert(run_env, "admin", "create", "--name", "P").stdout.split()[-1]
        factory = set_up_factory(base, {"Authorization": f"Bearer {admin}"})
        batch = anchorable_batch(base, factory, "LOT-O", 12)
        assert (
            httpx.post(f"{base}/batches/{batch['id']}/anchor", headers=factory).status_code == 202
        )
        wait_for(
            lambda: (
                httpx.get(f"{base}/batches/{batch['id']}", headers=factory).json()["status"]
                == "anchored"
            ),
            what="anchored",
        )
        with sqlite3.connect(db_path) as db:
            serials = [s for (s,) in db.execute("SELECT serial FROM items ORDER BY leaf_index")]

        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        with httpx.Client(base_url=base, limits=limits, timeout=30) as client:

            def port(response: httpx.Response) -> int:
                return int(response.extensions["network_stream"].get_extra_info("client_addr")[1])

            def scan(serial: str) -> httpx.Response:
                return client.get(f"/01/{GTIN}/10/LOT-O/21/{serial}", headers=JSON)

            first = scan(serials[0])
            assert first.status_code == 200 and first.json()["verdict"] == "genuine"
            kept = port(first)

            holder = sqlite3.connect(db_path, isolation_level=None)
            holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
            try:
                refused = 0
                deadline = time.monotonic() + 3
                while time.monotonic() < deadline:
                    body = {
                        "gtin": GTIN,
                        "lot": f"LOT-X{refused}",
                        "production_date": "2026-11-20",
                        "line": "L1",
                        "planned_quantity": 6,
                        "case_size": 6,
                        "cases_per_pallet": 10,
                    }
                    response = client.post("/batches", json=body, headers=factory)
                    assert response.status_code == 503, response.text
                    assert response.json()["error"] == "database_unavailable"
                    assert int(response.headers["Retry-After"]) > 0 and port(response) == kept
                    refused += 1
                for serial in serials[1:6]:  # readers never wait: answered, recorded later
                    response = scan(serial)
                    assert response.status_code == 200 and port(response) == kept
            finally:
                holder.execute("ROLLBACK")
                holder.close()
            assert refused >= 2

            time.sleep(1.5)
            after = client.post(
                "/batches",
                json={
                    "gtin": GTIN,
                    "lot": "LOT-AFTER",
                    "production_date": "2026-11-20",
                    "line": "L1",
                    "planned_quantity": 6,
                    "case_size": 6,
                    "cases_per_pallet": 10,
                },
                headers=factory,
            )
            assert after.status_code == 201 and port(after) == kept

            def stored() -> dict[str, int]:
                with sqlite3.connect(db_path) as db:
                    return dict(
                        db.execute(
                            "SELECT i.serial, count(*) FROM consumer_scans c "
                            "JOIN items i ON i.id = c.item_id GROUP BY i.serial"
                        ).fetchall()
                    )

            wait_for(lambda: len(stored()) == 6, timeout=20, what="scans written")
            time.sleep(0.5)
            assert stored() == {serial: 1 for serial in serials[:6]}
            health = client.get("/health").json()
            assert health["scan_log"]["spilled"] == 0 and health["database"]["outage"] is False
        with sqlite3.connect(db_path) as db:
            lots = {lot for (lot,) in db.execute("SELECT lot FROM batches")}
        assert lots == {"LOT-O", "LOT-AFTER"}  # a refused request wrote nothing
    finally:
        output = stop_service(proc, signal.SIGTERM)
    assert output.count("database unavailable") == 1, output[-3000:]
    assert output.count("database available again") == 1, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
