"""One sender per database (a lease), and the background workers anchor on their own."""

from __future__ import annotations

import time
from datetime import date

import pytest

from service.bootstrap import bootstrap
from service.factory.app.batches import anchor_batch, create_batch, get_batch
from service.factory.app.codes import activate_codes, generate_codes
from service.factory.app.commands import (
    ActivateCodes,
    AnchorBatch,
    CreateBatch,
    GenerateCodes,
    RegisterProduct,
)
from service.factory.app.products import register_product
from service.identity.app.commands import CreateApiKey, CreateOrganisation
from service.identity.app.organisations import (
    SYSTEM_ACTOR,
    authenticate,
    create_api_key,
    create_organisation,
)
from service.kernel.storage.db import make_engine
from service.ledger.storage.commitments import leaf_hash
from service.ledger.storage.lease import SqlAlchemyLease
from service.unit_of_work import SqlAlchemyUnitOfWorkFactory
from tests.integration.service.conftest import GTIN, seed_chain_rows


@pytest.fixture
def sessions(database_url):
    engine = make_engine(database_url)
    yield SqlAlchemyUnitOfWorkFactory(engine, leaf_hash).sessions
    engine.dispose()


def test_only_one_holder_gets_the_sender_lease_until_it_expires_or_is_released(sessions):
    now = [1000.0]
    first = SqlAlchemyLease(sessions, "sender", "a", ttl_s=10, clock=lambda: now[0])
    second = SqlAlchemyLease(sessions, "sender", "b", ttl_s=10, clock=lambda: now[0])
    assert first.acquire()
    assert first.acquire()  # renewal
    assert not second.acquire()
    now[0] += 11  # the first holder died and its lease ran out
    assert second.acquire()
    assert not first.acquire()
    second.release()
    assert first.acquire()


def test_workers_anchor_a_queued_batch_and_the_log_without_help(settings, chain, service_chain):

    seed_chain_rows(settings.database_url, service_chain)
    settings = settings.model_copy(
        update={
            "workers_enabled": True,
            "sender_poll_interval_s": 0.05,
            "log_anchor_interval_s": 0.2,
        }
    )
    container = bootstrap(settings, backend=chain)
    try:
        actor = SYSTEM_ACTOR
        uows, clock = container.uow_factory, container.clock
        brand = create_organisation(
            CreateOrganisation(actor, "B", "brand", None, "9506000"), uows(), clock
        )
        org = create_organisation(
            CreateOrganisation(actor, "F", "factory", brand.id), uows(), clock
        )
        factory_actor = authenticate(
            uows(),
            settings.pepper,
            create_api_key(
                CreateApiKey(actor, org.id, "factory"), uows(), clock, settings.pepper
            ).secret_key,
        )
        register_product(RegisterProduct(actor, GTIN, "P", {}, brand.id), uows(), clock)
        batch = create_batch(
            CreateBatch(factory_actor, GTIN, "L", date(2026, 11, 1), "L1", 2, 6, 1),
            uows,
            container.commitments,
            clock,
            100,
        )
        generate_codes(
            GenerateCodes(factory_actor, batch["id"]),
            uows,
            container.commitments,
            container.secrets,
            clock,
            settings.gs1_company_prefix,
        )
        activate_codes(ActivateCodes(factory_actor, batch_id=batch["id"]), uows, clock)
        anchor_batch(AnchorBatch(factory_actor, batch["id"]), uows, container.ledger, clock)
        container.start_workers()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            view = get_batch(factory_actor, batch["id"], uows(), container.ledger)
            if view["status"] == "anchored":
                break
            time.sleep(0.1)
        assert view["status"] == "anchored"
        while time.monotonic() < deadline:
            with uows() as uow:
                anchored = uow.log_anchors.latest_anchored()
            if anchored is not None:
                break
            time.sleep(0.1)
        assert anchored is not None
        assert container.ledger.log_root(anchored.size) == anchored.root
    finally:
        container.close()
