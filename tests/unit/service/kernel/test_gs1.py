import pytest
from hypothesis import given
from hypothesis import strategies as st

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
from service.kernel.gs1 import (
    DigitalLink,
    check_digit,
    check_item_key,
    is_valid_gtin14,
    is_valid_serial_text,
    is_valid_sscc,
    item_uri,
    make_sscc,
    normalise_company_prefix,
    normalise_gtin,
    parse_code,
    parse_item_path,
    sscc_capacity,
    sscc_uri,
    validate_lot,
    validate_resolver,
)

GTIN = "09506000134352"  # GS1's example GTIN-14
SSCC = "106141412345678908"  # GS1's example SSCC
RESOLVER = "id.example.com"


def _fullwidth(text: str) -> str:
    """Return ``text`` in fullwidth forms: digits and letters that look like ASCII but are not."""
    return "".join(chr(ord(c) + 0xFEE0) for c in text)


AI82_SAFE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-"
ai82_values = st.text(alphabet=AI82_SAFE, min_size=1, max_size=20)
digit_strings = st.text(alphabet="0123456789", min_size=13, max_size=13)


# ----------------------------------------------------------------------------- check digits
@pytest.mark.parametrize(
    ("body", "expected"),
    [
        # Worked by hand: weights 3, 1, 3, ... from the rightmost digit of the body.
        ("0950600013435", 2),  # GTIN-14 09506000134352: sum 78
        ("400638133393", 1),  # GTIN-13 4006381333931: sum 89
        ("03600029145", 2),  # UPC-A 036000291452: sum 58
        ("0003600029145", 2),  # the same UPC-A padded to 14 digits: leading zeros add nothing
        ("9638507", 4),  # GTIN-8 96385074: sum 86
        ("10614141234567890", 8),  # SSCC 106141412345678908: sum 132
        ("00614141123456789", 0),  # SSCC 006141411234567890: sum 140
        ("", 0),
        ("1", 7),
        ("0000000000000", 0),
    ],
)
def test_check_digit_matches_the_gs1_examples_worked_by_hand(body, expected):
    assert check_digit(body) == expected


@given(digit_strings)
def test_a_gtin_with_its_check_digit_is_valid_and_any_single_digit_change_is_caught(body):
    gtin = body + str(check_digit(body))
    assert is_valid_gtin14(gtin)
    assert normalise_gtin(gtin) == gtin
    for position in range(14):
        for digit in "0123456789":
            if digit == gtin[position]:
                continue
            mutated = gtin[:position] + digit + gtin[position + 1 :]
            assert not is_valid_gtin14(mutated), mutated


# ----------------------------------------------------------------------------- GTINs
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("96385074", "00000096385074"),  # GTIN-8
        ("036000291452", "00036000291452"),  # GTIN-12 (UPC-A)
        ("4006381333931", "04006381333931"),  # GTIN-13 (EAN-13)
        (GTIN, GTIN),  # GTIN-14
    ],
)
def test_gtins_of_8_12_13_and_14_digits_are_padded_to_fourteen(value, expected):
    assert normalise_gtin(value) == expected
    assert is_valid_gtin14(expected)


def test_wrong_gtin_check_digit_is_refused_naming_the_right_one():
    with pytest.raises(InvalidGtinError, match="check digit is 3 but should be 2") as caught:
        normalise_gtin("09506000134353")
    assert caught.value.code == "invalid_gtin"


@pytest.mark.parametrize(
    "value",
    [
        "",
        "0950600013435A",  # a letter
        "0950 6000134352",  # a space inside
        " 09506000134352",  # a leading space
        "09506000134352 ",  # a trailing space
        "09506000134352\n",  # a trailing newline
        "+9506000134352",
        "-9506000134352",
        "9638507",  # 7 digits
        "963850745",  # 9 digits
        "0963850745",  # 10 digits
        "03600029145",  # 11 digits
        "009506000134352",  # 15 digits
        _fullwidth(GTIN),  # fullwidth digits
        "٠٩٥٠٦٠٠٠١٣٤٣٥٢",  # Arabic-Indic digits
        "9.506000134352",
    ],
)
def test_malformed_gtin_is_refused_with_a_detail(value):
    with pytest.raises(InvalidGtinError, match="8, 12, 13 or 14 digits") as caught:
        normalise_gtin(value)
    assert "without spaces" in caught.value.detail


