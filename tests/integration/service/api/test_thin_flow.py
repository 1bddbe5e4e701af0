"""The thin end-to-end flow: batch -> codes -> anchor -> confirmed on chain -> proof -> log."""

from __future__ import annotations

from chain import log as event_log
from chain.merkle import item_leaf, verify_proof
from service.ledger.storage.commitments import item_hash, token_id
from tests.integration.service.conftest import auth, make_batch, run_sender_until, serials_of


def test_batch_is_anchored_verified_through_the_api_and_the_contract_and_the_log_anchored(
    api, container, keys
):
    batch = make_batch(api, keys.factory, "LOT-2026-01", 25)
    assert batch["status"] == "activated" and batch["item_count"] == 25
    serial = serials_of(container, batch["id"])[7]

    anchored = api.post(f"/batches/{batch['id']}/anchor", headers=auth(keys.factory))
    assert anchored.status_code == 202
    assert anchored.json()["status"] == "anchoring"

    def batch_anchored() -> bool:
        body = api.get(f"/batches/{batch['id']}", headers=auth(keys.factory)).json()
        return body["status"] == "anchored"

    run_sender_until(container, batch_anchored)
    body = api.get(f"/batches/{batch['id']}", headers=auth(keys.factory)).json()
    assert body["anchor"]["status"] == "confirmed"
    assert body["anchor"]["tx_hash"].startswith("0x") and body["anchor"]["confirmations"] >= 1

    # The proof, checked locally and straight against the contract, from public values only:
    # the serial (on the label), the published batch attributes and the proof.
    proof = api.get(
        f"/batches/{batch['id']}/items/{serial}/proof", headers=auth(keys.factory)
    ).json()
    leaf = bytes.fromhex(proof["leaf"][2:])
    siblings = [bytes.fromhex(p[2:]) for p in proof["proof"]]
    root = bytes.fromhex(proof["root"][2:])
    chain_batch_id = bytes.fromhex(proof["chain_batch_id"][2:])
    attributes_hash = bytes.fromhex(body["metadata_hash"][2:])
    hashed = item_hash(attributes_hash, serial)
    token = token_id(chain_batch_id, hashed)
    assert int(proof["token_id"]) == token
    assert proof["item_hash"] == "0x" + hashed.hex()
    assert item_leaf(chain_batch_id, token, hashed) == leaf
    assert verify_proof(siblings, root, leaf)
    registry = container.runtime.registry
    assert registry is not None
    # The token id is the one the contract binds to this batch and item.
    assert registry.token_id_of(chain_batch_id, hashed) == token
    assert registry.verify_item(chain_batch_id, token, hashed, siblings)
    assert registry.batch(chain_batch_id).root == root
    assert registry.batch(chain_batch_id).metadata_hash == attributes_hash

    verified = api.get(f"/items/{serial}/verify").json()
    assert verified["verdict"] == "genuine" and verified["genuine"] is True
    assert verified["chain"] == {
        **verified["chain"],
        "anchored": True,
        "valid": True,
        "on_chain": True,
    }
    assert api.get("/items/NOT-A-CODE/verify").json()["verdict"] == "unknown"

    # The event log is anchored: the contract holds the same root the database recomputes.
    anchor = container.anchor_log_step()
    assert anchor is not None
    run_sender_until(
        container,
        lambda: api.get("/log", headers=auth(keys.admin)).json()["latest_anchored"] is not None,
    )
    log = api.get("/log", headers=auth(keys.admin)).json()
    assert log["latest_anchored"]["size"] == anchor.size
    assert log["latest_anchored"]["status"] == "anchored"
    assert registry.latest_log_size() == anchor.size
    assert registry.log_root(anchor.size) == anchor.root
    events = api.get("/log/events", params={"limit": 500}, headers=auth(keys.admin)).json()
    assert event_log.root([bytes.fromhex(e["leaf_hash"][2:]) for e in events[: anchor.size]]) == (
        anchor.root
    )
    assert "BatchAnchored" in [e["type"] for e in events]
    # A log-anchor confirmation writes no event, so the anchorer does not chase its tail.
    assert container.anchor_log_step() is None


def test_inclusion_and_consistency_proofs_verify(api, container, keys):
    for n in range(3):
        make_batch(api, keys.factory, f"L{n}", 2, generate=False)
    log = api.get("/log", headers=auth(keys.auditor)).json()
    size, root = log["size"], bytes.fromhex(log["root"][2:])
    inc = api.get("/log/proofs/inclusion", params={"index": 2}, headers=auth(keys.auditor)).json()
    assert event_log.verify_inclusion(
        bytes.fromhex(inc["leaf_hash"][2:]),
        2,
        size,
        [bytes.fromhex(p[2:]) for p in inc["proof"]],
        root,
    )
    cons = api.get(
        "/log/proofs/consistency", params={"old_size": 3}, headers=auth(keys.auditor)
    ).json()
    assert event_log.verify_consistency(
        3,
        size,
        bytes.fromhex(cons["old_root"][2:]),
        root,
        [bytes.fromhex(p[2:]) for p in cons["proof"]],
    )
