"""The auditor's verifier computes what the service commits to with code of its own, and
imports nothing of the service or the chain package (issue 13)."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

from chain import log as service_log
from chain import merkle
from service.adapters.commitments import ChainCommitments

ROOT = Path(__file__).resolve().parents[3]
VERIFIER = ROOT / "verifier"
sys.path.insert(0, str(VERIFIER))

from tracecert_verify import hashing  # noqa: E402

FORBIDDEN = {"service", "chain", "web3", "eth_abi", "eth_account", "sqlalchemy", "fastapi"}


def test_the_verifier_imports_neither_service_nor_chain():
    for path in (VERIFIER / "tracecert_verify").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in FORBIDDEN, f"{path.name} imports {name}"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(VERIFIER)
    probe = (
        "import sys, tracecert_verify.cli; "
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {sorted(FORBIDDEN)!r}); "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], env=env, cwd=VERIFIER, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 13, 100])
def test_the_log_root_is_rfc_6962s(n):
    leaves = [service_log.leaf_hash(f"entry {i}".encode()) for i in range(n)]
    folder = hashing.LogFolder()
    for i, leaf in enumerate(leaves, 1):
        folder.append(leaf)
        assert folder.root() == bytes(service_log.root(leaves[:i]))
    assert hashing.log_leaf(b"entry 0") == leaves[0]


@pytest.mark.parametrize("n", [1, 2, 3, 7, 12])
def test_items_and_batch_roots_are_the_registrys(n):
    c = ChainCommitments()
    batch = c.chain_batch_id("01JBATCH")
    attributes = c.attributes_hash({"gtin": "09506000134352", "lot": "L1", "abv": 53})
    serials = [f"S{i:08d}" for i in range(n)]
    item_hashes, leaves = c.commit_items(batch, attributes, serials)
    mine = [hashing.item_commitments(batch, attributes, s) for s in serials]
    assert [m[0] for m in mine] == item_hashes and [m[2] for m in mine] == leaves
    assert mine[0][1] == c.token_id(batch, item_hashes[0])
    assert hashing.batch_root(leaves) == merkle.BatchTree(leaves).root
    assert hashing.chain_batch_id("01JBATCH") == batch
    metadata = {"gtin": "09506000134352", "lot": "L1", "abv": 53}
    assert hashing.keccak256(hashing.canonical_json(metadata)) == c.attributes_hash(metadata)
