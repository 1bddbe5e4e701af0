from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from service.api.deps import ContainerDep, CurrentActor, ReadUowDep, page_limit
from service.api.schemas import (
    ConsistencyProofPublic,
    InclusionProofPublic,
    Limit,
    LogEventPublic,
    LogPublic,
)
from service.app import handlers

router = APIRouter(prefix="/log", tags=["event log"])

Size = Annotated[int | None, Query(ge=0, le=2**62)]


@router.get("", response_model=LogPublic)
def log_status(actor: CurrentActor, uow: ReadUowDep, container: ContainerDep) -> LogPublic:
    """Log size, current root, the latest anchors beside the roots on chain, and the last
    integrity pass (a disagreement with an anchored root is flagged in ``problem``)."""
    view = handlers.log_status(actor, uow, container.commitments, container.ledger)
    return LogPublic.model_validate(view)


@router.get("/events", response_model=list[LogEventPublic], response_model_exclude_none=True)
def log_events(
    actor: CurrentActor,
    uow: ReadUowDep,
    container: ContainerDep,
    offset: Annotated[int, Query(ge=0, le=2**62)] = 0,
    limit: Limit = None,
) -> list[LogEventPublic]:
    """Events in log order, from ``offset``."""
    entries = handlers.log_events(actor, uow, offset, page_limit(container, limit))
    return [LogEventPublic.model_validate(e) for e in entries]


@router.get("/proofs/inclusion", response_model=InclusionProofPublic)
def inclusion_proof(
    actor: CurrentActor,
    uow: ReadUowDep,
    container: ContainerDep,
    index: Annotated[int, Query(ge=0, le=2**62)],
    size: Size = None,
) -> InclusionProofPublic:
    """RFC 6962 inclusion proof of entry ``index`` in the tree of ``size`` (default: now)."""
    view = handlers.log_inclusion_proof(actor, uow, container.commitments, index, size)
    return InclusionProofPublic.model_validate(view)


@router.get("/proofs/consistency", response_model=ConsistencyProofPublic)
def consistency_proof(
    actor: CurrentActor,
    uow: ReadUowDep,
    container: ContainerDep,
    old_size: Annotated[int, Query(ge=1, le=2**62)],
    new_size: Size = None,
) -> ConsistencyProofPublic:
    """RFC 6962 consistency proof between two tree sizes (``new_size`` default: now)."""
    view = handlers.log_consistency_proof(actor, uow, container.commitments, old_size, new_size)
    return ConsistencyProofPublic.model_validate(view)
