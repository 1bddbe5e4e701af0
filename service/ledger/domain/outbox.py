"""The outbox's values: a chain write to send, how one stands, how a sender's writes stand."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class ChainWrite:
    """A chain write for the outbox: calldata for a contract, deduplicated by key."""

    kind: str
    dedupe_key: str
    to: str
    data: bytes
    value: int = 0
    #: Another outbox write that must be confirmed before this one is sent.
    depends_on: int | None = None


@dataclass(frozen=True)
class OutboxEntry:
    """The state of one chain write as the sender left it."""

    id: int
    kind: str
    status: str
    tx_hash: bytes | None
    block_number: int | None
    failure_reason: str | None
    error_name: str | None


@dataclass(frozen=True)
class OutboxFlight:
    """How one sender's writes stand, as the database holds them (for /health)."""

    #: When the oldest write in flight first went out (or went back out after a reorg).
    oldest_in_flight_at: datetime | None
    lowest_in_flight_nonce: int | None
    #: Confirmed writes a reorg removed, being sent again with their effect kept.
    reorged: int
    #: The highest nonces of confirmed writes, highest first (a bounded few): any at or above
    #: the chain's nonce is a confirmed write the chain does not hold.
    top_confirmed_nonces: tuple[int, ...]
