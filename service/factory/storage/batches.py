"""Batches: their plan, status, root and owner (the owner read through the driver: it is on
every scan's path)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from service.factory.domain.batches import Batch, BatchOwner, BatchStatus
from service.factory.storage.rows import (
    BatchRow,
)
from service.kernel.storage.sql import (
    driver_execute,
    translate_integrity,
)

_BATCH_OWNER_SQL = "SELECT public_id, brand_id FROM batches WHERE id = ?"


class SqlAlchemyBatchRepository:
    def __init__(self, session: Session) -> None:
        self._s = session

    @staticmethod
    def _to_domain(row: BatchRow) -> Batch:
        return Batch(
            id=row.id,
            public_id=row.public_id,
            organisation_id=row.organisation_id,
            brand_id=row.brand_id,
            product_id=row.product_id,
            gtin=row.gtin,
            lot=row.lot,
            production_date=row.production_date,
            line=row.line,
            planned_quantity=row.planned_quantity,
            case_size=row.case_size,
            cases_per_pallet=row.cases_per_pallet,
            chain_batch_id=row.chain_batch_id,
            root=row.root,
            item_count=row.item_count,
            metadata_hash=row.metadata_hash,
            metadata=row.metadata_json,
            status=BatchStatus(row.status),
            outbox_id=row.outbox_id,
            recall_reason=row.recall_reason,
            recalled_at=row.recalled_at,
            recall_outbox_id=row.recall_outbox_id,
            created_at=row.created_at,
        )

    def add(self, batch: Batch) -> Batch:
        row = BatchRow(
            public_id=batch.public_id,
            organisation_id=batch.organisation_id,
            brand_id=batch.brand_id,
            product_id=batch.product_id,
            gtin=batch.gtin,
            lot=batch.lot,
            production_date=batch.production_date,
            line=batch.line,
            planned_quantity=batch.planned_quantity,
            case_size=batch.case_size,
            cases_per_pallet=batch.cases_per_pallet,
            chain_batch_id=batch.chain_batch_id,
            root=batch.root,
            item_count=batch.item_count,
            metadata_json=batch.metadata,
            metadata_hash=batch.metadata_hash,
            status=batch.status.value,
            created_at=batch.created_at,
        )
        self._s.add(row)
        with translate_integrity(self._s, "batches"):
            self._s.flush()
        batch.id = row.id
        return batch

    def get(self, public_id: str) -> Batch | None:
        row = self._s.scalar(select(BatchRow).where(BatchRow.public_id == public_id))
        return self._to_domain(row) if row else None

    def get_by_id(self, batch_id: int) -> Batch | None:
        row = self._s.get(BatchRow, batch_id)
        return self._to_domain(row) if row else None

    def owner(self, batch_id: int) -> BatchOwner | None:
        # Through the driver: an ORM load of the whole row was a tenth of a case scan's CPU.
        rows = driver_execute(self._s, _BATCH_OWNER_SQL, (batch_id,))
        return BatchOwner(rows[0][0], rows[0][1]) if rows else None

    def lot_exists(self, product_id: int, lot: str) -> bool:
        return (
            self._s.scalar(
                select(BatchRow.id).where(BatchRow.product_id == product_id, BatchRow.lot == lot)
            )
            is not None
        )

    def list(
        self, factory_id: int | None, brand_id: int | None, offset: int, limit: int
    ) -> list[Batch]:
        query = select(BatchRow).order_by(BatchRow.id.desc()).offset(offset).limit(limit)
        if factory_id is not None:
            query = query.where(BatchRow.organisation_id == factory_id)
        if brand_id is not None:
            query = query.where(BatchRow.brand_id == brand_id)
        return [self._to_domain(r) for r in self._s.scalars(query)]

    def _conditional(self, batch_id: int, where: Any, **values: Any) -> bool:
        result = self._s.execute(
            update(BatchRow).where(BatchRow.id == batch_id, where).values(**values)
        )
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    def transition(self, batch_id: int, expected: Sequence[BatchStatus], to: BatchStatus) -> bool:
        return self._conditional(
            batch_id, BatchRow.status.in_([s.value for s in expected]), status=to.value
        )

    def set_generated(
        self,
        batch_id: int,
        root: bytes,
        item_count: int,
        pin_seed_sealed: bytes,
        at: datetime | None = None,
    ) -> bool:
        return self._conditional(
            batch_id,
            BatchRow.status == BatchStatus.DRAFT.value,
            status=BatchStatus.GENERATED.value,
            root=root,
            item_count=item_count,
            pin_seed_sealed=pin_seed_sealed,
            generated_at=at,
        )

    def pin_seed(self, batch_id: int) -> bytes | None:
        return self._s.scalar(select(BatchRow.pin_seed_sealed).where(BatchRow.id == batch_id))

    def destroy_pin_seed(self, batch_id: int) -> bool:
        return self._conditional(
            batch_id, BatchRow.pin_seed_sealed.is_not(None), pin_seed_sealed=None
        )

    def set_outbox(self, batch_id: int, outbox_id: int) -> None:
        self._s.execute(update(BatchRow).where(BatchRow.id == batch_id).values(outbox_id=outbox_id))

    def recall(
        self, batch_id: int, reason: str, at: datetime, recall_outbox_id: int | None
    ) -> bool:
        return self._conditional(
            batch_id,
            BatchRow.status != BatchStatus.RECALLED.value,
            status=BatchStatus.RECALLED.value,
            recall_reason=reason,
            recalled_at=at,
            recall_outbox_id=recall_outbox_id,
            pin_seed_sealed=None,
        )
