"""The certificate lifecycle: gifts, pledges, custody and redemption (owners, recipients,
pledgees, custodians and stores). Every call that moves value honours ``Idempotency-Key``."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query

from service.api.deps import (
    ContainerDep,
    CurrentActor,
    CurrentConsumer,
    IdempotencyKeyDep,
    ReadUowDep,
    idempotency_of,
)
from service.api.schemas import (
    MAX_ID,
    CertificatePublic,
    DepositCreate,
    EmptyBody,
    GiftAccept,
    GiftCreate,
    PartnerPublic,
    PledgeCreate,
    RedemptionCreate,
    VoucherSign,
)
from service.app import certificates, commands
from service.domain.certificates import Action, DealKind, DealStatus
from service.domain.errors import InvalidDealError, InvalidRequestError
from service.domain.roles import Role

router = APIRouter(tags=["certificates"])


def _services(container: Any) -> certificates.Services:
    return certificates.Services(
        container.uow_factory,
        container.ledger,
        container.wallets,
        container.secrets,
        container.clock,
        container.otp_sender,
    )


# ----------------------------------------------------------------------------- owner
@router.post("/me/certificates/{certificate_id}/gift", response_model=CertificatePublic)
def gift(
    certificate_id: str,
    body: GiftCreate,
    actor: CurrentConsumer,
    container: ContainerDep,
    idempotency_key: IdempotencyKeyDep,
) -> dict[str, Any]:
    """Give the certificate: to a member (``to``: phone or email) or by a link (no ``to``; the
    answer carries the link, shown once). The token waits in escrow until accepted; the giver
    may cancel, and an expired gift comes back."""
    return certificates.gift(
        commands.Gift(
            actor,
            certificate_id,
            body.to,
            body.expires_in_days,
            body.message,
            idempotency_of(idempotency_key, body, f"gift:{certificate_id}"),
        ),
        _services(container),
        container.settings.resolver_url,
    )


@router.post("/me/certificates/{certificate_id}/gift/cancel", response_model=CertificatePublic)
def cancel_gift(
    certificate_id: str,
    actor: CurrentConsumer,
    container: ContainerDep,
    idempotency_key: IdempotencyKeyDep,
    body: EmptyBody | None = Body(default=None),
) -> dict[str, Any]:
    """Take a gift back before it is accepted."""
    cmd = commands.CertificateCommand(
        actor, certificate_id, idempotency_of(idempotency_key, body, f"cancel:{certificate_id}")
    )
    return certificates.cancel_gift(cmd, _services(container))


@router.post("/me/certificates/{certificate_id}/pledge", response_model=CertificatePublic)
def pledge(
    certificate_id: str,
    body: PledgeCreate,
    actor: CurrentConsumer,
    container: ContainerDep,
    idempotency_key: IdempotencyKeyDep,
) -> dict[str, Any]:
    """Offer the certificate as collateral to a pledgee; amount and terms stay off chain. The
    token locks when the pledgee accepts."""
    return certificates.pledge(
        commands.Pledge(
            actor,
            certificate_id,
            body.pledgee_id,
            body.amount,
            body.currency,
            body.due_date,
            body.terms,
            idempotency_of(idempotency_key, body, f"pledge:{certificate_id}"),
        ),
        _services(container),
    )


@router.post("/me/certificates/{certificate_id}/deposit", response_model=CertificatePublic)
def deposit(
    certificate_id: str,
    body: DepositCreate,
    actor: CurrentConsumer,
    container: ContainerDep,
    idempotency_key: IdempotencyKeyDep,
) -> dict[str, Any]:
    """Send the bottle to a custodian's storage; the custodian confirms receiving it."""
    return certificates.deposit(
        commands.Deposit(
            actor,
            certificate_id,
            body.custodian_id,
            idempotency_of(idempotency_key, body, f"deposit:{certificate_id}"),
        ),
        _services(container),
    )


@router.post("/me/certificates/{certificate_id}/offer/cancel", response_model=CertificatePublic)
def cancel_offer(
    certificate_id: str,
    actor: CurrentConsumer,
    container: ContainerDep,
    idempotency_key: IdempotencyKeyDep,
    body: EmptyBody | None = Body(default=None),
) -> dict[str, Any]:
    """Take back a pledge or storage offer nobody accepted yet, or a request of the bottle
    from a store nobody fulfilled yet."""
    key = idempotency_of(idempotency_key, body, f"cancel-offer:{certificate_id}")
    cmd = commands.CertificateCommand(actor, certificate_id, key)
    return certificates.cancel_offer(cmd, _services(container))


@router.post("/me/certificates/{certificate_id}/withdraw", response_model=CertificatePublic)
def withdraw(
    certificate_id: str,
    actor: CurrentConsumer,
    container: ContainerDep,
    idempotency_key: IdempotencyKeyDep,
    body: EmptyBody | None = Body(default=None),
) -> dict[str, Any]:
    """Take the bottle out of storage."""
    cmd = commands.CertificateCommand(
        actor, certificate_id, idempotency_of(idempotency_key, body, f"withdraw:{certificate_id}")
    )
    return certificates.withdraw(cmd, _services(container))


