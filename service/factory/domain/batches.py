"""Production batches (lots): their attributes, packing, and the status machine.

::

    draft --generate--> generated --activate (all cases)--> activated --anchor--> anchoring
                                                                                    |   |
                                              anchored <--confirmed at depth K------+   |
                                              anchor_failed <--reverted-----------------+
    any status but recalled --recall--> recalled (final; the chain learns it once anchored)

Hashes (token ids, leaves, roots) need keccak, which is not in the standard library; they are
computed by the ``Commitments`` port and only carried here as bytes.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from service.factory.domain.errors import (
    BatchAlreadyAnchoredError,
    BatchRecalledError,
    BatchStateError,
    BatchTooLargeError,
    InvalidBatchError,
)
from service.kernel.gs1 import validate_lot
from service.kernel.text import printable

_PUBLIC_ID_RE = re.compile(r"b_[0-9a-f]{24}", re.ASCII)

MAX_LINE_LENGTH = 64
MAX_CASE_SIZE = 1_000
MAX_CASES_PER_PALLET = 10_000
MAX_RECALL_REASON = 1_000


class BatchStatus(StrEnum):
    """Where a batch is in its life (see the module docstring)."""

    DRAFT = "draft"
    GENERATED = "generated"
    ACTIVATED = "activated"
    ANCHORING = "anchoring"
    ANCHORED = "anchored"
    #: The anchor transaction failed for good (its decoded revert is kept on the outbox row);
    #: asking to anchor again queues a new transaction.
    ANCHOR_FAILED = "anchor_failed"
    RECALLED = "recalled"


def is_valid_public_id(value: str) -> bool:
    """Return whether ``value`` looks like a batch public id (``b_`` + 24 hex digits)."""
    return _PUBLIC_ID_RE.fullmatch(value) is not None


def new_public_id() -> str:
    """Return a fresh, unguessable batch public id."""
    return "b_" + secrets.token_hex(12)


def _printable(text: str, what: str, limit: int) -> str:
    return printable(text, limit, InvalidBatchError, f"The {what}")


@dataclass(frozen=True)
class Packing:
    """How items are packed: ``case_size`` items per case, ``cases_per_pallet`` per pallet."""

    case_size: int
    cases_per_pallet: int

    def cases_for(self, items: int) -> int:
        return -(-items // self.case_size)

    def pallets_for(self, items: int) -> int:
        return -(-self.cases_for(items) // self.cases_per_pallet)

    def items_in_case(self, position: int, items: int) -> int:
        """How many of ``items`` go into case ``position`` (the last case may be partial)."""
        return max(0, min(self.case_size, items - position * self.case_size))


@dataclass(frozen=True)
class BatchSpec:
    """A validated request for a new batch."""

    lot: str
    production_date: date
    line: str
    planned_quantity: int
    packing: Packing

    def attributes(self, gtin: str, factory_id: int, product: dict[str, Any]) -> dict[str, Any]:
        """Return the batch attributes every item leaf commits to (via their hash).

        They are public: anyone verifying an item recomputes their hash from this object.
        """
        return {
            "gtin": gtin,
            "lot": self.lot,
            "production_date": self.production_date.isoformat(),
            "factory": factory_id,
            "line": self.line,
            "product": product,
        }


def validate_spec(
    lot: str,
    production_date: date,
    line: str,
    planned_quantity: int,
    case_size: int,
    cases_per_pallet: int,
    max_items: int,
    today: date,
) -> BatchSpec:
    """Return a :class:`BatchSpec` if the request is acceptable.

    Raises:
        InvalidLotError: the lot is not a valid AI 10 value.
        BatchTooLargeError: more items than ``max_items``.
        InvalidBatchError: any other rule (quantities, line, a production date in the future).
    """
    lot = validate_lot(lot)
    line = _printable(line, "production line", MAX_LINE_LENGTH)
    if planned_quantity < 1:
        raise InvalidBatchError("A batch plans at least one item.")
    if planned_quantity > max_items:
        raise BatchTooLargeError(
            f"A batch holds at most {max_items:,} items (the configured cap); "
            "split it into several batches."
        )
    if not 1 <= case_size <= MAX_CASE_SIZE:
        raise InvalidBatchError(f"A case holds 1-{MAX_CASE_SIZE} items.")
    if not 1 <= cases_per_pallet <= MAX_CASES_PER_PALLET:
        raise InvalidBatchError(f"A pallet holds 1-{MAX_CASES_PER_PALLET} cases.")
    if production_date > today + timedelta(days=1):
        raise InvalidBatchError("The production date is in the future; send the real date.")
    return BatchSpec(
        lot, production_date, line, planned_quantity, Packing(case_size, cases_per_pallet)
    )


def validate_recall_reason(reason: str) -> str:
    """Return a recall reason: printable text of 1-1000 characters."""
    return _printable(reason, "recall reason", MAX_RECALL_REASON)


@dataclass(frozen=True)
class BatchOwner:
    """Whose a batch is, by what never changes once it exists: what a channel scan needs of
    it (another brand's goods answer as unknown codes; an alert names the batch)."""

    public_id: str
    brand_id: int | None


@dataclass
class Batch:
    """A production batch (lot) of one product, made by one factory."""

    public_id: str
    organisation_id: int
    lot: str
    chain_batch_id: bytes
    metadata_hash: bytes
    metadata: dict[str, Any] = field(default_factory=dict)
    product_id: int | None = None
    brand_id: int | None = None
    gtin: str | None = None
    production_date: date | None = None
    line: str | None = None
    planned_quantity: int = 0
    case_size: int = 0
    cases_per_pallet: int = 0
    root: bytes | None = None
    item_count: int = 0
    status: BatchStatus = BatchStatus.DRAFT
    outbox_id: int | None = None
    recall_reason: str | None = None
    recalled_at: datetime | None = None
    recall_outbox_id: int | None = None
    created_at: datetime | None = None
    id: int | None = None

    @property
    def packing(self) -> Packing:
        return Packing(self.case_size, self.cases_per_pallet)

    def _refuse_if_recalled(self) -> None:
        if self.status is BatchStatus.RECALLED:
            raise BatchRecalledError()

    def require_generatable(self) -> None:
        """Raise unless codes may be generated now (only once, from a draft)."""
        self._refuse_if_recalled()
        if self.status is not BatchStatus.DRAFT:
            raise BatchStateError(
                f"The batch is '{self.status}': its codes were generated already."
            )

    def require_activatable(self) -> None:
        """Raise unless codes of this batch may be activated (generated, not recalled)."""
        self._refuse_if_recalled()
        if self.status is BatchStatus.DRAFT:
            raise BatchStateError("The batch is a draft: generate its codes before activating.")

    def require_anchorable(self) -> bool:
        """Return True if an anchor may be queued now, False if one is already in flight.

        Raises:
            BatchStateError: codes not generated or not all activated yet.
            BatchAlreadyAnchoredError: the batch is anchored already.
            BatchRecalledError: the batch is recalled.
        """
        self._refuse_if_recalled()
        if self.status in (BatchStatus.DRAFT, BatchStatus.GENERATED):
            raise BatchStateError(
                f"The batch is '{self.status}': generate and activate all its codes "
                "before anchoring it."
            )
        if self.status is BatchStatus.ANCHORED:
            raise BatchAlreadyAnchoredError()
        return self.status in (BatchStatus.ACTIVATED, BatchStatus.ANCHOR_FAILED)

    def require_attestable(self) -> None:
        """Raise unless the batch is anchored (the contract attests anchored batches only)."""
        self._refuse_if_recalled()
        if self.status is not BatchStatus.ANCHORED:
            raise BatchStateError(
                f"The batch is '{self.status}': only an anchored batch can be attested; "
                "wait until its anchor is confirmed."
            )

    def require_recallable(self) -> None:
        """Raise if the batch is recalled already (a recall is final)."""
        if self.status is BatchStatus.RECALLED:
            raise BatchRecalledError("The batch is recalled already; a recall is final.")

    @property
    def chain_knows_it(self) -> bool:
        """Whether a chain anchor exists or is in flight, so a recall must go on chain too."""
        return self.status in (BatchStatus.ANCHORING, BatchStatus.ANCHORED) or (
            self.status is BatchStatus.RECALLED and self.outbox_id is not None
        )


def product_name(batch: Batch | None) -> str | None:
    """The product's name as the batch's public attributes froze it at planning."""
    if batch is None:
        return None
    product = (batch.metadata or {}).get("product")
    name = product.get("name") if isinstance(product, dict) else None
    return name if isinstance(name, str) else None
