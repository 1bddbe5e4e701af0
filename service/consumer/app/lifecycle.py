"""What every step of a certificate shares: the services a step runs with, the run (idempotent,
one transaction, the chain write through the outbox), the step and its undo, ownership and
the views."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from service.consumer.app.views import certificate_view, registry_address
from service.consumer.domain.accounts import (
    Account,
    Custody,
)
from service.consumer.domain.certificates import (
    DEAL_OF_ACTION,
    HAND_OUT_ACTIONS,
    Action,
    Certificate,
    Deal,
    DealKind,
    DealStatus,
    next_state,
    require_hand_out_allowed,
)
from service.consumer.domain.errors import (
    CertificateNotFoundError,
    CertificateStateError,
    InvalidDealError,
    InvalidVoucherSignatureError,
    PreviousStepPendingError,
    VoucherStaleError,
    VoucherUsedError,
)
from service.consumer.domain.events import CertificateActionRequested
from service.consumer.ports import (
    CertificateChain,
    ConsumerSecrets,
    ConsumerUnitOfWork,
    ConsumerUnitOfWorkFactory,
    OtpSender,
    SignedVoucher,
    StepRecord,
    Voucher,
    WalletRef,
    Wallets,
)
from service.factory.interface import BatchStatus, product_name
from service.identity.interface import (
    PartnerNotAuthorisedError,
    is_authorised,
)
from service.kernel.actor import Actor
from service.kernel.errors import PermissionDeniedError, RequestInProgressError
from service.kernel.events import canonical_json
from service.kernel.idempotency import Idempotency, replay
from service.kernel.ports import Clock, DuplicateError, StoredResponse
from service.kernel.roles import OrganisationKind, Role
from service.kernel.views import iso

#: Roles the registry requires of a counterparty's wallet.
CHAIN_ROLE = {
    OrganisationKind.PLEDGEE: "PLEDGEE_ROLE",
    OrganisationKind.CUSTODIAN: "CUSTODIAN_ROLE",
}


@dataclass(frozen=True)
class ChainCall:
    """The registry call that mirrors a step: signed by ``wallet`` and relayed, or (no wallet)
    sent by the service's own account."""

    call: str
    args: tuple[Any, ...]
    wallet: WalletRef | None = None


@dataclass(frozen=True)
class Services:
    """What the lifecycle use cases need, wired once."""

    uow_factory: ConsumerUnitOfWorkFactory
    ledger: CertificateChain
    wallets: Wallets
    secrets: ConsumerSecrets
    clock: Clock
    #: Delivers a gift's notice to its recipient's phone or email (the sign-in code channel).
    notices: OtpSender | None = None


#: How long a self-custody owner has to sign a prepared request.
VOUCHER_TTL = timedelta(hours=1)


class _NeedsSignature(Exception):
    """A self-custody owner must sign the step's request: nothing is written; the request is
    kept as a voucher and handed back to be signed."""

    def __init__(self, certificate_id: int, call: str, args: tuple[Any, ...], signer: str) -> None:
        super().__init__(call)
        self.certificate_id, self.call, self.args, self.signer = certificate_id, call, args, signer


