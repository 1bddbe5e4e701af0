"""Gifts: a certificate sent to someone by a link (and a notice), accepted or cancelled, and
returned to its giver when it expires."""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import datetime, timedelta
from typing import Any

from service.consumer.app import commands
from service.consumer.app.lifecycle import (
    ChainCall,
    Services,
    owned_certificate,
    owner_view,
    owner_wallet,
    require_open_deal,
    run_idempotent,
    take_step,
)
from service.consumer.app.views import deal_view
from service.consumer.domain.accounts import (
    Account,
    Destination,
    normalise_destination,
    recipient_key,
)
from service.consumer.domain.certificates import (
    Action,
    CertificateState,
    Deal,
    DealKind,
    DealStatus,
)
from service.consumer.domain.errors import (
    CertificateStateError,
    DealNotFoundError,
    InvalidDealError,
    PreviousStepPendingError,
)
from service.consumer.ports import ConsumerSecrets, ConsumerUnitOfWork, OtpSender, WalletRef
from service.factory.interface import product_name
from service.kernel.actor import Actor
from service.kernel.errors import PermissionDeniedError
from service.kernel.roles import Role
from service.kernel.text import printable
from service.kernel.views import iso

S, A = CertificateState, Action

#: Gifts wait at most this long for their recipient (and at least an hour).
MAX_GIFT_DAYS = 90


log = logging.getLogger(__name__)


# ----------------------------------------------------------------------------- owner
def gift(cmd: commands.Gift, svc: Services, base_url: str) -> dict[str, Any]:
    """Offer a certificate as a gift: to a member (by phone or email) or by a link."""
    days = cmd.expires_in_days
    if not 1 <= days <= MAX_GIFT_DAYS:
        raise InvalidDealError(f"A gift waits 1 to {MAX_GIFT_DAYS} days; choose within that.")

    preset = cmd.preset or {}
    if preset:
        key_address, sealed_key = preset["key_address"], bytes.fromhex(preset["sealed_key"])
        expires = datetime.fromisoformat(preset["expires_at"])
        secret = (
            svc.secrets.unseal(bytes.fromhex(preset["sealed_secret"]), GIFT_SECRET_CONTEXT).decode()
            if "sealed_secret" in preset
            else preset["secret"]  # a voucher prepared before secrets were sealed
        )
    else:
        key_address, sealed_key = svc.wallets.create()
        secret = secrets.token_urlsafe(24)
        expires = svc.clock.now() + timedelta(days=days)

    destination = normalise_destination(cmd.to) if cmd.to is not None else None
    notice: list[Destination] = []

    def work(uow: ConsumerUnitOfWork, now: datetime) -> dict[str, Any]:
        certificate, account = owned_certificate(uow, cmd.actor, cmd.certificate_id)
        recipient, key = None, None
        if destination is not None:
            # A member or not, the answer is the same (an invitation): whether an address has
            # an account is nobody's business. A newcomer who signs up with it sees the gift.
            if destination == account.destination:
                raise InvalidDealError("A gift goes to someone else; choose another recipient.")
            recipient = uow.accounts.get_by_destination(destination)
            key = recipient_key(svc.secrets.otp_key, destination)
        deal = uow.certificates.add_deal(
            Deal(
                public_id="gft_" + secrets.token_urlsafe(12),
                certificate_id=certificate.id or 0,
                kind=DealKind.GIFT,
                status=DealStatus.OFFERED,
                created_at=now,
                recipient_account_id=recipient.id if recipient is not None else None,
                recipient_key=key,
                secret_hash=hashlib.sha256(secret.encode()).digest(),
                claim_key_address=key_address,
                sealed_claim_key=sealed_key,
                expires_at=expires,
                terms={"message": printable(cmd.message, 200, InvalidDealError, "The message")}
                if cmd.message
                else {},
            )
        )
        moved = take_step(
            svc,
            uow,
            cmd.actor,
            certificate,
            A.GIFT,
            now,
            deal=deal,
            chain=ChainCall(
                "createGift",
                (certificate.token_id, key_address, int(expires.timestamp())),
                owner_wallet(account),
            ),
            voucher=cmd.voucher,
        )
        view = owner_view(svc, uow, moved, now)
        view["gift"] = {
            "id": deal.public_id,
            "to": destination.masked() if destination is not None else None,
            "expires_at": iso(expires),
            # The link is shown once: only its hash is kept, and a replay withholds it.
            "link": f"{base_url}/gifts/accept#{secret}" if destination is None else None,
            "secret": secret if destination is None else None,
            "link_status": "shown" if destination is None else "none",
            "link_note": None,
        }
        if destination is not None:
            notice[:] = [destination]
        return view

    params = {
        "certificate_id": cmd.certificate_id,
        "to": cmd.to,
        "expires_in_days": cmd.expires_in_days,
        "message": cmd.message,
        "preset": {
            "key_address": key_address,
            "sealed_key": sealed_key.hex(),
            # The voucher row keeps the link's secret sealed, never in clear.
            "sealed_secret": svc.secrets.seal(secret.encode(), GIFT_SECRET_CONTEXT).hex(),
            "expires_at": expires.isoformat(),
        },
    }
    view = run_idempotent(svc, cmd.actor, cmd.idempotency, work, ("gift", params))
    if notice and svc.notices is not None:
        _send_gift_notice(svc.notices, notice[0], base_url, expires)
    return view


