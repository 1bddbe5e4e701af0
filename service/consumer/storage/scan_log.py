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

import base64
import hashlib
import hmac
import itertools
import logging
import os
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import Dialect, Engine, Select, and_, bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from chain.merkle import proof_positions
from service.channel.interface import Custody, DiversionUnitOfWork, Target
from service.channel.storage.custody import CUSTODY_HISTORY, custody_history, custody_history_of
from service.consumer.domain.certificates import CertificateState
from service.consumer.ports import ConsumerScan, DiversionAlerts, ScanFacts, StoredSighting
from service.consumer.storage.rows import CertificateRow, ConsumerScanRow
from service.consumer.storage.spill import ScanSpill, SpilledScan
from service.factory.interface import BatchStatus, ItemRecord
from service.factory.storage.codes import SqlAlchemyCodeRepository, stored_proof
from service.factory.storage.rows import BatchRow, BatchTreeLevelRow, ItemRow, LogisticUnitRow
from service.kernel.outages import OutageMonitor
from service.kernel.storage.db import READ_ONLY, is_outage
from service.kernel.storage.sql import bulk_insert, timestamp_writer

log = logging.getLogger(__name__)

#: Sightings read per item for the risk rules: enough for any threshold worth setting.
MAX_SIGHTINGS = 500
#: How long written scans stay visible in the recorder's own index (see ``buffered``).
GRACE_S = 1.0
#: A device id as the ``tc_device`` cookie carries it (ours are 22 characters).
DEVICE_ID_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


# ----------------------------------------------------------------------------- device keys
class HmacDeviceKeys:
    """Device ids and their stored hashes, under a key derived from the code secret (HKDF)."""

    def __init__(self, secret: bytes) -> None:
        self._key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"tracecert:device:v1"
        ).derive(secret)

    def device_id(self, client: str, user_agent: str) -> str:
        digest = hmac.new(
            self._key, b"id\0" + client.encode() + b"\0" + user_agent.encode(), hashlib.sha256
        ).digest()
        return base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()

    def device_hash(self, device_id: str) -> bytes:
        return hmac.new(self._key, b"hash\0" + device_id.encode(), hashlib.sha256).digest()[:16]

    def network_hash(self, network: str) -> bytes:
        """The keyed hash of a counting network (``203.0.113.0/24``): never stored in clear."""
        return hmac.new(self._key, b"net\0" + network.encode(), hashlib.sha256).digest()[:16]

    def member_hash(self, account_id: int) -> bytes:
        """The keyed hash of a signed-in member: the source its scans count as."""
        return hmac.new(self._key, b"member\0%d" % account_id, hashlib.sha256).digest()[:16]


def is_device_id(value: str | None) -> bool:
    """Whether a cookie value has the shape of a device id (anything else is ignored)."""
    return value is not None and 16 <= len(value) <= 64 and set(value) <= DEVICE_ID_CHARS


# ----------------------------------------------------------------------------- reads
_items = ItemRow.__table__
_case = LogisticUnitRow.__table__.alias("case_unit")
_pallet = LogisticUnitRow.__table__.alias("pallet_unit")
_sibling = ItemRow.__table__.alias("sibling")
_batches = BatchRow.__table__
_certificates = CertificateRow.__table__
_levels = BatchTreeLevelRow.__table__


