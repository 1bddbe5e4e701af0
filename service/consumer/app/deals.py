"""Pledges and deposits: a certificate offered to a pledgee (a lender) or a custodian (the
brand's storage), and what each side does with the deal."""

from __future__ import annotations

import secrets
from datetime import date, datetime
from typing import Any

from service.consumer.app import commands
from service.consumer.app.lifecycle import (
    ADDRESS_CONTEXT,
    CHAIN_ROLE,
    ChainCall,
    Services,
    custodial_owner,
    deal_amount,
    owned_certificate,
    owner_view,
    require_counterparty,
    require_open_deal,
    run_idempotent,
    summary,
    take_step,
)
from service.consumer.app.views import deal_view
from service.consumer.domain.certificates import (
    OFFER_OF_STATE,
    Action,
    Certificate,
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
from service.consumer.ports import ConsumerSecrets, ConsumerUnitOfWork, WalletRef
from service.identity.interface import OrganisationNotFoundError
from service.kernel.actor import Actor
from service.kernel.errors import PermissionDeniedError
from service.kernel.roles import OrganisationKind, Role
from service.kernel.text import printable

S, A = CertificateState, Action


def _counterparty_wallet(
    svc: Services,
    uow: ConsumerUnitOfWork,
    organisation_id: int,
    kind: OrganisationKind,
    now: datetime,
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


def _require_granted(uow: ConsumerUnitOfWork, organisation_id: int) -> WalletRef:
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


def partners(actor: Actor, kind: str, uow: ConsumerUnitOfWork, brand_id: int | None) -> list[Any]:
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


def pledge(cmd: commands.Pledge, svc: Services) -> dict[str, Any]:
    """Offer the certificate to a pledgee as collateral; the pledgee accepts (then it locks)."""
    amount = deal_amount(cmd.amount)
    currency = cmd.currency.upper()
    if len(currency) != 3 or not currency.isascii() or not currency.isalpha():
        raise InvalidDealError("currency is an ISO 4217 code such as CNY.")

    def work(uow: ConsumerUnitOfWork, now: datetime) -> dict[str, Any]:
        certificate, account = owned_certificate(uow, cmd.actor, cmd.certificate_id)
        require_counterparty(uow, cmd.pledgee_id, OrganisationKind.PLEDGEE, certificate)
        if cmd.due_date <= now.date():
            raise InvalidDealError("due_date must be in the future.")
        custodial_owner(account)
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
        moved = take_step(svc, uow, cmd.actor, certificate, A.PLEDGE, now, deal=deal)
        return owner_view(svc, uow, moved, now)

    return run_idempotent(svc, cmd.actor, cmd.idempotency, work)


def deposit(cmd: commands.Deposit, svc: Services) -> dict[str, Any]:
    """Offer the bottle to a custodian's storage; the custodian confirms receiving it."""

    def work(uow: ConsumerUnitOfWork, now: datetime) -> dict[str, Any]:
        certificate, account = owned_certificate(uow, cmd.actor, cmd.certificate_id)
        require_counterparty(uow, cmd.custodian_id, OrganisationKind.CUSTODIAN, certificate)
        custodial_owner(account)
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
        moved = take_step(svc, uow, cmd.actor, certificate, A.DEPOSIT, now, deal=deal)
        return owner_view(svc, uow, moved, now)

    return run_idempotent(svc, cmd.actor, cmd.idempotency, work)


def cancel_offer(cmd: commands.CertificateCommand, svc: Services) -> dict[str, Any]:
    """Take back a pledge or storage offer nobody has accepted, or a request of the bottle from
    a store nobody has fulfilled (nothing is on chain yet for any of them)."""

    def work(uow: ConsumerUnitOfWork, now: datetime) -> dict[str, Any]:
        certificate, _ = owned_certificate(uow, cmd.actor, cmd.certificate_id)
        kind = OFFER_OF_STATE.get(certificate.state)
        if kind is None:
            raise CertificateStateError(
                f"A certificate that is {certificate.state.value} has no offer to take back.",
                state=certificate.state.value,
            )
        deal = require_open_deal(uow, certificate, kind)
        if deal.origin_state is S.IN_CUSTODY:
            raise CertificateStateError(
                "The custodian was asked on chain to hand the bottle out; ask them to release "
                "it instead.",
                state=certificate.state.value,
            )
        moved = take_step(svc, uow, cmd.actor, certificate, A.CANCEL_OFFER, now, deal=deal)
        return owner_view(svc, uow, moved, now)

    return run_idempotent(svc, cmd.actor, cmd.idempotency, work)


def withdraw(cmd: commands.CertificateCommand, svc: Services) -> dict[str, Any]:
    """Take the bottle out of storage: the custodian's release ends the lock."""

    def work(uow: ConsumerUnitOfWork, now: datetime) -> dict[str, Any]:
        certificate, _ = owned_certificate(uow, cmd.actor, cmd.certificate_id)
        deal = require_open_deal(uow, certificate, DealKind.CUSTODY)
        assert deal.counterparty_org_id is not None
        custodian = _require_granted(uow, deal.counterparty_org_id)
        moved = take_step(
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
        return owner_view(svc, uow, moved, now)

    return run_idempotent(svc, cmd.actor, cmd.idempotency, work)


# ----------------------------------------------------------------------------- counterparties
def require_own_deal(actor: Actor, public_id: str, uow: ConsumerUnitOfWork) -> None:
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
    uow: ConsumerUnitOfWork, actor: Actor, public_id: str, kind: DealKind, role: Role
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


def _owner_of(uow: ConsumerUnitOfWork, certificate: Certificate) -> WalletRef:
    account = uow.accounts.get(certificate.owner_account_id or 0)
    if account is None:
        raise InvalidDealError("The certificate's owner has no custodial wallet here.")
    return custodial_owner(account)


def pledgee_action(cmd: commands.DealCommand, svc: Services, action: Action) -> dict[str, Any]:
    """accept_pledge, decline_pledge, release_pledge or foreclose, by the pledgee."""

    def work(uow: ConsumerUnitOfWork, now: datetime) -> dict[str, Any]:
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
        moved = take_step(
            svc, uow, cmd.actor, certificate, action, now, deal=deal, chain=chain, **changes
        )
        return {**deal_view(deal, moved), "certificate": summary(uow, moved)}

    return run_idempotent(svc, cmd.actor, cmd.idempotency, work)


def custodian_action(cmd: commands.DealCommand, svc: Services, action: Action) -> dict[str, Any]:
    """confirm_deposit or decline_deposit (custody deals), or fulfil_redemption (redemption
    deals) by the custodian; a store fulfils redemptions of bottles not in storage."""

    def work(uow: ConsumerUnitOfWork, now: datetime) -> dict[str, Any]:
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
        moved = take_step(
            svc, uow, cmd.actor, certificate, action, now, deal=deal, chain=chain, **changes
        )
        return {**deal_view(deal, moved), "certificate": summary(uow, moved)}

    return run_idempotent(svc, cmd.actor, cmd.idempotency, work)


def counterparty_deals(
    actor: Actor, uow: ConsumerUnitOfWork, status: str | None, secrets_: ConsumerSecrets
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
