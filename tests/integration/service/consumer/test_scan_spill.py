"""The scan log's spill file, on SQLite and PostgreSQL: scans the database could not take are
replayed in order and exactly once, after a lost commit answer, after a crash between the
replay's commit and the file's removal, and from what a previous process left behind."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest

from service.consumer.storage import scan_log as consumer_scans
from service.consumer.storage import spill as scan_spill
from service.consumer.storage.scan_log import ConsumerScanRecorder
from tests.integration.service.conftest import make_batch
from tests.integration.service.consumer.test_consumer_scans import (
    devices,
    ids_of,
    scan_of,
    spill,
    stored,
)

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.fixture
def item(api, keys, container):
    batch = make_batch(api, keys.factory, "LOT-P", 6)
    return ids_of(container, batch["id"])[0]


def recorder(container, **kw) -> ConsumerScanRecorder:
    return ConsumerScanRecorder(container.engine, spill(container), container.uow_factory, **kw)


def record(log: ConsumerScanRecorder, item, *ns: int) -> None:
    for n in ns:
        log.record(scan_of(item, NOW, device=bytes([n]) * 16))


def segments(container) -> list[str]:
    return sorted(p.name for p in spill(container).glob("*.jsonl") if p.name != "rejected.jsonl")


def go_down(monkeypatch) -> None:
    def down(*_a, **_k):
        raise ConnectionError("database away")

    monkeypatch.setattr(consumer_scans, "bulk_insert", down)


def test_a_write_whose_commit_answer_was_lost_is_replayed_without_a_duplicate(
    container, item, monkeypatch
):
    log = recorder(container)
    record(log, item, 0, 1)
    write = ConsumerScanRecorder._write

    def committed_then_lost(self, batch, *, replay):
        write(self, batch, replay=replay)
        raise ConnectionError("server closed the connection after COMMIT")

    monkeypatch.setattr(ConsumerScanRecorder, "_write", committed_then_lost)
    with pytest.raises(ConnectionError):
        log.flush()
    monkeypatch.undo()
    assert devices(container) == [0, 1] and log.status()["spilled"] == 2
    record(log, item, 2)
    assert log.flush() == 1  # the two already written are skipped by their scan id
    assert devices(container) == [0, 1, 2] and segments(container) == []


def test_a_crash_between_the_replays_commit_and_the_files_removal_duplicates_nothing(
    container, item, monkeypatch
):
    log = recorder(container)
    go_down(monkeypatch)
    record(log, item, 0, 1, 2)
    with pytest.raises(ConnectionError):
        log.flush()
    monkeypatch.undo()

    def crash(_segment):
        raise KeyboardInterrupt("the process dies here")

    monkeypatch.setattr(scan_spill.Segment, "remove", crash)
    with pytest.raises(KeyboardInterrupt):
        log.flush()
    assert devices(container) == [0, 1, 2] and len(segments(container)) == 1
    monkeypatch.undo()
    log.spill.close()  # the process is gone, and its file's lock with it
    # The next process finds the file and replays it: every scan is there once.
    again = recorder(container)
    assert again.status()["spilled"] == 3
    assert again.flush() == 0 and again.status()["spilled"] == 0
    assert devices(container) == [0, 1, 2] and segments(container) == []


def test_scans_a_previous_process_left_on_disk_are_replayed_at_start_in_order(
    container, item, monkeypatch
):
    first = recorder(container)
    go_down(monkeypatch)
    record(first, item, 0, 1)
    with pytest.raises(ConnectionError):
        first.flush()
    record(first, item, 2)
    first.stop()  # at shutdown the database is still away: to disk, not lost
    monkeypatch.undo()
    first.spill.close()  # the process is gone, and its file's lock with it
    # A line torn by a crash in the middle of an append is skipped.
    (path,) = spill(container).glob("*.jsonl")
    with path.open("ab") as file:
        file.write(b'{"id":"00')
    later = recorder(container)
    assert later.status()["spilled"] == 3 and stored(container) == []
    record(later, item, 3)
    assert later.flush() == 4
    assert devices(container) == [0, 1, 2, 3] and segments(container) == []


def test_a_live_processs_spill_file_is_left_to_it(container, item, monkeypatch):
    a, b = recorder(container), recorder(container)
    go_down(monkeypatch)
    record(a, item, 0)
    with pytest.raises(ConnectionError):
        a.flush()
    monkeypatch.undo()
    record(b, item, 1)
    assert b.flush() == 1 and devices(container) == [1]  # a's file stays a's (flock)
    assert len(segments(container)) == 1
    assert a.flush() == 1 and devices(container) == [1, 0] and segments(container) == []


def test_the_spill_file_is_fsynced_on_every_append(container, item, monkeypatch):
    synced = []
    fsync = os.fsync
    monkeypatch.setattr(scan_spill.os, "fsync", lambda fd: (synced.append(fd), fsync(fd)))
    log = recorder(container)
    go_down(monkeypatch)
    record(log, item, 0, 1)
    with pytest.raises(ConnectionError):
        log.flush()
    assert synced  # the file (and its directory) before the pass returns
    (path,) = spill(container).glob("*.jsonl")
    assert len(path.read_bytes().splitlines()) == 2


def test_a_long_outage_appends_to_one_file_not_one_per_pass(container, item, monkeypatch):
    log = recorder(container)
    go_down(monkeypatch)
    for n in range(5):
        record(log, item, n)
        with pytest.raises(ConnectionError):
            log.flush()
    assert len(segments(container)) == 1 and log.status()["spilled"] == 5
    monkeypatch.undo()
    assert log.flush() == 5 and devices(container) == [0, 1, 2, 3, 4]
    assert segments(container) == []
