"""The event log's use cases: anchoring its root, its status, entries and RFC 6962 proofs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from service.kernel.actor import Actor
from service.kernel.ports import Clock
from service.kernel.roles import Permission
from service.kernel.views import hex0x
from service.ledger.app import log_access, log_integrity
from service.ledger.app.commands import AnchorLog
from service.ledger.domain.errors import LogRangeError
from service.ledger.ports import (
    LedgerUnitOfWork,
    LedgerUnitOfWorkFactory,
    LogAnchor,
    LogCommitments,
    LogLedger,
)


# ----------------------------------------------------------------------------- event log
def _leaf_reader(uow: LedgerUnitOfWork) -> Callable[[int, int], list[bytes]]:
    return lambda start, end: uow.events.leaf_hashes(end, start=start)


def anchor_log(
    cmd: AnchorLog,
    uow_factory: LedgerUnitOfWorkFactory,
    commitments: LogCommitments,
    ledger: LogLedger,
    clock: Clock,
    inspector: log_integrity.Inspector | None = None,
) -> LogAnchor | None:
    """Prove the stored log against the chain and, if it is whole and grew, queue an anchor.

    The proof reads in a read transaction (no write lock while the log is hashed); the short
    write transaction keeps the outcome, raises alerts for what is new, and checks again that
    no anchor of this size was queued. A log that cannot be proven is never anchored."""
    check = log_integrity.prove(uow_factory, commitments, ledger, clock, inspector)
    with uow_factory() as uow:
        check = log_integrity.record(uow, check)
        root = check.roots.get(check.size)
        latest = uow.log_anchors.latest()
        if (
            check.status != "ok"
            or check.size == 0
            or root is None
            or (latest is not None and latest.size >= check.size)
        ):
            uow.commit()
            return None
        now = clock.now()
        outbox_id = ledger.enqueue_anchor_log(uow.outbox, check.size, root, now)
        anchor = LogAnchor(
            size=check.size, root=root, status="requested", outbox_id=outbox_id, requested_at=now
        )
        uow.log_anchors.add(anchor)
        uow.commit()
    return anchor


def log_status(
    actor: Actor, uow: LedgerUnitOfWork, commitments: LogCommitments, ledger: LogLedger
) -> dict[str, Any]:
    actor.require(Permission.READ_LOG)
    with uow:
        size = uow.events.size()
        root = commitments.log_root_of(size, _leaf_reader(uow))
        latest = uow.log_anchors.latest()
        anchored = uow.log_anchors.latest_anchored()
        check = uow.log_checks.last()
        entries = {
            a.outbox_id: uow.outbox.get(a.outbox_id)
            for a in (latest, anchored)
            if a is not None and a.outbox_id is not None
        }

    def render(anchor: LogAnchor | None) -> dict[str, Any] | None:
        if anchor is None:
            return None
        entry = entries.get(anchor.outbox_id) if anchor.outbox_id is not None else None
        beside = log_integrity.anchor_view(anchor, ledger, check)
        return {
            "size": anchor.size,
            "root": hex0x(anchor.root),
            "status": anchor.status,
            "tx_hash": hex0x(entry.tx_hash) if entry else None,
            "block_number": entry.block_number if entry else None,
            "chain_root": hex0x(beside["chain_root"]),
            "stored_root": hex0x(beside["stored_root"]),
            "matches": beside["matches"],
            "problem": beside["problem"],
        }

    return {
        "size": size,
        "root": hex0x(root),
        "latest_anchor": render(latest),
        "latest_anchored": render(anchored),
        "integrity": log_integrity.check_view(check),
    }


def log_events(
    actor: Actor, uow: LedgerUnitOfWork, offset: int, limit: int
) -> list[dict[str, Any]]:
    """Entries from ``offset``: the caller's tenant's in full, the others as leaf hashes."""
    actor.require(Permission.READ_LOG)
    with uow:
        entries = uow.events.entries(offset, limit)
        return log_access.cut(actor, entries, uow.log_tenants)


def log_inclusion_proof(
    actor: Actor, uow: LedgerUnitOfWork, commitments: LogCommitments, index: int, size: int | None
) -> dict[str, Any]:
    actor.require(Permission.READ_LOG)
    with uow:
        current = uow.events.size()
        size = current if size is None else size
        if not 0 <= index < size <= current:
            raise LogRangeError(f"Need 0 <= index < size <= {current} (the log size).")
        leaves = uow.events.leaf_hashes(size)
    return {
        "index": index,
        "size": size,
        "leaf_hash": hex0x(leaves[index]),
        "proof": [hex0x(p) for p in commitments.log_inclusion_proof(leaves, index, size)],
        "root": hex0x(commitments.log_root(leaves)),
    }


def log_consistency_proof(
    actor: Actor,
    uow: LedgerUnitOfWork,
    commitments: LogCommitments,
    old_size: int,
    new_size: int | None,
) -> dict[str, Any]:
    actor.require(Permission.READ_LOG)
    with uow:
        current = uow.events.size()
        new_size = current if new_size is None else new_size
        if not 0 < old_size <= new_size <= current:
            raise LogRangeError(f"Need 0 < old_size <= new_size <= {current} (the log size).")
        leaves = uow.events.leaf_hashes(new_size)
    return {
        "old_size": old_size,
        "new_size": new_size,
        "old_root": hex0x(commitments.log_root(leaves[:old_size])),
        "new_root": hex0x(commitments.log_root(leaves)),
        "proof": [hex0x(p) for p in commitments.log_consistency_proof(leaves, old_size, new_size)],
    }


@dataclass(frozen=True)
class LogUseCases:
    """The event log's use cases (status, entries, RFC 6962 proofs, the integrity pass) with
    their adapters bound once in bootstrap: the routes and the CLI pass the request's data
    only. Each reads through a reader unit of work."""

    #: The whole unit of work: the integrity pass also reads organisations and raises alerts.
    uows: LedgerUnitOfWorkFactory
    commitments: LogCommitments
    ledger: LogLedger

    def status(self, actor: Actor) -> dict[str, Any]:
        return log_status(actor, self.uows.reader(), self.commitments, self.ledger)

    def events(self, actor: Actor, offset: int, limit: int) -> list[dict[str, Any]]:
        return log_events(actor, self.uows.reader(), offset, limit)

    def inclusion_proof(self, actor: Actor, index: int, size: int | None) -> dict[str, Any]:
        return log_inclusion_proof(actor, self.uows.reader(), self.commitments, index, size)

    def consistency_proof(
        self, actor: Actor, old_size: int, new_size: int | None
    ) -> dict[str, Any]:
        return log_consistency_proof(
            actor, self.uows.reader(), self.commitments, old_size, new_size
        )

    def verify(self, progress: log_integrity.Progress | None = None) -> log_integrity.LogReport:
        """Re-hash every entry and check the anchored roots against the chain."""
        return log_integrity.verify(self.uows, self.commitments, self.ledger, progress)
