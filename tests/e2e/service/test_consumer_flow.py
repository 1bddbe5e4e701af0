"""The consumer's claim end to end on ``tracecert run`` against anvil, over HTTP and JSON-RPC.

A factory anchors a batch; two consumers sign up with one-time codes (read from the service log,
as in dev mode), scan their bottles at the Digital Link path and claim them with the PINs. The
node is then stopped: further claims are still accepted and stay pending; when the node returns,
every claim is minted exactly once, in shared ``claimBatch`` transactions, and the chain agrees
with the database.
"""

from __future__ import annotations

import csv
import io
import re
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

from chain.client import ChainClient
from chain.contracts.certificate_registry import CertificateRegistry
from tests.e2e.service.conftest import GTIN, post_ok, set_up_factory, wait_for
from tests.e2e.service.test_faults import (  # noqa: F401
    PROJECT_ROOT,
    fund,
    new_node,
    node_state,
    sender_key,
    sender_transactions,
    service,
)

pytestmark = [pytest.mark.anvil, pytest.mark.slow]
CLAIM_BATCH = (
    "0x" + keccak(b"claimBatch((bytes32,uint256,bytes32,address)[],bytes32[][])")[:4].hex()
)
CLAIM_ONE = "0x" + keccak(b"claim((bytes32,uint256,bytes32,address),bytes32[])")[:4].hex()


class Consumer:
    def __init__(self, base: str, log: Path, destination: str) -> None:
        self.base, self.log, self.destination = base, log, destination
        self.headers: dict[str, str] = {}

    def sign_in(self) -> dict[str, Any]:
        sent = post_ok(f"{self.base}/accounts/codes", {}, {"destination": self.destination}, 202)
        pattern = re.compile(rf"one-time code for {re.escape(self.destination)} \(\w+\): (\d{{6}})")
        code = wait_for(
            lambda: (pattern.findall(self.log.read_text()) or [None])[-1], what="code in log"
        )
        session = post_ok(
            f"{self.base}/accounts/sessions",
            {},
            {"challenge_id": sent["challenge_id"], "code": code},
            201,
        )
        self.headers = {"Authorization": f"Bearer {session['token']}"}
        return dict(session["account"])

    def claim(self, serial: str, pin: str) -> dict[str, Any]:
        return dict(
            post_ok(f"{self.base}/claims", self.headers, {"serial": serial, "pin": pin}, 202)
        )

    def certificates(self) -> list[dict[str, Any]]:
        return list(httpx.get(f"{self.base}/me/certificates", headers=self.headers).json())


@pytest.fixture
def running(service, node_state, sender_key, tmp_path) -> Iterator[Any]:  # noqa: F811
    """``tracecert run`` (its log in a file) against a node the test controls."""
    port, state_file = node_state
    node = new_node(port, state_file)
    node.start()
    fund(node, sender_key)
    log = tmp_path / "service.log"
    svc = service
    svc.env["TRACECERT_CLAIM_BATCH_WINDOW_S"] = "1.0"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "service.cli", "run"],
            env=svc.env,
            cwd=PROJECT_ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_for(lambda: httpx.get(f"{svc.base}/health").status_code == 200, what="health")
            yield svc, node, log, (port, state_file)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
            node.stop()


