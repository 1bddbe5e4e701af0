"""Consumer scans: the reads of a scan's hot path, the buffered scan log, and device keys.

A scan reads three rows' worth on one pooled connection, with statements compiled once: the
item with its case, pallet, batch state, certificate and the sibling leaf; its earlier consumer
scans in the clone window; its chain of custody. The Merkle proof comes from the batch's tree
levels, kept in memory once read. It records the scan without a write of its own: the
:class:`ConsumerScanRecorder` keeps scans in a buffer and writes them in bulk every
``interval_s`` (100 ms) from a background thread, and once more when it stops; a scan that
joins a known diversion alert is counted on it in the same write.

Nothing recorded is dropped. A write that fails (the database away) puts its scans in a spill
file on disk (``service.consumer.storage.spill``: append-only, fsynced), and so does a buffer that
reaches ``max_buffer``; every later pass writes the spill file first, in order, then deletes
it. Each scan carries a unique ``scan_id`` (migration 0009), so the replay writes each exactly
once even after a crash between its commit and the file's removal, and what a previous process
left in the spill directory is replayed at the first pass. Rows the database refuses for good
(a constraint) are kept apart in ``rejected.jsonl``, not retried forever. A crash of the
process loses only the scans of the last pass still in memory (about 100 ms).

A scan seen outside the territory of its goods' authorised holder, with no alert known for
them, carries its serial (``diversion_serial``): the writer raises or joins that alert
(``service.channel.app.diversions``) in the transaction that inserts the scan, so the alert commits
with the scan, exactly once (a replay skips the scans already written), and the scan's request
never writes.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Protocol

from sqlalchemy import Engine, bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.channel.interface import DiversionUnitOfWork
from service.consumer.ports import ConsumerScan, DiversionAlerts, StoredSighting
from service.consumer.storage.rows import ConsumerScanRow
from service.consumer.storage.spill import ScanSpill, SpilledScan
from service.kernel.outages import OutageMonitor
from service.kernel.storage.db import READ_ONLY, is_outage
from service.kernel.storage.sql import bulk_insert, timestamp_writer

_scans = ConsumerScanRow.__table__


log = logging.getLogger(__name__)


#: How long written scans stay visible in the recorder's own index (see ``buffered``).
GRACE_S = 1.0


# ----------------------------------------------------------------------------- the scan log
_COLUMNS = (
    "item_id",
    "batch_id",
    "scanned_at",
    "region_code",
    "device_hash",
    "verdict",
    "organisation_id",
    "scan_id",
    "network_hash",
    "witness",
)


#: Spilled scans written per transaction when they are replayed.
REPLAY_CHUNK = 5_000


_scan_ids = select(_scans.c.scan_id).where(_scans.c.scan_id.in_(bindparam("ids", expanding=True)))


class ScanLogUnitOfWork(DiversionUnitOfWork, Protocol):
    """The scan log writer's transaction (bootstrap passes the unit-of-work factory): the scans
    are written through its session, the alerts they join counted at its alert desk, and their
    diversion alerts raised in it."""

    session: Session | None


class ScanLogUnitOfWorkFactory(Protocol):
    def __call__(self) -> ScanLogUnitOfWork: ...


class ConsumerScanRecorder:
    """The ``ConsumerScanLog`` port: a buffer written in bulk by a background thread, with a
    spill file for whatever the database cannot take (``service.consumer.storage.spill``).

    :meth:`buffered` answers this process's scans not yet written, and those written in the
    last ``GRACE_S`` (a scan read from the database just before its write committed is then
    still seen here): with the stored ones, the risk rules never miss a scan of this process.
    Another process's scans are seen once written, within about ``interval_s``.

    Each scan gets a unique id when recorded. A write that fails, and a buffer past
    ``max_buffer``, go to the spill file; while it holds scans, later ones go behind them and
    every pass replays it first, oldest first, skipping ids already written: in order and
    exactly once. What a previous process left there is replayed at the first pass.
    """

    def __init__(
        self,
        engine: Engine,
        spill_dir: Path,
        uows: ScanLogUnitOfWorkFactory,
        max_buffer: int = 50_000,
        interval_s: float = 0.1,
        outages: OutageMonitor | None = None,
        diversions: DiversionAlerts | None = None,
    ) -> None:
        self._engine = engine
        #: The writer's transactions, and what raises the diversion alerts of the scans that
        #: carry ``diversion_serial`` in them.
        self._uows = uows
        self.diversions = diversions
        self._reader = engine.execution_options(**{READ_ONLY: True})
        self.max_buffer = max_buffer
        self.interval_s = interval_s
        self.outages = outages
        self.spill = ScanSpill(spill_dir)
        self._lock = threading.Lock()
        self._buffer: list[SpilledScan] = []
        #: Unique scan ids: this recorder's random prefix and a counter.
        self._prefix = os.urandom(8)
        self._next = itertools.count()
        #: Consumer scans buffered, being written or written lately, per item, oldest first.
        self._pending: dict[int, deque[ConsumerScan]] = {}
        #: Written (or spilled) scans still in ``_pending``: when, and how many per item.
        self._retired: deque[tuple[float, dict[int, int]]] = deque()
        self._flushing = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: Scans written, and those replayed from the spill file, since the start.
        self.written = 0
        self.replayed = 0

    # ------------------------------------------------------------------ the port
    def record(self, scan: ConsumerScan) -> bool:
        spilled = None
        with self._lock:
            scan_id = self._prefix + next(self._next).to_bytes(8, "big")
            self._buffer.append(SpilledScan(scan_id, scan))
            if scan.organisation_id is None:
                self._pending.setdefault(scan.item_id, deque()).append(scan)
            if len(self._buffer) >= self.max_buffer:
                # The writer cannot keep up (the database away and a pass stuck on it): to
                # disk, not dropped.
                spilled, self._buffer = self._buffer, []
        if spilled is not None:
            try:
                self.spill.append(spilled)
            except OSError:
                # The disk refuses too: keep them in memory; the writer spills them next.
                with self._lock:
                    self._buffer[:0] = spilled
                log.exception("scan log buffer full and the spill file cannot be written")
                return True
            with self._lock:
                self._retire([s.scan for s in spilled])
            log.warning("scan log buffer full: %d scans spilled to disk", len(spilled))
        return True

    def buffered(self, item_id: int, since: datetime) -> list[StoredSighting]:
        with self._lock:
            return [
                (s.region_code, s.device_hash, s.at, s.network_hash, s.witness)
                for s in reversed(self._pending.get(item_id, ()))
                if s.at >= since
            ]

    def flush(self) -> int:
        """Write what is buffered (behind what waits in the spill file); the scans written.

        Raises what the database raised; the scans are then in the spill file."""
        with self._flushing:
            with self._lock:
                self._purge(time.monotonic() - GRACE_S)
                batch, self._buffer = self._buffer, []
            if self.spill.pending:
                self._to_spill(batch)
                return self._replay()
            if not batch:
                return 0
            try:
                self._write(batch, replay=False)
            except Exception:
                self._to_spill(batch)
                raise
            with self._lock:
                self._retire([s.scan for s in batch])
                self.written += len(batch)
            return len(batch)

    def _to_spill(self, batch: list[SpilledScan]) -> None:
        if not batch:
            return
        self.spill.append(batch)
        with self._lock:
            self._retire([s.scan for s in batch])

    def _replay(self) -> int:
        """Write every scan of the spill segments this process may replay, in order."""
        done = 0
        segments = self.spill.claim()
        try:
            for segment in segments:
                for chunk in segment.chunks(REPLAY_CHUNK):
                    done += self._replay_chunk(chunk)
                    self.spill.replayed(len(chunk))
                segment.remove()
                log.info("scan log: replayed %s from the spill file", segment.path.name)
        finally:
            for segment in segments:
                segment.close()
        self.spill.settle()
        with self._lock:
            self.written += done
            self.replayed += done
        return done

    def _replay_chunk(self, chunk: list[SpilledScan]) -> int:
        try:
            return self._write(chunk, replay=True)
        except Exception as exc:
            if self._is_outage(exc) or not _refused(exc, self._engine):
                raise
        # A row the database refuses for good (its item gone): the others one by one, the
        # refused ones kept apart on disk, so that the replay never sticks on them.
        written = 0
        for record in chunk:
            try:
                written += self._write([record], replay=True)
            except Exception as exc:
                if self._is_outage(exc) or not _refused(exc, self._engine):
                    raise
                self.spill.reject([record])
                log.error("scan log: a spilled scan was refused for good and kept apart: %s", exc)
        return written

    def _is_outage(self, exc: BaseException) -> bool:
        return self.outages is not None and self.outages.is_outage(exc)

    @contextmanager
    def _transaction(self) -> Iterator[tuple[Session, ScanLogUnitOfWork]]:
        with self._uows() as uow:
            assert uow.session is not None
            yield uow.session, uow

    def _write(self, batch: list[SpilledScan], *, replay: bool) -> int:
        """Insert the scans (a replay skips ids already written), count joined alerts and
        raise the diversion alerts they carry, in one transaction; the number inserted."""
        with self._transaction() as (session, uow):
            if replay:
                ids = [s.scan_id for s in batch]
                known = {bytes(i) for i in session.scalars(_scan_ids, {"ids": ids})}
                batch = [s for s in batch if s.scan_id not in known]
            # The driver's own bulk path (COPY on PostgreSQL): SQLAlchemy's executemany spends
            # more time per row than the database, on a thread that shares the GIL with scans.
            stamp = timestamp_writer(session)
            bulk_insert(
                session,
                "consumer_scans",
                _COLUMNS,
                [
                    (
                        s.item_id,
                        s.batch_id,
                        stamp(s.at),
                        s.region_code,
                        s.device_hash,
                        s.verdict,
                        s.organisation_id,
                        r.scan_id,
                        s.network_hash,
                        s.witness,
                    )
                    for r in batch
                    for s in (r.scan,)
                ],
            )
            joins = [r.scan for r in batch if r.scan.alert_id is not None]
            if joins:
                uow.alerts.repeat_many(
                    [s.alert_id for s in joins if s.alert_id is not None],
                    max(s.at for s in joins),
                )
            diverted = [r.scan for r in batch if r.scan.diversion_serial is not None]
            if diverted and self.diversions is not None:
                self._divert(session, uow, diverted)
            session.commit()  # the driver's own errors: a refused row must stay recognisable
        return len(batch)

    def _divert(self, session: Session, uow: ScanLogUnitOfWork, scans: list[ConsumerScan]) -> None:
        """The scans' diversion alerts, in a savepoint: a failure other than an outage is
        logged and leaves the scans to be written without them, rather than held forever."""
        assert self.diversions is not None
        try:
            with session.begin_nested():
                self.diversions(uow, scans)
        except Exception as exc:
            if self._is_outage(exc) or is_outage(exc):
                raise
            log.exception("scan log: the diversion alerts of %d scans failed", len(scans))

    def _retire(self, scans: list[ConsumerScan]) -> None:
        """Mark written (or spilled) scans to leave the pending index after the grace time."""
        counts: dict[int, int] = {}
        for scan in scans:
            if scan.organisation_id is None:
                counts[scan.item_id] = counts.get(scan.item_id, 0) + 1
        if counts:
            self._retired.append((time.monotonic(), counts))

    def _purge(self, before: float) -> None:
        """Drop scans retired before ``before``; they are the oldest of their items."""
        while self._retired and self._retired[0][0] <= before:
            _, counts = self._retired.popleft()
            for item_id, n in counts.items():
                queue = self._pending.get(item_id)
                if queue is None:
                    continue
                for _ in range(min(n, len(queue))):
                    queue.popleft()
                if not queue:
                    del self._pending[item_id]

    # ------------------------------------------------------------------ the writer thread
    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="tracecert-scan-log", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._pass("scan log writer")

    def _pass(self, where: str) -> None:
        try:
            written = self.flush()
        except Exception as exc:  # kept in the spill file; an outage is logged once
            if self.outages is None or not self.outages.failed(exc, where):
                log.exception("writing the scan log failed; the scans wait in the spill file")
            return
        if written and self.outages is not None:
            self.outages.succeeded()

    def stop(self) -> None:
        """Stop the writer and write what is left (at shutdown; to disk if it cannot)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        self._pass("scan log at shutdown")

    @property
    def pending(self) -> int:
        """Scans in memory, not written yet."""
        with self._lock:
            return len(self._buffer)

    def status(self) -> dict[str, int]:
        """For /health: scans in memory, waiting in the spill file, written, replayed."""
        return {
            "buffered": self.pending,
            "spilled": self.spill.spilled,
            "rejected": self.spill.rejected,
            "written": self.written,
            "replayed": self.replayed,
        }


def _refused(exc: BaseException, engine: Engine) -> bool:
    """Whether the database refused the rows themselves (a constraint), for good."""
    return isinstance(exc, IntegrityError | engine.dialect.loaded_dbapi.IntegrityError)
