"""``chain.sender.TxStore`` on the database: the outbox, its attempts, and business effects.

Every method runs in its own committed transaction. ``record_signed`` in particular is durable
before the sender sends, so a crash can only ever resend the very same raw transaction.

``record_confirmed`` applies the business effect of a write in the same transaction that marks
it confirmed:

* ``anchor_batch`` -> the batch becomes ``anchored`` and a ``BatchAnchored`` event is logged;
* ``recall_batch`` -> a ``BatchRecallConfirmed`` event (the batch was ``recalled`` already);
* ``attest_batch`` -> a ``BatchAttested`` event;
* ``claim`` / ``claim_batch`` -> each certificate it minted becomes ``active`` with a
  ``CertificateClaimed`` event; each claim the contract skipped (``CertificateClaimSkipped``:
  already claimed, batch recalled...) becomes ``claim_failed`` with a ``CertificateClaimFailed``
  event naming the reason. A failed shared ``claim_batch`` (a whole-call revert) sends its
  claims again one by one; a failed lone ``claim`` leaves its certificate ``claim_failed``;
* ``anchor_log``   -> the ``log_anchors`` row becomes ``anchored`` and NO event is logged: an
  event would grow the log, the anchorer would anchor the new size, whose confirmation would
  log another event... the anchorer would chase its own tail forever. Log anchors are visible
  on chain (``LogAnchored``) and in ``log_anchors`` instead.

A write with ``depends_on`` (a recall queued while its batch's anchor is in flight) is handed
to the sender only once that write is confirmed, and fails with it if it fails.

A confirmed write is followed until it is final (``following``, ``record_final``). One that a
reorg removed (``record_reorged``) keeps its business effect while it is sent again, and the
transaction and block it had been confirmed with. Its next ``record_confirmed`` is then a
re-inclusion: the block numbers derived from it are refreshed, with a ``ChainWriteReincluded``
event; ``record_requeued`` or ``record_failed`` take its effect back, with a
``ChainWriteRolledBack`` event (see ``service.adapters.chain_reorgs``). The ``anchor_log``
kind logs neither, for the reason above; ``log_anchors`` alone shows it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_utils.crypto import keccak
from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session, aliased, sessionmaker

from chain.client import Receipt
from chain.contracts.certificate_registry import claim_skips
from chain.errors import ContractRevertError
from chain.sender import IN_FLIGHT, NONCE_FILL, TRANSFER_GAS, TxAttempt, TxRequest, TxStatus
from service.adapters import chain_reorgs
from service.adapters.chain_reorgs import CLAIM_KINDS, LIFECYCLE_KINDS
from service.adapters.consumers import QUEUED_ALONE
from service.adapters.orm import (
    AttestationRow,
    BatchRow,
    CertificateActionRow,
    CertificateDealRow,
    CertificateRow,
    LogAnchorRow,
    OutboxRow,
    TxAttemptRow,
    WalletNonceRow,
)
from service.adapters.repositories import SqlAlchemyEventLog
from service.app.ports import Clock
from service.domain.batches import BatchStatus
from service.domain.certificates import Action, CertificateState
from service.domain.events import (
    BatchAnchored,
    BatchAnchorFailed,
    BatchAttested,
    BatchRecallConfirmed,
    CertificateActionConfirmed,
    CertificateActionFailed,
    CertificateClaimed,
    CertificateClaimFailed,
    ChainWriteReincluded,
    ChainWriteRolledBack,
    Event,
)

#: Kinds whose chain facts no event may record: a log anchor (its own event would grow the
#: log it anchors) and a gap filler (it touches no business row).
SILENT_KINDS = ("anchor_log", NONCE_FILL)
#: ``GiftCreated(uint256 indexed,address indexed,address,uint64,uint64)``.
GIFT_CREATED = keccak(b"GiftCreated(uint256,address,address,uint64,uint64)")


def _gift_nonce(receipt: Receipt) -> int | None:
    """The nonce of the gift a receipt created (the last word of ``GiftCreated``'s data)."""
    for entry in receipt.logs:
        if entry.topics and entry.topics[0] == GIFT_CREATED:
            _, _, nonce = abi_decode(["address", "uint64", "uint64"], entry.data)
            return int(nonce)
    return None


def _restored(name: str, value: Any) -> Any:
    """A certificate column's value as ``undo`` kept it (JSON: times as ISO text)."""
    if name == "locked_since" and isinstance(value, str):
        return datetime.fromisoformat(value)
    return value


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
    ) -> None:
        self._sessions = sessions
        self._leaf_hash = leaf_hash
        self._clock = clock

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
            now = self._clock.now()
            if row.reorged_at is not None:
                self._reincluded(s, row, receipt, now)
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
            if row.kind == "anchor_batch":
                self._batch_anchored(s, request_id, receipt, now)
            elif row.kind == "recall_batch":
                batch = s.scalar(select(BatchRow).where(BatchRow.recall_outbox_id == request_id))
                if batch is not None:
                    self._log(
                        s,
                        BatchRecallConfirmed(
                            batch.public_id,
                            batch.chain_batch_id,
                            receipt.tx_hash,
                            receipt.block_number,
                        ),
                        now,
                    )
            elif row.kind == "attest_batch":
                found = s.execute(
                    select(BatchRow.public_id, AttestationRow.report_hash)
                    .join(AttestationRow, AttestationRow.batch_id == BatchRow.id)
                    .where(AttestationRow.outbox_id == request_id)
                ).first()
                if found is not None:
                    self._log(
                        s,
                        BatchAttested(found[0], found[1], receipt.tx_hash, receipt.block_number),
                        now,
                    )
            elif row.kind in CLAIM_KINDS:
                self._claims_skipped(s, request_id, row.to_address, receipt, now)
                self._claims_confirmed(s, request_id, receipt, now)
                if taken_back_before:  # confirmed again after its effect was taken back
                    for public_id, token_id, owner in chain_reorgs.restore_claim_facts(
                        s, row, receipt
                    ):
                        self._log(
                            s,
                            CertificateClaimed(
                                public_id, token_id, owner, receipt.tx_hash, receipt.block_number
                            ),
                            now,
                        )
            elif row.kind in LIFECYCLE_KINDS:
                self._lifecycle_confirmed(s, request_id, receipt, now)
            elif row.kind == "anchor_log":
                # No event here: see the module docstring (the anchorer's tail).
                s.execute(
                    update(LogAnchorRow)
                    .where(LogAnchorRow.outbox_id == request_id)
                    .values(status="anchored", anchored_at=now)
                )

    def _claims_confirmed(
        self, s: Session, request_id: int, receipt: Receipt, now: datetime
    ) -> None:
        """Every certificate this write minted becomes ``active``, with its event."""
        minted = s.execute(
            update(CertificateRow)
            .where(
                CertificateRow.claim_outbox_id == request_id,
                CertificateRow.state == CertificateState.CLAIM_PENDING.value,
            )
            .values(
                state=CertificateState.ACTIVE.value,
                claim_tx_hash=receipt.tx_hash,
                claim_block_number=receipt.block_number,
                confirmed_at=now,
                version=CertificateRow.version + 1,
            )
            .returning(
                CertificateRow.public_id, CertificateRow.token_id, CertificateRow.owner_address
            )
        ).all()
        s.execute(
            update(CertificateActionRow)
            .where(
                CertificateActionRow.outbox_id == request_id,
                CertificateActionRow.status != "failed",
            )
            .values(status="confirmed", settled_at=now)
        )
        for public_id, token_id, owner in sorted(minted):
            self._log(
                s,
                CertificateClaimed(
                    public_id, token_id, owner, receipt.tx_hash, receipt.block_number
                ),
                now,
            )

    def _claims_skipped(
        self, s: Session, request_id: int, registry: str, receipt: Receipt, now: datetime
    ) -> None:
        """The claims a confirmed ``claimBatch`` skipped failed for good (the contract named
        the reason of each: someone claimed it first, its batch was recalled...)."""
        reasons = {str(skip.token_id): skip.reason for skip in claim_skips(receipt, registry)}
        if not reasons:
            return
        failed = s.execute(
            update(CertificateRow)
            .where(
                CertificateRow.claim_outbox_id == request_id,
                CertificateRow.state == CertificateState.CLAIM_PENDING.value,
                CertificateRow.token_id.in_(list(reasons)),
            )
            .values(state=CertificateState.CLAIM_FAILED.value, version=CertificateRow.version + 1)
            .returning(CertificateRow.id, CertificateRow.public_id, CertificateRow.token_id)
        ).all()
        if not failed:
            return
        s.execute(
            update(CertificateActionRow)
            .where(
                CertificateActionRow.outbox_id == request_id,
                CertificateActionRow.certificate_id.in_([row.id for row in failed]),
            )
            .values(status="failed", settled_at=now)
        )
        for _, public_id, token_id in sorted(failed, key=lambda row: row.public_id):
            self._log(
                s, CertificateClaimFailed(public_id, token_id, request_id, reasons[token_id]), now
            )

    def _claims_failed(self, s: Session, request_id: int, kind: str, error: str) -> None:
        """A shared claim transaction that failed sends each claim again alone; a claim that
        failed alone failed for good (the contract refused exactly it)."""
        now = self._clock.now()
        if kind == "claim_batch":
            s.execute(
                update(CertificateActionRow)
                .where(CertificateActionRow.outbox_id == request_id)
                .values(status=QUEUED_ALONE, outbox_id=None)
            )
            s.execute(
                update(CertificateRow)
                .where(CertificateRow.claim_outbox_id == request_id)
                .values(claim_outbox_id=None)
            )
            return
        failed = s.execute(
            update(CertificateRow)
            .where(
                CertificateRow.claim_outbox_id == request_id,
                CertificateRow.state == CertificateState.CLAIM_PENDING.value,
            )
            .values(state=CertificateState.CLAIM_FAILED.value, version=CertificateRow.version + 1)
            .returning(CertificateRow.public_id, CertificateRow.token_id)
        ).all()
        s.execute(
            update(CertificateActionRow)
            .where(CertificateActionRow.outbox_id == request_id)
            .values(status="failed", settled_at=now)
        )
        for public_id, token_id in failed:
            self._log(s, CertificateClaimFailed(public_id, token_id, request_id, error), now)

    def _lifecycle_confirmed(
        self, s: Session, request_id: int, receipt: Receipt, now: datetime
    ) -> None:
        """The step this write carried is on chain: a gift learns its nonce, a pledge or a
        deposit starts its lock clock."""
        steps = s.scalars(
            select(CertificateActionRow).where(CertificateActionRow.outbox_id == request_id)
        ).all()
        for step in steps:
            step.status, step.settled_at = "confirmed", now
            certificate = s.get(CertificateRow, step.certificate_id)
            if step.action == Action.GIFT.value and step.deal_id is not None:
                nonce = _gift_nonce(receipt)
                if nonce is not None:
                    s.execute(
                        update(CertificateDealRow)
                        .where(CertificateDealRow.id == step.deal_id)
                        .values(gift_nonce=nonce)
                    )
            if (
                step.action in (Action.ACCEPT_PLEDGE.value, Action.CONFIRM_DEPOSIT.value)
                and certificate is not None
                and certificate.state == step.to_state
            ):
                certificate.locked_since = now
            if certificate is not None:
                self._log(
                    s,
                    CertificateActionConfirmed(
                        certificate.public_id,
                        step.action,
                        receipt.tx_hash,
                        receipt.block_number,
                    ),
                    now,
                )

    def _lifecycle_failed(self, s: Session, request_ids: list[int], error: str) -> None:
        """Put back what each failed step changed (if nothing changed since), and rewind its
        wallet's nonce: the forwarder never used it."""
        now = self._clock.now()
        steps = s.scalars(
            select(CertificateActionRow)
            .where(CertificateActionRow.outbox_id.in_(request_ids))
            .order_by(CertificateActionRow.id.desc())
        ).all()
        for step in steps:
            step.status, step.settled_at = "failed", now
            undo = step.undo or {}
            certificate = s.get(CertificateRow, step.certificate_id)
            if certificate is not None and certificate.version == step.version_after:
                for name, value in (undo.get("certificate") or {}).items():
                    setattr(certificate, name, _restored(name, value))
                certificate.version += 1
            deal = undo.get("deal")
            if deal is not None:
                s.execute(
                    update(CertificateDealRow)
                    .where(CertificateDealRow.id == deal["id"])
                    .values(status=deal["status"], settled_at=None)
                )
            if step.signer is not None and step.nonce is not None:
                s.execute(
                    update(WalletNonceRow)
                    .where(
                        WalletNonceRow.address == step.signer,
                        WalletNonceRow.next_nonce > step.nonce,
                    )
                    .values(next_nonce=step.nonce)
                )
                s.execute(
                    update(WalletNonceRow)
                    .where(
                        WalletNonceRow.address == step.signer,
                        WalletNonceRow.last_outbox_id.in_(request_ids),
                    )
                    .values(last_outbox_id=None)
                )
            if certificate is not None:
                self._log(
                    s,
                    CertificateActionFailed(
                        certificate.public_id, step.action, step.outbox_id or 0, error
                    ),
                    now,
                )

    def _batch_anchored(self, s: Session, request_id: int, receipt: Receipt, now: datetime) -> None:
        self._settle_batch(
            s,
            request_id,
            BatchStatus.ANCHORED,
            lambda public_id, chain_batch_id: BatchAnchored(
                batch_id=public_id,
                chain_batch_id=chain_batch_id,
                tx_hash=receipt.tx_hash,
                block_number=receipt.block_number,
            ),
            now,
        )

    def _log(self, s: Session, event: Event, now: datetime) -> None:
        SqlAlchemyEventLog(s, self._leaf_hash).append(event, now)

    def _settle_batch(
        self,
        s: Session,
        request_id: int,
        status: BatchStatus,
        event: Callable[[str, bytes], Event],
        now: datetime,
    ) -> None:
        """Move the batch waiting on this anchor request out of ``anchoring``, with its event.

        A batch recalled while its anchor was in flight stays ``recalled``; the anchor's
        outcome is still logged.
        """
        batch = s.execute(
            update(BatchRow)
            .where(
                BatchRow.outbox_id == request_id,
                BatchRow.status == BatchStatus.ANCHORING.value,
            )
            .values(status=status.value)
            .returning(BatchRow.public_id, BatchRow.chain_batch_id)
        ).first()
        if batch is None:
            batch = s.execute(
                select(BatchRow.public_id, BatchRow.chain_batch_id).where(
                    BatchRow.outbox_id == request_id,
                    BatchRow.status == BatchStatus.RECALLED.value,
                )
            ).first()
        if batch is not None:
            self._log(s, event(batch.public_id, batch.chain_batch_id), now)

    def record_failed(
        self, request_id: int, reason: str, revert: ContractRevertError | None
    ) -> None:
        with self._sessions.begin() as s:
            row = s.get(OutboxRow, request_id)
            if row is not None and row.reorged_at is not None:
                self._rolled_back(s, row, reason)
            self._set(
                s,
                request_id,
                status=TxStatus.FAILED.value,
                failure_reason=reason[:2000],
                error_name=revert.name if revert is not None else None,
                error_args=_jsonable(list(revert.args)) if revert is not None else None,
            )
            if row is not None and row.kind == "anchor_batch":
                error = revert.name if revert is not None else "failed"
                self._settle_batch(
                    s,
                    request_id,
                    BatchStatus.ANCHOR_FAILED,
                    lambda public_id, chain_batch_id: BatchAnchorFailed(
                        batch_id=public_id,
                        chain_batch_id=chain_batch_id,
                        outbox_id=request_id,
                        error=error,
                    ),
                    self._clock.now(),
                )
            elif row is not None and row.kind in CLAIM_KINDS:
                self._claims_failed(
                    s, request_id, row.kind, revert.name if revert is not None else reason[:200]
                )
            elif row is not None and row.kind in LIFECYCLE_KINDS:
                self._lifecycle_failed(s, [request_id], revert.name if revert else reason[:200])
            elif row is not None and row.kind == "anchor_log":
                # The next anchor covers a larger size, so the log stays anchored; this row
                # must simply never claim to be on chain.
                s.execute(
                    update(LogAnchorRow)
                    .where(LogAnchorRow.outbox_id == request_id)
                    .values(status="failed")
                )
            dependents = self._fail_dependents(s, request_id)
            if dependents:
                self._lifecycle_failed(s, dependents, f"write #{request_id} it waited for failed")

    def _fail_dependents(self, s: Session, request_id: int) -> list[int]:
        """Writes waiting on a failed one can never be sent: fail them too (transitively)."""
        failed, every = [request_id], []
        while failed:
            parent = failed.pop()
            size = len(failed)
            failed.extend(
                s.scalars(
                    update(OutboxRow)
                    .where(
                        OutboxRow.depends_on == parent,
                        OutboxRow.status == TxStatus.QUEUED.value,
                    )
                    .values(
                        status=TxStatus.FAILED.value,
                        failure_reason=f"write #{parent} it depends on failed",
                        updated_at=self._clock.now(),
                    )
                    .returning(OutboxRow.id)
                ).all()
            )
            every.extend(failed[size:])
        return every

    def record_requeued(self, request_id: int, reason: str) -> None:
        with self._sessions.begin() as s:
            row = s.get(OutboxRow, request_id)
            if row is not None and row.reorged_at is not None:
                self._rolled_back(s, row, reason)
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

    def _reincluded(self, s: Session, row: OutboxRow, receipt: Receipt, now: datetime) -> None:
        """A confirmed write that a reorg removed is confirmed again: its effect stands, and
        every fact derived from its inclusion now names the new one."""
        old_tx, old_block = row.reorged_tx_hash, row.reorged_block_number
        self._set(
            s,
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
        touched = chain_reorgs.refresh(s, row, receipt, _gift_nonce(receipt))
        moved = (old_tx, old_block) != (receipt.tx_hash, receipt.block_number)
        if moved and row.kind not in SILENT_KINDS and old_tx is not None and old_block is not None:
            self._log(
                s,
                ChainWriteReincluded(
                    outbox_id=row.id,
                    kind=row.kind,
                    old_tx_hash=old_tx,
                    old_block_number=old_block,
                    tx_hash=receipt.tx_hash,
                    block_number=receipt.block_number,
                    batch_id=touched.batch_id,
                    certificate_ids=touched.certificate_ids,
                ),
                now,
            )

    def _rolled_back(self, s: Session, row: OutboxRow, reason: str) -> None:
        """Take back what a confirmed write did; it keeps the transaction and block it had
        been confirmed with, so that its next confirmation knows it comes back."""
        touched = chain_reorgs.take_back(s, row)
        if (
            row.kind not in SILENT_KINDS
            and row.reorged_tx_hash is not None
            and row.reorged_block_number is not None
        ):
            self._log(
                s,
                ChainWriteRolledBack(
                    outbox_id=row.id,
                    kind=row.kind,
                    tx_hash=row.reorged_tx_hash,
                    block_number=row.reorged_block_number,
                    reason=reason[:500],
                    batch_id=touched.batch_id,
                    certificate_ids=touched.certificate_ids,
                ),
                self._clock.now(),
            )
        self._set(s, row.id, reorged_at=None)
