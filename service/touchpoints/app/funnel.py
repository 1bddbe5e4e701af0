"""The brand's funnel: how many subjects reached each stage of the journey, by month, region and
product. Brand marketing data: the brand and its auditors read their own brand's, an admin any
brand's; partners and consumers none."""

from __future__ import annotations

from typing import Any

from service.kernel.actor import Actor
from service.kernel.errors import InvalidRequestError, PermissionDeniedError
from service.kernel.roles import Role
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
    """The funnel's use case with its unit-of-work factory bound once in bootstrap."""

    def __init__(self, uows: TouchpointsUnitOfWorkFactory) -> None:
        self.uows = uows

    def funnel(
        self, actor: Actor, brand_id: int | None, offset: int, limit: int
    ) -> list[dict[str, Any]]:
        return funnel(actor, self.uows.reader(), brand_id, offset, limit)
