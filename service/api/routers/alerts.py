from __future__ import annotations

from fastapi import APIRouter

from service.api.deps import ContainerDep, CurrentActor, ReadUowDep, page_limit
from service.api.schemas import AlertPublic, Limit, Offset
from service.app import distribution
from service.domain.alerts import AlertStatus

router = APIRouter(tags=["alerts"])


@router.get("/alerts", response_model=list[AlertPublic])
def list_alerts(
    actor: CurrentActor,
    uow: ReadUowDep,
    container: ContainerDep,
    status: AlertStatus | None = None,
    offset: Offset = 0,
    limit: Limit = None,
) -> list[AlertPublic]:
    """Alerts of your brand (brand, auditor; admins see all), newest first."""
    rows = distribution.list_alerts(actor, uow, status, offset, page_limit(container, limit))
    return [AlertPublic.model_validate(r) for r in rows]
