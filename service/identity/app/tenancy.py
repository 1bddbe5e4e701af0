"""Tenancy use cases: the company prefixes a brand holds (admin) and the partners it
authorises (the brand), and the checks other use cases make against them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from service.identity.domain.errors import (
    CompanyPrefixTakenError,
    OrganisationNotFoundError,
)
from service.identity.domain.events import CompanyPrefixesSet, PartnerAuthorised
from service.identity.domain.organisations import Organisation
from service.identity.domain.tenancy import PartnerRole, normalise_prefixes, partner_roles
from service.identity.ports import IdentityUnitOfWork
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


def _brand(uow: IdentityUnitOfWork, organisation_id: int) -> Organisation:
    found = uow.organisations.get(organisation_id)
    if found is None or found.kind is not OrganisationKind.BRAND:
        raise OrganisationNotFoundError(f"Organisation {organisation_id} is not a brand.")
    return found


# ----------------------------------------------------------------------------- prefixes
def company_prefixes(actor: Actor, organisation_id: int, uow: IdentityUnitOfWork) -> list[str]:
    """The GS1 company prefixes a brand holds (admin)."""
    actor.require(Permission.MANAGE_ORGANISATIONS)
    with uow:
        _brand(uow, organisation_id)
        return uow.tenancy.prefixes_of(organisation_id)


def set_company_prefixes(
    actor: Actor,
    organisation_id: int,
    prefixes: Sequence[str],
    uow: IdentityUnitOfWork,
    clock: Clock,
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
    actor: Actor, uow: IdentityUnitOfWork, brand_id: int | None = None
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
    uow: IdentityUnitOfWork,
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
