"""Roles, organisation kinds, and which role may do what."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """The role of whoever makes a request."""

    BRAND = "brand"
    FACTORY = "factory"
    DISTRIBUTOR = "distributor"
    STORE = "store"
    CUSTODIAN = "custodian"
    PLEDGEE = "pledgee"
    ATTESTOR = "attestor"
    AUDITOR = "auditor"
    ADMIN = "admin"
    CONSUMER = "consumer"


class OrganisationKind(StrEnum):
    """What an organisation is; it bounds the roles its keys may carry."""

    PLATFORM = "platform"
    BRAND = "brand"
    FACTORY = "factory"
    DISTRIBUTOR = "distributor"
    STORE = "store"
    CUSTODIAN = "custodian"
    PLEDGEE = "pledgee"
    ATTESTOR = "attestor"
    AUDITOR = "auditor"


class Permission(StrEnum):
    """One thing a role may do."""

    MANAGE_ORGANISATIONS = "manage_organisations"
    MANAGE_API_KEYS = "manage_api_keys"
    MANAGE_PRODUCTS = "manage_products"
    READ_PRODUCTS = "read_products"
    CREATE_BATCH = "create_batch"
    GENERATE_CODES = "generate_codes"
    ACTIVATE_CODES = "activate_codes"
    PRINT_CODES = "print_codes"
    APPROVE_REPRINT = "approve_reprint"
    ANCHOR_BATCH = "anchor_batch"
    RECALL_BATCH = "recall_batch"
    ATTEST_BATCH = "attest_batch"
    READ_BATCH = "read_batch"
    READ_ALERTS = "read_alerts"
    READ_LOG = "read_log"
    READ_CHAIN = "read_chain"


_EVERYONE_READS = frozenset({Permission.READ_CHAIN})

PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.BRAND: _EVERYONE_READS
    | {
        Permission.MANAGE_PRODUCTS,
        Permission.READ_PRODUCTS,
        Permission.READ_BATCH,
        Permission.RECALL_BATCH,
        Permission.READ_ALERTS,
        Permission.READ_LOG,
    },
    Role.FACTORY: _EVERYONE_READS
    | {
        Permission.READ_PRODUCTS,
        Permission.CREATE_BATCH,
        Permission.GENERATE_CODES,
        Permission.ACTIVATE_CODES,
        Permission.PRINT_CODES,
        Permission.ANCHOR_BATCH,
        Permission.RECALL_BATCH,
        Permission.READ_BATCH,
    },
    Role.AUDITOR: _EVERYONE_READS
    | {
        Permission.READ_PRODUCTS,
        Permission.READ_BATCH,
        Permission.READ_ALERTS,
        Permission.READ_LOG,
    },
    # Partners read their own alerts (those they are responsible for or raised by scanning).
    Role.DISTRIBUTOR: _EVERYONE_READS | {Permission.READ_ALERTS},
    Role.STORE: _EVERYONE_READS | {Permission.READ_ALERTS},
    Role.CUSTODIAN: _EVERYONE_READS,
    Role.PLEDGEE: _EVERYONE_READS,
    Role.ATTESTOR: _EVERYONE_READS | {Permission.ATTEST_BATCH, Permission.READ_BATCH},
    Role.CONSUMER: frozenset(),
}

#: Roles whose API keys an organisation of each kind may hold. Consumers never hold
#: organisation keys: they authenticate through their own accounts (a later issue).
ROLES_BY_KIND: dict[OrganisationKind, frozenset[Role]] = {
    OrganisationKind.PLATFORM: frozenset({Role.ADMIN, Role.AUDITOR}),
    OrganisationKind.BRAND: frozenset({Role.BRAND, Role.AUDITOR}),
    OrganisationKind.FACTORY: frozenset({Role.FACTORY}),
    OrganisationKind.DISTRIBUTOR: frozenset({Role.DISTRIBUTOR}),
    OrganisationKind.STORE: frozenset({Role.STORE}),
    OrganisationKind.CUSTODIAN: frozenset({Role.CUSTODIAN}),
    OrganisationKind.PLEDGEE: frozenset({Role.PLEDGEE}),
    OrganisationKind.ATTESTOR: frozenset({Role.ATTESTOR}),
    OrganisationKind.AUDITOR: frozenset({Role.AUDITOR}),
}

#: Roles that see every organisation's objects, not only their own.
CROSS_ORGANISATION_ROLES = frozenset({Role.ADMIN})
#: Roles that see the objects of their whole brand (its factories' batches, its products).
BRAND_WIDE_ROLES = frozenset({Role.BRAND, Role.AUDITOR})


def may(role: Role, permission: Permission) -> bool:
    """Return whether ``role`` carries ``permission``."""
    return permission in PERMISSIONS[role]


def may_hold(kind: OrganisationKind, role: Role) -> bool:
    """Return whether an organisation of ``kind`` may hold API keys of ``role``."""
    return role in ROLES_BY_KIND[kind]
