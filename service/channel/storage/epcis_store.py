"""The ``EpcisRepository`` on SQLAlchemy: captured events, and the facts our own EPCIS events
are rendered from (scan events, packed cases and pallets, activated cases)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    Text,
    and_,
    cast,
    exists,
    false,
    insert,
    or_,
    select,
    true,
)
from sqlalchemy.orm import Session, aliased

from service.channel.domain import json_values
from service.channel.domain.epcis import sgtin_epc, sscc_epc
from service.channel.domain.errors import UnsupportedJsonError
from service.channel.ports import Bounds, PackingFact, ScanFact, Scope, ScopeKind
from service.channel.storage.rows import EpcisEventEpcRow, EpcisEventRow, ScanEventRow, ShipmentRow
from service.factory.storage.rows import BatchRow, ItemRow, LogisticUnitRow
from service.identity.storage.rows import OrganisationRow

_log = logging.getLogger(__name__)
#: Captured rows already reported unreadable (by id), so a poisoned row is logged once.
_REPORTED: set[int] = set()


def unreadable(row_id: int, exc: Exception) -> None:
    """Log, once per process and row, a captured event that cannot be read back."""
    if row_id in _REPORTED or len(_REPORTED) >= 10_000:
        return
    _REPORTED.add(row_id)
    _log.warning("captured EPCIS event %s cannot be read back and is skipped: %s", row_id, exc)


_SSCC_PREFIX = "https://id.gs1.org/00/"
_SGTIN_PREFIX = "https://id.gs1.org/01/"


def _split_epcs(epcs: Sequence[str]) -> tuple[list[str], list[str]]:
    """Canonical EPCs as (SSCCs, serials)."""
    ssccs, serials = [], []
    for epc in epcs:
        if epc.startswith(_SSCC_PREFIX):
            ssccs.append(epc[len(_SSCC_PREFIX) :])
        elif epc.startswith(_SGTIN_PREFIX) and "/21/" in epc:
            serials.append(epc.rsplit("/21/", 1)[1])
    return ssccs, serials


def _times(query: Select[Any], column: Any, bounds: Bounds) -> Select[Any]:
    if bounds.ge is not None:
        query = query.where(column >= bounds.ge)
    if bounds.lt is not None:
        query = query.where(column < bounds.lt)
    return query


def _visible(
    scope: Scope,
    brand: Callable[[int], ColumnElement[bool]],
    organisation: Callable[[int], ColumnElement[bool]],
) -> ColumnElement[bool]:
    """The one visibility filter of EPCIS reads: ``brand(id)`` / ``organisation(id)`` say how a
    query's rows belong to a brand or an organisation; a scope of nothing matches no row."""
    if scope.kind is ScopeKind.EVERYTHING:
        return true()
    if scope.kind is ScopeKind.BRAND and scope.id is not None:
        return brand(scope.id)
    if scope.kind is ScopeKind.ORGANISATION and scope.id is not None:
        return organisation(scope.id)
    return false()


