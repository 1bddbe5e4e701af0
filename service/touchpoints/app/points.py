"""Points: a member's balances and history ("My points"), spending on a brand's rewards, a
brand's programme, and the expiry job.

A spend, a programme's settings and an expiry run are log entries applied at once, in log order
(``writes``): a spend sees every award and reversal before it, a rebuild makes the same ledger,
and concurrent spends of one balance are serialised by the log's lock, so it never goes
negative.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from service.kernel.actor import Actor
from service.kernel.errors import (
    InvalidRequestError,
    PermissionDeniedError,
)
from service.kernel.events import Event
from service.kernel.idempotency import Idempotency
from service.kernel.ports import Clock
from service.kernel.roles import Role
from service.touchpoints.app.funnel import funnel_brand
from service.touchpoints.app.projector import LOG_RANGE, PAGE
from service.touchpoints.app.writes import AppliedWrites, signed_in
from service.touchpoints.domain.errors import (
    PointsClosedError,
    UnknownRewardError,
)
from service.touchpoints.domain.events import PointsExpiryRan, PointsProgrammeSet, PointsSpent
from service.touchpoints.domain.journey import account_subject
from service.touchpoints.domain.points import (
    DEFAULT_PROGRAMME,
    Entry,
    Programme,
    allocate,
    programme_from_settings,
)
from service.touchpoints.ports import TouchpointsUnitOfWork, TouchpointsUnitOfWorkFactory

#: A spend applies what the feed has not applied yet; beyond this many log entries behind (after
#: a restart or a rebuild) it asks the client to come back instead of holding the log's lock.
MAX_CATCH_UP = PAGE * LOG_RANGE
#: Tries of a spend whose checkpoint the feed's own pass moved first.
ATTEMPTS = 5
#: Awards shown as expiring next in "My points".
EXPIRING_SHOWN = 5


def iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def entry_view(e: Entry) -> dict[str, Any]:
    return {
        "id": e.key,
        "kind": e.kind.value,
        "points": e.amount,
        "at": iso(e.at),
        "cause": e.cause,
        "rule": e.rule,
        "certificate_id": e.certificate_id,
        "expires_at": iso(e.expires_at),
        "withheld": e.withheld,
    }


def spendable(
    uow: TouchpointsUnitOfWork, holder: str, brand_id: int, balances: dict[int, int] | None = None
) -> int:
    """What the holder may spend with the brand: the sum of their entries less what is left
    in awards the screening has not released (pending, or held for review)."""
    total = (balances if balances is not None else uow.points.balances(holder)).get(brand_id, 0)
    return total - sum(uow.risk.held_points(brand_id, holder).values())


def programme_view(brand_id: int, programme: Programme) -> dict[str, Any]:
    return {"brand_id": brand_id, **programme.settings()}


class PointsUseCases:
    """Points' use cases with their unit-of-work factory and clock bound once in bootstrap."""

    def __init__(self, uows: TouchpointsUnitOfWorkFactory, clock: Clock) -> None:
        self.uows = uows
        #: The clock lives in ``writes`` (one clock, for the entries and the checks on them).
        self.writes = AppliedWrites(uows, clock)

    # ------------------------------------------------------------------ the consumer
    def _holder(self, actor: Actor, uow: TouchpointsUnitOfWork) -> str:
        return account_subject(signed_in(actor, uow, "Sign in to see and spend your points."))

    def my_points(self, actor: Actor) -> dict[str, Any]:
        """The consumer's points, brand by brand: balance, what expires next, the brand's
        rewards and the latest entries."""
        with self.uows.reader() as uow:
            holder = self._holder(actor, uow)
            balances = uow.points.balances(holder)
            names = uow.feed.brand_names(balances) if balances else {}
            settings = uow.points.programmes(balances) if balances else {}
            brands = []
            for brand_id in sorted(balances):
                programme = (
                    programme_from_settings(settings[brand_id])
                    if brand_id in settings
                    else DEFAULT_PROGRAMME
                )
                awards = sorted(
                    uow.points.open_awards(brand_id, holder), key=lambda a: (a.expires_at, a.key)
                )
                waiting = uow.risk.held_points(brand_id, holder)
                brands.append(
                    {
                        "brand_id": brand_id,
                        "brand": names.get(brand_id),
                        "balance": spendable(uow, holder, brand_id, balances),
                        "pending": waiting.get("pending", 0),
                        "held": waiting.get("held", 0),
                        "open": programme.enabled,
                        "expiring": [
                            {"points": a.remaining, "expires_at": iso(a.expires_at)}
                            for a in awards[:EXPIRING_SHOWN]
                        ],
                        "rewards": programme.settings()["rewards"] if programme.enabled else [],
                        "latest": [
                            entry_view(e) for e in uow.points.history(holder, brand_id, 0, 10)
                        ],
                    }
                )
        return {"brands": brands}

    def history(self, actor: Actor, brand_id: int, offset: int, limit: int) -> list[dict[str, Any]]:
        """The consumer's ledger entries of one brand, newest first."""
        with self.uows.reader() as uow:
            holder = self._holder(actor, uow)
            return [entry_view(e) for e in uow.points.history(holder, brand_id, offset, limit)]

    def spend(
        self, actor: Actor, brand_id: int, reward_id: str, idempotency: Idempotency | None
    ) -> dict[str, Any]:
        """Spend points on one of the brand's rewards; drawn from the awards that expire
        first. Needs an Idempotency-Key: a retried spend is answered, never spent twice."""
        if idempotency is None:
            raise InvalidRequestError(
                "A spend needs an Idempotency-Key header (any unique value per spend), so that "
                "a retry never spends twice."
            )
        spent: dict[str, Any] = {}

        def decide(uow: TouchpointsUnitOfWork) -> Event:
            settings = uow.points.programmes([brand_id]).get(brand_id)
            programme = programme_from_settings(settings) if settings else DEFAULT_PROGRAMME
            if not programme.enabled:
                raise PointsClosedError()
            reward = programme.reward(reward_id)
            if reward is None:
                raise UnknownRewardError()
            holder = spent["holder"]
            draws = allocate(uow.points.open_awards(brand_id, holder), reward.points)
            spent["reward"] = {"id": reward.id, "name": reward.name, "points": reward.points}
            spent["draws"] = draws
            return PointsSpent(
                brand_id, holder, reward.id, reward.points, [[k, n] for k, n in draws]
            )

        def work(uow: TouchpointsUnitOfWork, now: datetime) -> dict[str, Any] | None:
            spent["holder"] = self._holder(actor, uow)
            index = self.writes.append(uow, lambda u: [decide(u)], now)
            if index is None:
                return None
            return {
                "id": f"spend:{index}",
                "brand_id": brand_id,
                "reward": spent["reward"],
                "points": spent["reward"]["points"],
                "balance": spendable(uow, spent["holder"], brand_id),
                "draws": [{"award": k, "points": n} for k, n in spent["draws"]],
                "at": iso(now),
                "log_index": index,
            }

        return self.writes.run(actor, idempotency, work)

    # ------------------------------------------------------------------ the brand
    def programme(self, actor: Actor, brand_id: int | None) -> dict[str, Any]:
        """The brand's programme (the brand, its auditors; an admin names the brand)."""
        brand = funnel_brand(actor, brand_id)
        with self.uows.reader() as uow:
            settings = uow.points.programmes([brand]).get(brand)
        return programme_view(
            brand, programme_from_settings(settings) if settings else DEFAULT_PROGRAMME
        )

    def set_programme(
        self, actor: Actor, settings: dict[str, Any], idempotency: Idempotency | None
    ) -> dict[str, Any]:
        """The brand sets its programme; it applies to what the log holds after it (points
        already earned keep their amounts and expiry dates)."""
        if actor.role is not Role.BRAND or actor.brand_id is None:
            raise PermissionDeniedError("Only the brand sets its points programme.")
        brand_id = actor.brand_id
        programme = programme_from_settings(settings)

        def work(uow: TouchpointsUnitOfWork, now: datetime) -> dict[str, Any] | None:
            index = self.writes.append(
                uow,
                lambda _: [PointsProgrammeSet(brand_id, programme.settings(), actor.principal_id)],
                now,
            )
            if index is None:
                return None
            return {**programme_view(brand_id, programme), "log_index": index}

        return self.writes.run(actor, idempotency, work)

    # ------------------------------------------------------------------ the job
    def run_expiry(self, as_of: datetime | None = None) -> dict[str, Any]:
        """The expiry job: awards that have expired lose what is left of them, and bottles a
        full year more in storage earn their anniversary (as one log entry, applied at once)."""
        system = Actor("system:points-expiry", Role.ADMIN)
        when = as_of
        if when is not None and when > self.writes.clock.now():
            # A run as of a later time would move the job past awards not made yet.
            raise InvalidRequestError(
                "The expiry job runs as of now or an earlier time, never a later one."
            )

        def work(uow: TouchpointsUnitOfWork, now: datetime) -> dict[str, Any] | None:
            at = when or now
            index = self.writes.append(uow, lambda _: [PointsExpiryRan(at.isoformat())], now)
            if index is None:
                return None
            return {"as_of": at.isoformat(), "log_index": index}

        return self.writes.run(system, None, work)
