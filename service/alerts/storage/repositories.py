"""Alerts raised once per key and repeated after, listed by who may see them, moved through
their statuses."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.alerts.domain.alerts import Alert, AlertKind, AlertStatus
from service.alerts.storage.rows import AlertRow


class SqlAlchemyAlertRepository:
    def __init__(self, session: Session) -> None:
        self._s = session

    @staticmethod
    def _to_domain(row: AlertRow) -> Alert:
        return Alert(
            id=row.id,
            kind=AlertKind(row.kind),
            dedupe_key=row.dedupe_key,
            brand_id=row.brand_id,
            batch_id=row.batch_id,
            serial=row.serial,
            detail=row.detail,
            status=AlertStatus(row.status),
            count=row.count,
            first_seen_at=row.first_seen_at,
            last_seen_at=row.last_seen_at,
            responsible_id=row.responsible_id,
            scanner_id=row.scanner_id,
            shipment_id=row.shipment_id,
            note=row.note,
        )

    def raise_or_repeat(self, alert: Alert, at: datetime) -> tuple[Alert, bool]:
        bumped = self._s.execute(
            update(AlertRow)
            .where(AlertRow.dedupe_key == alert.dedupe_key)
            .values(count=AlertRow.count + 1, last_seen_at=at)
            .returning(AlertRow.id)
        ).scalar()
        if bumped is None:
            try:
                with self._s.begin_nested():
                    row = AlertRow(
                        kind=alert.kind.value,
                        status=alert.status.value,
                        dedupe_key=alert.dedupe_key,
                        brand_id=alert.brand_id,
                        batch_id=alert.batch_id,
                        serial=alert.serial,
                        detail=alert.detail,
                        count=1,
                        first_seen_at=at,
                        last_seen_at=at,
                        responsible_id=alert.responsible_id,
                        scanner_id=alert.scanner_id,
                        shipment_id=alert.shipment_id,
                    )
                    self._s.add(row)
                    self._s.flush()
                return self._to_domain(row), True
            except IntegrityError:
                return self.raise_or_repeat(alert, at)  # a concurrent scan opened it first
        existing = self._s.get(AlertRow, bumped, populate_existing=True)
        assert existing is not None
        return self._to_domain(existing), False

    def list(
        self,
        brand_id: int | None,
        status: AlertStatus | None,
        offset: int,
        limit: int,
        party_id: int | None = None,
    ) -> list[Alert]:
        query = select(AlertRow).order_by(AlertRow.id.desc()).offset(offset).limit(limit)
        if brand_id is not None:
            query = query.where(AlertRow.brand_id == brand_id)
        if status is not None:
            query = query.where(AlertRow.status == status.value)
        if party_id is not None:
            query = query.where(
                (AlertRow.responsible_id == party_id) | (AlertRow.scanner_id == party_id)
            )
        return [self._to_domain(r) for r in self._s.scalars(query)]

    def get(self, alert_id: int) -> Alert | None:
        row = self._s.get(AlertRow, alert_id)
        return self._to_domain(row) if row else None

    def repeat_many(self, alert_ids: Sequence[int], at: datetime) -> dict[int, Alert]:
        counts: dict[int, int] = {}
        for alert_id in alert_ids:
            counts[alert_id] = counts.get(alert_id, 0) + 1
        if not counts:
            return {}
        self._s.connection().execute(
            update(AlertRow)
            .where(AlertRow.id == bindparam("b_id"))
            .values(
                count=AlertRow.count + bindparam("b_n"),
                last_seen_at=bindparam("b_at", type_=AlertRow.last_seen_at.type),
            ),
            [{"b_id": i, "b_n": n, "b_at": at} for i, n in counts.items()],
        )
        rows = self._s.scalars(
            select(AlertRow)
            .where(AlertRow.id.in_(list(counts)))
            .execution_options(populate_existing=True)
        )
        return {row.id: self._to_domain(row) for row in rows}

    def raise_many(self, alerts: Sequence[Alert], at: datetime) -> dict[str, tuple[Alert, bool]]:
        if not alerts:
            return {}
        first: dict[str, Alert] = {}
        counts: dict[str, int] = {}
        for alert in alerts:
            first.setdefault(alert.dedupe_key, alert)
            counts[alert.dedupe_key] = counts.get(alert.dedupe_key, 0) + 1
        keys = list(first)
        known = {
            row.dedupe_key: row.id
            for row in self._s.scalars(select(AlertRow).where(AlertRow.dedupe_key.in_(keys)))
        }
        fresh = [k for k in keys if k not in known]
        try:
            with self._s.begin_nested():
                if fresh:
                    self._s.execute(
                        insert(AlertRow),
                        [
                            {
                                "kind": first[k].kind.value,
                                "status": first[k].status.value,
                                "dedupe_key": k,
                                "brand_id": first[k].brand_id,
                                "batch_id": first[k].batch_id,
                                "serial": first[k].serial,
                                "detail": first[k].detail,
                                "count": counts[k],
                                "first_seen_at": at,
                                "last_seen_at": at,
                                "responsible_id": first[k].responsible_id,
                                "scanner_id": first[k].scanner_id,
                                "shipment_id": first[k].shipment_id,
                            }
                            for k in fresh
                        ],
                    )
        except IntegrityError:
            # A concurrent writer opened one of them first: fall back to one at a time.
            out: dict[str, tuple[Alert, bool]] = {}
            for alert in alerts:
                found, new = self.raise_or_repeat(alert, at)
                out[alert.dedupe_key] = (found, new or out.get(alert.dedupe_key, (found, False))[1])
            return out
        if known:
            self.repeat_many([known[k] for k in keys if k in known for _ in range(counts[k])], at)
        rows = self._s.scalars(
            select(AlertRow)
            .where(AlertRow.dedupe_key.in_(keys))
            .execution_options(populate_existing=True)
        )
        return {row.dedupe_key: (self._to_domain(row), row.dedupe_key in fresh) for row in rows}

    def set_status(
        self,
        alert_id: int,
        expected: AlertStatus,
        status: AlertStatus,
        note: str | None,
        at: datetime,
    ) -> bool:
        result = self._s.execute(
            update(AlertRow)
            .where(AlertRow.id == alert_id, AlertRow.status == expected.value)
            .values(status=status.value, note=note, updated_at=at)
        )
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]
