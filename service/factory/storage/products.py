"""Products by GTIN and brand."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.factory.domain.products import Product
from service.factory.storage.rows import (
    ProductRow,
)
from service.kernel.storage.sql import (
    translate_integrity,
)


class SqlAlchemyProductRepository:
    def __init__(self, session: Session) -> None:
        self._s = session

    @staticmethod
    def _to_domain(row: ProductRow) -> Product:
        return Product(
            id=row.id,
            gtin=row.gtin,
            brand_id=row.brand_id,
            name=row.name,
            attributes=row.attributes,
            created_at=row.created_at,
        )

    def add(self, product: Product) -> Product:
        row = ProductRow(
            gtin=product.gtin,
            brand_id=product.brand_id,
            name=product.name,
            attributes=product.attributes,
            created_at=product.created_at,
        )
        self._s.add(row)
        with translate_integrity(self._s, "gtin"):
            self._s.flush()
        product.id = row.id
        return product

    def get(self, product_id: int) -> Product | None:
        row = self._s.get(ProductRow, product_id)
        return self._to_domain(row) if row else None

    def get_by_gtin(self, gtin: str) -> Product | None:
        row = self._s.scalar(select(ProductRow).where(ProductRow.gtin == gtin))
        return self._to_domain(row) if row else None

    def list(self, brand_id: int | None, offset: int, limit: int) -> list[Product]:
        query = select(ProductRow).order_by(ProductRow.id).offset(offset).limit(limit)
        if brand_id is not None:
            query = query.where(ProductRow.brand_id == brand_id)
        return [self._to_domain(r) for r in self._s.scalars(query)]
