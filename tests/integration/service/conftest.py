"""Integration fixtures: a real database (SQLite and PostgreSQL), py-evm, the API."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from chain.backends import PyEvmBackend
from chain.config import PYEVM_DEV_PRIVATE_KEY, ChainSettings
from service.api.app import create_app
from service.bootstrap import Container, bootstrap
from service.config import Settings
from service.factory.app.commands import RegisterProduct
from service.factory.app.products import register_product
from service.identity.app import tenancy
from service.identity.app.commands import CreateApiKey, CreateOrganisation
from service.identity.app.organisations import (
    SYSTEM_ACTOR,
    create_admin,
    create_api_key,
    create_organisation,
)
from service.kernel.storage.db import make_engine, migrate
from service.schema import row_counts


@pytest.fixture
def settings(database_url: str, tmp_path: Path, artifacts: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        workers_enabled=False,
        api_key_pepper="integration-test-pepper-0123",  # type: ignore[arg-type]
        # Every test client signs in from 127.0.0.1: one network. Tests of the limits set
        # their own.
        otp_max_per_network_per_hour=100_000,
        otp_budget_per_hour=100_000,
        otp_budget_per_day=100_000,
        chain=_chain_settings(artifacts),
    )


@dataclass
class DeployedChain:
    """A py-evm chain of its own with the registry deployed once, and a snapshot of that."""

    backend: PyEvmBackend
    snapshot: Any
    identity: dict[str, Any]
    deployment: dict[str, Any]


def _chain_settings(artifacts: Path) -> ChainSettings:
    return ChainSettings(backend="pyevm", confirmations=1, artifacts_dir=artifacts)


@pytest.fixture(scope="session")
def service_chain(
    artifacts: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DeployedChain]:
    """Deploying and granting roles costs seconds on py-evm: do it once per session."""
    backend = PyEvmBackend(sender_private_key=PYEVM_DEV_PRIVATE_KEY)
    backend.start()
    url = f"sqlite:///{tmp_path_factory.mktemp('deploy') / 'deploy.db'}"
    migrate(url)
    settings = Settings(database_url=url, workers_enabled=False, chain=_chain_settings(artifacts))
    c = bootstrap(settings, backend=backend)
    with c.uow_factory.sessions() as s:
        identity = s.execute(text("SELECT chain_id, genesis_hash, first_seen FROM chain_identity"))
        identity_row = dict(identity.mappings().one())
        deployment = s.execute(
            text(
                "SELECT chain_id, genesis_hash, contract, address, tx_hash, block_number, "
                "deployed_at FROM deployments"
            )
        )
        deployment_row = dict(deployment.mappings().one())
    c.close()
    yield DeployedChain(backend, backend.snapshot(), identity_row, deployment_row)
    backend.stop()


def seed_chain_rows(
    database_url: str, deployed: DeployedChain, genesis: bytes | None = None
) -> None:
    """Record the session chain's identity and deployment, as an earlier start would have."""
    engine = make_engine(database_url)
    identity = dict(deployed.identity)
    if genesis is not None:
        identity["genesis_hash"] = genesis
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO chain_identity (chain_id, genesis_hash, first_seen) "
                "VALUES (:chain_id, :genesis_hash, :first_seen)"
            ),
            identity,
        )
        if genesis is None:
            conn.execute(
                text(
                    "INSERT INTO deployments (chain_id, genesis_hash, contract, address, "
                    "tx_hash, block_number, deployed_at) VALUES (:chain_id, :genesis_hash, "
                    ":contract, :address, :tx_hash, :block_number, :deployed_at)"
                ),
                deployed.deployment,
            )
    engine.dispose()


@pytest.fixture
def chain(service_chain: DeployedChain) -> Iterator[PyEvmBackend]:
    """The deployed session chain, back at its deployment snapshot for every test."""
    service_chain.backend.revert(service_chain.snapshot)
    yield service_chain.backend
    service_chain.backend.revert(service_chain.snapshot)


@pytest.fixture
def container(
    settings: Settings, chain: PyEvmBackend, service_chain: DeployedChain
) -> Iterator[Container]:
    seed_chain_rows(settings.database_url, service_chain)
    c = bootstrap(settings, backend=chain)
    yield c
    c.close()


@pytest.fixture
def api(container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(container, manage_workers=False)) as client:
        yield client


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@dataclass
class Keys:
    admin: str
    brand: str
    factory: str
    other_factory: str
    foreign_factory: str
    distributor: str
    auditor: str
    attestor: str
    brand_org: int
    factory_org: int
    other_factory_org: int
    foreign_brand_org: int


#: GS1's example GTIN from the Digital Link standard; registered to the test brand.
GTIN = "09506000134352"
#: A second product of the test brand.
OTHER_GTIN = "04006381333931"
#: The GS1 company prefixes Brand One holds (``GTIN`` and ``OTHER_GTIN`` fall within them).
BRAND_ONE_PREFIXES = ["9506000", "4006381"]
#: Brand Two's prefix (GS1's example prefix of the U.P.C. range).
BRAND_TWO_PREFIXES = ["0614141"]


