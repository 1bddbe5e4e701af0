"""Free text: normalised, stripped, bounded, printable."""

from __future__ import annotations

import pytest

from service.channel.domain.errors import InvalidSiteError
from service.factory.domain.errors import InvalidBatchError
from service.kernel.text import printable


def test_text_comes_back_nfc_normalised_and_stripped():
    assert printable("  Cafe\u0301 ", 10, InvalidBatchError, "The line") == "Caf\u00e9"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "The line has 1-5 characters."),
        ("   ", "The line has 1-5 characters."),
        ("123456", "The line has 1-5 characters."),
        ("a\u200bb", "The line may not contain control or invisible characters."),
        ("a\tb", "The line may not contain control or invisible characters."),
    ],
)
def test_empty_long_or_hidden_text_is_refused_with_its_reason(text, message):
    with pytest.raises(InvalidBatchError) as refused:
        printable(text, 5, InvalidBatchError, "The line")
    assert refused.value.detail == message


@pytest.mark.parametrize("text", ["", "x" * 6, "a\x00", None, 42])
def test_one_message_covers_every_fault_and_non_text(text):
    with pytest.raises(InvalidSiteError) as refused:
        printable(text, 5, InvalidSiteError, "A site name", one_message=True)
    assert refused.value.detail == "A site name has 1-5 printable characters."
