"""A foreclosure shown end to end on anvil, the supported way: the pledge is made and accepted
today, then ``tracecert run`` restarts with ``TRACECERT_DEV_CLOCK_OFFSET_S`` (two days ahead,
dev mode) and the pledgee forecloses; the token moves to the pledgee on chain. On the way, the
pledgee's first accept waits for its chain account and says when to retry (Retry-After)."""

from __future__ import annotations

import csv
import io
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from chain.client import ChainClient
from chain.contracts.certificate_registry import CertificateRegistry
from tests.e2e.service.conftest import GTIN, post_ok, set_up_factory, wait_for
from tests.e2e.service.test_consumer_flow import Consumer
from tests.e2e.service.test_faults import (  # noqa: F401
    PROJECT_ROOT,
    Service,
    fund,
    new_node,
    node_state,
    sender_key,
    service,
)

pytestmark = [pytest.mark.anvil, pytest.mark.slow]
TWO_DAYS = 2 * 86400


class Running:
    """``tracecert run`` (its output in a file, where dev mode writes sign-in codes) that the
    test can restart with other settings, against a node that keeps running."""

    def __init__(self, svc: Service, log: Path) -> None:
        self.svc, self.log = svc, log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, **env: str) -> None:
        self.svc.env.update(env)
        with self.log.open("a") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "service.cli", "run"],
                env=self.svc.env,
                cwd=PROJECT_ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        base = self.svc.base
        wait_for(lambda: httpx.get(f"{base}/health").status_code == 200, what="health")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=60)


@pytest.fixture
def running(service, node_state, sender_key, tmp_path) -> Iterator[Running]:  # noqa: F811
    port, state_file = node_state
    node = new_node(port, state_file)
    node.start()
    fund(node, sender_key)
    run = Running(service, tmp_path / "service.log")
    try:
        run.start()
        yield run
    finally:
        run.stop()
        node.stop()


def _anchored_bottle(base: str, factory: dict[str, str]) -> dict[str, str]:
    batch = post_ok(
        f"{base}/batches",
        factory,
        {
            "gtin": GTIN,
            "lot": "F1",
            "production_date": "2026-11-20",
            "line": "L1",
            "planned_quantity": 6,
            "case_size": 6,
            "cases_per_pallet": 2,
        },
        201,
    )
    post_ok(f"{base}/batches/{batch['id']}/codes", factory)
    rows = list(
        csv.DictReader(
            io.StringIO(httpx.get(f"{base}/batches/{batch['id']}/code-file", headers=factory).text)
        )
    )
    post_ok(f"{base}/batches/{batch['id']}/activate", factory)
    post_ok(f"{base}/batches/{batch['id']}/anchor", factory, status=202)
    wait_for(
        lambda: (
            httpx.get(f"{base}/batches/{batch['id']}", headers=factory).json()["status"]
            == "anchored"
        ),
        what="batch anchored",
    )
    return rows[0]


def _accept_as_told(url: str, headers: dict[str, str]) -> tuple[dict[str, Any], list[int]]:
    """Accept, retrying as a 409 previous_step_pending says (Retry-After, capped for speed)."""
    waits: list[int] = []
    deadline = time.monotonic() + 120
    while True:
        answer = httpx.post(url, headers=headers, timeout=60)
        if answer.status_code == 200:
            return answer.json(), waits
        assert answer.status_code == 409, answer.text
        assert answer.json()["error"] == "previous_step_pending"
        waits.append(int(answer.headers["retry-after"]))
        assert time.monotonic() < deadline, "the accept never went through"
        time.sleep(min(waits[-1], 1))


def test_a_pledgee_forecloses_after_the_due_date_with_the_dev_clock_on_anvil(
    running, registry_artifact
):
    base = running.svc.base
    admin = {
        "Authorization": f"Bearer {running.svc.cli('admin', 'create', '--name', 'P').split()[-1]}"
    }
    factory = set_up_factory(base, admin)
    bottle = _anchored_bottle(base, factory)
    lender = post_ok(f"{base}/organisations", admin, {"name": "Lender", "kind": "pledgee"}, 201)
    key = post_ok(f"{base}/organisations/{lender['id']}/api-keys", admin, {"role": "pledgee"}, 201)[
        "api_key"
    ]
    pledgee = {"Authorization": f"Bearer {key}"}
    orgs = httpx.get(f"{base}/organisations", headers=admin).json()
    brand_id = next(o["id"] for o in orgs if o["kind"] == "brand")
    authorise = ("--brand", str(brand_id), "--partner", str(lender["id"]), "--role", "pledgee")
    running.svc.cli("org", "authorise", *authorise)

    alice = Consumer(base, running.log, "alice@example.com")
    alice.sign_in()
    claimed = alice.claim(bottle["serial"], bottle["pin"])
    wait_for(lambda: alice.certificates()[0]["state"] == "active", what="claim minted")

    due = datetime.now(UTC).date() + timedelta(days=1)
    offered = post_ok(
        f"{base}/me/certificates/{claimed['id']}/pledge",
        alice.headers,
        {"pledgee_id": lender["id"], "amount": "500", "currency": "CNY", "due_date": str(due)},
    )
    deal = offered["deals"][0]["id"]
    accepted, waits = _accept_as_told(f"{base}/deals/{deal}/accept", pledgee)
    assert accepted["certificate"]["state"] == "pledged"
    assert all(w == 10 for w in waits)  # each refusal said when to retry
    wait_for(lambda: not alice.certificates()[0]["pending"], what="pledge on chain")
    early = httpx.post(f"{base}/deals/{deal}/foreclose", headers=pledgee)
    assert early.status_code == 422 and f"due on {due}" in early.json()["detail"]

    # The demo's supported way past the due date: the service's clock two days on.
    running.stop()
    running.start(TRACECERT_DEV_CLOCK_OFFSET_S=str(TWO_DAYS))
    health = httpx.get(f"{base}/health").json()
    assert health["dev_clock"]["offset_s"] == TWO_DAYS
    assert "dev clock" in running.log.read_text() and f"+{TWO_DAYS} s" in running.log.read_text()

    foreclosed = post_ok(f"{base}/deals/{deal}/foreclose", pledgee)
    assert foreclosed["status"] == "done"
    lender_wallet = foreclosed["certificate"]["owner_address"]
    registry = CertificateRegistry(
        ChainClient(_node(running)),
        httpx.get(f"{base}/chain").json()["deployment"]["address"],
        registry_artifact,
    )
    token = int(claimed["token_id"])
    wait_for(lambda: registry.owner_of(token) == lender_wallet, what="token with the pledgee")
    assert alice.certificates() == []


def _node(running: Running) -> Any:
    """The node the service talks to, as a chain backend for reading the registry."""
    from chain.backends import RpcBackend

    backend = RpcBackend(running.svc.env["CHAIN_RPC_URL"])
    backend.start()
    return backend
