"""What a scan of an item code says: the verdict and whether it must alert the brand.

The chain is the truth (RELIABILITY). The verdict is decided from two views of the item's
batch: what the database holds (:class:`BatchOnRecord`) and what the registry holds
(:class:`BatchOnChain`, its ``batch(batchId)``). Whenever the database holds the batch as
anchored and the two disagree about it (root, item count, metadata hash, recall, or the chain
has no such batch), the verdict is ``mismatch``, never ``genuine``. One disagreement is not
one: a recall the database holds whose chain write is still in flight; that batch is
``recalled`` (safety first).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, StrEnum

from service.factory.interface import BatchStatus


class Verdict(StrEnum):
    """The answer to "is this bottle genuine?"."""

    #: Activated, in an anchored batch the chain holds as the database does, and its proof
    #: folds to the root the chain stores.
    GENUINE = "genuine"
    #: No such code, or a known serial under another product or lot: likely counterfeit.
    UNKNOWN = "unknown"
    #: The code exists but was never activated at the line: a leaked or over-printed code.
    NOT_ACTIVATED = "not_activated"
    #: Activated, but its batch is not anchored on chain yet, so it cannot be proven yet.
    NOT_ANCHORED = "not_anchored"
    #: Its batch was recalled by the brand.
    RECALLED = "recalled"
    #: Its certificate was redeemed for the physical bottle: the code is dead; a bottle
    #: showing it now is a refill or a copy.
    REDEEMED = "redeemed"
    #: The database and the chain disagree about the batch, or the item's proof does not fold
    #: to the root: the records were altered.
    MISMATCH = "mismatch"
    #: Genuine, but its code was scanned from too many regions or devices lately: it may be printed
    #: on copies. A flag that informs; it never stops a claim (``service.consumer.domain.scans``).
    SUSPECTED_CLONE = "suspected_clone"


#: Verdicts of a code we made, activated and proven on chain (``genuine`` in the answer).
PROVEN = frozenset({Verdict.GENUINE, Verdict.SUSPECTED_CLONE})


@dataclass(frozen=True)
class BatchOnChain:
    """What the registry holds for an anchored batch (``batch(batchId)``)."""

    root: bytes
    item_count: int
    recalled: bool
    metadata_hash: bytes


@dataclass(frozen=True)
class BatchOnRecord:
    """What the database holds for a batch, as far as the chain can contradict it."""

    status: BatchStatus
    root: bytes | None
    item_count: int
    metadata_hash: bytes
    #: Its anchor transaction is confirmed (``anchored`` says so; a recalled batch may or may
    #: not have been anchored before its recall).
    anchor_confirmed: bool = False
    #: Its recall's chain write is confirmed (a recalled batch only).
    recall_confirmed: bool = False

    @property
    def on_chain(self) -> bool:
        """Whether the database holds the batch as anchored: then the chain must agree."""
        return self.status is BatchStatus.ANCHORED or (
            self.status is BatchStatus.RECALLED and self.anchor_confirmed
        )


class ChainNotRead(Enum):
    """The chain's view was not read (the node is down, or nothing asks for it)."""

    NOT_READ = "not_read"


#: The chain's view when it was not read.
NOT_READ = ChainNotRead.NOT_READ


def differences(record: BatchOnRecord, chain: BatchOnChain | None) -> tuple[str, ...]:
    """Return what the database and the chain disagree about, by field name.

    ``anchored`` when the chain holds no such batch; ``root``, ``item_count``,
    ``metadata_hash``; ``recalled`` when the chain recalled a batch the database does not
    hold as recalled, or the database holds a recall as confirmed that the chain does not
    have. A recall whose chain write is in flight is no difference. A batch the database does
    not hold as anchored is never genuine whatever the chain says, so it is not compared.
    """
    if not record.on_chain:
        return ()
    if chain is None:
        return ("anchored",)
    found = []
    if chain.root != record.root:
        found.append("root")
    if chain.item_count != record.item_count:
        found.append("item_count")
    if chain.metadata_hash != record.metadata_hash:
        found.append("metadata_hash")
    recalled_here = record.status is BatchStatus.RECALLED
    if chain.recalled != recalled_here and (chain.recalled or record.recall_confirmed):
        found.append("recalled")
    return tuple(found)


def verdict(
    record: BatchOnRecord,
    chain: BatchOnChain | ChainNotRead | None,
    activated: bool,
    proof_valid: bool,
    redeemed: bool = False,
) -> Verdict:
    """Return the verdict for a known item.

    ``chain`` is the registry's record of the batch (None: it holds none), or
    :data:`NOT_READ`. ``proof_valid``: the item's stored leaf is its leaf and its proof folds
    to the database's root. Any difference between the two views is a ``mismatch``; then a
    recall outranks everything (it is a safety notice, shown without the chain), and a
    redeemed certificate comes next (the code is dead).

    Raises:
        ValueError: the database holds the batch as anchored, it is not recalled, and the
            chain was not read: such a verdict cannot be given without the chain.
    """
    if record.on_chain:
        if isinstance(chain, ChainNotRead):
            if record.status is not BatchStatus.RECALLED:
                raise ValueError("the verdict of an anchored batch needs the chain's view")
        elif differences(record, chain):
            return Verdict.MISMATCH
    if record.status is BatchStatus.RECALLED:
        return Verdict.RECALLED
    if redeemed:
        return Verdict.REDEEMED
    if not activated:
        return Verdict.NOT_ACTIVATED
    if record.status is not BatchStatus.ANCHORED:
        return Verdict.NOT_ANCHORED
    return Verdict.GENUINE if proof_valid else Verdict.MISMATCH


def alerts_brand(result: Verdict, anonymous: bool) -> bool:
    """Return whether a scan with this verdict raises an alert for the brand.

    A consumer (anonymous) scan of an inert code may mean a leaked code file; a partner
    scanning at the line sees the same verdict without an alert. A mismatch always alerts.
    """
    if result is Verdict.MISMATCH:
        return True
    return anonymous and result is Verdict.NOT_ACTIVATED
