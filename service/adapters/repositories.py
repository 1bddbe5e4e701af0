"""SQLAlchemy repositories: queries live here and return domain objects, never rows."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.adapters.orm import (
    ApiKeyRow,
    BatchRow,
    EventRow,
    IdempotencyKeyRow,
    ItemRow,
    LogAnchorRow,
    LogHeadRow,
    OrganisationRow,
    OutboxRow,
    TxAttemptRow,
)
from service.app.ports import (
    ChainWrite,
    DuplicateError,
    LogAnchor,
    LogEntry,
    OutboxEntry,
    StoredResponse,
)
from service.domain.api_keys import ApiKey
from service.domain.batches import Batch, BatchStatus, ItemCommitment
from service.domain.events import Event
from service.domain.organisations import Organisation
from service.domain.roles import OrganisationKind, Role


@contextmanager
def translate_integrity(session: Session, default: str) -> Iterator[None]:
    """Turn a unique-constraint violation into the port's DuplicateError."""
    try:
        yield
    except IntegrityError as exc:
        message = str(exc.orig).lower()
        constraint = default
        for name in ("idempotency_keys", "item_id", "token_id", "organisations", "dedupe_key"):
            if name in message:
                constraint = name
        raise DuplicateError(constraint) from exc


class SqlAlchemyOrganisationRepository:
    def __init__(self, session: Session) -> None:
        self._s = session

    @staticmethod
    def _to_domain(row: OrganisationRow) -> Organisation:
        return Organisation(
            id=row.id, name=row.name, kind=OrganisationKind(row.kind), created_at=row.created_at
        )

    def add(self, organisation: Organisation) -> Organisation:
        row = OrganisationRow(
            name=organisation.name, kind=organisation.kind.value, created_at=organisation.created_at
        )
        self._s.add(row)
        with translate_integrity(self._s, "organisations"):
            self._s.flush()
        organisation.id = row.id
        return organisation

    def get(self, organisation_id: int) -> Organisation | None:
        row = self._s.get(OrganisationRow, organisation_id)
        return self._to_domain(row) if row else None

    def get_by_name(self, name: str) -> Organisation | None:
        row = self._s.scalar(select(OrganisationRow).where(OrganisationRow.name == name))
        return self._to_domain(row) if row else None

    def list(self, offset: int, limit: int) -> list[Organisation]:
        rows = self._s.scalars(
            select(OrganisationRow).order_by(OrganisationRow.id).offset(offset).limit(limit)
        )
        return [self._to_domain(r) for r in rows]


class SqlAlchemyApiKeyRepository:
    def __init__(self, session: Session) -> None:
        self._s = session

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
        row = self._s.get(ApiKeyRow, key_id)
        if row is None:
            return None
        return ApiKey(
            key_id=row.key_id,
            secret_hash=row.secret_hash,
            role=Role(row.role),
            organisation_id=row.organisation_id,
            created_at=row.created_at,
            revoked_at=row.revoked_at,
        )

    def revoke(self, key_id: str, at: datetime) -> bool:
        result = self._s.execute(
            update(ApiKeyRow)
            .where(ApiKeyRow.key_id == key_id, ApiKeyRow.revoked_at.is_(None))
            .values(revoked_at=at)
        )
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]


