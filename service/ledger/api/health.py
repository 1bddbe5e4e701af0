from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from service.api.deps import ContainerDep

router = APIRouter(tags=["health"])


@router.get("/health", responses={503: {"description": "degraded"}})
def health(container: ContainerDep) -> JSONResponse:
    """Database, chain (identity, genesis mismatch, head), sender, the event log's last
    integrity pass (``log.log_integrity``: ok, failed or unchecked), the scan log, and how far
    the touchpoints' feed stands behind the log and the scan stream (``touchpoints``); 503 if
    degraded."""
    ok, body = container.health()
    return JSONResponse(body, status_code=200 if ok else 503)


@router.get("/chain")
def chain(container: ContainerDep) -> dict[str, Any]:
    """The chain identity, the recorded identity, the registry deployment and the sender."""
    info: dict[str, Any] = container.chain_info()
    return info
