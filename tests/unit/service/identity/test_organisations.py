"""Organisations, API keys and authentication, against the fakes."""

import pytest

from service.identity.app.commands import CreateApiKey, RevokeApiKey
from service.identity.app.organisations import (
    authenticate,
    create_admin,
    create_api_key,
    revoke_api_key,
)
from service.identity.domain.errors import (
    ApiKeyNotFoundError,
    InvalidApiKeyError,
    InvalidOrganisationError,
    OrganisationExistsError,
    OrganisationNotFoundError,
    RoleNotAllowedForOrganisationError,
)
from service.kernel.errors import InvalidCompanyPrefixError, PermissionDeniedError
from service.kernel.roles import Role
from tests.unit.service.organisations import ADMIN, FACTORY, PEPPER, organisation


# ----------------------------------------------------------------------------- organisations
def test_create_organisation_writes_the_organisation_and_one_event(db, clock, brand):
    org = organisation(db, clock, " Moutai Factory 1 ", "factory", brand_id=brand.id)
    assert org.id == 2 and org.name == "Moutai Factory 1" and org.brand_id == brand.id
    assert db.state.organisations[2].brand_id == brand.id
    assert db.state.event_types() == ["OrganisationCreated", "OrganisationCreated"]
    assert b'"brand_id":1' in db.state.events[-1].payload


def test_duplicate_organisation_name_is_a_conflict(db, clock):
    organisation(db, clock, "X", "brand")
    with pytest.raises(OrganisationExistsError):
        organisation(db, clock, "X", "brand")
    assert len(db.state.events) == 1 and len(db.state.organisations) == 1


def test_only_admins_create_organisations(db, clock):
    with pytest.raises(PermissionDeniedError):
        organisation(db, clock, "X", "brand", actor=FACTORY)
    assert db.state.commits == 0


def test_unknown_organisation_kind_is_invalid(db, clock):
    with pytest.raises(InvalidOrganisationError):
        organisation(db, clock, "X", "wizard")
    assert not db.state.organisations


@pytest.mark.parametrize("kind", ["factory", "distributor", "store"])
def test_factories_distributors_and_stores_must_name_their_brand(db, clock, kind):
    with pytest.raises(InvalidOrganisationError):
        organisation(db, clock, "X", kind)
    assert not db.state.organisations and not db.state.events


@pytest.mark.parametrize("kind", ["factory", "distributor", "store"])
def test_brand_members_may_only_name_a_brand_organisation(db, clock, brand, kind):
    factory = organisation(db, clock, "Factory", "factory", brand_id=brand.id)
    with pytest.raises(InvalidOrganisationError):
        organisation(db, clock, "X", kind, brand_id=factory.id)
    with pytest.raises(InvalidOrganisationError):
        organisation(db, clock, "Y", kind, brand_id=99)
    assert len(db.state.organisations) == 2


@pytest.mark.parametrize("kind", ["brand", "platform"])
def test_brands_and_platforms_work_for_no_brand(db, clock, brand, kind):
    with pytest.raises(InvalidOrganisationError):
        organisation(db, clock, "X", kind, brand_id=brand.id)
    assert len(db.state.organisations) == 1


def test_a_brand_may_hold_a_gs1_company_prefix(db, clock):
    org = organisation(db, clock, "Moutai", "brand", prefix="0614141")
    assert org.gs1_company_prefix == "0614141"
    assert db.state.organisations[org.id].gs1_company_prefix == "0614141"


@pytest.mark.parametrize("kind", ["factory", "platform", "attestor"])
def test_only_brands_hold_a_gs1_company_prefix(db, clock, brand, kind):
    brand_id = brand.id if kind == "factory" else None
    with pytest.raises(InvalidOrganisationError):
        organisation(db, clock, "X", kind, brand_id=brand_id, prefix="0614141")
    assert len(db.state.organisations) == 1


@pytest.mark.parametrize("prefix", ["12345", "1234567890123", "06141a1", ""])
def test_malformed_gs1_company_prefix_is_refused(db, clock, prefix):
    with pytest.raises(InvalidCompanyPrefixError):
        organisation(db, clock, "X", "brand", prefix=prefix)
    assert not db.state.organisations