@pytest.mark.parametrize("value", [None, 9506000134352, 9506000134352.0, b"09506000134352"])
def test_gtin_that_is_not_text_is_refused(value):
    with pytest.raises(InvalidGtinError):
        normalise_gtin(value)


@pytest.mark.parametrize(
    "value", ["09506000134353", "0950600013435", "095060001343522", "0950600013435A", None, 1]
)
def test_is_valid_gtin14_refuses_anything_but_fourteen_digits_with_the_right_check(value):
    assert not is_valid_gtin14(value)


# ----------------------------------------------------------------------------- SSCCs
def test_make_sscc_builds_the_gs1_example_sscc():
    # extension 1, company prefix 0614141, serial reference 234567890, check digit 8
    assert make_sscc(1, "0614141", 234567890) == SSCC
    assert make_sscc(0, "0614141", 123456789) == "006141411234567890"


def test_make_sscc_pads_the_serial_reference_with_zeros():
    # check digit by hand: 7x3 + 1 + 4x3 + 1 + 4x3 + 1 + 6x3 + 3x3 = 75 -> 5
    assert make_sscc(3, "0614141", 7) == "3" + "0614141" + "000000007" + "5"
    assert is_valid_sscc(make_sscc(3, "0614141", 7))


@pytest.mark.parametrize("prefix_length", range(6, 13))
def test_sscc_is_eighteen_digits_for_every_prefix_length(prefix_length):
    prefix = "1234567890123"[:prefix_length]
    capacity = sscc_capacity(prefix)
    assert capacity == 10 ** (16 - prefix_length)
    for extension, reference in [(0, 0), (9, capacity - 1), (5, capacity // 3)]:
        sscc = make_sscc(extension, prefix, reference)
        assert len(sscc) == 18
        assert is_valid_sscc(sscc)
        assert sscc.startswith(f"{extension}{prefix}")
        assert int(sscc[1 + prefix_length : -1]) == reference


@pytest.mark.parametrize("prefix_length", range(6, 13))
def test_serial_reference_that_does_not_fit_the_prefix_is_refused(prefix_length):
    prefix = "9" * prefix_length
    with pytest.raises(ValueError, match="does not fit"):
        make_sscc(0, prefix, sscc_capacity(prefix))
    with pytest.raises(ValueError, match="does not fit"):
        make_sscc(0, prefix, -1)


@pytest.mark.parametrize("extension", [-1, 10, 42])
def test_extension_digit_outside_zero_to_nine_is_refused(extension):
    with pytest.raises(ValueError, match="extension digit"):
        make_sscc(extension, "0614141", 1)


@pytest.mark.parametrize(
    "prefix", ["", "12345", "1234567890123", "06141A1", " 0614141", "061 4141", None, 614141]
)
def test_malformed_company_prefix_is_refused(prefix):
    with pytest.raises(InvalidCompanyPrefixError, match="6 to 12 digits"):
        make_sscc(0, prefix, 1)
    with pytest.raises(InvalidCompanyPrefixError):
        normalise_company_prefix(prefix)


@pytest.mark.parametrize(
    ("prefix", "capacity"),
    [("061414", 10**10), ("0614141", 10**9), ("061414123456", 10**4)],
)
def test_sscc_capacity_is_what_the_prefix_leaves_of_sixteen_digits(prefix, capacity):
    assert sscc_capacity(prefix) == capacity


@given(
    st.integers(0, 9),
    st.text(alphabet="0123456789", min_size=6, max_size=12),
    st.data(),
)
def test_any_made_sscc_is_valid_and_parses_back(extension, prefix, data):
    reference = data.draw(st.integers(0, sscc_capacity(prefix) - 1))
    sscc = make_sscc(extension, prefix, reference)
    assert is_valid_sscc(sscc)
    assert parse_code(sscc) == DigitalLink(sscc=sscc)
    assert parse_code(sscc_uri(RESOLVER, sscc)) == DigitalLink(sscc=sscc)


@pytest.mark.parametrize(
    "value",
    [
        "106141412345678907",  # wrong check digit
        "10614141234567890",  # 17 digits
        "1061414123456789080",  # 19 digits
        "10614141234567890A",
        _fullwidth(SSCC),  # fullwidth digits
        "",
        None,
        106141412345678908,
    ],
)
def test_is_valid_sscc_refuses_anything_but_eighteen_digits_with_the_right_check(value):
    assert not is_valid_sscc(value)


def test_is_valid_sscc_accepts_the_gs1_examples():
    assert is_valid_sscc(SSCC)
    assert is_valid_sscc("006141411234567890")


# ----------------------------------------------------------------------------- lots and serials
@pytest.mark.parametrize("lot", ["A", "x" * 20, "LOT-2026.01_a", "...", "0", "-_."])
def test_lot_of_one_to_twenty_safe_characters_is_accepted_unchanged(lot):
    assert validate_lot(lot) == lot
    assert is_valid_serial_text(lot)


@pytest.mark.parametrize(
    "lot",
    [
        "",
        "x" * 21,
        "lot 1",
        " lot1",
        "lot1\n",
        "a/b",
        "a\x00b",
        "\uff21",  # fullwidth A: looks like A, is not A
        "LOT\u2010A",  # Unicode hyphen
        "é",
        "a+b",
        "a%20b",
        "a:b",
        "a#b",
        "a?b",
    ],
)
def test_lot_outside_the_safe_set_is_refused_with_the_rule(lot):
    with pytest.raises(InvalidLotError, match="1-20 characters") as caught:
        validate_lot(lot)
    assert caught.value.code == "invalid_lot"
    assert not is_valid_serial_text(lot)


@pytest.mark.parametrize("lot", [None, 12, b"LOT1"])
def test_lot_that_is_not_text_is_refused(lot):
    with pytest.raises(InvalidLotError):
        validate_lot(lot)
    assert not is_valid_serial_text(lot)


# ----------------------------------------------------------------------------- resolvers
@pytest.mark.parametrize(
    ("resolver", "expected"),
    [
        ("id.example.com", "id.example.com"),
        ("ID.Example.COM", "id.example.com"),
        ("  id.example.com\n", "id.example.com"),
        ("localhost", "localhost"),
        ("127.0.0.1:8000", "127.0.0.1:8000"),
        ("my-brand.example:443", "my-brand.example:443"),
        ("a" * 63 + ".com", "a" * 63 + ".com"),
        # 253 characters: the longest DNS name
        (".".join(["a" * 63] * 3 + ["a" * 61]), ".".join(["a" * 63] * 3 + ["a" * 61])),
    ],
)
def test_resolver_host_is_accepted_lower_cased_and_stripped(resolver, expected):
    assert validate_resolver(resolver) == expected


@pytest.mark.parametrize(
    "resolver",
    [
        "",
        "   ",
        "https://id.example.com",
        "id.example.com/",
        "id.example.com/path",
        "user@id.example.com",
        "-id.example.com",
        "id-.example.com",
        "id..example.com",
        ".example.com",
        "id.example.com.",
        "id_x.example.com",
        "id example.com",
        "exämple.com",
        "id.example.com:",
        "id.example.com:123456",
        "id.example.com:http",
        "a" * 64 + ".com",  # a label longer than 63
        ".".join(["a" * 63] * 3 + ["a" * 62]),  # 254 characters
    ],
)
def test_resolver_that_is_not_a_plain_host_is_refused(resolver):
    with pytest.raises(ValueError, match="is not a resolver host"):
        validate_resolver(resolver)


# ----------------------------------------------------------------------------- URIs
def test_item_uri_is_a_gs1_digital_link_with_gtin_lot_and_serial():
    assert item_uri(RESOLVER, GTIN, "LOT1", "ABC") == (
        "https://id.example.com/01/09506000134352/10/LOT1/21/ABC"
    )


def test_item_uri_takes_another_scheme_for_local_resolvers():
    assert item_uri("127.0.0.1:8000", GTIN, "L", "S", scheme="http") == (
        "http://127.0.0.1:8000/01/09506000134352/10/L/21/S"
    )


def test_sscc_uri_is_a_gs1_digital_link_with_ai_00():
    assert sscc_uri(RESOLVER, SSCC) == "https://id.example.com/00/106141412345678908"
    assert sscc_uri("localhost:8000", SSCC, scheme="http") == (
        "http://localhost:8000/00/106141412345678908"
    )


# ----------------------------------------------------------------------------- parse_code: accepted
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "https://id.example.com/01/09506000134352/10/LOT-1/21/ABC123",
            DigitalLink(gtin=GTIN, lot="LOT-1", serial="ABC123"),
        ),
        (
            "https://id.example.com/01/09506000134352/21/ABC123",
            DigitalLink(gtin=GTIN, serial="ABC123"),
        ),
        (
            "http://127.0.0.1:8000/01/09506000134352/10/L/21/S",
            DigitalLink(gtin=GTIN, lot="L", serial="S"),
        ),
        (
            "https://brand.example.com/dl/products/01/09506000134352/10/L7/21/S9",
            DigitalLink(gtin=GTIN, lot="L7", serial="S9"),
        ),
        (
            "https://id.example.com/01/09506000134352/10/L/21/S?linkType=gs1:pip",
            DigitalLink(gtin=GTIN, lot="L", serial="S"),
        ),
        ("HTTPS://id.example.com/01/09506000134352/21/S", DigitalLink(gtin=GTIN, serial="S")),
        # A serial or lot may read like an AI: positions, not values, say what is an AI.
        (
            "https://id.example.com/01/09506000134352/10/21/21/01",
            DigitalLink(gtin=GTIN, lot="21", serial="01"),
        ),
        ("https://id.example.com/00/106141412345678908", DigitalLink(sscc=SSCC)),
        ("https://id.example.com/logistics/00/106141412345678908", DigitalLink(sscc=SSCC)),
        (SSCC, DigitalLink(sscc=SSCC)),
        ("  106141412345678908\r\n", DigitalLink(sscc=SSCC)),  # a scanner's line ending
        ("7K3MQ9XD7K3MQ9XD7K3M", DigitalLink(serial="7K3MQ9XD7K3MQ9XD7K3M")),
        ("ABC\n", DigitalLink(serial="ABC")),
        # a bare GTIN is not an SSCC: it reads as a serial and will simply not be found
        (GTIN, DigitalLink(serial=GTIN)),
    ],
)
def test_parse_code_reads_item_and_logistic_unit_codes(text, expected):
    assert parse_code(text) == expected


