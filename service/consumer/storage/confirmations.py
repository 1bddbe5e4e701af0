"""What the chain's answer to a certificate's write does to certificates, steps, deals and
wallet nonces (the consumer's outbox kinds).

Registered in the outbox's :class:`~service.ledger.storage.confirmations.ConfirmationRegistry`:
:class:`ClaimConfirmations` for ``claim`` / ``claim_batch`` (mints), :class:`StepConfirmations`
for ``forward`` / ``relay`` (a lifecycle step), :class:`RoleGrantConfirmations` for
``grant_role`` (a counterparty's wallet). It lives beside the certificate storage and moves
with it. The state changes are the domain's rules (``service.consumer.domain.certificates``:
``CLAIM_CONFIRMED``, ``CLAIM_FAILED``, ``CLAIM_TAKEN_BACK``, ``step_starts_lock_clock``,
``step_undone``); here they are applied in bulk, each guarded by the state (and version) it
expects, one ``UPDATE ... RETURNING`` per outcome. Every method runs in the outbox's
transaction.

* **claims** confirmed -> each certificate the write minted becomes ``active`` with a
  ``CertificateClaimed`` event; each claim the contract skipped (``CertificateClaimSkipped``:
  already claimed, batch recalled...) becomes ``claim_failed`` with a ``CertificateClaimFailed``
  event naming the reason. A failed shared ``claim_batch`` (a whole-call revert) sends its
  claims again one by one; a failed lone ``claim`` leaves its certificate ``claim_failed``.
* **steps** confirmed -> ``CertificateActionConfirmed``; a gift learns its on-chain nonce, a
  pledge or a deposit starts its lock clock. Failed -> what the step changed is put back (if
  nothing changed since) with ``CertificateActionFailed``, and its wallet's nonce is rewound:
  the forwarder never used it.
* **taken back** by a reorg -> the claims are ``claim_pending`` again, a step pending (its gift
  nonce and lock clock cleared); **re-included** -> the certificates' claim transaction and
  block, or a gift's nonce, name the new inclusion.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_utils.crypto import keccak
from sqlalchemy import Update, select, update
from sqlalchemy.orm import Session

from chain.client import Receipt
from chain.contracts.certificate_registry import claim_skips
from service.consumer.domain.certificates import (
    CLAIM_CONFIRMED,
    CLAIM_FAILED,
    CLAIM_TAKEN_BACK,
    LOCKING_ACTIONS,
    UNMINTED_STATES,
    Action,
    Transition,
    step_starts_lock_clock,
    step_undone,
)
from service.consumer.domain.events import (
    CertificateActionConfirmed,
    CertificateActionFailed,
    CertificateClaimed,
    CertificateClaimFailed,
)
from service.consumer.storage.certificates import QUEUED_ALONE, SENT
from service.consumer.storage.rows import (
    CertificateActionRow,
    CertificateDealRow,
    CertificateRow,
    WalletNonceRow,
)
from service.ledger.storage.confirmations import NoEffect, Settlement, Touched, Write

#: Outbox kinds that mint certificates.
CLAIM_KINDS = ("claim", "claim_batch")
#: Outbox kinds that carry a certificate's lifecycle step.
LIFECYCLE_KINDS = ("forward", "relay")
#: The outbox kind that grants a counterparty's wallet (pledgee, custodian, store) its role.
ROLE_GRANT_KINDS = ("grant_role",)
#: ``GiftCreated(uint256 indexed,address indexed,address,uint64,uint64)``.
GIFT_CREATED = keccak(b"GiftCreated(uint256,address,address,uint64,uint64)")


def gift_nonce(receipt: Receipt) -> int | None:
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


def _claims_move(write: Write, rule: Transition, **values: Any) -> Update:
    """The domain's ``rule`` applied to the certificates ``write`` claims, in one bulk
    ``UPDATE`` guarded by the state it expects (a certificate that moved on is left alone)."""
    return (
        update(CertificateRow)
        .where(
            CertificateRow.claim_outbox_id == write.id,
            CertificateRow.state == rule.source.value,
        )
        .values(state=rule.target.value, version=CertificateRow.version + 1, **values)
    )


def _log_claimed(tx: Settlement, minted: Iterable[Sequence[Any]], receipt: Receipt) -> None:
    """One ``CertificateClaimed`` per (public id, token id, owner) minted by ``receipt``."""
    for public_id, token_id, owner in minted:
        tx.log(
            CertificateClaimed(public_id, token_id, owner, receipt.tx_hash, receipt.block_number)
        )


class ClaimConfirmations:
    """The confirmation handler of ``claim`` and ``claim_batch``: certificates are minted."""

    logs_chain_facts = True

    def confirmed(self, tx: Settlement, write: Write, receipt: Receipt, again: bool) -> None:
        self._skipped(tx, write, receipt)
        self._minted(tx, write, receipt)
        if again:  # confirmed again after its effect was taken back
            _log_claimed(tx, self._restore_mints(tx.session, write, receipt), receipt)

    def _minted(self, tx: Settlement, write: Write, receipt: Receipt) -> None:
        """Every certificate this write minted becomes ``active``, with its event."""
        s = tx.session
        minted = s.execute(
            _claims_move(
                write,
                CLAIM_CONFIRMED,
                claim_tx_hash=receipt.tx_hash,
                claim_block_number=receipt.block_number,
                confirmed_at=tx.now,
            ).returning(
                CertificateRow.public_id, CertificateRow.token_id, CertificateRow.owner_address
            )
        ).all()
        s.execute(
            update(CertificateActionRow)
            .where(
                CertificateActionRow.outbox_id == write.id,
                CertificateActionRow.status != "failed",
            )
            .values(status="confirmed", settled_at=tx.now)
        )
        _log_claimed(tx, sorted(minted), receipt)

    def _skipped(self, tx: Settlement, write: Write, receipt: Receipt) -> None:
        """The claims a confirmed ``claimBatch`` skipped failed for good (the contract named
        the reason of each: someone claimed it first, its batch was recalled...)."""
        reasons = {str(skip.token_id): skip.reason for skip in claim_skips(receipt, write.to)}
        if not reasons:
            return
        s = tx.session
        failed = s.execute(
            _claims_move(write, CLAIM_FAILED)
            .where(CertificateRow.token_id.in_(list(reasons)))
            .returning(CertificateRow.id, CertificateRow.public_id, CertificateRow.token_id)
        ).all()
        if not failed:
            return
        s.execute(
            update(CertificateActionRow)
            .where(
                CertificateActionRow.outbox_id == write.id,
                CertificateActionRow.certificate_id.in_([row.id for row in failed]),
            )
            .values(status="failed", settled_at=tx.now)
        )
        for _, public_id, token_id in sorted(failed, key=lambda row: row.public_id):
            tx.log(CertificateClaimFailed(public_id, token_id, write.id, reasons[token_id]))

    @staticmethod
    def _restore_mints(s: Session, write: Write, receipt: Receipt) -> list[tuple[str, str, str]]:
        """After a taken-back claim is confirmed again: certificates that had moved on (so the
        confirmation did not activate them) get their mint back. Returns (public id, token id,
        owner) of each, for their ``CertificateClaimed`` event."""
        return [
            (r.public_id, r.token_id, r.owner_address)
            for r in s.execute(
                update(CertificateRow)
                .where(
                    CertificateRow.claim_outbox_id == write.id,
                    CertificateRow.claim_tx_hash.is_(None),
                    CertificateRow.state.not_in(sorted(state.value for state in UNMINTED_STATES)),
                )
                .values(claim_tx_hash=receipt.tx_hash, claim_block_number=receipt.block_number)
                .returning(
                    CertificateRow.public_id, CertificateRow.token_id, CertificateRow.owner_address
                )
            )
        ]

    def failed(
        self, tx: Settlement, writes: Sequence[Write], reason: str, revert: str | None
    ) -> None:
        """A shared claim transaction that failed sends each claim again alone; a claim that
        failed alone failed for good (the contract refused exactly it)."""
        error = revert if revert is not None else reason[:200]
        s = tx.session
        for write in writes:
            if write.kind == "claim_batch":
                s.execute(
                    update(CertificateActionRow)
                    .where(CertificateActionRow.outbox_id == write.id)
                    .values(status=QUEUED_ALONE, outbox_id=None)
                )
                s.execute(
                    update(CertificateRow)
                    .where(CertificateRow.claim_outbox_id == write.id)
                    .values(claim_outbox_id=None)
                )
                continue
            failed = s.execute(
                _claims_move(write, CLAIM_FAILED).returning(
                    CertificateRow.public_id, CertificateRow.token_id
                )
            ).all()
            s.execute(
                update(CertificateActionRow)
                .where(CertificateActionRow.outbox_id == write.id)
                .values(status="failed", settled_at=tx.now)
            )
            for public_id, token_id in failed:
                tx.log(CertificateClaimFailed(public_id, token_id, write.id, error))

    def taken_back(self, tx: Settlement, write: Write) -> Touched:
        s = tx.session
        s.execute(_claims_move(write, CLAIM_TAKEN_BACK))
        # A certificate that moved on since keeps its state, but no longer claims a mint.
        s.execute(
            update(CertificateRow)
            .where(CertificateRow.claim_outbox_id == write.id)
            .values(claim_tx_hash=None, claim_block_number=None, confirmed_at=None)
        )
        s.execute(
            update(CertificateActionRow)
            .where(
                CertificateActionRow.outbox_id == write.id,
                CertificateActionRow.status == "confirmed",
            )
            .values(status=SENT, settled_at=None)
        )
        return self._touched(s, write)

    def reincluded(self, tx: Settlement, write: Write, receipt: Receipt) -> Touched:
        tx.session.execute(
            update(CertificateRow)
            .where(
                CertificateRow.claim_outbox_id == write.id,
                CertificateRow.claim_tx_hash.is_not(None),
            )
            .values(claim_tx_hash=receipt.tx_hash, claim_block_number=receipt.block_number)
        )
        return self._touched(tx.session, write)

    @staticmethod
    def _touched(s: Session, write: Write) -> Touched:
        ids = s.scalars(
            select(CertificateRow.public_id).where(CertificateRow.claim_outbox_id == write.id)
        )
        return Touched(certificate_ids=tuple(sorted(ids)))


class StepConfirmations:
    """The confirmation handler of ``forward`` and ``relay``: a certificate's lifecycle step
    (gift, pledge, custody, redemption) on chain."""

    logs_chain_facts = True

    def confirmed(self, tx: Settlement, write: Write, receipt: Receipt, again: bool) -> None:
        """The step this write carried is on chain: a gift learns its nonce, a pledge or a
        deposit starts its lock clock."""
        s = tx.session
        steps = s.scalars(
            select(CertificateActionRow).where(CertificateActionRow.outbox_id == write.id)
        ).all()
        for step in steps:
            step.status, step.settled_at = "confirmed", tx.now
            certificate = s.get(CertificateRow, step.certificate_id)
            if step.action == Action.GIFT.value and step.deal_id is not None:
                nonce = gift_nonce(receipt)
                if nonce is not None:
                    s.execute(
                        update(CertificateDealRow)
                        .where(CertificateDealRow.id == step.deal_id)
                        .values(gift_nonce=nonce)
                    )
            if certificate is not None and step_starts_lock_clock(
                step.action, certificate.state, step.to_state
            ):
                certificate.locked_since = tx.now
            if certificate is not None:
                tx.log(
                    CertificateActionConfirmed(
                        certificate.public_id,
                        step.action,
                        receipt.tx_hash,
                        receipt.block_number,
                    )
                )

    def failed(
        self, tx: Settlement, writes: Sequence[Write], reason: str, revert: str | None
    ) -> None:
        """Put back what each failed step changed (if nothing changed since), and rewind its
        wallet's nonce: the forwarder never used it."""
        error = revert if revert is not None else reason[:200]
        request_ids = [write.id for write in writes]
        s = tx.session
        steps = s.scalars(
            select(CertificateActionRow)
            .where(CertificateActionRow.outbox_id.in_(request_ids))
            .order_by(CertificateActionRow.id.desc())
        ).all()
        for step in steps:
            step.status, step.settled_at = "failed", tx.now
            undo = step.undo or {}
            certificate = s.get(CertificateRow, step.certificate_id)
            if certificate is not None:
                before = {
                    name: _restored(name, value)
                    for name, value in (undo.get("certificate") or {}).items()
                }
                for name, value in (
                    step_undone(certificate.version, step.version_after, before) or {}
                ).items():
                    setattr(certificate, name, value)
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
                tx.log(
                    CertificateActionFailed(
                        certificate.public_id, step.action, step.outbox_id or 0, error
                    )
                )

    def taken_back(self, tx: Settlement, write: Write) -> Touched:
        s = tx.session
        for step in s.scalars(
            select(CertificateActionRow).where(CertificateActionRow.outbox_id == write.id)
        ):
            step.status, step.settled_at = SENT, None
            if step.action == Action.GIFT.value and step.deal_id is not None:
                s.execute(
                    update(CertificateDealRow)
                    .where(CertificateDealRow.id == step.deal_id)
                    .values(gift_nonce=None)
                )
            if step.action in LOCKING_ACTIONS:
                # The lock clock started with the confirmation, if the certificate was still
                # where the step led (``step_starts_lock_clock``): it stops with it.
                s.execute(
                    update(CertificateRow)
                    .where(
                        CertificateRow.id == step.certificate_id,
                        CertificateRow.state == step.to_state,
                    )
                    .values(locked_since=None)
                )
        return self._touched(s, write)

    def reincluded(self, tx: Settlement, write: Write, receipt: Receipt) -> Touched:
        nonce = gift_nonce(receipt)
        if nonce is not None:
            # Gift nonces count on chain: included in another order, a gift may hold another one.
            deals = select(CertificateActionRow.deal_id).where(
                CertificateActionRow.outbox_id == write.id,
                CertificateActionRow.action == Action.GIFT.value,
            )
            tx.session.execute(
                update(CertificateDealRow)
                .where(CertificateDealRow.id.in_(deals))
                .values(gift_nonce=nonce)
            )
        return self._touched(tx.session, write)

    @staticmethod
    def _touched(s: Session, write: Write) -> Touched:
        ids = s.scalars(
            select(CertificateRow.public_id)
            .join(CertificateActionRow, CertificateActionRow.certificate_id == CertificateRow.id)
            .where(CertificateActionRow.outbox_id == write.id)
        )
        return Touched(certificate_ids=tuple(sorted(set(ids))))


class RoleGrantConfirmations(NoEffect):
    """The confirmation handler of ``grant_role``: a counterparty's wallet gets its role on
    chain. Nothing to apply: its deals wait until the outbox row says ``confirmed``. Unlike a
    gap filler, its chain facts are logged (re-included, rolled back)."""

    logs_chain_facts = True
