"""GS1 identifiers: GTIN and SSCC check digits, lots, serials and Digital Link URIs.

* GTIN (AI 01) is carried as 14 digits (GTIN-8/12/13 are left-padded with zeros), the last
  one a mod-10 check digit (GS1 General Specifications 7.9.1).
* SSCC (AI 00) is 18 digits: extension digit, GS1 company prefix, serial reference, check digit.
* Lot (AI 10) and serial (AI 21) are at most 20 characters of GS1's AI encodable set 82. We
  issue only a URI-safe subset, so our Digital Link URIs need no percent-encoding; a scanned
  URI may carry any of set 82, percent-encoded (:func:`check_item_key` checks it).
* A GS1 Digital Link URI is ``https://<resolver>/01/<gtin>/10/<lot>/21/<serial>`` for an item
  and ``https://<resolver>/00/<sscc>`` for a logistic unit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from service.kernel.errors import (
    InvalidCodeError,
    InvalidCompanyPrefixError,
    InvalidGtinError,
    InvalidLotError,
    MalformedCodeError,
    MalformedGtinError,
    MalformedLotError,
    MalformedSerialError,
)

#: AI 10 / AI 21 characters we accept: a URI-unreserved subset of GS1 AI encodable set 82.
_AI82_SAFE = re.compile(r"[A-Za-z0-9._-]{1,20}", re.ASCII)
#: GS1 AI encodable character set 82 (GS1 General Specifications, figure 7.11-1), 1-20 of
#: them: what AI 10 (lot) and AI 21 (serial) may carry once a URI's percent-encoding is undone.
_SET82 = re.compile(r"[!\"%&'()*+,\-./0-9:;<=>?A-Z_a-z]{1,20}", re.ASCII)
_DIGITS = re.compile(r"[0-9]+", re.ASCII)
_RESOLVER = re.compile(
    r"(?=.{1,253}(?::\d{1,5})?$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
    r"(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*(?::\d{1,5})?",
    re.ASCII,
)
SSCC_LENGTH = 18
MAX_AI_LENGTH = 20


def check_digit(digits: str) -> int:
    """Return the GS1 mod-10 check digit for ``digits`` (all positions but the check digit).

    Weights 3 and 1 alternate from the rightmost digit, which has weight 3.
    """
    total = 0
    for position, char in enumerate(reversed(digits)):
        total += int(char) * (3 if position % 2 == 0 else 1)
    return (10 - total % 10) % 10


def normalise_gtin(value: str) -> str:
    """Return ``value`` as a GTIN-14 if it is a well-formed GTIN-8/12/13/14.

    Raises:
        InvalidGtinError: not 8, 12, 13 or 14 digits, or a wrong check digit.
    """
    if (
        not isinstance(value, str)
        or _DIGITS.fullmatch(value) is None
        or len(value)
        not in (
            8,
            12,
            13,
            14,
        )
    ):
        raise InvalidGtinError("A GTIN has 8, 12, 13 or 14 digits; send it without spaces.")
    gtin = value.zfill(14)
    expected = check_digit(gtin[:-1])
    if int(gtin[-1]) != expected:
        raise InvalidGtinError(
            f"The GTIN check digit is {gtin[-1]} but should be {expected}; "
            "check the number for typing errors."
        )
    return gtin


def normalise_company_prefix(value: str) -> str:
    """Return a GS1 company prefix (6-12 digits) or raise :class:`InvalidCompanyPrefixError`."""
    if not isinstance(value, str) or _DIGITS.fullmatch(value) is None or not 6 <= len(value) <= 12:
        raise InvalidCompanyPrefixError(
            "A GS1 company prefix has 6 to 12 digits; use the one GS1 assigned to the brand."
        )
    return value


def sscc_capacity(company_prefix: str) -> int:
    """Return how many serial references a company prefix leaves room for (per extension)."""
    return int(10 ** (SSCC_LENGTH - 2 - len(company_prefix)))


def make_sscc(extension: int, company_prefix: str, serial_reference: int) -> str:
    """Return the 18-digit SSCC for a serial reference under ``company_prefix``.

    Raises:
        InvalidCompanyPrefixError: the prefix is malformed.
        ValueError: ``extension`` is not 0-9 or the reference does not fit.
    """
    prefix = normalise_company_prefix(company_prefix)
    if not 0 <= extension <= 9:
        raise ValueError("the SSCC extension digit is 0-9")
    width = SSCC_LENGTH - 2 - len(prefix)
    if not 0 <= serial_reference < 10**width:
        raise ValueError(f"serial reference {serial_reference} does not fit {width} digits")
    body = f"{extension}{prefix}{serial_reference:0{width}d}"
    return body + str(check_digit(body))


def is_valid_sscc(value: str) -> bool:
    """Return whether ``value`` is 18 digits with a correct check digit."""
    return (
        isinstance(value, str)
        and len(value) == SSCC_LENGTH
        and _DIGITS.fullmatch(value) is not None
        and int(value[-1]) == check_digit(value[:-1])
    )


def is_valid_gtin14(value: str) -> bool:
    """Return whether ``value`` is 14 digits with a correct check digit."""
    return (
        isinstance(value, str)
        and len(value) == 14
        and _DIGITS.fullmatch(value) is not None
        and int(value[-1]) == check_digit(value[:-1])
    )


def validate_lot(lot: str) -> str:
    """Return ``lot`` if it is a valid AI 10 value for us, else raise :class:`InvalidLotError`."""
    if not isinstance(lot, str) or _AI82_SAFE.fullmatch(lot) is None:
        raise InvalidLotError(
            f"A lot has 1-{MAX_AI_LENGTH} characters of A-Z, a-z, 0-9, '.', '_' or '-' (GS1 AI 10)."
        )
    return lot


def is_valid_serial_text(value: str) -> bool:
    """Return whether ``value`` could be an AI 21 serial of ours (shape only)."""
    return isinstance(value, str) and _AI82_SAFE.fullmatch(value) is not None


def check_item_key(serial: str, gtin: str | None = None, lot: str | None = None) -> DigitalLink:
    """Return the key of a scanned item, the GTIN as GTIN-14, if it is well formed by GS1's rules.

    Well formed is GS1's syntax, not ours: a serial or lot of set 82 that we would never issue
    is well formed (and then unknown). The errors never repeat the value they refuse, so an
    over-long or hostile code is echoed nowhere.

    Raises:
        MalformedGtinError: not 8, 12, 13 or 14 digits, or a wrong check digit.
        MalformedLotError: the lot is not 1-20 characters of set 82.
        MalformedSerialError: the serial is not 1-20 characters of set 82.
    """
    if gtin is not None:
        if _DIGITS.fullmatch(gtin) is None or len(gtin) not in (8, 12, 13, 14):
            raise MalformedGtinError()
        gtin = gtin.zfill(14)
        expected = check_digit(gtin[:-1])
        if int(gtin[-1]) != expected:
            raise MalformedGtinError(
                f"The GTIN's check digit is {gtin[-1]} but should be {expected}: this is not a "
                "GTIN; scan the label again."
            )
    if lot is not None and _SET82.fullmatch(lot) is None:
        raise MalformedLotError()
    if _SET82.fullmatch(serial) is None:
        raise MalformedSerialError()
    return DigitalLink(gtin=gtin, lot=lot, serial=serial)


def parse_item_path(segments: list[str]) -> DigitalLink:
    """Return the key of an item's Digital Link path, given as its percent-decoded segments
    (``["01", gtin, "10", lot, "21", serial]``, the lot pair optional).

    Raises:
        MalformedCodeError: another shape (this resolver answers item links only), or one of
            its subclasses for a malformed GTIN, lot or serial.
    """
    ais = segments[0::2]
    if len(segments) % 2 or ais not in (["01", "21"], ["01", "10", "21"]):
        raise MalformedCodeError()
    values = dict(zip(ais, segments[1::2], strict=True))
    return check_item_key(values["21"], values["01"], values.get("10"))


def validate_resolver(resolver: str) -> str:
    """Return a resolver host (``id.example.com`` or ``127.0.0.1:8000``), lower-cased.

    Raises:
        ValueError: the host is not a plain DNS name or address with an optional port.
    """
    host = resolver.strip().lower()
    port = host.rpartition(":")[2] if ":" in host else "443"
    if _RESOLVER.fullmatch(host) is None or not 0 < int(port or "0") < 65536:
        raise ValueError(
            f"{resolver!r} is not a resolver host; give a host name such as id.example.com"
        )
    return host


def item_uri(resolver: str, gtin: str, lot: str, serial: str, scheme: str = "https") -> str:
    """Return the GS1 Digital Link URI of an item."""
    return f"{scheme}://{resolver}/01/{gtin}/10/{lot}/21/{serial}"


def sscc_uri(resolver: str, sscc: str, scheme: str = "https") -> str:
    """Return the GS1 Digital Link URI of a logistic unit (case or pallet)."""
    return f"{scheme}://{resolver}/00/{sscc}"


@dataclass(frozen=True)
class DigitalLink:
    """What a scanned GS1 Digital Link URI (or a bare code) names.

    Exactly one of ``serial`` (an item, with ``gtin`` and possibly ``lot``) or ``sscc`` is set.
    """

    gtin: str | None = None
    lot: str | None = None
    serial: str | None = None
    sscc: str | None = None


def parse_code(text: str) -> DigitalLink:
    """Parse what a scanner read: a GS1 Digital Link URI, a bare SSCC, or a bare serial.

    Accepted Digital Link paths (any host, optional path prefix before the first AI):
    ``/01/{gtin}[/10/{lot}]/21/{serial}`` and ``/00/{sscc}``.

    Raises:
        InvalidCodeError: anything else, with what was wrong.
    """
    if not isinstance(text, str) or not text or len(text) > 512:
        raise InvalidCodeError("A code is 1-512 characters: a GS1 Digital Link URI or an SSCC.")
    text = text.strip()
    # URIs and codes are printable ASCII; anything else (a NUL, a tab that URL parsing would
    # silently drop, a fullwidth look-alike) is not what the label says.
    if not text or any(not "!" <= c <= "~" for c in text):
        raise InvalidCodeError("A code has only printable ASCII characters; scan the label again.")
    if "://" not in text:
        if is_valid_sscc(text):
            return DigitalLink(sscc=text)
        if _DIGITS.fullmatch(text) and len(text) == SSCC_LENGTH:
            raise InvalidCodeError("This SSCC's check digit is wrong; scan the label again.")
        if is_valid_serial_text(text):
            return DigitalLink(serial=text)
        raise InvalidCodeError(
            "This is neither a GS1 Digital Link URI, an SSCC nor a serial; scan the label again."
        )
    try:
        parts = urlsplit(text)
    except ValueError as exc:
        raise InvalidCodeError("This is not a well-formed URI; scan the label again.") from exc
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidCodeError("A GS1 Digital Link URI starts with https://<host>/.")
    segments = [unquote(s) for s in parts.path.split("/") if s]
    for start, segment in enumerate(segments):
        if segment in ("00", "01"):
            return _parse_ai_path(segments[start:])
    raise InvalidCodeError("The URI has no GS1 key (/01/<GTIN> or /00/<SSCC>) in its path.")


def _parse_ai_path(segments: list[str]) -> DigitalLink:
    if len(segments) % 2:
        raise InvalidCodeError("A Digital Link path has pairs of /<AI>/<value>.")
    pairs = dict(zip(segments[0::2], segments[1::2], strict=True))
    if len(pairs) * 2 != len(segments):
        raise InvalidCodeError("A Digital Link path names each AI once.")
    if "00" in pairs:
        if len(pairs) != 1 or not is_valid_sscc(pairs["00"]):
            raise InvalidCodeError("/00/ must carry an 18-digit SSCC with a correct check digit.")
        return DigitalLink(sscc=pairs["00"])
    if set(pairs) - {"01", "10", "21"} or "21" not in pairs:
        raise InvalidCodeError("An item URI is /01/<GTIN>[/10/<lot>]/21/<serial>.")
    if pairs["01"] != pairs["01"].strip() or not is_valid_gtin14(pairs["01"]):
        raise InvalidCodeError("/01/ must carry a 14-digit GTIN with a correct check digit.")
    lot = pairs.get("10")
    if lot is not None and _AI82_SAFE.fullmatch(lot) is None:
        raise InvalidCodeError("The lot (/10/) is not a valid lot.")
    if not is_valid_serial_text(pairs["21"]):
        raise InvalidCodeError("The serial (/21/) is not a valid serial.")
    return DigitalLink(gtin=pairs["01"], lot=lot, serial=pairs["21"])
