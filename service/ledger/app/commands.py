"""What a caller asks of the ledger: anchor the event log's current root."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AnchorLog:
    """Periodic: queue an anchor of the event log root if the log grew."""
