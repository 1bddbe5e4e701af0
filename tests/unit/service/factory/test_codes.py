import hashlib
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.factory.domain.codes import (
    CROCKFORD,
    PIN_LENGTH,
    PIN_SEED_BYTES,
    SERIAL_LENGTH,
    derive_pin,
    format_pin,
    is_serial,
    new_pin_seed,
    new_serials,
    normalise_pin,
    pin_hash,
    pin_hashes,
    pin_matches,
)

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford's base32, written out
SEED = bytes(range(32))
KEY = b"k" * 32
SERIAL = "7K3MQ9XD7K3MQ9XD7K3M"

pins = st.text(alphabet=ALPHABET, min_size=PIN_LENGTH, max_size=PIN_LENGTH)


def _crockford(raw: bytes, start_bit: int, chars: int) -> str:
    """An independent oracle: read ``chars`` 5-bit groups of ``raw`` from ``start_bit``."""
    number, total = int.from_bytes(raw, "big"), 8 * len(raw)
    return "".join(
        ALPHABET[(number >> (total - start_bit - 5 * (i + 1))) & 31] for i in range(chars)
    )


class _RecordingRandbytes:
    def __init__(self, source: bytes | None = None, fill: int | None = None) -> None:
        self.source, self.fill, self.calls = source, fill, []

    def __call__(self, n: int) -> bytes:
        self.calls.append(n)
        if self.fill is not None:
            return bytes([self.fill]) * n
        assert self.source is not None
        return self.source[:n]


# ----------------------------------------------------------------------------- serials
def test_alphabet_is_crockford_base32_without_i_l_o_u():
    assert CROCKFORD.decode() == ALPHABET
    assert len(set(ALPHABET)) == 32
    assert not set("ILOU") & set(ALPHABET)


@pytest.mark.parametrize("count", [1, 2, 3, 7, 100, 1001])
def test_new_serials_returns_count_serials_of_twenty_crockford_characters(count):
    serials = new_serials(count)
    assert len(serials) == count
    assert all(len(s) == SERIAL_LENGTH == 20 for s in serials)
    assert all(set(s) <= set(ALPHABET) for s in serials)
    assert all(is_serial(s) for s in serials)


@pytest.mark.parametrize("count", [0, -1, -100])
def test_new_serials_of_zero_or_fewer_is_empty_without_drawing_randomness(count):
    randbytes = _RecordingRandbytes(fill=0)
    assert new_serials(count, randbytes) == []
    assert randbytes.calls == []


def test_hundred_thousand_new_serials_are_distinct_and_use_the_whole_alphabet():
    serials = new_serials(100_000)
    assert len(set(serials)) == 100_000
    assert set("".join(serials)) == set(ALPHABET)


@pytest.mark.parametrize(("count", "requested"), [(1, 25), (2, 25), (3, 50), (4, 50), (99, 1250)])
def test_new_serials_draws_one_run_of_a_hundred_bits_per_serial_rounded_up_to_pairs(
    count, requested
):
    randbytes = _RecordingRandbytes(fill=0)
    new_serials(count, randbytes)
    assert randbytes.calls == [requested]


def test_new_serials_is_deterministic_for_the_same_random_bytes():
    source = random.Random(7).randbytes(25 * 50)
    first = new_serials(99, _RecordingRandbytes(source))
    assert first == new_serials(99, _RecordingRandbytes(source))
    assert first != new_serials(99, _RecordingRandbytes(bytes(reversed(source))))


def test_all_zero_random_bytes_give_all_zero_serials():
    assert new_serials(3, _RecordingRandbytes(fill=0x00)) == ["0" * 20] * 3


def test_all_one_random_bits_give_all_z_serials():
    assert new_serials(3, _RecordingRandbytes(fill=0xFF)) == ["Z" * 20] * 3