# ----------------------------------------------------------------------------- plumbing
def run_idempotent(
    svc: Services,
    actor: Actor,
    idempotency: Idempotency | None,
    work: Callable[[ConsumerUnitOfWork, datetime], dict[str, Any]],
    voucher: tuple[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Run ``work`` in one transaction; the same ``Idempotency-Key`` answers the same.

    ``voucher`` names the use case and its parameters: if a self-custody owner must sign,
    nothing of ``work`` is kept and the answer carries the request to sign instead.
    """
    try:
        return _run(svc, actor, idempotency, work)
    except _NeedsSignature as need:
        if voucher is None:
            raise InvalidDealError(
                "A self-custody wallet signs its own requests; this action is not offered "
                "for it yet."
            ) from None
        return _prepare_voucher(svc, actor, need, *voucher)


def _prepare_voucher(
    svc: Services, actor: Actor, need: _NeedsSignature, kind: str, params: dict[str, Any]
) -> dict[str, Any]:
    with svc.uow_factory() as uow:
        now = svc.clock.now()
        nonce = uow.certificates.peek_nonce(need.signer)
        deadline = int((now + VOUCHER_TTL).timestamp())
        typed = svc.ledger.forward_typed_data(need.signer, need.call, need.args, nonce, deadline)
        voucher = uow.certificates.add_voucher(
            Voucher(
                public_id="vch_" + secrets.token_urlsafe(12),
                account_id=actor.account_id or 0,
                certificate_id=need.certificate_id,
                kind=kind,
                params=params,
                signer=need.signer,
                nonce=nonce,
                deadline=deadline,
                typed_data=typed,
                created_at=now,
            )
        )
        certificate = uow.certificates.get_by_id(need.certificate_id)
        assert certificate is not None
        view = owner_view(svc, uow, certificate, now)
        uow.commit()
    view["voucher"] = {
        "id": voucher.public_id,
        "typed_data": typed,
        "expires_at": iso(now + VOUCHER_TTL),
        "sign_with": "eth_signTypedData_v4, then POST /me/vouchers/{id} {signature}",
    }
    return view


def _run(
    svc: Services,
    actor: Actor,
    idempotency: Idempotency | None,
    work: Callable[[ConsumerUnitOfWork, datetime], dict[str, Any]],
) -> dict[str, Any]:
    try:
        with svc.uow_factory() as uow:
            stored = replay(uow, actor, idempotency)
            if stored is not None:
                return stored
            now = svc.clock.now()
            view = work(uow, now)
            if idempotency is not None:
                uow.idempotency.add(
                    actor.principal_id,
                    idempotency.key,
                    StoredResponse(
                        idempotency.request_hash, 200, canonical_json(withhold_secrets(view))
                    ),
                    now,
                )
            uow.commit()
            return view
    except DuplicateError as exc:
        if idempotency is not None and exc.constraint == "idempotency_keys":
            with svc.uow_factory() as uow:
                stored = replay(uow, actor, idempotency)
            if stored is not None:
                return stored
            raise RequestInProgressError() from exc
        raise


#: What a replayed gift says instead of its link.
LINK_WITHHELD = (
    "The gift link is shown only once and is never stored; a replay cannot show it again. "
    "If it was lost, cancel the gift and make a new one."
)


def withhold_secrets(view: dict[str, Any]) -> dict[str, Any]:
    """The answer as an idempotency record may keep it: a gift link's secret withheld.

    A replay of the same request answers with this, so the secret never rests in a row."""
    gift = view.get("gift")
    if not isinstance(gift, dict) or gift.get("secret") is None:
        return view
    return {
        **view,
        "gift": {
            **gift,
            "link": None,
            "secret": None,
            "link_status": "withheld",
            "link_note": LINK_WITHHELD,
        },
    }


def owner_view(
    svc: Services, uow: ConsumerUnitOfWork, certificate: Certificate, now: datetime
) -> dict[str, Any]:
    """The owner's view of ``certificate``, naming the registry as the gift escrow."""
    return certificate_view(uow, certificate, now, registry=registry_address(svc.ledger))


def _deal_status(action: Action) -> DealStatus:
    """The status a deal is left in by ``action`` (a cancelled offer: cancelled)."""
    found = DEAL_OF_ACTION.get(action)
    return found[1] if found is not None else DealStatus.CANCELLED


def _undo(certificate: Certificate, deal: Deal | None, action: Action) -> dict[str, Any]:
    """What to put back if the step's chain write fails: the certificate as it was, and the
    deal as it was (a deal this very step opened is cancelled)."""
    deal_status = deal.status if deal is not None else None
    if deal is not None and _deal_status(action) is deal.status:
        deal_status = DealStatus.CANCELLED
    return {
        "certificate": {
            "state": certificate.state.value,
            "owner_account_id": certificate.owner_account_id,
            "owner_address": certificate.owner_address,
            "owner_org_id": certificate.owner_org_id,
            "counterparty_org_id": certificate.counterparty_org_id,
            "locked_since": iso(certificate.locked_since),
        },
        "deal": {"id": deal.id, "status": deal_status.value}
        if deal is not None and deal_status is not None
        else None,
    }


def take_step(
    svc: Services,
    uow: ConsumerUnitOfWork,
    actor: Actor,
    certificate: Certificate,
    action: Action,
    now: datetime,
    *,
    deal: Deal | None = None,
    chain: ChainCall | None = None,
    voucher: SignedVoucher | None = None,
    **changes: Any,
) -> Certificate:
    """Apply ``action``: conditional state change, deal status, chain write, history, event.

    A self-custody signer's write needs ``voucher`` (its signature); without one the step
    stops before writing anything and asks for it. A recalled bottle is never handed out: the
    step is refused (409 ``batch_recalled``) before anything is written or queued."""
    if action in HAND_OUT_ACTIONS:
        batch = uow.batches.get_by_id(certificate.batch_id)
        require_hand_out_allowed(action, batch is not None and batch.status is BatchStatus.RECALLED)
    wallet = chain.wallet if chain is not None else None
    if chain is not None and wallet is not None and wallet.sealed_key is None and voucher is None:
        raise _NeedsSignature(certificate.id or 0, chain.call, chain.args, wallet.address)
    assert certificate.id is not None
    target = next_state(certificate.state, action)
    if chain is not None:
        _require_settled(uow, certificate, chain)
    undo = _undo(certificate, deal, action)
    moved = uow.certificates.transition(certificate, target, **changes)
    if moved is None:
        raise CertificateStateError(
            "The certificate changed while this request was handled; reload it and retry."
        )
    if deal is not None:
        status = _deal_status(action)
        settled = status not in (DealStatus.OFFERED, DealStatus.ACTIVE)
        if deal.status is not status and not uow.certificates.set_deal(
            deal, deal.status, status=status, settled_at=now if settled else None
        ):
            raise CertificateStateError("The offer changed meanwhile; reload it and retry.")
        # The answer shows the deal as this step left it.
        deal.status, deal.settled_at = status, now if settled else deal.settled_at
    outbox_id = signer = nonce = None
    if chain is not None and chain.wallet is not None:
        signer = chain.wallet.address
        nonce, after = uow.certificates.take_nonce(signer)
        # The certificate's version after this step: a retry of a step the chain refused
        # (its nonce rewound) is another attempt at the same call over the same nonce.
        attempt = f"{certificate.id}:{moved.version}"
        if chain.wallet.sealed_key is not None:
            outbox_id = svc.ledger.enqueue_forward(
                uow.outbox, chain.wallet, chain.call, chain.args, nonce, after, now, attempt=attempt
            )
        else:
            signed = _checked_voucher(svc, uow, certificate, chain, nonce, now, voucher)
            outbox_id = svc.ledger.enqueue_signed_forward(
                uow.outbox, signer, chain.call, chain.args, signed, after, now, attempt=attempt
            )
        uow.certificates.set_last_write(signer, outbox_id)
    elif chain is not None:
        outbox_id = svc.ledger.enqueue_relayed(
            uow.outbox,
            chain.call,
            chain.args,
            f"{chain.call}:{certificate.token_id}:{moved.version}",
            now,
        )
    uow.certificates.record(
        StepRecord(
            certificate_id=certificate.id,
            action=action.value,
            from_state=certificate.state,
            to_state=target,
            principal_id=actor.principal_id,
            status="queued" if chain is not None else "done",
            at=now,
            deal_id=deal.id if deal is not None else None,
            outbox_id=outbox_id,
            signer=signer,
            nonce=nonce,
            undo=undo,
            version_after=moved.version,
        )
    )
    uow.events.append(
        CertificateActionRequested(
            certificate_id=certificate.public_id,
            action=action.value,
            from_state=certificate.state.value,
            to_state=target.value,
            by=actor.principal_id,
            deal_id=deal.public_id if deal is not None else None,
        ),
        now,
    )
    return moved


def _checked_voucher(
    svc: Services,
    uow: ConsumerUnitOfWork,
    certificate: Certificate,
    chain: ChainCall,
    nonce: int,
    now: datetime,
    voucher: SignedVoucher | None,
) -> SignedVoucher:
    """The owner's signature fits this very request, now, once."""
    assert voucher is not None and chain.wallet is not None
    if voucher.nonce != nonce or voucher.deadline < int(now.timestamp()):
        raise VoucherStaleError()
    signer = svc.ledger.recover_forward_signer(
        chain.wallet.address,
        chain.call,
        chain.args,
        voucher.nonce,
        voucher.deadline,
        voucher.signature,
    )
    if signer is None or signer.lower() != chain.wallet.address.lower():
        raise InvalidVoucherSignatureError()
    if not uow.certificates.use_voucher(voucher.voucher_id, now):
        raise VoucherUsedError()
    return voucher


def _require_settled(uow: ConsumerUnitOfWork, certificate: Certificate, chain: ChainCall) -> None:
    """A chain write must not overtake an earlier one of another signer (it would revert):
    the mint, or the other party's last step, must be on chain first."""
    assert certificate.id is not None
    signer = chain.wallet.address if chain.wallet is not None else None
    for step in reversed(uow.certificates.history([certificate.id])[certificate.id]):
        if step.status in ("queued", "sent") and (step.signer is None or step.signer != signer):
            raise PreviousStepPendingError()
        if step.status in ("queued", "sent", "confirmed"):
            return


def owned_certificate(
    uow: ConsumerUnitOfWork, actor: Actor, public_id: str
) -> tuple[Certificate, Account]:
    """The caller's certificate and account; anyone else's is "not found"."""
    if actor.role is not Role.CONSUMER or actor.account_id is None:
        raise PermissionDeniedError(
            "Only the certificate's owner may do this; sign in with a one-time code."
        )
    certificate = uow.certificates.get(public_id)
    account = uow.accounts.get(actor.account_id)
    if certificate is None or account is None or certificate.owner_account_id != account.id:
        raise CertificateNotFoundError()
    return certificate, account


def owner_wallet(account: Account) -> WalletRef:
    """The owner's wallet; a self-custody one (no key here) signs vouchers instead."""
    if account.custody is Custody.SELF:
        return WalletRef(account.wallet_address, None)
    if account.sealed_key is None:
        raise InvalidDealError("This account's wallet has no key here.")
    return WalletRef(account.wallet_address, account.sealed_key)


def custodial_owner(account: Account) -> WalletRef:
    """Steps the owner signs while someone else acts (a pledgee accepting, a custodian
    confirming, a store handing out): only a custodial wallet can sign then."""
    wallet = owner_wallet(account)
    if wallet.sealed_key is None:
        raise InvalidDealError(
            "With a self-custody wallet, pledges, storage and store pick-ups are not offered "
            "yet (each needs your signature when the other party acts); gifts and claims are."
        )
    return wallet


def require_counterparty(
    uow: ConsumerUnitOfWork, organisation_id: int, kind: OrganisationKind, certificate: Certificate
) -> None:
    """The partner must be of ``kind`` and authorised in that role by the bottle's brand."""
    organisation = uow.organisations.get(organisation_id)
    if organisation is None or organisation.kind is not kind:
        raise InvalidDealError(
            f"Organisation {organisation_id} is not a {kind.value}; choose one from the list."
        )
    batch = uow.batches.get_by_id(certificate.batch_id)
    brand_id = batch.brand_id if batch is not None else None
    if not is_authorised(uow, brand_id, organisation_id, kind.value):
        raise PartnerNotAuthorisedError(
            f"This bottle's brand has not authorised organisation {organisation_id} as a "
            f"{kind.value}; choose one from GET /partners?kind={kind.value}."
        )


#: Associated data of a sealed delivery address (it opens for nothing else).
ADDRESS_CONTEXT = b"tracecert:redemption-address:v1"


# ----------------------------------------------------------------------------- views
def require_open_deal(uow: ConsumerUnitOfWork, certificate: Certificate, kind: DealKind) -> Deal:
    deal = uow.certificates.open_deal(certificate.id or 0, kind)
    if deal is None:
        raise CertificateStateError(
            f"This certificate has no open {kind.value}.", state=certificate.state.value
        )
    return deal


def deal_amount(text: str) -> str:
    try:
        value = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        value = None
    if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
        raise InvalidDealError('amount is a positive number, as text: "10000.00".')
    if len(text) > 24:
        raise InvalidDealError("amount has at most 24 characters.")
    return text


def summary(uow: ConsumerUnitOfWork, certificate: Certificate) -> dict[str, Any]:
    """What a counterparty sees of a certificate: the bottle and its state, not its owner's
    identity (only the wallet address, which the chain shows anyway)."""
    batch = uow.batches.get_by_id(certificate.batch_id)
    return {
        "id": certificate.public_id,
        "serial": certificate.serial,
        "token_id": str(certificate.token_id),
        "state": certificate.state.value,
        "product": product_name(batch),
        "recalled": batch is not None and batch.status is BatchStatus.RECALLED,
        "owner_address": certificate.owner_address,
        "locked_since": iso(certificate.locked_since),
    }
