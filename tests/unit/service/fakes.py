"""In-memory ``Fake*`` implementations of the application ports, for unit tests."""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from service.app.ports import (
    ChainStatus,
    ChainWrite,
    DuplicateError,
    LogAnchor,
    LogEntry,
    OutboxEntry,
    StoredResponse,
)
from service.domain.api_keys import ApiKey
from service.domain.batches import Batch, BatchCommitment, BatchStatus, ItemCommitment
from service.domain.errors import LedgerUnavailableError
from service.domain.events import Event, canonical_json
from service.domain.organisations import Organisation


def sha(*parts: bytes) -> bytes:
    return hashlib.sha256(b"".join(parts)).digest()


@dataclass
class FakeState:
    organisations: dict[int, Organisation] = field(default_factory=dict)
    api_keys: dict[str, ApiKey] = field(default_factory=dict)
    batches: dict[int, Batch] = field(default_factory=dict)
    items: dict[int, list[ItemCommitment]] = field(default_factory=dict)
    events: list[LogEntry] = field(default_factory=list)
    log_anchors: list[LogAnchor] = field(default_factory=list)
    outbox: dict[int, tuple[ChainWrite, OutboxEntry]] = field(default_factory=dict)
    idempotency: dict[tuple[str, str], StoredResponse] = field(default_factory=dict)
    commits: int = 0


class _Repo:
    def __init__(self, uow: FakeUnitOfWork) -> None:
        self.uow = uow

    @property
    def st(self) -> FakeState:
        assert self.uow.state is not None
        return self.uow.state


class FakeOrganisations(_Repo):
    def add(self, organisation: Organisation) -> Organisation:
        if any(o.name == organisation.name for o in self.st.organisations.values()):
            raise DuplicateError("organisations")
        organisation.id = len(self.st.organisations) + 1
        self.st.organisations[organisation.id] = organisation
        return organisation

    def get(self, organisation_id: int) -> Organisation | None:
        return self.st.organisations.get(organisation_id)

    def get_by_name(self, name: str) -> Organisation | None:
        return next((o for o in self.st.organisations.values() if o.name == name), None)

    def list(self, offset: int, limit: int) -> list[Organisation]:
        return sorted(self.st.organisations.values(), key=lambda o: o.id or 0)[
            offset : offset + limit
        ]


class FakeApiKeys(_Repo):
    def add(self, key: ApiKey) -> None:
        self.st.api_keys[key.key_id] = key

    def get(self, key_id: str) -> ApiKey | None:
        key = self.st.api_keys.get(key_id)
        return copy.copy(key) if key else None

    def revoke(self, key_id: str, at: datetime) -> bool:
        key = self.st.api_keys.get(key_id)
        if key is None or key.revoked_at is not None:
            return False
        key.revoked_at = at
        return True


class FakeBatches(_Repo):
    def add(self, batch: Batch, items: Sequence[ItemCommitment]) -> Batch:
        taken = self.registered_item_ids([i.item_id for i in items])
        if taken:
            raise DuplicateError("item_id")
        batch.id = len(self.st.batches) + 1
        self.st.batches[batch.id] = copy.deepcopy(batch)
        self.st.items[batch.id] = list(items)
        return batch

    def get(self, public_id: str) -> Batch | None:
        found = next((b for b in self.st.batches.values() if b.public_id == public_id), None)
        return copy.deepcopy(found) if found else None

    def items(self, batch_id: int) -> list[ItemCommitment]:
        return list(self.st.items[batch_id])

    def find_item(self, item_id: str) -> tuple[Batch, ItemCommitment] | None:
        for batch_id, items in self.st.items.items():
            for item in items:
                if item.item_id == item_id:
                    return copy.deepcopy(self.st.batches[batch_id]), item
        return None

    def registered_item_ids(self, item_ids: Sequence[str]) -> list[str]:
        wanted = set(item_ids)
        return [i.item_id for items in self.st.items.values() for i in items if i.item_id in wanted]

    def start_anchoring(self, batch_id: int) -> bool:
        batch = self.st.batches[batch_id]
        if batch.status != BatchStatus.CREATED:
            return False
        batch.status = BatchStatus.ANCHORING
        return True

    def set_outbox(self, batch_id: int, outbox_id: int) -> None:
        self.st.batches[batch_id].outbox_id = outbox_id


class FakeEventLog(_Repo):
    def append(self, event: Event, at: datetime) -> LogEntry:
        payload = event.canonical_bytes(at)
        entry = LogEntry(len(self.st.events), event.type, at, payload, sha(b"\x00", payload))
        self.st.events.append(entry)
        return entry

    def size(self) -> int:
        return len(self.st.events)

    def leaf_hashes(self, size: int) -> list[bytes]:
        return [e.leaf_hash for e in self.st.events[:size]]

    def entries(self, offset: int, limit: int) -> list[LogEntry]:
        return self.st.events[offset : offset + limit]


class FakeLogAnchors(_Repo):
    def latest(self) -> LogAnchor | None:
        return max(self.st.log_anchors, key=lambda a: a.size, default=None)

    def latest_anchored(self) -> LogAnchor | None:
        done = [a for a in self.st.log_anchors if a.status == "anchored"]
        return max(done, key=lambda a: a.size, default=None)

    def add(self, anchor: LogAnchor) -> None:
        self.st.log_anchors.append(anchor)


