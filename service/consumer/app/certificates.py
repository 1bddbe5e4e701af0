"""The certificate lifecycle after the claim: gift, pledge, custody and redemption.

Every action goes through :func:`_step`: the domain decides whether it fits the state, the
database applies it with a conditional update (two racing requests: one wins, the other gets
409), and the chain write that mirrors it is queued in the same transaction. Writes a custodial
wallet signs are relayed through the forwarder in nonce order; if one fails on chain, the
ledger's store puts the certificate and its deal back as they were.

Who may do what: the owner (a consumer) gifts, pledges, deposits, withdraws and asks for the
bottle; a gift's recipient accepts it; the pledgee accepts, declines, releases or forecloses; the
custodian confirms or declines a deposit and hands out the bottle of a redemption; a store hands
out a bottle that is not in custody. Anyone else asking gets "not found", so nobody learns
whether another person's certificate exists.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from service.app.ports import Ledger, Secrets, UnitOfWork, UnitOfWorkFactory
from service.consumer.app import commands
from service.consumer.app.consumers import certificate_view, deal_view, registry_address
from service.consumer.domain.accounts import (
    Account,
    Custody,
    Destination,
    normalise_destination,
    recipient_key,
)
from service.consumer.domain.certificates import (
    DEAL_OF_ACTION,
    HAND_OUT_ACTIONS,
    OFFER_OF_STATE,
    Action,
    Certificate,
    CertificateState,
    Deal,
    DealKind,
    DealStatus,
    next_state,
    require_hand_out_allowed,
)
from service.consumer.domain.errors import (
    CertificateNotFoundError,
    CertificateStateError,
    DealNotFoundError,
    InvalidDealError,
    InvalidVoucherSignatureError,
    PreviousStepPendingError,
    VoucherNotFoundError,
    VoucherStaleError,
    VoucherUsedError,
)
from service.consumer.domain.events import CertificateActionRequested
from service.consumer.ports import OtpSender, SignedVoucher, StepRecord, Voucher, WalletRef, Wallets
from service.factory.interface import BatchStatus, product_name
from service.identity.interface import (
    OrganisationNotFoundError,
    PartnerNotAuthorisedError,
    is_authorised,
)
from service.kernel.actor import Actor
from service.kernel.errors import PermissionDeniedError, RequestInProgressError
from service.kernel.events import canonical_json
from service.kernel.idempotency import Idempotency, replay
from service.kernel.ports import Clock, DuplicateError, StoredResponse
from service.kernel.roles import OrganisationKind, Role
from service.kernel.text import printable
from service.kernel.views import iso

#: Gifts wait at most this long for their recipient (and at least an hour).
MAX_GIFT_DAYS = 90
#: Roles the registry requires of a counterparty's wallet.
CHAIN_ROLE = {
    OrganisationKind.PLEDGEE: "PLEDGEE_ROLE",
    OrganisationKind.CUSTODIAN: "CUSTODIAN_ROLE",
}
S, A = CertificateState, Action


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

    uow_factory: UnitOfWorkFactory
    ledger: Ledger
    wallets: Wallets
    secrets: Secrets
    clock: Clock
    #: Delivers a gift's notice to its recipient's phone or email (the sign-in code channel).
    notices: OtpSender | None = None


log = logging.getLogger(__name__)

#: How long a self-custody owner has to sign a prepared request.
VOUCHER_TTL = timedelta(hours=1)


class _NeedsSignature(Exception):
    """A self-custody owner must sign the step's request: nothing is written; the request is
    kept as a voucher and handed back to be signed."""

    def __init__(self, certificate_id: int, call: str, args: tuple[Any, ...], signer: str) -> None:
        super().__init__(call)
        self.certificate_id, self.call, self.args, self.signer = certificate_id, call, args, signer


# ----------------------------------------------------------------------------- plumbing
def _idempotent(
    svc: Services,
    actor: Actor,
    idempotency: Idempotency | None,
    work: Callable[[UnitOfWork, datetime], dict[str, Any]],
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
        view = _view(svc, uow, certificate, now)
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
    work: Callable[[UnitOfWork, datetime], dict[str, Any]],
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


def _view(
    svc: Services, uow: UnitOfWork, certificate: Certificate, now: datetime
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


def _step(
    svc: Services,
    uow: UnitOfWork,
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
    uow: UnitOfWork,
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


def _require_settled(uow: UnitOfWork, certificate: Certificate, chain: ChainCall) -> None:
    """A chain write must not overtake an earlier one of another signer (it would revert):
    the mint, or the other party's last step, must be on chain first."""
    assert certificate.id is not None
    signer = chain.wallet.address if chain.wallet is not None else None
    for step in reversed(uow.certificates.history([certificate.id])[certificate.id]):
        if step.status in ("queued", "sent") and (step.signer is None or step.signer != signer):
            raise PreviousStepPendingError()
        if step.status in ("queued", "sent", "confirmed"):
            return


