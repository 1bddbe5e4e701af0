"""Batches: created, viewed, anchored on the chain, recalled and attested; who sees which."""

from __future__ import annotations

import re
from typing import Any

from service.factory.app.commands import (
    AnchorBatch,
    AttestBatch,
    CreateBatch,
    RecallBatch,
)
from service.factory.app.products import _visible_product
from service.factory.domain.batches import (
    Batch,
    BatchStatus,
    is_valid_public_id,
    new_public_id,
    validate_recall_reason,
    validate_spec,
)
from service.factory.domain.errors import (
    AttestationExistsError,
    BatchNotFoundError,
    LotExistsError,
)
from service.factory.domain.events import (
    BatchAnchoringRequested,
    BatchAttestationRequested,
    BatchCreated,
    BatchRecalled,
)
from service.factory.ports import (
    Attestation,
    BatchChain,
    BatchCommitments,
    FactoryUnitOfWork,
    FactoryUnitOfWorkFactory,
)
from service.identity.interface import is_authorised, party
from service.kernel.actor import Actor
from service.kernel.errors import (
    InvalidRequestError,
    RequestInProgressError,
)
from service.kernel.events import canonical_json
from service.kernel.idempotency import replay
from service.kernel.ports import Clock, DuplicateError, StoredResponse
from service.kernel.roles import Permission, Role
from service.kernel.views import hex0x, iso
from service.ledger.interface import OutboxEntry

# ----------------------------------------------------------------------------- batch views
#: An attestation's report link: an http(s) URI of printable ASCII.
_URI_RE = re.compile(r"https?://[!-~]{1,1990}", re.ASCII)


def _entry_view(entry: OutboxEntry | None) -> dict[str, Any] | None:
    """A chain write; ``confirmations`` is filled in where the chain head is read."""
    if entry is None:
        return None
    return {
        "status": entry.status,
        "tx_hash": hex0x(entry.tx_hash),
        "block_number": entry.block_number,
        "confirmations": None,
        "error": entry.error_name or (entry.failure_reason if entry.status == "failed" else None),
    }


def batch_view(uow: FactoryUnitOfWork, batch: Batch) -> dict[str, Any]:
    """Return the JSON-ready view of a batch, with its chain writes and code file state."""
    assert batch.id is not None
    anchor = uow.outbox.get(batch.outbox_id) if batch.outbox_id is not None else None
    recall_entry = (
        uow.outbox.get(batch.recall_outbox_id) if batch.recall_outbox_id is not None else None
    )
    attestations = [
        {
            "attestor_id": a.organisation_id,
            "report_hash": hex0x(a.report_hash),
            "uri": a.uri,
            "created_at": iso(a.created_at),
            "chain": _entry_view(uow.outbox.get(a.outbox_id)),
        }
        for a in uow.attestations.of_batch(batch.id)
    ]
    generated = batch.status is not BatchStatus.DRAFT and batch.root is not None
    packing = batch.packing
    return {
        "id": batch.public_id,
        "gtin": batch.gtin,
        "lot": batch.lot,
        "production_date": batch.production_date.isoformat() if batch.production_date else None,
        "line": batch.line,
        "factory_id": batch.organisation_id,
        "brand_id": batch.brand_id,
        "planned_quantity": batch.planned_quantity,
        "case_size": batch.case_size,
        "cases_per_pallet": batch.cases_per_pallet,
        "status": batch.status.value,
        "attributes": batch.metadata,
        "chain_batch_id": hex0x(batch.chain_batch_id),
        "metadata_hash": hex0x(batch.metadata_hash),
        "root": hex0x(batch.root),
        "item_count": batch.item_count,
        "cases": packing.cases_for(batch.item_count) if generated and batch.case_size else 0,
        "pallets": packing.pallets_for(batch.item_count) if generated and batch.case_size else 0,
        "activated_cases": uow.codes.active_cases(batch.id) if generated else 0,
        "anchor": _entry_view(anchor),
        "attestations": attestations,
        "recall": None
        if batch.recalled_at is None
        else {
            "reason": batch.recall_reason,
            "recalled_at": iso(batch.recalled_at),
            "chain": _entry_view(recall_entry),
        },
        "code_file": {
            "downloads": len(uow.code_files.downloads(batch.id)),
            "sealed": generated and uow.batches.pin_seed(batch.id) is None,
        },
        "created_at": iso(batch.created_at),
    }


