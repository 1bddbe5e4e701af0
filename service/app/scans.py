"""Scans of item codes (verification) and the alerts they raise for the brand."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from service.app import commands
from service.app.ports import Clock, Commitments, Ledger, UnitOfWork, UnitOfWorkFactory
from service.app.views import hex0x, product_name
from service.domain.actor import Actor
from service.domain.alerts import Alert, AlertKind, AlertStatus, item_alert_key
from service.domain.batches import Batch, BatchStatus
from service.domain.certificates import PENDING_STATES, Certificate, CertificateState
from service.domain.errors import InvalidGtinError, InvalidRequestError, ItemNotFoundError
from service.domain.events import AlertRaised
from service.domain.gs1 import is_valid_serial_text, normalise_gtin
from service.domain.regions import RegionTree
from service.domain.roles import Permission, Role
from service.domain.verification import Verdict, alerts_brand, verdict


def _unknown(serial: str) -> dict[str, Any]:
    return {"serial": serial, "verdict": Verdict.UNKNOWN.value, "genuine": False}


def scan_item(
    cmd: commands.ScanItem,
    uow_factory: UnitOfWorkFactory,
    commitments: Commitments,
    ledger: Ledger,
    clock: Clock,
    regions: Callable[[], RegionTree] | None = None,
) -> dict[str, Any] | None:
    """Verify an item code; return None when the code is unknown.

    Verifying never changes the item. An anonymous (consumer) scan of an inert code, or any
    scan whose proof the chain refuses, opens (or repeats) an alert for the brand.
    """
    if not is_valid_serial_text(cmd.serial):
        return None
    gtin = cmd.gtin
    if gtin is not None:
        # A resolver accepts GTIN-8/12/13 in the URI as their GTIN-14 (GS1 Digital Link).
        try:
            gtin = normalise_gtin(gtin)
        except InvalidGtinError:
            return None
    with uow_factory.reader() as uow:
        item = uow.codes.find_item(cmd.serial)
        batch = uow.batches.get_by_id(item.batch_id) if item is not None else None
        if item is None or batch is None:
            return None
        # A genuine serial under another product or lot is a copy onto something else.
        if (gtin is not None and gtin != batch.gtin) or (
            cmd.lot is not None and cmd.lot != batch.lot
        ):
            return None
        proof = (
            uow.codes.proof(batch.id, item.leaf_index, batch.item_count)
            if batch.id is not None and batch.root is not None
            else []
        )
        anchor = uow.outbox.get(batch.outbox_id) if batch.outbox_id is not None else None
        certificate = uow.certificates.by_item(item.id) if item.id is not None else None
        provenance = _provenance(uow, batch, item.serial, regions)
    token_id = commitments.token_id(item.serial)
    leaf = commitments.item_leaf(batch.chain_batch_id, token_id, item.item_hash)
    valid = (
        batch.root is not None
        and leaf == item.leaf
        and commitments.verify_batch_proof(proof, batch.root, leaf)
    )
    activated = item.activated_at is not None or (
        item.case_sscc is None and batch.status not in (BatchStatus.DRAFT, BatchStatus.GENERATED)
    )
    anchored_on_chain = batch.status is BatchStatus.ANCHORED or (
        batch.status is BatchStatus.RECALLED and anchor is not None and anchor.status == "confirmed"
    )
    # The chain is asked outside any transaction: a slow node must not hold database locks.
    # A recall answers without it: the verdict does not depend on the chain, and a consumer
    # must see the recall even while the node is down.
    on_chain: bool | None = None
    if anchored_on_chain and batch.status is not BatchStatus.RECALLED:
        on_chain = valid and ledger.verify_item(
            batch.chain_batch_id, token_id, item.item_hash, proof
        )
    redeemed = certificate is not None and certificate.state is CertificateState.REDEEMED
    result = verdict(batch.status, activated, valid, on_chain, redeemed)
    contract = ledger.contract()
    body: dict[str, Any] = {
        "serial": item.serial,
        "verdict": result.value,
        "genuine": result is Verdict.GENUINE,
        "gtin": batch.gtin,
        "lot": batch.lot,
        "batch_id": batch.public_id,
        "production_date": batch.production_date.isoformat() if batch.production_date else None,
        "activated": activated,
        "recall": None
        if batch.recalled_at is None
        else {"reason": batch.recall_reason, "recalled_at": batch.recalled_at.isoformat()},
        "chain": {
            "anchored": anchored_on_chain,
            "valid": valid,
            "on_chain": on_chain,
            "chain_batch_id": hex0x(batch.chain_batch_id),
            "token_id": str(token_id),
            "item_hash": hex0x(item.item_hash),
            "leaf": hex0x(item.leaf),
            "root": hex0x(batch.root),
            "proof": [hex0x(p) for p in proof],
            "anchor_tx_hash": hex0x(anchor.tx_hash) if anchor is not None else None,
            "anchor_block_number": anchor.block_number if anchor is not None else None,
        },
        "certificate": _certificate_public(certificate, regions),
        "provenance": provenance,
        "contract": {"address": contract[0], "chain_id": contract[1]} if contract else None,
    }
    if alerts_brand(result, anonymous=cmd.actor is None):
        kind = (
            AlertKind.CHAIN_MISMATCH
            if result is Verdict.MISMATCH
            else AlertKind.INACTIVE_CODE_SCANNED
        )
        with uow_factory() as uow:
            now = clock.now()
            alert, new = uow.alerts.raise_or_repeat(
                Alert(
                    kind=kind,
                    dedupe_key=item_alert_key(kind, item.serial),
                    brand_id=batch.brand_id,
                    batch_id=batch.id,
                    serial=item.serial,
                    detail={"batch_id": batch.public_id, "verdict": result.value},
                ),
                now,
            )
            if new:
                assert alert.id is not None
                uow.events.append(
                    AlertRaised(alert.id, kind.value, batch.public_id, item.serial), now
                )
            uow.commit()
        body["alert"] = {"id": alert.id, "kind": kind.value, "count": alert.count}
    return body


def _region(code: str | None, regions: Callable[[], RegionTree] | None) -> dict[str, Any] | None:
    if code is None:
        return None
    found = regions().get(code) if regions is not None else None
    return {"code": code, "name": found.name if found is not None else None}


def _certificate_public(
    certificate: Certificate | None, regions: Callable[[], RegionTree] | None
) -> dict[str, Any] | None:
    """What a scan may say of a certificate: its state, the day and region of the claim.
    Never who holds it (no account, no address)."""
    if certificate is None:
        return None
    return {
        "state": certificate.state.value,
        "pending": certificate.state in PENDING_STATES,
        "claimed_on": certificate.claimed_at.date().isoformat(),
        "claim_region": _region(certificate.claim_region, regions),
    }


def _provenance(
    uow: UnitOfWork, batch: Batch, serial: str, regions: Callable[[], RegionTree] | None
) -> dict[str, Any]:
    """Batch, factory, production date and attestations, then the journey by region."""
    factory = uow.organisations.get(batch.organisation_id)
    attestations = uow.attestations.of_batch(batch.id) if batch.id is not None else []
    target = uow.custody.target(None, serial)
    journey: list[dict[str, Any]] = []
    for leg in uow.custody.history(target) if target is not None else []:
        journey.append({"at": leg["dispatched_at"], "step": "shipped", "region": None})
        if leg["received_at"] is not None:
            journey.append(
                {
                    "at": leg["received_at"],
                    "step": "received",
                    "region": _region(leg["received_in"], regions),
                }
            )
    return {
        "product": {
            "name": product_name(batch),
            "gtin": batch.gtin,
            "lot": batch.lot,
            "production_date": batch.production_date.isoformat() if batch.production_date else None,
        },
        "factory": {"name": factory.name} if factory is not None else None,
        "attestations": [
            {"uri": a.uri, "report_hash": hex0x(a.report_hash), "tx_hash": hex0x(tx.tx_hash)}
            for a, tx in ((a, uow.outbox.get(a.outbox_id)) for a in attestations)
            if tx is not None and tx.status == "confirmed"
        ],
        "journey": journey,
    }


def verify_item(
    cmd: commands.ScanItem,
    uow_factory: UnitOfWorkFactory,
    commitments: Commitments,
    ledger: Ledger,
    clock: Clock,
    regions: Callable[[], RegionTree] | None = None,
) -> dict[str, Any]:
    """Like :func:`scan_item`, but an unknown code is a 404 ``item_not_found``."""
    body = scan_item(cmd, uow_factory, commitments, ledger, clock, regions)
    if body is None:
        raise ItemNotFoundError()
    return body


def resolve(
    cmd: commands.ScanItem,
    uow_factory: UnitOfWorkFactory,
    commitments: Commitments,
    ledger: Ledger,
    clock: Clock,
    regions: Callable[[], RegionTree] | None = None,
) -> dict[str, Any]:
    """A GS1 Digital Link scan: always an answer, ``unknown`` for a code we never made."""
    body = scan_item(cmd, uow_factory, commitments, ledger, clock, regions)
    return body or _unknown(cmd.serial)


# ----------------------------------------------------------------------------- alerts
def list_alerts(
    actor: Actor, uow: UnitOfWork, status: str | None, offset: int, limit: int
) -> list[dict[str, Any]]:
    actor.require(Permission.READ_ALERTS)
    try:
        wanted = AlertStatus(status) if status is not None else None
    except ValueError:
        raise InvalidRequestError(
            "status is one of " + ", ".join(s.value for s in AlertStatus) + "."
        ) from None
    party = None
    if actor.role in (Role.DISTRIBUTOR, Role.STORE):
        party = actor.organisation_id  # partners see only their own alerts
    brand = None if actor.role is Role.ADMIN else actor.brand_id
    if brand is None and actor.role is not Role.ADMIN:
        return []
    with uow:
        alerts = uow.alerts.list(brand, wanted, offset, limit, party_id=party)
    return [alert_view(a) for a in alerts]


def alert_view(alert: Alert) -> dict[str, Any]:
    """The JSON-ready view of an alert."""
    return {
        "id": alert.id,
        "kind": alert.kind.value,
        "status": alert.status.value,
        "serial": alert.serial,
        "detail": alert.detail,
        "count": alert.count,
        "responsible_id": alert.responsible_id,
        "scanner_id": alert.scanner_id,
        "note": alert.note,
        "first_seen_at": alert.first_seen_at.isoformat() if alert.first_seen_at else None,
        "last_seen_at": alert.last_seen_at.isoformat() if alert.last_seen_at else None,
    }
