"""What other areas may use of the ledger: the chain write they queue, the outbox they queue it
in (their chain ports take it), and how it stands; the errors the chain's state raises on
their behalf, and the ledger's events.

Pure: re-exports from the ledger's domain and ports. The confirmation handlers other areas
register for their kinds of writes meet the ledger in storage (the outbox's transaction), not
here: see ``service/ledger/storage``.
"""

from __future__ import annotations

from service.ledger.domain.errors import (
    ChainRejectedError,
    DeploymentNotFoundError,
    LedgerHeldError,
    LedgerUnavailableError,
    LogRangeError,
)
from service.ledger.domain.events import ChainWriteReincluded, ChainWriteRolledBack
from service.ledger.domain.outbox import ChainWrite, OutboxEntry, OutboxFlight
from service.ledger.ports import OutboxReads, OutboxRepository

__all__ = [
    "ChainRejectedError",
    "ChainWrite",
    "ChainWriteReincluded",
    "ChainWriteRolledBack",
    "DeploymentNotFoundError",
    "LedgerHeldError",
    "LedgerUnavailableError",
    "LogRangeError",
    "OutboxEntry",
    "OutboxFlight",
    "OutboxReads",
    "OutboxRepository",
]
