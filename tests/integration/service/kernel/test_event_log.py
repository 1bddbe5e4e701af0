"""The event log is append-only, dense, and written in the same transaction as the change."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError

from chain import log as event_log
from service.identity.domain.events import OrganisationCreated
from service.kernel.events import NO_PREVIOUS_LEAF, LogLink, log_link
from service.kernel.storage.db import make_engine, migrate
from service.ledger.storage.commitments import leaf_hash
from service.unit_of_work import SqlAlchemyUnitOfWorkFactory

AT = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def uows(database_url):
    engine = make_engine(database_url)
    yield SqlAlchemyUnitOfWorkFactory(engine, leaf_hash)
    engine.dispose()


def append(uows, n: int) -> None:
    with uows() as uow:
        uow.events.append(OrganisationCreated(n, "store"), AT)
        uow.commit()


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE events SET type = 'Forged' WHERE log_index = 0",
        "UPDATE events SET payload = payload",
        "DELETE FROM events WHERE log_index = 0",
        "DELETE FROM events",
    ],
)
def test_events_refuse_update_and_delete(uows, statement):
    append(uows, 1)
    with pytest.raises(DatabaseError, match="append-only"), uows.engine.begin() as conn:
        conn.execute(text(statement))
    with uows() as uow:
        assert uow.events.size() == 1
        assert uow.events.entries(0, 10)[0].type == "OrganisationCreated"


def test_truncate_is_refused_on_postgresql(uows):
    if uows.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has no TRUNCATE")
    append(uows, 1)
    with pytest.raises(DatabaseError, match="append-only"), uows.engine.begin() as conn:
        conn.execute(text("TRUNCATE events"))


def test_appended_entries_carry_the_rfc6962_leaf_hash_of_their_bytes(uows):
    append(uows, 7)
    with uows() as uow:
        (entry,) = uow.events.entries(0, 10)
    assert entry.leaf_hash == event_log.leaf_hash(entry.payload)
    assert entry.payload == OrganisationCreated(7, "store").canonical_bytes(
        AT, log_index=0, prev=NO_PREVIOUS_LEAF
    )


def test_each_entry_links_to_the_leaf_hash_before_it_across_appends_and_bulk_appends(uows):
    append(uows, 1)
    with uows() as uow:
        assert uow.events.append_many([OrganisationCreated(n, "store") for n in (2, 3, 4)], AT) == 1
        uow.commit()
    append(uows, 5)
    with uows() as uow:
        entries = uow.events.entries(0, 10)
        head = uow.session.execute(text("SELECT size, last_leaf FROM log_head")).one()
    links = [log_link(e.payload) for e in entries]
    assert [link.index for link in links] == [0, 1, 2, 3, 4]
    assert [link.prev for link in links] == [NO_PREVIOUS_LEAF] + [e.leaf_hash for e in entries[:-1]]
    assert (head[0], bytes(head[1])) == (5, entries[-1].leaf_hash)


def test_a_log_written_before_links_continues_linked_after_the_migration(empty_database_url):
    url = empty_database_url
    migrate(url, "0005")
    engine = make_engine(url)
    old = OrganisationCreated(1, "store").canonical_bytes(AT)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO events (log_index, type, occurred_at, payload, leaf_hash) "
                "VALUES (0, 'OrganisationCreated', :at, :p, :h)"
            ),
            {"at": AT, "p": old, "h": leaf_hash(old)},
        )
        conn.execute(text("UPDATE log_head SET size = 1"))
    engine.dispose()
    migrate(url)
    engine = make_engine(url)
    uows = SqlAlchemyUnitOfWorkFactory(engine, leaf_hash)
    append(uows, 2)
    with uows() as uow:
        first, second = uow.events.entries(0, 10)
    engine.dispose()
    assert log_link(first.payload) is None
    assert log_link(second.payload) == LogLink(1, leaf_hash(old))


def test_rolled_back_change_leaves_no_event_and_no_gap(uows):
    with uows() as uow:
        uow.events.append(OrganisationCreated(1, "store"), AT)
        # leaving without commit: rolled back
    append(uows, 2)
    with uows() as uow:
        entries = uow.events.entries(0, 10)
    assert [e.index for e in entries] == [0]
    assert b'"organisation_id":2' in entries[0].payload


def test_concurrent_appends_are_dense_and_in_commit_order(uows):
    barrier = threading.Barrier(16)

    def worker(n: int) -> None:
        barrier.wait()
        append(uows, n)

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(worker, range(16)))
    with uows() as uow:
        entries = uow.events.entries(0, 100)
        assert uow.events.size() == 16
    assert [e.index for e in entries] == list(range(16))
    assert len({e.payload for e in entries}) == 16
