"""The journey's tables on SQLAlchemy Core, and the projector's checkpoints."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, delete, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from service.touchpoints.domain.journey import Cause, Reach, Source, Stage
from service.touchpoints.ports import CertificateFacts, FunnelRow, Holding
from service.touchpoints.storage.rows import (
    FeedCertificateRow,
    FeedCheckpointRow,
    FeedWalletRow,
    HoldingRow,
    JourneyStageRow,
)

_STAGES = cast(Table, JourneyStageRow.__table__)
_CERTIFICATES = cast(Table, FeedCertificateRow.__table__)
_WALLETS = cast(Table, FeedWalletRow.__table__)
_HOLDINGS = cast(Table, HoldingRow.__table__)
_CHECKPOINTS = cast(Table, FeedCheckpointRow.__table__)


def _upsert(session: Session) -> Any:
    """The dialect's ``INSERT ... ON CONFLICT`` (SQLite and PostgreSQL both have it)."""
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


class SqlAlchemyJourneyRepository:
    def __init__(self, session: Session) -> None:
        self._s = session

    def reach(self, reaches: Sequence[Reach]) -> None:
        earliest: dict[tuple[int, str, str], Reach] = {}
        for r in reaches:
            key = (r.brand_id, r.subject, r.stage.value)
            kept = earliest.get(key)
            if kept is None or r.cause < kept.cause:
                earliest[key] = r
        if not earliest:
            return
        rows = [
            {
                "brand_id": r.brand_id,
                "subject": r.subject,
                "stage": r.stage.value,
                "cause_at": r.cause.at,
                "cause_source": r.cause.source.value,
                "cause_position": r.cause.position,
                "region_code": r.region_code,
                "gtin": r.gtin,
            }
            for r in earliest.values()
        ]
        stmt = _upsert(self._s)(_STAGES)
        new = stmt.excluded
        t = _STAGES.c
        # A stage keeps its earliest cause: a later (or the same) one changes nothing.
        stmt = stmt.on_conflict_do_update(
            index_elements=[t.brand_id, t.subject, t.stage],
            set_={
                "cause_at": new.cause_at,
                "cause_source": new.cause_source,
                "cause_position": new.cause_position,
                "region_code": new.region_code,
                "gtin": new.gtin,
            },
            where=tuple_(new.cause_at, new.cause_source, new.cause_position)
            < tuple_(t.cause_at, t.cause_source, t.cause_position),
        )
        self._s.execute(stmt, rows)

    def stages(self, brand_id: int, subject: str) -> dict[Stage, Cause]:
        t = _STAGES.c
        rows = self._s.execute(
            select(t.stage, t.cause_at, t.cause_source, t.cause_position).where(
                t.brand_id == brand_id, t.subject == subject
            )
        )
        return {
            Stage(stage): Cause(at, Source(source), position)
            for stage, at, source, position in rows
        }

    def certificate(self, certificate_id: str) -> CertificateFacts | None:
        row = self._s.execute(
            select(_CERTIFICATES).where(_CERTIFICATES.c.certificate_id == certificate_id)
        ).one_or_none()
        return CertificateFacts(**row._mapping) if row is not None else None

    def put_certificate(self, facts: CertificateFacts) -> None:
        values = {
            "certificate_id": facts.certificate_id,
            "brand_id": facts.brand_id,
            "batch_id": facts.batch_id,
            "gtin": facts.gtin,
            "region_code": facts.region_code,
            "holder": facts.holder,
            "pending_action": facts.pending_action,
            "pending_by": facts.pending_by,
        }
        stmt = _upsert(self._s)(_CERTIFICATES).values(values)
        stmt = stmt.on_conflict_do_update(
            index_elements=[_CERTIFICATES.c.certificate_id],
            set_={k: v for k, v in values.items() if k != "certificate_id"},
        )
        self._s.execute(stmt)

    def wallet_holder(self, address: str) -> str | None:
        subject: str | None = self._s.scalar(
            select(_WALLETS.c.subject).where(_WALLETS.c.address == address)
        )
        return subject

    def put_wallet(self, address: str, subject: str) -> None:
        stmt = _upsert(self._s)(_WALLETS).values(address=address, subject=subject)
        self._s.execute(
            stmt.on_conflict_do_update(
                index_elements=[_WALLETS.c.address], set_={"subject": subject}
            )
        )

    def holdings(self, brand_id: int, subject: str) -> list[Holding]:
        t = _HOLDINGS.c
        rows = self._s.execute(
            select(t.brand_id, t.subject, t.certificate_id, t.batch_id, t.held_at)
            .where(t.brand_id == brand_id, t.subject == subject)
            .order_by(t.held_at, t.certificate_id)
        )
        return [Holding(*row) for row in rows]

    def add_holding(self, holding: Holding) -> bool:
        stmt = _upsert(self._s)(_HOLDINGS).values(
            subject=holding.subject,
            certificate_id=holding.certificate_id,
            brand_id=holding.brand_id,
            batch_id=holding.batch_id,
            held_at=holding.held_at,
        )
        # RETURNING says whether the row went in (psycopg gives no rowcount for ON CONFLICT).
        added = self._s.execute(stmt.on_conflict_do_nothing().returning(_HOLDINGS.c.subject))
        return added.first() is not None

    def funnel(self, brand_id: int | None) -> list[FunnelRow]:
        t = _STAGES.c
        query = select(t.stage, t.cause_at, t.region_code, t.gtin)
        if brand_id is not None:
            query = query.where(t.brand_id == brand_id)
        counts: Counter[tuple[str, str, str | None, str | None]] = Counter()
        for stage, at, region, gtin in self._s.execute(query.execution_options(yield_per=5000)):
            counts[(at.strftime("%Y-%m"), stage, region, gtin)] += 1
        return [
            FunnelRow(period, Stage(stage), region, gtin, n)
            for (period, stage, region, gtin), n in sorted(
                counts.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2] or "", kv[0][3] or "")
            )
        ]

    def dump(self) -> dict[str, list[list[Any]]]:
        out: dict[str, list[list[Any]]] = {}
        for table in (_STAGES, _CERTIFICATES, _WALLETS, _HOLDINGS):
            keys = list(table.primary_key.columns)
            rows = self._s.execute(select(table).order_by(*keys))
            out[table.name] = [
                [v.isoformat() if isinstance(v, datetime) else v for v in row] for row in rows
            ]
        return out

    def clear(self) -> None:
        for table in (_STAGES, _CERTIFICATES, _WALLETS, _HOLDINGS, _CHECKPOINTS):
            self._s.execute(delete(table))


class SqlAlchemyFeedCheckpoints:
    def __init__(self, session: Session) -> None:
        self._s = session

    def position(self, source: str) -> int:
        found: int | None = self._s.scalar(
            select(_CHECKPOINTS.c.position).where(_CHECKPOINTS.c.source == source)
        )
        return found or 0

    def advance(self, source: str, old: int, new: int, at: datetime) -> bool:
        c = _CHECKPOINTS.c
        moved = self._s.execute(
            update(_CHECKPOINTS)
            .where(c.source == source, c.position == old)
            .values(position=new, updated_at=at)
        ).rowcount  # type: ignore[attr-defined]
        if moved:
            return True
        if old != 0:
            return False
        # The source's first page: its row is made here; a racing projector's insert fails.
        stmt = _upsert(self._s)(_CHECKPOINTS).values(source=source, position=new, updated_at=at)
        made = self._s.execute(stmt.on_conflict_do_nothing().returning(_CHECKPOINTS.c.source))
        return made.first() is not None

    def positions(self) -> dict[str, int]:
        c = _CHECKPOINTS.c
        return {
            source: position for source, position in self._s.execute(select(c.source, c.position))
        }
