"""While the node is down, writes that can wait are queued; reads that need it answer 503."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import text

from chain.backends import RpcBackend, free_port
from service.api.app import create_app
from service.bootstrap import bootstrap
from service.factory.app.commands import RegisterProduct
from service.factory.app.products import register_product
from service.identity.app.commands import CreateApiKey, CreateOrganisation
from service.identity.app.organisations import SYSTEM_ACTOR, create_api_key, create_organisation
from tests.integration.service.conftest import GTIN, auth, make_batch, seed_chain_rows, serials_of


def test_anchor_is_queued_and_verification_is_unavailable_while_the_node_is_down(
    settings, service_chain
):
    seed_chain_rows(settings.database_url, service_chain)
    down = RpcBackend(f"http://127.0.0.1:{free_port()}", request_timeout_s=0.5)
    container = bootstrap(settings, backend=down)
    try:
        uows, clock, pepper = container.uow_factory, container.clock, settings.pepper
        brand = create_organisation(
            CreateOrganisation(SYSTEM_ACTOR, "B", "brand", None, "9506000"),
            uows(),
            clock,
        )
        org = create_organisation(
            CreateOrganisation(SYSTEM_ACTOR, "F", "factory", brand.id),
            uows(),
            clock,
        )
        register_product(RegisterProduct(SYSTEM_ACTOR, GTIN, "P", {}, brand.id), uows(), clock)
        key = create_api_key(
            CreateApiKey(SYSTEM_ACTOR, org.id, "factory"), uows(), clock, pepper
        ).secret_key
        with TestClient(create_app(container, manage_workers=False)) as api:
            batch = make_batch(api, key, "L", 6)
            anchored = api.post(f"/batches/{batch['id']}/anchor", headers=auth(key))
            assert anchored.status_code == 202
            assert anchored.json()["anchor"]["status"] == "queued"
            # A batch confirmed as anchored needs the chain to verify its items: none here
            # yet, so pretend the anchor confirmed to see the 503 a real outage gives.
            with container.uow_factory.sessions.begin() as s:
                s.execute(text("UPDATE batches SET status = 'anchored'"))
            verify = api.get(f"/items/{serials_of(container, batch['id'])[0]}/verify")
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
