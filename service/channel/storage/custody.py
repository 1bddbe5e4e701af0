"""SQLAlchemy repositories of the distribution flow: the channel (regions, territories, sites)
and custody (units and loose items, shipments and their lines, scan events)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam, func, or_, select, update
from sqlalchemy import case as sql_case
from sqlalchemy.orm import Session, aliased

from service.channel.domain.custody import Custody
from service.channel.ports import Shipment, ShipmentLine, StoredScan, Target
from service.channel.storage.rows import (
    ScanEventRow,
    ShipmentLineRow,
    ShipmentRow,
    SiteRow,
)
from service.factory.interface import UnitKind
from service.factory.storage.rows import BatchRow, ItemRow, LogisticUnitRow
from service.identity.storage.rows import OrganisationRow
from service.kernel.storage.sql import (
    bulk_execute,
    bulk_insert,
    driver_execute,
    timestamp_writer,
    translate_integrity,
)


def _custody(row: Any) -> Custody:
    return Custody(
        holder_id=row.holder_id,
        authorised_id=row.authorised_id,
        site_id=row.holder_site_id,
        since=row.holder_since,
        shipment_id=row.shipment_id,
        alert_id=row.alert_id,
    )


def _custody_values(custody: Custody) -> dict[str, Any]:
    return {
        "holder_id": custody.holder_id,
        "authorised_id": custody.authorised_id,
        "holder_site_id": custody.site_id,
        "holder_since": custody.since,
        "shipment_id": custody.shipment_id,
        "alert_id": custody.alert_id,
    }


# ----------------------------------------------------------------------------- hot statements
# Scans run these on every request. Built once, they skip SQLAlchemy's statement construction and
# cache-key work (about half of a case scan's time) and run as Core on the session's connection.
_UNIT_COLUMNS = (
    LogisticUnitRow.id,
    LogisticUnitRow.kind,
    LogisticUnitRow.sscc,
    LogisticUnitRow.batch_id,
    LogisticUnitRow.items,
    LogisticUnitRow.parent_id,
    LogisticUnitRow.opened_at,
    LogisticUnitRow.holder_id,
    LogisticUnitRow.authorised_id,
    LogisticUnitRow.holder_site_id,
    LogisticUnitRow.holder_since,
    LogisticUnitRow.shipment_id,
    LogisticUnitRow.alert_id,
)
_UNITS_WHERE = {
    name: select(*_UNIT_COLUMNS).where(
        column.in_(bindparam("values", expanding=True)), LogisticUnitRow.batch_id.is_not(None)
    )
    for name, column in (
        ("sscc", LogisticUnitRow.sscc),
        ("id", LogisticUnitRow.id),
        ("parent_id", LogisticUnitRow.parent_id),
    )
}
#: The same for one value (an online scan's case): no expanding IN to render per call.
_UNIT_WHERE_ONE = {
    name: select(*_UNIT_COLUMNS).where(
        column == bindparam("value"), LogisticUnitRow.batch_id.is_not(None)
    )
    for name, column in (
        ("sscc", LogisticUnitRow.sscc),
        ("id", LogisticUnitRow.id),
        ("parent_id", LogisticUnitRow.parent_id),
    )
}
_SCANS: Table = ScanEventRow.__table__  # type: ignore[assignment]
_SCAN_BY_CLIENT_IDS = select(_SCANS).where(
    _SCANS.c.organisation_id == bindparam("org"),
    _SCANS.c.client_event_id.in_(bindparam("ids", expanding=True)),
)
_ANY_PENDING = "SELECT 1 FROM scan_events WHERE outcome = 'pending' LIMIT 1"
_ITEMS: Table = ItemRow.__table__  # type: ignore[assignment]
# Waiting scans of these units and items, and of the bottles in these cases (a bottle's
# dispatch waits on its case being opened).
_SCANS_WAITING = (
    select(_SCANS)
    .select_from(_SCANS.outerjoin(_ITEMS, _ITEMS.c.id == _SCANS.c.item_id))
    .where(
        _SCANS.c.outcome == "pending",
        or_(
            _SCANS.c.unit_id.in_(bindparam("units", expanding=True)),
            _SCANS.c.item_id.in_(bindparam("items", expanding=True)),
            _ITEMS.c.case_id.in_(bindparam("units", expanding=True)),
        ),
    )
    .order_by(_SCANS.c.event_time, _SCANS.c.id)
)
_SHIPMENTS: Table = ShipmentRow.__table__  # type: ignore[assignment]
_SHIPMENTS_BY_ID = select(_SHIPMENTS).where(_SHIPMENTS.c.id.in_(bindparam("ids", expanding=True)))
_SHIPMENT_BY_ID = select(_SHIPMENTS).where(_SHIPMENTS.c.id == bindparam("id"))
_LINES: Table = ShipmentLineRow.__table__  # type: ignore[assignment]
_SENDERS = OrganisationRow.__table__.alias("sender")
_RECEIVERS = OrganisationRow.__table__.alias("receiver")
_RECEIPT_SITES = SiteRow.__table__.alias("receipt_site")
#: The chain of custody (``history``): the shipments whose lines carried an item, a unit (the
#: item's case, or the case or pallet asked about) or the pallet of that case, with the
#: parameters of :func:`custody_history_of`. The scan path runs it too, compiled once on the
#: driver's cursor (``service.consumer.storage.scan_log``).
_LEG = (
    _SHIPMENTS.c.public_id,
    _SENDERS.c.id,
    _SENDERS.c.name,
    _RECEIVERS.c.id,
    _RECEIVERS.c.name,
    _SHIPMENTS.c.dispatched_at,
)
CUSTODY_HISTORY = (
    select(*_LEG, func.min(_LINES.c.received_at), func.min(_RECEIPT_SITES.c.region_code))
    .join(_LINES, _LINES.c.shipment_id == _SHIPMENTS.c.id)
    .join(_SENDERS, _SENDERS.c.id == _SHIPMENTS.c.sender_id)
    .join(_RECEIVERS, _RECEIVERS.c.id == _SHIPMENTS.c.receiver_id)
    .outerjoin(_RECEIPT_SITES, _RECEIPT_SITES.c.id == _LINES.c.receipt_site_id)
    .where(
        or_(
            _LINES.c.item_id == bindparam("item_id"),
            _LINES.c.unit_id == bindparam("unit_id"),
            _LINES.c.unit_id == bindparam("pallet_id"),
        )
    )
    .group_by(*_LEG)
    .order_by(_SHIPMENTS.c.dispatched_at)
)


def custody_history_of(
    item_id: int | None, unit_id: int | None, pallet_id: int | None
) -> dict[str, int]:
    """The parameters of ``CUSTODY_HISTORY``: -1 stands for none, row ids being positive."""
    return {
        "item_id": -1 if item_id is None else item_id,
        "unit_id": -1 if unit_id is None else unit_id,
        "pallet_id": -1 if pallet_id is None else pallet_id,
    }


def custody_history(rows: Iterable[Sequence[Any]]) -> list[dict[str, Any]]:
    """The legs of a chain of custody, as answered, from the rows of ``CUSTODY_HISTORY``."""
    return [
        {
            "shipment_id": public_id,
            "from": {"organisation_id": s_id, "name": s_name},
            "to": {"organisation_id": r_id, "name": r_name},
            "dispatched_at": _iso(dispatched),
            "received_at": _iso(received),
            "received_in": region,
        }
        for public_id, s_id, s_name, r_id, r_name, dispatched, received, region in rows
    ]


#: Through the driver (every receipt and dispatch saves its shipment's counts).
_SAVE_SHIPMENT_SQL = (
    "UPDATE shipments SET status = ?, received_at = ?, dispatched_at = ?, dispatched_lines = ?, "
    "received_lines = ?, extra_lines = ? WHERE id = ?"
)


_WRITE_CUSTODY = {
    is_item: f"UPDATE {table} SET "
    "holder_id = ?, authorised_id = ?, holder_site_id = ?, holder_since = ?, shipment_id = ?, "
    "alert_id = ? WHERE id = ?"
    for is_item, table in ((False, "logistic_units"), (True, "items"))
}
_RECEIVE_LINES = {
    is_item: "UPDATE shipment_lines SET received_at = ?, receipt_site_id = ? "
    f"WHERE shipment_id = ? AND {column} = ? AND received_at IS NULL"
    for is_item, column in ((False, "unit_id"), (True, "item_id"))
}
_SCAN_EVENT_COLUMNS = (
    "organisation_id",
    "client_event_id",
    "device_id",
    "action",
    "code",
    "unit_id",
    "item_id",
    "site_id",
    "region_code",
    "shipment_ref",
    "receiver_id",
    "shipment_id",
    "event_time",
    "recorded_at",
    "request_hash",
    "outcome",
    "result",
)


def _core(session: Session) -> Any:
    """The session's connection for a prebuilt statement, pending ORM changes flushed first (as
    ``Session.execute`` would autoflush)."""
    session.flush()
    return session.connection()


class SqlAlchemyCustodyRepository:
    def __init__(self, session: Session) -> None:
        self._s = session

    # ------------------------------------------------------------------ targets
    def target(self, sscc: str | None, serial: str | None) -> Target | None:
        if sscc is not None:
            row = self._s.scalar(select(LogisticUnitRow).where(LogisticUnitRow.sscc == sscc))
            if row is None or row.batch_id is None:
                return None
            return self._unit_from_columns(row)
        item = self._s.scalar(select(ItemRow).where(ItemRow.serial == serial))
        if item is None:
            return None
        case = self._s.get(LogisticUnitRow, item.case_id) if item.case_id else None
        loose = case is None or case.opened_at is not None
        # An item in a sealed case is where its case is.
        source: Any = item if loose else case
        return Target(
            kind="item",
            id=item.id,
            code=item.serial,
            batch_id=item.batch_id,
            items=1,
            custody=_custody(source),
            parent_id=item.case_id,
            loose=loose,
        )

    def last_shipment(self, target: Target, at: datetime) -> Shipment | None:
        column = ShipmentLineRow.item_id if target.kind == "item" else ShipmentLineRow.unit_id
        row = self._s.scalar(
            select(ShipmentRow)
            .join(ShipmentLineRow, ShipmentLineRow.shipment_id == ShipmentRow.id)
            .where(column == target.id, ShipmentRow.dispatched_at <= at)
            .order_by(ShipmentRow.dispatched_at.desc(), ShipmentRow.id.desc())
            .limit(1)
        )
        return self._shipment(row) if row else None

    # ------------------------------------------------------------------ shipments
    @staticmethod
    def _shipment(row: ShipmentRow) -> Shipment:
        return Shipment(
            row.id,
            row.public_id,
            row.ref,
            row.sender_id,
            row.receiver_id,
            row.sender_site_id,
            row.status,
            row.dispatched_at,
            row.received_at,
            row.dispatched_lines,
            row.received_lines,
            row.extra_lines,
        )

    def shipments_by_ids(self, ids: Sequence[int]) -> list[Shipment]:
        if not ids:
            return []
        unique = list(set(ids))
        if len(unique) == 1:
            rows = _core(self._s).execute(_SHIPMENT_BY_ID, {"id": unique[0]})
        else:
            rows = _core(self._s).execute(_SHIPMENTS_BY_ID, {"ids": unique})
        return [self._shipment(r) for r in rows]

    def save_shipment(self, shipment: Shipment) -> None:
        stamp = timestamp_writer(self._s)
        driver_execute(
            self._s,
            _SAVE_SHIPMENT_SQL,
            (
                shipment.status,
                stamp(shipment.received_at),
                stamp(shipment.dispatched_at),
                shipment.dispatched_lines,
                shipment.received_lines,
                shipment.extra_lines,
                shipment.id,
            ),
        )

    # ------------------------------------------------------------------ bulk (scan sessions)
    @staticmethod
    def _unit_from_columns(row: Any) -> Target:
        return Target(
            kind=row.kind,
            id=row.id,
            code=row.sscc,
            batch_id=row.batch_id,
            items=row.items,
            custody=_custody(row),
            parent_id=row.parent_id,
            opened_at=row.opened_at,
        )

    def _units_where(self, column: str, values: Sequence[Any]) -> list[Target]:
        """Units by a column's values, read as plain columns (no ORM objects: scans read many)."""
        out: list[Target] = []
        unique = list(dict.fromkeys(values))
        connection = _core(self._s)
        if len(unique) == 1:
            rows = connection.execute(_UNIT_WHERE_ONE[column], {"value": unique[0]})
            return [self._unit_from_columns(r) for r in rows]
        for start in range(0, len(unique), 500):
            rows = connection.execute(_UNITS_WHERE[column], {"values": unique[start : start + 500]})
            out += [self._unit_from_columns(r) for r in rows]
        return out

    def units_by_sscc(self, ssccs: Sequence[str]) -> list[Target]:
        return self._units_where("sscc", ssccs)

    def units_by_id(self, ids: Sequence[int]) -> list[Target]:
        return self._units_where("id", ids)

    def cases_of_pallets(self, pallet_ids: Sequence[int]) -> dict[int, list[Target]]:
        out: dict[int, list[Target]] = {}
        for case in sorted(self._units_where("parent_id", pallet_ids), key=lambda t: t.code):
            assert case.parent_id is not None
            out.setdefault(case.parent_id, []).append(case)
        return out

    def last_holders(self, serials: Sequence[str]) -> dict[str, tuple[int | None, int | None]]:
        case = aliased(LogisticUnitRow)
        loose = or_(ItemRow.case_id.is_(None), case.opened_at.is_not(None))
        out: dict[str, tuple[int | None, int | None]] = {}
        for start in range(0, len(serials), 500):
            rows = self._s.execute(
                select(
                    ItemRow.serial,
                    sql_case((loose, ItemRow.holder_id), else_=case.holder_id),
                    sql_case((loose, ItemRow.holder_site_id), else_=case.holder_site_id),
                )
                .outerjoin(case, case.id == ItemRow.case_id)
                .where(ItemRow.serial.in_(list(serials[start : start + 500])))
            )
            out.update({serial: (holder, site) for serial, holder, site in rows})
        return out

    def items_by_serial(self, serials: Sequence[str]) -> list[Target]:
        """Items with their own custody columns (meaningful once loose) and their case id."""
        out: list[Target] = []
        for start in range(0, len(serials), 500):
            rows = self._s.execute(
                select(ItemRow, LogisticUnitRow.opened_at)
                .outerjoin(LogisticUnitRow, LogisticUnitRow.id == ItemRow.case_id)
                .where(ItemRow.serial.in_(list(serials[start : start + 500])))
            )
            for item, opened_at in rows:
                loose = item.case_id is None or opened_at is not None
                out.append(
                    Target(
                        "item",
                        item.id,
                        item.serial,
                        item.batch_id,
                        1,
                        _custody(item),
                        item.case_id,
                        None,
                        loose,
                    )
                )
        return out

    def write_custody(self, changes: Sequence[tuple[str, int, Custody]]) -> None:
        """Write many custody changes in one ``executemany`` per table."""
        stamp = timestamp_writer(self._s)
        for is_item in (False, True):
            rows = [
                (
                    c.holder_id,
                    c.authorised_id,
                    c.site_id,
                    stamp(c.since),
                    c.shipment_id,
                    c.alert_id,
                    target_id,
                )
                for kind, target_id, c in changes
                if (kind == "item") is is_item
            ]
            bulk_execute(self._s, _WRITE_CUSTODY[is_item], rows)

    def add_lines_many(self, rows: Sequence[tuple[int, str, int, int, bool]]) -> None:
        """Insert ``(shipment id, kind, target id, items, dispatched)`` lines."""
        bulk_insert(
            self._s,
            "shipment_lines",
            ("shipment_id", "unit_id", "item_id", "items", "dispatched"),
            [
                (
                    shipment,
                    None if kind == "item" else target,
                    target if kind == "item" else None,
                    items,
                    dispatched,
                )
                for shipment, kind, target, items, dispatched in rows
            ],
        )

    def receive_lines_many(
        self, rows: Sequence[tuple[int, str, int, datetime, int | None]]
    ) -> None:
        """Mark ``(shipment id, kind, target id, at, site)`` lines received (one executemany
        per kind of target)."""
        stamp = timestamp_writer(self._s)
        for is_item in (False, True):
            params = [
                (stamp(at), site, shipment, target)
                for shipment, kind, target, at, site in rows
                if (kind == "item") is is_item
            ]
            bulk_execute(self._s, _RECEIVE_LINES[is_item], params)

    def open_cases(self, cases: Sequence[tuple[int, datetime, Custody]]) -> None:
        """Mark cases opened and copy each case's custody onto its items."""
        for case_id, at, custody in cases:
            self._s.execute(
                update(LogisticUnitRow).where(LogisticUnitRow.id == case_id).values(opened_at=at)
            )
            self._s.execute(
                update(ItemRow).where(ItemRow.case_id == case_id).values(**_custody_values(custody))
            )

    def scan_events_by_client_ids(
        self, organisation_id: int, client_event_ids: Sequence[str]
    ) -> dict[str, StoredScan]:
        out: dict[str, StoredScan] = {}
        connection = _core(self._s)
        for start in range(0, len(client_event_ids), 500):
            rows = connection.execute(
                _SCAN_BY_CLIENT_IDS,
                {"org": organisation_id, "ids": list(client_event_ids[start : start + 500])},
            )
            out.update({r.client_event_id: self._scan(r) for r in rows})
        return out

    def add_scan_events(
        self,
        rows: Sequence[tuple[StoredScan, int | None, int | None, int | None]],
        recorded_at: datetime,
    ) -> None:
        if not rows:
            return
        stamp = timestamp_writer(self._s)
        recorded = stamp(recorded_at)
        with translate_integrity(self._s, "scan_events"):
            bulk_insert(
                self._s,
                "scan_events",
                _SCAN_EVENT_COLUMNS,
                [
                    (
                        scan.organisation_id,
                        scan.client_event_id,
                        scan.device_id,
                        scan.action,
                        scan.code,
                        unit_id,
                        item_id,
                        scan.site_id,
                        scan.region_code,
                        scan.shipment_ref,
                        scan.receiver_id,
                        shipment_id,
                        stamp(scan.event_time),
                        recorded,
                        scan.request_hash,
                        scan.outcome,
                        json.dumps(scan.result),
                    )
                    for scan, unit_id, item_id, shipment_id in rows
                ],
            )

    def shipment_by_ref(self, sender_id: int, ref: str) -> Shipment | None:
        row = self._s.scalar(
            select(ShipmentRow).where(ShipmentRow.sender_id == sender_id, ShipmentRow.ref == ref)
        )
        return self._shipment(row) if row else None

    def shipment(self, shipment_id: int) -> Shipment | None:
        found = self.shipments_by_ids([shipment_id])
        return found[0] if found else None

    def shipment_by_public_id(self, public_id: str) -> Shipment | None:
        row = self._s.scalar(select(ShipmentRow).where(ShipmentRow.public_id == public_id))
        return self._shipment(row) if row else None

    def add_shipment(
        self,
        public_id: str,
        ref: str,
        sender_id: int,
        receiver_id: int,
        site_id: int | None,
        at: datetime,
    ) -> Shipment:
        row = ShipmentRow(
            public_id=public_id,
            ref=ref,
            sender_id=sender_id,
            receiver_id=receiver_id,
            sender_site_id=site_id,
            status="dispatched",
            dispatched_at=at,
            dispatched_lines=0,
            received_lines=0,
            extra_lines=0,
        )
        self._s.add(row)
        with translate_integrity(self._s, "shipments"):
            self._s.flush()
        return self._shipment(row)

    def lines(self, shipment_id: int) -> list[ShipmentLine]:
        rows = self._s.execute(
            select(
                LogisticUnitRow.kind,
                LogisticUnitRow.sscc,
                ItemRow.serial,
                ShipmentLineRow.items,
                ShipmentLineRow.dispatched,
                ShipmentLineRow.received_at,
            )
            .select_from(ShipmentLineRow)
            .outerjoin(LogisticUnitRow, LogisticUnitRow.id == ShipmentLineRow.unit_id)
            .outerjoin(ItemRow, ItemRow.id == ShipmentLineRow.item_id)
            .where(ShipmentLineRow.shipment_id == shipment_id)
            .order_by(ShipmentLineRow.id)
        )
        return [
            ShipmentLine(kind or "item", sscc or serial, items, dispatched, received_at)
            for kind, sscc, serial, items, dispatched, received_at in rows
        ]

    def shipments(
        self, organisation_id: int | None, direction: str, offset: int, limit: int
    ) -> list[Shipment]:
        query = select(ShipmentRow).order_by(ShipmentRow.id.desc()).offset(offset).limit(limit)
        if organisation_id is not None:
            column = ShipmentRow.receiver_id if direction == "in" else ShipmentRow.sender_id
            query = query.where(column == organisation_id)
        return [self._shipment(r) for r in self._s.scalars(query)]

    def history(self, target: Target) -> list[dict[str, Any]]:
        if target.kind == "item":
            item_id, unit_id, pallet_id = target.id, target.parent_id, None
            if unit_id is not None:
                case = self._s.get(LogisticUnitRow, unit_id)
                pallet_id = case.parent_id if case is not None else None
        else:
            item_id, unit_id, pallet_id = None, target.id, target.parent_id
        rows = _core(self._s).execute(
            CUSTODY_HISTORY, custody_history_of(item_id, unit_id, pallet_id)
        )
        return custody_history(rows)

    # ------------------------------------------------------------------ stock
    def stock(self, organisation_id: int, offset: int, limit: int) -> list[dict[str, Any]]:
        rows = self._s.execute(
            select(
                LogisticUnitRow.kind,
                LogisticUnitRow.sscc,
                BatchRow.gtin,
                BatchRow.lot,
                LogisticUnitRow.holder_since,
                LogisticUnitRow.holder_site_id,
                LogisticUnitRow.authorised_id,
            )
            .join(BatchRow, BatchRow.id == LogisticUnitRow.batch_id)
            .where(
                LogisticUnitRow.holder_id == organisation_id,
                LogisticUnitRow.shipment_id.is_(None),
                LogisticUnitRow.opened_at.is_(None),
                LogisticUnitRow.kind == UnitKind.CASE.value,
            )
            .order_by(LogisticUnitRow.holder_since, LogisticUnitRow.id)
            .offset(offset)
            .limit(limit)
        )
        return [
            {
                "kind": kind,
                "code": sscc,
                "gtin": gtin,
                "lot": lot,
                "since": _iso(since),
                "site_id": site,
                "authorised": authorised == organisation_id,
            }
            for kind, sscc, gtin, lot, since, site, authorised in rows
        ]

    def stock_totals(self, organisation_id: int) -> dict[str, int]:
        cases = select(LogisticUnitRow.id).where(
            LogisticUnitRow.holder_id == organisation_id,
            LogisticUnitRow.shipment_id.is_(None),
            LogisticUnitRow.opened_at.is_(None),
            LogisticUnitRow.kind == UnitKind.CASE.value,
        )
        case_count = self._s.scalar(select(func.count()).select_from(cases.subquery())) or 0
        in_cases = self._s.scalar(select(func.count()).where(ItemRow.case_id.in_(cases))) or 0
        loose = (
            self._s.scalar(
                select(func.count()).where(
                    ItemRow.holder_id == organisation_id, ItemRow.shipment_id.is_(None)
                )
            )
            or 0
        )
        return {
            "cases": int(case_count),
            "items": int(in_cases) + int(loose),
            "loose_items": int(loose),
        }

    # ------------------------------------------------------------------ scan events
    @staticmethod
    def _scan(row: ScanEventRow) -> StoredScan:
        return StoredScan(
            id=row.id,
            organisation_id=row.organisation_id,
            client_event_id=row.client_event_id,
            action=row.action,
            code=row.code,
            event_time=row.event_time,
            outcome=row.outcome,
            result=row.result,
            request_hash=row.request_hash,
            site_id=row.site_id,
            region_code=row.region_code,
            shipment_ref=row.shipment_ref,
            receiver_id=row.receiver_id,
            device_id=row.device_id,
        )

    def scan_event(self, organisation_id: int, client_event_id: str) -> StoredScan | None:
        return self.scan_events_by_client_ids(organisation_id, [client_event_id]).get(
            client_event_id
        )

    def set_scan_outcome(
        self, scan_id: int, outcome: str, result: dict[str, Any], shipment_id: int | None
    ) -> None:
        self._s.execute(
            update(ScanEventRow)
            .where(ScanEventRow.id == scan_id)
            .values(outcome=outcome, result=result, shipment_id=shipment_id)
        )

    def observations_after(
        self, unit_ids: Sequence[int], item_ids: Sequence[int], after: datetime
    ) -> list[StoredScan]:
        if not unit_ids and not item_ids:
            return []
        rows = self._s.scalars(
            select(ScanEventRow)
            .where(
                ScanEventRow.outcome == "applied",
                ScanEventRow.action == "observe",
                ScanEventRow.event_time > after,
                or_(
                    ScanEventRow.unit_id.in_(list(unit_ids) or [-1]),
                    ScanEventRow.item_id.in_(list(item_ids) or [-1]),
                    # a bottle of a case whose custody changed
                    ScanEventRow.item_id.in_(
                        select(ItemRow.id).where(ItemRow.case_id.in_(list(unit_ids) or [-1]))
                    ),
                ),
            )
            .order_by(ScanEventRow.event_time, ScanEventRow.id)
        )
        return [self._scan(r) for r in rows]

    def pending_scans(self, unit_ids: Sequence[int], item_ids: Sequence[int]) -> list[StoredScan]:
        if not unit_ids and not item_ids:
            return []
        connection = _core(self._s)
        # Every scan session asks, and almost always nothing waits: one indexed probe on the
        # driver's cursor (~20 us) instead of the full query through SQLAlchemy (~300 us).
        cursor = connection.connection.dbapi_connection.cursor()
        try:
            cursor.execute(_ANY_PENDING)
            if cursor.fetchone() is None:
                return []
        finally:
            cursor.close()
        rows = connection.execute(
            _SCANS_WAITING, {"units": list(unit_ids) or [-1], "items": list(item_ids) or [-1]}
        )
        return [self._scan(r) for r in rows]


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()
