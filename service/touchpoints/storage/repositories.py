"""The journey's tables on SQLAlchemy Core, and the projector's checkpoints."""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, func, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from service.kernel.events import canonical_json
from service.touchpoints.domain.journey import Cause, Reach, Source, Stage, earlier
from service.touchpoints.ports import CertificateFacts, FunnelRow, Holding
from service.touchpoints.storage.rows import (
    FeedCertificateRow,
    FeedCheckpointRow,
    FeedWalletRow,
    HoldingRow,
    JourneyRulesRow,
    JourneyStageRow,
)

_STAGES = cast(Table, JourneyStageRow.__table__)
_CERTIFICATES = cast(Table, FeedCertificateRow.__table__)
_WALLETS = cast(Table, FeedWalletRow.__table__)
_HOLDINGS = cast(Table, HoldingRow.__table__)
_CHECKPOINTS = cast(Table, FeedCheckpointRow.__table__)
_RULES = cast(Table, JourneyRulesRow.__table__)


def _upsert(session: Session) -> Any:
    """The dialect's ``INSERT ... ON CONFLICT`` (SQLite and PostgreSQL both have it)."""
    return _insert_for(session.get_bind().dialect.name)


def _insert_for(dialect: str) -> Any:
    return pg_insert if dialect == "postgresql" else sqlite_insert


def _statements(dialect: str) -> dict[str, Any]:
    """The repository's writes, built once per dialect: executed with a list of parameter
    dicts each, so a page costs a statement per table, not a few per entry."""
    insert_ = _insert_for(dialect)
    st = _STAGES.c
    reach = insert_(_STAGES)
    new = reach.excluded
    # A stage keeps its earliest cause: a later (or the same) one changes nothing.
    reach = reach.on_conflict_do_update(
        index_elements=[st.brand_id, st.subject, st.stage],
        set_={
            "cause_at": new.cause_at,
            "cause_source": new.cause_source,
            "cause_position": new.cause_position,
            "region_code": new.region_code,
            "gtin": new.gtin,
        },
        where=tuple_(new.cause_at, new.cause_source, new.cause_position)
        < tuple_(st.cause_at, st.cause_source, st.cause_position),
    )
    certificate = insert_(_CERTIFICATES)
    certificate = certificate.on_conflict_do_update(
        index_elements=[_CERTIFICATES.c.certificate_id],
        set_={
            c.name: certificate.excluded[c.name]
            for c in _CERTIFICATES.c
            if c.name != "certificate_id"
        },
    )
    wallet = insert_(_WALLETS)
    wallet = wallet.on_conflict_do_update(
        index_elements=[_WALLETS.c.address],
        set_={"subject": wallet.excluded.subject, "joined": wallet.excluded.joined},
    )
    holding = insert_(_HOLDINGS).on_conflict_do_nothing()
    return {"reach": reach, "certificate": certificate, "wallet": wallet, "holding": holding}


_BUILT: dict[str, dict[str, Any]] = {}
_CERTIFICATES_BY_ID = select(_CERTIFICATES).where(
    _CERTIFICATES.c.certificate_id.in_(bindparam("ids", expanding=True))
)
_WALLETS_BY_ADDRESS = select(_WALLETS.c.address, _WALLETS.c.subject).where(
    _WALLETS.c.address.in_(bindparam("addresses", expanding=True))
)
_HOLDINGS_OF = select(
    _HOLDINGS.c.brand_id,
    _HOLDINGS.c.subject,
    _HOLDINGS.c.certificate_id,
    _HOLDINGS.c.batch_id,
    _HOLDINGS.c.held_at,
).where(_HOLDINGS.c.subject.in_(bindparam("subjects", expanding=True)))
#: How many keys one IN list carries (SQLite's bound-parameter limit is far above it).
_CHUNK = 500


def _chunks(values: Collection[str]) -> list[list[str]]:
    ordered = sorted(values)
    return [ordered[i : i + _CHUNK] for i in range(0, len(ordered), _CHUNK)]


def dump_tables(session: Session, tables: Sequence[Table]) -> dict[str, list[list[Any]]]:
    """Every row of ``tables``, in primary-key order, as JSON-ready lists (rebuilds compare
    them)."""
    out: dict[str, list[list[Any]]] = {}
    for table in tables:
        rows = session.execute(select(table).order_by(*table.primary_key.columns))
        out[table.name] = [
            [v.isoformat() if isinstance(v, datetime) else v for v in row] for row in rows
        ]
    return out


def put_brand_settings(
    session: Session,
    table: Table,
    brand_id: int,
    settings: dict[str, Any],
    at: datetime,
    cause: str,
) -> None:
    """Insert or replace a brand's settings row (its programme, its journey rules)."""
    stmt = _upsert(session)(table).values(
        brand_id=brand_id,
        settings=canonical_json(settings).decode("utf-8"),
        set_at=at,
        cause=cause,
    )
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=[table.c.brand_id],
            set_={k: stmt.excluded[k] for k in ("settings", "set_at", "cause")},
        )
    )