def _sees(uow: FactoryUnitOfWork, actor: Actor, batch: Batch) -> bool:
    """Whether the actor sees the batch: an attestor only the batches of brands that
    authorised it (it must not attest, unasked, any brand's batch)."""
    if not actor.sees_batch(batch.organisation_id, batch.brand_id):
        return False
    if actor.role is Role.ATTESTOR:
        assert actor.organisation_id is not None
        return is_authorised(uow, batch.brand_id, actor.organisation_id, "attestor")
    return True


def _visible_batch(uow: FactoryUnitOfWork, actor: Actor, public_id: str) -> Batch:
    if not is_valid_public_id(public_id):
        raise BatchNotFoundError()
    batch = uow.batches.get(public_id)
    # Another organisation's batch is reported as missing, so ids cannot be probed.
    if batch is None or not _sees(uow, actor, batch):
        raise BatchNotFoundError()
    return batch


def _own_batch(uow: FactoryUnitOfWork, actor: Actor, public_id: str) -> Batch:
    """A batch the caller's factory makes (admins may act on any)."""
    batch = _visible_batch(uow, actor, public_id)
    if actor.role is not Role.ADMIN and batch.organisation_id != actor.organisation_id:
        raise BatchNotFoundError()
    return batch


def get_batch(
    actor: Actor, public_id: str, uow: FactoryUnitOfWork, ledger: BatchChain
) -> dict[str, Any]:
    actor.require(Permission.READ_BATCH)
    with uow:
        batch = _visible_batch(uow, actor, public_id)
        anchored = batch.outbox_id is not None
        view = batch_view(uow, batch)
    if anchored and view["anchor"] and view["anchor"]["block_number"] is not None:
        head = ledger.block_number()
        if head is not None:
            view["anchor"]["confirmations"] = max(head - view["anchor"]["block_number"] + 1, 0)
    return view


def list_batches(
    actor: Actor, uow: FactoryUnitOfWork, offset: int, limit: int
) -> list[dict[str, Any]]:
    actor.require(Permission.READ_BATCH)
    if actor.role is Role.ADMIN:
        factory, brand = None, None
    elif actor.role is Role.FACTORY:
        factory, brand = actor.organisation_id, None
    elif actor.brand_id is not None and actor.role is not Role.ATTESTOR:
        factory, brand = None, actor.brand_id
    else:
        return []
    with uow:
        return [batch_view(uow, b) for b in uow.batches.list(factory, brand, offset, limit)]


