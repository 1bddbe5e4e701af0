"""GS1's EPCIS 2.0 JSON schema (vendored in ``epcis/``), checked with jsonschema.

The schema uses two formats, ``date-time`` and ``uri``. jsonschema checks them only when the
optional packages ``rfc3339-validator`` and ``rfc3987`` are installed, which we do not pin; out
of the box it checks ``date``, ``email``, ``ipv4``, ``ipv6``, ``regex`` (and ``idn-hostname``
with ``idna``) and lets every other format pass. So both formats the schema needs are checked
here with the standard library: ``date-time`` as RFC 3339 section 5.6 (a time zone is
required), ``uri`` as an RFC 3986 absolute URI (a scheme, then only URI characters and
well-formed %-escapes).
"""

from __future__ import annotations

import copy
import json
import re
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft7Validator, FormatChecker
from jsonschema.exceptions import ValidationError, best_match

from service.channel.domain.errors import InvalidEpcisError

SCHEMA_FILE = "EPCIS-JSON-Schema.json"
CONTEXT_FILE = "epcis-context.jsonld"
#: How many schema errors a rejection lists.
MAX_REPORTED_ERRORS = 5
_ALTERNATIVES = ("anyOf", "oneOf")
_KNOWN_TYPES = frozenset(
    {
        "EPCISDocument",
        "EPCISQueryDocument",
        "ObjectEvent",
        "AggregationEvent",
        "TransformationEvent",
        "AssociationEvent",
        "TransactionEvent",
    }
)

_DATE_TIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(?:[Zz]|[+-](\d{2}):(\d{2}))",
    re.ASCII,
)
# RFC 3986: scheme ":" then unreserved / reserved characters and %HH escapes.
_URI = re.compile(
    r"[A-Za-z][A-Za-z0-9+.-]*:(?:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})*",
    re.ASCII,
)


def is_date_time(value: object) -> bool:
    """Return whether ``value`` is an RFC 3339 date-time (non-strings pass, as JSON Schema says)."""
    if not isinstance(value, str):
        return True
    match = _DATE_TIME.fullmatch(value)
    if match is None:
        return False
    year, month, day, hour, minute, second, off_hour, off_minute = match.groups()
    if int(second) > 60 or (off_hour is not None and (int(off_hour) > 23 or int(off_minute) > 59)):
        return False
    try:  # the calendar: month lengths, leap years, hours and minutes in range
        datetime(int(year), int(month), int(day), int(hour), int(minute), min(int(second), 59))
    except ValueError:
        return False
    return True


def is_uri(value: object) -> bool:
    """Return whether ``value`` is an absolute RFC 3986 URI (non-strings pass)."""
    return not isinstance(value, str) or _URI.fullmatch(value) is not None


#: jsonschema's default format checks plus ``date-time`` and ``uri`` (see the module doc).
FORMAT_CHECKER = FormatChecker()
FORMAT_CHECKER.checks("date-time")(is_date_time)
FORMAT_CHECKER.checks("uri")(is_uri)


def _read(name: str) -> Any:
    return json.loads(
        resources.files("service.channel.storage").joinpath("epcis", name).read_text("utf-8")
    )


@cache
def _validator() -> Draft7Validator:
    return Draft7Validator(_read(SCHEMA_FILE), format_checker=FORMAT_CHECKER)


@cache
def _context() -> dict[str, Any]:
    value = _read(CONTEXT_FILE)
    assert isinstance(value, dict)
    return value


def validate(doc: Any) -> None:
    """Check ``doc`` against the EPCIS 2.0 JSON schema.

    Raises:
        InvalidEpcisError: the document breaks the schema; the detail lists up to five of the
            errors, each with its JSON path (``epcisBody.eventList[0].eventTime: ...``).
    """
    errors = _shown_errors(list(_validator().iter_errors(doc)))
    if not errors:
        return
    lines = [f"{_path(e)}: {_describe(e)}" for e in errors]
    doc_type = doc.get("type") if isinstance(doc, dict) else None
    if isinstance(doc_type, str) and doc_type not in _KNOWN_TYPES and not is_uri(doc_type):
        lines.insert(0, f"type: {doc_type!r} is not an EPCIS type; send an EPCISDocument")
    shown = lines[:MAX_REPORTED_ERRORS]
    more = len(lines) - len(shown)
    tail = f" (and {more} more)" if more > 0 else ""
    raise InvalidEpcisError(
        "The document is not valid EPCIS 2.0 JSON: " + "; ".join(shown) + tail + "."
    )


def context() -> dict[str, Any]:
    """Return the EPCIS 2.0 JSON-LD context (the vendored copy of GS1's)."""
    return copy.deepcopy(_context())


def _shown_errors(errors: list[ValidationError]) -> list[ValidationError]:
    """Return the errors worth showing, in document order, without repeats.

    An anyOf/oneOf error is left out when a plainer error lies at or below its path: that one
    says what is wrong (``action: 'MOVE' is not one of ...``), the anyOf only that it is.
    """
    plain = [e for e in errors if e.validator not in _ALTERNATIVES]
    seen: set[tuple[str, str]] = set()
    out: list[ValidationError] = []
    for error in errors:
        if error.validator in _ALTERNATIVES and any(
            list(p.absolute_path)[: len(error.absolute_path)] == list(error.absolute_path)
            for p in plain
        ):
            continue
        key = (_path(error), _describe(error))
        if key not in seen:
            seen.add(key)
            out.append(error)
    out.sort(key=lambda e: [str(p) for p in e.absolute_path])
    return out


def _describe(error: ValidationError) -> str:
    if "propertyNames" in error.absolute_schema_path:
        return (
            f"{_short(error.instance)} is not a member the schema allows here "
            "(extension members are namespaced, e.g. example:myField)"
        )
    if error.validator in _ALTERNATIVES:
        text = f"{_short(error.instance)} matches none of the forms the schema allows"
        closest = best_match(error.context) if error.context else None
        if closest is not None and closest.validator not in _ALTERNATIVES:
            text += f" (closest: {_shorten(closest.message)})"
        return text
    return _shorten(error.message)


def _short(value: Any) -> str:
    if isinstance(value, dict):
        kind = value.get("type")
        return f"the {kind}" if isinstance(kind, str) else "the object"
    if isinstance(value, list):
        return "the list"
    return _shorten(repr(value))


def _shorten(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _path(error: ValidationError) -> str:
    text = ""
    for part in error.absolute_path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text or "(document)"
