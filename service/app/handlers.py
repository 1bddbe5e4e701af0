"""Handlers: each one reads like its use case and commits only at the unit-of-work boundary."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from service.app import commands, log_access, log_integrity
from service.app.ports import Commitments, Ledger, LogAnchor, UnitOfWork, UnitOfWorkFactory
from service.kernel.actor import Actor
from service.kernel.ports import Clock
from service.kernel.roles import Permission
from service.kernel.views import hex0x
from service.ledger.domain.errors import LogRangeError
from service.ledger.domain.outbox import OutboxFlight


# ----------------------------------------------------------------------------- event log
def _leaf_reader(uow: UnitOfWork) -> Callable[[int, int], list[bytes]]:
    return lambda start, end: uow.events.leaf_hashes(end, start=start)


def anchor_log(
    cmd: commands.AnchorLog,
    uow_factory: UnitOfWorkFactory,
    commitments: Commitments,
    ledger: Ledger,
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
    actor: Actor, uow: UnitOfWork, commitments: Commitments, ledger: Ledger
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


def log_events(actor: Actor, uow: UnitOfWork, offset: int, limit: int) -> list[dict[str, Any]]:
    """Entries from ``offset``: the caller's tenant's in full, the others as leaf hashes."""
    actor.require(Permission.READ_LOG)
    with uow:
        entries = uow.events.entries(offset, limit)
        return log_access.cut(actor, entries, uow.log_tenants)


def log_inclusion_proof(
    actor: Actor, uow: UnitOfWork, commitments: Commitments, index: int, size: int | None
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
    actor: Actor, uow: UnitOfWork, commitments: Commitments, old_size: int, new_size: int | None
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


# ----------------------------------------------------------------------------- health
@dataclass(frozen=True)
class HealthLimits:
    """Past these, /health is degraded: writes are stuck, or the chain lost confirmed ones."""

    #: The oldest write in flight went out longer ago than this (seconds).
    max_in_flight_age_s: float = 300.0
    #: More nonces than this are missing between the chain's and the lowest one in flight.
    max_nonce_gap: int = 0
    #: More confirmed writes than this are not on the chain.
    max_confirmed_missing: int = 0


def check_health(
    uow_factory: Callable[[], UnitOfWork],
    ledger: Ledger,
    limits: HealthLimits | None = None,
    now: datetime | None = None,
) -> tuple[bool, dict[str, Any]]:
    """Report the database, the chain, the sender and the log's last integrity pass; ok is
    False when anything is degraded (a log found failed included)."""
    limits = limits or HealthLimits()
    database: dict[str, Any] = {"ok": True}
    counts: dict[str, int] = {}
    flight: OutboxFlight | None = None
    log = log_integrity.check_view(None)
    try:
        with uow_factory() as uow:
            counts = uow.outbox.counts()
            database["log_size"] = uow.events.size()
            flight = uow.outbox.flight(ledger.sender_address())
            log = log_integrity.check_view(uow.log_checks.last())
    except Exception as exc:  # any database failure is reported, never raised
        database = {"ok": False, "error": type(exc).__name__}
    # The last integrity pass, without its findings (GET /log and alerts carry those).
    log.pop("findings")
    # The chain is read after the database: a nonce the database saw confirmed was on chain
    # before, so a gap or a missing write below cannot be a race with the sender.
    chain = ledger.status()
    in_flight = sum(counts.get(s, 0) for s in ("signed", "sent", "mined"))
    sender = _sender_flight(flight, chain.sender_nonce, now or datetime.now(UTC))
    problems = _sender_problems(sender, limits)
    body: dict[str, Any] = {
        "database": database,
        "chain": {
            "reachable": chain.reachable,
            "chain_id": chain.chain_id,
            "genesis_hash": hex0x(chain.genesis_hash),
            "block_number": chain.block_number,
            "recorded_chain_id": chain.recorded_chain_id,
            "recorded_genesis_hash": hex0x(chain.recorded_genesis_hash),
            "genesis_mismatch": chain.genesis_mismatch,
            "contract_address": chain.contract_address,
            "error": chain.error,
        },
        "sender": {
            "address": chain.sender_address,
            "held": chain.sender_held,
            "hold_reason": chain.hold_reason,
            "queued": counts.get("queued", 0),
            "in_flight": in_flight,
            "failed": counts.get("failed", 0),
            "confirmed": counts.get("confirmed", 0),
            **sender,
            "problems": problems,
        },
        "log": log,
    }
    ok = bool(
        log["log_integrity"] != "failed"
        and database["ok"]
        and chain.reachable
        and not chain.genesis_mismatch
        and not chain.sender_held
        and chain.contract_address
        and not problems
    )
    body["status"] = "ok" if ok else "degraded"
    return ok, body


def _sender_flight(
    flight: OutboxFlight | None, chain_nonce: int | None, now: datetime
) -> dict[str, Any]:
    """Age of the oldest write in flight, the nonce gap and the confirmed writes missing."""
    if flight is None:
        return {
            "oldest_in_flight_age_s": None,
            "chain_nonce": chain_nonce,
            "lowest_in_flight_nonce": None,
            "nonce_gap": None,
            "confirmed_missing": None,
        }
    age = None
    if flight.oldest_in_flight_at is not None:
        age = round(max((now - flight.oldest_in_flight_at).total_seconds(), 0.0), 1)
    lowest = flight.lowest_in_flight_nonce
    gap = missing = None
    if chain_nonce is not None:
        gap = max(lowest - chain_nonce, 0) if lowest is not None else 0
        missing = flight.reorged + sum(1 for n in flight.top_confirmed_nonces if n >= chain_nonce)
    return {
        "oldest_in_flight_age_s": age,
        "chain_nonce": chain_nonce,
        "lowest_in_flight_nonce": lowest,
        "nonce_gap": gap,
        "confirmed_missing": missing,
    }


def _sender_problems(sender: dict[str, Any], limits: HealthLimits) -> list[str]:
    problems = []
    age = sender["oldest_in_flight_age_s"]
    if age is not None and age > limits.max_in_flight_age_s:
        problems.append(
            f"the oldest write in flight went out {age:.0f} s ago "
            f"(limit {limits.max_in_flight_age_s:.0f} s)"
        )
    if sender["nonce_gap"] is not None and sender["nonce_gap"] > limits.max_nonce_gap:
        problems.append(
            f"nonce gap: the chain's nonce is {sender['chain_nonce']}, the lowest in flight "
            f"{sender['lowest_in_flight_nonce']}"
        )
    missing = sender["confirmed_missing"]
    if missing is not None and missing > limits.max_confirmed_missing:
        problems.append(f"{missing} confirmed write(s) are not on the chain")
    return problems


def chain_info(ledger: Ledger, uow_factory: UnitOfWorkFactory) -> dict[str, Any]:
    """Identity, deployment and sender status of the chain (public)."""
    _, health = check_health(uow_factory, ledger)
    status = ledger.status()
    return {
        "identity": {
            "chain_id": status.chain_id,
            "genesis_hash": hex0x(status.genesis_hash),
            "block_number": status.block_number,
            "reachable": status.reachable,
        },
        "recorded_identity": {
            "chain_id": status.recorded_chain_id,
            "genesis_hash": hex0x(status.recorded_genesis_hash),
        },
        "genesis_mismatch": status.genesis_mismatch,
        "deployment": None
        if status.contract_address is None
        else {
            "contract": "CertificateRegistry",
            "address": status.contract_address,
            "tx_hash": hex0x(status.deployment_tx_hash),
            "block_number": status.deployment_block,
        },
        "sender": health["sender"],
    }


@dataclass(frozen=True)
class LogUseCases:
    """The event log's use cases (status, entries, RFC 6962 proofs, the integrity pass) with
    their adapters bound once in bootstrap: the routes and the CLI pass the request's data
    only. Each reads through a reader unit of work."""

    uows: UnitOfWorkFactory
    commitments: Commitments
    ledger: Ledger

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
