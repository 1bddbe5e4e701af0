from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from service.api.deps import ContainerDep, CurrentActor, ReadUowDep, page_limit
from service.api.schemas import AlertPublic
from service.app import distribution

router = APIRouter(tags=["alerts"])


@router.get("/alerts", response_model=list[AlertPublic])
def list_alerts(
    actor: CurrentActor,
    uow: ReadUowDep,
    container: ContainerDep,
    status: Annotated[str | None, Query(max_length=16)] = None,
    offset: Annotated[int, Query(ge=0, le=2**31)] = 0,
    limit: Annotated[int | None, Query(ge=1)] = None,
) -> list[AlertPublic]:
    """Alerts of your brand (brand, auditor; admins see all), newest first."""
    rows = distribution.list_alerts(actor, uow, status, offset, page_limit(container, limit))
    return [AlertPublic.model_validate(r) for r in rows]