def test_parse_code_decodes_percent_encoded_values_as_gs1_digital_link_requires():
    link = parse_code("https://id.example.com/%30%31/0950600013435%32/10/L%2D1/21/%41BC")
    assert link == DigitalLink(gtin=GTIN, lot="L-1", serial="ABC")


def test_parse_code_accepts_a_uri_of_exactly_512_characters():
    tail = "/01/09506000134352/21/ABC"
    head = "https://id.example.com/"
    text = head + "p" * (512 - len(head) - len(tail)) + tail
    assert len(text) == 512
    assert parse_code(text) == DigitalLink(gtin=GTIN, serial="ABC")
    with pytest.raises(InvalidCodeError, match="1-512 characters"):
        parse_code(head + "p" + text[len(head) :])


@given(
    st.text(alphabet="0123456789", min_size=13, max_size=13),
    st.one_of(st.none(), ai82_values),
    ai82_values,
)
def test_parse_code_gives_back_gtin_lot_and_serial_of_any_item_uri(body, lot, serial):
    gtin = body + str(check_digit(body))
    if lot is None:
        text = f"https://{RESOLVER}/01/{gtin}/21/{serial}"
    else:
        text = item_uri(RESOLVER, gtin, lot, serial)
    assert parse_code(text) == DigitalLink(gtin=gtin, lot=lot, serial=serial)


