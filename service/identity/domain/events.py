"""Identity's events: organisations created, their company prefixes and partners set, API keys
created and revoked. They name organisations by id, never by name."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from service.kernel.events import Event


@dataclass(frozen=True)
class OrganisationCreated(Event):
    """An organisation was registered."""

    type: ClassVar[str] = "OrganisationCreated"
    organisation_id: int
    kind: str
    brand_id: int | None = None


@dataclass(frozen=True)
class CompanyPrefixesSet(Event):
    """The GS1 company prefixes a brand holds were set (its GTINs fall within them)."""

    type: ClassVar[str] = "CompanyPrefixesSet"
    brand_id: int
    prefixes: tuple[str, ...]

    def fields(self) -> dict[str, Any]:
        return {"brand_id": self.brand_id, "prefixes": list(self.prefixes)}


@dataclass(frozen=True)
class PartnerAuthorised(Event):
    """A brand set the roles a partner organisation holds for its bottles (none: removed)."""

    type: ClassVar[str] = "PartnerAuthorised"
    brand_id: int
    partner_id: int
    roles: tuple[str, ...]

    def fields(self) -> dict[str, Any]:
        return {"brand_id": self.brand_id, "partner_id": self.partner_id, "roles": list(self.roles)}


@dataclass(frozen=True)
class ApiKeyCreated(Event):
    """An API key was issued to an organisation."""

    type: ClassVar[str] = "ApiKeyCreated"
    key_id: str
    organisation_id: int
    role: str


@dataclass(frozen=True)
class ApiKeyRevoked(Event):
    """An API key was revoked."""

    type: ClassVar[str] = "ApiKeyRevoked"
    key_id: str
    organisation_id: int
