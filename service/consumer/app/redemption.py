"""Redemption: a certificate exchanged for its bottle, picked up at a store or delivered to a
sealed address."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from service.consumer.app import commands
from service.consumer.app.lifecycle import (
    ADDRESS_CONTEXT,
    ChainCall,
    Services,
    custodial_owner,
    owned_certificate,
    owner_view,
    owner_wallet,
    require_counterparty,
    run_idempotent,
    take_step,
)
from service.consumer.domain.certificates import (
    Action,
    CertificateState,
    Deal,
    DealKind,
    DealStatus,
    next_state,
)
from service.consumer.domain.errors import InvalidDealError
from service.consumer.ports import ConsumerUnitOfWork
from service.kernel.roles import OrganisationKind
from service.kernel.text import printable

S, A = CertificateState, Action


def request_redemption(cmd: commands.RequestRedemption, svc: Services) -> dict[str, Any]:
    """Ask for the physical bottle: from the custodian's storage, or (not in storage) from a
    store, picked up or delivered. A delivery address is sealed and never leaves the service."""
    if cmd.method not in ("pickup", "delivery"):
        raise InvalidDealError("method is pickup or delivery.")
    if cmd.method == "delivery" and not cmd.address:
        raise InvalidDealError("A delivery needs an address.")

    def work(uow: ConsumerUnitOfWork, now: datetime) -> dict[str, Any]:
        certificate, account = owned_certificate(uow, cmd.actor, cmd.certificate_id)
        # The state first: a second request (from storage or a store) is a state conflict,
        # whatever else it lacks.
        next_state(certificate.state, A.REQUEST_REDEMPTION)
        wallet = owner_wallet(account)
        custody = uow.certificates.open_deal(certificate.id or 0, DealKind.CUSTODY)
        in_custody = certificate.state is S.IN_CUSTODY and custody is not None
        if in_custody:
            assert custody is not None
            counterparty = custody.counterparty_org_id
        else:
            if cmd.store_id is None:
                raise InvalidDealError("Name the store (store_id) that hands out the bottle.")
            custodial_owner(account)
            require_counterparty(uow, cmd.store_id, OrganisationKind.STORE, certificate)
            counterparty = cmd.store_id
        sealed = None
        if cmd.address:
            address = printable(cmd.address, 500, InvalidDealError, "The address")
            sealed = svc.secrets.seal(address.encode(), ADDRESS_CONTEXT)
        deal = uow.certificates.add_deal(
            Deal(
                public_id="rdm_" + secrets.token_urlsafe(12),
                certificate_id=certificate.id or 0,
                kind=DealKind.REDEMPTION,
                status=DealStatus.OFFERED,
                created_at=now,
                counterparty_org_id=counterparty,
                terms={"method": cmd.method},
                sealed_details=sealed,
                origin_state=certificate.state,
            )
        )
        chain = (
            ChainCall("requestRedemption", (certificate.token_id,), wallet) if in_custody else None
        )
        moved = take_step(
            svc,
            uow,
            cmd.actor,
            certificate,
            A.REQUEST_REDEMPTION,
            now,
            deal=deal,
            chain=chain,
            voucher=cmd.voucher,
        )
        return owner_view(svc, uow, moved, now)

    params = {
        "certificate_id": cmd.certificate_id,
        "method": cmd.method,
        "store_id": cmd.store_id,
        "address": cmd.address,
    }
    return run_idempotent(svc, cmd.actor, cmd.idempotency, work, ("request_redemption", params))
