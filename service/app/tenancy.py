"""Tenancy use cases: the company prefixes a brand holds (admin) and the partners it
authorises (the brand), and the checks other use cases make against them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from service.app import commands, handlers, scanner_sessions
from service.app.ports import UnitOfWork, UnitOfWorkFactory
from service.identity.domain.api_keys import ApiKey
from service.identity.domain.errors import (
    CompanyPrefixTakenError,
    GtinOutsideCompanyPrefixesError,
    OrganisationNotFoundError,
    PartnerNotAuthorisedError,
)
from service.identity.domain.events import CompanyPrefixesSet, PartnerAuthorised
from service.identity.domain.organisations import Organisation
from service.identity.domain.tenancy import PartnerRole, normalise_prefixes, partner_roles, within
from service.kernel.actor import Actor
from service.kernel.errors import InvalidRequestError, PermissionDeniedError
from service.kernel.ports import Clock, DuplicateError
from service.kernel.roles import OrganisationKind, Permission, Role

#: The organisation kinds that may be authorised in each partner role.
KINDS_BY_PARTNER_ROLE: dict[PartnerRole, frozenset[OrganisationKind]] = {
    PartnerRole.STORE: frozenset({OrganisationKind.STORE}),
    PartnerRole.CUSTODIAN: frozenset({OrganisationKind.CUSTODIAN}),
    PartnerRole.PLEDGEE: frozenset({OrganisationKind.PLEDGEE}),
    PartnerRole.ATTESTOR: frozenset({OrganisationKind.ATTESTOR}),
}


def _brand(uow: UnitOfWork, organisation_id: int) -> Organisation:
    found = uow.organisations.get(organisation_id)
    if found is None or found.kind is not OrganisationKind.BRAND:
        raise OrganisationNotFoundError(f"Organisation {organisation_id} is not a brand.")
    return found


# ----------------------------------------------------------------------------- prefixes
def company_prefixes(actor: Actor, organisation_id: int, uow: UnitOfWork) -> list[str]:
    """The GS1 company prefixes a brand holds (admin)."""
    actor.require(Permission.MANAGE_ORGANISATIONS)
    with uow:
        _brand(uow, organisation_id)
        return uow.tenancy.prefixes_of(organisation_id)


def set_company_prefixes(
    actor: Actor, organisation_id: int, prefixes: Sequence[str], uow: UnitOfWork, clock: Clock
) -> list[str]:
    """Record the GS1 company prefixes GS1 assigned to a brand, replacing its earlier ones
    (admin). A prefix overlapping one another organisation holds is refused."""
    actor.require(Permission.MANAGE_ORGANISATIONS)
    wanted = normalise_prefixes(prefixes)
    with uow:
        _brand(uow, organisation_id)
        for prefix in wanted:
            others = {p for p, o in uow.tenancy.overlapping(prefix).items() if o != organisation_id}
            if others:
                raise CompanyPrefixTakenError(
                    f"The prefix {prefix} overlaps {', '.join(sorted(others))}, which another "
                    "organisation holds; check the prefix GS1 assigned to this brand."
                )
        now = clock.now()
        try:
            uow.tenancy.set_prefixes(organisation_id, wanted, now)
        except DuplicateError as exc:
            raise CompanyPrefixTakenError() from exc
        uow.events.append(CompanyPrefixesSet(organisation_id, tuple(wanted)), now)
        uow.commit()
    return wanted


def require_within_prefixes(uow: UnitOfWork, brand_id: int, gtin14: str) -> None:
    """Raise unless the GTIN falls within one of the brand's own company prefixes.

    Checked before anything about the GTIN is looked up, so a refusal never tells whether
    another tenant registered it.
    """
    if not within(gtin14, uow.tenancy.prefixes_of(brand_id)):
        raise GtinOutsideCompanyPrefixesError()


# ----------------------------------------------------------------------------- partners
def _brand_of(actor: Actor, brand_id: int | None) -> int:
    """The brand a partner list is about: the caller's own, or (admin) the one named."""
    if actor.role is Role.ADMIN:
        if brand_id is None:
            raise InvalidRequestError("An admin names the brand (brand_id).")
        return brand_id
    if actor.role is not Role.BRAND or actor.brand_id is None:
        raise PermissionDeniedError(
            f"The role '{actor.role}' may not manage partners; use the brand's key."
        )
    if brand_id is not None and brand_id != actor.brand_id:
        raise PermissionDeniedError("A brand manages its own partners only.")
    return actor.brand_id


