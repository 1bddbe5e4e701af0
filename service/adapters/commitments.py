"""Hashes and trees on ``chain.merkle`` (keccak, OpenZeppelin) and ``chain.log`` (RFC 6962).

Derivations (stable; changing one changes every root already on chain):

* chain batch id = keccak256("tracecert:batch:" + public id)
* token id       = uint256(keccak256(item id))  -- so item ids are unique across batches
* item hash      = keccak256("tracecert:item:" + item id)
* metadata hash  = keccak256(canonical JSON of the metadata)
* leaf           = chain.merkle.item_leaf(chain batch id, token id, item hash)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eth_hash.auto import keccak

from chain import log as event_log
from chain import merkle
from service.domain.batches import BatchCommitment, ItemCommitment
from service.domain.events import canonical_json


def chain_batch_id(public_id: str) -> bytes:
    return bytes(keccak(b"tracecert:batch:" + public_id.encode("ascii")))


def token_id(item_id: str) -> int:
    return int.from_bytes(keccak(item_id.encode("ascii")), "big")


def item_hash(item_id: str) -> bytes:
    return bytes(keccak(b"tracecert:item:" + item_id.encode("ascii")))


class ChainCommitments:
    """The ``Commitments`` port on the chain package's hash functions."""

    def commit_batch(
        self, public_id: str, item_ids: Sequence[str], metadata: dict[str, Any]
    ) -> BatchCommitment:
        batch_id = chain_batch_id(public_id)
        items = []
        for index, item_id in enumerate(item_ids):
            tid = token_id(item_id)
            ihash = item_hash(item_id)
            items.append(
                ItemCommitment(
                    item_id=item_id,
                    token_id=tid,
                    item_hash=ihash,
                    leaf=merkle.item_leaf(batch_id, tid, ihash),
                    leaf_index=index,
                )
            )
        tree = merkle.BatchTree([i.leaf for i in items])
        return BatchCommitment(
            chain_batch_id=batch_id,
            root=tree.root,
            metadata_hash=bytes(keccak(canonical_json(metadata))),
            items=tuple(items),
        )

    def batch_proof(self, leaves: Sequence[bytes], index: int) -> list[bytes]:
        return list(merkle.BatchTree(list(leaves)).proof(index))

    def verify_batch_proof(self, proof: Sequence[bytes], root: bytes, leaf: bytes) -> bool:
        return bool(merkle.verify_proof(list(proof), root, leaf))

    def log_root(self, leaf_hashes: Sequence[bytes]) -> bytes:
        return bytes(event_log.root(list(leaf_hashes)))

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
