import math

import pytest

from service.factory.domain.errors import InvalidProductError
from service.factory.domain.products import (
    MAX_ATTRIBUTE_KEY,
    MAX_ATTRIBUTE_TEXT,
    MAX_ATTRIBUTES,
    MAX_NAME_LENGTH,
    Product,
    new_product,
    validate_attributes,
)
from service.kernel.errors import InvalidGtinError

ATTRIBUTES = {"volume_ml": 500, "abv": 53.0, "aroma": "sauce", "vintage": 2019, "gift": True}


def _product(**overrides):
    arguments = {"gtin": "09506000134352", "brand_id": 3, "name": "Maotai", "attributes": {}}
    arguments.update(overrides)
    return new_product(**arguments)


# ----------------------------------------------------------------------------- GTIN and name
def test_a_valid_product_keeps_its_brand_name_and_attributes():
    product = _product(attributes=ATTRIBUTES)
    assert product == Product(
        gtin="09506000134352", brand_id=3, name="Maotai", attributes=ATTRIBUTES
    )
    assert product.id is None
    assert product.created_at is None


@pytest.mark.parametrize(
    ("gtin", "stored"),
    [
        ("96385074", "00000096385074"),
        ("036000291452", "00036000291452"),
        ("4006381333931", "04006381333931"),
        ("09506000134352", "09506000134352"),
    ],
)
def test_the_gtin_is_stored_as_fourteen_digits(gtin, stored):
    assert _product(gtin=gtin).gtin == stored


@pytest.mark.parametrize("gtin", ["09506000134353", "4006381333932", "0950600013435", "", "x"])
def test_a_gtin_with_a_wrong_check_digit_or_shape_is_refused(gtin):
    with pytest.raises(InvalidGtinError):
        _product(gtin=gtin)


def test_the_name_is_stripped_and_nfc_normalised():
    assert _product(name="  Cafe\u0301 \n").name == "Caf\u00e9"


def test_a_name_of_two_hundred_characters_is_the_longest_accepted():
    assert _product(name="n" * MAX_NAME_LENGTH).name == "n" * 200
    with pytest.raises(InvalidProductError, match="product name has 1-200 characters"):
        _product(name="n" * 201)


@pytest.mark.parametrize("name", ["", "   ", "\t\n"])
def test_an_empty_name_is_refused(name):
    with pytest.raises(InvalidProductError, match="product name has 1-200"):
        _product(name=name)


@pytest.mark.parametrize("name", ["Mao\x00tai", "Mao\ttai", "Mao\u200btai", "Mao\u202etai"])
def test_a_name_with_control_or_invisible_characters_is_refused(name):
    with pytest.raises(InvalidProductError, match="control or invisible"):
        _product(name=name)


def test_a_name_in_any_script_is_accepted():
    assert _product(name="贵州茅台酒 53%vol").name == "贵州茅台酒 53%vol"


# ----------------------------------------------------------------------------- attributes
def test_flat_text_number_boolean_and_null_attributes_are_accepted():
    attributes = {"aroma": " sauce ", "volume_ml": 500, "abv": 53.5, "gift": False, "note": None}
    assert validate_attributes(attributes) == {
        "aroma": "sauce",
        "volume_ml": 500,
        "abv": 53.5,
        "gift": False,
        "note": None,
    }


def test_no_attributes_is_accepted():
    assert validate_attributes({}) == {}


def test_booleans_stay_booleans_not_numbers():
    clean = validate_attributes({"gift": True})
    assert clean["gift"] is True


@pytest.mark.parametrize(
    "value", [[1, 2], ["a"], [], {"a": 1}, {}, (1, 2), {1, 2}, b"bytes", object()]
)
def test_a_list_object_or_other_value_is_refused(value):
    with pytest.raises(InvalidProductError, match="not a list or object"):
        new_product("09506000134352", 3, "Maotai", {"nested": value})


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_a_number_that_is_not_finite_is_refused(value):
    with pytest.raises(InvalidProductError, match="'abv' must be a finite number"):
        validate_attributes({"abv": value})


def test_at_most_thirty_two_attributes_are_accepted():
    many = {f"k{i}": i for i in range(MAX_ATTRIBUTES)}
    assert validate_attributes(many) == many
    with pytest.raises(InvalidProductError, match="at most 32 attributes"):
        validate_attributes({**many, "one_more": 1})


def test_an_attribute_name_of_sixty_four_characters_is_the_longest_accepted():
    assert validate_attributes({"k" * MAX_ATTRIBUTE_KEY: 1}) == {"k" * 64: 1}
    with pytest.raises(InvalidProductError, match="attribute name has 1-64 characters"):
        validate_attributes({"k" * 65: 1})


def test_an_attribute_text_of_five_hundred_characters_is_the_longest_accepted():
    assert validate_attributes({"note": "v" * MAX_ATTRIBUTE_TEXT}) == {"note": "v" * 500}
    with pytest.raises(InvalidProductError, match="value of 'note' has 1-500 characters"):
        validate_attributes({"note": "v" * 501})


@pytest.mark.parametrize("key", ["", "  "])
def test_an_empty_attribute_name_is_refused(key):
    with pytest.raises(InvalidProductError, match="attribute name has 1-64"):
        validate_attributes({key: 1})


def test_an_empty_attribute_text_is_refused():
    with pytest.raises(InvalidProductError, match="value of 'aroma' has 1-500"):
        validate_attributes({"aroma": "   "})


@pytest.mark.parametrize("key", ["a\x00b", "a\nb", "a\u200bb", "a\x1bb"])
def test_an_attribute_name_with_control_characters_is_refused(key):
    with pytest.raises(InvalidProductError, match="attribute name may not contain control"):
        validate_attributes({key: 1})


@pytest.mark.parametrize("value", ["a\x00b", "a\nb", "a\u200bb", "a\x1bb"])
def test_an_attribute_text_with_control_characters_is_refused(value):
    with pytest.raises(InvalidProductError, match="may not contain control"):
        validate_attributes({"aroma": value})


@pytest.mark.parametrize("attributes", [[("a", 1)], "a=1", None, 1])
def test_attributes_that_are_not_an_object_are_refused(attributes):
    with pytest.raises(InvalidProductError, match="a JSON object"):
        validate_attributes(attributes)
