"""The channel's errors: regions, sites, the channel's parents, scans, shipments, custody and
EPCIS documents and queries."""

from __future__ import annotations

from service.kernel.errors import (
    ErrorKind,
    NotFoundError,
    TracecertError,
)


class InvalidRegionError(TracecertError):
    """Raised when a region code is unknown or a custom region tree is malformed."""

    code = "invalid_region"
    kind = ErrorKind.INVALID
    default_detail = "The region is not known; use a GB/T 2260 code or a loaded custom region."


class InvalidSiteError(TracecertError):
    """Raised when a site's name, kind or region is not acceptable."""

    code = "invalid_site"
    kind = ErrorKind.INVALID
    default_detail = "The site is invalid; give a printable name, a known kind and a region."


class InvalidChannelError(TracecertError):
    """Raised when a channel parent or territory does not fit the brand's channel."""

    code = "invalid_channel"
    kind = ErrorKind.INVALID
    default_detail = "The channel change is invalid; see the detail."


class InvalidScanError(TracecertError):
    """Raised when a scan event is malformed: unknown action, future time, missing fields."""

    code = "invalid_scan"
    kind = ErrorKind.INVALID
    default_detail = "The scan is invalid; fix it as the detail says and send it again."


class InvalidEpcisError(TracecertError):
    """Raised when an EPCIS document or event is malformed or not one we can take."""

    code = "invalid_epcis"
    kind = ErrorKind.MALFORMED
    default_detail = (
        "The EPCIS document is malformed or holds something tracecert does not take; "
        "fix it as the detail says and send it again."
    )


class UnsupportedJsonError(TracecertError):
    """Raised when a JSON document holds what tracecert does not keep: a non-finite number, a
    number too large to read back exactly, a lone surrogate, or nesting deeper than 32."""

    code = "unsupported_json"
    kind = ErrorKind.MALFORMED
    default_detail = (
        "The JSON holds a value tracecert does not keep (non-finite or too large a number, a "
        "lone surrogate, or too deep nesting); fix it as the detail says and send it again."
    )


class InvalidEpcisQueryError(TracecertError):
    """Raised when EPCIS query parameters are unknown, repeated or malformed."""

    code = "invalid_epcis_query"
    kind = ErrorKind.MALFORMED
    default_detail = (
        "The EPCIS query parameters are invalid; fix them as the detail says and ask again."
    )


class SiteNotFoundError(NotFoundError):
    """Raised when a site id is unknown or belongs to another organisation."""

    code = "site_not_found"
    default_detail = "No such site in your organisation; check the site id."


class ShipmentNotFoundError(NotFoundError):
    """Raised when a shipment is unknown to the caller (neither sender nor receiver)."""

    code = "shipment_not_found"
    default_detail = "No such shipment of yours; check the shipment id."


class NotHeldError(TracecertError):
    """Raised when an organisation ships or opens goods it does not hold."""

    code = "not_held"
    kind = ErrorKind.CONFLICT
    default_detail = "You do not hold these goods (or they are in transit); scan what you hold."


class NotAddressedError(TracecertError):
    """Raised when goods are received by someone they were not shipped to."""

    code = "not_addressed_to_you"
    kind = ErrorKind.CONFLICT
    default_detail = (
        "These goods are in a shipment addressed to another organisation; do not receive them."
    )


class ClientEventReusedError(TracecertError):
    """Raised when a client event id is sent again with different content."""

    code = "client_event_reused"
    kind = ErrorKind.CONFLICT
    default_detail = "This client event id was used for another scan; give every scan its own id."
