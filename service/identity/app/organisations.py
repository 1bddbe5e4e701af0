"""Identity's use cases: organisations, their API keys, the caller of a key, the first admin."""

from __future__ import annotations

from dataclasses import dataclass

from service.identity.app.commands import CreateApiKey, CreateOrganisation, RevokeApiKey
from service.identity.domain import api_keys
from service.identity.domain.api_keys import ApiKey
from service.identity.domain.errors import (
    ApiKeyNotFoundError,
    CompanyPrefixTakenError,
    InvalidApiKeyError,
    InvalidOrganisationError,
    OrganisationExistsError,
    OrganisationNotFoundError,
    RoleNotAllowedForOrganisationError,
)
from service.identity.domain.events import (
    ApiKeyCreated,
    ApiKeyRevoked,
    CompanyPrefixesSet,
    OrganisationCreated,
)
from service.identity.domain.organisations import BRAND_MEMBER_KINDS, Organisation, validate_name
from service.identity.ports import (
    IdentityUnitOfWork,
    IdentityUnitOfWorkFactory,
)
from service.kernel.actor import Actor
from service.kernel.gs1 import normalise_company_prefix
from service.kernel.ports import Clock, DuplicateError
from service.kernel.roles import OrganisationKind, Permission, Role, may_hold


# ----------------------------------------------------------------------------- auth
def authenticate(uow: IdentityUnitOfWork, pepper: bytes, bearer: str | None) -> Actor:
    """Return the actor of a bearer key, or raise InvalidApiKeyError."""
    parsed = api_keys.parse(bearer) if bearer else None
    if parsed is None:
        raise InvalidApiKeyError()
    key_id, secret = parsed
    with uow:
        key = uow.api_keys.get(key_id)
        organisation = uow.organisations.get(key.organisation_id) if key is not None else None
    if key is None or key.revoked_at is not None or not api_keys.matches(key, pepper, secret):
        raise InvalidApiKeyError()
    return Actor(
        principal_id=key.principal_id,
        role=key.role,
        organisation_id=key.organisation_id,
        brand_id=organisation.brand_scope if organisation is not None else None,
    )


# ----------------------------------------------------------------------------- organisations
def create_organisation(
    cmd: CreateOrganisation, uow: IdentityUnitOfWork, clock: Clock
) -> Organisation:
    """Register an organisation."""
    cmd.actor.require(Permission.MANAGE_ORGANISATIONS)
    name = validate_name(cmd.name)
    kind = _organisation_kind(cmd.kind)
    prefix = None
    if cmd.gs1_company_prefix is not None:
        if kind is not OrganisationKind.BRAND:
            raise InvalidOrganisationError("Only a brand holds a GS1 company prefix.")
        prefix = normalise_company_prefix(cmd.gs1_company_prefix)
    with uow:
        if uow.organisations.get_by_name(name) is not None:
            raise OrganisationExistsError()
        _check_brand(uow, kind, cmd.brand_id)
        now = clock.now()
        try:
            organisation = uow.organisations.add(
                Organisation(
                    name=name,
                    kind=kind,
                    created_at=now,
                    brand_id=cmd.brand_id,
                    gs1_company_prefix=prefix,
                )
            )
        except DuplicateError as exc:
            raise OrganisationExistsError() from exc
        assert organisation.id is not None
        uow.events.append(OrganisationCreated(organisation.id, kind.value, cmd.brand_id), now)
        if prefix is not None:
            # A brand's SSCC prefix is one of the company prefixes its GTINs fall within.
            if uow.tenancy.overlapping(prefix):
                raise CompanyPrefixTakenError()
            uow.tenancy.set_prefixes(organisation.id, [prefix], now)
            uow.events.append(CompanyPrefixesSet(organisation.id, (prefix,)), now)
        uow.commit()
    return organisation


def _check_brand(uow: IdentityUnitOfWork, kind: OrganisationKind, brand_id: int | None) -> None:
    """Factories, distributors and stores work for a brand; brands and platforms for none."""
    if brand_id is None:
        if kind in BRAND_MEMBER_KINDS:
            raise InvalidOrganisationError(
                f"A {kind} works for a brand: name the brand's organisation id (brand_id)."
            )
        return
    if kind in (OrganisationKind.BRAND, OrganisationKind.PLATFORM):
        raise InvalidOrganisationError(f"A {kind} organisation does not work for a brand.")
    brand = uow.organisations.get(brand_id)
    if brand is None or brand.kind is not OrganisationKind.BRAND:
        raise InvalidOrganisationError(f"Organisation {brand_id} is not a brand; check brand_id.")


