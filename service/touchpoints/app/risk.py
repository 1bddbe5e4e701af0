"""Anti-farming: the screening job, the brand's review queue and its reviews.

Every award starts pending. The screening job (the worker runs it every
``TRACECERT_RISK_SCREEN_INTERVAL_S``; ``tracecert touchpoints screen`` runs it by hand) takes the
members with pending awards, scores each from the evidence the feed keeps
(``service.touchpoints.domain.risk``), and appends one ``MembersScreened`` entry per brand and
page of members: clear releases the awards, grey holds them for the brand's review, black
forfeits what is left of every award. The brand reviews a case with a note (``RiskReviewed``):
clear releases what was held, black forfeits it and stops the member earning, grey keeps it
held. Both are log entries applied at once, in log order (``writes``), so a rebuild makes the
same decisions' effects, and each names the log entries and scans behind it.

A review stands until new evidence: after a clearing review only what happened since counts; a
blacklisting review stands until the brand clears the member.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from service.kernel.actor import Actor
from service.kernel.errors import InvalidRequestError, NotFoundError, PermissionDeniedError
from service.kernel.events import Event
from service.kernel.idempotency import Idempotency
from service.kernel.roles import Role
from service.touchpoints.app.funnel import funnel_brand
from service.touchpoints.app.writes import AppliedWrites
from service.touchpoints.domain.events import MembersScreened, RiskReviewed, RiskRulesSet
from service.touchpoints.domain.risk import (
    DEFAULT_RISK_RULES,
    Assessment,
    Level,
    RiskRules,
    assess,
    risk_rules_from_settings,
)
from service.touchpoints.ports import (
    RegionPlaces,
    RiskDecision,
    RiskState,
    TouchpointsUnitOfWork,
)

#: Members screened per log entry (and per transaction).
SCREEN_PAGE = 200
#: A review's note: what the brand's reviewer wrote, at most this long.
MAX_NOTE = 1000
SYSTEM = Actor("system:risk-screening", Role.ADMIN)


def iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def state_view(state: RiskState | None) -> dict[str, Any]:
    if state is None:
        return {
            "level": Level.CLEAR.value,
            "score": 0,
            "reasons": [],
            "decided_at": None,
            "cause": None,
            "reviewed_at": None,
            "review_level": None,
        }
    return {
        "level": state.level.value,
        "score": state.score,
        "reasons": state.reasons,
        "decided_at": iso(state.at),
        "cause": state.cause,
        "reviewed_at": iso(state.reviewed_at),
        "review_level": state.review_level.value if state.review_level else None,
    }


def decision_view(d: RiskDecision) -> dict[str, Any]:
    return {
        "kind": d.kind,
        "level": d.level.value,
        "score": d.score,
        "reasons": d.reasons,
        "note": d.note,
        "at": iso(d.at),
        "cause": d.cause,
    }


def member_risk(uow: TouchpointsUnitOfWork, brand_id: int, subject: str) -> dict[str, Any]:
    """A member's risk for the member view: as it stands, every decision, points held."""
    return {
        **state_view(uow.risk.risk(brand_id, subject)),
        "points": uow.risk.held_points(brand_id, subject),
        "decisions": [decision_view(d) for d in uow.risk.decisions(brand_id, subject)],
    }


def screened(
    state: RiskState | None, assessment: Assessment
) -> tuple[Level, int, list[dict[str, Any]]]:
    """The screening's decision: the assessment, unless the brand's review says otherwise (a
    blacklisting stands; a greylisting holds at least)."""
    if state is not None and state.review_level is Level.BLACK:
        return Level.BLACK, state.score, state.reasons
    level = assessment.level
    if state is not None and state.review_level is Level.GREY and level is Level.CLEAR:
        level = Level.GREY
    return level, assessment.score, assessment.reasons_json()


