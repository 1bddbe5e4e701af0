"""Fault tests on a real anvil: ``kill -9`` with anchors queued, and a chain reset under an old DB.

The service runs as ``tracecert run`` against a node the test controls (``CHAIN_BACKEND=rpc``),
so the node can be killed and restarted underneath it. The sender key is a fresh random key,
funded on the devnet, because the well-known dev keys are refused for ``rpc``.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_account import Account
from eth_utils.crypto import keccak

from chain.backends import AnvilBackend, anvil_binary, free_port
from chain.client import ChainClient
from chain.contracts.certificate_registry import CertificateRegistry
from tests.e2e.service.conftest import anchorable_batch, set_up_factory, wait_for

PROJECT_ROOT = Path(__file__).resolve().parents[3]
ANCHOR_SELECTOR = keccak(b"anchorBatch(bytes32,bytes32,uint64,bytes32)")[:4]
pytestmark = [pytest.mark.anvil, pytest.mark.slow]


def rpc(url: str, method: str, params: list[Any]) -> Any:
    body = httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
    body.raise_for_status()
    return body.json()["result"]


def new_node(port: int, state_file: Path | None) -> AnvilBackend:
    return AnvilBackend(
        anvil_binary(PROJECT_ROOT),
        port=port,
        state_file=state_file,
        extra_args=("--block-time", "1"),
    )


class Service:
    """``tracecert run`` as a child process, plus the HTTP and CLI calls the tests need."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.base = f"http://127.0.0.1:{env['TRACECERT_PORT']}"
        self.proc: subprocess.Popen[str] | None = None
        self.headers: dict[str, str] = {}

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "service.cli", "run"],
            env=self.env,
            cwd=PROJECT_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def stop(self) -> str:
        if self.proc is None or self.proc.poll() is not None:
            return ""
        self.proc.send_signal(signal.SIGTERM)
        out, _ = self.proc.communicate(timeout=60)
        return out

    def cli(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "service.cli", *args],
            env=self.env,
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        return done.stdout

    def login_factory(self) -> None:
        admin = self.cli("admin", "create", "--name", "Platform").split()[-1]
        self.headers = set_up_factory(self.base, {"Authorization": f"Bearer {admin}"})

    def batch_and_anchor(self, lot: str, n_items: int = 4) -> dict[str, Any]:
        batch = anchorable_batch(self.base, self.headers, lot, n_items)
        anchored = httpx.post(f"{self.base}/batches/{batch['id']}/anchor", headers=self.headers)
        assert anchored.status_code == 202, anchored.text
        return batch

    def batch_status(self, batch_id: str) -> str:
        body = httpx.get(f"{self.base}/batches/{batch_id}", headers=self.headers).json()
        return str(body["status"])

    def db(self) -> sqlite3.Connection:
        return sqlite3.connect(Path(self.env["TRACECERT_DATA_DIR"]) / "tracecert.db")


@pytest.fixture
def sender_key() -> str:
    return "0x" + os.urandom(32).hex()


@pytest.fixture
def node_state(tmp_path: Path) -> tuple[int, Path]:
    return free_port(), tmp_path / "anvil-state.json"


@pytest.fixture
def service(
    tmp_path: Path, artifacts: Path, sender_key: str, node_state: tuple[int, Path]
) -> Iterator[Service]:
    if not anvil_binary(PROJECT_ROOT).is_file():
        pytest.skip("anvil binary missing")
    port, _ = node_state
    env = dict(os.environ)
    env.pop("TRACECERT_DATABASE_URL", None)
    env.update(
        TRACECERT_DATA_DIR=str(tmp_path / "data"),
        TRACECERT_PORT=str(free_port()),
        TRACECERT_LOG_ANCHOR_INTERVAL_S="3600",  # only batch anchors in these tests
        TRACECERT_SENDER_POLL_INTERVAL_S="0.1",
        CHAIN_BACKEND="rpc",
        CHAIN_RPC_URL=f"http://127.0.0.1:{port}",
        CHAIN_SENDER_PRIVATE_KEY=sender_key,
        CHAIN_ARTIFACTS_DIR=str(artifacts),
        CHAIN_CONFIRMATIONS="2",
    )
    svc = Service(env)
    yield svc
    svc.stop()


def fund(node: AnvilBackend, key: str) -> None:
    rpc(str(node.rpc_url), "anvil_setBalance", [Account.from_key(key).address, hex(10**21)])


def sender_transactions(node: AnvilBackend, sender: str) -> list[dict[str, Any]]:
    """Every transaction the sender ever got mined, with its receipt status."""
    url = str(node.rpc_url)
    head = int(rpc(url, "eth_blockNumber", []), 16)
    found = []
    for number in range(head + 1):
        block = rpc(url, "eth_getBlockByNumber", [hex(number), True])
        for tx in block["transactions"]:
            if tx["from"].lower() == sender.lower():
                receipt = rpc(url, "eth_getTransactionReceipt", [tx["hash"]])
                found.append(
                    {
                        "nonce": int(tx["nonce"], 16),
                        "input": tx["input"],
                        "status": int(receipt["status"], 16),
                    }
                )
    return found


