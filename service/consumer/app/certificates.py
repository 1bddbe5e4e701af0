"""The certificate lifecycle after the claim: gift, pledge, custody and redemption.

Every action goes through :func:`take_step`: the domain decides whether it fits the state, the
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

from dataclasses import dataclass
from typing import Any

from service.consumer.app import commands
from service.consumer.app.deals import (
    cancel_offer,
    counterparty_deals,
    custodian_action,
    deposit,
    partners,
    pledge,
    pledgee_action,
    require_own_deal,
    withdraw,
)
from service.consumer.app.gifts import accept_gift, cancel_gift, gift, incoming_gifts
from service.consumer.app.lifecycle import Services
from service.consumer.app.redemption import request_redemption
from service.consumer.app.vouchers import sign_voucher
from service.consumer.domain.certificates import Action
from service.kernel.actor import Actor
from service.kernel.idempotency import Idempotency


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