def _owned(uow: UnitOfWork, actor: Actor, public_id: str) -> tuple[Certificate, Account]:
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


def _owner_wallet(account: Account) -> WalletRef:
    """The owner's wallet; a self-custody one (no key here) signs vouchers instead."""
    if account.custody is Custody.SELF:
        return WalletRef(account.wallet_address, None)
    if account.sealed_key is None:
        raise InvalidDealError("This account's wallet has no key here.")
    return WalletRef(account.wallet_address, account.sealed_key)


def _custodial_owner(account: Account) -> WalletRef:
    """Steps the owner signs while someone else acts (a pledgee accepting, a custodian
    confirming, a store handing out): only a custodial wallet can sign then."""
    wallet = _owner_wallet(account)
    if wallet.sealed_key is None:
        raise InvalidDealError(
            "With a self-custody wallet, pledges, storage and store pick-ups are not offered "
            "yet (each needs your signature when the other party acts); gifts and claims are."
        )
    return wallet


def _counterparty_wallet(
    svc: Services, uow: UnitOfWork, organisation_id: int, kind: OrganisationKind, now: datetime
) -> WalletRef:
    """The organisation's wallet, made (and its role granted on chain) on first use."""
    found = uow.certificates.org_wallet(organisation_id)
    if found is not None:
        return found[0]
    address, sealed = svc.wallets.create()
    role = CHAIN_ROLE.get(kind)
    wallet, made = uow.certificates.add_org_wallet(
        organisation_id, WalletRef(address, sealed), role or "", now
    )
    if made and role is not None:
        grant = svc.ledger.enqueue_grant_role(uow.outbox, role, wallet.address, now)
        uow.certificates.set_wallet_grant(organisation_id, grant)
    return wallet


def _require_granted(uow: UnitOfWork, organisation_id: int) -> WalletRef:
    found = uow.certificates.org_wallet(organisation_id)
    if found is None:
        raise OrganisationNotFoundError()
    wallet, grant = found
    entry = uow.outbox.get(grant) if grant else None
    if entry is not None and entry.status != "confirmed":
        raise PreviousStepPendingError(
            "The counterparty's account is still being registered on chain (its first deal "
            "registers it); nothing changed. Send the same request again in 10 seconds "
            "(Retry-After): it goes through once the registration is confirmed."
        )
    return wallet


