"""What the ledger's use cases need of storage and the chain, and the reads other areas need of
the outbox."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from service.alerts.interface import AlertWriter
from service.identity.interface import OrganisationReads
from service.kernel.ports import UnitOfWork
from service.ledger.domain.outbox import ChainWrite, OutboxEntry, OutboxFlight


class OutboxReads(Protocol):
    """Reading how a chain write stands: what other areas' units of work offer of the outbox."""

    def get(self, outbox_id: int) -> OutboxEntry | None: ...


@dataclass(frozen=True)
class LogCheck:
    """The outcome of one integrity pass over the stored log (``service.ledger.app.log_integrity``).

    ``status`` is ``ok`` (proven against the chain), ``failed`` (something named in
    ``findings``) or ``unchecked`` (could not be proven: ``reason`` says why)."""

    status: str
    size: int
    checked_at: datetime
    chain_size: int | None = None
    first_bad_index: int | None = None
    #: When the log was first found failed in this run of failures (None unless failed).
    failed_since: datetime | None = None
    reason: str | None = None
    #: ``{"kind", "index", "end", "detail"}`` each (capped); kinds are edited, gap,
    #: duplicate, reordered, root.
    findings: tuple[dict[str, Any], ...] = ()
    #: The stored log's root at the sizes the pass was asked about (None: no root there,
    #: entries missing or doubled below that size).
    roots: dict[int, bytes | None] = field(default_factory=dict)


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
    #: The sender's nonce at the ``latest`` block: how many of its transactions the chain holds.
    sender_nonce: int | None = None


#: Which brand each (kind, key) reference of log entries belongs to (None: no brand).
TenantRefs = dict[tuple[str, Any], int | None]


class LogTenants(Protocol):
    """The brand behind references that log entries carry (service/ledger/app/log_access.py)."""

    def brands_of(self, refs: Iterable[tuple[str, Any]]) -> TenantRefs:
        """For each ``(kind, key)`` with kind batch, alert, certificate, shipment, unit,
        organisation or site, the brand it belongs to; unknown references are absent."""
        ...


class LogAnchorRepository(Protocol):
    def latest(self) -> LogAnchor | None: ...
    def latest_anchored(self) -> LogAnchor | None: ...
    def add(self, anchor: LogAnchor) -> None: ...
    def after(self, size: int, limit: int) -> list[LogAnchor]:
        """Anchors requested or anchored (not failed) above ``size``, smallest first."""
        ...

    def up_to(self, size: int, limit: int) -> list[LogAnchor]:
        """Anchors requested or anchored (not failed) at ``size`` or below, largest first."""
        ...


class LogCheckRepository(Protocol):
    """The last integrity pass over the log, for /health and GET /log in every process."""

    def last(self) -> LogCheck | None: ...
    def save(self, check: LogCheck) -> None: ...


class OutboxRepository(Protocol):
    def add(self, write: ChainWrite, at: datetime) -> int: ...
    def get(self, outbox_id: int) -> OutboxEntry | None: ...
    def counts(self) -> dict[str, int]: ...
    def flight(self, sender: str) -> OutboxFlight: ...


class LogFolder(Protocol):
    """The right edge of an RFC 6962 tree: leaves folded in one by one, O(log n) memory."""

    def __len__(self) -> int: ...
    def append(self, leaf: bytes) -> None: ...
    def extend(self, leaves: Sequence[bytes]) -> None: ...
    def root(self) -> bytes:
        """The root of every leaf appended so far."""
        ...


# ----------------------------------------------------------------------------- the log's slices
class LogCommitments(Protocol):
    """The event log's hashing (RFC 6962 over the entries), as the ledger's use cases need it."""

    def log_root(self, leaf_hashes: Sequence[bytes]) -> bytes: ...
    def log_leaf_hash(self, payload: bytes) -> bytes:
        """The log's leaf hash of an entry's bytes (RFC 6962: ``SHA-256(0x00 || payload)``)."""
        ...

    def log_folder(self) -> LogFolder:
        """An empty tree edge to fold a log into, streaming."""
        ...

    def log_root_of(self, size: int, read_leaves: Callable[[int, int], Sequence[bytes]]) -> bytes:
        """The root of the log's first ``size`` entries, calling ``read_leaves(start, end)`` only
        for leaves not folded in before: the log is append-only, so an implementation may keep
        the tree's right edge between calls (and must start over if the log no longer agrees)."""
        ...

    def log_inclusion_proof(
        self, leaf_hashes: Sequence[bytes], index: int, size: int
    ) -> list[bytes]: ...
    def log_consistency_proof(
        self, leaf_hashes: Sequence[bytes], old_size: int, new_size: int
    ) -> list[bytes]: ...


class LogLedger(Protocol):
    """What the ledger's use cases ask of the chain: anchor the log's root, read the anchored
    roots, the sender's address and the chain's status."""

    def enqueue_anchor_log(
        self, outbox: OutboxRepository, size: int, root: bytes, at: datetime
    ) -> int: ...
    def log_root(self, size: int) -> bytes: ...
    def latest_log_size(self) -> int: ...
    def sender_address(self) -> str:
        """The address every outbox write is sent from (no node call)."""
        ...

    def status(self) -> ChainStatus: ...


class LedgerUnitOfWork(UnitOfWork, Protocol):
    """One transaction over the ledger's tables (and the kernel's event log), and what the
    integrity check reads and writes of the others: the brands it alerts, with the alert desk."""

    log_tenants: LogTenants
    log_anchors: LogAnchorRepository
    log_checks: LogCheckRepository
    outbox: OutboxRepository

    @property
    def organisations(self) -> OrganisationReads: ...
    @property
    def alerts(self) -> AlertWriter: ...


class LedgerUnitOfWorkFactory(Protocol):
    def __call__(self) -> LedgerUnitOfWork: ...
    def reader(self) -> LedgerUnitOfWork:
        """A unit of work for use cases that only read (no write lock on SQLite)."""
        ...
