"""Reorgs on a real anvil under ``tracecert run``: depth 1, K, K+2 and a rollback (issue 10).

One service run walks the scenarios in sequence against a node the test controls. Before each,
mining is frozen and one write of each kind is put in flight: a batch anchor, a claim batch, a
log anchor and a relayed owner step (a consumer's gift through the forwarder). The test mines
blocks until the writes are mined (depth 1) or confirmed (K, K+2, the rollback), then removes
those blocks with ``anvil_reorg [depth, []]`` or ``anvil_rollback [depth]`` (neither puts the
removed transactions back in the pool) and lets the chain run again. Afterwards every write is
on chain exactly once, the database agrees with the receipts, nothing stays stuck and /health is
ok again. The issue's own repro comes first: anchor A, mine 2 blocks, ``anvil_reorg [2, []]``,
anchor B: both end anchored, with A's root on chain.
"""

from __future__ import annotations

import csv
import io
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

from chain.client import ChainClient
from chain.contracts.certificate_registry import CertificateRegistry
from tests.e2e.service.conftest import GTIN, anchorable_batch, post_ok, set_up_factory, wait_for
from tests.e2e.service.test_consumer_flow import Consumer
from tests.e2e.service.test_faults import (  # noqa: F401
    PROJECT_ROOT,
    fund,
    new_node,
    node_state,
    rpc,
    sender_key,
    sender_transactions,
    service,
)

pytestmark = [pytest.mark.anvil, pytest.mark.slow]
K = 2
FOLLOWED = ("anchor_batch", "claim_batch", "anchor_log", "forward")


class Run:
    """The service, its node and its database, with the few moves the scenarios need."""

    def __init__(self, svc: Any, node: Any, log: Path) -> None:
        self.svc, self.node, self.log = svc, node, log
        self.url = str(node.rpc_url)

    def call(self, method: str, *params: Any) -> Any:
        return rpc(self.url, method, list(params))

    def freeze(self) -> None:
        self.call("evm_setIntervalMining", 0)
        self.call("evm_setAutomine", False)

    def thaw(self) -> None:
        self.call("evm_setIntervalMining", 1)

    def mine(self, blocks: int) -> None:
        for _ in range(blocks):
            self.call("evm_mine")

    def rows(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        db = sqlite3.connect(Path(self.svc.env["TRACECERT_DATA_DIR"]) / "tracecert.db")
        try:
            return db.execute(sql, args).fetchall()
        finally:
            db.close()

    def last_outbox_id(self) -> int:
        return int(self.rows("SELECT coalesce(max(id), 0) FROM outbox")[0][0])

    def writes_since(self, after: int) -> dict[str, list[tuple[int, str]]]:
        found: dict[str, list[tuple[int, str]]] = {}
        for outbox_id, kind, status in self.rows(
            "SELECT id, kind, status FROM outbox WHERE id > ? ORDER BY id", after
        ):
            found.setdefault(kind, []).append((outbox_id, status))
        return found

    def health(self) -> httpx.Response:
        return httpx.get(f"{self.svc.base}/health", timeout=30)


@pytest.fixture
def run(service, node_state, sender_key, tmp_path) -> Iterator[Run]:  # noqa: F811
    port, state_file = node_state
    node = new_node(port, state_file)
    node.start()
    fund(node, sender_key)
    log = tmp_path / "service.log"
    service.env.update(
        TRACECERT_CLAIM_BATCH_WINDOW_S="1.0",
        TRACECERT_LOG_ANCHOR_INTERVAL_S="1",
        CHAIN_CONFIRMATIONS=str(K),
    )
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "service.cli", "run"],
            env=service.env,
            cwd=PROJECT_ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_for(lambda: httpx.get(f"{service.base}/health").status_code == 200, what="up")
            yield Run(service, node, log)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
            node.stop()


