"""Benchmark: gas per certificate operation and claim throughput, against a real anvil.

Everything is measured in this run on a fresh anvil devnet (no state), including the baseline:
a plain OpenZeppelin ERC-721 ``mint`` (contracts/test/BaselineERC721.sol), deployed here.

``claim_batch_worst_case_at_cap`` is the most gas one ``claimBatch`` can take: ``MAX_CLAIM_BATCH``
claims, every recipient a new owner, 20-deep proofs (a batch of a million items). The contract
tests hold it under 12M gas; this run prints the figure.

The last line printed is one JSON object:
    {"gas": {...}, "claims_per_s": {"single", "batched"}, ...}
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from chain.artifacts import load_artifact  # noqa: E402
from chain.backends import AnvilBackend, anvil_binary, free_port  # noqa: E402
from chain.client import ChainClient, Receipt  # noqa: E402
from chain.config import ANVIL_DEV_PRIVATE_KEY  # noqa: E402
from chain.contracts.certificate_registry import (  # noqa: E402
    MAX_CLAIM_BATCH,
    CertificateRegistry,
    ClaimRequest,
    claim_skips,
)
from chain.contracts.forwarder import Forwarder  # noqa: E402
from chain.deploy import deploy, deploy_registry, send_transaction, wait_for_receipt  # noqa: E402
from chain.merkle import BatchTree, hash_pair, item_leaf, token_id_of  # noqa: E402

# anvil's default accounts 1 and 2 (mnemonic "test test ... junk"): holder and pledgee/custodian.
HOLDER_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
SERVICE_KEY = "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a"

console = Console(stderr=True)


def keccak_int(i: int) -> bytes:
    from eth_utils.crypto import keccak

    return keccak(i.to_bytes(32, "big"))


class Bench:
    def __init__(self, client: ChainClient, registry: CertificateRegistry, admin: LocalAccount):
        self.client = client
        self.registry = registry
        self.admin = admin

    def tx(self, account: LocalAccount, data: bytes, to: str | None = None) -> Receipt:
        receipt = send_transaction(self.client, account, to or self.registry.address, data)
        if receipt.status != 1:
            raise RuntimeError(f"transaction reverted: 0x{receipt.tx_hash.hex()}")
        return receipt


def make_batch(batch_no: int, size: int) -> tuple[bytes, list[ClaimRequest], BatchTree]:
    batch_id = keccak_int(10**9 + batch_no)
    holder = Account.from_key(HOLDER_KEY).address
    claims = [
        ClaimRequest(
            batch_id=batch_id,
            token_id=token_id_of(batch_id, keccak_int(i)),
            item_hash=keccak_int(i),
            to=holder,
        )
        for i in range(size)
    ]
    tree = BatchTree([item_leaf(c.batch_id, c.token_id, c.item_hash) for c in claims])
    return batch_id, claims, tree


def worst_case_claims(batch_no: int) -> tuple[bytes, bytes, list[ClaimRequest], list[list[bytes]]]:
    """``MAX_CLAIM_BATCH`` claims of a batch whose proofs are 20 deep, each to a new address.

    A 256-leaf subtree under 12 more levels of made-up siblings: the proofs a batch of 2^20
    items has, without building a million leaves.
    """
    batch_id = keccak_int(10**9 + batch_no)
    hashes = [keccak_int(7 * 10**8 + i) for i in range(256)]
    claims = [
        ClaimRequest(batch_id, token_id_of(batch_id, h), h, Account.create().address)
        for h in hashes
    ]
    sub = BatchTree([item_leaf(batch_id, c.token_id, c.item_hash) for c in claims])
    padding = [keccak_int(8 * 10**8 + level) for level in range(12)]
    root = sub.root
    for sibling in padding:
        root = hash_pair(root, sibling)
    chosen = claims[:MAX_CLAIM_BATCH]
    return batch_id, root, chosen, [sub.proof(i) + padding for i in range(len(chosen))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short run (CI)")
    parser.add_argument("--batch-size", type=int, default=None, help="items per anchored batch")
    args = parser.parse_args()

    batch_size = args.batch_size or (1024 if args.quick else 65_536)
    single_claims = 40 if args.quick else 300
    batched_txs = 4 if args.quick else 20
    per_batch_tx = 100

    backend = AnvilBackend(anvil_binary(), port=free_port(), state_file=None)
    backend.start()
    try:
        client = ChainClient(backend)
        admin = Account.from_key(ANVIL_DEV_PRIVATE_KEY)
        holder = Account.from_key(HOLDER_KEY)
        service = Account.from_key(SERVICE_KEY)
        artifacts = ROOT / "artifacts"
        reg_artifact = load_artifact(artifacts, "CertificateRegistry")
        base_artifact = load_artifact(artifacts, "BaselineERC721")

        dep = deploy_registry(client, admin, artifacts, admin.address)
        registry = CertificateRegistry(client, dep.registry.address, reg_artifact)
        forwarder = Forwarder(
            client, dep.forwarder.address, load_artifact(artifacts, "TracecertForwarder")
        )
        baseline = deploy(client, admin, base_artifact)
        bench = Bench(client, registry, admin)
        for role in ("FACTORY_ROLE", "RELAYER_ROLE"):
            bench.tx(admin, registry.encode_grant_role(role, admin.address))
        for role in ("PLEDGEE_ROLE", "CUSTODIAN_ROLE"):
            bench.tx(admin, registry.encode_grant_role(role, service.address))

        gas: dict[str, int | float] = {}

        # --- baseline: a plain per-item ERC-721 mint (first one warms the balance slot) ----
        from eth_abi.abi import encode as abi_encode
        from eth_utils.crypto import keccak

        mint_sel = keccak(b"mint(address,uint256)")[:4]
        mints = [
            bench.tx(
                admin,
                mint_sel + abi_encode(["address", "uint256"], [holder.address, i + 1]),
                to=baseline.address,
            ).gas_used
            for i in range(3)
        ]
        gas["erc721_mint_baseline"] = mints[-1]
        gas["erc721_mint_baseline_first"] = mints[0]

        # --- anchor one batch -------------------------------------------------------------
        console.print(f"building a batch tree of {batch_size:,} items")
        batch_id, claims, tree = make_batch(1, batch_size)
        r = bench.tx(
            admin, registry.encode_anchor_batch(batch_id, tree.root, batch_size, b"\x01" * 32)
        )
        gas["anchor_batch"] = r.gas_used
        gas["anchor_batch_per_item"] = round(r.gas_used / batch_size, 3)

        # --- one claim, then a batched claim ---------------------------------------------
        r = bench.tx(admin, registry.encode_claim(claims[0], tree.proof(0)))
        gas["claim_one"] = r.gas_used
        chunk = claims[1 : 1 + per_batch_tx]
        r = bench.tx(
            admin,
            registry.encode_claim_batch(chunk, [tree.proof(i) for i in range(1, 1 + len(chunk))]),
        )
        gas["claim_batched_per_item"] = round(r.gas_used / len(chunk), 1)
        next_index = 1 + len(chunk)
        # The first claim above paid for the holder's cold balance slot, like the baseline's
        # first mint; steady state is a claim to a holder who already has a certificate.
        gas["claim_one_first"] = gas["claim_one"]
        r = bench.tx(admin, registry.encode_claim(claims[next_index], tree.proof(next_index)))
        gas["claim_one"] = r.gas_used
        next_index += 1

        # --- lifecycle on the first claimed token ----------------------------------------
        tok = claims[0].token_id
        gas["pledge"] = bench.tx(holder, registry.encode_pledge(tok, service.address)).gas_used
        gas["release_pledge"] = bench.tx(service, registry.encode_release_pledge(tok)).gas_used

        # The same pledge signed by the holder and relayed through the forwarder by the admin
        # (the service's one sender). The holder's first request also pays for a new nonce slot.
        def relayed(signer: LocalAccount, data: bytes) -> int:
            deadline = client.block_timestamp() + 3600
            request = forwarder.request(
                signer.address, registry.address, data, gas=200_000, deadline=deadline
            )
            execute = forwarder.encode_execute(request, forwarder.sign(signer, request))
            return bench.tx(admin, execute, to=forwarder.address).gas_used

        pledge_data = registry.encode_pledge(tok, service.address)
        gas["pledge_relayed_first"] = relayed(holder, pledge_data)
        bench.tx(service, registry.encode_release_pledge(tok))
        gas["pledge_relayed"] = relayed(holder, pledge_data)
        bench.tx(service, registry.encode_release_pledge(tok))
        gas["custody_in"] = bench.tx(
            holder, registry.encode_deposit_to_custody(tok, service.address)
        ).gas_used
        gas["custody_out"] = bench.tx(service, registry.encode_release_custody(tok)).gas_used
        gas["gift"] = bench.tx(
            holder, registry.encode_transfer_from(holder.address, admin.address, tok)
        ).gas_used
        tok2 = claims[1].token_id
        bench.tx(holder, registry.encode_deposit_to_custody(tok2, service.address))
        gas["request_redemption"] = bench.tx(
            holder, registry.encode_request_redemption(tok2)
        ).gas_used
        gas["redeem"] = bench.tx(service, registry.encode_fulfil_redemption(tok2)).gas_used
        gas["redeem_by_owner"] = bench.tx(admin, registry.encode_redeem(tok)).gas_used

        # --- log anchors (the first writes the latest-size slot from zero) ------------------
        bench.tx(admin, registry.encode_grant_role("ANCHOR_ROLE", admin.address))
        gas["anchor_log_first"] = bench.tx(
            admin, registry.encode_anchor_log(10, keccak_int(10))
        ).gas_used
        gas["anchor_log"] = bench.tx(admin, registry.encode_anchor_log(20, keccak_int(20))).gas_used

        # --- the worst claimBatch: the cap, new owners, 20-deep proofs ---------------------
        worst_id, worst_root, worst, worst_proofs = worst_case_claims(2)
        bench.tx(admin, registry.encode_anchor_batch(worst_id, worst_root, 1 << 20, b"\x01" * 32))
        r = bench.tx(admin, registry.encode_claim_batch(worst, worst_proofs))
        assert not claim_skips(r, registry.address), "the worst case skipped claims"
        gas["claim_batch_worst_case_at_cap"] = r.gas_used
        gas["claim_batch_worst_case_per_item"] = round(r.gas_used / len(worst), 1)

        # --- throughput: sequential single claims, then batched claims --------------------
        def timed_claims(count: int, size: int, label: str, progress: Progress) -> float:
            """Claims as the sender issues them: sign with local nonces, send, then collect."""
            nonlocal next_index
            task = progress.add_task(label, total=count * size)
            start = time.perf_counter()
            fees = client.fees()
            chain_id = client.identity().chain_id
            nonce = client.nonce(admin.address, "pending")
            hashes = []
            for _ in range(count):
                idx = list(range(next_index, next_index + size))
                next_index += size
                sel = [claims[i] for i in idx]
                data = (
                    registry.encode_claim(sel[0], tree.proof(idx[0]))
                    if size == 1
                    else registry.encode_claim_batch(sel, [tree.proof(i) for i in idx])
                )
                signed = admin.sign_transaction(
                    {
                        "type": 2,
                        "chainId": chain_id,
                        "nonce": nonce,
                        "to": registry.address,
                        "data": data,
                        "value": 0,
                        "gas": 200_000 + 90_000 * size,
                        "maxFeePerGas": fees.max_fee_per_gas,
                        "maxPriorityFeePerGas": fees.max_priority_fee_per_gas,
                    }
                )
                hashes.append(client.send_raw(bytes(signed.raw_transaction)))
                nonce += 1
            for h in hashes:
                receipt = wait_for_receipt(client, h, timeout_s=120)
                if receipt.status != 1:
                    raise RuntimeError(f"claim reverted: 0x{h.hex()}")
                progress.advance(task, size)
            return count * size / (time.perf_counter() - start)

        with Progress(console=console, transient=True) as progress:
            single = timed_claims(single_claims, 1, "single claims", progress)
            batched = timed_claims(batched_txs, per_batch_tx, "batched claims", progress)
        # every timed claim really minted: check a sample on chain
        assert registry.owner_of(claims[next_index - 1].token_id) == holder.address

        base = gas["erc721_mint_baseline"]
        result: dict[str, Any] = {
            "gas": gas,
            "ratio_to_erc721_mint": {
                k: round(float(gas[k]) / float(base), 5)
                for k in ("claim_one", "claim_batched_per_item", "anchor_batch_per_item")
            },
            "claims_per_s": {"single": round(single, 1), "batched": round(batched, 1)},
            "params": {
                "max_claim_batch": MAX_CLAIM_BATCH,
                "batch_size": batch_size,
                "proof_length": len(tree.proof(0)),
                "single_claims": single_claims,
                "batched_txs": batched_txs,
                "items_per_batched_tx": per_batch_tx,
                "node": "anvil (fresh, automine)",
            },
        }
        table = Table(title="tracecert chain benchmark (anvil)")
        table.add_column("operation")
        table.add_column("gas", justify="right")
        for k, v in gas.items():
            table.add_row(k, f"{v:,}")
        console.print(table)
        console.print(f"claims/s single {single:.1f}, batched {batched:.1f} (items/s)")
        print(json.dumps(result))
        return 0
    finally:
        backend.stop()


if __name__ == "__main__":
    os.chdir(ROOT)
    raise SystemExit(main())
