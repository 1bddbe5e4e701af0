"""What a certificate and its deals look like to their owner: state, product, chain holder,
steps and their chain writes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from service.consumer.domain.certificates import (
    PENDING_STATES,
    UNMINTED_STATES,
    Certificate,
    CertificateState,
    Deal,
    DealKind,
)
from service.consumer.ports import CertificateChain, ConsumerUnitOfWork
from service.factory.interface import (
    Batch,
    BatchStatus,
    product_name,
)
from service.kernel.views import hex0x, iso


def registry_address(ledger: CertificateChain | None) -> str | None:
    """The registry's address (the gift escrow), None before it is deployed."""
    contract = ledger.contract() if ledger is not None else None
    return contract[0] if contract is not None else None


def chain_holder(
    uow: ConsumerUnitOfWork, certificate: Certificate, registry: str | None
) -> dict[str, Any] | None:
    """Whom the registry's ``ownerOf`` names: the owner, or, once a gift's ``createGift`` is
    on chain, the registry itself, which holds the token in escrow until the recipient accepts
    (so the owner shown and the chain's owner differ for a reason anyone can read). None while
    the token is not minted."""
    if certificate.state in UNMINTED_STATES:
        return None
    if certificate.state is CertificateState.GIFTED:
        gift = uow.certificates.open_deal(certificate.id or 0, DealKind.GIFT)
        if gift is not None and gift.gift_nonce is not None:
            return {"address": registry, "held_as": "gift_escrow"}
    return {"address": certificate.owner_address, "held_as": "owner"}


def certificate_view(
    uow: ConsumerUnitOfWork,
    certificate: Certificate,
    now: datetime,
    batch: Batch | None = None,
    *,
    registry: str | None = None,
) -> dict[str, Any]:
    """The owner's view: state, product, the mint on chain, who the chain names as owner (the
    gift escrow: ``registry``), open deals, history, and the days in storage as of ``now``
    (proof of ageing)."""
    assert certificate.id is not None
    batch = batch or uow.batches.get_by_id(certificate.batch_id)
    steps = uow.certificates.history([certificate.id])[certificate.id]
    claim_step = next((s for s in steps if s.action == "claim"), None)
    unsettled = [s.action for s in steps if s.status in ("queued", "sent")]
    age = None
    if certificate.state is CertificateState.IN_CUSTODY and certificate.locked_since is not None:
        age = max((now - certificate.locked_since).days, 0)
    return {
        "id": certificate.public_id,
        "serial": certificate.serial,
        "token_id": str(certificate.token_id),
        "state": certificate.state.value,
        "pending": certificate.state in PENDING_STATES or bool(unsettled),
        "pending_actions": unsettled,
        "owner_address": certificate.owner_address,
        "chain_holder": chain_holder(uow, certificate, registry),
        "claimed_at": iso(certificate.claimed_at),
        "claim_region": certificate.claim_region,
        "counterparty_id": certificate.counterparty_org_id,
        "locked_since": iso(certificate.locked_since),
        "storage_age_days": age,
        "product": {
            "gtin": batch.gtin if batch else None,
            "lot": batch.lot if batch else None,
            "name": product_name(batch) if batch else None,
            "production_date": batch.production_date.isoformat()
            if batch and batch.production_date
            else None,
            "batch_id": batch.public_id if batch else None,
            # A recalled bottle is never handed out: the page offers no redemption for it.
            "recalled": batch is not None and batch.status is BatchStatus.RECALLED,
        },
        "chain": {
            "status": claim_step.status if claim_step else None,
            "tx_hash": hex0x(certificate.claim_tx_hash),
            "block_number": certificate.claim_block_number,
            "confirmed_at": iso(certificate.confirmed_at),
        },
        "deals": [
            deal_view(d)
            for kind in DealKind
            if (d := uow.certificates.open_deal(certificate.id, kind)) is not None
        ],
        "history": [
            {
                "action": s.action,
                "from": s.from_state,
                "to": s.to_state,
                "status": s.status,
                "at": iso(s.at),
                "settled_at": iso(s.settled_at),
                "tx_hash": hex0x(s.tx_hash),
            }
            for s in steps
        ],
    }


def deal_view(deal: Deal, certificate: Certificate | None = None) -> dict[str, Any]:
    """A gift, pledge, custody or redemption as its owner and its counterparty see it."""
    return {
        "id": deal.public_id,
        "kind": deal.kind.value,
        "status": deal.status.value,
        "counterparty_id": deal.counterparty_org_id,
        "terms": deal.terms,
        "expires_at": iso(deal.expires_at),
        "created_at": iso(deal.created_at),
        "settled_at": iso(deal.settled_at),
        "ready": deal.kind is not DealKind.GIFT or deal.gift_nonce is not None,
        "certificate_state": certificate.state.value if certificate is not None else None,
    }