# Plain Core on the tables, built once: an ORM-enabled statement costs several times as much
# in SQLAlchemy as in the database for a one-row read.
_FACTS = (
    select(
        _items.c.id,
        _items.c.serial,
        _items.c.batch_id,
        _items.c.leaf_index,
        _items.c.item_hash,
        _items.c.leaf,
        _items.c.case_id,
        _items.c.holder_id,
        _items.c.authorised_id,
        _items.c.holder_site_id,
        _items.c.holder_since,
        _items.c.shipment_id,
        _items.c.alert_id,
        _case.c.sscc,
        _case.c.activated_at,
        _case.c.opened_at,
        _case.c.parent_id,
        _case.c.holder_id,
        _case.c.authorised_id,
        _case.c.holder_site_id,
        _case.c.holder_since,
        _case.c.shipment_id,
        _case.c.alert_id,
        _case.c["items"],
        _pallet.c.sscc,
        _batches.c.status,
        _batches.c.root,
        _batches.c.item_count,
        _certificates.c.state,
        _certificates.c.claimed_at,
        _certificates.c.claim_region,
        # The proof's first element: the leaf beside this one (index ^ 1), if there is one.
        _sibling.c.leaf,
        _batches.c.metadata_hash,
        _certificates.c.owner_account_id,
    )
    .join(_batches, _batches.c.id == _items.c.batch_id)
    .outerjoin(_case, _case.c.id == _items.c.case_id)
    .outerjoin(_pallet, _pallet.c.id == _case.c.parent_id)
    .outerjoin(_certificates, _certificates.c.item_id == _items.c.id)
    .outerjoin(
        _sibling,
        and_(
            _sibling.c.batch_id == _items.c.batch_id,
            _sibling.c.leaf_index == _items.c.leaf_index + 1 - 2 * (_items.c.leaf_index % 2),
        ),
    )
    .where(_items.c.serial == bindparam("serial"))
)
_scans = ConsumerScanRow.__table__
_SIGHTINGS = (
    select(
        _scans.c.region_code,
        _scans.c.device_hash,
        _scans.c.scanned_at,
        _scans.c.network_hash,
        _scans.c.witness,
    )
    .where(
        _scans.c.item_id == bindparam("item_id"),
        _scans.c.scanned_at >= bindparam("since", type_=_scans.c.scanned_at.type),
        _scans.c.organisation_id.is_(None),
    )
    .order_by(_scans.c.scanned_at.desc())
    .limit(MAX_SIGHTINGS)
)
_LEVELS = (
    select(_levels.c.level, _levels.c.nodes)
    .where(_levels.c.batch_id == bindparam("batch_id"))
    .order_by(_levels.c.level)
)


