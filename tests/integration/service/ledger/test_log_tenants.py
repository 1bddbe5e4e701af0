"""The event log across tenants (issue 12, item 2): a brand and its auditors read their own
entries in full and another brand's only as leaf hashes, from which the anchored root still
recomputes. Two brands, each with a factory and a batch; SQLite and PostgreSQL, on py-evm."""

from __future__ import annotations

import hashlib
import json

from tests.integration.service.conftest import auth
from tests.integration.service.ledger.test_log_integrity import anchored


def rfc6962_root(leaves: list[bytes]) -> bytes:
    """RFC 6962's Merkle tree hash over leaf hashes, written out independently of the service."""
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    left, right = rfc6962_root(leaves[:k]), rfc6962_root(leaves[k:])
    return hashlib.sha256(b"\x01" + left + right).digest()


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
