"""``chain.sender.TxStore`` on the database: the outbox and its attempts, persisted.

Every method runs in its own committed transaction. ``record_signed`` in particular is durable
before the sender sends, so a crash can only ever resend the very same raw transaction.

The store only persists the outbox. What a write's outcome does to business rows belongs to
the area that owns them: the store asks the :class:`~service.ledger.storage.confirmations.
ConfirmationRegistry` (injected by ``service.bootstrap``) for the handler of the row's kind and
calls it in the SAME transaction as the status change, so the effect commits with it:
``record_confirmed`` -> ``confirmed``, ``record_failed`` -> ``failed`` (and its dependents'),
a re-inclusion -> ``reincluded``, a confirmed write taken back -> ``taken_back``.

A write with ``depends_on`` (a recall queued while its batch's anchor is in flight) is handed
to the sender only once that write is confirmed, and fails with it if it fails.

A confirmed write is followed until it is final (``following``, ``record_final``). One that a
reorg removed (``record_reorged``) keeps its business effect while it is sent again, and the
transaction and block it had been confirmed with. Its next ``record_confirmed`` is then a
re-inclusion: the facts derived from it are refreshed, with a ``ChainWriteReincluded`` event;
``record_requeued`` or ``record_failed`` take its effect back, with a ``ChainWriteRolledBack``
event. A kind whose handler logs no chain facts (``anchor_log``: its event would grow the log
it anchors; ``nonce_fill``) logs neither.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session, aliased, sessionmaker

from chain.client import Receipt
from chain.errors import ContractRevertError
from chain.sender import IN_FLIGHT, NONCE_FILL, TRANSFER_GAS, TxAttempt, TxRequest, TxStatus
from service.kernel.ports import Clock
from service.kernel.storage.event_log import SqlAlchemyEventLog
from service.ledger.domain.events import ChainWriteReincluded, ChainWriteRolledBack
from service.ledger.storage.confirmations import ConfirmationRegistry, Settlement, Write
from service.ledger.storage.rows import OutboxRow, TxAttemptRow


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value) if abs(value) > 2**53 else value
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value if isinstance(value, str | bool | float) or value is None else str(value)


class SqlAlchemyTxStore:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        leaf_hash: Callable[[bytes], bytes],
        clock: Clock,
        confirmations: ConfirmationRegistry,
    ) -> None:
        self._sessions = sessions
        self._leaf_hash = leaf_hash
        self._clock = clock
        self._confirmations = confirmations

    @staticmethod
    def _request(row: OutboxRow) -> TxRequest:
        return TxRequest(
            id=row.id,
            to=row.to_address,
            data=row.calldata,
            value=int(row.value),
            gas_limit=row.gas_limit,
            status=TxStatus(row.status),
            nonce=row.nonce,
            mined_block_number=row.mined_block_number,
            mined_block_hash=row.mined_block_hash,
            mined_tx_hash=row.mined_tx_hash,
            kind=row.kind,
            reorged_from_block=row.reorged_block_number if row.reorged_at is not None else None,
        )

    @staticmethod
    def _attempt(row: TxAttemptRow) -> TxAttempt:
        return TxAttempt(
            tx_hash=row.tx_hash,
            raw=row.raw,
            nonce=row.nonce,
            max_fee_per_gas=row.max_fee_per_gas,
            max_priority_fee_per_gas=row.max_priority_fee_per_gas,
            gas_limit=row.gas_limit,
            sent_at=row.sent_at,
        )

    def _set(self, session: Session, request_id: int, **values: Any) -> None:
        session.execute(
            update(OutboxRow)
            .where(OutboxRow.id == request_id)
            .values(updated_at=self._clock.now(), **values)
        )

    # ------------------------------------------------------------------ reads
    def queued(self, limit: int) -> list[TxRequest]:
        dependency = aliased(OutboxRow)
        with self._sessions.begin() as s:
            rows = s.scalars(
                select(OutboxRow)
                .outerjoin(dependency, dependency.id == OutboxRow.depends_on)
                .where(
                    OutboxRow.status == TxStatus.QUEUED.value,
                    or_(
                        OutboxRow.depends_on.is_(None),
                        dependency.status == TxStatus.CONFIRMED.value,
                    ),
                )
                .order_by(OutboxRow.id)
                .limit(limit)
            )
            return [self._request(r) for r in rows]

    def in_flight(self) -> list[tuple[TxRequest, list[TxAttempt]]]:
        with self._sessions.begin() as s:
            rows = list(
                s.scalars(
                    select(OutboxRow)
                    .where(OutboxRow.status.in_([st.value for st in IN_FLIGHT]))
                    .order_by(OutboxRow.nonce, OutboxRow.id)
                )
            )
            attempts: dict[int, list[TxAttempt]] = {r.id: [] for r in rows}
            if rows:
                for a in s.scalars(
                    select(TxAttemptRow)
                    .where(TxAttemptRow.outbox_id.in_(list(attempts)))
                    .order_by(TxAttemptRow.id)
                ):
                    attempts[a.outbox_id].append(self._attempt(a))
            return [(self._request(r), attempts[r.id]) for r in rows]

    def highest_nonce(self, sender: str) -> int | None:
        with self._sessions.begin() as s:
            value = s.scalar(
                select(func.max(TxAttemptRow.nonce)).where(TxAttemptRow.sender == sender)
            )
            return None if value is None else int(value)

    # ------------------------------------------------------------------ writes
    def record_signed(self, request_id: int, sender: str, attempt: TxAttempt) -> None:
        with self._sessions.begin() as s:
            s.add(
                TxAttemptRow(
                    outbox_id=request_id,
                    tx_hash=attempt.tx_hash,
                    raw=attempt.raw,
                    sender=sender,
                    nonce=attempt.nonce,
                    max_fee_per_gas=attempt.max_fee_per_gas,
                    max_priority_fee_per_gas=attempt.max_priority_fee_per_gas,
                    gas_limit=attempt.gas_limit,
                    signed_at=self._clock.now(),
                    sent_at=attempt.sent_at,
                )
            )
            s.execute(
                update(OutboxRow)
                .where(OutboxRow.id == request_id, OutboxRow.status == TxStatus.QUEUED.value)
                .values(
                    status=TxStatus.SIGNED.value,
                    nonce=attempt.nonce,
                    sender=sender,
                    gas_limit=attempt.gas_limit,
                    updated_at=self._clock.now(),
                )
            )

    def record_sent(self, request_id: int, tx_hash: bytes, at: float) -> None:
        with self._sessions.begin() as s:
            s.execute(
                update(TxAttemptRow)
                .where(TxAttemptRow.tx_hash == tx_hash, TxAttemptRow.sent_at.is_(None))
                .values(sent_at=at)
            )
            s.execute(
                update(OutboxRow)
                .where(OutboxRow.id == request_id, OutboxRow.status == TxStatus.SIGNED.value)
                .values(status=TxStatus.SENT.value, updated_at=self._clock.now())
            )

    def record_mined(self, request_id: int, receipt: Receipt) -> None:
        with self._sessions.begin() as s:
            self._set(
                s,
                request_id,
                status=TxStatus.MINED.value,
                mined_tx_hash=receipt.tx_hash,
                mined_block_number=receipt.block_number,
                mined_block_hash=receipt.block_hash,
            )

    def record_unmined(self, request_id: int) -> None:
        with self._sessions.begin() as s:
            self._set(
                s,
                request_id,
                status=TxStatus.SENT.value,
                mined_tx_hash=None,
                mined_block_number=None,
                mined_block_hash=None,
            )

    def record_confirmed(self, request_id: int, receipt: Receipt) -> None:
        with self._sessions.begin() as s:
            row = s.get(OutboxRow, request_id)
            if row is None or row.status == TxStatus.CONFIRMED.value:
                return
            tx = self._settlement(s)
            if row.reorged_at is not None:
                self._reincluded(tx, row, receipt)
                return
            taken_back_before = row.reorged_block_number is not None
            self._set(
                s,
                request_id,
                status=TxStatus.CONFIRMED.value,
                mined_tx_hash=receipt.tx_hash,
                mined_block_number=receipt.block_number,
                mined_block_hash=receipt.block_hash,
                final_at=None,
                reorged_tx_hash=None,
                reorged_block_number=None,
            )
            self._confirmations.handler(row.kind).confirmed(
                tx, _write(row), receipt, taken_back_before
            )

    def _settlement(self, s: Session) -> Settlement:
        """The transaction's view for the confirmation handlers."""
        log = SqlAlchemyEventLog(s, self._leaf_hash)
        now = self._clock.now()
        return Settlement(s, now, lambda event: log.append(event, now))

    def record_failed(
        self, request_id: int, reason: str, revert: ContractRevertError | None
    ) -> None:
        with self._sessions.begin() as s:
            tx = self._settlement(s)
            row = s.get(OutboxRow, request_id)
            if row is not None and row.reorged_at is not None:
                self._rolled_back(tx, row, reason)
            self._set(
                s,
                request_id,
                status=TxStatus.FAILED.value,
                failure_reason=reason[:2000],
                error_name=revert.name if revert is not None else None,
                error_args=_jsonable(list(revert.args)) if revert is not None else None,
            )
            if row is not None:
                self._confirmations.handler(row.kind).failed(
                    tx, [_write(row)], reason, revert.name if revert is not None else None
                )
            dependents: dict[str, list[Write]] = {}
            for write in self._fail_dependents(s, request_id, tx.now):
                dependents.setdefault(write.kind, []).append(write)
            for kind, writes in dependents.items():
                self._confirmations.handler(kind).failed(
                    tx, writes, f"write #{request_id} it waited for failed", None
                )

    def _fail_dependents(self, s: Session, request_id: int, now: datetime) -> list[Write]:
        """Writes waiting on a failed one can never be sent: fail them too (transitively)."""
        failed = [request_id]
        every: list[Write] = []
        while failed:
            parent = failed.pop()
            rows = s.execute(
                update(OutboxRow)
                .where(
                    OutboxRow.depends_on == parent,
                    OutboxRow.status == TxStatus.QUEUED.value,
                )
                .values(
                    status=TxStatus.FAILED.value,
                    failure_reason=f"write #{parent} it depends on failed",
                    updated_at=now,
                )
                .returning(OutboxRow.id, OutboxRow.kind, OutboxRow.to_address)
            ).all()
            failed.extend(row.id for row in rows)
            every.extend(Write(row.id, row.kind, row.to_address) for row in rows)
        return every

    def record_requeued(self, request_id: int, reason: str) -> None:
        with self._sessions.begin() as s:
            row = s.get(OutboxRow, request_id)
            if row is not None and row.reorged_at is not None:
                self._rolled_back(self._settlement(s), row, reason)
            self._set(
                s,
                request_id,
                status=TxStatus.QUEUED.value,
                nonce=None,
                failure_reason=reason[:2000],
            )

    # ------------------------------------------------------------------ after confirmation
    def following(self, sender: str) -> list[TxRequest]:
        with self._sessions.begin() as s:
            rows = s.scalars(
                select(OutboxRow)
                .where(
                    OutboxRow.status == TxStatus.CONFIRMED.value,
                    OutboxRow.final_at.is_(None),
                    OutboxRow.sender == sender,
                )
                .order_by(OutboxRow.nonce, OutboxRow.id)
            )
            return [self._request(r) for r in rows]

    def record_final(self, request_ids: list[int]) -> None:
        with self._sessions.begin() as s:
            s.execute(
                update(OutboxRow)
                .where(
                    OutboxRow.id.in_(request_ids),
                    OutboxRow.status == TxStatus.CONFIRMED.value,
                )
                .values(final_at=self._clock.now())
            )

    def record_reorged(self, request_id: int, reason: str) -> None:
        # Conditional: the sender and an operator's recheck may both hand the same write back.
        with self._sessions.begin() as s:
            s.execute(
                update(OutboxRow)
                .where(OutboxRow.id == request_id, OutboxRow.status == TxStatus.CONFIRMED.value)
                .values(
                    status=TxStatus.SENT.value,
                    reorged_at=self._clock.now(),
                    reorged_tx_hash=OutboxRow.mined_tx_hash,
                    reorged_block_number=OutboxRow.mined_block_number,
                    mined_tx_hash=None,
                    mined_block_number=None,
                    mined_block_hash=None,
                    final_at=None,
                    failure_reason=reason[:2000],
                    updated_at=self._clock.now(),
                )
            )

    def nonce_owners(self, sender: str, nonces: list[int]) -> dict[int, TxRequest]:
        with self._sessions.begin() as s:
            rows = s.scalars(
                select(OutboxRow)
                .where(
                    OutboxRow.status.in_([TxStatus.CONFIRMED.value, TxStatus.FAILED.value]),
                    OutboxRow.nonce.in_(nonces),
                    OutboxRow.sender == sender,
                )
                # A confirmed owner wins over a failed one that held the nonce before it.
                .order_by((OutboxRow.status == TxStatus.CONFIRMED.value).asc(), OutboxRow.id)
            )
            return {r.nonce: self._request(r) for r in rows if r.nonce is not None}

    def record_filler(self, sender: str, attempt: TxAttempt) -> int:
        now = self._clock.now()
        with self._sessions.begin() as s:
            row = OutboxRow(
                kind=NONCE_FILL,
                dedupe_key=f"{NONCE_FILL}:{sender}:{attempt.nonce}:{attempt.tx_hash.hex()[:16]}",
                to_address=sender,
                calldata=b"",
                value="0",
                gas_limit=TRANSFER_GAS,
                status=TxStatus.SIGNED.value,
                nonce=attempt.nonce,
                sender=sender,
                created_at=now,
                updated_at=now,
            )
            s.add(row)
            s.flush()
            s.add(
                TxAttemptRow(
                    outbox_id=row.id,
                    tx_hash=attempt.tx_hash,
                    raw=attempt.raw,
                    sender=sender,
                    nonce=attempt.nonce,
                    max_fee_per_gas=attempt.max_fee_per_gas,
                    max_priority_fee_per_gas=attempt.max_priority_fee_per_gas,
                    gas_limit=attempt.gas_limit,
                    signed_at=now,
                    sent_at=attempt.sent_at,
                )
            )
            return row.id

    def confirmed_page(self, after_id: int, limit: int) -> list[tuple[TxRequest, list[TxAttempt]]]:
        with self._sessions.begin() as s:
            rows = list(
                s.scalars(
                    select(OutboxRow)
                    .where(OutboxRow.status == TxStatus.CONFIRMED.value, OutboxRow.id > after_id)
                    .order_by(OutboxRow.id)
                    .limit(limit)
                )
            )
            attempts: dict[int, list[TxAttempt]] = {r.id: [] for r in rows}
            if rows:
                for a in s.scalars(
                    select(TxAttemptRow)
                    .where(TxAttemptRow.outbox_id.in_(list(attempts)))
                    .order_by(TxAttemptRow.id)
                ):
                    attempts[a.outbox_id].append(self._attempt(a))
            return [(self._request(r), attempts[r.id]) for r in rows]

    def _reincluded(self, tx: Settlement, row: OutboxRow, receipt: Receipt) -> None:
        """A confirmed write that a reorg removed is confirmed again: its effect stands, and
        every fact derived from its inclusion now names the new one."""
        old_tx, old_block = row.reorged_tx_hash, row.reorged_block_number
        self._set(
            tx.session,
            row.id,
            status=TxStatus.CONFIRMED.value,
            mined_tx_hash=receipt.tx_hash,
            mined_block_number=receipt.block_number,
            mined_block_hash=receipt.block_hash,
            final_at=None,
            reorged_at=None,
            reorged_tx_hash=None,
            reorged_block_number=None,
        )
        handler = self._confirmations.handler(row.kind)
        touched = handler.reincluded(tx, _write(row), receipt)
        moved = (old_tx, old_block) != (receipt.tx_hash, receipt.block_number)
        if moved and handler.logs_chain_facts and old_tx is not None and old_block is not None:
            tx.log(
                ChainWriteReincluded(
                    outbox_id=row.id,
                    kind=row.kind,
                    old_tx_hash=old_tx,
                    old_block_number=old_block,
                    tx_hash=receipt.tx_hash,
                    block_number=receipt.block_number,
                    batch_id=touched.batch_id,
                    certificate_ids=touched.certificate_ids,
                )
            )

    def _rolled_back(self, tx: Settlement, row: OutboxRow, reason: str) -> None:
        """Take back what a confirmed write did; it keeps the transaction and block it had
        been confirmed with, so that its next confirmation knows it comes back."""
        handler = self._confirmations.handler(row.kind)
        touched = handler.taken_back(tx, _write(row))
        if (
            handler.logs_chain_facts
            and row.reorged_tx_hash is not None
            and row.reorged_block_number is not None
        ):
            tx.log(
                ChainWriteRolledBack(
                    outbox_id=row.id,
                    kind=row.kind,
                    tx_hash=row.reorged_tx_hash,
                    block_number=row.reorged_block_number,
                    reason=reason[:500],
                    batch_id=touched.batch_id,
                    certificate_ids=touched.certificate_ids,
                )
            )
        self._set(tx.session, row.id, reorged_at=None)


def _write(row: OutboxRow) -> Write:
    return Write(row.id, row.kind, row.to_address)
