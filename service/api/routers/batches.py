from __future__ import annotations

import hashlib

from fastapi import APIRouter

from service.api.deps import ContainerDep, CurrentActor, IdempotencyKeyDep, ReadUowDep
from service.api.schemas import BatchCreate, BatchPublic, ItemProofPublic
from service.app import commands, handlers
from service.domain.events import canonical_json

router = APIRouter(tags=["batches"])


@router.post("/batches", status_code=201, response_model=BatchPublic)
def create_batch(
    body: BatchCreate,
    actor: CurrentActor,
    container: ContainerDep,
    idempotency_key: IdempotencyKeyDep,
) -> BatchPublic:
    """Register a batch of item ids (factory). Honours ``Idempotency-Key``."""
    idempotency = None
    if idempotency_key is not None:
        request_hash = hashlib.sha256(canonical_json(body.model_dump(mode="json"))).digest()
        idempotency = commands.Idempotency(idempotency_key, request_hash)
    cmd = commands.CreateBatch(
        actor=actor,
        lot=body.lot,
        items=body.items,
        metadata=body.metadata,
        idempotency=idempotency,
    )
    view = handlers.create_batch(
        cmd,
        container.uow_factory,
        container.commitments,
        container.clock,
        container.settings.max_batch_items,
    )
    return BatchPublic.model_validate(view)


@router.post("/batches/{batch_id}/anchor", status_code=202, response_model=BatchPublic)
def anchor_batch(batch_id: str, actor: CurrentActor, container: ContainerDep) -> BatchPublic:
    """Queue the batch's root for anchoring on chain (factory); asking again is harmless."""
    cmd = commands.AnchorBatch(actor=actor, batch_id=batch_id)
    view = handlers.anchor_batch(cmd, container.uow_factory, container.ledger, container.clock)
    return BatchPublic.model_validate(view)


@router.get("/batches/{batch_id}", response_model=BatchPublic)
def get_batch(
    batch_id: str, actor: CurrentActor, uow: ReadUowDep, container: ContainerDep
) -> BatchPublic:
    """A batch with its anchor status, transaction hash and confirmations."""
    return BatchPublic.model_validate(handlers.get_batch(actor, batch_id, uow, container.ledger))


@router.get("/batches/{batch_id}/items/{item_id}/proof", response_model=ItemProofPublic)
def item_proof(
    batch_id: str, item_id: str, actor: CurrentActor, uow: ReadUowDep, container: ContainerDep
) -> ItemProofPublic:
    """The Merkle proof of one item against its batch root."""
    view = handlers.item_proof(actor, batch_id, item_id, uow, container.commitments)
    return ItemProofPublic.model_validate(view)
