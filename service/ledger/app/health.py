"""The health of the service's dependencies: the database, the chain and the sender's writes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from service.kernel.views import hex0x
from service.ledger.app import log_integrity
from service.ledger.domain.outbox import OutboxFlight
from service.ledger.ports import LedgerUnitOfWork, LedgerUnitOfWorkFactory, LogLedger


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
    uow_factory: Callable[[], LedgerUnitOfWork],
    ledger: LogLedger,
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


def chain_info(ledger: LogLedger, uow_factory: LedgerUnitOfWorkFactory) -> dict[str, Any]:
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
