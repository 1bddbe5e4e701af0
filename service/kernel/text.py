"""Free text the service stores (names, lines, reasons), and counts said in English."""

from __future__ import annotations

import unicodedata

from service.kernel.errors import TracecertError


def printable(
    text: object,
    limit: int,
    error: type[TracecertError],
    subject: str,
    *,
    one_message: bool = False,
) -> str:
    """Return ``text`` NFC-normalised and stripped, or raise ``error`` if it is empty, longer
    than ``limit`` or holds control or invisible characters (Unicode category C).

    The detail names ``subject`` ("The product name", "A site name"); ``one_message`` gives
    one sentence for both faults."""
    cleaned = unicodedata.normalize("NFC", text).strip() if isinstance(text, str) else ""
    bad_length = not cleaned or len(cleaned) > limit
    hidden = any(unicodedata.category(ch).startswith("C") for ch in cleaned)
    if one_message and (bad_length or hidden):
        raise error(f"{subject} has 1-{limit} printable characters.")
    if bad_length:
        raise error(f"{subject} has 1-{limit} characters.")
    if hidden:
        raise error(f"{subject} may not contain control or invisible characters.")
    return cleaned


def count(n: int, one: str, other: str) -> str:
    """``n`` with its noun in the right English form: "1 try", "2 tries", "0 tries"."""
    return f"{n} {one if n == 1 else other}"
