"""Fakes of the ledger's ports: the log's tenants, anchors and checks, the outbox, the
commitments, the chain; and helpers that confirm or fail its writes as the sender would."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from chain import merkle
from service.consumer.domain.verification import BatchOnChain
from service.factory.domain.batches import Batch, BatchStatus
from service.kernel.events import canonical_json
from service.kernel.ports import DuplicateError
from service.ledger.domain.errors import (
    DeploymentNotFoundError,
    LedgerHeldError,
    LedgerUnavailableError,
)
from service.ledger.domain.outbox import ChainWrite, OutboxEntry, OutboxFlight
from service.ledger.ports import (
    ChainStatus,
    LogAnchor,
    LogCheck,
    OutboxRepository,
)
from tests.unit.service.fakes.state import Repo, next_id, sha

if TYPE_CHECKING:  # annotations only: the unit of work builds every repository
    from tests.unit.service.fakes.database import FakeDatabase


class FakeLogTenants(Repo):
    """Resolves organisations only (what the unit tests' logs reference)."""

    def brands_of(self, refs: Iterable[tuple[str, Any]]) -> dict[tuple[str, Any], int | None]:
        out: dict[tuple[str, Any], int | None] = {}
        for kind, key in refs:
            org = self.st.organisations.get(key) if kind == "organisation" else None
            if org is not None:
                out[(kind, key)] = org.brand_scope
        return out


class FakeLogAnchors(Repo):
    def latest(self) -> LogAnchor | None:
        return max(self.st.log_anchors, key=lambda a: a.size, default=None)

    def latest_anchored(self) -> LogAnchor | None:
        done = [a for a in self.st.log_anchors if a.status == "anchored"]
        return max(done, key=lambda a: a.size, default=None)

    def add(self, anchor: LogAnchor) -> None:
        if any(a.size == anchor.size for a in self.st.log_anchors):
            raise DuplicateError("log_anchors")
        self.st.log_anchors.append(anchor)

    def _live(self) -> list[LogAnchor]:
        return [a for a in self.st.log_anchors if a.status in ("requested", "anchored")]

    def after(self, size: int, limit: int) -> list[LogAnchor]:
        return sorted((a for a in self._live() if a.size > size), key=lambda a: a.size)[:limit]

    def up_to(self, size: int, limit: int) -> list[LogAnchor]:
        live = (a for a in self._live() if a.size <= size)
        return sorted(live, key=lambda a: -a.size)[:limit]


class FakeLogChecks(Repo):
    def last(self) -> LogCheck | None:
        return self.st.log_check

    def save(self, check: LogCheck) -> None:
        self.st.log_check = check


class FakeOutbox(Repo):
    def add(self, write: ChainWrite, at: datetime) -> int:
        if any(w.dedupe_key == write.dedupe_key for w, _ in self.st.outbox.values()):
            raise DuplicateError("dedupe_key")
        outbox_id = next_id(self.st.outbox)
        entry = OutboxEntry(outbox_id, write.kind, "queued", None, None, None, None)
        self.st.outbox[outbox_id] = (write, entry)
        return outbox_id

    def get(self, outbox_id: int) -> OutboxEntry | None:
        found = self.st.outbox.get(outbox_id)
        return found[1] if found else None

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for _, entry in self.st.outbox.values():
            out[entry.status] = out.get(entry.status, 0) + 1
        return out

    def flight(self, sender: str) -> OutboxFlight:
        return self.st.flight


# ----------------------------------------------------------------------------- hashing, secrets
class FakeCommitments:
    """SHA-256 stand-ins for ids and hashes; real ``chain.merkle`` leaves, trees and proofs.

    ``commit_items`` and ``item_leaf`` agree, and a proof read from ``tree_levels`` verifies
    with ``verify_batch_proof``, as in ``ChainCommitments``.
    """

    def chain_batch_id(self, public_id: str) -> bytes:
        return sha(b"batch:", public_id.encode())

    def attributes_hash(self, attributes: dict[str, Any]) -> bytes:
        return sha(b"attributes:", canonical_json(attributes))

    def text_hash(self, text: str) -> bytes:
        return sha(b"text:", text.encode("utf-8"))

    def token_id(self, chain_batch_id: bytes, item_hash: bytes) -> int:
        return int.from_bytes(sha(b"token:", chain_batch_id, item_hash), "big")

    def item_hash(self, attributes_hash: bytes, serial: str) -> bytes:
        return sha(b"item:", attributes_hash, serial.encode())

    def commit_items(
        self, chain_batch_id: bytes, attributes_hash: bytes, serials: Sequence[str]
    ) -> tuple[list[bytes], list[bytes]]:
        item_hashes = [self.item_hash(attributes_hash, s) for s in serials]
        leaves = [
            self.item_leaf(chain_batch_id, self.token_id(chain_batch_id, ih), ih)
            for ih in item_hashes
        ]
        return item_hashes, leaves

    def item_leaf(self, chain_batch_id: bytes, token_id: int, item_hash: bytes) -> bytes:
        return merkle.item_leaf(chain_batch_id, token_id, item_hash)

    def tree_levels(self, leaves: Sequence[bytes]) -> list[list[bytes]]:
        return [list(level) for level in merkle.BatchTree(leaves).levels()]

    def verify_batch_proof(self, proof: Sequence[bytes], root: bytes, leaf: bytes) -> bool:
        return merkle.verify_proof(list(proof), root, leaf)

    def log_root(self, leaf_hashes: Sequence[bytes]) -> bytes:
        return sha(b"root", *leaf_hashes)

    def log_root_of(self, size: int, read_leaves: Callable[[int, int], Sequence[bytes]]) -> bytes:
        return self.log_root(read_leaves(0, size))

    def log_leaf_hash(self, payload: bytes) -> bytes:
        return sha(b"\x00", payload)

    def log_folder(self) -> FakeLogFolder:
        return FakeLogFolder()

    def log_inclusion_proof(
        self, leaf_hashes: Sequence[bytes], index: int, size: int
    ) -> list[bytes]:
        return list(leaf_hashes[:size])

    def log_consistency_proof(
        self, leaf_hashes: Sequence[bytes], old_size: int, new_size: int
    ) -> list[bytes]:
        return list(leaf_hashes[old_size:new_size])


class FakeLogFolder:
    """Folds leaves into ``FakeCommitments.log_root`` one by one (a running hash)."""

    def __init__(self) -> None:
        self._hash = hashlib.sha256(b"root")
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def append(self, leaf: bytes) -> None:
        self._hash.update(leaf)
        self._size += 1

    def extend(self, leaves: Sequence[bytes]) -> None:
        for leaf in leaves:
            self.append(leaf)

    def root(self) -> bytes:
        return self._hash.copy().digest()


# ----------------------------------------------------------------------------- ledger
class FakeLedger:
    """Queues writes like ``ChainLedger``; ``anchored`` (chain batch id -> the registry's
    record of the batch) is the contract; ``chain_reads`` counts the reads of a batch."""

    def __init__(self) -> None:
        self.available = True
        self.held = False
        self.deployed = True
        self.anchored: dict[bytes, BatchOnChain] = {}
        self.log_roots: dict[int, bytes] = {}
        self.chain_reads = 0
        #: The sender's nonce at the latest block.
        self.sender_nonce = 0

    def _writable(self) -> None:
        if not self.deployed:
            raise DeploymentNotFoundError()

    def _check(self) -> None:
        if self.held:
            raise LedgerHeldError()
        if not self.available:
            raise LedgerUnavailableError()

    def enqueue_anchor_batch(self, outbox: OutboxRepository, batch: Batch, at: datetime) -> int:
        self._writable()
        if batch.root is None:
            raise ValueError("a batch without codes has no root to anchor")
        dedupe_key = f"anchor_batch:{batch.chain_batch_id.hex()}"
        if batch.outbox_id is not None:  # a retry after a failed anchor transaction
            dedupe_key += f":after:{batch.outbox_id}"
        data = b"anchorBatch" + batch.chain_batch_id + batch.root
        return outbox.add(ChainWrite("anchor_batch", dedupe_key, "0xC", data), at)

    def enqueue_anchor_log(
        self, outbox: OutboxRepository, size: int, root: bytes, at: datetime
    ) -> int:
        self._writable()
        write = ChainWrite("anchor_log", f"anchor_log:{size}", "0xC", b"anchorLog" + root)
        return outbox.add(write, at)

    def enqueue_recall(
        self,
        outbox: OutboxRepository,
        batch: Batch,
        reason_hash: bytes,
        at: datetime,
        after: int | None,
    ) -> int:
        self._writable()
        write = ChainWrite(
            "recall_batch",
            f"recall_batch:{batch.chain_batch_id.hex()}",
            "0xC",
            b"recallBatch" + batch.chain_batch_id + reason_hash,
            depends_on=after,
        )
        return outbox.add(write, at)

    def enqueue_attestation(
        self, outbox: OutboxRepository, batch: Batch, report_hash: bytes, uri: str, at: datetime
    ) -> int:
        self._writable()
        write = ChainWrite(
            "attest_batch",
            f"attest_batch:{batch.chain_batch_id.hex()}:{report_hash.hex()}",
            "0xC",
            b"attestBatch" + batch.chain_batch_id + report_hash + uri.encode(),
        )
        return outbox.add(write, at)

    def contract(self) -> tuple[str, int] | None:
        return ("0x" + "ab" * 20, 31337) if self.deployed else None

    def batch_on_chain(self, chain_batch_id: bytes) -> BatchOnChain | None:
        self._check()
        self.chain_reads += 1
        return self.anchored.get(chain_batch_id)

    def recall_on_chain(self, chain_batch_id: bytes) -> None:
        """The registry recalls the batch (its recall transaction confirmed, or anyone with
        the role recalled it on chain)."""
        self.anchored[chain_batch_id] = replace(self.anchored[chain_batch_id], recalled=True)

    def log_root(self, size: int) -> bytes:
        self._check()
        return self.log_roots.get(size, b"\x00" * 32)

    def latest_log_size(self) -> int:
        self._check()
        return max(self.log_roots, default=0)

    def block_number(self) -> int | None:
        return 10 if self.available else None

    def status(self) -> ChainStatus:
        return ChainStatus(
            reachable=self.available,
            chain_id=1337 if self.available else None,
            genesis_hash=b"\x01" * 32 if self.available else None,
            block_number=10 if self.available else None,
            recorded_chain_id=1337,
            recorded_genesis_hash=b"\x01" * 32,
            genesis_mismatch=self.held,
            contract_address="0xC",
            deployment_tx_hash=b"\x02" * 32,
            deployment_block=1,
            sender_address="0xS",
            sender_held=self.held,
            hold_reason="genesis mismatch" if self.held else None,
            sender_nonce=self.sender_nonce if self.available else None,
        )

    def sender_address(self) -> str:
        return "0xS"


def confirm_outbox(db: FakeDatabase, outbox_id: int) -> None:
    """What the TxStore does to the outbox row on confirmation, for the fake state."""
    write, entry = db.state.outbox[outbox_id]
    db.state.outbox[outbox_id] = (
        write,
        replace(entry, status="confirmed", tx_hash=b"\x09" * 32, block_number=5),
    )


def confirm_log_anchor(db: FakeDatabase, ledger: FakeLedger, anchor: LogAnchor) -> None:
    """The log anchor's transaction confirmed: the contract holds its root at its size and
    ``log_anchors`` says anchored, as the TxStore leaves them."""
    assert anchor.outbox_id is not None
    confirm_outbox(db, anchor.outbox_id)
    ledger.log_roots[anchor.size] = anchor.root
    db.state.log_anchors = [
        replace(a, status="anchored") if a.size == anchor.size else a for a in db.state.log_anchors
    ]


def fail_outbox(db: FakeDatabase, outbox_id: int, error_name: str = "Reverted") -> None:
    """What the TxStore does on a final failure: the row fails; an anchoring batch too."""
    write, entry = db.state.outbox[outbox_id]
    db.state.outbox[outbox_id] = (
        write,
        replace(entry, status="failed", failure_reason="reverted", error_name=error_name),
    )
    for batch in db.state.batches.values():
        if batch.outbox_id == outbox_id and batch.status is BatchStatus.ANCHORING:
            batch.status = BatchStatus.ANCHOR_FAILED


def confirm_anchor(db: FakeDatabase, ledger: FakeLedger, public_id: str) -> None:
    """The batch's anchor transaction confirmed: the contract holds its root, the batch is
    ``anchored`` (a batch recalled meanwhile stays recalled), as the TxStore leaves it."""
    batch = db.state.batch(public_id)
    assert batch.outbox_id is not None and batch.root is not None
    confirm_outbox(db, batch.outbox_id)
    ledger.anchored[batch.chain_batch_id] = BatchOnChain(
        batch.root, batch.item_count, False, batch.metadata_hash
    )
    if batch.status is BatchStatus.ANCHORING:
        batch.status = BatchStatus.ANCHORED
