"""Units of work and the reference cache: a change is seen once it commits, even when another
request read (and cached) the old row while the change was still open."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from service.identity.domain.organisations import Organisation
from service.kernel.roles import OrganisationKind
from service.kernel.storage.db import make_engine
from service.kernel.storage.reference_cache import ReferenceCache
from service.ledger.storage.commitments import leaf_hash
from service.unit_of_work import SqlAlchemyUnitOfWorkFactory


@pytest.fixture
def uows(database_url):
    engine = make_engine(database_url)
    yield SqlAlchemyUnitOfWorkFactory(engine, leaf_hash, ReferenceCache(ttl_s=60))
    engine.dispose()


def test_a_territory_read_while_it_changes_is_not_served_after_the_commit(uows):
    with uows() as uow:
        org = uow.organisations.add(
            Organisation(
                id=None,
                name="Distributor A",
                kind=OrganisationKind.DISTRIBUTOR,
                created_at=datetime(2026, 1, 1, tzinfo=UTC),
                brand_id=None,
            )
        )
        uow.commit()
    assert org.id is not None
    with uows.reader() as reader:
        assert reader.channel.territories([org.id]) == {}  # cached: unrestricted
    with uows() as writer:
        writer.channel.set_territories(org.id, ["330000"])
        with uows.reader() as reader:  # reads the committed (old) row meanwhile
            assert reader.channel.territories([org.id]) == {}
        writer.commit()
    with uows.reader() as reader:
        assert reader.channel.territories([org.id]) == {org.id: ["330000"]}