def test_reorgs_of_depth_1_k_k_plus_2_and_a_rollback_leave_every_write_once_and_nothing_stuck(
    run: Run,
    sender_key: str,  # noqa: F811
    registry_artifact: Any,
) -> None:
    svc = run.svc
    admin = svc.cli("admin", "create", "--name", "Platform").split()[-1]
    factory = set_up_factory(svc.base, {"Authorization": f"Bearer {admin}"})
    svc.headers = factory
    address = httpx.get(f"{svc.base}/chain").json()["deployment"]["address"]
    registry = CertificateRegistry(ChainClient(run.node), address, registry_artifact)

    def batch_status(batch: dict[str, Any]) -> str:
        """``anchored`` once its anchor is confirmed where the chain holds it now."""
        view = httpx.get(f"{svc.base}/batches/{batch['id']}", headers=factory).json()
        if view["status"] == "anchored" and view["anchor"]["status"] != "confirmed":
            return "anchored, re-sent"
        return str(view["status"])

    def anchor(batch: dict[str, Any]) -> None:
        post_ok(f"{svc.base}/batches/{batch['id']}/anchor", factory, status=202)

    # ---- the repro: anchor A, mine 2, anvil_reorg [2, []], anchor B (mining frozen)
    a, b = (
        anchorable_batch(svc.base, factory, "REPRO-A"),
        anchorable_batch(svc.base, factory, "REPRO-B"),
    )
    run.freeze()
    anchor(a)
    wait_for(
        lambda: run.rows("SELECT status FROM outbox WHERE kind = 'anchor_batch'") == [("sent",)]
    )
    run.mine(K)
    wait_for(lambda: batch_status(a) == "anchored", what="A anchored at depth K")
    run.call("anvil_reorg", K, [])
    assert registry.batch(bytes.fromhex(a["chain_batch_id"][2:])) is None
    anchor(b)
    wait_for(lambda: run.health().status_code == 503, what="/health degraded by the lost write")
    run.thaw()

    def on_chain(batch: dict[str, Any]) -> bool:
        record = registry.batch(bytes.fromhex(batch["chain_batch_id"][2:]))
        return record is not None and record.root.hex() == batch["root"][2:]

    # Both end anchored where the chain holds them now. (A's row says "anchored" from before
    # the reorg until the sender finds it missing, so the database alone is not the test: a
    # loaded machine showed the old row before the sender's next pass.)
    for batch in (a, b):
        wait_for(
            lambda batch=batch: on_chain(batch) and batch_status(batch) == "anchored",
            what=f"{batch['lot']} anchored on the chain",
        )
    wait_for(lambda: run.health().status_code == 200, what="/health ok after the repro")

    # ---- consumers with certificates to give, and a batch whose bottles they claim
    batch = post_ok(
        f"{svc.base}/batches",
        factory,
        {
            "gtin": GTIN,
            "lot": "BOTTLES",
            "production_date": "2026-11-20",
            "line": "L1",
            "planned_quantity": 12,
            "case_size": 6,
            "cases_per_pallet": 2,
        },
        201,
    )
    post_ok(f"{svc.base}/batches/{batch['id']}/codes", factory)
    code_file = httpx.get(f"{svc.base}/batches/{batch['id']}/code-file", headers=factory)
    bottles = list(csv.DictReader(io.StringIO(code_file.text)))
    post_ok(f"{svc.base}/batches/{batch['id']}/activate", factory)
    anchor(batch)
    wait_for(lambda: batch_status(batch) == "anchored", what="the bottles' batch anchored")
    alice = Consumer(svc.base, run.log, "alice@example.com")
    bob = Consumer(svc.base, run.log, "+8613800138000")
    alice.sign_in()
    bob.sign_in()
    for row in bottles[:4]:
        alice.claim(row["serial"], row["pin"])
    wait_for(
        lambda: [c["state"] for c in alice.certificates()] == ["active"] * 4,
        what="alice's first certificates",
    )
    to_give = [c["id"] for c in alice.certificates()]
    spare = [anchorable_batch(svc.base, factory, f"S{i}") for i in range(4)]

    scenarios = [("anvil_reorg", 1, "mined"), ("anvil_reorg", K, "confirmed")]
    scenarios += [("anvil_reorg", K + 2, "confirmed"), ("anvil_rollback", 3, "confirmed")]
    for n, (method, depth, reached) in enumerate(scenarios):
        start = run.last_outbox_id()
        run.freeze()
        anchor(spare[n])
        alice.claim(bottles[4 + 2 * n]["serial"], bottles[4 + 2 * n]["pin"])
        bob.claim(bottles[5 + 2 * n]["serial"], bottles[5 + 2 * n]["pin"])
        post_ok(
            f"{svc.base}/me/certificates/{to_give[n]}/gift", alice.headers, {"to": bob.destination}
        )

        def in_flight(start: int = start) -> bool:
            writes = run.writes_since(start)
            return all(any(s == "sent" for _, s in writes.get(kind, [])) for kind in FOLLOWED)

        wait_for(in_flight, what=f"one write of each kind sent ({method} {depth})", timeout=30)
        ours = {
            i for kind in FOLLOWED for i, s in run.writes_since(start).get(kind, []) if s == "sent"
        }
        run.mine(depth)
        wait_for(
            lambda ours=ours, reached=reached: all(
                s == reached
                for i, s in run.rows(
                    f"SELECT id, status FROM outbox WHERE id IN ({','.join(map(str, ours))})"
                )
            ),
            what=f"the writes {reached} at depth {depth}",
            timeout=30,
        )
        run.call(method, *([depth, []] if method == "anvil_reorg" else [depth]))
        if reached == "confirmed":
            wait_for(lambda: run.health().status_code == 503, what="/health degraded")
            body = run.health().json()["sender"]
            assert body["confirmed_missing"] or body["nonce_gap"], body
        run.thaw()
        wait_for(
            lambda n=n: (
                run.rows("SELECT count(*) FROM outbox WHERE status NOT IN ('confirmed', 'failed')")
                == [(0,)]
                and batch_status(spare[n]) == "anchored"
                and not any(c["pending"] for c in alice.certificates() + bob.certificates())
            ),
            what=f"every write confirmed after {method} {depth}",
            timeout=60,
        )
        wait_for(lambda: run.health().status_code == 200, what=f"/health ok after {method} {depth}")

    # ---- the service's own background writes settle too: the anti-farming screening appends
    # its decisions on the claims' points to the log, and the log's anchor follows them
    def quiet() -> bool:
        log = run.rows("SELECT count(*) FROM events")
        time.sleep(3)  # longer than the screening's and the anchorer's intervals here
        return log == run.rows("SELECT count(*) FROM events") and run.rows(
            "SELECT count(*) FROM outbox WHERE status <> 'confirmed'"
        ) == [(0,)]

    wait_for(quiet, what="the log and its anchors settled", timeout=90)

    # ---- every write exactly once on chain, and the database agrees with the receipts
    client = ChainClient(run.node)
    sender = Account.from_key(sender_key).address
    txs = sender_transactions(run.node, sender)
    nonces = sorted(t["nonce"] for t in txs)
    assert nonces == list(range(len(nonces))), "nonce gap or duplicate nonce"
    assert all(t["status"] == 1 for t in txs), "a duplicate or a stale write reverted on chain"
    inputs = [t["input"] for t in txs]
    writes = run.rows(
        "SELECT id, kind, calldata, status, mined_tx_hash, mined_block_number, mined_block_hash "
        "FROM outbox ORDER BY id"
    )
    assert {w[3] for w in writes} == {"confirmed"}, "a write failed or is still in flight"
    for outbox_id, kind, calldata, _, tx_hash, number, block_hash in writes:
        if kind == "nonce_fill":
            continue
        assert inputs.count("0x" + bytes(calldata).hex()) == 1, f"write #{outbox_id} ({kind})"
        receipt = client.receipt(bytes(tx_hash))
        assert receipt is not None and receipt.status == 1
        assert (receipt.block_number, receipt.block_hash) == (number, bytes(block_hash))
    assert run.rows("SELECT DISTINCT status FROM batches") == [("anchored",)]
    for public_id, root, chain_batch_id in run.rows(
        "SELECT public_id, root, chain_batch_id FROM batches"
    ):
        record = registry.batch(bytes(chain_batch_id))
        assert record is not None and record.root == bytes(root), public_id
    certificates = run.rows(
        "SELECT state, token_id, claim_tx_hash, claim_block_number FROM certificates"
    )
    assert len(certificates) == 12 and {c[0] for c in certificates} == {"active", "gifted"}
    for _, token_id, tx_hash, number in certificates:
        receipt = client.receipt(bytes(tx_hash))
        assert receipt is not None and receipt.block_number == number
        assert registry.owner_of(int(token_id))
    for size, root, status in run.rows("SELECT size, root, status FROM log_anchors"):
        if status == "anchored":
            assert registry.log_root(size) == bytes(root), size
    steps = run.rows("SELECT action, status FROM certificate_actions WHERE action = 'gift'")
    assert steps == [("gift", "confirmed")] * 4
    events = {t for (t,) in run.rows("SELECT type FROM events WHERE type LIKE 'ChainWrite%'")}
    assert events == {"ChainWriteReincluded"}, events
    recheck = subprocess.run(
        [sys.executable, "-m", "service.cli", "chain", "recheck"],
        env=svc.env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert recheck.returncode == 0, recheck.stdout + recheck.stderr
    assert "every confirmed write is where the database says" in recheck.stdout
    # ... and the operator was told what the sender decided.
    said = run.log.read_text()
    for decision in ("was removed by a reorg", "re-sent: the same raw", "re-included: tx"):
        assert decision in said, decision