class SqlAlchemyBatchRepository:
    def __init__(self, session: Session) -> None:
        self._s = session

    @staticmethod
    def _to_domain(row: BatchRow) -> Batch:
        return Batch(
            id=row.id,
            public_id=row.public_id,
            organisation_id=row.organisation_id,
            lot=row.lot,
            chain_batch_id=row.chain_batch_id,
            root=row.root,
            item_count=row.item_count,
            metadata_hash=row.metadata_hash,
            metadata=row.metadata_json,
            status=BatchStatus(row.status),
            outbox_id=row.outbox_id,
        )

    @staticmethod
    def _item(row: ItemRow) -> ItemCommitment:
        return ItemCommitment(
            item_id=row.item_id,
            token_id=int(row.token_id),
            item_hash=row.item_hash,
            leaf=row.leaf,
            leaf_index=row.leaf_index,
        )

    def add(self, batch: Batch, items: Sequence[ItemCommitment]) -> Batch:
        row = BatchRow(
            public_id=batch.public_id,
            organisation_id=batch.organisation_id,
            lot=batch.lot,
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
            if items:
                self._insert_items(row.id, items)
        batch.id = row.id
        return batch

    def _insert_items(self, batch_id: int, items: Sequence[ItemCommitment]) -> None:
        self._s.execute(
            insert(ItemRow),
            [
                {
                    "batch_id": batch_id,
                    "item_id": i.item_id,
                    "token_id": str(i.token_id),
                    "item_hash": i.item_hash,
                    "leaf": i.leaf,
                    "leaf_index": i.leaf_index,
                }
                for i in items
            ],
        )

    def get(self, public_id: str) -> Batch | None:
        row = self._s.scalar(select(BatchRow).where(BatchRow.public_id == public_id))
        return self._to_domain(row) if row else None

    def items(self, batch_id: int) -> list[ItemCommitment]:
        rows = self._s.scalars(
            select(ItemRow).where(ItemRow.batch_id == batch_id).order_by(ItemRow.leaf_index)
        )
        return [self._item(r) for r in rows]

    def find_item(self, item_id: str) -> tuple[Batch, ItemCommitment] | None:
        found = self._s.execute(
            select(BatchRow, ItemRow)
            .join(ItemRow, ItemRow.batch_id == BatchRow.id)
            .where(ItemRow.item_id == item_id)
        ).first()
        if found is None:
            return None
        return self._to_domain(found[0]), self._item(found[1])

    def registered_item_ids(self, item_ids: Sequence[str]) -> list[str]:
        taken: list[str] = []
        for start in range(0, len(item_ids), 500):
            chunk = list(item_ids[start : start + 500])
            taken.extend(self._s.scalars(select(ItemRow.item_id).where(ItemRow.item_id.in_(chunk))))
        return taken

    def start_anchoring(self, batch_id: int) -> bool:
        result = self._s.execute(
            update(BatchRow)
            .where(
                BatchRow.id == batch_id,
                BatchRow.status.in_(
                    (BatchStatus.CREATED.value, BatchStatus.ANCHOR_FAILED.value)
                ),
            )
            .values(status=BatchStatus.ANCHORING.value)
        )
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    def set_outbox(self, batch_id: int, outbox_id: int) -> None:
        self._s.execute(update(BatchRow).where(BatchRow.id == batch_id).values(outbox_id=outbox_id))


class SqlAlchemyEventLog:
    """The append-only log. ``leaf_hash`` is RFC 6962's ``H(0x00 || payload)``."""

    def __init__(self, session: Session, leaf_hash: Callable[[bytes], bytes]) -> None:
        self._s = session
        self._leaf_hash = leaf_hash

    def append(self, event: Event, at: datetime) -> LogEntry:
        # The row lock on log_head (taken by this UPDATE, held to commit) serialises appenders,
        # so indexes are dense and in commit order on PostgreSQL; SQLite locks the whole file.
        size = self._s.execute(
            update(LogHeadRow)
            .where(LogHeadRow.id == 1)
            .values(size=LogHeadRow.size + 1)
            .returning(LogHeadRow.size)
        ).scalar_one()
        payload = event.canonical_bytes(at)
        entry = LogEntry(
            index=size - 1,
            type=event.type,
            occurred_at=at,
            payload=payload,
            leaf_hash=self._leaf_hash(payload),
        )
        self._s.execute(
            insert(EventRow).values(
                log_index=entry.index,
                type=entry.type,
                occurred_at=at,
                payload=payload,
                leaf_hash=entry.leaf_hash,
            )
        )
        return entry

    def size(self) -> int:
        return int(self._s.execute(select(LogHeadRow.size).where(LogHeadRow.id == 1)).scalar_one())

    def leaf_hashes(self, size: int) -> list[bytes]:
        return list(
            self._s.scalars(
                select(EventRow.leaf_hash)
                .where(EventRow.log_index < size)
                .order_by(EventRow.log_index)
            )
        )

    def entries(self, offset: int, limit: int) -> list[LogEntry]:
        rows = self._s.scalars(
            select(EventRow)
            .where(EventRow.log_index >= offset)
            .order_by(EventRow.log_index)
            .limit(limit)
        )
        return [
            LogEntry(
                index=r.log_index,
                type=r.type,
                occurred_at=r.occurred_at,
                payload=r.payload,
                leaf_hash=r.leaf_hash,
            )
            for r in rows
        ]


class SqlAlchemyLogAnchorRepository:
    def __init__(self, session: Session) -> None:
        self._s = session

    @staticmethod
    def _to_domain(row: LogAnchorRow) -> LogAnchor:
        return LogAnchor(
            size=row.size,
            root=row.root,
            status=row.status,
            outbox_id=row.outbox_id,
            requested_at=row.requested_at,
            anchored_at=row.anchored_at,
        )

    def latest(self) -> LogAnchor | None:
        row = self._s.scalar(select(LogAnchorRow).order_by(LogAnchorRow.size.desc()).limit(1))
        return self._to_domain(row) if row else None

    def latest_anchored(self) -> LogAnchor | None:
        row = self._s.scalar(
            select(LogAnchorRow)
            .where(LogAnchorRow.status == "anchored")
            .order_by(LogAnchorRow.size.desc())
            .limit(1)
        )
        return self._to_domain(row) if row else None

    def add(self, anchor: LogAnchor) -> None:
        self._s.add(
            LogAnchorRow(
                size=anchor.size,
                root=anchor.root,
                status=anchor.status,
                outbox_id=anchor.outbox_id,
                requested_at=anchor.requested_at,
            )
        )
        with translate_integrity(self._s, "log_anchors"):
            self._s.flush()


class SqlAlchemyOutboxRepository:
    def __init__(self, session: Session) -> None:
        self._s = session

    def add(self, write: ChainWrite, at: datetime) -> int:
        row = OutboxRow(
            kind=write.kind,
            dedupe_key=write.dedupe_key,
            to_address=write.to,
            calldata=write.data,
            value=str(write.value),
            status="queued",
            created_at=at,
            updated_at=at,
        )
        self._s.add(row)
        with translate_integrity(self._s, "dedupe_key"):
            self._s.flush()
        return row.id

    def get(self, outbox_id: int) -> OutboxEntry | None:
        row = self._s.get(OutboxRow, outbox_id)
        if row is None:
            return None
        tx_hash = row.mined_tx_hash
        if tx_hash is None:
            tx_hash = self._s.scalar(
                select(TxAttemptRow.tx_hash)
                .where(TxAttemptRow.outbox_id == row.id)
                .order_by(TxAttemptRow.id.desc())
                .limit(1)
            )
        return OutboxEntry(
            id=row.id,
            kind=row.kind,
            status=row.status,
            tx_hash=tx_hash,
            block_number=row.mined_block_number,
            failure_reason=row.failure_reason,
            error_name=row.error_name,
        )

    def counts(self) -> dict[str, int]:
        rows = self._s.execute(select(OutboxRow.status, func.count()).group_by(OutboxRow.status))
        return {status: int(n) for status, n in rows}


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


def row_counts(session: Session) -> dict[str, Any]:
    """Return the number of rows per table (used by tests and ``tracecert`` diagnostics)."""
    from service.adapters.orm import Base

    return {
        name: session.scalar(select(func.count()).select_from(table))
        for name, table in Base.metadata.tables.items()
    }
