"""Vouchers: the step a self-custody owner prepared (a gift, its cancellation, a redemption),
run once they signed its EIP-712 request."""

from __future__ import annotations

from typing import Any

from service.consumer.app import commands
from service.consumer.app.gifts import cancel_gift, gift
from service.consumer.app.lifecycle import Services
from service.consumer.app.redemption import request_redemption
from service.consumer.domain.errors import (
    VoucherNotFoundError,
    VoucherUsedError,
)
from service.consumer.ports import SignedVoucher
from service.kernel.actor import Actor
from service.kernel.errors import PermissionDeniedError
from service.kernel.idempotency import Idempotency, replay
from service.kernel.roles import Role


def sign_voucher(
    actor: Actor,
    voucher_id: str,
    signature: bytes,
    svc: Services,
    base_url: str,
    idempotency: Idempotency | None = None,
) -> dict[str, Any]:
    """Run the request a self-custody owner prepared, now that they signed it."""
    if actor.role is not Role.CONSUMER or actor.account_id is None:
        raise PermissionDeniedError("Sign in to sign your requests.")
    if idempotency is not None:
        with svc.uow_factory.reader() as uow:
            stored = replay(uow, actor, idempotency)
        if stored is not None:
            return stored
    with svc.uow_factory.reader() as uow:
        voucher = uow.certificates.voucher(voucher_id)
        certificate = uow.certificates.get_by_id(voucher.certificate_id) if voucher else None
    if voucher is None or voucher.id is None or voucher.account_id != actor.account_id:
        raise VoucherNotFoundError()
    if voucher.used_at is not None:
        raise VoucherUsedError()
    if certificate is None or certificate.owner_account_id != actor.account_id:
        raise VoucherNotFoundError()
    signed = SignedVoucher(voucher.id, voucher.nonce, voucher.deadline, signature)
    p = voucher.params
    if voucher.kind == "gift":
        return gift(
            commands.Gift(
                actor,
                p["certificate_id"],
                p["to"],
                p["expires_in_days"],
                p["message"],
                idempotency=idempotency,
                voucher=signed,
                preset=p["preset"],
            ),
            svc,
            base_url,
        )
    if voucher.kind == "cancel_gift":
        return cancel_gift(
            commands.CertificateCommand(
                actor, p["certificate_id"], idempotency=idempotency, voucher=signed
            ),
            svc,
        )
    if voucher.kind == "request_redemption":
        return request_redemption(
            commands.RequestRedemption(
                actor,
                p["certificate_id"],
                p["method"],
                p["store_id"],
                p["address"],
                idempotency=idempotency,
                voucher=signed,
            ),
            svc,
        )
    raise VoucherNotFoundError()
