"""Fakes of the factory's repositories: products, batches, codes and trees, code files,
attestations."""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from datetime import datetime

from chain import merkle
from service.factory.domain.batches import Batch, BatchOwner, BatchStatus
from service.factory.domain.products import Product
from service.factory.domain.units import ItemRecord, LogisticUnit, PackingPlan, UnitKind
from service.factory.ports import (
    Attestation,
    CodeFileDownload,
)
from service.kernel.ports import DuplicateError
from tests.unit.service.fakes.state import ApprovalRow, DownloadRow, ItemRow, Repo, UnitRow, next_id


class FakeProducts(Repo):
    def add(self, product: Product) -> Product:
        if any(p.gtin == product.gtin for p in self.st.products.values()):
            raise DuplicateError("gtin")
        product.id = next_id(self.st.products)
        self.st.products[product.id] = copy.deepcopy(product)
        return product

    def get(self, product_id: int) -> Product | None:
        found = self.st.products.get(product_id)
        return copy.deepcopy(found) if found else None

    def get_by_gtin(self, gtin: str) -> Product | None:
        found = next((p for p in self.st.products.values() if p.gtin == gtin), None)
        return copy.deepcopy(found) if found else None

    def list(self, brand_id: int | None, offset: int, limit: int) -> list[Product]:
        rows = sorted(self.st.products.values(), key=lambda p: p.id or 0)
        if brand_id is not None:
            rows = [p for p in rows if p.brand_id == brand_id]
        return [copy.deepcopy(p) for p in rows[offset : offset + limit]]


class FakeBatches(Repo):
    def add(self, batch: Batch) -> Batch:
        for other in self.st.batches.values():
            if other.product_id == batch.product_id and other.lot == batch.lot:
                raise DuplicateError("product_id")
            if other.public_id == batch.public_id or other.chain_batch_id == batch.chain_batch_id:
                raise DuplicateError("batches")
        batch.id = next_id(self.st.batches)
        self.st.batches[batch.id] = copy.deepcopy(batch)
        self.st.pin_seeds[batch.id] = None
        return batch

    def get(self, public_id: str) -> Batch | None:
        found = next((b for b in self.st.batches.values() if b.public_id == public_id), None)
        return copy.deepcopy(found) if found else None

    def get_by_id(self, batch_id: int) -> Batch | None:
        found = self.st.batches.get(batch_id)
        return copy.deepcopy(found) if found else None

    def owner(self, batch_id: int) -> BatchOwner | None:
        found = self.st.batches.get(batch_id)
        return BatchOwner(found.public_id, found.brand_id) if found else None

    def lot_exists(self, product_id: int, lot: str) -> bool:
        return any(b.product_id == product_id and b.lot == lot for b in self.st.batches.values())

    def list(
        self, factory_id: int | None, brand_id: int | None, offset: int, limit: int
    ) -> list[Batch]:
        rows = sorted(self.st.batches.values(), key=lambda b: b.id or 0, reverse=True)
        if factory_id is not None:
            rows = [b for b in rows if b.organisation_id == factory_id]
        if brand_id is not None:
            rows = [b for b in rows if b.brand_id == brand_id]
        return [copy.deepcopy(b) for b in rows[offset : offset + limit]]

    def transition(self, batch_id: int, expected: Sequence[BatchStatus], to: BatchStatus) -> bool:
        batch = self.st.batches.get(batch_id)
        if batch is None or batch.status not in expected:
            return False
        batch.status = to
        return True

    def set_generated(
        self,
        batch_id: int,
        root: bytes,
        item_count: int,
        pin_seed_sealed: bytes,
        at: datetime | None = None,
    ) -> bool:
        batch = self.st.batches.get(batch_id)
        if batch is None or batch.status is not BatchStatus.DRAFT:
            return False
        batch.status = BatchStatus.GENERATED
        batch.root = root
        batch.item_count = item_count
        self.st.pin_seeds[batch_id] = pin_seed_sealed
        return True

    def pin_seed(self, batch_id: int) -> bytes | None:
        return self.st.pin_seeds.get(batch_id)

    def destroy_pin_seed(self, batch_id: int) -> bool:
        if self.st.pin_seeds.get(batch_id) is None:
            return False
        self.st.pin_seeds[batch_id] = None
        return True

    def set_outbox(self, batch_id: int, outbox_id: int) -> None:
        self.st.batches[batch_id].outbox_id = outbox_id

    def recall(
        self, batch_id: int, reason: str, at: datetime, recall_outbox_id: int | None
    ) -> bool:
        batch = self.st.batches.get(batch_id)
        if batch is None or batch.status is BatchStatus.RECALLED:
            return False
        batch.status = BatchStatus.RECALLED
        batch.recall_reason = reason
        batch.recalled_at = at
        batch.recall_outbox_id = recall_outbox_id
        self.st.pin_seeds[batch_id] = None
        return True


