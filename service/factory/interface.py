"""What other areas may use of the factory: the batch and item as values, the product's name a
batch froze, the PIN rules a claim checks, the errors raised on the factory's behalf (the chain
adapter maps a batch's reverts to them), the factory's events, and the reads of batches,
items and attestations other areas' units of work carry.

Pure: re-exports from the factory's domain and ports.
"""

from __future__ import annotations

from service.factory.domain.batches import Batch, BatchOwner, BatchStatus, product_name
from service.factory.domain.codes import normalise_pin, pin_matches
from service.factory.domain.errors import (
    BatchAlreadyAnchoredError,
    BatchNotFoundError,
    BatchRecalledError,
    BatchStateError,
    CodeNotFoundError,
    InvalidBatchError,
    ItemNotFoundError,
)
from service.factory.domain.events import (
    BatchAnchored,
    BatchCreated,
    BatchRecallConfirmed,
    BatchRecalled,
    CodesActivated,
)
from service.factory.domain.units import ItemRecord, LogisticUnit, UnitKind
from service.factory.ports import Attestation, AttestationReads, BatchReads, ItemReads

__all__ = [
    "Attestation",
    "AttestationReads",
    "Batch",
    "BatchAlreadyAnchoredError",
    "BatchAnchored",
    "BatchCreated",
    "BatchNotFoundError",
    "BatchOwner",
    "BatchReads",
    "BatchRecallConfirmed",
    "BatchRecalled",
    "BatchRecalledError",
    "BatchStateError",
    "BatchStatus",
    "CodeNotFoundError",
    "CodesActivated",
    "InvalidBatchError",
    "ItemNotFoundError",
    "ItemReads",
    "ItemRecord",
    "LogisticUnit",
    "UnitKind",
    "normalise_pin",
    "pin_matches",
    "product_name",
]
