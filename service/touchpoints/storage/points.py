"""The points ledger and the brands' programmes on SQLAlchemy Core. Entries and draws are only
ever inserted (an entry already there, by key, is left as it is); an award's remaining points
are its amount less its draws."""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, delete, func, select
from sqlalchemy.orm import Session

from service.touchpoints.domain.points import Award, Draw, Entry, EntryKind
from service.touchpoints.storage.repositories import (
    _chunks,
    _upsert,
    dump_tables,
    put_brand_settings,
)
from service.touchpoints.storage.rows import (
    AwardStatusRow,
    PointsDrawRow,
    PointsEntryRow,
    PointsProgrammeRow,
)

_ENTRIES = cast(Table, PointsEntryRow.__table__)
_DRAWS = cast(Table, PointsDrawRow.__table__)
_PROGRAMMES = cast(Table, PointsProgrammeRow.__table__)
_STATUS = cast(Table, AwardStatusRow.__table__)


def taken() -> Any:
    """What the draws took of the award on the row (a correlated sum, through the draws'
    index, so a query reads only the awards it selects)."""
    d = _DRAWS.c
    return (
        select(func.coalesce(func.sum(d.amount), 0))
        .where(d.award_key == _ENTRIES.c.key)
        .correlate(_ENTRIES)
        .scalar_subquery()
    )


def _awards_query() -> Any:
    """Awards with what is left of each (amount less draws) and their screening status."""
    e = _ENTRIES.c
    return (
        select(
            e.key,
            e.holder,
            e.brand_id,
            e.expires_at,
            (e.amount - taken()).label("remaining"),
            e.certificate_id,
            e.batch_id,
            e.amount,
            func.coalesce(_STATUS.c.status, "pending"),
        )
        .outerjoin(_STATUS, _STATUS.c.award_key == e.key)
        .where(e.kind == EntryKind.EARN.value)
    )


def _award(row: Any) -> Award:
    key, holder, brand_id, expires_at, remaining, certificate_id, batch_id, earned, status = row
    return Award(
        key,
        holder,
        int(brand_id),
        expires_at,
        int(remaining),
        certificate_id,
        batch_id,
        int(earned),
        str(status),
    )


class SqlAlchemyPointsRepository:
    def __init__(self, session: Session) -> None:
        self._s = session

    def programmes(self, brand_ids: Collection[int]) -> dict[int, dict[str, Any]]:
        p = _PROGRAMMES.c
        rows = self._s.execute(
            select(p.brand_id, p.settings).where(p.brand_id.in_(sorted(brand_ids)))
        )
        return {int(brand): json.loads(settings) for brand, settings in rows}

    def put_programme(
        self, brand_id: int, settings: dict[str, Any], at: datetime, cause: str
    ) -> None:
        put_brand_settings(self._s, _PROGRAMMES, brand_id, settings, at, cause)

    def existing(self, keys: Collection[str]) -> set[str]:
        found: set[str] = set()
        for chunk in _chunks(keys):
            found.update(self._s.scalars(select(_ENTRIES.c.key).where(_ENTRIES.c.key.in_(chunk))))
        return found

    def earned_since(
        self, holders: Collection[str], since: datetime
    ) -> list[tuple[str, int, datetime, int]]:
        e = _ENTRIES.c
        found: list[tuple[str, int, datetime, int]] = []
        for chunk in _chunks(holders):
            rows = self._s.execute(
                select(e.holder, e.brand_id, e.at, e.amount).where(
                    e.holder.in_(chunk), e.kind == EntryKind.EARN.value, e.at >= since
                )
            )
            found += [(h, int(b), at, int(n)) for h, b, at, n in rows]
        return found

    def awards(self, keys: Collection[str]) -> dict[str, Award]:
        found: dict[str, Award] = {}
        for chunk in _chunks(keys):
            for row in self._s.execute(_awards_query().where(_ENTRIES.c.key.in_(chunk))):
                award = _award(row)
                found[award.key] = award
        return found

    def open_awards(self, brand_id: int, holder: str) -> list[Award]:
        e = _ENTRIES.c
        rows = self._s.execute(_awards_query().where(e.holder == holder, e.brand_id == brand_id))
        return [a for a in map(_award, rows) if a.remaining > 0 and a.status == "released"]

    def awards_of_batch(self, batch_id: str) -> list[Award]:
        rows = self._s.execute(_awards_query().where(_ENTRIES.c.batch_id == batch_id))
        return sorted(map(_award, rows), key=lambda a: a.key)

    def expiring(self, after: datetime, until: datetime) -> list[Award]:
        e = _ENTRIES.c
        rows = self._s.execute(_awards_query().where(e.expires_at > after, e.expires_at <= until))
        return sorted((a for a in map(_award, rows) if a.remaining > 0), key=lambda a: a.key)

    def add(self, entries: Sequence[Entry], draws: Sequence[Draw]) -> None:
        if entries:
            self._s.execute(
                _upsert(self._s)(_ENTRIES).on_conflict_do_nothing(),
                [
                    {
                        "key": x.key,
                        "brand_id": x.brand_id,
                        "holder": x.holder,
                        "kind": x.kind.value,
                        "amount": x.amount,
                        "at": x.at,
                        "cause": x.cause,
                        "rule": x.rule,
                        "certificate_id": x.certificate_id,
                        "batch_id": x.batch_id,
                        "expires_at": x.expires_at,
                        "withheld": x.withheld,
                    }
                    for x in entries
                ],
            )
        if draws:
            self._s.execute(
                _upsert(self._s)(_DRAWS).on_conflict_do_nothing(),
                [
                    {"entry_key": d.entry_key, "award_key": d.award_key, "amount": d.amount}
                    for d in draws
                ],
            )

    def balances(self, holder: str) -> dict[int, int]:
        e = _ENTRIES.c
        rows = self._s.execute(
            select(e.brand_id, func.sum(e.amount)).where(e.holder == holder).group_by(e.brand_id)
        )
        return {int(brand): int(total) for brand, total in rows}

    def history(self, holder: str, brand_id: int, offset: int, limit: int) -> list[Entry]:
        e = _ENTRIES.c
        rows = self._s.execute(
            select(_ENTRIES)
            .where(e.holder == holder, e.brand_id == brand_id)
            .order_by(e.at.desc(), e.key.desc())
            .offset(offset)
            .limit(limit)
        )
        return [
            Entry(
                r.key,
                int(r.brand_id),
                r.holder,
                EntryKind(r.kind),
                int(r.amount),
                r.at,
                r.cause,
                r.rule,
                r.certificate_id,
                r.batch_id,
                r.expires_at,
                int(r.withheld),
            )
            for r in rows
        ]

    def dump(self) -> dict[str, list[list[Any]]]:
        return dump_tables(self._s, (_ENTRIES, _DRAWS, _PROGRAMMES))

    def clear(self) -> None:
        for table in (_ENTRIES, _DRAWS, _PROGRAMMES):
            self._s.execute(delete(table))
