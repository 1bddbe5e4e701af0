"""What the chain's answer to a batch's write does to the batch (the factory's outbox kinds).

One handler per kind (:data:`BATCH_HANDLERS`), registered in the outbox's
:class:`~service.ledger.storage.confirmations.ConfirmationRegistry` for ``anchor_batch``,
``recall_batch`` and ``attest_batch``; they live beside the batch repository and move with
it. Every method runs in the outbox's transaction:

* ``anchor_batch`` confirmed -> the batch becomes ``anchored`` with ``BatchAnchored``; failed
  -> ``anchor_failed`` with ``BatchAnchorFailed`` (asking again queues a new write); taken
  back by a reorg -> ``anchoring`` again. A batch recalled meanwhile stays ``recalled``: the
  recall is the brand's decision, and the anchor's outcome is still logged.
* ``recall_batch`` confirmed -> ``BatchRecallConfirmed`` (the batch was ``recalled`` already).
* ``attest_batch`` confirmed -> ``BatchAttested``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence

from sqlalchemy import Select, select, update

from chain.client import Receipt
from service.factory.domain.batches import BatchStatus
from service.factory.domain.events import (
    BatchAnchored,
    BatchAnchorFailed,
    BatchAttested,
    BatchRecallConfirmed,
)
from service.factory.storage.rows import AttestationRow, BatchRow
from service.kernel.events import Event
from service.ledger.storage.confirmations import Settlement, Touched, Write


class _BatchWrite(ABC):
    """What the three kinds share: their chain facts are logged, a reorg or a re-inclusion
    names the batch (``_batch`` selects it), and a failure changes no batch by default."""

    logs_chain_facts = True

    @staticmethod
    @abstractmethod
    def _batch(write: Write) -> Select[str]:
        """The public id of the batch the write acts on."""

    @abstractmethod
    def confirmed(self, tx: Settlement, write: Write, receipt: Receipt, again: bool) -> None:
        """Apply the write's effect (see the module docstring)."""

    def failed(
        self, tx: Settlement, writes: Sequence[Write], reason: str, revert: str | None
    ) -> None:
        """A failed recall or attestation changes no batch: its outbox row says it failed."""
        return None

    def taken_back(self, tx: Settlement, write: Write) -> Touched:
        return Touched(tx.session.scalar(self._batch(write)))

    def reincluded(self, tx: Settlement, write: Write, receipt: Receipt) -> Touched:
        # Nothing on the batch names the inclusion: GET /batches/{id} reads the outbox row.
        return Touched(tx.session.scalar(self._batch(write)))


class AnchorConfirmations(_BatchWrite):
    """``anchor_batch``: the batch's root on chain."""

    @staticmethod
    def _batch(write: Write) -> Select[str]:
        return select(BatchRow.public_id).where(BatchRow.outbox_id == write.id)

    def confirmed(self, tx: Settlement, write: Write, receipt: Receipt, again: bool) -> None:
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

    def failed(
        self, tx: Settlement, writes: Sequence[Write], reason: str, revert: str | None
    ) -> None:
        error = revert if revert is not None else "failed"
        for write in writes:
            _settle_anchor(tx, write.id, BatchStatus.ANCHOR_FAILED, _anchor_failed(write.id, error))

    def taken_back(self, tx: Settlement, write: Write) -> Touched:
        # A batch recalled meanwhile stays recalled: the recall is the brand's decision.
        tx.session.execute(
            update(BatchRow)
            .where(
                BatchRow.outbox_id == write.id,
                BatchRow.status == BatchStatus.ANCHORED.value,
            )
            .values(status=BatchStatus.ANCHORING.value)
        )
        return super().taken_back(tx, write)


class RecallConfirmations(_BatchWrite):
    """``recall_batch``: the batch was ``recalled`` already; the chain confirms it."""

    @staticmethod
    def _batch(write: Write) -> Select[str]:
        return select(BatchRow.public_id).where(BatchRow.recall_outbox_id == write.id)

    def confirmed(self, tx: Settlement, write: Write, receipt: Receipt, again: bool) -> None:
        batch = tx.session.scalar(select(BatchRow).where(BatchRow.recall_outbox_id == write.id))
        if batch is not None:
            tx.log(
                BatchRecallConfirmed(
                    batch.public_id, batch.chain_batch_id, receipt.tx_hash, receipt.block_number
                )
            )


class AttestationConfirmations(_BatchWrite):
    """``attest_batch``: a report's hash on chain."""

    @staticmethod
    def _batch(write: Write) -> Select[str]:
        return (
            select(BatchRow.public_id)
            .join(AttestationRow, AttestationRow.batch_id == BatchRow.id)
            .where(AttestationRow.outbox_id == write.id)
        )

    def confirmed(self, tx: Settlement, write: Write, receipt: Receipt, again: bool) -> None:
        found = tx.session.execute(
            select(BatchRow.public_id, AttestationRow.report_hash)
            .join(AttestationRow, AttestationRow.batch_id == BatchRow.id)
            .where(AttestationRow.outbox_id == write.id)
        ).first()
        if found is not None:
            tx.log(BatchAttested(found[0], found[1], receipt.tx_hash, receipt.block_number))


#: The handler of each outbox kind of a batch.
BATCH_HANDLERS: dict[str, _BatchWrite] = {
    "anchor_batch": AnchorConfirmations(),
    "recall_batch": RecallConfirmations(),
    "attest_batch": AttestationConfirmations(),
}


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
