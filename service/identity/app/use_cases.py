"""Identity's use cases with their adapters bound once in bootstrap."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from service.identity.app import scanner_sessions
from service.identity.app.commands import CreateApiKey, CreateOrganisation, RevokeApiKey
from service.identity.app.organisations import (
    IssuedApiKey,
    authenticate,
    create_admin,
    create_api_key,
    create_organisation,
    list_organisations,
    revoke_api_key,
)
from service.identity.app.tenancy import (
    company_prefixes,
    list_partners,
    set_company_prefixes,
    set_partner,
)
from service.identity.domain.api_keys import ApiKey
from service.identity.domain.organisations import Organisation
from service.identity.ports import IdentityUnitOfWorkFactory
from service.kernel.actor import Actor
from service.kernel.ports import Clock


@dataclass(frozen=True)
class OrganisationUseCases:
    """The identity area's use cases: organisations, their API keys and scanner sessions, a
    brand's company prefixes and partners, with the adapters bound once in bootstrap: the
    routes and the CLI pass the command or the request's data only. Each builds its own unit
    of work (a reader for those that only read)."""

    uows: IdentityUnitOfWorkFactory
    clock: Clock
    #: Settings: the API keys' pepper, how long a scanner session lasts.
    pepper: bytes
    scanner_session_ttl_s: int

    def authenticate(self, bearer: str | None) -> Actor:
        """The caller of a valid API key."""
        return authenticate(self.uows.reader(), self.pepper, bearer)

    def organisation(self, organisation_id: int) -> Organisation | None:
        with self.uows.reader() as uow:
            return uow.organisations.get(organisation_id)

    def create_admin(self, name: str) -> tuple[Organisation, IssuedApiKey]:
        return create_admin(name, self.uows, self.clock, self.pepper)

    def create_organisation(self, cmd: CreateOrganisation) -> Organisation:
        return create_organisation(cmd, self.uows(), self.clock)

    def list_organisations(self, actor: Actor, offset: int, limit: int) -> list[Organisation]:
        return list_organisations(actor, self.uows(), offset, limit)

    def create_api_key(self, cmd: CreateApiKey) -> IssuedApiKey:
        return create_api_key(cmd, self.uows(), self.clock, self.pepper)

    def revoke_api_key(self, cmd: RevokeApiKey) -> ApiKey:
        return revoke_api_key(cmd, self.uows(), self.clock)

    def company_prefixes(self, actor: Actor, organisation_id: int) -> list[str]:
        return company_prefixes(actor, organisation_id, self.uows.reader())

    def set_company_prefixes(
        self, actor: Actor, organisation_id: int, prefixes: Sequence[str]
    ) -> list[str]:
        return set_company_prefixes(actor, organisation_id, prefixes, self.uows(), self.clock)

    def list_partners(self, actor: Actor, brand_id: int | None) -> list[dict[str, Any]]:
        return list_partners(actor, self.uows.reader(), brand_id)

    def set_partner(
        self, actor: Actor, partner_id: int, roles: Sequence[str], brand_id: int | None = None
    ) -> dict[str, Any] | None:
        return set_partner(actor, partner_id, roles, self.uows(), self.clock, brand_id)

    def open_scanner_session(self, actor: Actor) -> scanner_sessions.OpenedSession:
        return scanner_sessions.open_session(
            actor, self.uows(), self.clock, self.scanner_session_ttl_s
        )

    def scanner_session(self, token: str) -> tuple[Actor, str]:
        """The actor of a live scanner session token, and the session id."""
        return scanner_sessions.authenticate(token, self.uows, self.clock)

    def end_scanner_session(self, session_id: str) -> None:
        scanner_sessions.end_session(session_id, self.uows, self.clock)
