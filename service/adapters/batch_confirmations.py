"""What the chain's answer to a batch's write does to the batch (the factory's outbox kinds).

Registered in the outbox's :class:`~service.adapters.confirmations.ConfirmationRegistry` for
``anchor_batch``, ``recall_batch`` and ``attest_batch``; it lives beside the batch repository
and moves with it. Every method runs in the outbox's transaction:

* ``anchor_batch`` confirmed -> the batch becomes ``anchored`` with ``BatchAnchored``; failed
  -> ``anchor_failed`` with ``BatchAnchorFailed`` (asking again queues a new write); taken
  back by a reorg -> ``anchoring`` again. A batch recalled meanwhile stays ``recalled``: the
  recall is the brand's decision, and the anchor's outcome is still logged.
* ``recall_batch`` confirmed -> ``BatchRecallConfirmed`` (the batch was ``recalled`` already).
* ``attest_batch`` confirmed -> ``BatchAttested``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy import select, update

from chain.client import Receipt
from service.adapters.confirmations import Settlement, Touched, Write
from service.adapters.orm import AttestationRow, BatchRow
from service.domain.batches import BatchStatus
from service.domain.events import (
    BatchAnchored,
    BatchAnchorFailed,
    BatchAttested,
    BatchRecallConfirmed,
    Event,
)

#: The outbox kinds of a batch.
BATCH_KINDS = ("anchor_batch", "recall_batch", "attest_batch")


class BatchConfirmations:
    """The confirmation handler of a batch's anchor, recall and attestation."""

    logs_chain_facts = True

    def confirmed(self, tx: Settlement, write: Write, receipt: Receipt, again: bool) -> None:
        if write.kind == "anchor_batch":
            _settle_anchor(
                tx,
                write.id,
                BatchStatus.ANCHORED,
                lambda public_id, chain_batch_id: BatchAnchored(
                    batch_id=public_id,
                    chain_batch_id=chain_batch_id,
                    tx_hash=receipt.tx_hash,
                    block_number=receipt.block_number,
                ),
            )
        elif write.kind == "recall_batch":
            batch = tx.session.scalar(select(BatchRow).where(BatchRow.recall_outbox_id == write.id))
            if batch is not None:
                tx.log(
                    BatchRecallConfirmed(
                        batch.public_id,
                        batch.chain_batch_id,
                        receipt.tx_hash,
                        receipt.block_number,
                    )
                )
        elif write.kind == "attest_batch":
            found = tx.session.execute(
                select(BatchRow.public_id, AttestationRow.report_hash)
                .join(AttestationRow, AttestationRow.batch_id == BatchRow.id)
                .where(AttestationRow.outbox_id == write.id)
            ).first()
            if found is not None:
                tx.log(BatchAttested(found[0], found[1], receipt.tx_hash, receipt.block_number))

    def failed(
        self, tx: Settlement, writes: Sequence[Write], reason: str, revert: str | None
    ) -> None:
        # A failed recall or attestation changes no batch: its outbox row says it failed.
        error = revert if revert is not None else "failed"
        for write in writes:
            if write.kind == "anchor_batch":
                _settle_anchor(
                    tx, write.id, BatchStatus.ANCHOR_FAILED, _anchor_failed(write.id, error)
                )

    def taken_back(self, tx: Settlement, write: Write) -> Touched:
        if write.kind == "anchor_batch":
            # A batch recalled meanwhile stays recalled: the recall is the brand's decision.
            tx.session.execute(
                update(BatchRow)
                .where(
                    BatchRow.outbox_id == write.id,
                    BatchRow.status == BatchStatus.ANCHORED.value,
                )
                .values(status=BatchStatus.ANCHORING.value)
            )
        return self._touched(tx, write)

    def reincluded(self, tx: Settlement, write: Write, receipt: Receipt) -> Touched:
        # Nothing on the batch names the inclusion: GET /batches/{id} reads the outbox row.
        return self._touched(tx, write)

    @staticmethod
    def _touched(tx: Settlement, write: Write) -> Touched:
        """The batch the write acts on."""
        if write.kind == "anchor_batch":
            query = select(BatchRow.public_id).where(BatchRow.outbox_id == write.id)
        elif write.kind == "recall_batch":
            query = select(BatchRow.public_id).where(BatchRow.recall_outbox_id == write.id)
        else:
            query = (
                select(BatchRow.public_id)
                .join(AttestationRow, AttestationRow.batch_id == BatchRow.id)
                .where(AttestationRow.outbox_id == write.id)
            )
        return Touched(tx.session.scalar(query))


def _anchor_failed(outbox_id: int, error: str) -> Callable[[str, bytes], Event]:
    return lambda public_id, chain_batch_id: BatchAnchorFailed(
        batch_id=public_id, chain_batch_id=chain_batch_id, outbox_id=outbox_id, error=error
    )


def _settle_anchor(
    tx: Settlement, request_id: int, status: BatchStatus, event: Callable[[str, bytes], Event]
) -> None:
    """Move the batch waiting on this anchor request out of ``anchoring``, with its event.

    A batch recalled while its anchor was in flight stays ``recalled``; the anchor's outcome
    is still logged.
    """
    batch = tx.session.execute(
        update(BatchRow)
        .where(
            BatchRow.outbox_id == request_id,
            BatchRow.status == BatchStatus.ANCHORING.value,
        )
        .values(status=status.value)
        .returning(BatchRow.public_id, BatchRow.chain_batch_id)
    ).first()
    if batch is None:
        batch = tx.session.execute(
            select(BatchRow.public_id, BatchRow.chain_batch_id).where(
                BatchRow.outbox_id == request_id,
                BatchRow.status == BatchStatus.RECALLED.value,
            )
        ).first()
    if batch is not None:
        tx.log(event(batch.public_id, batch.chain_batch_id))