def list_organisations(
    actor: Actor, uow: IdentityUnitOfWork, offset: int, limit: int
) -> list[Organisation]:
    actor.require(Permission.MANAGE_ORGANISATIONS)
    with uow:
        return uow.organisations.list(offset, limit)


def _organisation_kind(kind: str) -> OrganisationKind:
    try:
        return OrganisationKind(kind)
    except ValueError:
        raise InvalidOrganisationError(
            f"Unknown organisation kind {kind!r}; use one of "
            + ", ".join(k.value for k in OrganisationKind)
            + "."
        ) from None


# ----------------------------------------------------------------------------- API keys
@dataclass(frozen=True)
class IssuedApiKey:
    """A new key; ``secret_key`` is shown once and never stored."""

    key: ApiKey
    secret_key: str


def create_api_key(
    cmd: CreateApiKey, uow: IdentityUnitOfWork, clock: Clock, pepper: bytes
) -> IssuedApiKey:
    """Issue an API key scoped to an organisation and a role."""
    cmd.actor.require(Permission.MANAGE_API_KEYS)
    role = _role(cmd.role)
    with uow:
        organisation = uow.organisations.get(cmd.organisation_id)
        if organisation is None:
            raise OrganisationNotFoundError()
        if not may_hold(organisation.kind, role):
            raise RoleNotAllowedForOrganisationError(
                f"An organisation of kind '{organisation.kind}' cannot hold '{role}' keys."
            )
        key_id, secret, full_key = api_keys.generate()
        now = clock.now()
        key = ApiKey(
            key_id=key_id,
            secret_hash=api_keys.digest(pepper, secret),
            role=role,
            organisation_id=cmd.organisation_id,
            created_at=now,
        )
        uow.api_keys.add(key)
        uow.events.append(ApiKeyCreated(key_id, cmd.organisation_id, role.value), now)
        uow.commit()
    return IssuedApiKey(key=key, secret_key=full_key)


def revoke_api_key(cmd: RevokeApiKey, uow: IdentityUnitOfWork, clock: Clock) -> ApiKey:
    """Revoke a key; revoking twice is a no-op."""
    cmd.actor.require(Permission.MANAGE_API_KEYS)
    if not api_keys.is_valid_key_id(cmd.key_id):
        raise ApiKeyNotFoundError()
    with uow:
        key = uow.api_keys.get(cmd.key_id)
        if key is None:
            raise ApiKeyNotFoundError()
        now = clock.now()
        if uow.api_keys.revoke(cmd.key_id, now):
            uow.events.append(ApiKeyRevoked(cmd.key_id, key.organisation_id), now)
            uow.commit()
            key.revoked_at = now
        else:
            key = uow.api_keys.get(cmd.key_id) or key
    return key


def _role(role: str) -> Role:
    try:
        parsed = Role(role)
    except ValueError:
        raise RoleNotAllowedForOrganisationError(
            f"Unknown role {role!r}; use one of "
            + ", ".join(r.value for r in Role if r is not Role.CONSUMER)
            + "."
        ) from None
    if parsed is Role.CONSUMER:
        raise RoleNotAllowedForOrganisationError(
            "Consumers sign in with their own accounts; organisations cannot hold consumer keys."
        )
    return parsed


# ----------------------------------------------------------------------------- first admin
#: The operator at the command line; only the CLI acts as it.
SYSTEM_ACTOR = Actor(principal_id="system:cli", role=Role.ADMIN)


def create_admin(
    name: str, uow_factory: IdentityUnitOfWorkFactory, clock: Clock, pepper: bytes
) -> tuple[Organisation, IssuedApiKey]:
    """Create (or reuse) the platform organisation ``name`` and issue an admin key for it."""
    with uow_factory() as uow:
        organisation = uow.organisations.get_by_name(validate_name(name))
    if organisation is None:
        organisation = create_organisation(
            CreateOrganisation(SYSTEM_ACTOR, name, OrganisationKind.PLATFORM.value),
            uow_factory(),
            clock,
        )
    if organisation.kind is not OrganisationKind.PLATFORM:
        raise InvalidOrganisationError(
            f"{organisation.name!r} is a {organisation.kind} organisation; admins belong to a "
            "platform organisation. Choose another name."
        )
    assert organisation.id is not None
    issued = create_api_key(
        CreateApiKey(SYSTEM_ACTOR, organisation.id, Role.ADMIN.value),
        uow_factory(),
        clock,
        pepper,
    )
    return organisation, issued
