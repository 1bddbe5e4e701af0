"""Organisations: the brand, its factories, distributors, stores and partners."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from service.identity.domain.errors import InvalidOrganisationError
from service.kernel.roles import OrganisationKind
from service.kernel.text import printable

MAX_NAME_LENGTH = 200


@dataclass
class Organisation:
    """A business that holds API keys."""

    name: str
    kind: OrganisationKind
    created_at: datetime
    #: The brand a factory, distributor or store works for; None for brands and platform.
    brand_id: int | None = None
    #: A brand's GS1 company prefix for SSCCs (None: the configured default).
    gs1_company_prefix: str | None = None
    id: int | None = None

    @property
    def brand_scope(self) -> int | None:
        """The brand whose objects this organisation works with (itself, for a brand)."""
        return self.id if self.kind is OrganisationKind.BRAND else self.brand_id


#: Kinds that work for one brand and must name it when registered.
BRAND_MEMBER_KINDS = frozenset(
    {OrganisationKind.FACTORY, OrganisationKind.DISTRIBUTOR, OrganisationKind.STORE}
)


def validate_name(name: str) -> str:
    """Return the NFC-normalised, stripped name, or raise if it is empty, long or has controls."""
    return printable(name, MAX_NAME_LENGTH, InvalidOrganisationError, "An organisation name")


def party(organisation: Organisation | None) -> dict[str, Any] | None:
    """An organisation as answers name it: id, name and kind."""
    if organisation is None:
        return None
    return {
        "organisation_id": organisation.id,
        "name": organisation.name,
        "kind": organisation.kind.value,
    }
