"""Anti-farming's tables on SQLAlchemy Core: the sightings the screening reads, each award's
screening status, and each member's risk with its decisions (projections of the log and the
scan stream)."""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from datetime import datetime
from itertools import groupby
from typing import Any, cast

from sqlalchemy import Table, delete, func, select, tuple_
from sqlalchemy.orm import Session

from service.kernel.events import canonical_json
from service.touchpoints.domain.points import EntryKind
from service.touchpoints.domain.risk import Evidence, Level, Sighting
from service.touchpoints.ports import AwardStatus, RiskDecision, RiskState
from service.touchpoints.storage.points import taken
from service.touchpoints.storage.repositories import _chunks, _upsert, put_brand_settings
from service.touchpoints.storage.rows import (
    AwardStatusRow,
    PointsEntryRow,
    RiskDecisionRow,
    RiskRow,
    RiskRulesRow,
    SightingRow,
)

_SIGHTINGS = cast(Table, SightingRow.__table__)
_STATUS = cast(Table, AwardStatusRow.__table__)
_RISK = cast(Table, RiskRow.__table__)
_DECISIONS = cast(Table, RiskDecisionRow.__table__)
_RULES = cast(Table, RiskRulesRow.__table__)
_ENTRIES = cast(Table, PointsEntryRow.__table__)


def _sighting(row: Any) -> Sighting:
    return Sighting(
        row.kind,
        row.subject,
        bytes(row.device) if row.device is not None else None,
        row.item,
        row.at,
        row.cause,
        row.region_code,
        row.verdict,
        row.other,
    )


def _state(row: Any) -> RiskState:
    return RiskState(
        int(row.brand_id),
        row.subject,
        Level(row.level),
        int(row.score),
        json.loads(row.reasons),
        row.at,
        row.cause,
        row.reviewed_at,
        Level(row.review_level) if row.review_level is not None else None,
    )


