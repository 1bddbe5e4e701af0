"""The scan log and the hot-path reads of a scan, on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from service.alerts.domain.alerts import Alert, AlertKind
from service.consumer.ports import ConsumerScan
from service.consumer.storage.device_keys import HmacDeviceKeys
from service.consumer.storage.scan_log import GRACE_S, ConsumerScanRecorder
from service.consumer.storage.scan_reads import SqlAlchemyScanReads
from tests.integration.service.conftest import make_batch, serials_of

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.fixture
def batch(api, keys):
    return make_batch(api, keys.factory, "LOT-S", 12)  # 2 cases of 6 on one pallet


def ids_of(container, batch_id: str) -> list[tuple[int, int]]:
    """(item id, batch id) of the batch's items, in leaf order."""
    with container.uow_factory.sessions() as s:
        return [
            (int(i), int(b))
            for i, b in s.execute(
                text(
                    "SELECT i.id, i.batch_id FROM items i JOIN batches b ON b.id = i.batch_id "
                    "WHERE b.public_id = :p ORDER BY i.leaf_index"
                ),
                {"p": batch_id},
            )
        ]


def spill(container) -> Path:
    """A spill directory of the recorder under test (not the container's own)."""
    return container.settings.data_dir / "spill-under-test"


def scan_of(item: tuple[int, int], at: datetime, region=None, device=b"d" * 16, org=None):
    return ConsumerScan(at, item[0], item[1], region, device, "genuine", org)


def stored(container) -> list[tuple]:
    with container.uow_factory.sessions() as s:
        return [
            tuple(r)
            for r in s.execute(
                text(
                    "SELECT item_id, scanned_at, region_code, device_hash, verdict, "
                    "organisation_id FROM consumer_scans ORDER BY id"
                )
            )
        ]


def devices(container) -> list[int]:
    """The first byte of each stored scan's device hash, in the order written."""
    return [bytes(r[3])[0] for r in stored(container)]


# ----------------------------------------------------------------------------- the log
def test_buffered_scans_are_seen_at_once_and_written_in_one_flush(container, batch):
    item = ids_of(container, batch["id"])[0]
    log = ConsumerScanRecorder(container.engine, spill(container), container.uow_factory)
    for n in range(3):
        assert log.record(scan_of(item, NOW + timedelta(seconds=n), "330106", bytes([n]) * 16))
    assert stored(container) == []
    assert [d for _, d, *_ in log.buffered(item[0], NOW)] == [
        b"\x02" * 16,
        b"\x01" * 16,
        b"\x00" * 16,
    ]
    assert log.flush() == 3 and log.flush() == 0
    rows = stored(container)
    assert [(r[0], r[2], bytes(r[3]), r[4]) for r in rows] == [
        (item[0], "330106", bytes([n]) * 16, "genuine") for n in range(3)
    ]
    # Written scans stay in the log's own index for a moment (no gap for a reader).
    assert len(log.buffered(item[0], NOW)) == 3


def test_written_scans_leave_the_index_after_the_grace_time(container, batch, monkeypatch):
    item = ids_of(container, batch["id"])[0]
    clock = [0.0]
    monkeypatch.setattr("service.consumer.storage.scan_log.time.monotonic", lambda: clock[0])
    log = ConsumerScanRecorder(container.engine, spill(container), container.uow_factory)
    log.record(scan_of(item, NOW, device=b"a" * 16))
    log.flush()
    clock[0] = 0.5
    log.record(scan_of(item, NOW, device=b"b" * 16))
    log.flush()
    assert [d for _, d, *_ in log.buffered(item[0], NOW)] == [b"b" * 16, b"a" * 16]
    clock[0] = GRACE_S + 0.1
    log.flush()  # nothing to write; the first write is past its grace time
    assert [d for _, d, *_ in log.buffered(item[0], NOW)] == [b"b" * 16]
    clock[0] = 10.0
    log.flush()
    assert log.buffered(item[0], NOW) == [] and len(stored(container)) == 2


def test_buffered_filters_by_time_and_leaves_out_partner_scans(container, batch):
    item = ids_of(container, batch["id"])[0]
    log = ConsumerScanRecorder(container.engine, spill(container), container.uow_factory)
    log.record(scan_of(item, NOW - timedelta(days=2), "110101"))
    log.record(scan_of(item, NOW, "330106"))
    log.record(scan_of(item, NOW, "320102", org=1))
    assert [s[:2] for s in log.buffered(item[0], NOW - timedelta(days=1))] == [
        ("330106", b"d" * 16)
    ]


