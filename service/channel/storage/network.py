"""The channel's network: regions, territories, parents and sites, read through the reference
cache (a scan reads its site and territory)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from service.channel.domain.regions import Region
from service.channel.ports import Site
from service.channel.storage.rows import (
    RegionRow,
    SiteRow,
    TerritoryRow,
)
from service.identity.interface import Organisation
from service.identity.storage.rows import OrganisationRow
from service.kernel.roles import OrganisationKind
from service.kernel.storage.reference_cache import MISSING, ReferenceCache
from service.kernel.storage.sql import (
    translate_integrity,
)


class SqlAlchemyChannelRepository:
    def __init__(self, session: Session, cache: ReferenceCache | None = None) -> None:
        self._s = session
        self._cache = cache or ReferenceCache(ttl_s=0)

    def regions(self) -> list[Region]:
        rows = self._s.execute(
            select(RegionRow.code, RegionRow.name, RegionRow.level, RegionRow.parent_code)
        )
        return [Region(c, n, lvl, p) for c, n, lvl, p in rows]

    def region_count(self) -> int:
        return int(self._s.scalar(select(func.count()).select_from(RegionRow)) or 0)

    def add_regions(self, regions: Sequence[Region], source: str) -> None:
        # Parents first: a custom tree may nest its own regions.
        ordered = sorted(regions, key=lambda r: r.level)
        with translate_integrity(self._s, "regions"):
            self._s.execute(
                insert(RegionRow),
                [
                    {
                        "code": r.code,
                        "name": r.name,
                        "level": r.level,
                        "parent_code": r.parent_code,
                        "source": source,
                    }
                    for r in ordered
                ],
            )

    def territories(self, organisation_ids: Sequence[int]) -> dict[int, list[str]]:
        out: dict[int, list[str]] = {}
        if not organisation_ids:
            return out
        if len(organisation_ids) == 1:
            cached = self._cache.get(("territory", organisation_ids[0]))
            if cached is not MISSING:
                return {organisation_ids[0]: list(cached)} if cached else {}
        rows = self._s.execute(
            select(TerritoryRow.organisation_id, TerritoryRow.region_code)
            .where(TerritoryRow.organisation_id.in_(list(set(organisation_ids))))
            .order_by(TerritoryRow.region_code)
        )
        for org, code in rows:
            out.setdefault(org, []).append(code)
        if len(organisation_ids) == 1:
            # An empty territory is cached too (as an empty tuple): it is an answer, not a miss.
            self._cache.put(
                ("territory", organisation_ids[0]), tuple(out.get(organisation_ids[0], ()))
            )
        return out

    def set_territories(self, organisation_id: int, codes: Sequence[str]) -> None:
        self._cache.forget_until_commit(self._s.info, ("territory", organisation_id))
        self._s.execute(delete(TerritoryRow).where(TerritoryRow.organisation_id == organisation_id))
        if codes:
            self._s.execute(
                insert(TerritoryRow),
                [{"organisation_id": organisation_id, "region_code": c} for c in codes],
            )

    @staticmethod
    def _site(row: SiteRow) -> Site:
        return Site(row.id, row.organisation_id, row.name, row.kind, row.region_code)

    def add_site(
        self, organisation_id: int, name: str, kind: str, region_code: str, at: datetime
    ) -> Site:
        row = SiteRow(
            organisation_id=organisation_id,
            name=name,
            kind=kind,
            region_code=region_code,
            created_at=at,
        )
        self._s.add(row)
        with translate_integrity(self._s, "sites"):
            self._s.flush()
        return self._site(row)

    def site(self, site_id: int) -> Site | None:
        cached = self._cache.get(("site", site_id))
        if cached is not MISSING:
            return cached  # type: ignore[no-any-return]
        row = self._s.get(SiteRow, site_id)
        found = self._site(row) if row else None
        self._cache.put(("site", site_id), found)
        return found

    def sites(self, organisation_id: int) -> list[Site]:
        rows = self._s.scalars(
            select(SiteRow).where(SiteRow.organisation_id == organisation_id).order_by(SiteRow.id)
        )
        return [self._site(r) for r in rows]

    def set_channel_parent(self, organisation_id: int, parent_id: int | None) -> None:
        self._s.execute(
            update(OrganisationRow)
            .where(OrganisationRow.id == organisation_id)
            .values(channel_parent_id=parent_id)
        )

    def channel_parent(self, organisation_id: int) -> int | None:
        return self._s.scalar(
            select(OrganisationRow.channel_parent_id).where(OrganisationRow.id == organisation_id)
        )

    def children(self, organisation_id: int) -> list[Organisation]:
        rows = self._s.scalars(
            select(OrganisationRow)
            .where(OrganisationRow.channel_parent_id == organisation_id)
            .order_by(OrganisationRow.id)
        )
        return [
            Organisation(
                id=r.id,
                name=r.name,
                kind=OrganisationKind(r.kind),
                created_at=r.created_at,
                brand_id=r.brand_id,
                gs1_company_prefix=r.gs1_company_prefix,
            )
            for r in rows
        ]
