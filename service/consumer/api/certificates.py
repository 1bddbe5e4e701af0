"""The certificate lifecycle: gifts, pledges, custody and redemption (owners, recipients,
pledgees, custodians and stores). Every call that moves value honours ``Idempotency-Key``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Body, Depends, Query
from pydantic import BaseModel

from service.api.deps import (
    CurrentActor,
    CurrentConsumer,
    IdempotencyKeyDep,
    idempotency_of,
    use_cases,
)
from service.api.schemas import MAX_ID
from service.consumer.api.schemas import (
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
from service.consumer.app import commands
from service.consumer.app.certificates import CertificateUseCases
from service.consumer.domain.certificates import Action, DealKind, DealStatus
from service.consumer.domain.errors import InvalidDealError
from service.kernel.actor import Actor
from service.kernel.errors import InvalidRequestError
from service.kernel.idempotency import Idempotency
from service.kernel.roles import Role

CertificatesDep = Annotated[CertificateUseCases, Depends(use_cases("certificates"))]

router = APIRouter(tags=["certificates"])


# ----------------------------------------------------------------------------- owner
#: A call that takes no body, or an empty JSON object (hashed with the ``Idempotency-Key``).
NoBody = Annotated[EmptyBody | None, Body()]
C = TypeVar("C")


@dataclass(frozen=True)
class OwnerCall:
    """What every owner's call needs: the signed-in consumer, the certificates' use cases and
    the ``Idempotency-Key``, tied to the request's body and target by :meth:`idempotency`."""

    actor: Actor
    certificates: CertificateUseCases
    idempotency_key: str | None

    def idempotency(self, body: BaseModel | None, scope: str) -> Idempotency | None:
        return idempotency_of(self.idempotency_key, body, scope)

    def command(
        self, command: Callable[..., C], certificate_id: str, body: BaseModel | None, scope: str
    ) -> C:
        """The ``command`` on a certificate, with the body's fields as its own: the request
        schemas and the commands use the same words. ``scope`` names the path for the key."""
        fields = dict(body) if body is not None else {}
        key = self.idempotency(body, f"{scope}:{certificate_id}")
        return command(self.actor, certificate_id, **fields, idempotency=key)


async def _owner_call(
    actor: CurrentConsumer, certificates: CertificatesDep, idempotency_key: IdempotencyKeyDep
) -> OwnerCall:
    return OwnerCall(actor, certificates, idempotency_key)


OwnerCallDep = Annotated[OwnerCall, Depends(_owner_call)]


@router.post("/me/certificates/{certificate_id}/gift", response_model=CertificatePublic)
def gift(certificate_id: str, body: GiftCreate, call: OwnerCallDep) -> dict[str, Any]:
    """Give the certificate: to a member (``to``: phone or email) or by a link (no ``to``; the
    answer carries the link, shown once). The token waits in escrow until accepted; the giver
    may cancel, and an expired gift comes back."""
    cmd = call.command(commands.Gift, certificate_id, body, "gift")
    return call.certificates.gift(cmd)


@router.post("/me/certificates/{certificate_id}/gift/cancel", response_model=CertificatePublic)
def cancel_gift(certificate_id: str, call: OwnerCallDep, body: NoBody = None) -> dict[str, Any]:
    """Take a gift back before it is accepted."""
    cmd = call.command(commands.CertificateCommand, certificate_id, body, "cancel")
    return call.certificates.cancel_gift(cmd)


@router.post("/me/certificates/{certificate_id}/pledge", response_model=CertificatePublic)
def pledge(certificate_id: str, body: PledgeCreate, call: OwnerCallDep) -> dict[str, Any]:
    """Offer the certificate as collateral to a pledgee; amount and terms stay off chain. The
    token locks when the pledgee accepts."""
    cmd = call.command(commands.Pledge, certificate_id, body, "pledge")
    return call.certificates.pledge(cmd)


@router.post("/me/certificates/{certificate_id}/deposit", response_model=CertificatePublic)
def deposit(certificate_id: str, body: DepositCreate, call: OwnerCallDep) -> dict[str, Any]:
    """Send the bottle to a custodian's storage; the custodian confirms receiving it."""
    cmd = call.command(commands.Deposit, certificate_id, body, "deposit")
    return call.certificates.deposit(cmd)


@router.post("/me/certificates/{certificate_id}/offer/cancel", response_model=CertificatePublic)
def cancel_offer(certificate_id: str, call: OwnerCallDep, body: NoBody = None) -> dict[str, Any]:
    """Take back a pledge or storage offer nobody accepted yet, or a request of the bottle
    from a store nobody fulfilled yet."""
    cmd = call.command(commands.CertificateCommand, certificate_id, body, "cancel-offer")
    return call.certificates.cancel_offer(cmd)


