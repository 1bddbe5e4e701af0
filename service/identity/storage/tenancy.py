"""Rows of tenancy: the GS1 company prefixes brands hold, the partners brands authorise."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from service.identity.storage.rows import BrandPartnerRow, CompanyPrefixRow
from service.kernel.storage.sql import translate_integrity


class SqlAlchemyTenancyRepository:
    def __init__(self, session: Session) -> None:
        self._s = session

    def prefixes_of(self, organisation_id: int) -> list[str]:
        return list(
            self._s.scalars(
                select(CompanyPrefixRow.prefix)
                .where(CompanyPrefixRow.organisation_id == organisation_id)
                .order_by(CompanyPrefixRow.prefix)
            )
        )

    def holders(self, prefixes: Sequence[str]) -> dict[str, int]:
        if not prefixes:
            return {}
        rows = self._s.execute(
            select(CompanyPrefixRow.prefix, CompanyPrefixRow.organisation_id).where(
                CompanyPrefixRow.prefix.in_(list(prefixes))
            )
        )
        return {p: o for p, o in rows}

    def overlapping(self, prefix: str) -> dict[str, int]:
        # Around it: one of its own leading 6..12 digits; within it: starts with it.
        around = [prefix[:n] for n in range(6, len(prefix) + 1)]
        rows = self._s.execute(
            select(CompanyPrefixRow.prefix, CompanyPrefixRow.organisation_id).where(
                CompanyPrefixRow.prefix.in_(around)
                | (func.substr(CompanyPrefixRow.prefix, 1, len(prefix)) == prefix)
            )
        )
        return {p: o for p, o in rows}

    def set_prefixes(self, organisation_id: int, prefixes: Sequence[str], at: datetime) -> None:
        self._s.execute(
            delete(CompanyPrefixRow).where(CompanyPrefixRow.organisation_id == organisation_id)
        )
        self._s.add_all(
            CompanyPrefixRow(prefix=p, organisation_id=organisation_id, created_at=at)
            for p in prefixes
        )
        with translate_integrity(self._s, "company_prefixes"):
            self._s.flush()

    def partners(self, brand_id: int) -> dict[int, frozenset[str]]:
        rows = self._s.execute(
            select(BrandPartnerRow.partner_id, BrandPartnerRow.role)
            .where(BrandPartnerRow.brand_id == brand_id)
            .order_by(BrandPartnerRow.partner_id)
        )
        found: dict[int, set[str]] = {}
        for partner_id, role in rows:
            found.setdefault(partner_id, set()).add(role)
        return {p: frozenset(r) for p, r in found.items()}

    def brands_of_partner(self, partner_id: int, role: str) -> list[int]:
        return list(
            self._s.scalars(
                select(BrandPartnerRow.brand_id)
                .where(BrandPartnerRow.partner_id == partner_id, BrandPartnerRow.role == role)
                .order_by(BrandPartnerRow.brand_id)
            )
        )

    def is_authorised(self, brand_id: int, partner_id: int, role: str) -> bool:
        found = self._s.scalar(
            select(BrandPartnerRow.id).where(
                BrandPartnerRow.brand_id == brand_id,
                BrandPartnerRow.partner_id == partner_id,
                BrandPartnerRow.role == role,
            )
        )
        return found is not None

    def set_partner(
        self, brand_id: int, partner_id: int, roles: Sequence[str], at: datetime
    ) -> None:
        self._s.execute(
            delete(BrandPartnerRow).where(
                BrandPartnerRow.brand_id == brand_id, BrandPartnerRow.partner_id == partner_id
            )
        )
        self._s.add_all(
            BrandPartnerRow(brand_id=brand_id, partner_id=partner_id, role=r, created_at=at)
            for r in sorted(set(roles))
        )
        with translate_integrity(self._s, "brand_partners"):
            self._s.flush()
