"""Small renderings the use cases share in their answers."""

from __future__ import annotations

from typing import Any

from service.domain.batches import Batch
from service.domain.organisations import Organisation


def product_name(batch: Batch | None) -> str | None:
    """The product's name as the batch's public attributes froze it at planning."""
    if batch is None:
        return None
    product = (batch.metadata or {}).get("product")
    name = product.get("name") if isinstance(product, dict) else None
    return name if isinstance(name, str) else None


def party(organisation: Organisation | None) -> dict[str, Any] | None:
    """An organisation as answers name it: id, name and kind."""
    if organisation is None:
        return None
    return {
        "organisation_id": organisation.id,
        "name": organisation.name,
        "kind": organisation.kind.value,
    }
