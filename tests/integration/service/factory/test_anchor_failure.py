"""A batch whose anchor transaction fails says so, and anchoring it again succeeds."""

from __future__ import annotations

from chain.deploy import send_transaction
from tests.integration.service.conftest import auth, make_batch, run_sender_until


def test_failed_anchor_is_reported_with_its_revert_and_can_be_retried(api, container, keys):
    runtime = container.runtime
    registry = runtime.registry
    assert registry is not None
    sender = runtime.account
    revoke = registry.encode_revoke_role("FACTORY_ROLE", sender.address)
    assert send_transaction(registry.client, sender, registry.address, revoke).status == 1

    batch = make_batch(api, keys.factory, "LOT-F", 2)
    assert api.post(f"/batches/{batch['id']}/anchor", headers=auth(keys.factory)).status_code == 202

    def status() -> dict:
        return api.get(f"/batches/{batch['id']}", headers=auth(keys.factory)).json()

    run_sender_until(container, lambda: status()["status"] == "anchor_failed")
    failed = status()
    assert failed["anchor"]["status"] == "failed"
    assert "AccessControlUnauthorizedAccount" in failed["anchor"]["error"]
    assert registry.batch(bytes.fromhex(batch["chain_batch_id"][2:])) is None
    events = api.get("/log/events", params={"limit": 500}, headers=auth(keys.admin)).json()
    assert [e["type"] for e in events].count("BatchAnchorFailed") == 1

    grant = registry.encode_grant_role("FACTORY_ROLE", sender.address)
    assert send_transaction(registry.client, sender, registry.address, grant).status == 1
    retried = api.post(f"/batches/{batch['id']}/anchor", headers=auth(keys.factory))
    assert retried.status_code == 202 and retried.json()["status"] == "anchoring"
    run_sender_until(container, lambda: status()["status"] == "anchored")
    record = registry.batch(bytes.fromhex(batch["chain_batch_id"][2:]))
    assert record is not None and record.root.hex() == batch["root"][2:]
    # Anchoring an anchored batch again is refused and changes nothing.
    again = api.post(f"/batches/{batch['id']}/anchor", headers=auth(keys.factory))
    assert again.status_code == 409 and again.json()["error"] == "batch_already_anchored"
    assert status()["status"] == "anchored"