# ----------------------------------------------------------------------------- create
def create_batch(
    cmd: CreateBatch,
    uow_factory: FactoryUnitOfWorkFactory,
    commitments: BatchCommitments,
    clock: Clock,
    max_items: int,
) -> dict[str, Any]:
    """A factory plans a production batch of one of its brand's products (a draft)."""
    actor = cmd.actor
    actor.require(Permission.CREATE_BATCH)
    assert actor.organisation_id is not None
    now = clock.now()
    spec = validate_spec(
        cmd.lot,
        cmd.production_date,
        cmd.line,
        cmd.planned_quantity,
        cmd.case_size,
        cmd.cases_per_pallet,
        max_items,
        now.date(),
    )
    try:
        with uow_factory() as uow:
            stored = replay(uow, actor, cmd.idempotency)
            if stored is not None:
                return stored
            product = _visible_product(uow, actor, cmd.gtin)
            assert product.id is not None
            if uow.batches.lot_exists(product.id, spec.lot):
                raise LotExistsError(
                    f"Product {product.gtin} already has lot {spec.lot!r}; "
                    "choose another lot number."
                )
            attributes = spec.attributes(
                product.gtin,
                actor.organisation_id,
                {"name": product.name, **product.attributes},
            )
            public_id = new_public_id()
            batch = uow.batches.add(
                Batch(
                    public_id=public_id,
                    organisation_id=actor.organisation_id,
                    brand_id=product.brand_id,
                    product_id=product.id,
                    gtin=product.gtin,
                    lot=spec.lot,
                    production_date=spec.production_date,
                    line=spec.line,
                    planned_quantity=spec.planned_quantity,
                    case_size=spec.packing.case_size,
                    cases_per_pallet=spec.packing.cases_per_pallet,
                    chain_batch_id=commitments.chain_batch_id(public_id),
                    metadata_hash=commitments.attributes_hash(attributes),
                    metadata=attributes,
                    created_at=now,
                )
            )
            uow.events.append(
                BatchCreated(
                    batch_id=public_id,
                    organisation_id=actor.organisation_id,
                    brand_id=product.brand_id,
                    gtin=product.gtin,
                    lot=spec.lot,
                    chain_batch_id=batch.chain_batch_id,
                    metadata_hash=batch.metadata_hash,
                    planned_quantity=spec.planned_quantity,
                ),
                now,
            )
            view = batch_view(uow, batch)
            if cmd.idempotency is not None:
                uow.idempotency.add(
                    actor.principal_id,
                    cmd.idempotency.key,
                    StoredResponse(cmd.idempotency.request_hash, 201, canonical_json(view)),
                    now,
                )
            uow.commit()
            return view
    except (DuplicateError, LotExistsError) as exc:
        if cmd.idempotency is not None:
            # A concurrent request with the same key may have won between our replay check
            # and our insert; if so, answer as it did.
            with uow_factory() as uow:
                stored = replay(uow, actor, cmd.idempotency)
            if stored is not None:
                return stored
            if isinstance(exc, DuplicateError) and exc.constraint == "idempotency_keys":
                raise RequestInProgressError() from exc
        if isinstance(exc, LotExistsError):
            raise
        raise LotExistsError() from exc


# ----------------------------------------------------------------------------- anchor
def anchor_batch(
    cmd: AnchorBatch,
    uow_factory: FactoryUnitOfWorkFactory,
    ledger: BatchChain,
    clock: Clock,
) -> dict[str, Any]:
    """Queue the batch's anchor transaction; while it is in flight, asking again is harmless."""
    cmd.actor.require(Permission.ANCHOR_BATCH)
    with uow_factory() as uow:
        batch = _own_batch(uow, cmd.actor, cmd.batch_id)
        assert batch.id is not None
        # The conditional update is the race's referee: exactly one caller moves the batch.
        if batch.require_anchorable() and uow.batches.transition(
            batch.id, [BatchStatus.ACTIVATED, BatchStatus.ANCHOR_FAILED], BatchStatus.ANCHORING
        ):
            now = clock.now()
            outbox_id = ledger.enqueue_anchor_batch(uow.outbox, batch, now)
            uow.batches.set_outbox(batch.id, outbox_id)
            uow.events.append(
                BatchAnchoringRequested(batch.public_id, batch.chain_batch_id, outbox_id), now
            )
            uow.commit()
    with uow_factory() as uow:
        fresh = _visible_batch(uow, cmd.actor, cmd.batch_id)
        return batch_view(uow, fresh)


# ----------------------------------------------------------------------------- recall
def recall_batch(
    cmd: RecallBatch,
    uow_factory: FactoryUnitOfWorkFactory,
    commitments: BatchCommitments,
    ledger: BatchChain,
    clock: Clock,
) -> dict[str, Any]:
    """Recall a batch: at once for scans and claims, and on chain once it is anchored there."""
    actor = cmd.actor
    actor.require(Permission.RECALL_BATCH)
    reason = validate_recall_reason(cmd.reason)
    with uow_factory() as uow:
        batch = _visible_batch(uow, actor, cmd.batch_id)
        if actor.role is Role.FACTORY and batch.organisation_id != actor.organisation_id:
            raise BatchNotFoundError()
        batch.require_recallable()
        assert batch.id is not None
        now = clock.now()
        reason_hash = commitments.text_hash(reason)
        outbox_id = None
        if batch.chain_knows_it:
            after = batch.outbox_id if batch.status is BatchStatus.ANCHORING else None
            outbox_id = ledger.enqueue_recall(uow.outbox, batch, reason_hash, now, after)
        if not uow.batches.recall(batch.id, reason, now, outbox_id):
            raise BatchNotFoundError("The batch changed meanwhile; read it again.")
        uow.events.append(
            BatchRecalled(batch.public_id, batch.chain_batch_id, reason, reason_hash, outbox_id),
            now,
        )
        uow.commit()
    with uow_factory() as uow:
        fresh = _visible_batch(uow, actor, cmd.batch_id)
        return batch_view(uow, fresh)