class SqlAlchemyJourneyRepository:
    def __init__(self, session: Session) -> None:
        self._s = session

    def _stmt(self, name: str) -> Any:
        dialect = self._s.get_bind().dialect.name
        built = _BUILT.get(dialect)
        if built is None:
            built = _BUILT[dialect] = _statements(dialect)
        return built[name]

    def reach(self, reaches: Sequence[Reach]) -> None:
        earliest: dict[tuple[int, str, str], Reach] = {}
        for r in reaches:
            key = (r.brand_id, r.subject, r.stage.value)
            kept = earliest.get(key)
            if earlier(kept.cause if kept else None, r.cause):
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
            for _, r in sorted(earliest.items())
        ]
        self._s.execute(self._stmt("reach"), rows)

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

    def certificates(self, certificate_ids: Collection[str]) -> dict[str, CertificateFacts]:
        found: dict[str, CertificateFacts] = {}
        for chunk in _chunks(certificate_ids):
            for row in self._s.execute(_CERTIFICATES_BY_ID, {"ids": chunk}):
                found[row.certificate_id] = CertificateFacts(**row._mapping)
        return found

    def put_certificates(self, facts: Sequence[CertificateFacts]) -> None:
        self._s.execute(
            self._stmt("certificate"),
            [
                {
                    "certificate_id": f.certificate_id,
                    "brand_id": f.brand_id,
                    "batch_id": f.batch_id,
                    "gtin": f.gtin,
                    "region_code": f.region_code,
                    "holder": f.holder,
                    "pending_action": f.pending_action,
                    "pending_by": f.pending_by,
                    "stored_since": f.stored_since,
                    "gift_from": f.gift_from,
                    "gift_index": f.gift_index,
                    "scanned_first": f.scanned_first,
                }
                for f in facts
            ],
        )

    def wallet_holders(self, addresses: Collection[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for chunk in _chunks(addresses):
            for address, subject in self._s.execute(_WALLETS_BY_ADDRESS, {"addresses": chunk}):
                found[address] = subject
        return found

    def put_wallets(self, holders: Sequence[tuple[str, str, int | None]]) -> None:
        self._s.execute(
            self._stmt("wallet"),
            [{"address": a, "subject": s, "joined": j} for a, s, j in holders],
        )

    def joined(self, subjects: Collection[str]) -> dict[str, int]:
        w = _WALLETS.c
        found: dict[str, int] = {}
        for chunk in _chunks(subjects):
            rows = self._s.execute(
                select(w.subject, w.joined).where(w.subject.in_(chunk), w.joined.is_not(None))
            )
            found.update({subject: int(joined) for subject, joined in rows})
        return found

    def stored(self) -> list[CertificateFacts]:
        rows = self._s.execute(
            select(_CERTIFICATES)
            .where(_CERTIFICATES.c.stored_since.is_not(None))
            .order_by(_CERTIFICATES.c.certificate_id)
        )
        return [CertificateFacts(**row._mapping) for row in rows]

    def holdings_of(self, subjects: Collection[str]) -> list[Holding]:
        found: list[Holding] = []
        for chunk in _chunks(subjects):
            found += [Holding(*row) for row in self._s.execute(_HOLDINGS_OF, {"subjects": chunk})]
        return found

    def add_holdings(self, holdings: Sequence[Holding]) -> None:
        self._s.execute(
            self._stmt("holding"),
            [
                {
                    "subject": h.subject,
                    "certificate_id": h.certificate_id,
                    "brand_id": h.brand_id,
                    "batch_id": h.batch_id,
                    "held_at": h.held_at,
                }
                for h in holdings
            ],
        )

    def rules(self, brand_ids: Collection[int]) -> dict[int, dict[str, Any]]:
        r = _RULES.c
        rows = self._s.execute(
            select(r.brand_id, r.settings).where(r.brand_id.in_(sorted(brand_ids)))
        )
        return {int(brand): json.loads(settings) for brand, settings in rows}

    def put_rules(self, brand_id: int, settings: dict[str, Any], at: datetime, cause: str) -> None:
        put_brand_settings(self._s, _RULES, brand_id, settings, at, cause)

    def funnel(self, brand_id: int, offset: int, limit: int) -> list[FunnelRow]:
        t = _STAGES.c
        if self._s.get_bind().dialect.name == "postgresql":
            month = func.to_char(func.timezone("UTC", t.cause_at), "YYYY-MM")
        else:  # SQLite keeps UTC timestamps as ISO text
            month = func.strftime("%Y-%m", t.cause_at)
        period = month.label("period")
        rows = self._s.execute(
            select(period, t.stage, t.region_code, t.gtin, func.count().label("subjects"))
            .where(t.brand_id == brand_id)
            .group_by(period, t.stage, t.region_code, t.gtin)
            .order_by(period, t.stage, t.region_code.nulls_first(), t.gtin.nulls_first())
            .offset(offset)
            .limit(limit)
        )
        return [
            FunnelRow(period, Stage(stage), region, gtin, int(n))
            for period, stage, region, gtin, n in rows
        ]

    def dump(self) -> dict[str, list[list[Any]]]:
        return dump_tables(self._s, (_STAGES, _CERTIFICATES, _WALLETS, _HOLDINGS, _RULES))

    def clear(self) -> None:
        for table in (_STAGES, _CERTIFICATES, _WALLETS, _HOLDINGS, _RULES, _CHECKPOINTS):
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
