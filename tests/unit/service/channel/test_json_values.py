"""Strict JSON: what capture refuses, and that the checks never parse deep input recursively."""

from __future__ import annotations

import json

import pytest

from service.channel.domain import json_values
from service.channel.domain.errors import UnsupportedJsonError


@pytest.mark.parametrize(
    "text",
    [
        '{"a": NaN}',
        '{"a": Infinity}',
        '{"a": -Infinity}',
        '{"a": 1e999999}',
        '{"a": -1e400}',
        '{"a": 9007199254740993}',
        '{"a": ' + "9" * 5000 + "}",
        '{"a": "\\ud800"}',
        '{"\\udfff": 1}',
        "[" * 33 + "]" * 33,
        '{"a": ' + "[" * 20_000 + "]" * 20_000 + "}",
        "[" * 100_000,  # unterminated, and still no parser recursion
    ],
)
def test_unsupported_values_are_refused(text):
    with pytest.raises(UnsupportedJsonError) as refused:
        json_values.loads(text.encode())
    assert refused.value.code == "unsupported_json" and refused.value.detail


def test_depth_is_counted_outside_strings_only():
    assert json_values.depth(b'{"a": "[[[[{{{{", "b": [1, {"c": "\\"]["}]}') == 3
    assert json_values.depth(b"42") == 0


def test_strict_json_within_the_bounds_parses_as_json_does():
    text = '{"a": ' + "[" * 31 + '1.5, -9007199254740991, "\\u00e9\\ud83d\\ude00"' + "]" * 31 + "}"
    assert json_values.loads(text.encode()) == json.loads(text)


def test_reads_may_let_large_integers_through():
    assert json_values.loads(b'{"a": 9007199254740993}', exact_ints=False) == {
        "a": 9007199254740993
    }
    with pytest.raises(UnsupportedJsonError):
        json_values.loads(b'{"a": 1e400}', exact_ints=False)


def test_parsed_values_are_checked_at_any_depth_without_recursion():
    value: list = []
    for _ in range(50_000):
        value = [value]
    with pytest.raises(UnsupportedJsonError):
        json_values.check_value(value)
    with pytest.raises(UnsupportedJsonError):
        json_values.check_value({"a": float("nan")})
