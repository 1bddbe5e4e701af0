"""Re-check, against the chain, every write a store holds as confirmed (all time, not a window).

The sender follows a confirmed write only inside the finality window. An operator who suspects
the chain lost more than that (a node restored from an old snapshot, a reorg deeper than the
window) runs this over the whole history: a write whose recorded block is still canonical costs
one call per distinct block; only the others are looked up by transaction hash.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum

from chain.client import ChainClient, Receipt
from chain.sender import TxAttempt, TxRequest, TxStore


class RecheckVerdict(StrEnum):
    """What the chain says about a write the store holds as confirmed."""

    #: In the very block the store recorded, and that block is canonical.
    OK = "ok"
    #: On the canonical chain, but in another block than the store recorded.
    MOVED = "moved"
    #: On the canonical chain, but reverted.
    REVERTED = "reverted"
    #: Not on the canonical chain at all.
    MISSING = "missing"


@dataclass(frozen=True)
class RecheckResult:
    """The verdict on one confirmed write, with the receipt the chain holds for it (if any)."""

    request: TxRequest
    verdict: RecheckVerdict
    receipt: Receipt | None = None


class _Canonical:
    """Canonical block hashes by number, read once each (kept for one page of writes)."""

    def __init__(self, client: ChainClient) -> None:
        self._client = client
        self._hashes: dict[int, bytes | None] = {}

    def __call__(self, number: int) -> bytes | None:
        if number not in self._hashes:
            self._hashes[number] = self._client.block_hash(number)
        return self._hashes[number]

    def clear(self) -> None:
        self._hashes.clear()


def recheck_one(
    client: ChainClient,
    request: TxRequest,
    attempts: list[TxAttempt],
    canonical: _Canonical | None = None,
) -> RecheckResult:
    """Check one confirmed write against the canonical chain.

    Args:
        client: the chain.
        request: a CONFIRMED request (with its recorded block and transaction hash).
        attempts: every attempt of the request (a replacement may be the one on chain).
        canonical: a cache of canonical hashes shared between calls.

    Returns:
        The verdict, with the receipt found on chain.

    Raises:
        ChainUnavailableError: if the node cannot be reached.
        ChainError: on any other node failure.
    """
    canonical = canonical or _Canonical(client)
    number, recorded = request.mined_block_number, request.mined_block_hash
    if number is not None and recorded is not None and canonical(number) == recorded:
        # The block commits to its transactions: the write is where the store says it is.
        return RecheckResult(request, RecheckVerdict.OK)
    hashes = [request.mined_tx_hash] if request.mined_tx_hash is not None else []
    hashes += [a.tx_hash for a in reversed(attempts) if a.tx_hash not in hashes]
    for tx_hash in hashes:
        receipt = client.receipt(tx_hash)
        if receipt is None or canonical(receipt.block_number) != receipt.block_hash:
            continue
        if receipt.status != 1:
            return RecheckResult(request, RecheckVerdict.REVERTED, receipt)
        return RecheckResult(request, RecheckVerdict.MOVED, receipt)
    return RecheckResult(request, RecheckVerdict.MISSING)


def recheck(client: ChainClient, store: TxStore, page_size: int = 500) -> Iterator[RecheckResult]:
    """Yield a verdict for every write ``store`` holds as confirmed, oldest first.

    Args:
        client: the chain.
        store: the sender's store.
        page_size: how many writes are read from the store at a time.

    Raises:
        ChainUnavailableError: if the node cannot be reached.
        ChainError: on any other node failure.
    """
    after = 0
    canonical = _Canonical(client)
    while True:
        page = store.confirmed_page(after, page_size)
        if not page:
            return
        for request, attempts in page:
            yield recheck_one(client, request, attempts, canonical)
        after = page[-1][0].id
        canonical.clear()
