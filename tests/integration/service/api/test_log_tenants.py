"""The event log across tenants (issue 12, item 2): a brand and its auditors read their own
entries in full and another brand's only as leaf hashes, from which the anchored root still
recomputes. Two brands, each with a factory and a batch; SQLite and PostgreSQL, on py-evm."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile

import pytest

from service.app import commands, factory, handlers
from tests.integration.service.api.test_log_integrity import anchored, new_event
from tests.integration.service.conftest import auth, batch_body

#: A product of Brand Two, within its GS1 company prefix (0614141).
BRAND_TWO_GTIN = "00614141000012"


def rfc6962_root(leaves: list[bytes]) -> bytes:
    """RFC 6962's Merkle tree hash over leaf hashes, written out independently of the service."""
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    left, right = rfc6962_root(leaves[:k]), rfc6962_root(leaves[k:])
    return hashlib.sha256(b"\x01" + left + right).digest()


@pytest.fixture
def two_brands(api, container, keys) -> dict[str, str]:
    """Brand One's factory made LOT-ONE; Brand Two (its own product) made LOT-TWO."""
    uows, clock, actor = container.uow_factory, container.clock, handlers.SYSTEM_ACTOR
    factory.register_product(
        commands.RegisterProduct(
            actor, BRAND_TWO_GTIN, "Brand Two 500 ml", {}, keys.foreign_brand_org
        ),
        uows(),
        clock,
    )
    brand_two = handlers.create_api_key(
        commands.CreateApiKey(actor, keys.foreign_brand_org, "brand"),
        uows(),
        clock,
        container.settings.pepper,
    ).secret_key
    one = api.post("/batches", json=batch_body("LOT-ONE", 6), headers=auth(keys.factory))
    two = api.post(
        "/batches",
        json={**batch_body("LOT-TWO", 6), "gtin": BRAND_TWO_GTIN},
        headers=auth(keys.foreign_factory),
    )
    assert one.status_code == 201 and two.status_code == 201, (one.text, two.text)
    return {"one": one.json()["id"], "two": two.json()["id"], "brand_two": brand_two}


def read_log(api, key: str) -> list[dict]:
    response = api.get("/log/events", params={"limit": 500}, headers=auth(key))
    assert response.status_code == 200, response.text
    return list(response.json())


def batch_entry(entries: list[dict], batch_id: str) -> dict:
    for e in entries:
        if not e.get("withheld") and json.loads(e["payload"]).get("batch_id") == batch_id:
            return e
    raise AssertionError(f"no entry of {batch_id} in full")


def test_another_brands_entries_are_leaf_hashes_only_and_the_root_still_recomputes(
    api, container, keys, two_brands
):
    everything = read_log(api, keys.admin)
    created_one = batch_entry(everything, two_brands["one"])
    created_two = batch_entry(everything, two_brands["two"])
    size = anchored(container, api, keys.admin)

    seen_by_two = read_log(api, two_brands["brand_two"])
    assert [e["index"] for e in seen_by_two] == [e["index"] for e in everything]
    # Brand One's batch is only an index and a leaf hash to Brand Two.
    withheld = seen_by_two[created_one["index"]]
    assert withheld == {
        "index": created_one["index"],
        "leaf_hash": created_one["leaf_hash"],
        "withheld": True,
    }
    # Nothing of Brand One shows anywhere in what Brand Two reads; its own batch does.
    shown = json.dumps([e for e in seen_by_two if not e.get("withheld")])
    assert two_brands["one"] not in shown and "LOT-ONE" not in shown
    assert seen_by_two[created_two["index"]] == {**created_two, "withheld": False}
    # The organisations and keys of Brand One (its factories, its auditor) are withheld too.
    brand_one_orgs = {keys.brand_org, keys.factory_org, keys.other_factory_org}
    for e in seen_by_two:
        if not e.get("withheld"):
            body = json.loads(e["payload"])
            assert body.get("organisation_id") not in brand_one_orgs, e
            assert body.get("brand_id") in (None, keys.foreign_brand_org), e

    # The root Brand Two recomputes from what it reads is the root on chain.
    leaves = [bytes.fromhex(e["leaf_hash"][2:]) for e in seen_by_two[:size]]
    anchored_root = api.get("/log", headers=auth(two_brands["brand_two"])).json()[
        "latest_anchored"
    ]["root"]
    assert "0x" + rfc6962_root(leaves).hex() == anchored_root


def test_a_brands_auditor_reads_its_own_entries_in_full_and_the_other_brands_withheld(
    api, keys, two_brands
):
    seen = read_log(api, keys.auditor)
    everything = read_log(api, keys.admin)
    assert batch_entry(seen, two_brands["one"]) == {
        **batch_entry(everything, two_brands["one"]),
        "withheld": False,
    }
    other = batch_entry(everything, two_brands["two"])
    assert seen[other["index"]]["withheld"] is True
    assert "payload" not in seen[other["index"]]
    # The admin reads everything in full.
    assert not any(e.get("withheld") for e in everything)


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
