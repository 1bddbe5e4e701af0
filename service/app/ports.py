"""The ports of the application layer: what handlers need from the outside world.

Adapters implement them on SQLAlchemy and ``chain/`` (``SqlAlchemy*``, ``Chain*``); unit tests
use the ``Fake*`` implementations in ``tests/unit/service/fakes.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any, Protocol

from service.domain.api_keys import ApiKey
from service.domain.batches import Batch, BatchCommitment, ItemCommitment
from service.domain.events import Event
from service.domain.organisations import Organisation


class DuplicateError(Exception):
    """Raised by a repository when a unique constraint refuses a row.

    ``constraint`` names what was duplicated (e.g. ``"items.item_id"``,
    ``"idempotency_keys"``), so a handler can turn it into the right domain error.
    """

    def __init__(self, constraint: str) -> None:
        super().__init__(constraint)
        self.constraint = constraint


@dataclass(frozen=True)
class LogEntry:
    """One entry of the append-only event log."""

    index: int
    type: str
    occurred_at: datetime
    payload: bytes
    leaf_hash: bytes


@dataclass(frozen=True)
class LogAnchor:
    """A request to anchor the log root at ``size`` on chain, and its outcome."""

    size: int
    root: bytes
    status: str  # "requested" | "anchored"
    outbox_id: int | None
    requested_at: datetime
    anchored_at: datetime | None = None


@dataclass(frozen=True)
class ChainWrite:
    """A chain write for the outbox: calldata for a contract, deduplicated by key."""

    kind: str
    dedupe_key: str
    to: str
    data: bytes
    value: int = 0


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
class StoredResponse:
    """The response once given to an idempotent request."""

    request_hash: bytes
    status_code: int
    body: bytes


@dataclass(frozen=True)
class ChainStatus:
    """What the service knows about the chain right now (for /health and /chain)."""

    reachable: bool
    chain_id: int | None
    genesis_hash: bytes | None
    block_number: int | None
    recorded_chain_id: int | None
    recorded_genesis_hash: bytes | None
    genesis_mismatch: bool
    contract_address: str | None
    deployment_tx_hash: bytes | None
    deployment_block: int | None
    sender_address: str | None
    sender_held: bool
    hold_reason: str | None
    error: str | None = None


class OrganisationRepository(Protocol):
    def add(self, organisation: Organisation) -> Organisation: ...
    def get(self, organisation_id: int) -> Organisation | None: ...
    def get_by_name(self, name: str) -> Organisation | None: ...
    def list(self, offset: int, limit: int) -> list[Organisation]: ...


class ApiKeyRepository(Protocol):
    def add(self, key: ApiKey) -> None: ...
    def get(self, key_id: str) -> ApiKey | None: ...
    def revoke(self, key_id: str, at: datetime) -> bool:
        """Revoke an unrevoked key; return False if it was already revoked."""
        ...


class BatchRepository(Protocol):
    def add(self, batch: Batch, items: Sequence[ItemCommitment]) -> Batch: ...
    def get(self, public_id: str) -> Batch | None: ...
    def items(self, batch_id: int) -> list[ItemCommitment]:
        """Return the batch's items ordered by leaf index."""
        ...

    def find_item(self, item_id: str) -> tuple[Batch, ItemCommitment] | None: ...
    def registered_item_ids(self, item_ids: Sequence[str]) -> list[str]: ...
    def start_anchoring(self, batch_id: int) -> bool:
        """Move CREATED -> ANCHORING with a conditional update; False if another won."""
        ...

    def set_outbox(self, batch_id: int, outbox_id: int) -> None: ...


class EventLog(Protocol):
    def append(self, event: Event, at: datetime) -> LogEntry:
        """Append under a lock so indexes are dense and in commit order."""
        ...

    def size(self) -> int: ...
    def leaf_hashes(self, size: int) -> list[bytes]: ...
    def entries(self, offset: int, limit: int) -> list[LogEntry]: ...


class LogAnchorRepository(Protocol):
    def latest(self) -> LogAnchor | None: ...
    def latest_anchored(self) -> LogAnchor | None: ...
    def add(self, anchor: LogAnchor) -> None: ...


class OutboxRepository(Protocol):
    def add(self, write: ChainWrite, at: datetime) -> int: ...
    def get(self, outbox_id: int) -> OutboxEntry | None: ...
    def counts(self) -> dict[str, int]: ...


class IdempotencyRepository(Protocol):
    def get(self, principal_id: str, key: str) -> StoredResponse | None: ...
    def add(self, principal_id: str, key: str, response: StoredResponse, at: datetime) -> None: ...


class UnitOfWork(Protocol):
    """One database transaction; nothing is written unless ``commit`` is called."""

    organisations: OrganisationRepository
    api_keys: ApiKeyRepository
    batches: BatchRepository
    events: EventLog
    log_anchors: LogAnchorRepository
    outbox: OutboxRepository
    idempotency: IdempotencyRepository

    def __enter__(self) -> UnitOfWork: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
    def commit(self) -> None: ...
    def rollback(self) -> None: ...


class UnitOfWorkFactory(Protocol):
    def __call__(self) -> UnitOfWork: ...


class Clock(Protocol):
    def now(self) -> datetime: ...


class Commitments(Protocol):
    """Hashing and Merkle trees (keccak for batches, RFC 6962 SHA-256 for the log)."""

    def commit_batch(
        self, public_id: str, item_ids: Sequence[str], metadata: dict[str, Any]
    ) -> BatchCommitment: ...
    def batch_proof(self, leaves: Sequence[bytes], index: int) -> list[bytes]: ...
    def verify_batch_proof(self, proof: Sequence[bytes], root: bytes, leaf: bytes) -> bool: ...
    def log_root(self, leaf_hashes: Sequence[bytes]) -> bytes: ...
    def log_inclusion_proof(
        self, leaf_hashes: Sequence[bytes], index: int, size: int
    ) -> list[bytes]: ...
    def log_consistency_proof(
        self, leaf_hashes: Sequence[bytes], old_size: int, new_size: int
    ) -> list[bytes]: ...


class Ledger(Protocol):
    """The chain as the service sees it: reads now, writes through the outbox.

    Reads raise ``LedgerUnavailableError`` when the node is down and ``LedgerHeldError`` on
    a genesis mismatch; enqueueing needs only a recorded deployment.
    """

    def enqueue_anchor_batch(self, outbox: OutboxRepository, batch: Batch, at: datetime) -> int: ...
    def enqueue_anchor_log(
        self, outbox: OutboxRepository, size: int, root: bytes, at: datetime
    ) -> int: ...
    def verify_item(
        self, chain_batch_id: bytes, token_id: int, item_hash: bytes, proof: Sequence[bytes]
    ) -> bool: ...
    def log_root(self, size: int) -> bytes: ...
    def latest_log_size(self) -> int: ...
    def block_number(self) -> int | None:
        """Return the head block, or None when the node is unreachable."""
        ...

    def status(self) -> ChainStatus: ...
