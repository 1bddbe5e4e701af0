from __future__ import annotations

from fastapi import APIRouter

from service.alerts.domain.alerts import AlertStatus
from service.api.deps import AlertsDep, ContainerDep, CurrentActor, page_limit
from service.api.schemas import AlertPublic, Limit, Offset

router = APIRouter(tags=["alerts"])


@router.get("/alerts", response_model=list[AlertPublic])
def list_alerts(
    actor: CurrentActor,
    alerts: AlertsDep,
    container: ContainerDep,
    status: AlertStatus | None = None,
    offset: Offset = 0,
    limit: Limit = None,
) -> list[AlertPublic]:
    """Alerts of your brand (brand, auditor; admins see all), newest first."""
    rows = alerts.list_alerts(actor, status, offset, page_limit(container, limit))
    return [AlertPublic.model_validate(r) for r in rows]
