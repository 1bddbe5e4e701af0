"""Organisations for the use-case tests, created through identity's use case."""

from service.identity.app.commands import CreateOrganisation
from service.identity.app.organisations import create_organisation
from service.kernel.actor import Actor
from service.kernel.roles import Role

PEPPER = b"unit-test-pepper-0123456789"
ADMIN = Actor("key:admin", Role.ADMIN, organisation_id=1)
FACTORY = Actor("key:factory", Role.FACTORY, organisation_id=2)


def organisation(db, clock, name, kind, brand_id=None, prefix=None, actor=ADMIN):
    cmd = CreateOrganisation(actor, name, kind, brand_id, prefix)
    return create_organisation(cmd, db(), clock)
