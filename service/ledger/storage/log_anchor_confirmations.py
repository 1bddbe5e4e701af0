"""What the chain's answer to an ``anchor_log`` write does to its ``log_anchors`` row (ledger).

Registered in the outbox's :class:`~service.ledger.storage.confirmations.ConfirmationRegistry` for
``anchor_log``; it lives beside the log anchors' repository and moves with it.

Confirmed, the row becomes ``anchored``; failed, ``failed`` (the next anchor covers a larger
size, so the log stays anchored; this row must simply never claim to be on chain); taken back
by a reorg, ``requested`` again. NO event is ever logged for it: an event would grow the log,
the anchorer would anchor the new size, whose confirmation would log another event... the
anchorer would chase its own tail forever. Log anchors are visible on chain (``LogAnchored``)
and in ``log_anchors`` instead.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import update

from chain.client import Receipt
from service.ledger.storage.confirmations import Settlement, Touched, Write
from service.ledger.storage.rows import LogAnchorRow

#: The outbox kind of a log anchor.
LOG_ANCHOR_KINDS = ("anchor_log",)


class LogAnchorConfirmations:
    """The confirmation handler of ``anchor_log``: it changes ``log_anchors`` only."""

    #: Its own event would grow the log it anchors (see the module docstring).
    logs_chain_facts = False

    def confirmed(self, tx: Settlement, write: Write, receipt: Receipt, again: bool) -> None:
        tx.session.execute(
            update(LogAnchorRow)
            .where(LogAnchorRow.outbox_id == write.id)
            .values(status="anchored", anchored_at=tx.now)
        )

    def failed(
        self, tx: Settlement, writes: Sequence[Write], reason: str, revert: str | None
    ) -> None:
        tx.session.execute(
            update(LogAnchorRow)
            .where(LogAnchorRow.outbox_id.in_([write.id for write in writes]))
            .values(status="failed")
        )

    def taken_back(self, tx: Settlement, write: Write) -> Touched:
        tx.session.execute(
            update(LogAnchorRow)
            .where(LogAnchorRow.outbox_id == write.id, LogAnchorRow.status == "anchored")
            .values(status="requested", anchored_at=None)
        )
        return Touched()

    def reincluded(self, tx: Settlement, write: Write, receipt: Receipt) -> Touched:
        return Touched()
