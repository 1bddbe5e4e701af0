"""The event log's anchors and checks, and the outbox's writes as the use cases read them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.kernel.storage.sql import (
    translate_integrity,
)
from service.ledger.domain.outbox import ChainWrite, OutboxEntry, OutboxFlight
from service.ledger.ports import LogAnchor, LogCheck
from service.ledger.storage.rows import LogAnchorRow, LogCheckRow, OutboxRow, TxAttemptRow

#: Anchors that commit the log to a root (a failed write commits to nothing).
_LIVE_ANCHOR = LogAnchorRow.status.in_(("requested", "anchored"))


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

    def after(self, size: int, limit: int) -> list[LogAnchor]:
        rows = self._s.scalars(
            select(LogAnchorRow)
            .where(LogAnchorRow.size > size, _LIVE_ANCHOR)
            .order_by(LogAnchorRow.size)
            .limit(limit)
        )
        return [self._to_domain(r) for r in rows]

    def up_to(self, size: int, limit: int) -> list[LogAnchor]:
        rows = self._s.scalars(
            select(LogAnchorRow)
            .where(LogAnchorRow.size <= size, _LIVE_ANCHOR)
            .order_by(LogAnchorRow.size.desc())
            .limit(limit)
        )
        return [self._to_domain(r) for r in rows]

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


#: Outbox states of a write in flight (``chain.sender.IN_FLIGHT``).
_IN_FLIGHT = ("signed", "sent", "mined")


#: How many of the highest confirmed nonces /health compares with the chain's nonce.
FLIGHT_TOP_NONCES = 64


def _utc(value: Any) -> datetime:
    """A timestamp read through an aggregate (SQLite hands back text, without the type)."""
    parsed: datetime = datetime.fromisoformat(value) if isinstance(value, str) else value
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


class SqlAlchemyLogCheckRepository:
    """One row (``id`` 1) holding the last integrity pass."""

    def __init__(self, session: Session) -> None:
        self._s = session

    def last(self) -> LogCheck | None:
        row = self._s.get(LogCheckRow, 1)
        if row is None:
            return None
        detail = row.detail or {}
        return LogCheck(
            status=row.status,
            size=row.checked_size,
            checked_at=row.checked_at,
            chain_size=row.chain_size,
            first_bad_index=row.first_bad_index,
            failed_since=row.failed_since,
            reason=detail.get("reason"),
            findings=tuple(detail.get("findings", ())),
            roots={
                int(size): bytes.fromhex(root[2:]) if root else None
                for size, root in detail.get("roots", {}).items()
            },
        )

    def save(self, check: LogCheck) -> None:
        row = self._s.get(LogCheckRow, 1)
        if row is None:
            row = LogCheckRow(id=1)
            self._s.add(row)
        row.status = check.status
        row.checked_size = check.size
        row.checked_at = check.checked_at
        row.chain_size = check.chain_size
        row.first_bad_index = check.first_bad_index
        row.failed_since = check.failed_since
        row.detail = {
            "reason": check.reason,
            "findings": list(check.findings),
            "roots": {
                str(size): "0x" + root.hex() if root is not None else None
                for size, root in check.roots.items()
            },
        }
        self._s.flush()


class SqlAlchemyOutboxRepository:
    def __init__(self, session: Session) -> None:
        self._s = session

    def add(self, write: ChainWrite, at: datetime) -> int:
        row = OutboxRow(
            kind=write.kind,
            dedupe_key=write.dedupe_key,
            depends_on=write.depends_on,
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

    def flight(self, sender: str) -> OutboxFlight:
        first_signed = (
            select(func.min(TxAttemptRow.signed_at))
            .where(TxAttemptRow.outbox_id == OutboxRow.id)
            .scalar_subquery()
        )
        in_flight = self._s.execute(
            select(OutboxRow.reorged_at, first_signed, OutboxRow.nonce).where(
                OutboxRow.status.in_(_IN_FLIGHT), OutboxRow.sender == sender
            )
        ).all()
        since = [r[0] or _utc(r[1]) for r in in_flight if r[0] is not None or r[1] is not None]
        top = self._s.scalars(
            select(OutboxRow.nonce)
            .where(
                OutboxRow.status == "confirmed",
                OutboxRow.sender == sender,
                OutboxRow.nonce.is_not(None),
            )
            .order_by(OutboxRow.nonce.desc())
            .limit(FLIGHT_TOP_NONCES)
        ).all()
        return OutboxFlight(
            oldest_in_flight_at=min(since, default=None),
            lowest_in_flight_nonce=min((r[2] for r in in_flight if r[2] is not None), default=None),
            reorged=sum(1 for r in in_flight if r[0] is not None),
            top_confirmed_nonces=tuple(int(n) for n in top if n is not None),
        )
