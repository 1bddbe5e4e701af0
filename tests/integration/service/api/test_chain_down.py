"""While the node is down, writes that can wait are queued; reads that need it answer 503."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import text

from chain.backends import RpcBackend, free_port
from service.api.app import create_app
from service.app import commands, handlers
from service.bootstrap import bootstrap
from tests.integration.service.conftest import auth, seed_chain_rows


def test_anchor_is_queued_and_verification_is_unavailable_while_the_node_is_down(
    settings, service_chain
):
    seed_chain_rows(settings.database_url, service_chain)
    down = RpcBackend(f"http://127.0.0.1:{free_port()}", request_timeout_s=0.5)
    container = bootstrap(settings, backend=down)
    try:
        uows, clock, pepper = container.uow_factory, container.clock, settings.pepper
        org = handlers.create_organisation(
            commands.CreateOrganisation(handlers.SYSTEM_ACTOR, "F", "factory"), uows(), clock
        )
        key = handlers.create_api_key(
            commands.CreateApiKey(handlers.SYSTEM_ACTOR, org.id, "factory"), uows(), clock, pepper
        ).secret_key
        with TestClient(create_app(container, manage_workers=False)) as api:
            batch = api.post(
                "/batches", json={"lot": "L", "items": ["D1"]}, headers=auth(key)
            ).json()
            anchored = api.post(f"/batches/{batch['id']}/anchor", headers=auth(key))
            assert anchored.status_code == 202
            assert anchored.json()["anchor"]["status"] == "queued"
            verify = api.get("/items/D1/verify")
            assert verify.status_code == 503
            assert verify.json()["error"] == "chain_unavailable"
            health = api.get("/health")
            assert health.status_code == 503
            assert health.json()["chain"]["reachable"] is False
            assert health.json()["sender"]["queued"] == 1
        report = container.sender_step()
        assert report is None or report.unavailable
        with container.uow_factory.sessions() as s:
            assert s.execute(text("SELECT count(*) FROM tx_attempts")).scalar_one() == 0
    finally:
        container.close()