@given(ai82_values)
def test_parse_code_reads_any_bare_non_sscc_text_of_the_safe_set_as_a_serial(serial):
    if is_valid_sscc(serial) or (serial.isdigit() and len(serial) == 18):
        return
    assert parse_code(serial) == DigitalLink(serial=serial)


# ----------------------------------------------------------------------------- parse_code: refused
@pytest.mark.parametrize(
    ("text", "reason"),
    [
        # the input itself
        ("", "1-512 characters"),
        ("https://id.example.com/01/09506000134352/21/A\x00B", "printable ASCII"),
        ("106141412345678908\x00", "printable ASCII"),
        ("https://id.example.com/" + "p" * 490 + "/01/09506000134352/21/ABC", "1-512"),
        ("x" * 513, "1-512 characters"),
        # bare codes
        ("   ", "printable ASCII"),
        ("106141412345678907", "SSCC's check digit is wrong"),
        ("AB CD", "printable ASCII"),
        ("A" * 21, "neither a GS1 Digital Link URI"),
        (_fullwidth("ABC"), "printable ASCII"),
        ("A/B", "neither a GS1 Digital Link URI"),
        ("urn:epc:id:sgtin:0614141.812345.6789", "neither a GS1 Digital Link URI"),
        # scheme and host
        ("ftp://id.example.com/01/09506000134352/21/ABC", "starts with https://"),
        ("javascript://id.example.com/01/09506000134352/21/ABC", "starts with https://"),
        ("file:///01/09506000134352/21/ABC", "starts with https://"),
        ("https:///01/09506000134352/21/ABC", "starts with https://"),
        # no GS1 key
        ("https://id.example.com/", "no GS1 key"),
        ("https://id.example.com/products/123", "no GS1 key"),
        ("https://id.example.com/21/ABC", "no GS1 key"),
        ("https://id.example.com/001/09506000134352/21/ABC", "no GS1 key"),
        # shape of the AI path
        ("https://id.example.com/01/09506000134352/21", "pairs"),
        ("https://id.example.com/01/09506000134352/10/L/21", "pairs"),
        ("https://id.example.com/00", "pairs"),
        ("https://id.example.com/01/09506000134352/21/A/21/B", "each AI once"),
        ("https://id.example.com/01/09506000134352/10/A/10/B/21/C", "each AI once"),
        # GTIN
        ("https://id.example.com/01/09506000134353/21/ABC", "/01/ must carry"),
        ("https://id.example.com/01/4006381333931/21/ABC", "/01/ must carry"),  # 13 digits
        ("https://id.example.com/01/096385074/21/ABC", "/01/ must carry"),
        ("https://id.example.com/01/0950600013435A/21/ABC", "/01/ must carry"),
        ("https://id.example.com/01/%200950600013435/21/ABC", "/01/ must carry"),
        (
            "https://id.example.com/01/" + _fullwidth(GTIN) + "/21/ABC",
            "printable ASCII",
        ),
        # SSCC
        ("https://id.example.com/00/106141412345678907", "/00/ must carry"),
        ("https://id.example.com/00/10614141234567890", "/00/ must carry"),
        ("https://id.example.com/00/106141412345678908/21/ABC", "/00/ must carry"),
        # AIs
        ("https://id.example.com/01/09506000134352", "/01/<GTIN>[/10/<lot>]/21/<serial>"),
        ("https://id.example.com/01/09506000134352/10/L", "/01/<GTIN>[/10/<lot>]/21/<serial>"),
        ("https://id.example.com/01/09506000134352/17/260101/21/A", "/21/<serial>"),
        ("https://id.example.com/01/09506000134352/22/X/21/A", "/21/<serial>"),
        ("https://id.example.com/01/09506000134352/21/A/00/106141412345678908", "/00/ must"),
        # lot and serial values
        ("https://id.example.com/01/09506000134352/10/" + "L" * 21 + "/21/A", "lot"),
        ("https://id.example.com/01/09506000134352/10/L%2F1/21/A", "lot"),
        ("https://id.example.com/01/09506000134352/10/L%001/21/A", "lot"),
        ("https://id.example.com/01/09506000134352/10/L%201/21/A", "lot"),
        ("https://id.example.com/01/09506000134352/10/%EF%BC%A1/21/A", "lot"),  # fullwidth A
        ("https://id.example.com/01/09506000134352/21/" + "S" * 21, "serial"),
        ("https://id.example.com/01/09506000134352/21/A%2FB", "serial"),
        ("https://id.example.com/01/09506000134352/21/A%20B", "serial"),
        ("https://id.example.com/01/09506000134352/21/A%2541", "serial"),  # double-encoded
        ("https://id.example.com/01/09506000134352/21/%C3%A9", "serial"),
        ("https://id.example.com/01/09506000134352/21/A+B", "serial"),
    ],
)
def test_parse_code_refuses_malformed_codes_saying_what_is_wrong(text, reason):
    with pytest.raises(InvalidCodeError) as caught:
        parse_code(text)
    assert reason in caught.value.detail
    assert caught.value.code == "invalid_code"


