"""Organisations: the brand, its factories, distributors, stores and partners."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime

from service.domain.errors import InvalidOrganisationError
from service.domain.roles import OrganisationKind

MAX_NAME_LENGTH = 200


@dataclass
class Organisation:
    """A business that holds API keys."""

    name: str
    kind: OrganisationKind
    created_at: datetime
    id: int | None = None


def validate_name(name: str) -> str:
    """Return the NFC-normalised, stripped name, or raise if it is empty, long or has controls."""
    cleaned = unicodedata.normalize("NFC", name).strip()
    if not cleaned or len(cleaned) > MAX_NAME_LENGTH:
        raise InvalidOrganisationError(f"An organisation name has 1-{MAX_NAME_LENGTH} characters.")
    if any(unicodedata.category(ch).startswith("C") for ch in cleaned):
        raise InvalidOrganisationError(
            "An organisation name may not contain control or invisible characters."
        )
    return cleaned
