"""The scan's hot path on SQLAlchemy Core: one prebuilt statement reads the item with its batch,
case, pallet, certificate and custody; another its journey; a third its recent sightings.
Statements are compiled once and run on the driver's cursor."""

from __future__ import annotations

import threading
from collections import OrderedDict
from datetime import datetime
from typing import Any

from sqlalchemy import Dialect, Engine, Select, and_, bindparam, select
from sqlalchemy.orm import Session

from chain.merkle import proof_positions
from service.channel.interface import Custody, Target
from service.channel.storage.custody import CUSTODY_HISTORY, custody_history, custody_history_of
from service.consumer.domain.certificates import CertificateState
from service.consumer.ports import ScanFacts
from service.consumer.storage.rows import CertificateRow, ConsumerScanRow
from service.factory.interface import BatchStatus, ItemRecord
from service.factory.storage.codes import SqlAlchemyCodeRepository, stored_proof
from service.factory.storage.rows import BatchRow, BatchTreeLevelRow, ItemRow, LogisticUnitRow
from service.kernel.storage.db import READ_ONLY

#: Sightings read per item for the risk rules: enough for any threshold worth setting.
MAX_SIGHTINGS = 500


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