# ----------------------------------------------------------------------------- API keys
def test_issued_key_authenticates_and_revoked_key_does_not(db, clock, brand):
    org = organisation(db, clock, "F", "factory", brand_id=brand.id)
    issued = create_api_key(CreateApiKey(ADMIN, org.id, "factory"), db(), clock, PEPPER)
    actor = authenticate(db(), PEPPER, issued.secret_key)
    assert actor.role is Role.FACTORY and actor.organisation_id == org.id
    revoke_api_key(RevokeApiKey(ADMIN, issued.key.key_id), db(), clock)
    with pytest.raises(InvalidApiKeyError):
        authenticate(db(), PEPPER, issued.secret_key)
    assert db.state.event_types()[-2:] == ["ApiKeyCreated", "ApiKeyRevoked"]


def test_a_factory_key_acts_for_the_brand_of_its_factory(db, clock, brand):
    org = organisation(db, clock, "F", "factory", brand_id=brand.id)
    issued = create_api_key(CreateApiKey(ADMIN, org.id, "factory"), db(), clock, PEPPER)
    assert authenticate(db(), PEPPER, issued.secret_key).brand_id == brand.id


def test_a_brand_key_acts_for_its_own_brand(db, clock, brand):
    issued = create_api_key(CreateApiKey(ADMIN, brand.id, "brand"), db(), clock, PEPPER)
    actor = authenticate(db(), PEPPER, issued.secret_key)
    assert actor.role is Role.BRAND and actor.brand_id == brand.id


def test_a_platform_key_acts_for_no_brand(db, clock):
    platform = organisation(db, clock, "Platform", "platform")
    issued = create_api_key(CreateApiKey(ADMIN, platform.id, "admin"), db(), clock, PEPPER)
    assert authenticate(db(), PEPPER, issued.secret_key).brand_id is None


def test_key_with_the_wrong_pepper_or_garbage_does_not_authenticate(db, clock, brand):
    issued = create_api_key(CreateApiKey(ADMIN, brand.id, "brand"), db(), clock, PEPPER)
    for bearer in (None, "", "nonsense", issued.secret_key[:-1] + "x"):
        with pytest.raises(InvalidApiKeyError):
            authenticate(db(), PEPPER, bearer)
    with pytest.raises(InvalidApiKeyError):
        authenticate(db(), b"another-pepper-123456", issued.secret_key)


@pytest.mark.parametrize("role", ["admin", "consumer", "wizard"])
def test_factory_organisation_cannot_hold_foreign_or_unknown_roles(db, clock, brand, role):
    org = organisation(db, clock, "F", "factory", brand_id=brand.id)
    with pytest.raises(RoleNotAllowedForOrganisationError):
        create_api_key(CreateApiKey(ADMIN, org.id, role), db(), clock, PEPPER)
    assert not db.state.api_keys


def test_key_for_an_unknown_organisation_is_not_found(db, clock):
    with pytest.raises(OrganisationNotFoundError):
        create_api_key(CreateApiKey(ADMIN, 42, "brand"), db(), clock, PEPPER)
    assert not db.state.api_keys


def test_revoking_twice_logs_one_revocation(db, clock, brand):
    issued = create_api_key(CreateApiKey(ADMIN, brand.id, "brand"), db(), clock, PEPPER)
    first = revoke_api_key(RevokeApiKey(ADMIN, issued.key.key_id), db(), clock)
    second = revoke_api_key(RevokeApiKey(ADMIN, issued.key.key_id), db(), clock)
    assert first.revoked_at is not None and second.revoked_at == first.revoked_at
    assert db.state.event_types().count("ApiKeyRevoked") == 1


@pytest.mark.parametrize("key_id", ["0123456789abcdef", "not-a-key-id"])
def test_revoking_an_unknown_key_is_not_found(db, clock, key_id):
    with pytest.raises(ApiKeyNotFoundError):
        revoke_api_key(RevokeApiKey(ADMIN, key_id), db(), clock)


def test_create_admin_makes_a_platform_and_an_admin_key_and_reuses_the_platform(db, clock):
    org, issued = create_admin("Operator", db, clock, PEPPER)
    again, _ = create_admin("Operator", db, clock, PEPPER)
    assert again.id == org.id and len(db.state.organisations) == 1
    assert authenticate(db(), PEPPER, issued.secret_key).role is Role.ADMIN


def test_create_admin_refuses_a_name_that_is_not_a_platform(db, clock):
    organisation(db, clock, "Moutai", "brand")
    with pytest.raises(InvalidOrganisationError):
        create_admin("Moutai", db, clock, PEPPER)
    assert not db.state.api_keys


# ----------------------------------------------------------------------------- event log
