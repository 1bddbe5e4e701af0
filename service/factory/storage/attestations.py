"""Attestations of a batch: requested, then on chain."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.factory.ports import Attestation
from service.factory.storage.rows import (
    AttestationRow,
)


class SqlAlchemyAttestationRepository:
    def __init__(self, session: Session) -> None:
        self._s = session

    def add(self, attestation: Attestation) -> None:
        self._s.add(
            AttestationRow(
                batch_id=attestation.batch_id,
                organisation_id=attestation.organisation_id,
                report_hash=attestation.report_hash,
                uri=attestation.uri,
                outbox_id=attestation.outbox_id,
                created_at=attestation.created_at,
            )
        )
        self._s.flush()

    def of_batch(self, batch_id: int) -> list[Attestation]:
        rows = self._s.scalars(
            select(AttestationRow)
            .where(AttestationRow.batch_id == batch_id)
            .order_by(AttestationRow.id)
        )
        return [
            Attestation(
                r.batch_id, r.organisation_id, r.report_hash, r.uri, r.outbox_id, r.created_at
            )
            for r in rows
        ]
