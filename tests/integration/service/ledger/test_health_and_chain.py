"""/health and /chain report the database, the chain identity and the sender."""

from __future__ import annotations

from sqlalchemy import text

from service.bootstrap import bootstrap
from service.identity.app.organisations import create_admin
from tests.integration.service.conftest import auth, make_batch, seed_chain_rows


def test_health_is_ok_on_the_recorded_chain(api, container):
    response = api.get("/health")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "ok" and body["database"]["ok"]
    assert body["chain"]["genesis_mismatch"] is False
    assert body["chain"]["chain_id"] == body["chain"]["recorded_chain_id"]
    assert body["sender"]["held"] is False and body["sender"]["queued"] == 0


def test_chain_endpoint_shows_identity_and_deployment(api, container):
    body = api.get("/chain").json()
    assert body["deployment"]["address"] == container.runtime.registry.address
    assert body["genesis_mismatch"] is False


def test_docs_and_openapi_are_served(api):
    assert api.get("/docs").status_code == 200
    spec = api.get("/openapi.json").json()
    assert "/batches/{batch_id}/anchor" in spec["paths"]


def test_genesis_mismatch_is_reported_and_nothing_is_sent(settings, chain, service_chain):
    from fastapi.testclient import TestClient

    from service.api.app import create_app

    # The database remembers another chain (say, an anvil that was restarted without state).
    seed_chain_rows(settings.database_url, service_chain, genesis=b"\xee" * 32)
    container = bootstrap(settings, backend=chain)
    try:
        nonce_before = container.runtime.client.nonce(container.runtime.account.address)
        _, admin = create_admin(
            "P", container.uow_factory, container.clock, container.settings.pepper
        )
        with TestClient(create_app(container, manage_workers=False)) as api:
            health = api.get("/health")
            assert health.status_code == 503
            body = health.json()
            assert body["chain"]["genesis_mismatch"] is True
            assert body["sender"]["held"] is True
            assert body["chain"]["recorded_genesis_hash"] == "0x" + "ee" * 32
            # No deployment onto the foreign chain, so chain writes cannot even be queued.
            assert api.get("/chain").json()["deployment"] is None
            assert api.get("/log", headers=auth(admin.secret_key)).status_code == 200
        container.anchor_log_step()
        for _ in range(3):
            report = container.sender_step()
            assert report is not None and report.held
        with container.uow_factory.sessions() as s:
            assert s.execute(text("SELECT count(*) FROM deployments")).scalar_one() == 0
            assert s.execute(text("SELECT count(*) FROM tx_attempts")).scalar_one() == 0
        assert container.runtime.client.nonce(container.runtime.account.address) == nonce_before
    finally:
        container.close()


def test_sender_holds_queued_writes_when_the_chain_changes_under_it(api, container, keys):
    batch = make_batch(api, keys.factory, "L", 6)
    assert api.post(f"/batches/{batch['id']}/anchor", headers=auth(keys.factory)).status_code == 202
    # Simulate the node being replaced: the recorded identity no longer matches.
    from chain.client import ChainIdentity

    container.runtime.recorded = ChainIdentity(1, b"\x01" * 32)
    assert container.sender_step().held
    health = api.get("/health")
    assert health.status_code == 503 and health.json()["chain"]["genesis_mismatch"]
    with container.uow_factory.sessions() as s:
        assert s.execute(text("SELECT count(*) FROM tx_attempts")).scalar_one() == 0
        assert s.execute(text("SELECT status FROM outbox")).scalar_one() == "queued"


def test_a_dev_clock_offset_moves_the_services_clock_and_health_shows_it(
    settings, chain, service_chain
):
    from datetime import UTC, datetime

    from fastapi.testclient import TestClient

    from service.api.app import create_app

    seed_chain_rows(settings.database_url, service_chain)
    moved = bootstrap(settings.model_copy(update={"dev_clock_offset_s": 2 * 86400}), backend=chain)
    try:
        ahead = moved.clock.now() - datetime.now(UTC)
        assert 2 * 86400 - 5 < ahead.total_seconds() < 2 * 86400 + 5
        with TestClient(create_app(moved, manage_workers=False)) as api:
            body = api.get("/health").json()
        assert body["dev_clock"]["offset_s"] == 2 * 86400
        assert body["dev_clock"]["now"][:10] == moved.clock.now().date().isoformat()
    finally:
        moved.close()


def test_health_says_nothing_of_a_dev_clock_without_an_offset(api):
    assert "dev_clock" not in api.get("/health").json()