class _HotStatement:
    """A statement compiled once for a dialect and run on the driver's own cursor.

    A scan reads two rows; measured, SQLAlchemy's execution path (events, transaction,
    result set-up) cost about 120 us per statement and the database about 7: this keeps the
    statement, its bind and result types, and skips the rest. Values still go through the
    column types' own processors (UTC timestamps, booleans on SQLite)."""

    def __init__(self, statement: Select[Any], dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        self.sql = compiled.string
        self.names = compiled.positiontup
        self.defaults = compiled.construct_params(_check=False)
        self.binders = {
            name: processor
            for name, bind in compiled.binds.items()
            if (processor := bind.type.dialect_impl(dialect).bind_processor(dialect)) is not None
        }
        self.processors = [
            column.type.dialect_impl(dialect).result_processor(dialect, None)
            for column in statement.selected_columns
        ]

    def rows(self, driver: Any, values: dict[str, Any]) -> list[tuple[Any, ...]]:
        params = {**self.defaults, **values}
        for name, processor in self.binders.items():
            if name in params:
                params[name] = processor(params[name])
        cursor = driver.cursor()
        try:
            cursor.execute(
                self.sql, params if self.names is None else [params[n] for n in self.names]
            )
            fetched = cursor.fetchall()
        finally:
            cursor.close()
        processors = self.processors
        return [
            tuple(v if p is None else p(v) for p, v in zip(processors, row, strict=True))
            for row in fetched
        ]


class _Statements:
    """The hot statements of one engine, compiled on first use."""

    def __init__(self, engine: Engine) -> None:
        self.facts = _HotStatement(_FACTS, engine.dialect)
        self.sightings = _HotStatement(_SIGHTINGS, engine.dialect)
        self.history = _HotStatement(CUSTODY_HISTORY, engine.dialect)


def _custody(row: Any, at: int) -> Custody:
    """Custody from six columns of a row (holder, authorised, site, since, shipment, alert)."""
    return Custody(row[at], row[at + 1], row[at + 2], row[at + 3], row[at + 4], row[at + 5])


class SqlAlchemyScanReads:
    """The ``ScanReads`` port: three statements per scan, read without a write lock.

    A batch's stored tree levels never change once its root is set, and reading one node out
    of a level reads the whole level (SQLite loads a value whole; a level of a million-item
    batch is 16 MB): the levels of recently scanned batches are kept in memory, up to
    ``tree_bytes`` in all. A batch too large for that is read node by node as before.
    """

    def __init__(self, engine: Engine, tree_bytes: int = 128 * 2**20) -> None:
        self._engine = engine
        self._reader = engine.execution_options(**{READ_ONLY: True})
        self._statements = _Statements(engine)
        self.tree_bytes = tree_bytes
        self._trees: OrderedDict[int, list[bytes]] = OrderedDict()
        self._tree_size = 0
        self._lock = threading.Lock()

    def read(self, serial: str, since: datetime) -> ScanFacts | None:
        # The driver's connection, outside any transaction: on SQLite each statement reads in
        # its own (WAL readers never wait); PostgreSQL's is rolled back when it goes back to
        # the pool. The two reads need no common snapshot.
        driver = self._engine.raw_connection()
        try:
            rows = self._statements.facts.rows(driver, {"serial": serial})
            if not rows:
                return None
            row = rows[0]
            sightings = [
                (region, bytes(device), at, bytes(network) if network else None, witness)
                for region, device, at, network, witness in self._statements.sightings.rows(
                    driver, {"item_id": row[0], "since": since}
                )
            ]
            legs = self._statements.history.rows(
                driver, custody_history_of(item_id=row[0], unit_id=row[6], pallet_id=row[16])
            )
        finally:
            driver.close()
        item_id, serial, batch_id, leaf_index, item_hash, leaf, case_id = row[:7]
        case_sscc, activated_at, opened_at, pallet_of_case = row[13:17]
        case_items, pallet_sscc, status, root, item_count = row[23:28]
        state, claimed_at, claim_region, sibling, metadata_hash, owner = row[28:34]
        loose = case_id is None or opened_at is not None
        item_custody = _custody(row, 7)
        case_custody = _custody(row, 17) if case_id is not None else None
        target = Target(
            kind="item",
            id=item_id,
            code=serial,
            batch_id=batch_id,
            items=1,
            custody=item_custody if loose or case_custody is None else case_custody,
            parent_id=case_id,
            loose=loose,
        )
        carrier = target
        if not loose and case_custody is not None:
            carrier = Target(
                kind="case",
                id=case_id,
                code=case_sscc,
                batch_id=batch_id,
                items=case_items,
                custody=case_custody,
                parent_id=pallet_of_case,
                opened_at=opened_at,
            )
        proof: list[bytes] = []
        if root is not None:
            proof = self._proof(batch_id, leaf_index, item_count, sibling)
        history = custody_history(legs)
        item = ItemRecord(
            serial=serial,
            batch_id=batch_id,
            leaf_index=leaf_index,
            item_hash=item_hash,
            leaf=leaf,
            pin_hash=None,  # a scan never needs it
            case_sscc=case_sscc,
            pallet_sscc=pallet_sscc,
            activated_at=activated_at,
            id=item_id,
        )
        return ScanFacts(
            item=item,
            batch_status=BatchStatus(status),
            batch_root=root,
            batch_item_count=item_count,
            batch_metadata_hash=metadata_hash,
            certificate_state=CertificateState(state) if state is not None else None,
            claimed_at=claimed_at,
            claim_region=claim_region,
            target=target,
            carrier=carrier,
            proof=proof,
            history=history,
            sightings=sightings,
            certificate_owner=owner,
        )

    def _proof(
        self, batch_id: int, leaf_index: int, item_count: int, sibling: bytes | None
    ) -> list[bytes]:
        levels = self._tree(batch_id, item_count)
        if levels is None:
            with Session(bind=self._reader) as session:
                return SqlAlchemyCodeRepository(session).proof(batch_id, leaf_index, item_count)

        def node(level: int, position: int) -> bytes:
            nodes = levels[level - 1] if level - 1 < len(levels) else b""
            return nodes[position * 32 : position * 32 + 32]

        return stored_proof(batch_id, proof_positions(leaf_index, item_count), sibling, node)

    def _tree(self, batch_id: int, item_count: int) -> list[bytes] | None:
        """The batch's stored levels (1 = parents of the leaves), kept; None if too large."""
        with self._lock:
            levels = self._trees.get(batch_id)
            if levels is not None:
                self._trees.move_to_end(batch_id)
                return levels
        if item_count * 32 > self.tree_bytes:  # its levels hold about as many nodes
            return None
        with self._reader.connect() as conn:
            levels = [bytes(n) for _, n in conn.execute(_LEVELS, {"batch_id": batch_id})]
        size = sum(len(level) for level in levels)
        with self._lock:
            if batch_id not in self._trees:
                self._trees[batch_id] = levels
                self._tree_size += size
            while self._tree_size > self.tree_bytes and len(self._trees) > 1:
                _, dropped = self._trees.popitem(last=False)
                self._tree_size -= sum(len(level) for level in dropped)
        return levels


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