def _counterparty(
    uow: UnitOfWork, organisation_id: int, kind: OrganisationKind, certificate: Certificate
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


def partners(actor: Actor, kind: str, uow: UnitOfWork, brand_id: int | None) -> list[Any]:
    """The partners of ``kind`` that the brands of the consumer's certificates authorised
    (only ``brand_id``'s, if given): the ones its bottles can be pledged, deposited or
    redeemed with. Brands the consumer holds no certificate of show nobody."""
    if actor.role is not Role.CONSUMER or actor.account_id is None:
        raise PermissionDeniedError("Sign in with a one-time code to choose a partner.")
    with uow:
        brands: set[int] = set()
        for certificate in uow.certificates.of_account(actor.account_id):
            batch = uow.batches.get_by_id(certificate.batch_id)
            if batch is not None and batch.brand_id is not None:
                brands.add(batch.brand_id)
        if brand_id is not None:
            brands &= {brand_id}
        found: dict[int, Any] = {}
        for brand in sorted(brands):
            for partner_id, roles in uow.tenancy.partners(brand).items():
                if kind in roles:
                    found.setdefault(partner_id, uow.organisations.get(partner_id))
            if kind == OrganisationKind.STORE.value:
                for org in uow.organisations.list(0, 10_000):
                    if org.kind is OrganisationKind.STORE and org.brand_id == brand:
                        found.setdefault(org.id or 0, org)
        return [o for _, o in sorted(found.items()) if o is not None and o.kind.value == kind]


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

    def work(uow: UnitOfWork, now: datetime) -> dict[str, Any]:
        certificate, account = _owned(uow, cmd.actor, cmd.certificate_id)
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
        moved = _step(
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
                _owner_wallet(account),
            ),
            voucher=cmd.voucher,
        )
        view = _view(svc, uow, moved, now)
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
    view = _idempotent(svc, cmd.actor, cmd.idempotency, work, ("gift", params))
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
    def work(uow: UnitOfWork, now: datetime) -> dict[str, Any]:
        certificate, account = _owned(uow, cmd.actor, cmd.certificate_id)
        deal = _open(uow, certificate, DealKind.GIFT)
        moved = _step(
            svc,
            uow,
            cmd.actor,
            certificate,
            A.CANCEL_GIFT,
            now,
            deal=deal,
            chain=ChainCall("cancelGift", (certificate.token_id,), _owner_wallet(account)),
            voucher=cmd.voucher,
        )
        return _view(svc, uow, moved, now)

    params = {"certificate_id": cmd.certificate_id}
    return _idempotent(svc, cmd.actor, cmd.idempotency, work, ("cancel_gift", params))


def pledge(cmd: commands.Pledge, svc: Services) -> dict[str, Any]:
    """Offer the certificate to a pledgee as collateral; the pledgee accepts (then it locks)."""
    amount = _amount(cmd.amount)
    currency = cmd.currency.upper()
    if len(currency) != 3 or not currency.isascii() or not currency.isalpha():
        raise InvalidDealError("currency is an ISO 4217 code such as CNY.")

    def work(uow: UnitOfWork, now: datetime) -> dict[str, Any]:
        certificate, account = _owned(uow, cmd.actor, cmd.certificate_id)
        _counterparty(uow, cmd.pledgee_id, OrganisationKind.PLEDGEE, certificate)
        if cmd.due_date <= now.date():
            raise InvalidDealError("due_date must be in the future.")
        _custodial_owner(account)
        _counterparty_wallet(svc, uow, cmd.pledgee_id, OrganisationKind.PLEDGEE, now)
        deal = uow.certificates.add_deal(
            Deal(
                public_id="plg_" + secrets.token_urlsafe(12),
                certificate_id=certificate.id or 0,
                kind=DealKind.PLEDGE,
                status=DealStatus.OFFERED,
                created_at=now,
                counterparty_org_id=cmd.pledgee_id,
                terms={
                    "amount": amount,
                    "currency": currency,
                    "due_date": cmd.due_date.isoformat(),
                    "terms": printable(cmd.terms, 2000, InvalidDealError, "The terms")
                    if cmd.terms
                    else "",
                },
            )
        )
        moved = _step(svc, uow, cmd.actor, certificate, A.PLEDGE, now, deal=deal)
        return _view(svc, uow, moved, now)

    return _idempotent(svc, cmd.actor, cmd.idempotency, work)


