"""The touchpoints' routes: the brand's funnel."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends

from service.api.deps import ContainerDep, CurrentActor, page_limit, use_cases
from service.api.schemas import IdQuery, Limit, Offset, Public
from service.touchpoints.app.funnel import FunnelUseCases

TouchpointsDep = Annotated[FunnelUseCases, Depends(use_cases("funnel"))]

router = APIRouter(tags=["touchpoints"])


class FunnelRowPublic(Public):
    #: The month the stage was reached in (UTC), ``YYYY-MM``.
    period: str
    stage: Literal["discover", "activate", "convert", "use_share", "loyal"]
    region_code: str | None
    gtin: str | None
    #: Subjects (members, wallets, anonymous devices) that reached the stage then, there, for
    #: that product.
    subjects: int


@router.get("/touchpoints/funnel", response_model=list[FunnelRowPublic])
def funnel(
    actor: CurrentActor,
    touchpoints: TouchpointsDep,
    container: ContainerDep,
    brand_id: IdQuery = None,
    offset: Offset = 0,
    limit: Limit = None,
) -> list[FunnelRowPublic]:
    """Your brand's journey funnel (brand, auditor; an admin names ``brand_id``): how many
    subjects reached each stage, by month, region and product, as the touchpoints' feed has
    applied the event log and the scans so far (its lag is in ``GET /health``)."""
    rows = touchpoints.funnel(actor, brand_id, offset, page_limit(container, limit))
    return [FunnelRowPublic.model_validate(r) for r in rows]