def test_kill_9_with_anchors_queued_confirms_each_exactly_once_without_nonce_gap(
    service: Service, node_state: tuple[int, Path], sender_key: str, registry_artifact: Any
) -> None:
    port, state_file = node_state
    node = new_node(port, state_file)
    node.start()
    try:
        fund(node, sender_key)
        service.start()
        wait_for(lambda: httpx.get(f"{service.base}/health").status_code == 200, what="health")
        service.login_factory()
        time.sleep(2.5)  # the deployment is in anvil's state file (dumped every second)

        batches = [service.batch_and_anchor(f"K{i}") for i in range(6)]
        node.kill()  # kill -9 while the anchors are queued, signed or sent
        with service.db() as db:
            at_kill = dict(
                db.execute(
                    "SELECT status, COUNT(*) FROM outbox "
                    "WHERE kind = 'anchor_batch' GROUP BY status"
                ).fetchall()
            )
        assert at_kill.get("confirmed", 0) < len(batches), f"nothing was in flight: {at_kill}"

        # While the node is down, anchors that can wait are still accepted and queued.
        batches += [service.batch_and_anchor(f"D{i}") for i in range(2)]
        assert httpx.get(f"{service.base}/health").status_code == 503
        time.sleep(1.5)

        node = new_node(port, state_file)  # the same chain, from its state file
        node.start()
        for b in batches:
            wait_for(
                lambda b=b: service.batch_status(b["id"]) == "anchored",
                what=f"batch {b['lot']} anchored",
            )

        sender = Account.from_key(sender_key).address
        txs = sender_transactions(node, sender)
        nonces = sorted(t["nonce"] for t in txs)
        assert nonces == list(range(len(nonces))), "nonce gap or duplicate nonce"
        assert int(
            rpc(str(node.rpc_url), "eth_getTransactionCount", [sender, "latest"]), 16
        ) == len(nonces)
        anchors = [t for t in txs if t["input"].startswith("0x" + ANCHOR_SELECTOR.hex())]
        assert len(anchors) == len(batches), "every queued anchor mined exactly once"
        assert all(t["status"] == 1 for t in anchors), "no duplicate anchor reverted on chain"

        client = ChainClient(node)
        address = httpx.get(f"{service.base}/chain").json()["deployment"]["address"]
        registry = CertificateRegistry(client, address, registry_artifact)
        for b in batches:
            record = registry.batch(bytes.fromhex(b["chain_batch_id"].removeprefix("0x")))
            assert record is not None and record.root.hex() == b["root"].removeprefix("0x")

        with service.db() as db:
            rows = db.execute(
                "SELECT status, COUNT(*) FROM outbox WHERE kind = 'anchor_batch' GROUP BY status"
            ).fetchall()
        assert rows == [("confirmed", len(batches))]
    finally:
        service.stop()
        node.stop()


def test_chain_restarted_without_state_is_reported_and_writes_are_held(
    service: Service, node_state: tuple[int, Path], sender_key: str
) -> None:
    port, state_file = node_state
    node = new_node(port, state_file)
    node.start()
    fresh: AnvilBackend | None = None
    try:
        fund(node, sender_key)
        service.start()
        wait_for(lambda: httpx.get(f"{service.base}/health").status_code == 200, what="health")
        service.login_factory()
        first = service.batch_and_anchor("BEFORE")
        wait_for(lambda: service.batch_status(first["id"]) == "anchored", what="first anchor")
        time.sleep(1.5)
        node.stop()

        fresh = new_node(port, None)  # a new chain: same chain id, different genesis
        fresh.start()
        fund(fresh, sender_key)
        health = wait_for(
            lambda: (
                (r := httpx.get(f"{service.base}/health")).status_code == 503
                and r.json()["chain"].get("genesis_mismatch")
                and r.json()
            ),
            what="genesis mismatch reported",
        )
        assert health["chain"]["genesis_mismatch"] is True

        held = service.batch_and_anchor("HELD")  # accepted, and held
        time.sleep(3)
        sender = Account.from_key(sender_key).address
        assert rpc(str(fresh.rpc_url), "eth_getTransactionCount", [sender, "pending"]) == "0x0"
        assert service.batch_status(held["id"]) == "anchoring"
        with service.db() as db:
            (status,) = db.execute(
                "SELECT o.status FROM outbox o JOIN batches b ON b.outbox_id = o.id "
                "WHERE b.public_id = ?",
                (held["id"],),
            ).fetchone()
        assert status == "queued"

        # The operator brings the right chain back: the held write goes out, once.
        fresh.stop()
        fresh = None
        node = new_node(port, state_file)
        node.start()
        wait_for(lambda: service.batch_status(held["id"]) == "anchored", what="held anchor sent")
        assert httpx.get(f"{service.base}/health").status_code == 200
    finally:
        service.stop()
        if fresh is not None:
            fresh.stop()
        node.stop()