def test_claims_are_minted_in_shared_transactions_and_survive_a_node_outage(
    running,
    sender_key,  # noqa: F811
    registry_artifact,
):
    svc, node, log, (port, state_file) = running
    admin = svc.cli("admin", "create", "--name", "Platform").split()[-1]
    factory = set_up_factory(svc.base, {"Authorization": f"Bearer {admin}"})
    batch = post_ok(
        f"{svc.base}/batches",
        factory,
        {
            "gtin": GTIN,
            "lot": "C1",
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
    rows = list(csv.DictReader(io.StringIO(code_file.text)))
    post_ok(f"{svc.base}/batches/{batch['id']}/activate", factory)
    post_ok(f"{svc.base}/batches/{batch['id']}/anchor", factory, status=202)
    wait_for(
        lambda: (
            httpx.get(f"{svc.base}/batches/{batch['id']}", headers=factory).json()["status"]
            == "anchored"
        ),
        what="batch anchored",
    )
    time.sleep(2.5)  # the anchor is in anvil's state file (dumped every second)

    alice = Consumer(svc.base, log, "alice@example.com")
    bob = Consumer(svc.base, log, "+8613800138000")
    alice_wallet = alice.sign_in()["wallet_address"]
    bob_wallet = bob.sign_in()["wallet_address"]

    # The QR's Digital Link: genuine, not yet claimed, with the chain's raw values.
    uri = rows[0]["uri"].split("/01/", 1)[1]
    scan = httpx.get(f"{svc.base}/01/{uri}", headers={"Accept": "application/json"}).json()
    assert scan["verdict"] == "genuine" and scan["certificate"] is None
    assert scan["contract"]["address"] and scan["chain"]["proof"]

    # Three claims at once share one transaction.
    for who, row in ((alice, rows[0]), (alice, rows[1]), (bob, rows[2])):
        assert who.claim(row["serial"], row["pin"])["state"] == "claim_pending"
    wait_for(
        lambda: all(c["state"] == "active" for c in alice.certificates() + bob.certificates()),
        what="first claims minted",
    )

    # The node goes down: claims and a gift are still accepted, and wait.
    node.stop()
    outage = [(alice, rows[3]), (bob, rows[4]), (bob, rows[5])]
    for who, row in outage:
        body = who.claim(row["serial"], row["pin"])
        assert body["state"] == "claim_pending" and body["pending"] is True
    gifted_id = next(c["id"] for c in alice.certificates() if c["serial"] == rows[1]["serial"])
    gifted = post_ok(
        f"{svc.base}/me/certificates/{gifted_id}/gift",
        alice.headers,
        {"to": "+8613800138000"},
    )
    assert gifted["state"] == "gifted" and gifted["pending_actions"] == ["gift"]
    time.sleep(3)
    assert {c["state"] for c in bob.certificates() if c["serial"] != rows[2]["serial"]} == {
        "claim_pending"
    }
    node = new_node(port, state_file)  # the same chain, from its state file
    node.start()
    wait_for(
        lambda: (
            all(
                c["state"] == "active"
                for c in alice.certificates() + bob.certificates()
                if c["id"] != gifted_id
            )
            and not any(c["pending"] for c in alice.certificates())
        ),
        what="claims and the gift after the outage on chain",
        timeout=120,
    )
    # Bob accepts the gift once it is in escrow; it moves exactly once.
    (offer,) = httpx.get(f"{svc.base}/me/gifts", headers=bob.headers).json()
    assert offer["ready"] is True
    post_ok(f"{svc.base}/gifts/accept", bob.headers, {"gift_id": offer["id"]})
    wait_for(
        lambda: not any(c["pending"] for c in bob.certificates()), what="gift accepted on chain"
    )

    # The chain agrees with the database, and each token was minted exactly once.
    address = httpx.get(f"{svc.base}/chain").json()["deployment"]["address"]
    registry = CertificateRegistry(ChainClient(node), address, registry_artifact)
    owners = {alice_wallet: alice.certificates(), bob_wallet: bob.certificates()}
    for wallet, certificates in owners.items():
        for c in certificates:
            assert registry.owner_of(int(c["token_id"])) == wallet
            assert c["chain"]["status"] == "confirmed" and c["chain"]["tx_hash"]
    txs = sender_transactions(node, Account.from_key(sender_key).address)
    claims = [t for t in txs if t["input"][:10] in (CLAIM_BATCH, CLAIM_ONE)]
    assert all(t["status"] == 1 for t in claims)
    assert CLAIM_BATCH in {t["input"][:10] for t in claims}
    assert len(claims) < 6, "claims were batched, not sent one by one"
    assert registry.owner_of(int(gifted["token_id"])) == bob_wallet
    db = sqlite3.connect(Path(svc.env["TRACECERT_DATA_DIR"]) / "tracecert.db")
    with db:
        assert db.execute(
            "SELECT count(*) FROM certificates WHERE state = 'active'"
        ).fetchone() == (6,)
        # Six mints, the gift into escrow and out of it: each confirmed once.
        assert db.execute(
            "SELECT action, count(*) FROM certificate_actions WHERE status = 'confirmed' "
            "GROUP BY action ORDER BY action"
        ).fetchall() == [("accept_gift", 1), ("claim", 6), ("gift", 1)]

    # A later scan says claimed, with the date and no personal data.
    again = httpx.get(f"{svc.base}/01/{uri}", headers={"Accept": "application/json"}).json()
    assert again["certificate"]["state"] == "active"
    assert alice_wallet not in str(again) and "alice" not in str(again)

    # The touchpoints' feed (tracecert run's own thread) credited each confirmed claim once:
    # three each (Bob's gift from Alice earns him no claim points: the bottle earned them).
    def balance(who: Consumer) -> int:
        brands = httpx.get(f"{svc.base}/me/points", headers=who.headers).json()["brands"]
        return int(brands[0]["balance"]) if brands else 0

    wait_for(lambda: balance(alice) == 300 and balance(bob) == 300, what="points credited")
    (brand,) = httpx.get(f"{svc.base}/me/points", headers=alice.headers).json()["brands"]
    spend = {"brand_id": brand["brand_id"], "reward": "coupon-50"}
    key = {**alice.headers, "Idempotency-Key": "e2e-spend-1"}
    spent = post_ok(f"{svc.base}/me/points/spend", key, spend)
    assert spent["balance"] == 100 and post_ok(f"{svc.base}/me/points/spend", key, spend) == spent
    assert balance(alice) == 100
    consents = httpx.put(
        f"{svc.base}/me/consents/{brand['brand_id']}",
        json={"marketing": True, "text_version": "e2e-1", "channel": "web"},
        headers=alice.headers,
    )
    assert consents.status_code == 200 and consents.json()["consents"]["marketing"]["granted"]
    # The brand's view: tracecert run's worker screened Alice's points (clear, each decision a
    # log entry naming its reasons); its integration links her WeChat OpenID (by reference).
    h_admin = {"Authorization": f"Bearer {admin}"}
    brand_key = post_ok(
        f"{svc.base}/organisations/{brand['brand_id']}/api-keys", h_admin, {"role": "brand"},
        status=201,
    )["api_key"]  # fmt: skip
    h_brand = {"Authorization": f"Bearer {brand_key}"}
    (membership,) = httpx.get(f"{svc.base}/me/consents", headers=alice.headers).json()
    member = httpx.get(
        f"{svc.base}/touchpoints/members/{membership['member_id']}", headers=h_brand
    ).json()
    assert member["risk"]["level"] == "clear" and member["risk"]["decisions"][0]["kind"] == "screen"
    assert httpx.get(f"{svc.base}/touchpoints/risk/queue", headers=h_brand).json() == []
    linked = post_ok(
        f"{svc.base}/touchpoints/identities",
        h_brand,
        {"member_id": membership["member_id"], "type": "external:wechat_openid", "value": "oE2E"},
    )
    assert [i["type"] for i in linked["identities"]][-1] == "external:wechat_openid"
    data = httpx.get(f"{svc.base}/me/data", headers=alice.headers).json()
    assert data["account"]["sign_in"] == "alice@example.com"
    assert data["brands"][0]["identities"][0]["value"] == "oE2E"
    assert data["brands"][0]["points"][0]["points"] == -200  # the latest entry first
    node.stop()  # the restarted node (the fixture stops the first)
