"""The root of the service's one error tree, and the errors every area raises alike.

Every error carries a machine ``code`` (stable, shown to clients), an HTTP-agnostic ``kind``
(the API maps kinds to status codes in one place) and a sentence that says what to do. The
errors of one area's rules live in that area; the ones here are the root, the generic kinds
(not found, permission, a request in progress, the database or printer unavailable) and those
of the GS1 ids, which the kernel owns.
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar


class ErrorKind(StrEnum):
    """What sort of failure an error is, independent of any transport."""

    NOT_FOUND = "not_found"
    INVALID = "invalid"
    #: Refused as a whole by the protocol it claims (an EPCIS document or query).
    MALFORMED = "malformed"
    CONFLICT = "conflict"
    FORBIDDEN = "forbidden"
    UNAUTHENTICATED = "unauthenticated"
    #: Too many attempts (wrong PINs or codes, codes asked too often): wait and retry.
    RATE_LIMITED = "rate_limited"
    UNAVAILABLE = "unavailable"


class TracecertError(Exception):
    """Root of every expected business error of the service.

    Raised when a request cannot be served for a reason the client can act upon; the
    subclasses say which reason. ``detail`` tells the client what happened and what to do.
    """

    code: ClassVar[str] = "error"
    kind: ClassVar[ErrorKind] = ErrorKind.INVALID
    default_detail: ClassVar[str] = "The request failed."
    #: Seconds after which the same request may succeed (HTTP ``Retry-After``); None when
    #: retrying it unchanged will not help.
    retry_after_s: ClassVar[int | None] = None

    def __init__(self, detail: str | None = None, **facts: str | int | None) -> None:
        self.detail = detail or self.default_detail
        #: Facts a client may act on, beside the code and the sentence (``attempts_left``,
        #: ``state``); the API puts them in the error body.
        self.facts = facts
        super().__init__(self.detail)


# ----------------------------------------------------------------------------- invalid
class InvalidRequestError(TracecertError):
    """Raised when a request is malformed: a field is missing, too long or of the wrong type."""

    code = "invalid_request"
    kind = ErrorKind.INVALID
    default_detail = "The request is malformed; fix it as the detail says and send it again."


class IdempotencyKeyReusedError(TracecertError):
    """Raised when an ``Idempotency-Key`` is sent again with a different request body."""

    code = "idempotency_key_reused"
    kind = ErrorKind.INVALID
    default_detail = (
        "This Idempotency-Key was already used with a different request; "
        "use a new key for a new request."
    )


class InvalidGtinError(TracecertError):
    """Raised when a GTIN is malformed or its check digit is wrong."""

    code = "invalid_gtin"
    kind = ErrorKind.INVALID
    default_detail = "The GTIN is invalid; send 8, 12, 13 or 14 digits with a correct check digit."


class InvalidCompanyPrefixError(TracecertError):
    """Raised when a GS1 company prefix is not 6-12 digits."""

    code = "invalid_company_prefix"
    kind = ErrorKind.INVALID
    default_detail = "A GS1 company prefix has 6 to 12 digits."


class InvalidLotError(TracecertError):
    """Raised when a lot number is not a valid GS1 AI 10 value."""

    code = "invalid_lot"
    kind = ErrorKind.INVALID
    default_detail = "A lot has 1-20 characters of A-Z, a-z, 0-9, '.', '_' or '-'."


class InvalidCodeError(TracecertError):
    """Raised when a scanned code is neither a GS1 Digital Link URI, an SSCC nor a serial."""

    code = "invalid_code"
    kind = ErrorKind.INVALID
    default_detail = "The code is not a GS1 Digital Link URI, an SSCC or a serial; scan again."


class MalformedCodeError(TracecertError):
    """Raised when a scanned item code (a GS1 Digital Link path or a serial to verify) is not
    well formed; the subclasses name the part. A well-formed code we never made is no error:
    it verifies as ``unknown``."""

    code = "malformed_code"
    # GS1-Conformant resolvers report a syntactically invalid Digital Link with 400.
    kind = ErrorKind.MALFORMED
    default_detail = (
        "This is not an item code: a GS1 Digital Link path is /01/<GTIN>[/10/<lot>]/21/<serial>; "
        "scan the label again."
    )


class MalformedGtinError(MalformedCodeError):
    """Raised when a scanned GTIN is not 8, 12, 13 or 14 digits or its check digit is wrong."""

    code = "malformed_gtin"
    default_detail = "The GTIN is not 8, 12, 13 or 14 digits; scan the label again."


class MalformedLotError(MalformedCodeError):
    """Raised when a scanned lot (AI 10) is not 1-20 characters of GS1 character set 82."""

    code = "malformed_lot"
    default_detail = (
        "The lot (AI 10) has 1-20 characters of GS1 character set 82; scan the label again."
    )


class MalformedSerialError(MalformedCodeError):
    """Raised when a scanned serial (AI 21) is not 1-20 characters of GS1 character set 82."""

    code = "malformed_serial"
    default_detail = (
        "The serial (AI 21) has 1-20 characters of GS1 character set 82 (letters, digits and "
        "!\"%&'()*+,-./:;<=>?_); scan the label again."
    )


class PermissionDeniedError(TracecertError):
    """Raised when the caller's role may not perform the action."""

    code = "permission_denied"
    kind = ErrorKind.FORBIDDEN
    default_detail = "Your role may not do this; use a key with a role that may."


# ----------------------------------------------------------------------------- not found
class NotFoundError(TracecertError):
    """Raised when an object does not exist or belongs to another organisation."""

    code = "not_found"
    kind = ErrorKind.NOT_FOUND
    default_detail = "Nothing was found here; check the path."


class RequestInProgressError(TracecertError):
    """Raised when the same Idempotency-Key is being processed by another request."""

    code = "request_in_progress"
    kind = ErrorKind.CONFLICT
    default_detail = "The same request is still being processed; retry in a moment."


class PrinterBusyError(TracecertError):
    """Raised when as many label files as allowed are being made already: retry shortly."""

    code = "printer_busy"
    kind = ErrorKind.UNAVAILABLE
    default_detail = "Other label files are being made right now; retry in a few seconds."
    retry_after_s = 5


class DatabaseUnavailableError(TracecertError):
    """Raised when the database cannot be reached or used right now (refused or dropped
    connections, a server shutting down, a locked SQLite file): an outage, not a bug."""

    code = "database_unavailable"
    kind = ErrorKind.UNAVAILABLE
    default_detail = (
        "The database cannot be reached right now; send the same request again in a few "
        "seconds (with the same Idempotency-Key, if it had one, so that it takes effect once)."
    )
    retry_after_s = 2
