"""The auditor's verifier computes what the service commits to with code of its own, and
imports nothing of the service or the chain package (issue 13)."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from chain import log as service_log
from chain import merkle
from service.ledger.storage.commitments import ChainCommitments

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


# ----------------------------------------------------------------------------- exit codes
def _export(
    directory: Path, log: list[dict], anchors: list[dict], **more: list[dict] | dict
) -> Path:
    """A minimal export: the given log and anchors (and ``certificates=[...]``, a
    ``manifest={...}`` to merge), nothing else, with a true manifest."""
    import hashlib
    import json

    directory.mkdir()
    files: dict[str, list[dict]] = {
        "log.ndjson": log,
        "anchors.ndjson": anchors,
        "batches.ndjson": [],
        "items.ndjson": [],
        "units.ndjson": [],
        "certificates.ndjson": list(more.get("certificates", [])),
    }
    manifest: dict = {
        "format": "tracecert-audit/1",
        "chain_id": None,
        "genesis_hash": None,
        "registry": "0x" + "11" * 20,
        "since_index": 0,
        "log_size": len(log),
        "files": {},
        **dict(more.get("manifest", {})),
    }
    for name, records in files.items():
        data = b"".join(json.dumps(r).encode() + b"\n" for r in records)
        (directory / name).write_bytes(data)
        manifest["files"][name] = {"sha256": hashlib.sha256(data).hexdigest()}
    (directory / "manifest.json").write_text(json.dumps(manifest))
    return directory


def _entry(index: int, prev: bytes) -> dict:
    payload = json.dumps(
        {"type": "RegionsLoaded", "log_index": index, "prev": "0x" + prev.hex()},
        sort_keys=True,
        separators=(",", ":"),
    )
    return {
        "index": index,
        "payload": payload,
        "leaf_hash": "0x" + hashing.log_leaf(payload.encode()).hex(),
    }


@pytest.fixture
def chain_with_roots():
    """A stand-in JSON-RPC node whose logRoot answers from ``roots`` (zero elsewhere)."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    roots: dict[int, bytes] = {}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            req = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if req["method"] == "eth_chainId":
                result = "0x7a69"
            else:
                arg = int(req["params"][0]["data"][10:], 16)
                result = "0x" + roots.get(arg, bytes(32)).hex()
            body = json.dumps({"jsonrpc": "2.0", "id": req["id"], "result": result}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", roots
    server.shutdown()


def _entries(n: int) -> list[dict]:
    out, prev = [], bytes(32)
    for i in range(n):
        out.append(_entry(i, prev))
        prev = bytes.fromhex(out[-1]["leaf_hash"][2:])
    return out


def test_exit_codes_say_verified_tail_mismatch_and_could_not_check(tmp_path, chain_with_roots):
    from tracecert_verify import cli

    rpc, roots = chain_with_roots
    log = _entries(3)
    folder = hashing.LogFolder()
    for e in log[:2]:
        folder.append(bytes.fromhex(e["leaf_hash"][2:]))
    roots[2] = folder.root()
    anchors = [{"size": 2, "root": "0x" + roots[2].hex(), "status": "anchored"}]

    assert cli.main([str(_export(tmp_path / "tail", log, anchors)), "--rpc", rpc]) == 10
    assert cli.main([str(_export(tmp_path / "ok", log[:2], anchors)), "--rpc", rpc]) == 0
    edited = [*log[:1], {**log[1], "payload": log[1]["payload"].replace("Regions", "Forged")}]
    assert cli.main([str(_export(tmp_path / "edited", edited, anchors)), "--rpc", rpc]) == 20
    # The chain unreachable, or a file that is not what the manifest says: 30.
    assert cli.main([str(tmp_path / "ok"), "--rpc", "http://127.0.0.1:9"]) == 30
    (tmp_path / "ok" / "log.ndjson").write_text("")
    assert cli.main([str(tmp_path / "ok"), "--rpc", rpc]) == 30


# ----------------------------------------------------------------------------- lock state
@pytest.fixture
def registry_node():
    """A stand-in JSON-RPC node for the registry's certificate views: ``tokens`` maps a token
    id to ``(state, redemption_requested, gift_pending)``; ``ownerOf`` answers one owner."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    tokens: dict[int, tuple[int, bool, bool]] = {}
    attestations: dict[int, int] = {}  # by chain batch id
    owner = "0x" + "22" * 20

    def selector(signature: str) -> str:
        return hashing.keccak256(signature.encode())[:4].hex()

    owner_of, certificate, gift, attestation_count = (
        selector(s)
        for s in (
            "ownerOf(uint256)",
            "certificate(uint256)",
            "gift(uint256)",
            "attestationCount(bytes32)",
        )
    )

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            req = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if req["method"] == "eth_chainId":
                result = "0x7a69"
            else:
                data = req["params"][0]["data"][2:]
                token = int(data[8:], 16)
                state, requested, gifted = tokens.get(token, (0, False, False))
                word = lambda n: int(n).to_bytes(32, "big")  # noqa: E731
                if data[:8] == owner_of:
                    out = bytes(12) + bytes.fromhex(owner[2:])
                elif data[:8] == certificate:
                    out = word(1) + word(state) + bytes(32) + word(0) + word(requested)
                elif data[:8] == gift:
                    out = word(0x33 if gifted else 0) + bytes(96)
                elif data[:8] == attestation_count:
                    out = word(attestations.get(token, 0))
                else:
                    out = bytes(32)
                result = "0x" + out.hex()
            body = json.dumps({"jsonrpc": "2.0", "id": req["id"], "result": result}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", tokens, owner, attestations
    server.shutdown()


def _lock_findings(directory: Path, rpc: str, in_flight=None) -> list[tuple[str, str]]:
    from tracecert_verify.batches import check_certificates
    from tracecert_verify.export import Export, Report
    from tracecert_verify.rpc import Registry

    export, report = Export(directory), Report()
    check_certificates(export, Registry(rpc, "0x" + "11" * 20), report, in_flight)
    return [(f.subject, f.detail) for f in report.findings]


def test_a_certificate_whose_lock_state_is_not_the_registrys_is_named(tmp_path, registry_node):
    rpc, tokens, owner, _ = registry_node
    # state row -> (registry state, redemption requested, gift pending) that agrees with it
    agree = {
        "active": (1, False, False),
        "gifted": (1, False, True),
        "pledge_offered": (1, False, False),
        "pledged": (2, False, False),
        "in_custody": (3, False, False),
        "redemption_requested": (3, True, False),
        "redeemed": (4, False, False),
    }
    certs = []
    for token, (state, on_chain) in enumerate(agree.items(), 1):
        tokens[token] = on_chain
        certs.append(
            {
                "id": f"crt_{state}",
                "batch_id": "B",
                "token_id": str(token),
                "state": state,
                "owner_address": owner,
                "confirmed": True,
            }
        )
    ok = _export(tmp_path / "ok", [], [], certificates=certs, manifest={"log_size": 0})
    assert _lock_findings(ok, rpc) == []
    # The row says pledged; the registry's views say the token is free (active): a change
    # made without its chain step, named.
    forged = [{**c, "state": "pledged"} if c["id"] == "crt_active" else c for c in certs]
    bad = _export(tmp_path / "bad", [], [], certificates=forged, manifest={"log_size": 0})
    assert _lock_findings(bad, rpc) == [
        (
            "certificate crt_active",
            "its state is pledged in the export; the registry shows it active",
        )
    ]
    # ... unless the log shows that step requested and not yet confirmed (a write in flight).
    assert _lock_findings(bad, rpc, {"crt_active": "active"}) == []
    # A gift escrow the row forgot, and a custody row whose token is redeemed on chain.
    tokens[1], tokens[5] = (1, False, True), (4, False, False)
    assert [s for s, _ in _lock_findings(ok, rpc)] == [
        "certificate crt_active",
        "certificate crt_in_custody",
    ]


# ----------------------------------------------------------------------------- incremental
def _incremental(directory: Path, log: list[dict], since: int, anchors: list[dict]) -> Path:
    """An export of ``log`` from ``since`` with the tree's frontier there (as the service's
    exporter writes it, with chain/log.py's own LogFrontier)."""
    frontier = service_log.LogFrontier()
    frontier.extend([bytes.fromhex(e["leaf_hash"][2:]) for e in log[:since]])
    manifest = {
        "since_index": since,
        "log_size": len(log),
        "frontier": {"size": since, "subtrees": ["0x" + h.hex() for h in frontier.subtrees]},
    }
    return _export(directory, log[since:], anchors, manifest=manifest)


def test_an_incremental_export_recomputes_later_roots_from_its_frontier(
    tmp_path, chain_with_roots, capsys
):
    from tracecert_verify import cli

    rpc, roots = chain_with_roots
    log = _entries(13)
    leaves = [bytes.fromhex(e["leaf_hash"][2:]) for e in log]
    for size in (5, 11, 13):
        roots[size] = service_log.root(leaves[:size])
    anchors = [{"size": s, "root": "0x" + roots[s].hex(), "status": "anchored"} for s in roots]

    def run(directory: Path) -> tuple[int, dict]:
        code = cli.main([str(directory), "--rpc", rpc, "--json"])
        return code, json.loads(capsys.readouterr().out)

    code, out = run(_incremental(tmp_path / "ok", log, 5, anchors))
    assert code == 0, out
    assert out["facts"]["frontier_verified"] == 5 and out["facts"]["roots_verified"] == 2
    assert out["facts"]["next_since_index"] == 13
    # An entry after the frontier edited with its leaf hash: the root at 11 no longer agrees.
    forged = [dict(e) for e in log]
    forged[7]["leaf_hash"] = "0x" + hashing.log_leaf(b"forged").hex()
    forged[7]["payload"] = "forged"
    code, out = run(_incremental(tmp_path / "after", forged, 5, anchors))
    assert code == 20 and "size 11" in {f["subject"] for f in out["findings"]}, out
    # An entry before it changed: the frontier's root is not the chain's root at 5.
    forged = [dict(e) for e in log]
    forged[2]["leaf_hash"] = "0x" + hashing.log_leaf(b"forged").hex()
    code, out = run(_incremental(tmp_path / "before", forged, 5, anchors))
    assert code == 20 and out["findings"][0]["subject"] == "size 5", out  # named first
    # An incremental export that lacks its frontier cannot be checked.
    bare = _export(tmp_path / "bare", log[5:], anchors, manifest={"since_index": 5, "log_size": 13})
    assert run(bare)[0] == 30


@pytest.mark.parametrize("size", [1, 2, 5, 8, 13, 64, 100])
def test_a_folder_resumed_from_a_frontier_goes_on_as_the_full_tree(size):
    leaves = [service_log.leaf_hash(f"e{i}".encode()) for i in range(size + 9)]
    frontier = service_log.LogFrontier()
    frontier.extend(leaves[:size])
    folder = hashing.LogFolder.resume(size, frontier.subtrees)
    assert folder.root() == service_log.root(leaves[:size])
    for i in range(size, len(leaves)):
        folder.append(leaves[i])
        assert folder.root() == service_log.root(leaves[: i + 1])
    with pytest.raises(ValueError):
        hashing.LogFolder.resume(size, [*frontier.subtrees, bytes(32)])


# ----------------------------------------------------------------------------- attestations
def test_a_batchs_attestations_on_chain_lie_between_those_confirmed_and_those_requested(
    registry_node,
):
    from tracecert_verify.batches import check_attestations
    from tracecert_verify.export import Report
    from tracecert_verify.rpc import Registry

    rpc, _, _, on_chain = registry_node
    registry = Registry(rpc, "0x" + "11" * 20)
    batch = {"status": "anchored", "chain_batch_id": "0x" + "01" * 32, "attestations": 2}

    def named(count: int, confirmed: dict[str, int] | None) -> list[str]:
        on_chain[int("01" * 32, 16)] = count
        report = Report()
        check_attestations({"B1": batch}, confirmed, registry, report)
        return [f.subject for f in report.findings]

    assert named(1, {"B1": 1}) == []  # one in flight
    assert named(2, {"B1": 2}) == []
    assert named(3, {"B1": 2}) == ["batch B1"]  # more on chain than rows: a row deleted
    assert named(1, {"B1": 2}) == ["batch B1"]  # the log confirmed one the chain lacks
    assert named(2, None) == []  # incremental: the rows only
    assert named(3, None) == ["batch B1"]


def test_the_replay_names_a_batch_whose_attestation_rows_the_log_did_not_request(tmp_path):
    from tracecert_verify.export import Export, Report
    from tracecert_verify.replay import Replay, replay

    derived = Replay({"B1"})
    derived.feed(0, {"type": "BatchAnchored", "batch_id": "B1"})
    derived.feed(1, {"type": "BatchAttestationRequested", "batch_id": "B1"})
    export = Export(_export(tmp_path / "e", [], [], manifest={"log_size": 0}))
    for rows, named in ((1, []), (2, ["batch B1"])):
        batch = {"status": "anchored", "recalled": False, "attestations": rows}
        report = Report()
        replay(export, derived, {"B1": batch}, report)
        assert [f.subject for f in report.findings] == named
