"""Consumer scans: the reads of a scan's hot path, the buffered scan log, and device keys.

A scan reads three rows' worth on one pooled connection, with statements compiled once: the
item with its case, pallet, batch state, certificate and the sibling leaf; its earlier consumer
scans in the clone window; its chain of custody. The Merkle proof comes from the batch's tree
levels, kept in memory once read. It records the scan without a write of its own: the
:class:`ConsumerScanRecorder` keeps scans in a bounded buffer and writes them in bulk every
``interval_s`` (100 ms) from a background thread, and once more when it stops; a scan that
joins a known diversion alert is counted on it in the same write. A crash loses what was
buffered, at most about one interval of scans; a full buffer (the database away for a while)
drops new scans and counts them in ``dropped``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import threading
import time
from collections import OrderedDict, deque
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import Dialect, Engine, Select, and_, bindparam, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from chain.merkle import proof_positions
from service.adapters.db import READ_ONLY
from service.adapters.orm import (
    BatchRow,
    BatchTreeLevelRow,
    CertificateRow,
    ConsumerScanRow,
    ItemRow,
    LogisticUnitRow,
    OrganisationRow,
    ShipmentLineRow,
    ShipmentRow,
    SiteRow,
)
from service.adapters.repositories import (
    SqlAlchemyAlertRepository,
    SqlAlchemyCodeRepository,
    bulk_insert,
    timestamp_writer,
)
from service.app.ports import ConsumerScan, ScanFacts, Target
from service.domain.batches import BatchStatus
from service.domain.certificates import CertificateState
from service.domain.custody import Custody
from service.domain.units import ItemRecord

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
_lines = ShipmentLineRow.__table__
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
    select(_scans.c.region_code, _scans.c.device_hash)
    .where(
        _scans.c.item_id == bindparam("item_id"),
        _scans.c.scanned_at >= bindparam("since", type_=_scans.c.scanned_at.type),
        _scans.c.organisation_id.is_(None),
    )
    .order_by(_scans.c.scanned_at.desc())
    .limit(MAX_SIGHTINGS)
)
# ``CustodyRepository.history`` for a bottle (its lines, its case's and its pallet's), built
# once: the repository builds it per call, which cost a scan of travelled goods 2 ms.
_sender = OrganisationRow.__table__.alias("sender")
_receiver = OrganisationRow.__table__.alias("receiver")
_site = SiteRow.__table__.alias("receipt_site")
_shipments = ShipmentRow.__table__
_HISTORY = (
    select(
        _shipments.c.public_id,
        _sender.c.id,
        _sender.c.name,
        _receiver.c.id,
        _receiver.c.name,
        _shipments.c.dispatched_at,
        func.min(_lines.c.received_at),
        func.min(_site.c.region_code),
    )
    .join(_lines, _lines.c.shipment_id == _shipments.c.id)
    .join(_sender, _sender.c.id == _shipments.c.sender_id)
    .join(_receiver, _receiver.c.id == _shipments.c.receiver_id)
    .outerjoin(_site, _site.c.id == _lines.c.receipt_site_id)
    .where(
        or_(
            _lines.c.item_id == bindparam("item_id"),
            _lines.c.unit_id == bindparam("case_id"),
            _lines.c.unit_id == bindparam("pallet_id"),
        )
    )
    .group_by(
        _shipments.c.public_id,
        _sender.c.id,
        _sender.c.name,
        _receiver.c.id,
        _receiver.c.name,
        _shipments.c.dispatched_at,
    )
    .order_by(_shipments.c.dispatched_at)
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
        self.history = _HotStatement(_HISTORY, engine.dialect)


def _or_none(row_id: int | None) -> int:
    return -1 if row_id is None else row_id


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
                (region, bytes(device))
                for region, device in self._statements.sightings.rows(
                    driver, {"item_id": row[0], "since": since}
                )
            ]
            legs = self._statements.history.rows(
                driver,
                # Row ids are positive: -1 stands for "no case" and "no pallet".
                {"item_id": row[0], "case_id": _or_none(row[6]), "pallet_id": _or_none(row[16])},
            )
        finally:
            driver.close()
        item_id, serial, batch_id, leaf_index, item_hash, leaf, case_id = row[:7]
        case_sscc, activated_at, opened_at, pallet_of_case = row[13:17]
        case_items, pallet_sscc, status, root, item_count = row[23:28]
        state, claimed_at, claim_region, sibling, metadata_hash = row[28:33]
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
        history = [
            {
                "shipment_id": public_id,
                "from": {"organisation_id": s_id, "name": s_name},
                "to": {"organisation_id": r_id, "name": r_name},
                "dispatched_at": dispatched.isoformat() if dispatched else None,
                "received_at": received.isoformat() if received else None,
                "received_in": region,
            }
            for public_id, s_id, s_name, r_id, r_name, dispatched, received, region in legs
        ]
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
        )

    def _proof(
        self, batch_id: int, leaf_index: int, item_count: int, sibling: bytes | None
    ) -> list[bytes]:
        levels = self._tree(batch_id, item_count)
        if levels is None:
            with Session(bind=self._reader) as session:
                return SqlAlchemyCodeRepository(session).proof(batch_id, leaf_index, item_count)
        proof: list[bytes] = []
        for level, position in proof_positions(leaf_index, item_count):
            if level == 0:
                if sibling is None:
                    raise LookupError(f"batch {batch_id} has no leaf {position}")
                proof.append(bytes(sibling))
                continue
            nodes = levels[level - 1] if level - 1 < len(levels) else b""
            node = nodes[position * 32 : position * 32 + 32]
            if len(node) != 32:
                raise LookupError(f"batch {batch_id} has no complete stored tree")
            proof.append(node)
        return proof

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
)


class ConsumerScanRecorder:
    """The ``ConsumerScanLog`` port: a bounded buffer written in bulk by a background thread.

    :meth:`buffered` answers this process's scans not yet written, and those written in the
    last ``GRACE_S`` (a scan read from the database just before its write committed is then
    still seen here): with the stored ones, the risk rules never miss a scan of this process.
    Another process's scans are seen once written, within about ``interval_s``.
    """

    def __init__(self, engine: Engine, max_buffer: int = 50_000, interval_s: float = 0.1) -> None:
        self._engine = engine
        self._reader = engine.execution_options(**{READ_ONLY: True})
        self.max_buffer = max_buffer
        self.interval_s = interval_s
        self._lock = threading.Lock()
        self._buffer: list[ConsumerScan] = []
        #: Consumer scans buffered, being written or written lately, per item, oldest first.
        self._pending: dict[int, deque[ConsumerScan]] = {}
        #: Written (or dropped) scans still in ``_pending``: when, and how many per item.
        self._retired: deque[tuple[float, dict[int, int]]] = deque()
        self._flushing = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: Scans refused because the buffer was full, and scans written, since the start.
        self.dropped = 0
        self.written = 0

    # ------------------------------------------------------------------ the port
    def record(self, scan: ConsumerScan) -> bool:
        with self._lock:
            if len(self._buffer) >= self.max_buffer:
                self.dropped += 1
                if self.dropped in (1, 10, 100) or self.dropped % 10_000 == 0:
                    log.warning("scan log full: %d scans dropped so far", self.dropped)
                return False
            self._buffer.append(scan)
            if scan.organisation_id is None:
                self._pending.setdefault(scan.item_id, deque()).append(scan)
        return True

    def buffered(self, item_id: int, since: datetime) -> list[tuple[str | None, bytes]]:
        with self._lock:
            return [
                (s.region_code, s.device_hash)
                for s in reversed(self._pending.get(item_id, ()))
                if s.at >= since
            ]

    def flush(self) -> int:
        with self._flushing:
            with self._lock:
                self._purge(time.monotonic() - GRACE_S)
                batch, self._buffer = self._buffer, []
            if not batch:
                return 0
            try:
                with Session(self._engine) as session:
                    # The driver's own bulk path (COPY on PostgreSQL): SQLAlchemy's executemany
                    # spends more time per row than the database, on a thread that shares
                    # the GIL with the scans.
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
                            )
                            for s in batch
                        ],
                    )
                    joins = [s for s in batch if s.alert_id is not None]
                    if joins:
                        SqlAlchemyAlertRepository(session).repeat_many(
                            [s.alert_id for s in joins if s.alert_id is not None],
                            max(s.at for s in joins),
                        )
                    session.commit()
            except (IntegrityError, self._engine.dialect.loaded_dbapi.IntegrityError):
                # Rows the database refuses would be refused forever: drop them, say so.
                with self._lock:
                    self._retire(batch)
                    self.dropped += len(batch)
                raise
            except Exception:
                # The database is away: keep them for the next pass, as far as the buffer has
                # room (the oldest go first).
                with self._lock:
                    room = max(0, self.max_buffer - len(self._buffer))
                    kept = batch[len(batch) - room :] if room < len(batch) else batch
                    self._retire(batch[: len(batch) - len(kept)])
                    self.dropped += len(batch) - len(kept)
                    self._buffer[:0] = kept
                raise
            with self._lock:
                self._retire(batch)
                self.written += len(batch)
            return len(batch)

    def _retire(self, scans: list[ConsumerScan]) -> None:
        """Mark written (or dropped) scans to leave the pending index after the grace time."""
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
            try:
                self.flush()
            except Exception:  # the database may be away for a while: keep buffering
                log.exception("writing the scan log failed")

    def stop(self) -> None:
        """Stop the writer and write what is left (at shutdown)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        try:
            self.flush()
        except Exception:
            log.exception("writing the scan log at shutdown failed: %d scans lost", self.pending)

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._buffer)
