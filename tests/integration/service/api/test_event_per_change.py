"""Every state change writes exactly one event, in the same transaction; replays write none."""

from __future__ import annotations

from tests.integration.service.conftest import auth, batch_body, run_sender_until


def test_each_state_change_appends_exactly_one_event(api, container, keys):
    def size() -> int:
        return api.get("/log", headers=auth(keys.admin)).json()["size"]

    def expect_one_more(before: int, event_type: str) -> int:
        after = size()
        assert after == before + 1
        last = api.get("/log/events", params={"offset": before}, headers=auth(keys.admin)).json()
        assert [e["type"] for e in last] == [event_type]
        return after

    n = size()
    org = api.post(
        "/organisations",
        json={"name": "Store 9", "kind": "store", "brand_id": keys.brand_org},
        headers=auth(keys.admin),
    ).json()
    n = expect_one_more(n, "OrganisationCreated")
    key = api.post(
        f"/organisations/{org['id']}/api-keys", json={"role": "store"}, headers=auth(keys.admin)
    ).json()
    n = expect_one_more(n, "ApiKeyCreated")
    api.post(f"/api-keys/{key['key_id']}/revoke", headers=auth(keys.admin))
    n = expect_one_more(n, "ApiKeyRevoked")
    api.post(f"/api-keys/{key['key_id']}/revoke", headers=auth(keys.admin))
    assert size() == n  # revoking again changes nothing

    headers = {**auth(keys.factory), "Idempotency-Key": "ev-1"}
    batch = api.post("/batches", json=batch_body("L", 12), headers=headers).json()
    n = expect_one_more(n, "BatchCreated")
    api.post("/batches", json=batch_body("L", 12), headers=headers)
    assert size() == n  # replay

    # 12 items in cases of 6 on pallets of 2: one generation event, two case and one pallet
    # aggregation events, in one transaction.
    api.post(f"/batches/{batch['id']}/codes", headers=auth(keys.factory))
    assert size() == n + 4
    events = api.get("/log/events", params={"offset": n}, headers=auth(keys.admin)).json()
    assert [e["type"] for e in events] == ["CodesGenerated"] + ["ItemsAggregated"] * 3
    n += 4
    api.post(f"/batches/{batch['id']}/codes", headers=auth(keys.factory))
    assert size() == n  # generating again is refused and changes nothing

    api.post(f"/batches/{batch['id']}/activate", headers=auth(keys.factory))
    assert size() == n + 2
    events = api.get("/log/events", params={"offset": n}, headers=auth(keys.admin)).json()
    assert [e["type"] for e in events] == ["CodesActivated", "PinSeedDestroyed"]
    n += 2
    api.post(f"/batches/{batch['id']}/activate", headers=auth(keys.factory))
    assert size() == n  # activating again changes nothing

    api.post(f"/batches/{batch['id']}/anchor", headers=auth(keys.factory))
    n = expect_one_more(n, "BatchAnchoringRequested")
    api.post(f"/batches/{batch['id']}/anchor", headers=auth(keys.factory))
    assert size() == n  # asking again

    run_sender_until(
        container,
        lambda: (
            api.get(f"/batches/{batch['id']}", headers=auth(keys.factory)).json()["status"]
            == "anchored"
        ),
    )
    n = expect_one_more(n, "BatchAnchored")
    payloads = api.get("/log/events", params={"limit": 500}, headers=auth(keys.admin)).json()
    for event in payloads:
        assert "Store 9" not in event["payload"]  # names are not logged
