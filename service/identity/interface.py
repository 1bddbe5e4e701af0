"""What other areas may use of identity: the organisation as a value, how answers name it, the
partner and prefix rules they apply on identity's behalf, the errors those raise, identity's
events, and the formats of its credentials the HTTP edge tells callers apart by (an API key,
a scanner session token) with the errors it answers for them.

Pure: re-exports from identity's domain and ports, and two rules over ``PartnerReads`` (the
reads any unit of work that holds identity's repositories offers). An area's unit of work that
carries those repositories passes itself.
"""

from __future__ import annotations

from service.identity.domain.api_keys import parse as parse_api_key
from service.identity.domain.errors import (
    GtinOutsideCompanyPrefixesError,
    InvalidApiKeyError,
    InvalidScannerSessionError,
    OrganisationNotFoundError,
    PartnerNotAuthorisedError,
    ScannerSessionScopeError,
)
from service.identity.domain.events import (
    ApiKeyCreated,
    ApiKeyRevoked,
    CompanyPrefixesSet,
    OrganisationCreated,
    PartnerAuthorised,
)
from service.identity.domain.organisations import BRAND_MEMBER_KINDS, Organisation, party
from service.identity.domain.scanner_sessions import looks_like_token as looks_like_scanner_token
from service.identity.domain.tenancy import PartnerRole, within
from service.identity.ports import OrganisationReads, PartnerGrants, PartnerReads
from service.kernel.roles import OrganisationKind

__all__ = [
    "BRAND_MEMBER_KINDS",
    "ApiKeyCreated",
    "ApiKeyRevoked",
    "CompanyPrefixesSet",
    "GtinOutsideCompanyPrefixesError",
    "InvalidApiKeyError",
    "InvalidScannerSessionError",
    "Organisation",
    "OrganisationCreated",
    "OrganisationKind",
    "OrganisationNotFoundError",
    "OrganisationReads",
    "PartnerAuthorised",
    "PartnerGrants",
    "PartnerNotAuthorisedError",
    "PartnerReads",
    "ScannerSessionScopeError",
    "is_authorised",
    "looks_like_scanner_token",
    "parse_api_key",
    "party",
    "require_within_prefixes",
]


def require_within_prefixes(uow: PartnerReads, brand_id: int, gtin14: str) -> None:
    """Raise unless the GTIN falls within one of the brand's own company prefixes.

    Checked before anything about the GTIN is looked up, so a refusal never tells whether
    another tenant registered it.
    """
    if not within(gtin14, uow.tenancy.prefixes_of(brand_id)):
        raise GtinOutsideCompanyPrefixesError()


def is_authorised(uow: PartnerReads, brand_id: int | None, partner_id: int, role: str) -> bool:
    """Whether the brand authorised the partner in ``role``; a store of the brand's own
    channel (an organisation that works for it) counts as authorised as a store."""
    if brand_id is None:
        return False
    if uow.tenancy.is_authorised(brand_id, partner_id, role):
        return True
    if role == PartnerRole.STORE:
        partner = uow.organisations.get(partner_id)
        return (
            partner is not None
            and partner.kind is OrganisationKind.STORE
            and partner.brand_id == brand_id
        )
    return False
