"""Production batches: the rules for item ids and the anchoring state machine.

Hashes (token ids, leaves, roots) need keccak, which is not in the standard library; they are
computed by the ``Commitments`` port and only carried here as bytes.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from service.domain.errors import InvalidBatchError

#: Item ids and lots: 1-64 ASCII characters, no spaces, nothing that needs escaping in a URL path.
_ID_RE = re.compile(r"[A-Za-z0-9._:-]{1,64}", re.ASCII)
_PUBLIC_ID_RE = re.compile(r"b_[0-9a-f]{24}", re.ASCII)

MAX_METADATA_BYTES = 8192


class BatchStatus(StrEnum):
    """Where a batch is on its way onto the chain."""

    CREATED = "created"
    ANCHORING = "anchoring"
    ANCHORED = "anchored"
    #: The anchor transaction failed for good (its decoded revert is kept on the outbox row);
    #: asking to anchor again queues a new transaction.
    ANCHOR_FAILED = "anchor_failed"


def is_valid_item_id(value: str) -> bool:
    """Return whether ``value`` is a well-formed item id."""
    return _ID_RE.fullmatch(value) is not None


def is_valid_public_id(value: str) -> bool:
    """Return whether ``value`` looks like a batch public id (``b_`` + 24 hex digits)."""
    return _PUBLIC_ID_RE.fullmatch(value) is not None


def new_public_id() -> str:
    """Return a fresh, unguessable batch public id."""
    return "b_" + secrets.token_hex(12)


def validate_lot(lot: str) -> str:
    """Return ``lot`` if well formed, else raise :class:`InvalidBatchError`."""
    if _ID_RE.fullmatch(lot) is None:
        raise InvalidBatchError(
            "The lot must be 1-64 characters of A-Z, a-z, 0-9, '.', '_', ':' or '-'."
        )
    return lot


def validate_item_ids(item_ids: list[str], max_items: int) -> tuple[str, ...]:
    """Return the item ids as a tuple if they form a valid batch.

    Raises:
        InvalidBatchError: empty, too many, malformed or duplicate ids.
    """
    if not item_ids:
        raise InvalidBatchError("A batch needs at least one item id.")
    if len(item_ids) > max_items:
        raise InvalidBatchError(
            f"A batch holds at most {max_items} items; split it into several batches."
        )
    seen: set[str] = set()
    for position, item_id in enumerate(item_ids):
        if not isinstance(item_id, str) or _ID_RE.fullmatch(item_id) is None:
            raise InvalidBatchError(
                f"Item {position} is not a valid item id: use 1-64 characters of "
                "A-Z, a-z, 0-9, '.', '_', ':' or '-'."
            )
        if item_id in seen:
            raise InvalidBatchError(
                f"Item {position} repeats the item id {item_id!r}; every item id must be unique."
            )
        seen.add(item_id)
    return tuple(item_ids)


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def validate_metadata(metadata: dict[str, Any], canonical_size: int) -> dict[str, Any]:
    """Return ``metadata`` if its canonical form is small and free of NUL characters."""
    if _has_nul(metadata):
        raise InvalidBatchError("Batch metadata may not contain NUL characters.")
    if canonical_size > MAX_METADATA_BYTES:
        raise InvalidBatchError(
            f"Batch metadata is {canonical_size} bytes; keep it under {MAX_METADATA_BYTES}."
        )
    return metadata


@dataclass(frozen=True)
class ItemCommitment:
    """An item's place in its batch tree."""

    item_id: str
    token_id: int
    item_hash: bytes
    leaf: bytes
    leaf_index: int


@dataclass(frozen=True)
class BatchCommitment:
    """What goes on chain for a batch: its chain id, Merkle root and metadata hash."""

    chain_batch_id: bytes
    root: bytes
    metadata_hash: bytes
    items: tuple[ItemCommitment, ...]


@dataclass
class Batch:
    """A production batch of uniquely coded items."""

    public_id: str
    organisation_id: int
    lot: str
    chain_batch_id: bytes
    root: bytes
    item_count: int
    metadata_hash: bytes
    metadata: dict[str, Any] = field(default_factory=dict)
    status: BatchStatus = BatchStatus.CREATED
    outbox_id: int | None = None
    created_at: datetime | None = None
    id: int | None = None

    @property
    def can_start_anchoring(self) -> bool:
        """Return whether an anchor request may still be queued for this batch."""
        return self.status == BatchStatus.CREATED
