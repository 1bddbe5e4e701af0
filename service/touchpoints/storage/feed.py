"""The event log's touchpoint entries, the consumer-scan stream as the projector reads it, and a
batch's brand and product.

A storage join: the scans are the consumer's table and the batches the factory's (both named in
the import contract's ``ignore_imports``). Only what the journey needs is read: no network hash,
no scan id."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from service.consumer.storage.rows import AccountRow, ConsumerScanRow
from service.factory.storage.rows import BatchRow
from service.identity.storage.rows import OrganisationRow
from service.kernel.ports import LogEntry
from service.kernel.storage.rows import Base, EventRow
from service.touchpoints.ports import AccountContact, ScanFact

_SCANS = ConsumerScanRow.__table__
_BATCHES = BatchRow.__table__
_EVENTS = EventRow.__table__
_ACCOUNTS = AccountRow.__table__
_ORGANISATIONS = OrganisationRow.__table__


class SqlAlchemyFeed:
    def __init__(self, session: Session) -> None:
        self._s = session

    def log_entries(self, start: int, end: int, types: Collection[str]) -> list[LogEntry]:
        e = _EVENTS.c
        rows = self._s.execute(
            select(e.log_index, e.type, e.occurred_at, e.payload, e.leaf_hash)
            .where(e.log_index >= start, e.log_index < end, e.type.in_(sorted(types)))
            .order_by(e.log_index)
        )
        return [
            LogEntry(index, kind, at, bytes(payload), bytes(leaf))
            for index, kind, at, payload, leaf in rows
        ]

    def scans_after(self, position: int, limit: int) -> list[ScanFact]:
        s, b = _SCANS.c, _BATCHES.c
        rows = self._s.execute(
            select(
                s.id,
                s.organisation_id,
                s.scanned_at,
                s.device_hash,
                s.verdict,
                s.region_code,
                b.brand_id,
                b.gtin,
                s.item_id,
            )
            .join_from(_SCANS, _BATCHES, s.batch_id == b.id)
            .where(s.id > position)
            .order_by(s.id)
            .limit(limit)
        )
        return [
            ScanFact(row_id, org is not None, at, bytes(device), verdict, region, brand, gtin, item)
            for row_id, org, at, device, verdict, region, brand, gtin, item in rows
        ]

    def last_scan(self) -> int:
        found: int | None = self._s.scalar(select(func.max(_SCANS.c.id)))
        return found or 0

    def batch_brands(self, batch_ids: Collection[str]) -> dict[str, tuple[int | None, str | None]]:
        b = _BATCHES.c
        rows = self._s.execute(
            select(b.public_id, b.brand_id, b.gtin).where(b.public_id.in_(sorted(batch_ids)))
        )
        return {public_id: (brand, gtin) for public_id, brand, gtin in rows}

    def account_public_id(self, account_id: int) -> str | None:
        found: str | None = self._s.scalar(
            select(_ACCOUNTS.c.public_id).where(_ACCOUNTS.c.id == account_id)
        )
        return found

    def brand_names(self, brand_ids: Collection[int]) -> dict[int, str]:
        o = _ORGANISATIONS.c
        rows = self._s.execute(
            select(o.id, o.name).where(o.id.in_(sorted(brand_ids)), o.kind == "brand")
        )
        return {int(i): name for i, name in rows}

    def account_contacts(self, account_ids: Collection[str]) -> dict[str, AccountContact]:
        a = _ACCOUNTS.c
        rows = self._s.execute(
            select(
                a.public_id, a.channel, a.destination, a.wallet_address, a.custody, a.created_at
            ).where(a.public_id.in_(sorted(account_ids)))
        )
        return {row[0]: AccountContact(*row) for row in rows}

    def account_by_destination(self, destination: str) -> str | None:
        """The account that signs in with this (normalised) phone number or e-mail address."""
        a = _ACCOUNTS.c
        found: str | None = self._s.scalar(select(a.public_id).where(a.destination == destination))
        return found

    def refresh_statistics(self) -> None:
        """Have PostgreSQL's planner count the touchpoint tables again (``ANALYZE``): filled by
        a catch-up or a rebuild faster than autovacuum notices, they look empty to it, and it
        reads them whole instead of by their indexes. SQLite's planner needs no such help."""
        if self._s.get_bind().dialect.name != "postgresql":
            return
        for table in sorted(Base.metadata.tables):
            if table.startswith("touchpoint_"):
                self._s.execute(text(f"ANALYZE {table}"))