@pytest.mark.parametrize("text", [None, 106141412345678908, b"106141412345678908", ["x"]])
def test_parse_code_refuses_what_is_not_text(text):
    with pytest.raises(InvalidCodeError):
        parse_code(text)


@pytest.mark.parametrize(
    "text",
    [
        "https://[/01/09506000134352/21/ABC",  # unbalanced IPv6 bracket
        "https://id.example\uff03/01/09506000134352/21/ABC",  # fullwidth '#' in the host
    ],
)
def test_parse_code_refuses_a_uri_with_a_malformed_host_as_an_invalid_code(text):
    with pytest.raises(InvalidCodeError):
        parse_code(text)


@pytest.mark.parametrize("control", ["\t", "\n", "\r"])
def test_parse_code_refuses_a_control_character_inside_a_uri(control):
    with pytest.raises(InvalidCodeError):
        parse_code(f"https://id.example.com/01/09506000134352/21/AB{control}C")


# ----------------------------------------------------------------------------- scanned item keys
#: GS1 AI encodable character set 82, as the General Specifications list it (figure 7.11-1).
SET82 = "!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"


def test_set_82_has_82_characters():
    assert len(set(SET82)) == 82


@given(st.text(alphabet=SET82, min_size=1, max_size=20), st.text(alphabet=SET82, max_size=20))
def test_any_lot_and_serial_of_set_82_is_well_formed(serial, lot):
    key = check_item_key(serial, GTIN[1:], lot or None)
    assert key == DigitalLink(gtin=GTIN, lot=lot or None, serial=serial)