def deposit(cmd: commands.Deposit, svc: Services) -> dict[str, Any]:
    """Offer the bottle to a custodian's storage; the custodian confirms receiving it."""

    def work(uow: UnitOfWork, now: datetime) -> dict[str, Any]:
        certificate, account = _owned(uow, cmd.actor, cmd.certificate_id)
        _counterparty(uow, cmd.custodian_id, OrganisationKind.CUSTODIAN, certificate)
        _custodial_owner(account)
        _counterparty_wallet(svc, uow, cmd.custodian_id, OrganisationKind.CUSTODIAN, now)
        deal = uow.certificates.add_deal(
            Deal(
                public_id="cus_" + secrets.token_urlsafe(12),
                certificate_id=certificate.id or 0,
                kind=DealKind.CUSTODY,
                status=DealStatus.OFFERED,
                created_at=now,
                counterparty_org_id=cmd.custodian_id,
            )
        )
        moved = _step(svc, uow, cmd.actor, certificate, A.DEPOSIT, now, deal=deal)
        return _view(svc, uow, moved, now)

    return _idempotent(svc, cmd.actor, cmd.idempotency, work)


def cancel_offer(cmd: commands.CertificateCommand, svc: Services) -> dict[str, Any]:
    """Take back a pledge or storage offer nobody has accepted, or a request of the bottle from
    a store nobody has fulfilled (nothing is on chain yet for any of them)."""

    def work(uow: UnitOfWork, now: datetime) -> dict[str, Any]:
        certificate, _ = _owned(uow, cmd.actor, cmd.certificate_id)
        kind = OFFER_OF_STATE.get(certificate.state)
        if kind is None:
            raise CertificateStateError(
                f"A certificate that is {certificate.state.value} has no offer to take back.",
                state=certificate.state.value,
            )
        deal = _open(uow, certificate, kind)
        if deal.origin_state is S.IN_CUSTODY:
            raise CertificateStateError(
                "The custodian was asked on chain to hand the bottle out; ask them to release "
                "it instead.",
                state=certificate.state.value,
            )
        moved = _step(svc, uow, cmd.actor, certificate, A.CANCEL_OFFER, now, deal=deal)
        return _view(svc, uow, moved, now)

    return _idempotent(svc, cmd.actor, cmd.idempotency, work)


def withdraw(cmd: commands.CertificateCommand, svc: Services) -> dict[str, Any]:
    """Take the bottle out of storage: the custodian's release ends the lock."""

    def work(uow: UnitOfWork, now: datetime) -> dict[str, Any]:
        certificate, _ = _owned(uow, cmd.actor, cmd.certificate_id)
        deal = _open(uow, certificate, DealKind.CUSTODY)
        assert deal.counterparty_org_id is not None
        custodian = _require_granted(uow, deal.counterparty_org_id)
        moved = _step(
            svc,
            uow,
            cmd.actor,
            certificate,
            A.WITHDRAW,
            now,
            deal=deal,
            chain=ChainCall("releaseCustody", (certificate.token_id,), custodian),
            counterparty_org_id=None,
            locked_since=None,
        )
        return _view(svc, uow, moved, now)

    return _idempotent(svc, cmd.actor, cmd.idempotency, work)


