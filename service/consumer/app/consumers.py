"""The consumers' use cases bound once in bootstrap: accounts and sessions (``accounts.py``),
claims and "my certificates" (``claims.py``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from service.channel.interface import RegionTree
from service.consumer.app import commands
from service.consumer.app.accounts import (
    CodeLimits,
    authenticate,
    bind_wallet,
    erase_account,
    me,
    refresh,
    request_code,
    sign_in,
    sign_out,
    wallet_challenge,
)
from service.consumer.app.claims import claim, get_certificate, my_certificates
from service.consumer.ports import (
    CertificateChain,
    CertificateCommitments,
    ConsumerSecrets,
    ConsumerUnitOfWorkFactory,
    OtpSender,
    SessionTokens,
    Wallets,
)
from service.kernel.actor import Actor
from service.kernel.ports import Clock, ReferenceCache


@dataclass(frozen=True)
class ConsumerUseCases:
    """The consumers' use cases (sign-in codes, sessions, wallets, claims, their certificates)
    with their adapters and settings bound once in bootstrap: the routes and the CLI pass the
    request's data only. Each builds its own unit of work (a reader for those that only read)."""

    uows: ConsumerUnitOfWorkFactory
    commitments: CertificateCommitments
    ledger: CertificateChain
    secrets: ConsumerSecrets
    wallets: Wallets
    tokens: SessionTokens
    otp_sender: OtpSender
    regions: Callable[[], RegionTree]
    clock: Clock
    #: Sessions checked recently are remembered here (the API's dependency); ending one forgets it.
    cache: ReferenceCache
    #: Settings: how many sign-in codes may go out, and how long tokens last.
    code_limits: CodeLimits
    access_ttl: timedelta
    refresh_ttl: timedelta

    def request_code(self, cmd: commands.RequestCode) -> dict[str, Any]:
        return request_code(
            cmd, self.uows, self.secrets, self.otp_sender, self.clock, self.code_limits
        )

    def sign_in(self, cmd: commands.SignIn) -> dict[str, Any]:
        return sign_in(
            cmd,
            self.uows,
            self.secrets,
            self.wallets,
            self.tokens,
            self.clock,
            self.access_ttl,
            self.refresh_ttl,
        )

    def refresh(self, refresh_token: str) -> dict[str, Any]:
        return refresh(
            refresh_token,
            self.uows,
            self.tokens,
            self.clock,
            self.access_ttl,
            self.refresh_ttl,
            self.forget_session,
        )

    def authenticate(self, token: str) -> tuple[Actor, str]:
        return authenticate(token, self.uows, self.tokens, self.clock)

    def forget_session(self, session_id: str) -> None:
        """Stop answering the session from memory (signed out, or its refresh token reused)."""
        self.cache.forget(("session", session_id))

    def sign_out(self, session_id: str) -> None:
        sign_out(session_id, self.uows, self.clock)

    def me(self, actor: Actor) -> dict[str, Any]:
        return me(actor, self.uows.reader())

    def erase_account(self, actor: Actor) -> None:
        """Erase the signed-in consumer; the sessions it ended are forgotten here at once."""
        for session_id in erase_account(actor, self.uows, self.secrets, self.clock):
            self.cache.forget(("session", session_id))

    def wallet_challenge(self, actor: Actor, address: str) -> dict[str, Any]:
        return wallet_challenge(actor, address, self.uows, self.ledger, self.clock)

    def bind_wallet(
        self, actor: Actor, address: str, deadline: int, signature: bytes
    ) -> dict[str, Any]:
        return bind_wallet(actor, address, deadline, signature, self.uows, self.ledger, self.clock)

    def my_certificates(self, actor: Actor) -> list[dict[str, Any]]:
        return my_certificates(actor, self.uows.reader(), self.clock, self.ledger)

    def get_certificate(self, actor: Actor, certificate_id: str) -> dict[str, Any]:
        return get_certificate(actor, self.uows.reader(), certificate_id, self.clock, self.ledger)

    def claim(self, cmd: commands.ClaimCertificate) -> dict[str, Any]:
        return claim(cmd, self.uows, self.commitments, self.secrets, self.regions, self.clock)