@pytest.fixture
def keys(container: Container) -> Keys:
    """Brand One with two factories, an auditor, a distributor; Brand Two with one factory;
    an independent lab (attestor) that Brand One authorised. Each brand holds its GS1 company
    prefixes; Brand One has registered the product ``GTIN``."""
    pepper = container.settings.pepper
    uows, clock = container.uow_factory, container.clock
    _, admin = create_admin("Platform", uows, clock, pepper)
    actor = SYSTEM_ACTOR

    def org(name: str, kind: str, brand: int | None = None) -> int:
        o = create_organisation(CreateOrganisation(actor, name, kind, brand), uows(), clock)
        assert o.id is not None
        return o.id

    def key(org_id: int, role: str) -> str:
        cmd = CreateApiKey(actor, org_id, role)
        return create_api_key(cmd, uows(), clock, pepper).secret_key

    b1, b2 = org("Brand One", "brand"), org("Brand Two", "brand")
    f1, f2 = org("Factory One", "factory", b1), org("Factory Two", "factory", b1)
    f3 = org("Factory Three", "factory", b2)
    d1, lab = org("Distributor One", "distributor", b1), org("Inspection Lab", "attestor")
    tenancy.set_company_prefixes(actor, b1, BRAND_ONE_PREFIXES, uows(), clock)
    tenancy.set_company_prefixes(actor, b2, BRAND_TWO_PREFIXES, uows(), clock)
    tenancy.set_partner(actor, lab, ["attestor"], uows(), clock, brand_id=b1)
    register_product(
        RegisterProduct(actor, GTIN, "Sauce-aroma 53% vol 500 ml", {"abv": 53}, b1),
        uows(),
        clock,
    )
    return Keys(
        admin=admin.secret_key,
        brand=key(b1, "brand"),
        factory=key(f1, "factory"),
        other_factory=key(f2, "factory"),
        foreign_factory=key(f3, "factory"),
        distributor=key(d1, "distributor"),
        auditor=key(b1, "auditor"),
        attestor=key(lab, "attestor"),
        brand_org=b1,
        factory_org=f1,
        other_factory_org=f2,
        foreign_brand_org=b2,
    )


def batch_body(lot: str = "LOT-1", quantity: int = 12, **extra: Any) -> dict[str, Any]:
    """A valid ``POST /batches`` body for the test product."""
    return {
        "gtin": GTIN,
        "lot": lot,
        "production_date": "2026-11-20",
        "line": "L1",
        "planned_quantity": quantity,
        "case_size": 6,
        "cases_per_pallet": 2,
        **extra,
    }


#: A product of Brand Two, within its GS1 company prefix (0614141).
BRAND_TWO_GTIN = "00614141000012"


@pytest.fixture
def two_brands(api, container, keys) -> dict[str, str]:
    """Brand One's factory made LOT-ONE; Brand Two (its own product) made LOT-TWO."""
    uows, clock, actor = container.uow_factory, container.clock, SYSTEM_ACTOR
    register_product(
        RegisterProduct(actor, BRAND_TWO_GTIN, "Brand Two 500 ml", {}, keys.foreign_brand_org),
        uows(),
        clock,
    )
    brand_two = create_api_key(
        CreateApiKey(actor, keys.foreign_brand_org, "brand"),
        uows(),
        clock,
        container.settings.pepper,
    ).secret_key
    one = api.post("/batches", json=batch_body("LOT-ONE", 6), headers=auth(keys.factory))
    two = api.post(
        "/batches",
        json={**batch_body("LOT-TWO", 6), "gtin": BRAND_TWO_GTIN},
        headers=auth(keys.foreign_factory),
    )
    assert one.status_code == 201 and two.status_code == 201, (one.text, two.text)
    return {"one": one.json()["id"], "two": two.json()["id"], "brand_two": brand_two}


def make_batch(
    api: TestClient,
    key: str,
    lot: str = "LOT-1",
    quantity: int = 12,
    *,
    generate: bool = True,
    activate: bool = True,
) -> dict[str, Any]:
    """Create a batch through the API, generate its codes and activate them all."""
    response = api.post("/batches", json=batch_body(lot, quantity), headers=auth(key))
    assert response.status_code == 201, response.text
    batch: dict[str, Any] = response.json()
    if generate:
        response = api.post(f"/batches/{batch['id']}/codes", headers=auth(key))
        assert response.status_code == 200, response.text
        batch = response.json()
    if generate and activate:
        response = api.post(f"/batches/{batch['id']}/activate", headers=auth(key))
        assert response.status_code == 200, response.text
        batch = api.get(f"/batches/{batch['id']}", headers=auth(key)).json()
    return batch


def serials_of(container: Container, batch_id: str) -> list[str]:
    """The serials of a batch in leaf order (read straight from the database)."""
    with container.uow_factory.sessions() as s:
        return list(
            s.scalars(
                text(
                    "SELECT i.serial FROM items i JOIN batches b ON b.id = i.batch_id "
                    "WHERE b.public_id = :p ORDER BY i.leaf_index"
                ),
                {"p": batch_id},
            )
        )


@pytest.fixture
def counts(container: Container) -> Callable[[], dict[str, Any]]:
    """Row counts of every table, to prove that a refused request wrote nothing."""

    def _counts() -> dict[str, Any]:
        with container.uow_factory.sessions() as s:
            result = row_counts(s)
            result["log_head"] = s.execute(text("SELECT size FROM log_head")).scalar_one()
            return result

    return _counts


def run_sender_until(container: Container, done: Callable[[], bool], steps: int = 20) -> None:
    """Step the sender (mining a block between steps) until ``done()``."""
    for _ in range(steps):
        container.sender_step()
        if done():
            return
        container.runtime.backend.mine()  # type: ignore[attr-defined]
    raise AssertionError("the sender did not finish in time")
