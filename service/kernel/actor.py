"""Who is making a request: an API key of an organisation, or (later) a consumer account."""

from __future__ import annotations

from dataclasses import dataclass

from service.kernel.errors import PermissionDeniedError
from service.kernel.roles import (
    BRAND_WIDE_ROLES,
    CROSS_ORGANISATION_ROLES,
    Permission,
    Role,
    may,
)


@dataclass(frozen=True)
class Actor:
    """The authenticated caller.

    ``principal_id`` is stable and unique per credential holder, e.g. ``"key:3f9a..."`` for an
    organisation API key or ``"account:42"`` for a consumer account; idempotency keys and audit
    trails are scoped by it. Organisation keys carry ``organisation_id``; consumer accounts carry
    ``account_id`` instead.
    """

    principal_id: str
    role: Role
    organisation_id: int | None = None
    account_id: int | None = None
    #: The brand the caller's organisation works for (its own id for a brand).
    brand_id: int | None = None

    def require(self, permission: Permission) -> None:
        """Raise :class:`PermissionDeniedError` unless the role carries ``permission``."""
        if not may(self.role, permission):
            raise PermissionDeniedError(
                f"The role '{self.role}' may not {permission.replace('_', ' ')}; "
                "use a key with a role that may."
            )

    def sees_organisation(self, organisation_id: int) -> bool:
        """Return whether objects of ``organisation_id`` are visible to this actor."""
        return self.role in CROSS_ORGANISATION_ROLES or self.organisation_id == organisation_id

    def sees_brand(self, brand_id: int | None) -> bool:
        """Return whether brand-level objects (products, alerts) of ``brand_id`` are visible."""
        if self.role in CROSS_ORGANISATION_ROLES:
            return True
        return brand_id is not None and self.brand_id == brand_id

    def sees_batch(self, factory_id: int, brand_id: int | None) -> bool:
        """Return whether a batch made by ``factory_id`` for ``brand_id`` is visible.

        A factory sees its own batches, a brand (and its auditors) every batch of the brand.
        An attestor passes here; the use case then keeps to the brands that authorised it
        (``service.identity.app.tenancy``), which takes a lookup this pure check cannot make.
        """
        if self.role in CROSS_ORGANISATION_ROLES or self.role is Role.ATTESTOR:
            return True
        if self.role in BRAND_WIDE_ROLES:
            return self.sees_brand(brand_id)
        return self.organisation_id == factory_id