def request_redemption(cmd: commands.RequestRedemption, svc: Services) -> dict[str, Any]:
    """Ask for the physical bottle: from the custodian's storage, or (not in storage) from a
    store, picked up or delivered. A delivery address is sealed and never leaves the service."""
    if cmd.method not in ("pickup", "delivery"):
        raise InvalidDealError("method is pickup or delivery.")
    if cmd.method == "delivery" and not cmd.address:
        raise InvalidDealError("A delivery needs an address.")

    def work(uow: UnitOfWork, now: datetime) -> dict[str, Any]:
        certificate, account = _owned(uow, cmd.actor, cmd.certificate_id)
        # The state first: a second request (from storage or a store) is a state conflict,
        # whatever else it lacks.
        next_state(certificate.state, A.REQUEST_REDEMPTION)
        wallet = _owner_wallet(account)
        custody = uow.certificates.open_deal(certificate.id or 0, DealKind.CUSTODY)
        in_custody = certificate.state is S.IN_CUSTODY and custody is not None
        if in_custody:
            assert custody is not None
            counterparty = custody.counterparty_org_id
        else:
            if cmd.store_id is None:
                raise InvalidDealError("Name the store (store_id) that hands out the bottle.")
            _custodial_owner(account)
            _counterparty(uow, cmd.store_id, OrganisationKind.STORE, certificate)
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
        moved = _step(
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
        return _view(svc, uow, moved, now)

    params = {
        "certificate_id": cmd.certificate_id,
        "method": cmd.method,
        "store_id": cmd.store_id,
        "address": cmd.address,
    }
    return _idempotent(svc, cmd.actor, cmd.idempotency, work, ("request_redemption", params))


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


# ----------------------------------------------------------------------------- recipient
def accept_gift(cmd: commands.AcceptGift, svc: Services) -> dict[str, Any]:
    """Accept a gift (named, or by its link's secret): the certificate moves to the caller."""
    if cmd.actor.role is not Role.CONSUMER or cmd.actor.account_id is None:
        raise PermissionDeniedError("Sign in (or sign up) to accept a gift.")

    def work(uow: UnitOfWork, now: datetime) -> dict[str, Any]:
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
        moved = _step(
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
        return _view(svc, uow, moved, now)

    return _idempotent(svc, cmd.actor, cmd.idempotency, work)


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


def incoming_gifts(actor: Actor, uow: UnitOfWork, secrets_: Secrets) -> list[dict[str, Any]]:
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


# ----------------------------------------------------------------------------- counterparties
def require_own_deal(actor: Actor, public_id: str, uow: UnitOfWork) -> None:
    """Raise :class:`DealNotFoundError` unless the caller's organisation is the deal's
    counterparty: a verb on someone else's deal learns nothing, not even which verbs it takes."""
    if actor.role not in (Role.PLEDGEE, Role.CUSTODIAN, Role.STORE):
        raise PermissionDeniedError("Deals are for pledgees, custodians and stores.")
    with uow:
        deal = uow.certificates.deal(public_id)
    if (
        deal is None
        or actor.organisation_id is None
        or deal.counterparty_org_id != actor.organisation_id
    ):
        raise DealNotFoundError()


def _counterparty_deal(
    uow: UnitOfWork, actor: Actor, public_id: str, kind: DealKind, role: Role
) -> tuple[Deal, Certificate]:
    if actor.role is not role or actor.organisation_id is None:
        raise PermissionDeniedError(
            f"Only the {kind.value}'s {role.value} may do this; use a {role.value} key."
        )
    deal = uow.certificates.deal(public_id)
    if deal is None or deal.kind is not kind or deal.counterparty_org_id != actor.organisation_id:
        raise DealNotFoundError()
    certificate = uow.certificates.get_by_id(deal.certificate_id)
    if certificate is None:
        raise DealNotFoundError()
    return deal, certificate


def _owner_of(uow: UnitOfWork, certificate: Certificate) -> WalletRef:
    account = uow.accounts.get(certificate.owner_account_id or 0)
    if account is None:
        raise InvalidDealError("The certificate's owner has no custodial wallet here.")
    return _custodial_owner(account)


def pledgee_action(cmd: commands.DealCommand, svc: Services, action: Action) -> dict[str, Any]:
    """accept_pledge, decline_pledge, release_pledge or foreclose, by the pledgee."""

    def work(uow: UnitOfWork, now: datetime) -> dict[str, Any]:
        deal, certificate = _counterparty_deal(
            uow, cmd.actor, cmd.deal_id, DealKind.PLEDGE, Role.PLEDGEE
        )
        org = deal.counterparty_org_id or 0
        changes: dict[str, Any] = {}
        chain: ChainCall | None = None
        if action is A.ACCEPT_PLEDGE:
            pledgee = _require_granted(uow, org)
            chain = ChainCall(
                "pledge", (certificate.token_id, pledgee.address), _owner_of(uow, certificate)
            )
            changes = {"counterparty_org_id": org}
        elif action is A.RELEASE_PLEDGE:
            chain = ChainCall("releasePledge", (certificate.token_id,), _require_granted(uow, org))
            changes = {"counterparty_org_id": None, "locked_since": None}
        elif action is A.FORECLOSE:
            due = date.fromisoformat(str(deal.terms.get("due_date")))
            if now.date() <= due:
                raise InvalidDealError(
                    f"The pledge is due on {due.isoformat()}; it can be foreclosed after that."
                )
            pledgee = _require_granted(uow, org)
            chain = ChainCall("foreclosePledge", (certificate.token_id,), pledgee)
            changes = {
                "counterparty_org_id": None,
                "locked_since": None,
                "owner_account_id": None,
                "owner_org_id": org,
                "owner_address": pledgee.address,
            }
        moved = _step(
            svc, uow, cmd.actor, certificate, action, now, deal=deal, chain=chain, **changes
        )
        return {**deal_view(deal, moved), "certificate": summary(uow, moved)}

    return _idempotent(svc, cmd.actor, cmd.idempotency, work)


def custodian_action(cmd: commands.DealCommand, svc: Services, action: Action) -> dict[str, Any]:
    """confirm_deposit or decline_deposit (custody deals), or fulfil_redemption (redemption
    deals) by the custodian; a store fulfils redemptions of bottles not in storage."""

    def work(uow: UnitOfWork, now: datetime) -> dict[str, Any]:
        kind = DealKind.REDEMPTION if action is A.FULFIL_REDEMPTION else DealKind.CUSTODY
        # A store hands out bottles it was asked for; everything else is the custodian's.
        store = kind is DealKind.REDEMPTION and cmd.actor.role is Role.STORE
        role = Role.STORE if store else Role.CUSTODIAN
        deal, certificate = _counterparty_deal(uow, cmd.actor, cmd.deal_id, kind, role)
        org = deal.counterparty_org_id or 0
        changes: dict[str, Any] = {}
        chain: ChainCall | None = None
        if action is A.CONFIRM_DEPOSIT:
            custodian = _require_granted(uow, org)
            chain = ChainCall(
                "depositToCustody",
                (certificate.token_id, custodian.address),
                _owner_of(uow, certificate),
            )
            changes = {"counterparty_org_id": org}
        elif action is A.FULFIL_REDEMPTION:
            if deal.origin_state is S.IN_CUSTODY:
                chain = ChainCall(
                    "fulfilRedemption", (certificate.token_id,), _require_granted(uow, org)
                )
            else:
                chain = ChainCall("redeem", (certificate.token_id,), _owner_of(uow, certificate))
            custody = uow.certificates.open_deal(certificate.id or 0, DealKind.CUSTODY)
            if custody is not None:
                uow.certificates.set_deal(
                    custody, custody.status, status=DealStatus.DONE, settled_at=now
                )
        moved = _step(
            svc, uow, cmd.actor, certificate, action, now, deal=deal, chain=chain, **changes
        )
        return {**deal_view(deal, moved), "certificate": summary(uow, moved)}

    return _idempotent(svc, cmd.actor, cmd.idempotency, work)


#: Associated data of a sealed delivery address (it opens for nothing else).
ADDRESS_CONTEXT = b"tracecert:redemption-address:v1"
GIFT_SECRET_CONTEXT = b"tracecert:gift-secret:v1"


def counterparty_deals(
    actor: Actor, uow: UnitOfWork, status: str | None, secrets_: Secrets
) -> list[dict[str, Any]]:
    """A pledgee's pledges, a custodian's deposits and redemptions, a store's redemptions;
    the store or custodian of a delivery sees its address (nobody else does)."""
    kinds = {
        Role.PLEDGEE: [DealKind.PLEDGE],
        Role.CUSTODIAN: [DealKind.CUSTODY, DealKind.REDEMPTION],
        Role.STORE: [DealKind.REDEMPTION],
    }.get(actor.role)
    if kinds is None or actor.organisation_id is None:
        raise PermissionDeniedError("Deals are for pledgees, custodians and stores.")
    try:
        statuses = [DealStatus(status)] if status else []
    except ValueError:
        raise InvalidDealError(
            "status is one of " + ", ".join(s.value for s in DealStatus) + "."
        ) from None
    with uow:
        out = []
        for kind in kinds:
            for deal in uow.certificates.deals(
                counterparty_org_id=actor.organisation_id, kind=kind, statuses=statuses
            ):
                certificate = uow.certificates.get_by_id(deal.certificate_id)
                if certificate is None:
                    continue
                view = {**deal_view(deal, certificate), "certificate": summary(uow, certificate)}
                if deal.sealed_details is not None:
                    view["delivery_address"] = secrets_.unseal(
                        deal.sealed_details, ADDRESS_CONTEXT
                    ).decode()
                out.append(view)
        return out


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
                _step(
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


# ----------------------------------------------------------------------------- views
def _open(uow: UnitOfWork, certificate: Certificate, kind: DealKind) -> Deal:
    deal = uow.certificates.open_deal(certificate.id or 0, kind)
    if deal is None:
        raise CertificateStateError(
            f"This certificate has no open {kind.value}.", state=certificate.state.value
        )
    return deal


def _amount(text: str) -> str:
    try:
        value = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        value = None
    if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
        raise InvalidDealError('amount is a positive number, as text: "10000.00".')
    if len(text) > 24:
        raise InvalidDealError("amount has at most 24 characters.")
    return text


def summary(uow: UnitOfWork, certificate: Certificate) -> dict[str, Any]:
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


@dataclass(frozen=True)
class CertificateUseCases:
    """The certificate lifecycle's use cases (owners' steps, gifts, deals of pledgees,
    custodians and stores) with :class:`Services` and the resolver's address bound once in
    bootstrap: the routes pass the command only. Reads build a reader unit of work."""

    services: Services
    #: Gift links and vouchers point at the resolver (settings).
    resolver_url: str

    def gift(self, cmd: commands.Gift) -> dict[str, Any]:
        return gift(cmd, self.services, self.resolver_url)

    def cancel_gift(self, cmd: commands.CertificateCommand) -> dict[str, Any]:
        return cancel_gift(cmd, self.services)

    def pledge(self, cmd: commands.Pledge) -> dict[str, Any]:
        return pledge(cmd, self.services)

    def deposit(self, cmd: commands.Deposit) -> dict[str, Any]:
        return deposit(cmd, self.services)

    def cancel_offer(self, cmd: commands.CertificateCommand) -> dict[str, Any]:
        return cancel_offer(cmd, self.services)

    def withdraw(self, cmd: commands.CertificateCommand) -> dict[str, Any]:
        return withdraw(cmd, self.services)

    def request_redemption(self, cmd: commands.RequestRedemption) -> dict[str, Any]:
        return request_redemption(cmd, self.services)

    def sign_voucher(
        self,
        actor: Actor,
        voucher_id: str,
        signature: bytes,
        idempotency: Idempotency | None = None,
    ) -> dict[str, Any]:
        return sign_voucher(
            actor, voucher_id, signature, self.services, self.resolver_url, idempotency
        )

    def incoming_gifts(self, actor: Actor) -> list[dict[str, Any]]:
        return incoming_gifts(actor, self.services.uow_factory.reader(), self.services.secrets)

    def accept_gift(self, cmd: commands.AcceptGift) -> dict[str, Any]:
        return accept_gift(cmd, self.services)

    def partners(self, actor: Actor, kind: str, brand_id: int | None) -> list[Any]:
        return partners(actor, kind, self.services.uow_factory.reader(), brand_id)

    def counterparty_deals(self, actor: Actor, status: str | None) -> list[dict[str, Any]]:
        return counterparty_deals(
            actor, self.services.uow_factory.reader(), status, self.services.secrets
        )

    def require_own_deal(self, actor: Actor, deal_id: str) -> None:
        require_own_deal(actor, deal_id, self.services.uow_factory.reader())

    def pledgee_action(self, cmd: commands.DealCommand, action: Action) -> dict[str, Any]:
        return pledgee_action(cmd, self.services, action)

    def custodian_action(self, cmd: commands.DealCommand, action: Action) -> dict[str, Any]:
        return custodian_action(cmd, self.services, action)
