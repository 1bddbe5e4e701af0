"""What a reorg does to the business rows of a write that had been confirmed.

``SqlAlchemyTxStore`` calls these in the transaction that records the sender's decision, and
logs the event that makes the change visible to an auditor replaying the log:

* **re-included** (``refresh``): the write is on chain again, in another block. Every fact
  derived from its inclusion names the new one: the outbox row (which ``GET /batches/{id}``
  reads), the certificates' claim transaction and block, a gift's on-chain nonce.
* **taken back** (``take_back``): the write can never be mined as it was (its nonce went to
  another transaction, or re-included it reverted). What its confirmation did is undone: the
  batch is ``anchoring`` again, the claims ``claim_pending``, a lifecycle step pending, a log
  anchor ``requested``. Queued again, its next confirmation does it all again.

Both return the rows they touched (batch and certificates, by public id) for the event.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from chain.client import Receipt
from service.adapters.consumers import SENT
from service.adapters.orm import (
    AttestationRow,
    BatchRow,
    CertificateActionRow,
    CertificateDealRow,
    CertificateRow,
    LogAnchorRow,
    OutboxRow,
)
from service.domain.batches import BatchStatus
from service.domain.certificates import Action, CertificateState

#: Outbox kinds that mint certificates.
CLAIM_KINDS = ("claim", "claim_batch")
#: Outbox kinds that carry a certificate's lifecycle step.
LIFECYCLE_KINDS = ("forward", "relay")
#: Steps whose confirmation starts the certificate's lock clock.
LOCKING_ACTIONS = (Action.ACCEPT_PLEDGE.value, Action.CONFIRM_DEPOSIT.value)


@dataclass(frozen=True)
class Touched:
    """The business rows a write's inclusion touched."""

    batch_id: str | None = None
    certificate_ids: tuple[str, ...] = ()


def touched(s: Session, row: OutboxRow) -> Touched:
    """The batch or the certificates a write acts on."""
    if row.kind == "anchor_batch":
        return Touched(s.scalar(select(BatchRow.public_id).where(BatchRow.outbox_id == row.id)))
    if row.kind == "recall_batch":
        return Touched(
            s.scalar(select(BatchRow.public_id).where(BatchRow.recall_outbox_id == row.id))
        )
    if row.kind == "attest_batch":
        return Touched(
            s.scalar(
                select(BatchRow.public_id)
                .join(AttestationRow, AttestationRow.batch_id == BatchRow.id)
                .where(AttestationRow.outbox_id == row.id)
            )
        )
    if row.kind in CLAIM_KINDS:
        ids = s.scalars(
            select(CertificateRow.public_id).where(CertificateRow.claim_outbox_id == row.id)
        )
        return Touched(certificate_ids=tuple(sorted(ids)))
    if row.kind in LIFECYCLE_KINDS:
        ids = s.scalars(
            select(CertificateRow.public_id)
            .join(CertificateActionRow, CertificateActionRow.certificate_id == CertificateRow.id)
            .where(CertificateActionRow.outbox_id == row.id)
        )
        return Touched(certificate_ids=tuple(sorted(set(ids))))
    return Touched()


def refresh(s: Session, row: OutboxRow, receipt: Receipt, gift_nonce: int | None) -> Touched:
    """Point every fact derived from the write's inclusion at ``receipt`` (the outbox row
    itself is the caller's)."""
    if row.kind in CLAIM_KINDS:
        s.execute(
            update(CertificateRow)
            .where(
                CertificateRow.claim_outbox_id == row.id, CertificateRow.claim_tx_hash.is_not(None)
            )
            .values(claim_tx_hash=receipt.tx_hash, claim_block_number=receipt.block_number)
        )
    elif row.kind in LIFECYCLE_KINDS and gift_nonce is not None:
        # Gift nonces count on chain: included in another order, a gift may hold another one.
        deals = select(CertificateActionRow.deal_id).where(
            CertificateActionRow.outbox_id == row.id,
            CertificateActionRow.action == Action.GIFT.value,
        )
        s.execute(
            update(CertificateDealRow)
            .where(CertificateDealRow.id.in_(deals))
            .values(gift_nonce=gift_nonce)
        )
    return touched(s, row)


def take_back(s: Session, row: OutboxRow) -> Touched:
    """Undo what the write's confirmation did to the business rows."""
    if row.kind == "anchor_batch":
        # A batch recalled meanwhile stays recalled: the recall is the brand's decision.
        s.execute(
            update(BatchRow)
            .where(BatchRow.outbox_id == row.id, BatchRow.status == BatchStatus.ANCHORED.value)
            .values(status=BatchStatus.ANCHORING.value)
        )
    elif row.kind in CLAIM_KINDS:
        s.execute(
            update(CertificateRow)
            .where(
                CertificateRow.claim_outbox_id == row.id,
                CertificateRow.state == CertificateState.ACTIVE.value,
            )
            .values(state=CertificateState.CLAIM_PENDING.value, version=CertificateRow.version + 1)
        )
        # A certificate that moved on since keeps its state, but no longer claims a mint.
        s.execute(
            update(CertificateRow)
            .where(CertificateRow.claim_outbox_id == row.id)
            .values(claim_tx_hash=None, claim_block_number=None, confirmed_at=None)
        )
        s.execute(
            update(CertificateActionRow)
            .where(
                CertificateActionRow.outbox_id == row.id,
                CertificateActionRow.status == "confirmed",
            )
            .values(status=SENT, settled_at=None)
        )
    elif row.kind in LIFECYCLE_KINDS:
        for step in s.scalars(
            select(CertificateActionRow).where(CertificateActionRow.outbox_id == row.id)
        ):
            step.status, step.settled_at = SENT, None
            if step.action == Action.GIFT.value and step.deal_id is not None:
                s.execute(
                    update(CertificateDealRow)
                    .where(CertificateDealRow.id == step.deal_id)
                    .values(gift_nonce=None)
                )
            if step.action in LOCKING_ACTIONS:
                s.execute(
                    update(CertificateRow)
                    .where(
                        CertificateRow.id == step.certificate_id,
                        CertificateRow.state == step.to_state,
                    )
                    .values(locked_since=None)
                )
    elif row.kind == "anchor_log":
        s.execute(
            update(LogAnchorRow)
            .where(LogAnchorRow.outbox_id == row.id, LogAnchorRow.status == "anchored")
            .values(status="requested", anchored_at=None)
        )
    return touched(s, row)


def restore_claim_facts(s: Session, row: OutboxRow, receipt: Receipt) -> list[tuple[str, str, str]]:
    """After a taken-back claim is confirmed again: certificates that had moved on (so the
    confirmation did not activate them) get their mint back. Returns (public id, token id,
    owner) of each, for their ``CertificateClaimed`` event."""
    return [
        (r.public_id, r.token_id, r.owner_address)
        for r in s.execute(
            update(CertificateRow)
            .where(
                CertificateRow.claim_outbox_id == row.id,
                CertificateRow.claim_tx_hash.is_(None),
                CertificateRow.state.not_in(
                    (CertificateState.CLAIM_PENDING.value, CertificateState.CLAIM_FAILED.value)
                ),
            )
            .values(claim_tx_hash=receipt.tx_hash, claim_block_number=receipt.block_number)
            .returning(
                CertificateRow.public_id, CertificateRow.token_id, CertificateRow.owner_address
            )
        )
    ]
