"""The auditor's export over HTTP (issue 13; service/audit): it follows the log's tenant rule,
its manifest hashes each file, and an incremental export starts at an anchored size with the
tree's frontier there. Two brands, each with a factory and a batch; SQLite and PostgreSQL, on
py-evm."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile

from tests.integration.service.conftest import auth
from tests.integration.service.ledger.test_log_integrity import anchored, new_event
from tests.integration.service.ledger.test_log_tenants import rfc6962_root


def _export_files(api, key: str, **params: int) -> dict[str, bytes]:
    response = api.get("/audit/export", params=params, headers=auth(key))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/x-tar"
    with tarfile.open(fileobj=io.BytesIO(response.content)) as tar:
        return {
            m.name.split("/")[-1]: tar.extractfile(m).read()  # type: ignore[union-attr]
            for m in tar.getmembers()
        }


def test_the_audit_export_follows_the_tenant_rule_and_its_manifest_hashes_each_file(
    api, keys, two_brands
):
    files = _export_files(api, two_brands["brand_two"])
    manifest = json.loads(files["manifest.json"])
    assert set(manifest["files"]) | {"manifest.json"} == set(files)
    assert "epcis.ndjson" in files
    for name, meta in manifest["files"].items():
        assert hashlib.sha256(files[name]).hexdigest() == meta["sha256"], name
    log = [json.loads(line) for line in files["log.ndjson"].splitlines()]
    assert [e["index"] for e in log] == list(range(manifest["log_size"]))
    shown = (
        b"".join(e["payload"].encode() for e in log if not e.get("withheld"))
        + files["batches.ndjson"]
    )
    assert two_brands["two"].encode() in shown
    assert two_brands["one"].encode() not in shown and b"LOT-ONE" not in shown
    batches = [json.loads(line) for line in files["batches.ndjson"].splitlines()]
    assert [b["id"] for b in batches] == [two_brands["two"]]
    # Brand One's own export has its batch and not Brand Two's.
    mine = _export_files(api, keys.auditor)
    assert two_brands["one"].encode() in mine["batches.ndjson"]
    assert two_brands["two"].encode() not in mine["batches.ndjson"]


def test_the_audit_export_is_refused_to_roles_that_do_not_read_the_log(api, keys):
    response = api.get("/audit/export", headers=auth(keys.factory))
    assert response.status_code == 403 and response.json()["error"] == "permission_denied"


def test_an_incremental_export_starts_at_an_anchored_size_with_the_trees_frontier_there(
    api, container, keys
):
    """``since_index`` N: the export starts at the last anchored size F <= N and carries the
    roots of the tree's perfect subtrees at F, from which the root at F (on chain) and every
    later root recompute (issue 13; the verifier's side is in tests/unit/verifier)."""
    anchored_size = anchored(container, api, keys.admin)
    for name in ("Store I1", "Store I2", "Store I3"):
        new_event(api, keys, name)
    full = _export_files(api, keys.admin)
    leaves = [
        bytes.fromhex(json.loads(line)["leaf_hash"][2:]) for line in full["log.ndjson"].splitlines()
    ]
    files = _export_files(api, keys.admin, since_index=anchored_size + 2)
    manifest = json.loads(files["manifest.json"])
    assert manifest["since_index"] == anchored_size
    assert manifest["requested_since_index"] == anchored_size + 2
    log = [json.loads(line) for line in files["log.ndjson"].splitlines()]
    assert [e["index"] for e in log] == list(range(anchored_size, len(leaves)))
    frontier = manifest["frontier"]
    assert frontier["size"] == anchored_size
    subtrees = [bytes.fromhex(h[2:]) for h in frontier["subtrees"]]
    assert len(subtrees) == bin(anchored_size).count("1")
    root = subtrees[-1]
    for left in reversed(subtrees[:-1]):
        root = hashlib.sha256(b"\x01" + left + root).digest()
    assert root == rfc6962_root(leaves[:anchored_size])
    # A full export needs no frontier.
    assert json.loads(full["manifest.json"])["frontier"] is None