def recalled_items(
    actor: Actor, public_id: str, uow: FactoryUnitOfWork, offset: int, limit: int
) -> dict[str, Any]:
    """The items of a recalled batch with their last holder (whoever has or last sent them:
    goods in transit are still their sender's) and the region of the site they were last at."""
    actor.require(Permission.RECALL_BATCH)
    with uow:
        batch = _visible_batch(uow, actor, public_id)
        if batch.status is not BatchStatus.RECALLED:
            raise InvalidRequestError("The batch is not recalled; recall it first.")
        assert batch.id is not None
        page = next(uow.codes.code_pages(batch.id, page_size=limit, start=offset), [])[:limit]
        holders = uow.custody.last_holders([serial for serial, *_ in page])
        organisations: dict[int, dict[str, Any] | None] = {}
        regions: dict[int, str | None] = {}
        rows = []
        for serial, case_sscc, pallet_sscc, activated_at in page:
            holder_id, site_id = holders.get(serial, (batch.organisation_id, None))
            holder_id = holder_id if holder_id is not None else batch.organisation_id
            if holder_id not in organisations:
                organisations[holder_id] = party(uow.organisations.get(holder_id))
            if site_id is not None and site_id not in regions:
                site = uow.channel.site(site_id)
                regions[site_id] = site.region_code if site is not None else None
            rows.append(
                {
                    "serial": serial,
                    "case_sscc": case_sscc,
                    "pallet_sscc": pallet_sscc,
                    "activated": activated_at is not None,
                    "last_holder": organisations[holder_id],
                    "region": regions.get(site_id) if site_id is not None else None,
                }
            )
    return {
        "batch_id": batch.public_id,
        "reason": batch.recall_reason,
        "recalled_at": iso(batch.recalled_at),
        "total": batch.item_count,
        "offset": offset,
        "items": rows,
    }


# ----------------------------------------------------------------------------- attest
def attest_batch(
    cmd: AttestBatch, uow_factory: FactoryUnitOfWorkFactory, ledger: BatchChain, clock: Clock
) -> dict[str, Any]:
    """An attestor attaches a quality report (hash + URL): an on-chain attestation."""
    actor = cmd.actor
    actor.require(Permission.ATTEST_BATCH)
    assert actor.organisation_id is not None
    if len(cmd.report_hash) != 32 or not any(cmd.report_hash):
        raise InvalidRequestError("report_hash is the 32-byte SHA-256 or keccak of the report.")
    if _URI_RE.fullmatch(cmd.uri) is None:
        raise InvalidRequestError("uri is the report's http(s) address, up to 2000 characters.")
    with uow_factory() as uow:
        batch = _visible_batch(uow, actor, cmd.batch_id)
        batch.require_attestable()
        assert batch.id is not None
        now = clock.now()
        try:
            outbox_id = ledger.enqueue_attestation(uow.outbox, batch, cmd.report_hash, cmd.uri, now)
        except DuplicateError as exc:
            raise AttestationExistsError() from exc
        uow.attestations.add(
            Attestation(batch.id, actor.organisation_id, cmd.report_hash, cmd.uri, outbox_id, now)
        )
        uow.events.append(
            BatchAttestationRequested(
                batch.public_id, actor.organisation_id, cmd.report_hash, cmd.uri, outbox_id
            ),
            now,
        )
        uow.commit()
    with uow_factory() as uow:
        return batch_view(uow, _visible_batch(uow, actor, cmd.batch_id))
