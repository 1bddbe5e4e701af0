"""The ledger's events: a confirmed chain write taken back by a reorg, or included again."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from service.kernel.events import Event


@dataclass(frozen=True)
class ChainWriteRolledBack(Event):
    """A confirmed chain write left the chain (a reorg, a node that lost blocks) and can never
    be mined as it was: what it did was taken back (a batch is ``anchoring`` again, claims are
    ``claim_pending``, a step is pending) and it is queued again; its next confirmation does it
    again. Names the rows it touched, so a replay of the log reaches the same state."""

    type: ClassVar[str] = "ChainWriteRolledBack"
    outbox_id: int
    kind: str
    tx_hash: bytes
    block_number: int
    reason: str
    batch_id: str | None = None
    certificate_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class ChainWriteReincluded(Event):
    """A confirmed chain write left its block in a reorg and was confirmed again in another:
    every block number and transaction hash derived from it now names the new inclusion."""

    type: ClassVar[str] = "ChainWriteReincluded"
    outbox_id: int
    kind: str
    old_tx_hash: bytes
    old_block_number: int
    tx_hash: bytes
    block_number: int
    batch_id: str | None = None
    certificate_ids: tuple[str, ...] = ()
