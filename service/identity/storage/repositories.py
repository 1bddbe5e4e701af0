"""Organisations and API keys (with the scanner sessions opened with them), read through the
reference cache: a key or an organisation is read on every request."""

from __future__ import annotations

import copy
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from service.identity.domain.api_keys import ApiKey
from service.identity.domain.organisations import Organisation
from service.identity.domain.scanner_sessions import ScannerSession
from service.identity.storage.rows import ApiKeyRow, OrganisationRow, ScannerSessionRow
from service.kernel.roles import OrganisationKind, Role
from service.kernel.storage.reference_cache import MISSING, ReferenceCache
from service.kernel.storage.sql import (
    translate_integrity,
)


class SqlAlchemyOrganisationRepository:
    def __init__(self, session: Session, cache: ReferenceCache | None = None) -> None:
        self._s = session
        self._cache = cache or ReferenceCache(ttl_s=0)

    @staticmethod
    def _to_domain(row: OrganisationRow) -> Organisation:
        return Organisation(
            id=row.id,
            name=row.name,
            kind=OrganisationKind(row.kind),
            created_at=row.created_at,
            brand_id=row.brand_id,
            gs1_company_prefix=row.gs1_company_prefix,
        )

    def add(self, organisation: Organisation) -> Organisation:
        row = OrganisationRow(
            name=organisation.name,
            kind=organisation.kind.value,
            created_at=organisation.created_at,
            brand_id=organisation.brand_id,
            gs1_company_prefix=organisation.gs1_company_prefix,
        )
        self._s.add(row)
        with translate_integrity(self._s, "organisations"):
            self._s.flush()
        organisation.id = row.id
        return organisation

    def get(self, organisation_id: int) -> Organisation | None:
        cached = self._cache.get(("org", organisation_id))
        if cached is not MISSING:
            return copy.copy(cached)  # type: ignore[no-any-return]
        row = self._s.get(OrganisationRow, organisation_id)
        found = self._to_domain(row) if row else None
        self._cache.put(("org", organisation_id), found)
        return copy.copy(found)

    def get_by_name(self, name: str) -> Organisation | None:
        row = self._s.scalar(select(OrganisationRow).where(OrganisationRow.name == name))
        return self._to_domain(row) if row else None

    def list(self, offset: int, limit: int) -> list[Organisation]:
        rows = self._s.scalars(
            select(OrganisationRow).order_by(OrganisationRow.id).offset(offset).limit(limit)
        )
        return [self._to_domain(r) for r in rows]


class SqlAlchemyApiKeyRepository:
    def __init__(self, session: Session, cache: ReferenceCache | None = None) -> None:
        self._s = session
        self._cache = cache or ReferenceCache(ttl_s=0)

    def add(self, key: ApiKey) -> None:
        self._s.add(
            ApiKeyRow(
                key_id=key.key_id,
                secret_hash=key.secret_hash,
                role=key.role.value,
                organisation_id=key.organisation_id,
                created_at=key.created_at,
                revoked_at=key.revoked_at,
            )
        )
        self._s.flush()

    def get(self, key_id: str) -> ApiKey | None:
        cached = self._cache.get(("key", key_id))
        if cached is not MISSING:
            return copy.copy(cached)  # type: ignore[no-any-return]
        row = self._s.get(ApiKeyRow, key_id)
        if row is None:
            return None
        key = ApiKey(
            key_id=row.key_id,
            secret_hash=row.secret_hash,
            role=Role(row.role),
            organisation_id=row.organisation_id,
            created_at=row.created_at,
            revoked_at=row.revoked_at,
        )
        self._cache.put(("key", key_id), key)
        return copy.copy(key)

    def revoke(self, key_id: str, at: datetime) -> bool:
        self._cache.forget_until_commit(self._s.info, ("key", key_id))
        # The API's authenticated-key entry (service.api.deps.get_actor) goes with the key.
        self._cache.forget_until_commit(self._s.info, ("actor", key_id))
        result = self._s.execute(
            update(ApiKeyRow)
            .where(ApiKeyRow.key_id == key_id, ApiKeyRow.revoked_at.is_(None))
            .values(revoked_at=at)
        )
        # Its scanner sessions end with it (they are also checked against the key at use).
        self._s.execute(
            update(ScannerSessionRow)
            .where(ScannerSessionRow.key_id == key_id, ScannerSessionRow.ended_at.is_(None))
            .values(ended_at=at)
        )
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    def add_scanner_session(self, session: ScannerSession) -> None:
        self._s.add(
            ScannerSessionRow(
                id=session.id,
                token_hash=session.token_hash,
                key_id=session.key_id,
                organisation_id=session.organisation_id,
                created_at=session.created_at,
                expires_at=session.expires_at,
                ended_at=session.ended_at,
            )
        )
        self._s.flush()

    def scanner_session(self, session_id: str) -> ScannerSession | None:
        row = self._s.get(ScannerSessionRow, session_id)
        if row is None:
            return None
        return ScannerSession(
            id=row.id,
            token_hash=row.token_hash,
            key_id=row.key_id,
            organisation_id=row.organisation_id,
            created_at=row.created_at,
            expires_at=row.expires_at,
            ended_at=row.ended_at,
        )

    def end_scanner_session(self, session_id: str, at: datetime) -> bool:
        result = self._s.execute(
            update(ScannerSessionRow)
            .where(ScannerSessionRow.id == session_id, ScannerSessionRow.ended_at.is_(None))
            .values(ended_at=at)
        )
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]
