"""The region tree kept per process notices a tree another process loaded."""

from __future__ import annotations

import time

import pytest

from service.channel.domain.regions import Region
from service.channel.storage.region_directory import CachedRegionDirectory
from service.kernel.storage.db import make_engine
from service.ledger.storage.commitments import leaf_hash
from service.unit_of_work import SqlAlchemyUnitOfWorkFactory

NEW = Region("C33010601", "West Lake north bank", 4, "330106")


@pytest.fixture
def uows(database_url):
    engine = make_engine(database_url)
    yield SqlAlchemyUnitOfWorkFactory(engine, leaf_hash)
    engine.dispose()


def test_a_tree_loaded_elsewhere_is_seen_within_the_ttl(uows):
    server = CachedRegionDirectory(uows, ttl_s=0.2)
    assert NEW.code not in {r.code for r in server.tree().children("330106")}
    with uows() as uow:  # another process: `tracecert regions load`
        uow.channel.add_regions([NEW], "custom-test")
        uow.commit()
    kept = server.tree()
    assert NEW.code not in {r.code for r in kept.children("330106")}  # within the TTL
    time.sleep(0.25)
    assert NEW.code in {r.code for r in server.tree().children("330106")}
    assert server.tree().within(NEW.code, ["330000"])


def test_an_unchanged_tree_is_not_read_again(uows):
    server = CachedRegionDirectory(uows, ttl_s=0)
    assert server.tree() is server.tree()
