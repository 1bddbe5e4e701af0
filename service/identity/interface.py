"""What other areas may use of identity: the organisation as a value, how answers name it, the
errors they raise on identity's behalf, and identity's events.

Pure: re-exports from identity's domain and the kernel, nothing else. An area that needs to
read organisations declares the reads it needs as a port of its own; bootstrap passes identity's
repository, which fits it.
"""

from __future__ import annotations

from service.identity.domain.errors import (
    GtinOutsideCompanyPrefixesError,
    OrganisationNotFoundError,
    PartnerNotAuthorisedError,
)
from service.identity.domain.events import (
    ApiKeyCreated,
    ApiKeyRevoked,
    CompanyPrefixesSet,
    OrganisationCreated,
    PartnerAuthorised,
)
from service.identity.domain.organisations import BRAND_MEMBER_KINDS, Organisation, party
from service.kernel.roles import OrganisationKind

__all__ = [
    "BRAND_MEMBER_KINDS",
    "ApiKeyCreated",
    "ApiKeyRevoked",
    "CompanyPrefixesSet",
    "GtinOutsideCompanyPrefixesError",
    "Organisation",
    "OrganisationCreated",
    "OrganisationKind",
    "OrganisationNotFoundError",
    "PartnerAuthorised",
    "PartnerNotAuthorisedError",
    "party",
]