class FakeCodes(Repo):
    # ------------------------------------------------------------------ generation
    def refresh_statistics(self) -> None:
        self.st.statistics_refreshed += 1

    def reserve_sscc_references(self, company_prefix: str, count: int) -> int:
        first = self.st.sscc_counters.get(company_prefix, 0)
        self.st.sscc_counters[company_prefix] = first + count
        return first

    def _add_unit(
        self, sscc: str, kind: UnitKind, batch_id: int, position: int, parent: int | None
    ) -> int:
        if any(u.sscc == sscc for u in self.st.units.values()):
            raise DuplicateError("sscc")
        unit_id = next_id(self.st.units)
        self.st.units[unit_id] = UnitRow(unit_id, sscc, kind, batch_id, position, parent)
        return unit_id

    def add_units(
        self, batch_id: int, plan: PackingPlan, holder_id: int, at: datetime
    ) -> tuple[list[int], list[int]]:
        pallets = [
            self._add_unit(sscc, UnitKind.PALLET, batch_id, n, None)
            for n, sscc in enumerate(plan.pallet_ssccs)
        ]
        cases = [
            self._add_unit(sscc, UnitKind.CASE, batch_id, n, pallets[plan.pallet_of_case(n)])
            for n, sscc in enumerate(plan.case_ssccs)
        ]
        return pallets, cases

    def add_items(
        self,
        batch_id: int,
        first_index: int,
        serials: Sequence[str],
        item_hashes: Sequence[bytes],
        leaves: Sequence[bytes],
        case_ids: Sequence[int],
        pin_hashes: Sequence[bytes],
    ) -> None:
        rows = [
            ItemRow(serial, batch_id, first_index + n, item_hash, leaf, case_id, pin)
            for n, (serial, item_hash, leaf, case_id, pin) in enumerate(
                zip(serials, item_hashes, leaves, case_ids, pin_hashes, strict=True)
            )
        ]
        taken = {(i.batch_id, i.leaf_index) for i in self.st.items.values()}
        seen: set[str] = set()
        for row in rows:
            if row.serial in self.st.items or row.serial in seen:
                raise DuplicateError("serial")
            if (row.batch_id, row.leaf_index) in taken:
                raise DuplicateError("items")
            seen.add(row.serial)
        for row in rows:
            self.st.items[row.serial] = row

    def add_levels(self, batch_id: int, levels: Sequence[Sequence[bytes]]) -> None:
        if batch_id in self.st.levels:
            raise DuplicateError("batch_tree_levels")
        self.st.levels[batch_id] = [list(level) for level in levels]

    # ------------------------------------------------------------------ reads
    def proof(self, batch_id: int, leaf_index: int, item_count: int) -> list[bytes]:
        levels = self.st.levels.get(batch_id, [])
        proof: list[bytes] = []
        for level, position in merkle.proof_positions(leaf_index, item_count):
            if level == 0:
                leaf = next(
                    (
                        i.leaf
                        for i in self.st.items.values()
                        if i.batch_id == batch_id and i.leaf_index == position
                    ),
                    None,
                )
                if leaf is None:
                    raise LookupError(f"batch {batch_id} has no leaf {position}")
                proof.append(leaf)
            elif level - 1 < len(levels) and position < len(levels[level - 1]):
                proof.append(levels[level - 1][position])
            else:
                raise LookupError(f"batch {batch_id} has no complete stored tree")
        return proof

    def _sscc(self, unit_id: int | None) -> str | None:
        return self.st.units[unit_id].sscc if unit_id is not None else None

    def _record(self, item: ItemRow) -> ItemRecord:
        case = self.st.units.get(item.case_id) if item.case_id is not None else None
        return ItemRecord(
            serial=item.serial,
            batch_id=item.batch_id,
            leaf_index=item.leaf_index,
            item_hash=item.item_hash,
            leaf=item.leaf,
            pin_hash=item.pin_hash,
            case_sscc=case.sscc if case else None,
            pallet_sscc=self._sscc(case.parent_id) if case else None,
            activated_at=case.activated_at if case else None,
        )

    def find_item(self, serial: str) -> ItemRecord | None:
        item = self.st.items.get(serial)
        return self._record(item) if item else None

    def _unit(self, row: UnitRow) -> LogisticUnit:
        return LogisticUnit(
            id=row.id,
            sscc=row.sscc,
            kind=row.kind,
            batch_id=row.batch_id,
            position=row.position,
            parent_sscc=self._sscc(row.parent_id),
            activated_at=row.activated_at,
        )

    def unit(self, sscc: str) -> LogisticUnit | None:
        row = next((u for u in self.st.units.values() if u.sscc == sscc), None)
        return self._unit(row) if row else None

    def units(self, batch_id: int, kind: UnitKind, offset: int, limit: int) -> list[LogisticUnit]:
        rows = self.st.units_of(batch_id, kind)
        return [self._unit(r) for r in rows[offset : offset + limit]]

    def unit_items(self, unit_id: int) -> list[str]:
        rows = sorted(
            (i for i in self.st.items.values() if i.case_id == unit_id),
            key=lambda i: i.leaf_index,
        )
        return [i.serial for i in rows]

    def activate(self, batch_id: int, unit: LogisticUnit | None, at: datetime) -> list[int]:
        cases = [c for c in self.st.units_of(batch_id, UnitKind.CASE) if c.activated_at is None]
        if unit is not None and unit.kind is UnitKind.CASE:
            cases = [c for c in cases if c.id == unit.id]
        elif unit is not None:
            cases = [c for c in cases if c.parent_id == unit.id]
        for case in cases:
            case.activated_at = at
        if cases:
            pallets = self.st.units_of(batch_id, UnitKind.PALLET)
            if unit is not None and unit.kind is UnitKind.PALLET:
                pallets = [p for p in pallets if p.id == unit.id]
            elif unit is not None:
                pallets = []
            for pallet in pallets:
                if pallet.activated_at is None:
                    pallet.activated_at = at
        return sorted(c.position for c in cases)

    def inactive_cases(self, batch_id: int) -> int:
        return sum(1 for c in self.st.units_of(batch_id, UnitKind.CASE) if c.activated_at is None)

    def active_cases(self, batch_id: int) -> int:
        return sum(
            1 for c in self.st.units_of(batch_id, UnitKind.CASE) if c.activated_at is not None
        )

    def code_pages(
        self, batch_id: int, page_size: int, start: int = 0
    ) -> Iterator[list[tuple[str, str | None, str | None, datetime | None]]]:
        # Keyset pagination like the real query: each page is read afresh from the state.
        last = start - 1
        while True:
            items = [i for i in self.st.items_of(batch_id) if i.leaf_index > last]
            rows = items[: max(page_size, 0)]
            if not rows:
                return
            records = [self._record(item) for item in rows]
            yield [(r.serial, r.case_sscc, r.pallet_sscc, r.activated_at) for r in records]
            last = rows[-1].leaf_index

    def unit_rows(
        self, batch_id: int, kind: UnitKind, start: int = 0
    ) -> Iterator[tuple[str, str | None]]:
        for row in self.st.units_of(batch_id, kind):
            if row.position >= start:
                yield row.sscc, self._sscc(row.parent_id)