class SqlAlchemyEpcisRepository:
    def __init__(self, session: Session) -> None:
        self._s = session

    # ------------------------------------------------------------------ captured
    def known_captured(
        self, scope_key: str, event_ids: Sequence[str], event_hashes: Sequence[str]
    ) -> tuple[set[str], set[str]]:
        ids: set[str] = set()
        hashes: set[str] = set()
        for start in range(0, max(len(event_ids), len(event_hashes)), 500):
            chunk_ids = list(event_ids[start : start + 500])
            chunk_hashes = list(event_hashes[start : start + 500])
            if chunk_ids:
                ids.update(
                    self._s.scalars(
                        select(EpcisEventRow.event_id).where(
                            EpcisEventRow.scope_key == scope_key,
                            EpcisEventRow.event_id.in_(chunk_ids),
                        )
                    )
                )
            if chunk_hashes:
                hashes.update(
                    h
                    for h in self._s.scalars(
                        select(EpcisEventRow.event_hash).where(
                            EpcisEventRow.scope_key == scope_key,
                            EpcisEventRow.event_hash.in_(chunk_hashes),
                        )
                    )
                    if h is not None
                )
        return ids, hashes

    def add_captured(
        self,
        scope_key: str,
        event_id: str,
        event_hash: str | None,
        organisation_id: int,
        brand_id: int | None,
        event_time: datetime,
        body: dict[str, Any],
        epcs: Sequence[str],
        at: datetime,
    ) -> bool:
        known = select(EpcisEventRow.id).where(
            EpcisEventRow.scope_key == scope_key, EpcisEventRow.event_id == event_id
        )
        if self._s.scalar(known):
            return False
        row = EpcisEventRow(
            scope_key=scope_key,
            event_id=event_id,
            event_hash=event_hash,
            organisation_id=organisation_id,
            brand_id=brand_id,
            event_time=event_time,
            body=body,
            recorded_at=at,
        )
        self._s.add(row)
        self._s.flush()
        if epcs:
            self._s.execute(
                insert(EpcisEventEpcRow), [{"event_pk": row.id, "epc": e} for e in epcs]
            )
        return True

    def captured(self, scope: Scope, bounds: Bounds) -> list[dict[str, Any]]:
        """Captured events as stored. A row that is not strict JSON (stored before capture
        refused such values) is skipped and logged once, so it cannot break a whole read."""
        # As text: the driver would parse it with no bound on depth or numbers.
        query: Any = select(EpcisEventRow.id, cast(EpcisEventRow.body, Text)).order_by(
            EpcisEventRow.event_time, EpcisEventRow.id
        )
        query = _times(query, EpcisEventRow.event_time, bounds)
        query = query.where(
            _visible(
                scope,
                lambda brand: EpcisEventRow.brand_id == brand,
                lambda org: EpcisEventRow.organisation_id == org,
            )
        )
        if bounds.epcs:
            query = query.where(
                exists().where(
                    EpcisEventEpcRow.event_pk == EpcisEventRow.id,
                    EpcisEventEpcRow.epc.in_(bounds.epcs),
                )
            )
        bodies: list[dict[str, Any]] = []
        row_id: int
        text: str
        for row_id, text in self._s.execute(query.limit(bounds.limit)):
            try:
                body = json_values.loads(text, exact_ints=False)
                if not isinstance(body, dict):
                    raise ValueError("not an object")
            except (ValueError, UnsupportedJsonError) as exc:
                unreadable(row_id, exc)
                continue
            bodies.append(body)
        return bodies

    # ------------------------------------------------------------------ scans
    def scans(self, scope: Scope, bounds: Bounds) -> list[ScanFact]:
        scanner = aliased(OrganisationRow)
        unit = aliased(LogisticUnitRow)
        query: Any = (
            select(
                ScanEventRow.id,
                ScanEventRow.action,
                ScanEventRow.event_time,
                ScanEventRow.organisation_id,
                ScanEventRow.site_id,
                ScanEventRow.region_code,
                unit.sscc,
                unit.id,
                ItemRow.serial,
                BatchRow.gtin,
                ShipmentRow.public_id,
                ShipmentRow.sender_id,
                ShipmentRow.receiver_id,
            )
            .join(scanner, scanner.id == ScanEventRow.organisation_id)
            .outerjoin(unit, unit.id == ScanEventRow.unit_id)
            .outerjoin(ItemRow, ItemRow.id == ScanEventRow.item_id)
            .outerjoin(BatchRow, BatchRow.id == ItemRow.batch_id)
            .outerjoin(ShipmentRow, ShipmentRow.id == ScanEventRow.shipment_id)
            .where(ScanEventRow.outcome == "applied")
            .order_by(ScanEventRow.event_time, ScanEventRow.id)
        )
        query = _times(query, ScanEventRow.event_time, bounds)
        query = query.where(
            _visible(
                scope,
                lambda brand: or_(scanner.brand_id == brand, scanner.id == brand),
                lambda org: or_(
                    ScanEventRow.organisation_id == org,
                    ShipmentRow.sender_id == org,
                    ShipmentRow.receiver_id == org,
                ),
            )
        )
        if bounds.epcs:
            ssccs, serials = _split_epcs(bounds.epcs)
            query = query.where(
                or_(unit.sscc.in_(ssccs or ["-"]), ItemRow.serial.in_(serials or ["-"]))
            )
        rows = self._s.execute(query.limit(bounds.limit)).all()
        opened = [r[7] for r in rows if r[1] == "open" and r[7] is not None]
        children = self._children_of_cases(opened)
        return [
            ScanFact(
                id=r[0],
                action=r[1],
                event_time=r[2],
                organisation_id=r[3],
                site_id=r[4],
                region=r[5],
                epc=sscc_epc(r[6]) if r[6] else sgtin_epc(r[9], r[8]),
                shipment=r[10],
                sender_id=r[11],
                receiver_id=r[12],
                children=tuple(children.get(r[7], ())) if r[1] == "open" else (),
            )
            for r in rows
            if r[6] or (r[8] and r[9])
        ]

    def _children_of_cases(self, case_ids: Sequence[int]) -> dict[int, list[str]]:
        out: dict[int, list[str]] = {}
        for start in range(0, len(case_ids), 500):
            rows = self._s.execute(
                select(ItemRow.case_id, ItemRow.serial, BatchRow.gtin)
                .join(BatchRow, BatchRow.id == ItemRow.batch_id)
                .where(ItemRow.case_id.in_(case_ids[start : start + 500]))
                .order_by(ItemRow.case_id, ItemRow.leaf_index)
            )
            for case_id, serial, gtin in rows:
                if case_id is not None and gtin is not None:
                    out.setdefault(case_id, []).append(sgtin_epc(gtin, serial))
        return out

    def _children_of_pallets(self, pallet_ids: Sequence[int]) -> dict[int, list[str]]:
        out: dict[int, list[str]] = {}
        for start in range(0, len(pallet_ids), 500):
            rows = self._s.execute(
                select(LogisticUnitRow.parent_id, LogisticUnitRow.sscc)
                .where(LogisticUnitRow.parent_id.in_(pallet_ids[start : start + 500]))
                .order_by(LogisticUnitRow.parent_id, LogisticUnitRow.position)
            )
            for pallet_id, sscc in rows:
                if pallet_id is not None:
                    out.setdefault(pallet_id, []).append(sscc_epc(sscc))
        return out

    # ------------------------------------------------------------------ production
    def _units(self, scope: Scope, bounds: Bounds, time: Any, kinds: tuple[str, ...]) -> Any:
        query = (
            select(LogisticUnitRow.id, LogisticUnitRow.kind, LogisticUnitRow.sscc, time)
            .join(BatchRow, BatchRow.id == LogisticUnitRow.batch_id)
            .where(LogisticUnitRow.kind.in_(kinds), time.is_not(None))
            .order_by(time, LogisticUnitRow.id)
        )
        query = _times(query, time, bounds)
        query = query.where(
            _visible(
                scope,
                lambda brand: BatchRow.brand_id == brand,
                lambda org: BatchRow.organisation_id == org,
            )
        )
        if bounds.epcs:
            ssccs, serials = _split_epcs(bounds.epcs)
            # A unit's own SSCC, its pallet's (for a case), or an item's case.
            pallet = aliased(LogisticUnitRow)
            query = query.outerjoin(pallet, pallet.id == LogisticUnitRow.parent_id).where(
                or_(
                    LogisticUnitRow.sscc.in_(ssccs or ["-"]),
                    and_(LogisticUnitRow.kind == "case", pallet.sscc.in_(ssccs or ["-"])),
                    LogisticUnitRow.id.in_(
                        select(ItemRow.case_id).where(ItemRow.serial.in_(serials or ["-"]))
                    ),
                    LogisticUnitRow.id.in_(
                        select(LogisticUnitRow.parent_id).where(
                            LogisticUnitRow.sscc.in_(ssccs or ["-"])
                        )
                    ),
                )
            )
        return self._s.execute(query.limit(bounds.limit)).all()

    def packing(self, scope: Scope, bounds: Bounds) -> list[PackingFact]:
        rows = self._units(scope, bounds, BatchRow.generated_at, ("case", "pallet"))
        cases = self._children_of_cases([r[0] for r in rows if r[1] == "case"])
        pallets = self._children_of_pallets([r[0] for r in rows if r[1] == "pallet"])
        return [
            PackingFact(
                unit_id=r[0],
                kind=r[1],
                parent_epc=sscc_epc(r[2]),
                at=r[3],
                children=tuple((cases if r[1] == "case" else pallets).get(r[0], ())),
            )
            for r in rows
        ]

    def commissioning(self, scope: Scope, bounds: Bounds) -> list[PackingFact]:
        rows = self._units(scope, bounds, LogisticUnitRow.activated_at, ("case",))
        cases = self._children_of_cases([r[0] for r in rows])
        return [
            PackingFact(r[0], r[1], sscc_epc(r[2]), r[3], tuple(cases.get(r[0], ())))
            for r in rows
            if cases.get(r[0])
        ]