#: What a gift's recipient receives, member or not: the same words, so that neither the
#: giver's answer nor the message says whether the address has an account.
GIFT_NOTICE = (
    "Someone sent you a bottle's digital certificate as a gift on tracecert. Sign in (or sign "
    "up) with this phone number or email at {url} to accept it before {expires}."
)


def _send_gift_notice(
    notices: OtpSender, destination: Destination, base_url: str, expires: datetime
) -> None:
    """Best effort, after the gift is committed: a gateway that fails loses the notice, not
    the gift (it waits in the recipient's list, ``GET /me/gifts``)."""
    message = GIFT_NOTICE.format(
        url=f"{base_url}/my-certificates", expires=expires.isoformat(timespec="minutes")
    )
    try:
        notices.notify(destination, "gift", message)
    except Exception:  # a gateway's failure must not undo a committed gift
        log.warning("the gift notice to a %s could not be sent", destination.channel.value)


def cancel_gift(cmd: commands.CertificateCommand, svc: Services) -> dict[str, Any]:
    def work(uow: ConsumerUnitOfWork, now: datetime) -> dict[str, Any]:
        certificate, account = owned_certificate(uow, cmd.actor, cmd.certificate_id)
        deal = require_open_deal(uow, certificate, DealKind.GIFT)
        moved = take_step(
            svc,
            uow,
            cmd.actor,
            certificate,
            A.CANCEL_GIFT,
            now,
            deal=deal,
            chain=ChainCall("cancelGift", (certificate.token_id,), owner_wallet(account)),
            voucher=cmd.voucher,
        )
        return owner_view(svc, uow, moved, now)

    params = {"certificate_id": cmd.certificate_id}
    return run_idempotent(svc, cmd.actor, cmd.idempotency, work, ("cancel_gift", params))