@router.post("/me/certificates/{certificate_id}/redemption", response_model=CertificatePublic)
def request_redemption(
    certificate_id: str,
    body: RedemptionCreate,
    actor: CurrentConsumer,
    container: ContainerDep,
    idempotency_key: IdempotencyKeyDep,
) -> dict[str, Any]:
    """Ask for the bottle: from storage, or from a store (pickup or delivery)."""
    return certificates.request_redemption(
        commands.RequestRedemption(
            actor,
            certificate_id,
            body.method,
            body.store_id,
            body.address,
            idempotency_of(idempotency_key, body, f"redeem:{certificate_id}"),
        ),
        _services(container),
    )


@router.post("/me/vouchers/{voucher_id}", response_model=CertificatePublic)
def sign_voucher(
    voucher_id: str,
    body: VoucherSign,
    actor: CurrentConsumer,
    container: ContainerDep,
    idempotency_key: IdempotencyKeyDep,
) -> dict[str, Any]:
    """Self-custody: run a prepared request with your wallet's EIP-712 signature. A request
    runs once; a signature for another chain, contract or nonce is refused."""
    return certificates.sign_voucher(
        actor,
        voucher_id,
        bytes.fromhex(body.signature[2:]),
        _services(container),
        container.settings.resolver_url,
        idempotency_of(idempotency_key, body, f"voucher:{voucher_id}"),
    )


@router.get("/me/gifts")
def incoming_gifts(
    actor: CurrentConsumer, uow: ReadUowDep, container: ContainerDep
) -> list[dict[str, Any]]:
    """Gifts sent to the signed-in consumer, waiting to be accepted (also those sent to their
    phone or email before they signed up)."""
    return certificates.incoming_gifts(actor, uow, container.secrets)


@router.post("/gifts/accept", response_model=CertificatePublic)
def accept_gift(
    body: GiftAccept,
    actor: CurrentConsumer,
    container: ContainerDep,
    idempotency_key: IdempotencyKeyDep,
) -> dict[str, Any]:
    """Accept a gift: by its id (sent to you) or by the secret of its link (anyone signed in;
    a newcomer signs up first)."""
    if (body.gift_id is None) == (body.secret is None):
        raise InvalidRequestError("Send either gift_id or secret.")
    return certificates.accept_gift(
        commands.AcceptGift(
            actor, body.gift_id, body.secret, idempotency_of(idempotency_key, body, "accept")
        ),
        _services(container),
    )


@router.get("/partners", response_model=list[PartnerPublic])
def partners(
    kind: Literal["pledgee", "custodian", "store"],
    actor: CurrentConsumer,
    uow: ReadUowDep,
    brand_id: Annotated[
        int | None,
        Query(ge=1, le=MAX_ID, description="Only the partners of this brand (of your bottles)."),
    ] = None,
) -> list[dict[str, Any]]:
    """Pledgees, custodians or stores the signed-in consumer can choose: those the brands of
    its certificates authorised (public names only)."""
    found = certificates.partners(actor, kind, uow, brand_id)
    return [{"id": o.id, "name": o.name, "kind": o.kind.value} for o in found]


# ----------------------------------------------------------------------------- counterparties
#: ``POST /deals/{id}/{verb}`` -> the action, per kind of deal.
VERBS: dict[tuple[DealKind, str], Action] = {
    (DealKind.PLEDGE, "accept"): Action.ACCEPT_PLEDGE,
    (DealKind.PLEDGE, "decline"): Action.DECLINE_PLEDGE,
    (DealKind.PLEDGE, "release"): Action.RELEASE_PLEDGE,
    (DealKind.PLEDGE, "foreclose"): Action.FORECLOSE,
    (DealKind.CUSTODY, "confirm"): Action.CONFIRM_DEPOSIT,
    (DealKind.CUSTODY, "decline"): Action.DECLINE_DEPOSIT,
    (DealKind.REDEMPTION, "fulfil"): Action.FULFIL_REDEMPTION,
}
#: The verbs of ``VERBS``, as the path declares them.
DealVerb = Literal["accept", "decline", "release", "foreclose", "confirm", "fulfil"]


@router.get("/deals")
def deals(
    actor: CurrentActor,
    uow: ReadUowDep,
    container: ContainerDep,
    status: DealStatus | None = None,
) -> list[dict[str, Any]]:
    """A pledgee's pledges, a custodian's deposits and redemptions, a store's redemptions."""
    return certificates.counterparty_deals(actor, uow, status, container.secrets)


@router.post("/deals/{deal_id}/{verb}")
def act_on_deal(
    deal_id: str,
    verb: DealVerb,
    actor: CurrentActor,
    container: ContainerDep,
    idempotency_key: IdempotencyKeyDep,
    body: EmptyBody | None = Body(default=None),
) -> dict[str, Any]:
    """Pledgee: accept, decline, release, foreclose (after the due date). Custodian: confirm or
    decline a deposit, fulfil a redemption. Store: fulfil a redemption."""
    kind = {"plg": DealKind.PLEDGE, "cus": DealKind.CUSTODY, "rdm": DealKind.REDEMPTION}.get(
        deal_id[:3]
    )
    if actor.role is not Role.ADMIN:
        certificates.require_own_deal(actor, deal_id, container.uow_factory.reader())
    action = VERBS.get((kind, verb)) if kind is not None else None
    if action is None:
        raise InvalidDealError(
            f"'{verb}' is not an action on this deal; see the documentation of POST /deals."
        )
    cmd = commands.DealCommand(
        actor, deal_id, idempotency_of(idempotency_key, body, f"{verb}:{deal_id}")
    )
    svc = _services(container)
    if kind is DealKind.PLEDGE:
        return certificates.pledgee_action(cmd, svc, action)
    return certificates.custodian_action(cmd, svc, action)