class FakeCodeFiles(Repo):
    def downloads(self, batch_id: int) -> list[CodeFileDownload]:
        rows = [d for d in self.st.downloads if d.batch_id == batch_id]
        return [
            CodeFileDownload(n, d.principal_id, d.approval_id, d.downloaded_at)
            for n, d in enumerate(rows, start=1)
        ]

    def add_approval(self, batch_id: int, approved_by: str, reason: str, at: datetime) -> int:
        approval_id = len(self.st.approvals) + 1
        self.st.approvals.append(ApprovalRow(approval_id, batch_id, approved_by, reason, at))
        return approval_id

    def take_approval(self, batch_id: int, at: datetime) -> int | None:
        for approval in self.st.approvals:
            if approval.batch_id == batch_id and approval.used_at is None:
                approval.used_at = at
                return approval.id
        return None

    def add_download(
        self, batch_id: int, principal_id: str, approval_id: int | None, at: datetime
    ) -> int:
        if approval_id is not None and any(d.approval_id == approval_id for d in self.st.downloads):
            raise DuplicateError("code_file_downloads")
        self.st.downloads.append(DownloadRow(batch_id, principal_id, approval_id, at))
        return sum(1 for d in self.st.downloads if d.batch_id == batch_id)


class FakeAttestations(Repo):
    def add(self, attestation: Attestation) -> None:
        if any(a.outbox_id == attestation.outbox_id for a in self.st.attestations):
            raise DuplicateError("attestations")
        self.st.attestations.append(attestation)

    def of_batch(self, batch_id: int) -> list[Attestation]:
        return [a for a in self.st.attestations if a.batch_id == batch_id]