class SqlAlchemyRiskRepository:
    def __init__(self, session: Session) -> None:
        self._s = session

    # ------------------------------------------------------------------ the projector's writes
    def add_sightings(self, brand_sightings: Sequence[tuple[int, Sighting]]) -> None:
        if not brand_sightings:
            return
        self._s.execute(
            _upsert(self._s)(_SIGHTINGS).on_conflict_do_nothing(),
            [
                {
                    "brand_id": brand_id,
                    "kind": s.kind,
                    "subject": s.subject,
                    "other": s.other,
                    "device": s.device,
                    "item": s.item,
                    "verdict": s.verdict,
                    "region_code": s.region,
                    "at": s.at,
                    "cause": s.cause,
                }
                for brand_id, s in brand_sightings
            ],
        )

    def put_statuses(self, statuses: Sequence[AwardStatus]) -> None:
        if not statuses:
            return
        stmt = _upsert(self._s)(_STATUS)
        self._s.execute(
            stmt.on_conflict_do_update(
                index_elements=[_STATUS.c.award_key],
                set_={k: stmt.excluded[k] for k in ("status", "at", "cause")},
            ),
            [
                {"award_key": x.award_key, "status": x.status, "at": x.at, "cause": x.cause}
                for x in statuses
            ],
        )

    def decide(self, decisions: Sequence[RiskDecision]) -> None:
        """Record each decision, and make it the member's risk as it stands."""
        if not decisions:
            return
        rows = [
            {
                "cause": d.cause,
                "brand_id": d.brand_id,
                "subject": d.subject,
                "kind": d.kind,
                "level": d.level.value,
                "score": d.score,
                "reasons": canonical_json(d.reasons).decode("utf-8"),
                "note": d.note,
                "at": d.at,
            }
            for d in decisions
        ]
        self._s.execute(_upsert(self._s)(_DECISIONS).on_conflict_do_nothing(), rows)
        # In log order: a run of screenings, then of reviews, and so on.
        for kind, run in groupby(decisions, key=lambda d: d.kind):
            latest = {(d.brand_id, d.subject): d for d in run}
            stmt = _upsert(self._s)(_RISK)
            kept = ["level", "score", "reasons", "at", "cause"]
            if kind == "review":  # a screening leaves the brand's last review as it is
                kept += ["reviewed_at", "review_level"]
            self._s.execute(
                stmt.on_conflict_do_update(
                    index_elements=[_RISK.c.brand_id, _RISK.c.subject],
                    set_={k: stmt.excluded[k] for k in kept},
                ),
                [
                    {
                        "brand_id": d.brand_id,
                        "subject": d.subject,
                        "level": d.level.value,
                        "score": d.score,
                        "reasons": canonical_json(d.reasons).decode("utf-8"),
                        "reviewed_at": d.at if kind == "review" else None,
                        "review_level": d.level.value if kind == "review" else None,
                        "at": d.at,
                        "cause": d.cause,
                    }
                    for _, d in sorted(latest.items())
                ],
            )

    def erase(self, subject: str) -> None:
        """The person behind ``subject`` had their account erased: what was seen of them goes
        (counts stay in the funnel), and their risk names nothing they did."""
        s = _SIGHTINGS.c
        self._s.execute(delete(_SIGHTINGS).where(s.subject == subject))
        self._s.execute(delete(_SIGHTINGS).where(s.other == subject))
        self._s.execute(delete(_DECISIONS).where(_DECISIONS.c.subject == subject))
        self._s.execute(delete(_RISK).where(_RISK.c.subject == subject))

    def put_rules(self, brand_id: int, settings: dict[str, Any], at: datetime, cause: str) -> None:
        put_brand_settings(self._s, _RULES, brand_id, settings, at, cause)

    def rules(self, brand_ids: Collection[int]) -> dict[int, dict[str, Any]]:
        r = _RULES.c
        rows = self._s.execute(
            select(r.brand_id, r.settings).where(r.brand_id.in_(sorted(brand_ids)))
        )
        return {int(brand): json.loads(settings) for brand, settings in rows}

    # ------------------------------------------------------------------ the screening's reads
    def levels(self, subjects: Collection[str]) -> dict[tuple[int, str], Level]:
        r = _RISK.c
        found: dict[tuple[int, str], Level] = {}
        for chunk in _chunks(subjects):
            rows = self._s.execute(
                select(r.brand_id, r.subject, r.level).where(r.subject.in_(chunk))
            )
            for brand_id, subject, level in rows:
                found[(int(brand_id), subject)] = Level(level)
        return found

    def unscreened(
        self, limit: int, after: tuple[datetime, str] | None = None
    ) -> tuple[list[tuple[int, str]], tuple[datetime, str] | None]:
        """Members (brand, subject) with awards waiting for screening, the longest waiting
        first, and where the read stopped: read from the oldest pending awards by the status's
        index, a bounded range however many wait. ``after`` (where the last page stopped) skips
        what the run settled already: PostgreSQL keeps their old index entries until a vacuum,
        and a backlog's later pages would read them all again."""
        e, st = _ENTRIES.c, _STATUS.c
        found: dict[tuple[int, str], None] = {}
        while len(found) < limit:
            query = (
                select(st.at, st.award_key, e.brand_id, e.holder)
                .join(_ENTRIES, e.key == st.award_key)
                .where(st.status == "pending")
                .order_by(st.at, st.award_key)
                .limit(limit * 4)
            )
            if after is not None:
                query = query.where(tuple_(st.at, st.award_key) > tuple_(*after))
            rows = self._s.execute(query).all()
            for at, key, brand_id, holder in rows:
                after = (at, key)
                found.setdefault((int(brand_id), holder), None)
                if len(found) >= limit:
                    break
            if len(rows) < limit * 4:
                break
        return list(found), after

    def awards_by_status(self, brand_id: int, subject: str) -> dict[str, list[str]]:
        """The member's awards by status: every pending one, the others with points left."""
        return self.awards_by_status_of(brand_id, [subject]).get(subject, {})

    def awards_by_status_of(
        self, brand_id: int, subjects: Collection[str]
    ) -> dict[str, dict[str, list[str]]]:
        e, st = _ENTRIES.c, _STATUS.c
        found: dict[str, dict[str, list[str]]] = {}
        for chunk in _chunks(subjects):
            rows = self._s.execute(
                select(e.holder, e.key, func.coalesce(st.status, "pending"), e.amount - taken())
                .outerjoin(_STATUS, st.award_key == e.key)
                .where(
                    e.holder.in_(chunk),
                    e.brand_id == brand_id,
                    e.kind == EntryKind.EARN.value,
                    e.amount > 0,
                )
                .order_by(e.key)
            )
            for holder, key, status, left in rows:
                # Every pending award (one a recall emptied is settled too); the others only
                # while points are left in them.
                if status == "pending" or (status != "forfeited" and left > 0):
                    found.setdefault(holder, {}).setdefault(status, []).append(key)
        return found

    def evidence(self, brand_id: int, subject: str) -> Evidence:
        return self.evidence_of(brand_id, [subject])[subject]

    def evidence_of(self, brand_id: int, subjects: Collection[str]) -> dict[str, Evidence]:
        """Each member's evidence, read for them all at once (a few statements a page)."""
        s = _SIGHTINGS.c
        wanted = sorted(set(subjects))
        own: dict[str, list[Sighting]] = {x: [] for x in wanted}
        for chunk in _chunks(wanted):
            rows = self._s.execute(
                select(_SIGHTINGS).where(s.brand_id == brand_id, s.subject.in_(chunk))
            )
            for r in rows:
                own[r.subject].append(_sighting(r))
        devices = sorted(
            {x.device for xs in own.values() for x in xs if x.kind == "claim" and x.device}
        )
        by_device: dict[bytes, list[Sighting]] = {}
        accounts: dict[bytes, set[str]] = {}
        for start in range(0, len(devices), 500):
            chunk_d = devices[start : start + 500]
            for r in self._s.execute(
                select(_SIGHTINGS).where(s.brand_id == brand_id, s.device.in_(chunk_d))
            ):
                seen = _sighting(r)
                assert seen.device is not None
                by_device.setdefault(seen.device, []).append(seen)
                if seen.kind == "claim" and seen.subject is not None:
                    accounts.setdefault(seen.device, set()).add(seen.subject)
        referred = sorted(
            {x.other for xs in own.values() for x in xs if x.kind == "referral" and x.other}
        )
        referred_devices: dict[str, set[bytes]] = {}
        for chunk in _chunks(referred):
            rows = self._s.execute(
                select(s.subject, s.device).where(
                    s.brand_id == brand_id,
                    s.kind == "claim",
                    s.subject.in_(chunk),
                    s.device.is_not(None),
                )
            )
            for who, device in rows:
                referred_devices.setdefault(who, set()).add(bytes(device))
        referred_by: dict[str, set[str]] = {}
        for chunk in _chunks(wanted):
            rows = self._s.execute(
                select(s.other, s.subject).where(
                    s.brand_id == brand_id, s.kind == "referral", s.other.in_(chunk)
                )
            )
            for whom, who in rows:
                if who is not None:
                    referred_by.setdefault(whom, set()).add(who)
        found: dict[str, Evidence] = {}
        for subject in wanted:
            mine = {x.device for x in own[subject] if x.kind == "claim" and x.device}
            found[subject] = Evidence(
                subject,
                own[subject],
                [x for d in sorted(mine) for x in by_device.get(d, [])],
                {d: len(accounts.get(d, ())) for d in mine},
                {
                    x.other: frozenset(referred_devices.get(x.other, ()))
                    for x in own[subject]
                    if x.kind == "referral" and x.other
                },
                frozenset(referred_by.get(subject, ())),
            )
        return found

    def risk(self, brand_id: int, subject: str) -> RiskState | None:
        return self.risks(brand_id, [subject]).get(subject)

    def risks(self, brand_id: int, subjects: Collection[str]) -> dict[str, RiskState]:
        r = _RISK.c
        found: dict[str, RiskState] = {}
        for chunk in _chunks(subjects):
            rows = self._s.execute(
                select(_RISK).where(r.brand_id == brand_id, r.subject.in_(chunk))
            )
            found.update({row.subject: _state(row) for row in rows})
        return found

    def queue(
        self, brand_id: int, levels: Collection[Level], offset: int, limit: int
    ) -> list[RiskState]:
        """Members of these levels, the latest decided first (the review queue)."""
        r = _RISK.c
        rows = self._s.execute(
            select(_RISK)
            .where(r.brand_id == brand_id, r.level.in_(sorted(x.value for x in levels)))
            .order_by(r.at.desc(), r.subject)
            .offset(offset)
            .limit(limit)
        )
        return [_state(row) for row in rows]

    def decisions(self, brand_id: int, subject: str) -> list[RiskDecision]:
        c = _DECISIONS.c
        rows = self._s.execute(
            select(_DECISIONS)
            .where(c.brand_id == brand_id, c.subject == subject)
            .order_by(c.at, c.cause)
        )
        return [
            RiskDecision(
                row.cause,
                int(row.brand_id),
                row.subject,
                row.kind,
                Level(row.level),
                int(row.score),
                json.loads(row.reasons),
                row.note,
                row.at,
            )
            for row in rows
        ]

    def held_points(self, brand_id: int, subject: str) -> dict[str, int]:
        """Points left in the member's awards that are not released, by status."""
        e, st = _ENTRIES.c, _STATUS.c
        status = func.coalesce(st.status, "pending")
        rows = self._s.execute(
            select(status, func.sum(e.amount - taken()))
            .outerjoin(_STATUS, st.award_key == e.key)
            .where(e.holder == subject, e.brand_id == brand_id, e.kind == EntryKind.EARN.value)
            .group_by(status)
        )
        return {str(k): int(n or 0) for k, n in rows if k != "released"}

    # ------------------------------------------------------------------ rebuild
    def dump(self) -> dict[str, list[list[Any]]]:
        """Every row in a canonical order (a sighting's row id depends on how the sources were
        interleaved, so it is left out)."""
        out: dict[str, list[list[Any]]] = {}
        s = _SIGHTINGS.c
        rows = self._s.execute(
            select(
                s.cause,
                s.kind,
                s.brand_id,
                s.subject,
                s.other,
                s.device,
                s.item,
                s.verdict,
                s.region_code,
                s.at,
            ).order_by(s.cause, s.kind)
        )
        out[_SIGHTINGS.name] = [_plain(row) for row in rows]
        for table in (_STATUS, _RISK, _DECISIONS, _RULES):
            rows = self._s.execute(select(table).order_by(*table.primary_key.columns))
            out[table.name] = [_plain(row) for row in rows]
        return out

    def clear(self) -> None:
        for table in (_SIGHTINGS, _STATUS, _RISK, _DECISIONS, _RULES):
            self._s.execute(delete(table))


def _plain(row: Any) -> list[Any]:
    return [
        v.isoformat() if isinstance(v, datetime) else v.hex() if isinstance(v, bytes) else v
        for v in row
    ]