def partner_view(organisation: Organisation, roles: frozenset[str]) -> dict[str, Any]:
    return {
        "organisation_id": organisation.id,
        "name": organisation.name,
        "kind": organisation.kind.value,
        "roles": sorted(roles),
    }


def list_partners(
    actor: Actor, uow: UnitOfWork, brand_id: int | None = None
) -> list[dict[str, Any]]:
    """The partners the brand authorised and their roles."""
    brand = _brand_of(actor, brand_id)
    with uow:
        out = []
        for partner_id, roles in uow.tenancy.partners(brand).items():
            organisation = uow.organisations.get(partner_id)
            if organisation is not None:
                out.append(partner_view(organisation, roles))
        return out


def set_partner(
    actor: Actor,
    partner_id: int,
    roles: Sequence[str],
    uow: UnitOfWork,
    clock: Clock,
    brand_id: int | None = None,
) -> dict[str, Any] | None:
    """Authorise a partner organisation in ``roles`` for the brand's bottles (replacing its
    earlier roles; none removes it)."""
    brand = _brand_of(actor, brand_id)
    wanted = partner_roles(roles) if roles else frozenset()
    with uow:
        _brand(uow, brand)
        partner = uow.organisations.get(partner_id)
        if partner is None:
            raise OrganisationNotFoundError(f"There is no organisation {partner_id}.")
        for role in wanted:
            if partner.kind not in KINDS_BY_PARTNER_ROLE[role]:
                raise InvalidRequestError(
                    f"Organisation {partner_id} is a {partner.kind}, not a {role}; authorise "
                    "each partner in the role its kind carries."
                )
        if partner.brand_id is not None and partner.brand_id != brand:
            raise OrganisationNotFoundError(f"There is no organisation {partner_id}.")
        now = clock.now()
        uow.tenancy.set_partner(brand, partner_id, sorted(wanted), now)
        uow.events.append(PartnerAuthorised(brand, partner_id, tuple(sorted(wanted))), now)
        uow.commit()
        return partner_view(partner, frozenset(wanted)) if wanted else None


def is_authorised(uow: UnitOfWork, brand_id: int | None, partner_id: int, role: str) -> bool:
    """Whether the brand authorised the partner in ``role``; a store of the brand's own
    channel (an organisation that works for it) counts as authorised as a store."""
    if brand_id is None:
        return False
    if uow.tenancy.is_authorised(brand_id, partner_id, role):
        return True
    if role == PartnerRole.STORE:
        partner = uow.organisations.get(partner_id)
        return (
            partner is not None
            and partner.kind is OrganisationKind.STORE
            and partner.brand_id == brand_id
        )
    return False


def require_partner(uow: UnitOfWork, brand_id: int | None, partner_id: int, role: str) -> None:
    """Raise :class:`PartnerNotAuthorisedError` unless the brand authorised the partner."""
    if not is_authorised(uow, brand_id, partner_id, role):
        raise PartnerNotAuthorisedError()


@dataclass(frozen=True)
class OrganisationUseCases:
    """The identity area's use cases: organisations, their API keys and scanner sessions, a
    brand's company prefixes and partners, with the adapters bound once in bootstrap: the
    routes and the CLI pass the command or the request's data only. Each builds its own unit
    of work (a reader for those that only read)."""

    uows: UnitOfWorkFactory
    clock: Clock
    #: Settings: the API keys' pepper, how long a scanner session lasts.
    pepper: bytes
    scanner_session_ttl_s: int

    def authenticate(self, bearer: str | None) -> Actor:
        """The caller of a valid API key."""
        return handlers.authenticate(self.uows.reader(), self.pepper, bearer)

    def organisation(self, organisation_id: int) -> Organisation | None:
        with self.uows.reader() as uow:
            return uow.organisations.get(organisation_id)

    def create_admin(self, name: str) -> tuple[Organisation, handlers.IssuedApiKey]:
        return handlers.create_admin(name, self.uows, self.clock, self.pepper)

    def create_organisation(self, cmd: commands.CreateOrganisation) -> Organisation:
        return handlers.create_organisation(cmd, self.uows(), self.clock)

    def list_organisations(self, actor: Actor, offset: int, limit: int) -> list[Organisation]:
        return handlers.list_organisations(actor, self.uows(), offset, limit)

    def create_api_key(self, cmd: commands.CreateApiKey) -> handlers.IssuedApiKey:
        return handlers.create_api_key(cmd, self.uows(), self.clock, self.pepper)

    def revoke_api_key(self, cmd: commands.RevokeApiKey) -> ApiKey:
        return handlers.revoke_api_key(cmd, self.uows(), self.clock)

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