@router.post("/me/certificates/{certificate_id}/withdraw", response_model=CertificatePublic)
def withdraw(certificate_id: str, call: OwnerCallDep, body: NoBody = None) -> dict[str, Any]:
    """Take the bottle out of storage."""
    cmd = call.command(commands.CertificateCommand, certificate_id, body, "withdraw")
    return call.certificates.withdraw(cmd)


@router.post("/me/certificates/{certificate_id}/redemption", response_model=CertificatePublic)
def request_redemption(
    certificate_id: str, body: RedemptionCreate, call: OwnerCallDep
) -> dict[str, Any]:
    """Ask for the bottle: from storage, or from a store (pickup or delivery)."""
    cmd = call.command(commands.RequestRedemption, certificate_id, body, "redeem")
    return call.certificates.request_redemption(cmd)


@router.post("/me/vouchers/{voucher_id}", response_model=CertificatePublic)
def sign_voucher(voucher_id: str, body: VoucherSign, call: OwnerCallDep) -> dict[str, Any]:
    """Self-custody: run a prepared request with your wallet's EIP-712 signature. A request
    runs once; a signature for another chain, contract or nonce is refused."""
    return call.certificates.sign_voucher(
        call.actor,
        voucher_id,
        bytes.fromhex(body.signature[2:]),
        call.idempotency(body, f"voucher:{voucher_id}"),
    )


@router.get("/me/gifts")
def incoming_gifts(actor: CurrentConsumer, certificates: CertificatesDep) -> list[dict[str, Any]]:
    """Gifts sent to the signed-in consumer, waiting to be accepted (also those sent to their
    phone or email before they signed up)."""
    return certificates.incoming_gifts(actor)


@router.post("/gifts/accept", response_model=CertificatePublic)
def accept_gift(body: GiftAccept, call: OwnerCallDep) -> dict[str, Any]:
    """Accept a gift: by its id (sent to you) or by the secret of its link (anyone signed in;
    a newcomer signs up first)."""
    if (body.gift_id is None) == (body.secret is None):
        raise InvalidRequestError("Send either gift_id or secret.")
    key = call.idempotency(body, "accept")
    return call.certificates.accept_gift(
        commands.AcceptGift(call.actor, body.gift_id, body.secret, key)
    )


@router.get("/partners", response_model=list[PartnerPublic])
def partners(
    kind: Literal["pledgee", "custodian", "store"],
    actor: CurrentConsumer,
    certificates: CertificatesDep,
    brand_id: Annotated[
        int | None,
        Query(ge=1, le=MAX_ID, description="Only the partners of this brand (of your bottles)."),
    ] = None,
) -> list[dict[str, Any]]:
    """Pledgees, custodians or stores the signed-in consumer can choose: those the brands of
    its certificates authorised (public names only)."""
    found = certificates.partners(actor, kind, brand_id)
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
    certificates: CertificatesDep,
    status: DealStatus | None = None,
) -> list[dict[str, Any]]:
    """A pledgee's pledges, a custodian's deposits and redemptions, a store's redemptions."""
    return certificates.counterparty_deals(actor, status)


@router.post("/deals/{deal_id}/{verb}")
def act_on_deal(
    deal_id: str,
    verb: DealVerb,
    actor: CurrentActor,
    certificates: CertificatesDep,
    idempotency_key: IdempotencyKeyDep,
    body: EmptyBody | None = Body(default=None),
) -> dict[str, Any]:
    """Pledgee: accept, decline, release, foreclose (after the due date). Custodian: confirm or
    decline a deposit, fulfil a redemption. Store: fulfil a redemption."""
    kind = {"plg": DealKind.PLEDGE, "cus": DealKind.CUSTODY, "rdm": DealKind.REDEMPTION}.get(
        deal_id[:3]
    )
    if actor.role is not Role.ADMIN:
        certificates.require_own_deal(actor, deal_id)
    action = VERBS.get((kind, verb)) if kind is not None else None
    if action is None:
        raise InvalidDealError(
            f"'{verb}' is not an action on this deal; see the documentation of POST /deals."
        )
    cmd = commands.DealCommand(
        actor, deal_id, idempotency_of(idempotency_key, body, f"{verb}:{deal_id}")
    )
    if kind is DealKind.PLEDGE:
        return certificates.pledgee_action(cmd, action)
    return certificates.custodian_action(cmd, action)