# ----------------------------------------------------------------------------- recipient
def accept_gift(cmd: commands.AcceptGift, svc: Services) -> dict[str, Any]:
    """Accept a gift (named, or by its link's secret): the certificate moves to the caller."""
    if cmd.actor.role is not Role.CONSUMER or cmd.actor.account_id is None:
        raise PermissionDeniedError("Sign in (or sign up) to accept a gift.")

    def work(uow: ConsumerUnitOfWork, now: datetime) -> dict[str, Any]:
        account = uow.accounts.get(cmd.actor.account_id or 0)
        if cmd.secret is not None:
            deal = uow.certificates.deal_by_secret(hashlib.sha256(cmd.secret.encode()).digest())
        else:
            deal = uow.certificates.deal(cmd.gift_id or "")
            if deal is not None and not _addressed_to(svc, deal, account):
                deal = None
        if deal is None or deal.kind is not DealKind.GIFT or account is None:
            raise DealNotFoundError()
        if deal.status is not DealStatus.OFFERED:
            raise InvalidDealError("This gift was already accepted or cancelled.")
        if deal.expires_at is not None and now > deal.expires_at:
            raise InvalidDealError("This gift link has expired; ask the giver to send it again.")
        if deal.recipient_account_id not in (None, account.id) or (
            deal.recipient_key is not None and not _addressed_to(svc, deal, account)
        ):
            raise DealNotFoundError()
        certificate = uow.certificates.get_by_id(deal.certificate_id)
        if certificate is None:
            raise DealNotFoundError()
        if certificate.owner_account_id == account.id:
            raise InvalidDealError("This is your own gift; cancel it instead.")
        if deal.gift_nonce is None or deal.claim_key_address is None or not deal.sealed_claim_key:
            raise PreviousStepPendingError(
                "The gift is still being written on chain; nothing changed. Send the same "
                "request again in 10 seconds (Retry-After)."
            )
        signature = svc.ledger.sign_gift_claim(
            WalletRef(deal.claim_key_address, deal.sealed_claim_key),
            certificate.token_id,
            account.wallet_address,
            deal.gift_nonce,
        )
        uow.certificates.set_deal(deal, DealStatus.OFFERED, recipient_account_id=account.id)
        moved = take_step(
            svc,
            uow,
            cmd.actor,
            certificate,
            A.ACCEPT_GIFT,
            now,
            deal=deal,
            chain=ChainCall("claimGift", (certificate.token_id, account.wallet_address, signature)),
            owner_account_id=account.id,
            owner_address=account.wallet_address,
        )
        return owner_view(svc, uow, moved, now)

    return run_idempotent(svc, cmd.actor, cmd.idempotency, work)


def _addressed_to(svc: Services, deal: Deal, account: Account | None) -> bool:
    """Whether a named gift is the account's: named by its id, or by its address (a gift
    sent before the recipient signed up)."""
    if account is None:
        return False
    if deal.recipient_account_id is not None and deal.recipient_account_id == account.id:
        return True
    return deal.recipient_key is not None and deal.recipient_key == recipient_key(
        svc.secrets.otp_key, account.destination
    )


def incoming_gifts(
    actor: Actor, uow: ConsumerUnitOfWork, secrets_: ConsumerSecrets
) -> list[dict[str, Any]]:
    """Gifts waiting for the signed-in consumer: named by account, or by the address they
    signed up with (sent to them before they had an account)."""
    if actor.role is not Role.CONSUMER or actor.account_id is None:
        raise PermissionDeniedError("Sign in to see gifts sent to you.")
    with uow:
        account = uow.accounts.get(actor.account_id)
        deals = uow.certificates.deals(
            recipient_account_id=actor.account_id,
            recipient_key=recipient_key(secrets_.otp_key, account.destination)
            if account is not None
            else None,
            kind=DealKind.GIFT,
            statuses=[DealStatus.OFFERED],
        )
        out = []
        for deal in deals:
            certificate = uow.certificates.get_by_id(deal.certificate_id)
            if certificate is None:
                continue
            batch = uow.batches.get_by_id(certificate.batch_id)
            out.append(
                {
                    **deal_view(deal),
                    "product": product_name(batch),
                    "serial": certificate.serial,
                    "ready": deal.gift_nonce is not None,
                }
            )
        return out


GIFT_SECRET_CONTEXT = b"tracecert:gift-secret:v1"


# ----------------------------------------------------------------------------- sweeper
def return_expired_gifts(svc: Services, limit: int = 50) -> int:
    """Gifts nobody accepted in time go back to their givers (anyone may return them on chain)."""
    done = 0
    with svc.uow_factory() as uow:
        now = svc.clock.now()
        for deal in uow.certificates.expired_gifts(now, limit):
            certificate = uow.certificates.get_by_id(deal.certificate_id)
            if certificate is None or certificate.state is not S.GIFTED:
                continue
            if deal.gift_nonce is None:
                continue  # its createGift never confirmed: nothing is in escrow yet
            system = Actor(principal_id="system:gift-expiry", role=Role.ADMIN)
            try:
                take_step(
                    svc,
                    uow,
                    system,
                    certificate,
                    A.CANCEL_GIFT,
                    now,
                    deal=deal,
                    chain=ChainCall("cancelGift", (certificate.token_id,)),
                )
            except CertificateStateError:
                continue
            done += 1
        uow.commit()
    return done