def test_serial_characters_are_the_random_bits_five_at_a_time_big_endian():
    # 00 01 02 03 04 = 00000 00000 00000 10000 00100 00000 11000 00100 -> 0 0 0 G 4 0 R 4
    serials = new_serials(2, _RecordingRandbytes(bytes(range(25))))
    assert serials[0].startswith("000G40R4")
    assert serials[0] == _crockford(bytes(range(25)), 0, 20)
    assert serials[1] == _crockford(bytes(range(25)), 100, 20)


@given(st.binary(min_size=75, max_size=75), st.integers(1, 6))
def test_each_serial_carries_its_own_hundred_random_bits(raw, count):
    serials = new_serials(count, _RecordingRandbytes(raw))
    assert serials == [_crockford(raw, 100 * n, 20) for n in range(count)]


@pytest.mark.parametrize(
    "value",
    [
        "",
        "0" * 19,
        "0" * 21,
        "7k3mq9xd7k3mq9xd7k3m",  # lower case is not how serials are generated
        "I" + "0" * 19,
        "L" + "0" * 19,
        "O" + "0" * 19,
        "U" + "0" * 19,
        "-" + "0" * 19,
        "\uff21" + "0" * 19,  # fullwidth A
        "0" * 19 + "\x00",
        None,
        12345678901234567890,
        b"0" * 20,
    ],
)
def test_is_serial_refuses_what_new_serials_cannot_produce(value):
    assert not is_serial(value)


def test_is_serial_accepts_every_alphabet_character():
    assert is_serial(ALPHABET[:20])
    assert is_serial(ALPHABET[12:])


# ----------------------------------------------------------------------------- PINs
def test_new_pin_seeds_are_thirty_two_random_bytes():
    seeds = {new_pin_seed() for _ in range(100)}
    assert len(seeds) == 100
    assert all(len(s) == PIN_SEED_BYTES == 32 for s in seeds)


def test_derived_pin_is_eight_crockford_characters_of_keyed_blake2s():
    pin = derive_pin(SEED, SERIAL)
    mac = hashlib.blake2s(SERIAL.encode(), key=SEED, digest_size=5).digest()
    assert pin == _crockford(mac, 0, 8)
    assert len(pin) == PIN_LENGTH == 8
    assert set(pin) <= set(ALPHABET)


def test_derived_pin_is_the_same_every_time():
    assert derive_pin(SEED, SERIAL) == derive_pin(bytes(SEED), SERIAL[:])


def test_derived_pin_depends_on_the_seed_and_the_serial():
    serials = new_serials(200)
    pins_one = [derive_pin(SEED, s) for s in serials]
    pins_other_seed = [derive_pin(b"\x01" + SEED[1:], s) for s in serials]
    assert len(set(pins_one)) == 200
    assert all(a != b for a, b in zip(pins_one, pins_other_seed, strict=True))


def test_pin_hashes_equal_pin_hash_of_each_derived_pin():
    serials = new_serials(1001)
    assert pin_hashes(SEED, KEY, serials) == [
        pin_hash(KEY, s, derive_pin(SEED, s)) for s in serials
    ]


def test_pin_hashes_of_no_serials_is_empty():
    assert pin_hashes(SEED, KEY, []) == []


def test_pin_hash_is_keyed_and_bound_to_the_serial():
    digest = pin_hash(KEY, SERIAL, "7K3MQ9XD")
    assert len(digest) == 32
    assert (
        digest
        == hashlib.blake2s(b"tracecert:pin:" + SERIAL.encode() + b":7K3MQ9XD", key=KEY).digest()
    )
    assert digest != pin_hash(b"j" * 32, SERIAL, "7K3MQ9XD")
    assert digest != pin_hash(KEY, "0" * 20, "7K3MQ9XD")
    assert digest != pin_hash(KEY, SERIAL, "7K3MQ9XE")


def test_format_pin_prints_two_groups_of_four():
    assert format_pin("7K3MQ9XD") == "7K3M-Q9XD"


