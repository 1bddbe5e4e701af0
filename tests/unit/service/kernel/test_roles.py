import pytest

from service.kernel.actor import Actor
from service.kernel.errors import PermissionDeniedError
from service.kernel.roles import OrganisationKind, Permission, Role, may, may_hold


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


# ----------------------------------------------------------------------------- batch visibility
FACTORY_ID, BRAND_ID, OTHER_BRAND_ID = 10, 20, 30


def _actor(role, organisation_id=FACTORY_ID, brand_id=BRAND_ID):
    return Actor(f"key:{role}", role, organisation_id=organisation_id, brand_id=brand_id)


def test_a_factory_sees_only_the_batches_it_made():
    factory = _actor(Role.FACTORY, organisation_id=FACTORY_ID)
    assert factory.sees_batch(FACTORY_ID, BRAND_ID)
    assert factory.sees_batch(FACTORY_ID, None)
    assert not factory.sees_batch(FACTORY_ID + 1, BRAND_ID)  # a sister factory of the brand


@pytest.mark.parametrize("role", [Role.BRAND, Role.AUDITOR])
def test_a_brand_and_its_auditors_see_every_batch_of_the_brand_only(role):
    actor = _actor(role, organisation_id=BRAND_ID, brand_id=BRAND_ID)
    assert actor.sees_batch(FACTORY_ID, BRAND_ID)
    assert actor.sees_batch(FACTORY_ID + 1, BRAND_ID)
    assert not actor.sees_batch(FACTORY_ID, OTHER_BRAND_ID)
    assert not actor.sees_batch(FACTORY_ID, None)


@pytest.mark.parametrize("role", [Role.BRAND, Role.AUDITOR])
def test_a_brand_actor_without_a_brand_sees_no_batch(role):
    actor = _actor(role, organisation_id=BRAND_ID, brand_id=None)
    assert not actor.sees_batch(FACTORY_ID, None)
    assert not actor.sees_batch(FACTORY_ID, BRAND_ID)
    assert not actor.sees_batch(BRAND_ID, BRAND_ID)  # not even as if it were the factory


@pytest.mark.parametrize("role", [Role.ADMIN, Role.ATTESTOR])
def test_admins_and_attestors_see_every_batch(role):
    actor = _actor(role, organisation_id=99, brand_id=None)
    assert actor.sees_batch(FACTORY_ID, BRAND_ID)
    assert actor.sees_batch(FACTORY_ID + 1, OTHER_BRAND_ID)
    assert actor.sees_batch(FACTORY_ID, None)


@pytest.mark.parametrize("role", [Role.DISTRIBUTOR, Role.STORE, Role.CUSTODIAN, Role.PLEDGEE])
def test_partners_of_the_brand_do_not_see_its_batches(role):
    actor = _actor(role, organisation_id=40, brand_id=BRAND_ID)
    assert not actor.sees_batch(FACTORY_ID, BRAND_ID)


def test_a_consumer_sees_no_batch():
    consumer = Actor("account:7", Role.CONSUMER, account_id=7)
    assert not consumer.sees_batch(FACTORY_ID, BRAND_ID)
    assert not consumer.sees_batch(FACTORY_ID, None)


# ----------------------------------------------------------------------------- brand visibility
def test_sees_brand_only_for_the_actors_own_brand():
    brand = _actor(Role.BRAND, organisation_id=BRAND_ID, brand_id=BRAND_ID)
    assert brand.sees_brand(BRAND_ID)
    assert not brand.sees_brand(OTHER_BRAND_ID)
    assert not brand.sees_brand(None)


def test_an_actor_without_a_brand_sees_no_brand_not_even_none():
    assert not _actor(Role.FACTORY, brand_id=None).sees_brand(None)
    assert not _actor(Role.FACTORY, brand_id=None).sees_brand(BRAND_ID)


def test_a_factory_sees_the_brand_it_works_for():
    assert _actor(Role.FACTORY, brand_id=BRAND_ID).sees_brand(BRAND_ID)
    assert not _actor(Role.FACTORY, brand_id=BRAND_ID).sees_brand(OTHER_BRAND_ID)


def test_an_admin_sees_every_brand():
    admin = _actor(Role.ADMIN, organisation_id=1, brand_id=None)
    assert admin.sees_brand(BRAND_ID)
    assert admin.sees_brand(OTHER_BRAND_ID)
    assert admin.sees_brand(None)


# ----------------------------------------------------------------------------- permission matrix
P = Permission
CHECKED = [
    P.GENERATE_CODES,
    P.ACTIVATE_CODES,
    P.PRINT_CODES,
    P.ANCHOR_BATCH,
    P.RECALL_BATCH,
    P.MANAGE_PRODUCTS,
    P.APPROVE_REPRINT,
    P.ATTEST_BATCH,
]
MATRIX = {
    Role.FACTORY: {
        P.GENERATE_CODES,
        P.ACTIVATE_CODES,
        P.PRINT_CODES,
        P.ANCHOR_BATCH,
        P.RECALL_BATCH,
    },
    Role.BRAND: {P.MANAGE_PRODUCTS, P.RECALL_BATCH},
    Role.ADMIN: set(CHECKED),
    Role.ATTESTOR: {P.ATTEST_BATCH},
    Role.AUDITOR: set(),
    Role.DISTRIBUTOR: set(),
    Role.STORE: set(),
    Role.CUSTODIAN: set(),
    Role.PLEDGEE: set(),
    Role.CONSUMER: set(),
}


def test_the_matrix_covers_every_role():
    assert set(MATRIX) == set(Role)


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("permission", CHECKED)
def test_who_may_make_print_anchor_recall_attest_and_approve_reprints(role, permission):
    assert may(role, permission) is (permission in MATRIX[role])
    actor = Actor(f"key:{role}", role, organisation_id=1)
    if permission in MATRIX[role]:
        actor.require(permission)
    else:
        with pytest.raises(PermissionDeniedError, match=f"'{role}' may not"):
            actor.require(permission)


def test_the_refusal_names_the_permission_in_words():
    with pytest.raises(PermissionDeniedError, match="may not approve reprint; use a key"):
        Actor("key:f", Role.FACTORY, 1).require(Permission.APPROVE_REPRINT)


def test_everyone_with_an_organisation_key_may_read_the_chain():
    assert {r for r in Role if may(r, Permission.READ_CHAIN)} == set(Role) - {Role.CONSUMER}
