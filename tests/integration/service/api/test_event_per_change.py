"""Every state change writes exactly one event, in the same transaction; replays write none."""

from __future__ import annotations

from tests.integration.service.conftest import auth, run_sender_until


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
        "/organisations", json={"name": "Store 9", "kind": "store"}, headers=auth(keys.admin)
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
    batch = api.post("/batches", json={"lot": "L", "items": ["EV1"]}, headers=headers).json()
    n = expect_one_more(n, "BatchCreated")
    api.post("/batches", json={"lot": "L", "items": ["EV1"]}, headers=headers)
    assert size() == n  # replay

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
