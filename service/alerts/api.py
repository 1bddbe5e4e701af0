"""The alerts' routes: the list of alerts (tag ``alerts``), one alert and its status (tag
``distribution``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends
from pydantic import Field

from service.alerts.app import AlertUseCases
from service.alerts.domain.alerts import AlertStatus
from service.api.deps import ContainerDep, CurrentActor, page_limit, use_cases
from service.api.schemas import IdPath, Limit, Offset, Public, Strict

AlertsDep = Annotated[AlertUseCases, Depends(use_cases("alerts"))]


# ----------------------------------------------------------------------------- bodies
class AlertPublic(Public):
    id: int
    kind: str
    status: str
    serial: str | None
    detail: dict[str, Any]
    count: int
    responsible_id: int | None = None
    scanner_id: int | None = None
    note: str | None = None
    first_seen_at: datetime | None
    last_seen_at: datetime | None


class AlertStatusUpdate(Strict):
    status: Literal["confirmed", "dismissed"]
    note: str | None = Field(default=None, max_length=2000)


# ----------------------------------------------------------------------------- the list
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


# ----------------------------------------------------------------------------- one alert
# Tagged as the channel's routes were (the OpenAPI document names them there); api/app.py
# includes this router right after the channel's, where these two routes always stood.
case_router = APIRouter(tags=["distribution"])


@case_router.get("/alerts/{alert_id}", response_model=AlertPublic)
def get_alert(alert_id: IdPath, actor: CurrentActor, alerts: AlertsDep) -> AlertPublic:
    """One alert with its evidence (for a diversion: the chain of custody)."""
    return AlertPublic.model_validate(alerts.get_alert(actor, alert_id))


@case_router.post("/alerts/{alert_id}/status", response_model=AlertPublic)
def set_alert_status(
    alert_id: IdPath,
    body: AlertStatusUpdate,
    actor: CurrentActor,
    alerts: AlertsDep,
) -> AlertPublic:
    """Confirm or dismiss an open alert, with a note (brand, auditor, admin)."""
    view = alerts.set_alert_status(actor, alert_id, body.status, body.note)
    return AlertPublic.model_validate(view)