def settled(level: Level, awards: dict[str, list[str]]) -> list[str]:
    """The awards a decision at ``level`` settles: the pending ones; a clearing also releases
    the held ones; a blacklisting forfeits every award with points left."""
    wanted = {
        Level.CLEAR: ("pending", "held"),
        Level.GREY: ("pending",),
        Level.BLACK: ("pending", "held", "released"),
    }[level]
    return sorted(k for status in wanted for k in awards.get(status, []))


class RiskUseCases:
    def __init__(
        self,
        writes: AppliedWrites,
        places: RegionPlaces,
        rules: RiskRules = DEFAULT_RISK_RULES,
    ) -> None:
        self.writes = writes
        self.uows = writes.uows
        self.places = places
        self.rules = rules

    # ------------------------------------------------------------------ the job
    def screen(
        self, max_pages: int = 1000, progress: Callable[[int], None] | None = None
    ) -> dict[str, Any]:
        """Screen every member with pending awards, a page at a time (``progress`` is told how
        many so far); what was decided."""
        counts = {level.value: 0 for level in Level}
        entries: list[int] = []
        cursor: dict[str, Any] = {"after": None}
        for _ in range(max_pages):
            done = self.writes.run(
                SYSTEM, None, lambda uow, now: self._screen_page(uow, now, cursor)
            )
            decisions = done.get("decisions", [])
            if not decisions:
                break
            entries.append(int(done["log_index"]))
            for level in decisions:
                counts[level] += 1
            if progress is not None:
                progress(sum(counts.values()))
            if len(decisions) < SCREEN_PAGE:
                break
            if len(entries) == 1:
                # A backlog (after the migration, every award ever made waits once): the
                # tables were filled faster than the database's statistics follow.
                with self.uows() as uow:
                    uow.feed.refresh_statistics()
                    uow.commit()
        return {"screened": sum(counts.values()), "levels": counts, "log_indexes": entries}

    def _screen_page(
        self, uow: TouchpointsUnitOfWork, now: datetime, cursor: dict[str, Any]
    ) -> dict[str, Any] | None:
        """One page of members screened, in one transaction: their levels and the entry. The
        run's ``cursor`` moves past the page once it commits."""
        page: dict[str, Any] = {}
        index = self.writes.append(uow, lambda u: self._decide(u, page, cursor["after"]), now)
        if index is None:
            return None
        cursor["after"] = page.pop("after")
        return {"log_index": index, **page}

    def _decide(
        self, uow: TouchpointsUnitOfWork, page: dict[str, Any], after: Any
    ) -> Sequence[Event]:
        risk = uow.risk
        by_brand: dict[int, list[dict[str, Any]]] = {}
        levels: list[str] = []
        found, page["after"] = risk.unscreened(SCREEN_PAGE, after)
        set_rules = risk.rules({b for b, _ in found}) if found else {}
        rules = {b: risk_rules_from_settings(v) for b, v in set_rules.items()}
        # Read per brand for the whole page: a few statements, not a few per member.
        brands: dict[int, list[str]] = {}
        for brand_id, subject in found:
            brands.setdefault(brand_id, []).append(subject)
        read = {
            b: (risk.risks(b, xs), risk.evidence_of(b, xs), risk.awards_by_status_of(b, xs))
            for b, xs in brands.items()
        }
        for brand_id, subject in found:
            states, evidence, awards_of = read[brand_id]
            state = states.get(subject)
            since = state.reviewed_at if state is not None else None
            assessment = assess(
                evidence[subject], self.places, rules.get(brand_id, self.rules), since
            )
            level, score, reasons = screened(state, assessment)
            awards = settled(level, awards_of.get(subject, {}))
            by_brand.setdefault(brand_id, []).append(
                {
                    "account_id": subject.removeprefix("account:"),
                    "level": level.value,
                    "score": score,
                    "reasons": reasons,
                    "awards": awards,
                }
            )
            levels.append(level.value)
        page["decisions"] = levels
        return [MembersScreened(b, decisions) for b, decisions in sorted(by_brand.items())]

    # ------------------------------------------------------------------ the brand
    def risk_rules(self, actor: Actor, brand_id: int | None) -> dict[str, Any]:
        """The brand's risk rules (the brand, its auditors; an admin names the brand)."""
        brand = funnel_brand(actor, brand_id)
        with self.uows.reader() as uow:
            settings = uow.risk.rules([brand]).get(brand)
        rules = risk_rules_from_settings(settings) if settings else self.rules
        return {"brand_id": brand, **rules.settings()}

    def set_risk_rules(
        self, actor: Actor, settings: dict[str, Any], idempotency: Idempotency | None
    ) -> dict[str, Any]:
        """The brand sets its risk rules: an entry of the log; screenings after it use them
        (decisions already made stand)."""
        if actor.role is not Role.BRAND or actor.brand_id is None:
            raise PermissionDeniedError("Only the brand sets its risk rules.")
        brand_id = actor.brand_id
        rules = risk_rules_from_settings(settings)

        def work(uow: TouchpointsUnitOfWork, now: datetime) -> dict[str, Any] | None:
            index = self.writes.append(
                uow, lambda _: [RiskRulesSet(brand_id, rules.settings(), actor.principal_id)], now
            )
            if index is None:
                return None
            return {"brand_id": brand_id, **rules.settings(), "log_index": index}

        return self.writes.run(actor, idempotency, work)

    def queue(
        self,
        actor: Actor,
        brand_id: int | None,
        levels: Sequence[Level],
        offset: int,
        limit: int,
    ) -> list[dict[str, Any]]:
        """The review queue: members at these levels (grey by default), the latest decided
        first, with their reasons and the points held."""
        brand = funnel_brand(actor, brand_id)
        with self.uows.reader() as uow:
            states = uow.risk.queue(brand, levels or (Level.GREY,), offset, limit)
            out = []
            for state in states:
                member = uow.members.of_subject(state.subject)
                public_id = next((m.public_id for m in member if m.brand_id == brand), None)
                out.append(
                    {
                        "member_id": public_id,
                        **state_view(state),
                        "points": uow.risk.held_points(brand, state.subject),
                    }
                )
        return out

    def review(
        self,
        actor: Actor,
        member_id: str,
        level: Level,
        note: str,
        idempotency: Idempotency | None,
    ) -> dict[str, Any]:
        """The brand decides a member's case: clear, keep grey (held), or blacklist."""
        if actor.role is not Role.BRAND or actor.brand_id is None:
            raise PermissionDeniedError("Only the brand reviews its members' cases.")
        brand_id = actor.brand_id
        note = note.strip()
        if not note or len(note) > MAX_NOTE:
            raise InvalidRequestError(
                f"Say why in the note (1 to {MAX_NOTE} characters): the decision is kept with it."
            )

        def work(uow: TouchpointsUnitOfWork, now: datetime) -> dict[str, Any] | None:
            member = uow.members.by_public_id(member_id)
            if member is None or member.brand_id != brand_id:
                raise NotFoundError("Your brand has no member with this id.")
            if member.erased_at is not None:
                raise NotFoundError("This member's account was erased; there is nothing to review.")
            subject = member.subject

            def decide(u: TouchpointsUnitOfWork) -> Sequence[Event]:
                state = u.risk.risk(brand_id, subject)
                return [
                    RiskReviewed(
                        brand_id,
                        subject.removeprefix("account:"),
                        level.value,
                        note,
                        actor.principal_id,
                        state.score if state is not None else 0,
                        state.reasons if state is not None else [],
                        settled(level, u.risk.awards_by_status(brand_id, subject)),
                    )
                ]

            index = self.writes.append(uow, decide, now)
            if index is None:
                return None
            return {
                "member_id": member_id,
                "log_index": index,
                **member_risk(uow, brand_id, subject),
            }

        return self.writes.run(actor, idempotency, work)
