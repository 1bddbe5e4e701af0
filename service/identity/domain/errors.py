"""The errors of identity's rules: organisations, their GS1 company prefixes and partners, API
keys and scanner sessions."""

from __future__ import annotations

from service.kernel.errors import (
    ErrorKind,
    NotFoundError,
    TracecertError,
)


class InvalidOrganisationError(TracecertError):
    """Raised when an organisation name or kind is not acceptable."""

    code = "invalid_organisation"
    kind = ErrorKind.INVALID
    default_detail = "The organisation is invalid; use a printable name and a known kind."


class RoleNotAllowedForOrganisationError(TracecertError):
    """Raised when an API key is requested for a role the organisation's kind cannot hold."""

    code = "role_not_allowed_for_organisation"
    kind = ErrorKind.INVALID
    default_detail = "This organisation cannot hold keys of that role; pick one of its roles."


class GtinOutsideCompanyPrefixesError(TracecertError):
    """Raised when a brand registers a GTIN outside the GS1 company prefixes it holds."""

    code = "gtin_outside_company_prefixes"
    kind = ErrorKind.FORBIDDEN
    default_detail = (
        "This GTIN is outside your GS1 company prefixes; register products under your own "
        "prefixes, or ask the platform admin to record a prefix GS1 assigned to you."
    )


# ----------------------------------------------------------------------------- auth
class InvalidApiKeyError(TracecertError):
    """Raised when the bearer key is missing, malformed, unknown or revoked."""

    code = "invalid_api_key"
    kind = ErrorKind.UNAUTHENTICATED
    default_detail = "Send a valid, unrevoked API key as 'Authorization: Bearer <key>'."


class OrganisationNotFoundError(NotFoundError):
    """Raised when an organisation id is unknown."""

    code = "organisation_not_found"
    default_detail = "No such organisation; check the id."


class ApiKeyNotFoundError(NotFoundError):
    """Raised when an API key id is unknown."""

    code = "api_key_not_found"
    default_detail = "No such API key; check the key id (the part after 'tc_')."


# ----------------------------------------------------------------------------- conflict
class OrganisationExistsError(TracecertError):
    """Raised when an organisation with the same name already exists."""

    code = "organisation_exists"
    kind = ErrorKind.CONFLICT
    default_detail = "An organisation with this name exists; use it or choose another name."


class CompanyPrefixTakenError(TracecertError):
    """Raised when a GS1 company prefix (or one within or around it) is another brand's."""

    code = "company_prefix_taken"
    kind = ErrorKind.CONFLICT
    default_detail = (
        "This GS1 company prefix overlaps one another organisation holds; check the prefix "
        "GS1 assigned, or release it from the other organisation first."
    )


class PartnerNotAuthorisedError(TracecertError):
    """Raised when a partner is named for a bottle whose brand has not authorised it."""

    code = "partner_not_authorised"
    kind = ErrorKind.INVALID
    default_detail = (
        "This partner is not authorised by the bottle's brand for this; choose a partner "
        "from GET /partners for this brand."
    )


# ----------------------------------------------------------------------------- scanner sessions
class InvalidScannerSessionError(TracecertError):
    """Raised when a scanner session token is malformed, unknown, expired, ended, or its API
    key revoked."""

    code = "invalid_scanner_session"
    kind = ErrorKind.UNAUTHENTICATED
    default_detail = (
        "The scanner session has expired or ended (or its API key was revoked): "
        "paste the organisation's API key again to open a new one."
    )


class ScannerSessionScopeError(TracecertError):
    """Raised when a scanner session token is sent to a route other than scanning."""

    code = "scanner_session_scope"
    kind = ErrorKind.FORBIDDEN
    default_detail = (
        "A scanner session token works only for scanning (GET /me, POST /scans, "
        "POST /scans/upload); send the organisation's API key for this."
    )
