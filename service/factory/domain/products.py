"""Products: a GTIN-14 that a brand owns, with a name and descriptive attributes."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from service.factory.domain.errors import InvalidProductError
from service.kernel.gs1 import normalise_gtin
from service.kernel.text import printable

MAX_NAME_LENGTH = 200
MAX_ATTRIBUTES = 32
MAX_ATTRIBUTE_KEY = 64
MAX_ATTRIBUTE_TEXT = 500


@dataclass
class Product:
    """A trade item of a brand (e.g. "53% vol, 500 ml, sauce aroma, vintage 2019")."""

    gtin: str
    brand_id: int
    name: str
    attributes: dict[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None
    id: int | None = None


def _printable(text: str, what: str, limit: int) -> str:
    return printable(text, limit, InvalidProductError, f"The {what}")


def validate_attributes(attributes: dict[str, Any]) -> dict[str, Any]:
    """Return attributes if they are a small flat object of text, numbers and booleans.

    Examples: ``{"volume_ml": 500, "abv": 53, "aroma": "sauce", "vintage": 2019}``.
    """
    if not isinstance(attributes, dict):
        raise InvalidProductError("Product attributes are a JSON object.")
    if len(attributes) > MAX_ATTRIBUTES:
        raise InvalidProductError(f"A product has at most {MAX_ATTRIBUTES} attributes.")
    clean: dict[str, Any] = {}
    for key, value in attributes.items():
        name = _printable(str(key), "attribute name", MAX_ATTRIBUTE_KEY)
        if name in clean:
            raise InvalidProductError(f"The attribute name {name!r} is given twice.")
        if isinstance(value, bool) or value is None:
            clean[name] = value
        elif isinstance(value, int | float):
            if isinstance(value, float) and not math.isfinite(value):
                raise InvalidProductError(f"Attribute {name!r} must be a finite number.")
            clean[name] = value
        elif isinstance(value, str):
            clean[name] = _printable(value, f"value of {name!r}", MAX_ATTRIBUTE_TEXT)
        else:
            raise InvalidProductError(
                f"Attribute {name!r} must be text, a number or true/false, not a list or object."
            )
    return clean


def new_product(gtin: str, brand_id: int, name: str, attributes: dict[str, Any]) -> Product:
    """Return a validated product (GTIN check digit, printable name, flat attributes)."""
    return Product(
        gtin=normalise_gtin(gtin),
        brand_id=brand_id,
        name=_printable(name, "product name", MAX_NAME_LENGTH),
        attributes=validate_attributes(attributes),
    )
