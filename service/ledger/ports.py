"""What the ledger's use cases need of storage and the chain, and the reads other areas need of
the outbox."""

from __future__ import annotations

from typing import Protocol

from service.ledger.domain.outbox import OutboxEntry


class OutboxReads(Protocol):
    """Reading how a chain write stands: what other areas' units of work offer of the outbox."""

    def get(self, outbox_id: int) -> OutboxEntry | None: ...
