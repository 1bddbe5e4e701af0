"""The brand behind the references log entries carry, for the tenant rule of
service/ledger/app/log_access.py: a handful of IN queries per page (or chunk) of entries."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import null, select
from sqlalchemy.orm import Session

from service.alerts.storage.rows import AlertRow
from service.channel.storage.rows import ShipmentRow, SiteRow
from service.consumer.storage.rows import CertificateRow
from service.factory.storage.rows import BatchRow, LogisticUnitRow
from service.identity.storage.rows import OrganisationRow
from service.ledger.ports import TenantRefs

_INT_KINDS = frozenset({"alert", "organisation", "site"})
_STR_KINDS = frozenset({"batch", "certificate", "shipment", "unit"})
_CHUNK = 500


def _chunks(values: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


class SqlAlchemyLogTenants:
    def __init__(self, session: Session) -> None:
        self._s = session
        #: Organisations rarely change within a transaction and recur on every page.
        self._org_brand: dict[int, int | None] = {}

    def _organisations(self, ids: Iterable[int]) -> None:
        missing = sorted({i for i in ids if i not in self._org_brand})
        for part in _chunks(missing):
            rows = self._s.execute(
                select(OrganisationRow.id, OrganisationRow.kind, OrganisationRow.brand_id).where(
                    OrganisationRow.id.in_(part)
                )
            )
            for org_id, kind, brand_id in rows:
                self._org_brand[org_id] = org_id if kind == "brand" else brand_id

    def brands_of(self, refs: Iterable[tuple[str, Any]]) -> TenantRefs:
        wanted: dict[str, set[Any]] = defaultdict(set)
        for kind, key in refs:
            if (kind in _INT_KINDS and type(key) is int) or (
                kind in _STR_KINDS and isinstance(key, str)
            ):
                wanted[kind].add(key)
        out: TenantRefs = {}
        # (kind, key) -> an organisation whose brand decides, where the row has no brand.
        via_org: dict[tuple[str, Any], int] = {}

        def fetch(kind: str, query: Any, column: Any) -> None:
            for part in _chunks(sorted(wanted.get(kind, ()))):
                for key, brand_id, org_id in self._s.execute(query.where(column.in_(part))):
                    if brand_id is not None:
                        out[(kind, key)] = int(brand_id)
                    elif org_id is not None:
                        via_org[(kind, key)] = int(org_id)

        fetch(
            "batch",
            select(BatchRow.public_id, BatchRow.brand_id, BatchRow.organisation_id),
            BatchRow.public_id,
        )
        fetch(
            "alert",
            select(AlertRow.id, AlertRow.brand_id, AlertRow.responsible_id),
            AlertRow.id,
        )
        fetch(
            "certificate",
            select(CertificateRow.public_id, BatchRow.brand_id, BatchRow.organisation_id).join(
                BatchRow, BatchRow.id == CertificateRow.batch_id
            ),
            CertificateRow.public_id,
        )
        fetch(
            "shipment",
            select(ShipmentRow.public_id, null(), ShipmentRow.sender_id),
            ShipmentRow.public_id,
        )
        fetch(
            "unit",
            select(LogisticUnitRow.sscc, BatchRow.brand_id, BatchRow.organisation_id).join(
                BatchRow, BatchRow.id == LogisticUnitRow.batch_id
            ),
            LogisticUnitRow.sscc,
        )
        fetch("site", select(SiteRow.id, null(), SiteRow.organisation_id), SiteRow.id)
        orgs = wanted.get("organisation", set())
        self._organisations([*orgs, *via_org.values()])
        for org_id in orgs:
            if org_id in self._org_brand:
                out[("organisation", org_id)] = self._org_brand[org_id]
        for ref, org_id in via_org.items():
            out[ref] = self._org_brand.get(org_id)
        return out
