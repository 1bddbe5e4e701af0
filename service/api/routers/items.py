from __future__ import annotations

from fastapi import APIRouter

from service.api.deps import ContainerDep, ReadUowDep
from service.api.schemas import ItemVerificationPublic
from service.app import commands, handlers

router = APIRouter(tags=["items"])


@router.get("/items/{item_id}/verify", response_model=ItemVerificationPublic)
def verify_item(item_id: str, uow: ReadUowDep, container: ContainerDep) -> ItemVerificationPublic:
    """Public: is this item registered, its proof valid, and accepted by the contract?"""
    view = handlers.verify_item(
        commands.VerifyItem(item_id=item_id), uow, container.commitments, container.ledger
    )
    return ItemVerificationPublic.model_validate(view)
