"""The responses once given to idempotent requests, by principal and ``Idempotency-Key``."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from service.kernel.ports import StoredResponse
from service.kernel.storage.rows import IdempotencyKeyRow
from service.kernel.storage.sql import (
    translate_integrity,
)


class SqlAlchemyIdempotencyRepository:
    def __init__(self, session: Session) -> None:
        self._s = session

    def get(self, principal_id: str, key: str) -> StoredResponse | None:
        row = self._s.get(IdempotencyKeyRow, (principal_id, key))
        if row is None:
            return None
        return StoredResponse(row.request_hash, row.status_code, row.body)

    def add(self, principal_id: str, key: str, response: StoredResponse, at: datetime) -> None:
        self._s.add(
            IdempotencyKeyRow(
                principal_id=principal_id,
                key=key,
                request_hash=response.request_hash,
                status_code=response.status_code,
                body=response.body,
                created_at=at,
            )
        )
        with translate_integrity(self._s, "idempotency_keys"):
            self._s.flush()
