"""Small renderings the use cases share in their answers."""

from __future__ import annotations

from service.domain.batches import Batch


def product_name(batch: Batch | None) -> str | None:
    """The product's name as the batch's public attributes froze it at planning."""
    if batch is None:
        return None
    product = (batch.metadata or {}).get("product")
    name = product.get("name") if isinstance(product, dict) else None
    return name if isinstance(name, str) else None
