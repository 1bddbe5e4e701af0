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
from chain.config import ChainSettings
from service.adapters.repositories import row_counts
from service.api.app import create_app
from service.app import commands, handlers
from service.bootstrap import Container, bootstrap
from service.config import Settings


@pytest.fixture
def settings(database_url: str, tmp_path: Path, artifacts: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        workers_enabled=False,
        api_key_pepper="integration-test-pepper-0123",  # type: ignore[arg-type]
        chain=ChainSettings(backend="pyevm", confirmations=1, artifacts_dir=artifacts),
    )


@pytest.fixture
def chain(pyevm_backend: PyEvmBackend) -> Iterator[PyEvmBackend]:
    """The session's py-evm chain, reverted after each test."""
    snapshot = pyevm_backend.snapshot()
    yield pyevm_backend
    pyevm_backend.revert(snapshot)


@pytest.fixture
def container(settings: Settings, chain: PyEvmBackend) -> Iterator[Container]:
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
    factory: str
    other_factory: str
    distributor: str
    auditor: str
    factory_org: int
    other_factory_org: int


@pytest.fixture
def keys(container: Container) -> Keys:
    pepper = container.settings.pepper
    uows, clock = container.uow_factory, container.clock
    _, admin = handlers.create_admin("Platform", uows, clock, pepper)
    actor = handlers.SYSTEM_ACTOR

    def org(name: str, kind: str) -> int:
        o = handlers.create_organisation(commands.CreateOrganisation(actor, name, kind), uows(), clock)
        assert o.id is not None
        return o.id

    def key(org_id: int, role: str) -> str:
        cmd = commands.CreateApiKey(actor, org_id, role)
        return handlers.create_api_key(cmd, uows(), clock, pepper).secret_key

    f1, f2 = org("Factory One", "factory"), org("Factory Two", "factory")
    d1, b1 = org("Distributor One", "distributor"), org("Brand", "brand")
    return Keys(
        admin=admin.secret_key,
        factory=key(f1, "factory"),
        other_factory=key(f2, "factory"),
        distributor=key(d1, "distributor"),
        auditor=key(b1, "auditor"),
        factory_org=f1,
        other_factory_org=f2,
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