def test_a_full_buffer_goes_to_disk_and_nothing_is_dropped(container, batch):
    item = ids_of(container, batch["id"])[0]
    log = ConsumerScanRecorder(
        container.engine, spill(container), container.uow_factory, max_buffer=2
    )
    assert all(log.record(scan_of(item, NOW, device=bytes([n]) * 16)) for n in range(5))
    assert log.pending == 1 and log.status()["spilled"] == 4
    assert log.flush() == 5 and log.status()["spilled"] == 0
    assert devices(container) == list(range(5))  # all of them, in order
    assert list(spill(container).glob("*.jsonl")) == []


def test_a_failed_write_spills_the_scans_and_the_next_pass_writes_them_first(
    container, batch, monkeypatch
):
    item = ids_of(container, batch["id"])[0]
    log = ConsumerScanRecorder(container.engine, spill(container), container.uow_factory)
    log.record(scan_of(item, NOW, device=b"\x00" * 16))

    def down(*_a, **_k):
        raise ConnectionError("database away")

    monkeypatch.setattr("service.consumer.storage.scan_log.bulk_insert", down)
    with pytest.raises(ConnectionError):
        log.flush()
    log.record(scan_of(item, NOW, device=b"\x01" * 16))
    with pytest.raises(ConnectionError):
        log.flush()  # the spill file first: still down, so the new scan goes behind it
    assert log.pending == 0 and log.status()["spilled"] == 2 and stored(container) == []
    monkeypatch.undo()
    log.record(scan_of(item, NOW, device=b"\x02" * 16))
    assert log.flush() == 3
    assert devices(container) == [0, 1, 2]
    assert log.status() == {
        "buffered": 0,
        "spilled": 0,
        "rejected": 0,
        "written": 3,
        "replayed": 3,
    }


def test_rows_the_database_refuses_are_kept_apart_not_retried_forever(container, batch):
    item = ids_of(container, batch["id"])[0]
    log = ConsumerScanRecorder(container.engine, spill(container), container.uow_factory)
    log.record(scan_of((999_999, 1), NOW))  # no such item
    log.record(scan_of(item, NOW))
    with pytest.raises(Exception):  # noqa: B017 - the driver's own IntegrityError
        log.flush()
    assert log.flush() == 1 and log.flush() == 0  # the good one written, the bad one apart
    assert [r[0] for r in stored(container)] == [item[0]]
    assert log.status()["rejected"] == 1 and log.status()["spilled"] == 0
    rejected = (spill(container) / "rejected.jsonl").read_text().splitlines()
    assert len(rejected) == 1 and '"item":999999' in rejected[0]


def test_a_scan_that_joins_an_alert_counts_on_it_when_written(container, batch):
    item = ids_of(container, batch["id"])[0]
    with container.uow_factory() as uow:
        alert, _ = uow.alerts.raise_or_repeat(
            Alert(AlertKind.DIVERSION, "diversion:test:-", None, item[1], None), NOW
        )
        uow.commit()
    log = ConsumerScanRecorder(container.engine, spill(container), container.uow_factory)
    later = NOW + timedelta(minutes=5)
    for n in range(2):
        log.record(replace(scan_of(item, later + timedelta(seconds=n)), alert_id=alert.id))
    log.record(scan_of(item, later))  # a scan that joins nothing
    assert log.flush() == 3
    with container.uow_factory.reader() as uow:
        joined = uow.alerts.get(alert.id)
    assert joined.count == 3 and joined.last_seen_at == later + timedelta(seconds=1)
    assert [r[0] for r in stored(container)] == [item[0]] * 3


def test_stopping_writes_what_is_buffered(container, batch):
    item = ids_of(container, batch["id"])[0]
    log = ConsumerScanRecorder(
        container.engine, spill(container), container.uow_factory, interval_s=60
    )
    log.start()
    log.record(scan_of(item, NOW))
    log.stop()
    assert len(stored(container)) == 1


def test_the_writer_thread_writes_within_its_interval(container, batch):
    item = ids_of(container, batch["id"])[0]
    log = ConsumerScanRecorder(
        container.engine, spill(container), container.uow_factory, interval_s=0.05
    )
    log.start()
    try:
        log.record(scan_of(item, NOW))
        deadline = datetime.now(UTC) + timedelta(seconds=5)
        while not stored(container) and datetime.now(UTC) < deadline:
            pass
        assert len(stored(container)) == 1
    finally:
        log.stop()


