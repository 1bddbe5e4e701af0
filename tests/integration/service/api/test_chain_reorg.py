"""A confirmed anchor that the chain loses (py-evm reverted to an earlier block) is noticed by
the recheck and by the sender, shown by /health, sent again, and its new block is what
``GET /batches/{id}`` shows."""

from __future__ import annotations

from chain.recheck import RecheckVerdict
from tests.integration.service.conftest import auth, make_batch, run_sender_until


def test_lost_confirmed_anchor_is_found_reported_sent_again_and_its_block_refreshed(
    api, container, keys, chain
):
    batch = make_batch(api, keys.factory, "LOT-R", 2)
    chain_batch_id = bytes.fromhex(batch["chain_batch_id"][2:])
    before_anchor = chain.snapshot()
    assert api.post(f"/batches/{batch['id']}/anchor", headers=auth(keys.factory)).status_code == 202

    def view() -> dict:
        return api.get(f"/batches/{batch['id']}", headers=auth(keys.factory)).json()

    run_sender_until(container, lambda: view()["status"] == "anchored")
    first_block = view()["anchor"]["block_number"]
    for _ in range(3):
        chain.mine()
    assert [r.verdict for r in container.recheck_chain()] == [RecheckVerdict.OK]

    chain.revert(before_anchor)  # the node lost every block since: the anchor is gone
    for _ in range(2):
        chain.mine()
    registry = container.runtime.registry
    assert registry is not None and registry.batch(chain_batch_id) is None
    (lost,) = container.recheck_chain()
    assert lost.verdict is RecheckVerdict.MISSING

    health = api.get("/health")
    assert health.status_code == 503
    sender = health.json()["sender"]
    assert sender["confirmed_missing"] == 1 and sender["problems"]

    container.hand_back(lost)  # what `tracecert chain recheck --requeue` does
    run_sender_until(container, lambda: view()["anchor"]["status"] == "confirmed")
    again = view()
    assert again["status"] == "anchored"
    record = registry.batch(chain_batch_id)
    assert record is not None and record.root.hex() == batch["root"][2:]
    assert again["anchor"]["block_number"] != first_block
    receipt = container.runtime.client.receipt(bytes.fromhex(again["anchor"]["tx_hash"][2:]))
    assert receipt is not None and receipt.block_number == again["anchor"]["block_number"]
    events = api.get("/log/events", params={"limit": 500}, headers=auth(keys.admin)).json()
    reincluded = [e for e in events if e["type"] == "ChainWriteReincluded"]
    assert len(reincluded) == 1 and [e["type"] for e in events].count("BatchAnchored") == 1
    assert [r.verdict for r in container.recheck_chain()] == [RecheckVerdict.OK]
    assert api.get("/health").status_code == 200


def test_sender_notices_a_lost_confirmed_anchor_by_itself(api, container, keys, chain):
    batch = make_batch(api, keys.factory, "LOT-S", 2)
    before_anchor = chain.snapshot()
    api.post(f"/batches/{batch['id']}/anchor", headers=auth(keys.factory))

    def view() -> dict:
        return api.get(f"/batches/{batch['id']}", headers=auth(keys.factory)).json()

    run_sender_until(container, lambda: view()["status"] == "anchored")
    chain.revert(before_anchor)
    chain.mine()
    report = container.sender_step()
    assert report is not None and report.reorged == 1
    run_sender_until(container, lambda: view()["anchor"]["status"] == "confirmed")
    registry = container.runtime.registry
    assert registry is not None
    assert registry.batch(bytes.fromhex(batch["chain_batch_id"][2:])) is not None
