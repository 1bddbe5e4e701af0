"""The brand's funnel: how many subjects reached each stage of the journey, by month, region and
product. Brand marketing data: the brand and its auditors read their own brand's, an admin any
brand's; partners and consumers none."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from service.kernel.actor import Actor
from service.kernel.errors import InvalidRequestError, PermissionDeniedError
from service.kernel.idempotency import Idempotency
from service.kernel.ports import Clock
from service.kernel.roles import Role
from service.touchpoints.app.writes import AppliedWrites
from service.touchpoints.domain.events import JourneyRulesSet
from service.touchpoints.domain.journey import DEFAULT_RULES, rules_from_settings
from service.touchpoints.ports import TouchpointsUnitOfWork, TouchpointsUnitOfWorkFactory


def funnel_brand(actor: Actor, brand_id: int | None) -> int:
    """Whose funnel the caller reads: its own brand's; an admin must name the brand."""
    if actor.role is Role.ADMIN:
        if brand_id is None:
            raise InvalidRequestError("Name the brand: brand_id=<its organisation id>.")
        return brand_id
    if actor.role not in (Role.BRAND, Role.AUDITOR) or actor.brand_id is None:
        raise PermissionDeniedError(
            "Only the brand, its auditors or an admin read the brand's funnel."
        )
    if brand_id is not None and brand_id != actor.brand_id:
        raise PermissionDeniedError("You may read your own brand's funnel only; drop brand_id.")
    return actor.brand_id


def funnel(
    actor: Actor, uow: TouchpointsUnitOfWork, brand_id: int | None, offset: int, limit: int
) -> list[dict[str, Any]]:
    brand = funnel_brand(actor, brand_id)
    with uow:
        rows = uow.journeys.funnel(brand, offset, limit)
    return [
        {
            "period": r.period,
            "stage": r.stage.value,
            "region_code": r.region_code,
            "gtin": r.gtin,
            "subjects": r.subjects,
        }
        for r in rows
    ]


class FunnelUseCases:
    """The journey's use cases (the funnel, the brand's rules) with their unit-of-work factory
    and clock bound once in bootstrap."""

    def __init__(self, uows: TouchpointsUnitOfWorkFactory, clock: Clock) -> None:
        self.uows = uows
        self.writes = AppliedWrites(uows, clock)

    def rules(self, actor: Actor, brand_id: int | None) -> dict[str, Any]:
        """The brand's journey rules (the brand, its auditors; an admin names the brand)."""
        brand = funnel_brand(actor, brand_id)
        with self.uows.reader() as uow:
            settings = uow.journeys.rules([brand]).get(brand)
        rules = rules_from_settings(settings) if settings else DEFAULT_RULES
        return {"brand_id": brand, **rules.settings()}

    def set_rules(
        self, actor: Actor, settings: dict[str, Any], idempotency: Idempotency | None
    ) -> dict[str, Any]:
        """The brand sets its journey rules: an entry of the log, applied to what follows it
        (stages already reached stay reached)."""
        if actor.role is not Role.BRAND or actor.brand_id is None:
            raise PermissionDeniedError("Only the brand sets its journey rules.")
        brand_id = actor.brand_id
        rules = rules_from_settings(settings)
        writes = self.writes

        def work(uow: TouchpointsUnitOfWork, now: datetime) -> dict[str, Any] | None:
            index = writes.append(
                uow,
                lambda _: [JourneyRulesSet(brand_id, rules.settings(), actor.principal_id)],
                now,
            )
            if index is None:
                return None
            return {"brand_id": brand_id, **rules.settings(), "log_index": index}

        return writes.run(actor, idempotency, work)

    def funnel(
        self, actor: Actor, brand_id: int | None, offset: int, limit: int
    ) -> list[dict[str, Any]]:
        return funnel(actor, self.uows.reader(), brand_id, offset, limit)
