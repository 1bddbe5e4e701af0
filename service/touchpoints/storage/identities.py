"""One-ID's tables on SQLAlchemy Core: identities asserted for members (by reference), their
values (a source table, deleted with the person), merges and blocked values (projections of the
log)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, delete, select, update
from sqlalchemy.orm import Session

from service.touchpoints.domain.identities import Merge
from service.touchpoints.ports import IdentityLink, MergeRecord
from service.touchpoints.storage.repositories import _chunks, _upsert, dump_tables
from service.touchpoints.storage.rows import BlockedRow, IdentityRow, IdentityValueRow, MergeRow

_IDENTITIES = cast(Table, IdentityRow.__table__)
_VALUES = cast(Table, IdentityValueRow.__table__)
_MERGES = cast(Table, MergeRow.__table__)
_BLOCKED = cast(Table, BlockedRow.__table__)


class SqlAlchemyIdentitiesRepository:
    def __init__(self, session: Session) -> None:
        self._s = session

    # ------------------------------------------------------------------ the projector's writes
    def link(self, links: Sequence[IdentityLink]) -> None:
        if not links:
            return
        self._s.execute(
            _upsert(self._s)(_IDENTITIES).on_conflict_do_nothing(),
            [
                {
                    "brand_id": x.brand_id,
                    "kind": x.kind,
                    "ref": x.ref,
                    "subject": x.subject,
                    "proof": x.proof,
                    "at": x.at,
                    "cause": x.cause,
                }
                for x in links
            ],
        )

    def merged(self, brand_id: int, merge: Merge, at: datetime) -> None:
        self._s.execute(
            _upsert(self._s)(_MERGES).on_conflict_do_nothing(),
            [
                {
                    "brand_id": brand_id,
                    "cause": merge.id,
                    "survivor": merge.survivor,
                    "merged": merge.merged,
                    "reason": merge.reason,
                    "at": at,
                    "undone_at": None,
                    "undone_cause": None,
                }
            ],
        )

    def unmerged(self, brand_id: int, merge_id: str, at: datetime, cause: str) -> None:
        m = _MERGES.c
        self._s.execute(
            update(_MERGES)
            .where(m.brand_id == brand_id, m.cause == merge_id, m.undone_at.is_(None))
            .values(undone_at=at, undone_cause=cause)
        )

    def block(self, brand_id: int, kind: str, ref: str, at: datetime, cause: str) -> None:
        self._s.execute(
            _upsert(self._s)(_BLOCKED).on_conflict_do_nothing(),
            [{"brand_id": brand_id, "kind": kind, "ref": ref, "at": at, "cause": cause}],
        )

    def erase(self, subject: str) -> None:
        """The person behind ``subject`` had their account erased: their identities and values
        go (merges stay, naming accounts that name nobody now)."""
        i, v = _IDENTITIES.c, _VALUES.c
        rows = self._s.execute(select(i.brand_id, i.kind, i.ref).where(i.subject == subject))
        for brand_id, kind, ref in rows.all():
            self._s.execute(
                delete(_VALUES).where(v.brand_id == brand_id, v.kind == kind, v.ref == ref)
            )
        self._s.execute(delete(_IDENTITIES).where(i.subject == subject))

    # ------------------------------------------------------------------ the use cases' writes
    def put_value(self, brand_id: int, kind: str, ref: str, value: str) -> None:
        stmt = _upsert(self._s)(_VALUES)
        self._s.execute(
            stmt.on_conflict_do_update(
                index_elements=[_VALUES.c.brand_id, _VALUES.c.kind, _VALUES.c.ref],
                set_={"value": stmt.excluded.value},
            ),
            [{"brand_id": brand_id, "kind": kind, "ref": ref, "value": value}],
        )

    # ------------------------------------------------------------------ reads
    def holders(self, brand_id: int, kind: str, ref: str) -> list[str]:
        i = _IDENTITIES.c
        return sorted(
            self._s.scalars(
                select(i.subject).where(i.brand_id == brand_id, i.kind == kind, i.ref == ref)
            )
        )

    def of_subjects(self, brand_id: int, subjects: Collection[str]) -> list[IdentityLink]:
        i = _IDENTITIES.c
        found: list[IdentityLink] = []
        for chunk in _chunks(subjects):
            rows = self._s.execute(
                select(_IDENTITIES)
                .where(i.brand_id == brand_id, i.subject.in_(chunk))
                .order_by(i.at, i.kind, i.ref)
            )
            found += [
                IdentityLink(r.brand_id, r.kind, r.ref, r.subject, r.proof, r.at, r.cause)
                for r in rows
            ]
        return found

    def values(
        self, brand_id: int, refs: Collection[tuple[str, str]]
    ) -> dict[tuple[str, str], str]:
        v = _VALUES.c
        found: dict[tuple[str, str], str] = {}
        for kind, ref in refs:
            value = self._s.scalar(
                select(v.value).where(v.brand_id == brand_id, v.kind == kind, v.ref == ref)
            )
            if value is not None:
                found[(kind, ref)] = value
        return found

    def is_blocked(self, brand_id: int, kind: str, ref: str) -> bool:
        b = _BLOCKED.c
        return (
            self._s.scalar(
                select(b.ref).where(b.brand_id == brand_id, b.kind == kind, b.ref == ref)
            )
            is not None
        )

    def standing(self, brand_id: int) -> list[Merge]:
        """The brand's merges that stand (not undone), in log order."""
        m = _MERGES.c
        rows = self._s.execute(
            select(m.cause, m.survivor, m.merged, m.reason, m.at)
            .where(m.brand_id == brand_id, m.undone_at.is_(None))
            .order_by(m.at, m.cause)
        )
        return [
            Merge(cause, survivor, merged, reason) for cause, survivor, merged, reason, _ in rows
        ]

    def merges_of(self, brand_id: int, subjects: Collection[str]) -> list[MergeRecord]:
        """Every merge (undone ones too) that names one of ``subjects``, in log order."""
        m = _MERGES.c
        found: dict[str, MergeRecord] = {}
        for chunk in _chunks(subjects):
            rows = self._s.execute(
                select(_MERGES).where(
                    m.brand_id == brand_id, m.survivor.in_(chunk) | m.merged.in_(chunk)
                )
            )
            for r in rows:
                found[r.cause] = MergeRecord(
                    r.cause, r.survivor, r.merged, r.reason, r.at, r.undone_at, r.undone_cause
                )
        return sorted(found.values(), key=lambda x: (x.at, x.id))

    def dump(self) -> dict[str, list[list[Any]]]:
        return dump_tables(self._s, (_IDENTITIES, _MERGES, _BLOCKED))

    def clear(self) -> None:
        """Forget the projections (the values stay: they are no projection)."""
        for table in (_IDENTITIES, _MERGES, _BLOCKED):
            self._s.execute(delete(table))
