import inspect

import pytest

from service.domain import api_keys, errors
from service.domain.actor import Actor
from service.domain.errors import PermissionDeniedError
from service.domain.roles import OrganisationKind, Permission, Role, may, may_hold


def test_only_factories_create_and_anchor_batches_besides_admin():
    creators = {r for r in Role if may(r, Permission.CREATE_BATCH)}
    assert creators == {Role.FACTORY, Role.ADMIN}
    assert {r for r in Role if may(r, Permission.ANCHOR_BATCH)} == {Role.FACTORY, Role.ADMIN}


def test_consumers_hold_no_organisation_permissions():
    assert not any(may(Role.CONSUMER, p) for p in Permission)


def test_organisation_kinds_bound_the_roles_of_their_keys():
    assert may_hold(OrganisationKind.FACTORY, Role.FACTORY)
    assert not may_hold(OrganisationKind.FACTORY, Role.ADMIN)
    assert not any(may_hold(k, Role.CONSUMER) for k in OrganisationKind)


def test_actor_without_permission_is_refused():
    actor = Actor("key:x", Role.DISTRIBUTOR, organisation_id=1)
    with pytest.raises(PermissionDeniedError):
        actor.require(Permission.CREATE_BATCH)


def test_actor_sees_only_its_own_organisation_unless_admin():
    assert Actor("key:a", Role.FACTORY, 1).sees_organisation(1)
    assert not Actor("key:a", Role.FACTORY, 1).sees_organisation(2)
    assert Actor("key:b", Role.ADMIN, 9).sees_organisation(2)


def test_consumer_actor_fits_without_organisation():
    actor = Actor("account:7", Role.CONSUMER, organisation_id=None, account_id=7)
    assert not actor.sees_organisation(1)


def test_generated_key_parses_and_matches_only_its_pepper():
    key_id, secret, full = api_keys.generate()
    assert api_keys.parse(full) == (key_id, secret)
    stored = api_keys.ApiKey(key_id, api_keys.digest(b"p" * 16, secret), Role.FACTORY, 1, None)  # type: ignore[arg-type]
    assert api_keys.matches(stored, b"p" * 16, secret)
    assert not api_keys.matches(stored, b"q" * 16, secret)
    tampered = secret[:-1] + ("B" if secret.endswith("A") else "A")
    assert not api_keys.matches(stored, b"p" * 16, tampered)


@pytest.mark.parametrize("bad", ["", "tc_", "tc_zz_" + "a" * 43, "Bearer x", "tc_" + "0" * 16])
def test_malformed_keys_do_not_parse(bad):
    assert api_keys.parse(bad) is None


def test_every_error_has_a_code_a_kind_and_a_raised_when_docstring():
    classes = [
        c
        for _, c in inspect.getmembers(errors, inspect.isclass)
        if issubclass(c, errors.TracecertError) and c is not errors.TracecertError
    ]
    codes = [c.code for c in classes]
    assert len(codes) == len(set(codes))
    for cls in classes:
        assert cls.__doc__ and cls.__doc__.startswith("Raised when"), cls
        assert cls.default_detail.endswith((".", "'."))
