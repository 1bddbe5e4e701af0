"""Hashes and trees on ``chain.merkle`` (keccak, OpenZeppelin) and ``chain.log`` (RFC 6962).

Derivations (stable; changing one changes every root already on chain):

* chain batch id  = keccak256("tracecert:batch:" + public id)
* attributes hash = keccak256(canonical JSON of the batch attributes) -- the on-chain
  ``metadataHash``; the attributes (GTIN, lot, date, factory, line, product) are public
* item hash       = keccak256(attributes hash || keccak256(serial))
* token id        = uint256(keccak256(chain batch id || item hash))
                  = the contract's ``tokenIdOf(batchId, itemHash)`` (``abi.encode`` of two
                  words is their concatenation), which every claim must match: a token is bound
                  to its batch, so a serial reused in another batch, or re-anchored after a
                  recall, is another token and can never take or revive this one
* leaf            = chain.merkle.item_leaf(chain batch id, token id, item hash)
                  = keccak256(keccak256(chain batch id || token id || item hash))

So a leaf commits to the item (its token id), a hash of its serial and a hash of the batch
attributes, and never to the PIN. Anyone holding the serial, the published attributes and the
proof can recompute the item hash, the token id (``cast call <registry> "tokenIdOf(bytes32,
bytes32)"``) and the leaf, and ask the contract's ``verifyItem``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from chain import log as event_log
from chain import merkle
from chain._keccak import keccak256
from service.kernel.events import canonical_json


def chain_batch_id(public_id: str) -> bytes:
    return keccak256(b"tracecert:batch:" + public_id.encode("ascii"))


def token_id(chain_batch_id: bytes, item_hash: bytes) -> int:
    return merkle.token_id_of(chain_batch_id, item_hash)


def item_hash(attributes_hash: bytes, serial: str) -> bytes:
    return keccak256(attributes_hash + keccak256(serial.encode("ascii")))


#: Leaf hashes read per query while folding the log (32 bytes each).
_LEAF_PAGE = 50_000


class ChainCommitments:
    """The ``Commitments`` port on the chain package's hash functions."""

    def __init__(self) -> None:
        self._log_lock = threading.Lock()
        self._log_frontier = event_log.LogFrontier()

    def chain_batch_id(self, public_id: str) -> bytes:
        return chain_batch_id(public_id)

    def attributes_hash(self, attributes: dict[str, Any]) -> bytes:
        return keccak256(canonical_json(attributes))

    def text_hash(self, text: str) -> bytes:
        return keccak256(text.encode("utf-8"))

    def token_id(self, chain_batch_id: bytes, item_hash: bytes) -> int:
        return token_id(chain_batch_id, item_hash)

    def commit_items(
        self, chain_batch_id: bytes, attributes_hash: bytes, serials: Sequence[str]
    ) -> tuple[list[bytes], list[bytes]]:
        if len(chain_batch_id) != 32 or len(attributes_hash) != 32:
            raise ValueError("batch id and attributes hash must be 32 bytes")
        # The hot loop of code generation (5 keccaks per item): plain comprehensions over the
        # C hash, with the token id kept as the 32 bytes it is on chain.
        h = keccak256
        item_hashes = [h(attributes_hash + h(s.encode("ascii"))) for s in serials]
        tokens = [h(chain_batch_id + ih) for ih in item_hashes]
        leaves = [h(h(chain_batch_id + t + ih)) for t, ih in zip(tokens, item_hashes, strict=True)]
        return item_hashes, leaves

    def item_leaf(self, chain_batch_id: bytes, token_id: int, item_hash: bytes) -> bytes:
        return merkle.item_leaf(chain_batch_id, token_id, item_hash)

    def tree_levels(self, leaves: Sequence[bytes]) -> list[list[bytes]]:
        return merkle.BatchTree(leaves).levels()

    def verify_batch_proof(self, proof: Sequence[bytes], root: bytes, leaf: bytes) -> bool:
        return bool(merkle.verify_proof(list(proof), root, leaf))

    def log_root(self, leaf_hashes: Sequence[bytes]) -> bytes:
        return bytes(event_log.root(list(leaf_hashes)))

    def log_leaf_hash(self, payload: bytes) -> bytes:
        return bytes(event_log.leaf_hash(payload))

    def log_folder(self) -> event_log.LogFrontier:
        return event_log.LogFrontier()

    def log_root_of(self, size: int, read_leaves: Callable[[int, int], Sequence[bytes]]) -> bytes:
        # The frontier of the log as last read: anchoring every 30 s then folds only the new
        # entries instead of re-reading and re-hashing the whole log (which grew without bound
        # and held the GIL for seconds on a large log).
        with self._log_lock:
            frontier = self._log_frontier
            known = len(frontier)
            if known > size:  # a reader's older snapshot (rare): answer without the frontier
                return bytes(event_log.root(list(read_leaves(0, size))))
            if known and list(read_leaves(known - 1, known)) != [frontier.last_leaf]:
                frontier = self._log_frontier = event_log.LogFrontier()  # not this log: refold
                known = 0
            for start in range(known, size, _LEAF_PAGE):
                frontier.extend(read_leaves(start, min(size, start + _LEAF_PAGE)))
            return bytes(frontier.root())

    def log_inclusion_proof(
        self, leaf_hashes: Sequence[bytes], index: int, size: int
    ) -> list[bytes]:
        return list(event_log.inclusion_proof(list(leaf_hashes), index, size))

    def log_consistency_proof(
        self, leaf_hashes: Sequence[bytes], old_size: int, new_size: int
    ) -> list[bytes]:
        return list(event_log.consistency_proof(list(leaf_hashes), old_size, new_size))


def leaf_hash(payload: bytes) -> bytes:
    """RFC 6962 leaf hash of an event's canonical bytes."""
    return bytes(event_log.leaf_hash(payload))
