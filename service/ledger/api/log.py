from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from service.api.deps import ContainerDep, CurrentActor, page_limit, use_cases
from service.api.schemas import Limit
from service.ledger.api.schemas import (
    ConsistencyProofPublic,
    InclusionProofPublic,
    LogEventPublic,
    LogPublic,
)
from service.ledger.app.log import LogUseCases

LogDep = Annotated[LogUseCases, Depends(use_cases("log"))]

router = APIRouter(prefix="/log", tags=["event log"])

Size = Annotated[int | None, Query(ge=0, le=2**62)]


@router.get("", response_model=LogPublic)
def log_status(actor: CurrentActor, log: LogDep) -> LogPublic:
    """Log size, current root, the latest anchors beside the roots on chain, and the last
    integrity pass (a disagreement with an anchored root is flagged in ``problem``)."""
    view = log.status(actor)
    return LogPublic.model_validate(view)


@router.get("/events", response_model=list[LogEventPublic], response_model_exclude_none=True)
def log_events(
    actor: CurrentActor,
    log: LogDep,
    container: ContainerDep,
    offset: Annotated[int, Query(ge=0, le=2**62)] = 0,
    limit: Limit = None,
) -> list[LogEventPublic]:
    """Events in log order, from ``offset``."""
    entries = log.events(actor, offset, page_limit(container, limit))
    return [LogEventPublic.model_validate(e) for e in entries]


@router.get("/proofs/inclusion", response_model=InclusionProofPublic)
def inclusion_proof(
    actor: CurrentActor,
    log: LogDep,
    index: Annotated[int, Query(ge=0, le=2**62)],
    size: Size = None,
) -> InclusionProofPublic:
    """RFC 6962 inclusion proof of entry ``index`` in the tree of ``size`` (default: now)."""
    view = log.inclusion_proof(actor, index, size)
    return InclusionProofPublic.model_validate(view)


@router.get("/proofs/consistency", response_model=ConsistencyProofPublic)
def consistency_proof(
    actor: CurrentActor,
    log: LogDep,
    old_size: Annotated[int, Query(ge=1, le=2**62)],
    new_size: Size = None,
) -> ConsistencyProofPublic:
    """RFC 6962 consistency proof between two tree sizes (``new_size`` default: now)."""
    view = log.consistency_proof(actor, old_size, new_size)
    return ConsistencyProofPublic.model_validate(view)
