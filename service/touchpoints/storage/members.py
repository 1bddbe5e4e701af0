"""The brands' members and their consents on SQLAlchemy Core (projections of the log)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, delete, select, tuple_, update
from sqlalchemy.orm import Session

from service.touchpoints.domain.members import Consent, Purpose
from service.touchpoints.domain.risk import Level
from service.touchpoints.ports import Member
from service.touchpoints.storage.repositories import _chunks, _upsert, dump_tables
from service.touchpoints.storage.rows import ConsentRow, MemberRow, RiskRow

_MEMBERS = cast(Table, MemberRow.__table__)
_CONSENTS = cast(Table, ConsentRow.__table__)
_RISK = cast(Table, RiskRow.__table__)


def _member(row: Any) -> Member:
    return Member(
        int(row.brand_id), row.subject, row.public_id, row.since_at, row.since_cause, row.erased_at
    )


class SqlAlchemyMembersRepository:
    def __init__(self, session: Session) -> None:
        self._s = session

    def ensure(self, members: Sequence[Member]) -> None:
        earliest: dict[tuple[int, str], Member] = {}
        for m in members:
            kept = earliest.get((m.brand_id, m.subject))
            if kept is None or m.since_at < kept.since_at:
                earliest[(m.brand_id, m.subject)] = m
        if not earliest:
            return
        stmt = _upsert(self._s)(_MEMBERS)
        c = _MEMBERS.c
        self._s.execute(
            stmt.on_conflict_do_update(
                index_elements=[c.brand_id, c.subject],
                set_={"since_at": stmt.excluded.since_at, "since_cause": stmt.excluded.since_cause},
                where=tuple_(stmt.excluded.since_at, stmt.excluded.since_cause)
                < tuple_(c.since_at, c.since_cause),
            ),
            [
                {
                    "brand_id": m.brand_id,
                    "subject": m.subject,
                    "public_id": m.public_id,
                    "since_at": m.since_at,
                    "since_cause": m.since_cause,
                    "erased_at": None,
                }
                for _, m in sorted(earliest.items())
            ],
        )

    def record_consents(self, brand_subject_consents: Sequence[tuple[int, str, Consent]]) -> None:
        latest: dict[tuple[int, str, str], Consent] = {}
        for brand_id, subject, consent in brand_subject_consents:
            latest[(brand_id, subject, consent.purpose.value)] = consent
        if not latest:
            return
        stmt = _upsert(self._s)(_CONSENTS)
        c = _CONSENTS.c
        self._s.execute(
            stmt.on_conflict_do_update(
                index_elements=[c.brand_id, c.subject, c.purpose],
                set_={
                    k: stmt.excluded[k]
                    for k in ("granted", "at", "text_version", "channel", "cause")
                },
            ),
            [
                {
                    "brand_id": brand_id,
                    "subject": subject,
                    "purpose": purpose,
                    "granted": x.granted,
                    "at": x.at,
                    "text_version": x.text_version,
                    "channel": x.channel,
                    "cause": x.cause,
                }
                for (brand_id, subject, purpose), x in sorted(latest.items())
            ],
        )

    def erase(self, subject: str, at: datetime) -> None:
        self._s.execute(
            update(_MEMBERS)
            .where(_MEMBERS.c.subject == subject, _MEMBERS.c.erased_at.is_(None))
            .values(erased_at=at)
        )
        self._s.execute(
            update(_CONSENTS).where(_CONSENTS.c.subject == subject).values(granted=False)
        )

    def of_subject(self, subject: str) -> list[Member]:
        rows = self._s.execute(
            select(_MEMBERS).where(_MEMBERS.c.subject == subject).order_by(_MEMBERS.c.brand_id)
        )
        return [_member(r) for r in rows]

    def by_public_id(self, public_id: str) -> Member | None:
        row = self._s.execute(select(_MEMBERS).where(_MEMBERS.c.public_id == public_id)).first()
        return _member(row) if row is not None else None

    def consents(
        self, brand_id: int, subjects: Collection[str]
    ) -> dict[str, dict[Purpose, Consent]]:
        c = _CONSENTS.c
        found: dict[str, dict[Purpose, Consent]] = {}
        for chunk in _chunks(subjects):
            rows = self._s.execute(
                select(_CONSENTS).where(c.brand_id == brand_id, c.subject.in_(chunk))
            )
            for r in rows:
                found.setdefault(r.subject, {})[Purpose(r.purpose)] = Consent(
                    Purpose(r.purpose), bool(r.granted), r.at, r.text_version, r.channel, r.cause
                )
        return found

    def members(self, brand_id: int, offset: int, limit: int) -> list[Member]:
        m = _MEMBERS.c
        rows = self._s.execute(
            select(_MEMBERS)
            .where(m.brand_id == brand_id)
            .order_by(m.since_at, m.public_id)
            .offset(offset)
            .limit(limit)
        )
        return [_member(r) for r in rows]

    def granted(self, brand_id: int, purpose: Purpose, offset: int, limit: int) -> list[Member]:
        m, c, r = _MEMBERS.c, _CONSENTS.c, _RISK.c
        blacklisted = (
            select(r.subject)
            .where(r.brand_id == m.brand_id, r.subject == m.subject, r.level == Level.BLACK.value)
            .exists()
        )
        rows = self._s.execute(
            select(_MEMBERS)
            .join(_CONSENTS, (c.brand_id == m.brand_id) & (c.subject == m.subject))
            .where(
                m.brand_id == brand_id,
                m.erased_at.is_(None),
                c.purpose == purpose.value,
                c.granted.is_(True),
                ~blacklisted,
            )
            .order_by(m.since_at, m.public_id)
            .offset(offset)
            .limit(limit)
        )
        return [_member(r) for r in rows]

    def dump(self) -> dict[str, list[list[Any]]]:
        return dump_tables(self._s, (_MEMBERS, _CONSENTS))

    def clear(self) -> None:
        for table in (_MEMBERS, _CONSENTS):
            self._s.execute(delete(table))
