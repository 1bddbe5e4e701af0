"""Races: concurrent requests against one batch have exactly one winner, on both dialects."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import text

from tests.integration.service.conftest import auth, batch_body, make_batch


def test_sixteen_concurrent_anchor_requests_queue_exactly_one_transaction(api, container, keys):
    batch = make_batch(api, keys.factory, "L", 2)
    barrier = threading.Barrier(16)

    def anchor(_: int):
        barrier.wait()
        return api.post(f"/batches/{batch['id']}/anchor", headers=auth(keys.factory))

    with ThreadPoolExecutor(16) as pool:
        responses = list(pool.map(anchor, range(16)))

    assert [r.status_code for r in responses] == [202] * 16, [r.text for r in responses]
    bodies = [r.json() for r in responses]
    assert {b["id"] for b in bodies} == {batch["id"]}
    assert {b["status"] for b in bodies} == {"anchoring"}
    assert {b["anchor"]["status"] for b in bodies} == {"queued"}
    with container.uow_factory.sessions() as s:
        assert s.execute(text("SELECT count(*) FROM outbox")).scalar_one() == 1
        assert (
            s.execute(
                text("SELECT count(*) FROM events WHERE type = 'BatchAnchoringRequested'")
            ).scalar_one()
            == 1
        )

    container.sender_step()
    container.sender_step()
    with container.uow_factory.sessions() as s:
        assert s.execute(text("SELECT count(*) FROM tx_attempts")).scalar_one() == 1


def test_concurrent_batches_get_dense_log_indexes(api, container, keys):
    barrier = threading.Barrier(16)

    def create(n: int):
        barrier.wait()
        return api.post("/batches", json=batch_body(f"C{n}", 1), headers=auth(keys.factory))

    before = api.get("/log", headers=auth(keys.admin)).json()["size"]
    with ThreadPoolExecutor(16) as pool:
        assert {r.status_code for r in pool.map(create, range(16))} == {201}
    events = api.get(
        "/log/events", params={"offset": before, "limit": 100}, headers=auth(keys.admin)
    ).json()
    assert [e["index"] for e in events] == list(range(before, before + 16))
    assert {e["type"] for e in events} == {"BatchCreated"}


def test_concurrent_identical_idempotent_requests_create_one_batch(api, container, keys):
    barrier = threading.Barrier(8)
    headers = {**auth(keys.factory), "Idempotency-Key": "same-key"}

    def create(_: int):
        barrier.wait()
        return api.post("/batches", json=batch_body("ID1", 1), headers=headers)

    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(create, range(8)))
    assert {r.status_code for r in responses} == {201}, [r.text for r in responses]
    assert len({r.json()["id"] for r in responses}) == 1
    with container.uow_factory.sessions() as s:
        assert s.execute(text("SELECT count(*) FROM batches")).scalar_one() == 1
