"""Shipments and stock: what a partner sent and received, and what it holds now."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from service.channel.domain.errors import ShipmentNotFoundError
from service.channel.ports import ChannelUnitOfWork
from service.identity.interface import OrganisationNotFoundError, party
from service.kernel.actor import Actor
from service.kernel.errors import InvalidRequestError
from service.kernel.ports import Clock
from service.kernel.roles import Role


# ----------------------------------------------------------------------------- shipments, stock
def _visible_shipment(uow: ChannelUnitOfWork, actor: Actor, public_id: str) -> Any:
    shipment = uow.custody.shipment_by_public_id(public_id)
    if shipment is None:
        raise ShipmentNotFoundError()
    if actor.role is Role.ADMIN or actor.organisation_id in (
        shipment.sender_id,
        shipment.receiver_id,
    ):
        return shipment
    if actor.role in (Role.BRAND, Role.AUDITOR):
        sender = uow.organisations.get(shipment.sender_id)
        if sender is not None and sender.brand_scope == actor.brand_id:
            return shipment
    raise ShipmentNotFoundError()


def shipment_view(actor: Actor, public_id: str, uow: ChannelUnitOfWork) -> dict[str, Any]:
    """A shipment with what was dispatched, received, missing and extra."""
    with uow:
        shipment = _visible_shipment(uow, actor, public_id)
        lines = uow.custody.lines(shipment.id)
        sender = uow.organisations.get(shipment.sender_id)
        receiver = uow.organisations.get(shipment.receiver_id)

    def line(entry: Any) -> dict[str, Any]:
        return {
            "kind": entry.kind,
            "code": entry.code,
            "items": entry.items,
            "received_at": entry.received_at.isoformat() if entry.received_at else None,
        }

    counted = [e for e in lines if e.kind != "pallet"]
    dispatched = [e for e in counted if e.dispatched]
    return {
        "id": shipment.public_id,
        "ref": shipment.ref,
        "sender": party(sender),
        "receiver": party(receiver),
        "status": shipment.status,
        "dispatched_at": shipment.dispatched_at.isoformat(),
        "received_at": shipment.received_at.isoformat() if shipment.received_at else None,
        "items": {
            "dispatched": sum(e.items for e in dispatched),
            "received": sum(e.items for e in dispatched if e.received_at),
            "missing": sum(e.items for e in dispatched if e.received_at is None),
            "extra": sum(e.items for e in counted if not e.dispatched),
        },
        "dispatched": [line(e) for e in lines if e.dispatched],
        "missing": [line(e) for e in dispatched if e.received_at is None],
        "extra": [line(e) for e in counted if not e.dispatched],
    }


def list_shipments(
    actor: Actor, direction: str, uow: ChannelUnitOfWork, offset: int, limit: int
) -> list[dict[str, Any]]:
    if direction not in ("in", "out"):
        raise InvalidRequestError("direction is 'in' or 'out'.")
    if actor.organisation_id is None:
        return []
    with uow:
        org = None if actor.role is Role.ADMIN else actor.organisation_id
        shipments = uow.custody.shipments(org, direction, offset, limit)
    return [
        {
            "id": s.public_id,
            "ref": s.ref,
            "sender_id": s.sender_id,
            "receiver_id": s.receiver_id,
            "status": s.status,
            "dispatched_at": s.dispatched_at.isoformat(),
            "received_at": s.received_at.isoformat() if s.received_at else None,
        }
        for s in shipments
    ]


def stock_view(
    actor: Actor,
    organisation_id: int | None,
    uow: ChannelUnitOfWork,
    clock: Clock,
    offset: int,
    limit: int,
) -> dict[str, Any]:
    """What an organisation holds (received, not shipped on), with ages; in and out flows."""
    target = organisation_id if organisation_id is not None else actor.organisation_id
    if target is None:
        raise InvalidRequestError("Name the organisation_id whose stock to show.")
    now = clock.now()
    with uow:
        org = uow.organisations.get(target)
        if org is None:
            raise OrganisationNotFoundError()
        allowed = (
            actor.role is Role.ADMIN
            or actor.organisation_id == target
            or (actor.role in (Role.BRAND, Role.AUDITOR) and org.brand_scope == actor.brand_id)
        )
        if not allowed:
            raise OrganisationNotFoundError()
        rows = uow.custody.stock(target, offset, limit)
        totals = uow.custody.stock_totals(target)
        inbound = uow.custody.shipments(target, "in", 0, 50)
        outbound = uow.custody.shipments(target, "out", 0, 50)
    for row in rows:
        since = datetime.fromisoformat(row["since"]) if row["since"] else None
        row["age_days"] = round((now - since).total_seconds() / 86400, 2) if since else None
    return {
        "organisation": party(org),
        "totals": totals,
        "cases": rows,
        "inbound": [
            {"id": s.public_id, "sender_id": s.sender_id, "status": s.status}
            for s in inbound
            if s.status != "received"
        ],
        "outbound": [
            {"id": s.public_id, "receiver_id": s.receiver_id, "status": s.status} for s in outbound
        ],
    }
