"""Strict JSON: what tracecert takes in a document it keeps, so that whatever it stores it can
render again, to anyone, on any JSON stack.

I-JSON (RFC 7493) rules, plus a bound on nesting:

* numbers are finite IEEE 754 doubles, and integers are exact in one (|n| < 2**53): NaN,
  Infinity and ``1e999999`` are refused, and so is an integer no double holds exactly;
* strings (and member names) are Unicode scalar values: no lone surrogate (``"\\ud800"``);
* nesting is at most ``MAX_DEPTH`` deep, measured on the raw bytes before any parsing, since a
  deep enough document crashes a recursive parser.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from service.channel.domain.errors import UnsupportedJsonError

MAX_DEPTH = 32
#: The largest integer every IEEE 754 double reader holds exactly (RFC 7493, 2.2).
MAX_EXACT_INT = 2**53 - 1

# A string (with its escapes) or a bracket: brackets inside strings do not nest.
_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"?|[\[\]{}]', re.DOTALL)
_SURROGATE = re.compile("[\ud800-\udfff]")


def depth(raw: bytes) -> int:
    """How deep the arrays and objects of the JSON text ``raw`` nest (0 for a scalar).

    Counts opening brackets outside strings; it never parses, so any input is safe."""
    deepest = level = 0
    for match in _TOKENS.finditer(raw):
        token = match.group()
        if token in (b"[", b"{"):
            level += 1
            deepest = max(deepest, level)
        elif token in (b"]", b"}"):
            level -= 1
    return deepest


def _refuse_constant(name: str) -> Any:
    raise UnsupportedJsonError(f"{name} is not a JSON number; send finite numbers only.")


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise UnsupportedJsonError(
            f"The number {text[:40]} is too large for a double; send a finite number."
        )
    return value


def _int(text: str) -> int:
    # Python refuses to read more than 4,300 digits; far fewer already exceed a double.
    if len(text.lstrip("-")) > 16 or abs(int(text)) > MAX_EXACT_INT:
        raise UnsupportedJsonError(
            f"The integer {text[:40]} is too large to read back exactly; send integers of at "
            f"most {MAX_EXACT_INT} in magnitude, or send the value as a string."
        )
    return int(text)


def check_text(value: str) -> None:
    """Refuse a string holding a lone surrogate (not Unicode, and not storable as UTF-8)."""
    if _SURROGATE.search(value):
        raise UnsupportedJsonError(
            "A string holds a lone UTF-16 surrogate (such as \\ud800); send valid Unicode."
        )


def check_value(value: Any, *, exact_ints: bool = True) -> None:
    """Refuse a parsed JSON value that breaks the rules above (iteratively: any depth is safe)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            if level >= MAX_DEPTH:
                raise UnsupportedJsonError(_too_deep())
            for key, member in item.items():
                check_text(key)
                stack.append((member, level + 1))
        elif isinstance(item, list):
            if level >= MAX_DEPTH:
                raise UnsupportedJsonError(_too_deep())
            stack.extend((member, level + 1) for member in item)
        elif isinstance(item, str):
            check_text(item)
        elif isinstance(item, bool) or item is None:
            continue
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise UnsupportedJsonError("A number is not finite; send finite numbers only.")
        elif isinstance(item, int):
            if exact_ints and abs(item) > MAX_EXACT_INT:
                raise UnsupportedJsonError(
                    f"An integer is too large to read back exactly; send integers of at most "
                    f"{MAX_EXACT_INT} in magnitude, or send the value as a string."
                )
        else:
            raise UnsupportedJsonError(f"A {type(item).__name__} is not a JSON value.")


def _too_deep() -> str:
    return f"The document nests deeper than {MAX_DEPTH} levels; flatten it and send it again."


def loads(raw: bytes | str, *, exact_ints: bool = True) -> Any:
    """Parse strict JSON: depth first on the raw text, then numbers and strings as they parse.

    ``exact_ints=False`` lets integers of any size through (reading back what was stored
    before these rules: Python renders them, only other readers may round them).

    Raises:
        UnsupportedJsonError: the text is JSON that breaks the rules above.
        ValueError: the text is not JSON at all.
    """
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    if depth(data) > MAX_DEPTH:
        raise UnsupportedJsonError(_too_deep())
    value = json.loads(
        data,
        parse_constant=_refuse_constant,
        parse_float=_float,
        parse_int=_int if exact_ints else _any_int,
    )
    check_value(value, exact_ints=exact_ints)
    return value


def _any_int(text: str) -> int:
    if len(text) > 4000:  # Python reads at most 4,300 digits
        raise UnsupportedJsonError("An integer has too many digits; send it as a string.")
    return int(text)