@given(st.text(min_size=1, max_size=40))
def test_a_serial_outside_set_82_or_over_20_is_malformed_and_not_repeated(serial):
    if len(serial) <= 20 and set(serial) <= set(SET82):
        return
    with pytest.raises(MalformedSerialError) as refused:
        check_item_key(serial)
    # The sentence is the same whatever was sent: nothing of the refused value is repeated
    # (a test for "not in" fails on values that are ordinary words of the sentence, e.g. " ").
    assert refused.value.detail == MalformedSerialError.default_detail


@pytest.mark.parametrize(
    ("serial", "gtin", "lot", "error"),
    [
        ("S1", "0950600013435", None, MalformedGtinError),  # 13 digits, wrong check digit
        ("S1", "09506000134353", None, MalformedGtinError),
        ("S1", "9506000134352 ", None, MalformedGtinError),
        ("S1", _fullwidth("09506000134352"), None, MalformedGtinError),
        ("S1", "123456789", None, MalformedGtinError),
        ("S1", GTIN, "", MalformedLotError),
        ("S1", GTIN, "L\x00", MalformedLotError),
        ("S1", GTIN, "#1", MalformedLotError),  # '#' is not in set 82
        ("", GTIN, None, MalformedSerialError),
        ("S 1", GTIN, None, MalformedSerialError),
    ],
)
def test_malformed_item_keys_name_the_part(serial, gtin, lot, error):
    with pytest.raises(error):
        check_item_key(serial, gtin, lot)


def test_an_item_path_is_gtin_optional_lot_then_serial():
    assert parse_item_path(["01", GTIN, "21", "S/1"]) == DigitalLink(GTIN, None, "S/1")
    assert parse_item_path(["01", "96385074", "10", "L1", "21", "S1"]) == DigitalLink(
        "00000096385074", "L1", "S1"
    )
    for segments in (["01", GTIN], ["01", GTIN, "10", "L1"], ["01", GTIN, "21"], ["00", "1"]):
        with pytest.raises(MalformedCodeError) as refused:
            parse_item_path(segments)
        assert type(refused.value) is MalformedCodeError
    with pytest.raises(MalformedCodeError):
        parse_item_path(["01", GTIN, "21", "S1", "21", "S2"])
    with pytest.raises(MalformedCodeError):
        parse_item_path(["01", GTIN, "21", "S1", "10", "L1"])  # qualifiers out of order