# ----------------------------------------------------------------------------- reads
def test_reads_give_the_item_its_case_custody_and_the_proof_the_repository_gives(container, batch):
    reads = SqlAlchemyScanReads(container.engine)
    serials = serials_of(container, batch["id"])
    with container.uow_factory.reader() as uow:
        stored_batch = uow.batches.get(batch["id"])
        assert stored_batch is not None and stored_batch.id is not None
        for serial in serials:
            facts = reads.read(serial, NOW)
            assert facts is not None
            item = uow.codes.find_item(serial)
            assert facts.item == replace(item, pin_hash=None)  # a scan never reads the PIN hash
            assert facts.proof == uow.codes.proof(
                stored_batch.id, item.leaf_index, stored_batch.item_count
            )
            assert facts.batch_status.value == "activated" and facts.batch_root is not None
            assert facts.certificate_state is None and facts.history == []
            # A sealed bottle travels with its case, which carries its custody.
            assert facts.carrier.kind == "case" and facts.carrier.code == item.case_sscc
            assert facts.target.custody == facts.carrier.custody
            assert facts.carrier.custody.holder_id == stored_batch.organisation_id
    assert reads.read("NOSUCHSERIAL00000000", NOW) is None


def test_a_tree_too_large_to_keep_is_read_node_by_node_with_the_same_proof(container, batch):
    small = SqlAlchemyScanReads(container.engine, tree_bytes=1)
    kept = SqlAlchemyScanReads(container.engine)
    for serial in serials_of(container, batch["id"]):
        assert small.read(serial, NOW).proof == kept.read(serial, NOW).proof
    assert small._trees == {} and len(kept._trees) == 1


def test_reads_return_stored_consumer_scans_in_the_window_newest_first(container, batch):
    item = ids_of(container, batch["id"])[0]
    serial = serials_of(container, batch["id"])[0]
    log = ConsumerScanRecorder(container.engine, spill(container), container.uow_factory)
    log.record(scan_of(item, NOW - timedelta(days=3), "110101", b"o" * 16))
    log.record(scan_of(item, NOW - timedelta(hours=1), "330106", b"a" * 16))
    log.record(scan_of(item, NOW, None, b"b" * 16))
    log.record(scan_of(item, NOW, "320102", b"p" * 16, org=1))  # a partner's
    log.flush()
    facts = SqlAlchemyScanReads(container.engine).read(serial, NOW - timedelta(days=1))
    assert [s[:2] for s in facts.sightings] == [(None, b"b" * 16), ("330106", b"a" * 16)]


def test_a_scans_network_and_witness_are_stored_and_read_back(container, batch):
    item = ids_of(container, batch["id"])[0]
    serial = serials_of(container, batch["id"])[0]
    log = ConsumerScanRecorder(container.engine, spill(container), container.uow_factory)
    member = replace(
        scan_of(item, NOW, "330106", b"m" * 16), network_hash=b"n" * 16, witness="member"
    )
    log.record(member)
    assert log.buffered(item[0], NOW) == [("330106", b"m" * 16, NOW, b"n" * 16, "member")]
    log.flush()
    facts = SqlAlchemyScanReads(container.engine).read(serial, NOW - timedelta(days=1))
    assert facts.sightings == [("330106", b"m" * 16, NOW, b"n" * 16, "member")]


def test_the_proof_of_an_item_without_a_stored_tree_is_refused(container, batch):
    """Reads never invent a proof: a tree cut short in the database is an error."""
    serial = serials_of(container, batch["id"])[0]
    with container.uow_factory.sessions() as s:
        s.execute(text("DELETE FROM batch_tree_levels WHERE level > 1"))
        s.commit()
    with pytest.raises(LookupError):
        SqlAlchemyScanReads(container.engine).read(serial, NOW)


# ----------------------------------------------------------------------------- devices
def test_device_ids_are_stable_opaque_and_their_hashes_keyed():
    keys, other = HmacDeviceKeys(b"k" * 32), HmacDeviceKeys(b"x" * 32)
    device = keys.device_id("203.0.113.9", "Mozilla/5.0 (iPhone)")
    assert device == keys.device_id("203.0.113.9", "Mozilla/5.0 (iPhone)")
    assert device != keys.device_id("203.0.113.10", "Mozilla/5.0 (iPhone)")
    assert "203" not in device and len(device) == 22
    assert len(keys.device_hash(device)) == 16
    assert keys.device_hash(device) != other.device_hash(device)