@given(pins)
def test_a_printed_pin_normalises_back_to_itself(pin):
    assert normalise_pin(format_pin(pin)) == pin
    assert normalise_pin(format_pin(pin).lower()) == pin


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("7K3MQ9XD", "7K3MQ9XD"),
        ("7k3m-q9xd", "7K3MQ9XD"),
        ("7K3M Q9XD", "7K3MQ9XD"),
        (" 7k3m - q9xd ", "7K3MQ9XD"),
        ("7-K-3-M-Q-9-X-D", "7K3MQ9XD"),
        ("oOiI-lL01", "00111101"),  # O reads as 0, I and L as 1
        ("-" * 24 + "7K3MQ9XD", "7K3MQ9XD"),  # 32 characters: the longest accepted
    ],
)
def test_normalise_pin_forgives_case_separators_and_look_alike_letters(typed, expected):
    assert normalise_pin(typed) == expected


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "7K3MQ9X",  # 7 characters
        "7K3MQ9XDA",  # 9 characters
        "7K3MQ9XU",  # U is not in the alphabet
        "7k3mq9xu",
        "7K3M_Q9XD",
        "7K3M.Q9XD",
        "7K3M\tQ9XD",
        "7K3MQ9XÐ",
        "\uff17K3MQ9XD",  # fullwidth 7
        "7K3MQ9X\x00",
        "-" * 25 + "7K3MQ9XD",  # 33 characters even though eight remain
        " " * 40 + "7K3MQ9XD",
    ],
)
def test_normalise_pin_refuses_what_cannot_be_a_pin(typed):
    assert normalise_pin(typed) is None


@pytest.mark.parametrize("typed", [None, 73345678, b"7K3MQ9XD", ["7K3MQ9XD"]])
def test_normalise_pin_refuses_what_is_not_text(typed):
    assert normalise_pin(typed) is None


@pytest.mark.parametrize(
    "typed",
    [
        "\u0131" * 8,  # dotless i upper-cases to I
        "\u017f" * 8,  # long s upper-cases to S
        "ABCDEF\ufb00",  # the ff ligature upper-cases to FF
    ],
)
def test_normalise_pin_refuses_non_ascii_letters_that_upper_case_to_ascii(typed):
    assert normalise_pin(typed) is None


# ----------------------------------------------------------------------------- claims
def _stored_for(serial: str) -> tuple[str, bytes]:
    pin = derive_pin(SEED, serial)
    return pin, pin_hash(KEY, serial, pin)


def test_the_printed_pin_matches_its_serial():
    pin, stored = _stored_for(SERIAL)
    assert pin_matches(KEY, SERIAL, format_pin(pin), stored)
    assert pin_matches(KEY, SERIAL, format_pin(pin).lower(), stored)
    assert pin_matches(KEY, SERIAL, pin, stored)


def test_a_pin_typed_with_look_alike_letters_matches():
    stored = pin_hash(KEY, SERIAL, "10AB0CD1")
    assert pin_matches(KEY, SERIAL, "lOab-ocdI", stored)


def test_a_pin_differing_in_one_character_does_not_match():
    pin, stored = _stored_for(SERIAL)
    for position in range(PIN_LENGTH):
        other = ALPHABET[(ALPHABET.index(pin[position]) + 1) % 32]
        wrong = pin[:position] + other + pin[position + 1 :]
        assert not pin_matches(KEY, SERIAL, wrong, stored), wrong


def test_a_pin_does_not_match_another_serial_or_another_key():
    pin, stored = _stored_for(SERIAL)
    other_serial = "0" * 20
    assert not pin_matches(KEY, other_serial, pin, stored)
    assert not pin_matches(b"j" * 32, SERIAL, pin, stored)
    assert not pin_matches(KEY, other_serial, derive_pin(SEED, other_serial), stored)


@pytest.mark.parametrize("typed", ["", "garbage", "7K3MQ9XU", None])
def test_text_that_is_not_a_pin_never_matches(typed):
    _, stored = _stored_for(SERIAL)
    assert not pin_matches(KEY, SERIAL, typed, stored)