class FakeOutbox(_Repo):
    def add(self, write: ChainWrite, at: datetime) -> int:
        if any(w.dedupe_key == write.dedupe_key for w, _ in self.st.outbox.values()):
            raise DuplicateError("dedupe_key")
        outbox_id = len(self.st.outbox) + 1
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


class FakeIdempotency(_Repo):
    def get(self, principal_id: str, key: str) -> StoredResponse | None:
        return self.st.idempotency.get((principal_id, key))

    def add(self, principal_id: str, key: str, response: StoredResponse, at: datetime) -> None:
        if (principal_id, key) in self.st.idempotency:
            raise DuplicateError("idempotency_keys")
        self.st.idempotency[(principal_id, key)] = response


class FakeUnitOfWork:
    """Works on a deep copy of the committed state; ``commit`` publishes it."""

    def __init__(self, db: FakeDatabase) -> None:
        self.db = db
        self.state: FakeState | None = None
        self.organisations = FakeOrganisations(self)
        self.api_keys = FakeApiKeys(self)
        self.batches = FakeBatches(self)
        self.events = FakeEventLog(self)
        self.log_anchors = FakeLogAnchors(self)
        self.outbox = FakeOutbox(self)
        self.idempotency = FakeIdempotency(self)

    def __enter__(self) -> FakeUnitOfWork:
        self.state = copy.deepcopy(self.db.state)
        return self

    def __exit__(self, *exc: object) -> None:
        self.state = None

    def commit(self) -> None:
        assert self.state is not None
        self.state.commits += 1
        self.db.state = copy.deepcopy(self.state)

    def rollback(self) -> None:
        self.state = copy.deepcopy(self.db.state)


class FakeDatabase:
    def __init__(self) -> None:
        self.state = FakeState()

    def __call__(self) -> FakeUnitOfWork:
        return FakeUnitOfWork(self)


class FakeClock:
    def __init__(self) -> None:
        self.current = datetime(2026, 1, 1, tzinfo=UTC)

    def now(self) -> datetime:
        self.current += timedelta(seconds=1)
        return self.current


class FakeCommitments:
    """SHA-256 stand-ins: deterministic and good enough to test the handlers' flow."""

    def commit_batch(
        self, public_id: str, item_ids: Sequence[str], metadata: dict[str, Any]
    ) -> BatchCommitment:
        batch_id = sha(b"batch:", public_id.encode())
        items = tuple(
            ItemCommitment(
                item_id=i,
                token_id=int.from_bytes(sha(i.encode()), "big"),
                item_hash=sha(b"item:", i.encode()),
                leaf=sha(b"leaf:", batch_id, i.encode()),
                leaf_index=n,
            )
            for n, i in enumerate(item_ids)
        )
        return BatchCommitment(
            batch_id, self.log_root([i.leaf for i in items]), sha(canonical_json(metadata)), items
        )

    def batch_proof(self, leaves: Sequence[bytes], index: int) -> list[bytes]:
        return [leaves[index], *leaves]

    def verify_batch_proof(self, proof: Sequence[bytes], root: bytes, leaf: bytes) -> bool:
        return proof[0] == leaf and self.log_root(list(proof[1:])) == root

    def log_root(self, leaf_hashes: Sequence[bytes]) -> bytes:
        return sha(b"root", *leaf_hashes)

    def log_inclusion_proof(
        self, leaf_hashes: Sequence[bytes], index: int, size: int
    ) -> list[bytes]:
        return list(leaf_hashes[:size])

    def log_consistency_proof(
        self, leaf_hashes: Sequence[bytes], old_size: int, new_size: int
    ) -> list[bytes]:
        return list(leaf_hashes[old_size:new_size])


class FakeLedger:
    """Records enqueued writes; the ``anchored`` set stands for the contract's state."""

    def __init__(self) -> None:
        self.available = True
        self.anchored: set[bytes] = set()
        self.log_roots: dict[int, bytes] = {}
        self.held = False

    def enqueue_anchor_batch(self, outbox: Any, batch: Batch, at: datetime) -> int:
        data = b"anchorBatch" + batch.chain_batch_id + batch.root
        write = ChainWrite(
            "anchor_batch", f"anchor_batch:{batch.chain_batch_id.hex()}", "0xC", data
        )
        outbox_id: int = outbox.add(write, at)
        return outbox_id

    def enqueue_anchor_log(self, outbox: Any, size: int, root: bytes, at: datetime) -> int:
        write = ChainWrite("anchor_log", f"anchor_log:{size}", "0xC", b"anchorLog" + root)
        outbox_id: int = outbox.add(write, at)
        return outbox_id

    def _check(self) -> None:
        if not self.available:
            raise LedgerUnavailableError()

    def verify_item(
        self, chain_batch_id: bytes, token_id: int, item_hash: bytes, proof: Sequence[bytes]
    ) -> bool:
        self._check()
        return chain_batch_id in self.anchored

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
        )


def confirm_outbox(db: FakeDatabase, outbox_id: int) -> None:
    """What the TxStore does on confirmation, for the fake state."""
    write, entry = db.state.outbox[outbox_id]
    db.state.outbox[outbox_id] = (
        write,
        replace(entry, status="confirmed", tx_hash=b"\x09" * 32, block_number=5),
    )
