"""Factory use cases: products, batches, code generation, activation, anchoring, attestation,
recall and the print files.

Each handler reads like its use case; commits happen only at the unit-of-work boundary.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any

from service.app import commands
from service.app.ports import (
    Attestation,
    Commitments,
    LabelPrinter,
    Ledger,
    Secrets,
    UnitOfWork,
    UnitOfWorkFactory,
)
from service.factory.domain import codes
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
    CodeFileApprovalRequiredError,
    CodeFileSealedError,
    ItemNotFoundError,
    LogisticUnitNotFoundError,
    LotExistsError,
    ProductExistsError,
    ProductNotFoundError,
    SsccExhaustedError,
    TooManyLabelsError,
)
from service.factory.domain.events import (
    BatchAnchoringRequested,
    BatchAttestationRequested,
    BatchCreated,
    BatchRecalled,
    CodeFileDownloaded,
    CodeFileReprintApproved,
    CodesActivated,
    CodesGenerated,
    ItemsAggregated,
    PinSeedDestroyed,
    ProductRegistered,
)
from service.factory.domain.labels import MAX_LABELS_PER_FILE, Label, LabelLayout
from service.factory.domain.products import Product, new_product
from service.factory.domain.units import (
    LogisticUnit,
    UnitKind,
    plan_packing,
    references_available,
)
from service.identity.domain.errors import OrganisationNotFoundError
from service.identity.domain.organisations import party
from service.identity.interface import is_authorised, require_within_prefixes
from service.kernel.actor import Actor
from service.kernel.errors import (
    InvalidRequestError,
    RequestInProgressError,
)
from service.kernel.events import Event, canonical_json
from service.kernel.gs1 import (
    is_valid_serial_text,
    item_uri,
    normalise_gtin,
    parse_code,
    sscc_uri,
)
from service.kernel.idempotency import replay
from service.kernel.ports import Clock, DuplicateError, StoredResponse
from service.kernel.roles import OrganisationKind, Permission, Role
from service.kernel.views import hex0x, iso
from service.ledger.domain.outbox import OutboxEntry

#: Items hashed and inserted per step of code generation (bounds memory, drives progress).
GENERATION_CHUNK = 50_000
_URI_RE = re.compile(r"https?://[!-~]{1,1990}", re.ASCII)

#: ``progress(stage, done, total)``: generation reports each stage as it advances.
Progress = Callable[[str, int, int], None]


def _no_progress(stage: str, done: int, total: int) -> None:
    return None


# ----------------------------------------------------------------------------- products
def product_view(product: Product) -> dict[str, Any]:
    return {
        "id": product.id,
        "gtin": product.gtin,
        "brand_id": product.brand_id,
        "name": product.name,
        "attributes": product.attributes,
        "created_at": iso(product.created_at),
    }


def register_product(
    cmd: commands.RegisterProduct, uow: UnitOfWork, clock: Clock
) -> dict[str, Any]:
    """A brand registers a product under its GTIN (an admin may do it for any brand)."""
    actor = cmd.actor
    actor.require(Permission.MANAGE_PRODUCTS)
    if actor.role is Role.ADMIN:
        if cmd.brand_id is None:
            raise InvalidRequestError("An admin names the brand the product belongs to (brand_id).")
        brand_id = cmd.brand_id
    else:
        if cmd.brand_id is not None and cmd.brand_id != actor.brand_id:
            raise ProductNotFoundError("You can register products of your own brand only.")
        assert actor.brand_id is not None
        brand_id = actor.brand_id
    with uow:
        brand = uow.organisations.get(brand_id)
        if brand is None or brand.kind is not OrganisationKind.BRAND:
            raise OrganisationNotFoundError(f"Organisation {brand_id} is not a brand.")
        product = new_product(cmd.gtin, brand_id, cmd.name, cmd.attributes)
        # Before any lookup of the GTIN: a refusal must not tell whether another brand has it.
        require_within_prefixes(uow, brand_id, product.gtin)
        if uow.products.get_by_gtin(product.gtin) is not None:
            raise ProductExistsError()
        now = clock.now()
        product.created_at = now
        try:
            uow.products.add(product)
        except DuplicateError as exc:
            raise ProductExistsError() from exc
        assert product.id is not None
        uow.events.append(ProductRegistered(product.id, product.gtin, brand_id), now)
        uow.commit()
    return product_view(product)


def _visible_product(uow: UnitOfWork, actor: Actor, gtin: str) -> Product:
    product = uow.products.get_by_gtin(normalise_gtin(gtin))
    if product is None or not actor.sees_brand(product.brand_id):
        raise ProductNotFoundError()
    return product


def get_product(actor: Actor, gtin: str, uow: UnitOfWork) -> dict[str, Any]:
    actor.require(Permission.READ_PRODUCTS)
    with uow:
        return product_view(_visible_product(uow, actor, gtin))


def list_products(actor: Actor, uow: UnitOfWork, offset: int, limit: int) -> list[dict[str, Any]]:
    actor.require(Permission.READ_PRODUCTS)
    brand = None if actor.role is Role.ADMIN else actor.brand_id
    if brand is None and actor.role is not Role.ADMIN:
        return []
    with uow:
        return [product_view(p) for p in uow.products.list(brand, offset, limit)]


# ----------------------------------------------------------------------------- batch views
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


def batch_view(uow: UnitOfWork, batch: Batch) -> dict[str, Any]:
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


def _sees(uow: UnitOfWork, actor: Actor, batch: Batch) -> bool:
    """Whether the actor sees the batch: an attestor only the batches of brands that
    authorised it (it must not attest, unasked, any brand's batch)."""
    if not actor.sees_batch(batch.organisation_id, batch.brand_id):
        return False
    if actor.role is Role.ATTESTOR:
        assert actor.organisation_id is not None
        return is_authorised(uow, batch.brand_id, actor.organisation_id, "attestor")
    return True


def _visible_batch(uow: UnitOfWork, actor: Actor, public_id: str) -> Batch:
    if not is_valid_public_id(public_id):
        raise BatchNotFoundError()
    batch = uow.batches.get(public_id)
    # Another organisation's batch is reported as missing, so ids cannot be probed.
    if batch is None or not _sees(uow, actor, batch):
        raise BatchNotFoundError()
    return batch


def _own_batch(uow: UnitOfWork, actor: Actor, public_id: str) -> Batch:
    """A batch the caller's factory makes (admins may act on any)."""
    batch = _visible_batch(uow, actor, public_id)
    if actor.role is not Role.ADMIN and batch.organisation_id != actor.organisation_id:
        raise BatchNotFoundError()
    return batch


def get_batch(actor: Actor, public_id: str, uow: UnitOfWork, ledger: Ledger) -> dict[str, Any]:
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


def list_batches(actor: Actor, uow: UnitOfWork, offset: int, limit: int) -> list[dict[str, Any]]:
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
    cmd: commands.CreateBatch,
    uow_factory: UnitOfWorkFactory,
    commitments: Commitments,
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


# ----------------------------------------------------------------------------- generate
@dataclass(frozen=True)
class _Chunk:
    start: int
    serials: list[str]


def generate_codes(
    cmd: commands.GenerateCodes,
    uow_factory: UnitOfWorkFactory,
    commitments: Commitments,
    secrets: Secrets,
    clock: Clock,
    default_company_prefix: str,
    progress: Progress = _no_progress,
) -> dict[str, Any]:
    """Generate the batch's item codes, cases and pallets, its tree and sealed PIN seed.

    Everything is written in one transaction: a failure leaves the batch a draft with nothing
    half-written. SSCC references are reserved first in a short transaction of their own
    (a reservation lost to a failure only leaves a gap in the SSCC sequence).
    """
    actor = cmd.actor
    actor.require(Permission.GENERATE_CODES)
    with uow_factory() as uow:
        batch = _own_batch(uow, actor, cmd.batch_id)
        batch.require_generatable()
        brand = uow.organisations.get(batch.brand_id) if batch.brand_id is not None else None
        prefix = (brand.gs1_company_prefix if brand else None) or default_company_prefix
        count = batch.planned_quantity
        units = batch.packing.cases_for(count) + batch.packing.pallets_for(count)
        first_reference = uow.codes.reserve_sscc_references(prefix, units)
        if references_available(prefix, first_reference) < units:
            raise SsccExhaustedError()
        uow.commit()

    # Progress stages, in order: generate (serials, PIN seed, SSCCs), then per chunk hash
    # (leaves, PIN hashes) and insert (rows), tree, events (aggregation), commit. Each call
    # closes the work done since the previous one, so a caller can time every stage.
    progress("generate", 0, count)
    plan = plan_packing(count, batch.packing, prefix, first_reference)
    serials = sorted(codes.new_serials(count))
    if len(set(serials)) != count:  # 100-bit randomness: never in practice, but never silent
        raise RuntimeError("the random source repeated a serial; generate again")
    seed = codes.new_pin_seed()
    progress("generate", count, count)

    with uow_factory() as uow:
        assert batch.id is not None
        _, case_ids = uow.codes.add_units(batch.id, plan, batch.organisation_id, clock.now())
        progress("insert", 0, count)
        leaves: list[bytes] = []
        case_size = batch.case_size
        for start in range(0, count, GENERATION_CHUNK):
            chunk = serials[start : start + GENERATION_CHUNK]
            item_hashes, chunk_leaves = commitments.commit_items(
                batch.chain_batch_id, batch.metadata_hash, chunk
            )
            pin_hashes = codes.pin_hashes(seed, secrets.pin_key, chunk)
            progress("hash", start + len(chunk), count)
            uow.codes.add_items(
                batch.id,
                start,
                chunk,
                item_hashes,
                chunk_leaves,
                [case_ids[(start + n) // case_size] for n in range(len(chunk))],
                pin_hashes,
            )
            leaves.extend(chunk_leaves)
            progress("insert", start + len(chunk), count)
        levels = commitments.tree_levels(leaves)
        root = levels[-1][0]
        del leaves
        uow.codes.add_levels(batch.id, levels[1:])
        del levels
        progress("tree", count, count)
        now = clock.now()
        if not uow.batches.set_generated(
            batch.id, root, count, secrets.seal(seed, batch.public_id.encode()), now
        ):
            raise BatchNotFoundError("The batch changed meanwhile; read it again.")
        events: list[Event] = [
            CodesGenerated(
                batch_id=batch.public_id,
                root=root,
                item_count=count,
                case_count=len(plan.case_ssccs),
                pallet_count=len(plan.pallet_ssccs),
                first_sscc=(plan.pallet_ssccs + plan.case_ssccs)[0],
                last_sscc=(plan.pallet_ssccs + plan.case_ssccs)[-1],
            )
        ]
        for n, sscc in enumerate(plan.case_ssccs):
            children = tuple(serials[n * case_size : (n + 1) * case_size])
            events.append(ItemsAggregated(batch.public_id, sscc, "item", children))
        per_pallet = batch.cases_per_pallet
        for n, sscc in enumerate(plan.pallet_ssccs):
            cases = plan.case_ssccs[n * per_pallet : (n + 1) * per_pallet]
            events.append(ItemsAggregated(batch.public_id, sscc, "case", tuple(cases)))
        uow.events.append_many(events, now)
        progress("events", count, count)
        uow.commit()
        progress("commit", count, count)
    with uow_factory() as uow:
        uow.codes.refresh_statistics()
        uow.commit()
    progress("statistics", count, count)
    with uow_factory() as uow:
        fresh = uow.batches.get_by_id(batch.id)
        assert fresh is not None
        return batch_view(uow, fresh)


# ----------------------------------------------------------------------------- activate
def activate_codes(
    cmd: commands.ActivateCodes, uow_factory: UnitOfWorkFactory, clock: Clock
) -> dict[str, Any]:
    """Make codes live at the line: a scanned case or pallet label, or a whole batch.

    Activating what is already active changes nothing and answers the same way. When the
    last case of a batch is activated, the batch is ``activated`` and its PIN seed destroyed.
    """
    actor = cmd.actor
    actor.require(Permission.ACTIVATE_CODES)
    if (cmd.code is None) == (cmd.batch_id is None):
        raise InvalidRequestError("Send either a case or pallet code, or a batch id.")
    with uow_factory() as uow:
        unit: LogisticUnit | None = None
        if cmd.code is not None:
            link = parse_code(cmd.code)
            if link.sscc is None:
                raise InvalidRequestError(
                    "Activation scans a case or pallet label (an SSCC), not an item code."
                )
            unit = uow.codes.unit(link.sscc)
            if unit is None or unit.batch_id is None:
                raise LogisticUnitNotFoundError()
            batch = uow.batches.get_by_id(unit.batch_id)
            if batch is None or (
                actor.role is not Role.ADMIN and batch.organisation_id != actor.organisation_id
            ):
                raise LogisticUnitNotFoundError()
        else:
            assert cmd.batch_id is not None
            batch = _own_batch(uow, actor, cmd.batch_id)
        batch.require_activatable()
        assert batch.id is not None
        now = clock.now()
        positions = uow.codes.activate(batch.id, unit, now)
        items = sum(batch.packing.items_in_case(p, batch.item_count) for p in positions)
        completed = False
        if positions and uow.codes.inactive_cases(batch.id) == 0:
            completed = uow.batches.transition(
                batch.id, [BatchStatus.GENERATED], BatchStatus.ACTIVATED
            )
        if positions:
            uow.events.append(
                CodesActivated(
                    batch_id=batch.public_id,
                    scope="batch" if unit is None else unit.kind.value,
                    sscc=None if unit is None else unit.sscc,
                    cases=len(positions),
                    items=items,
                    batch_activated=completed,
                ),
                now,
            )
        if completed and uow.batches.destroy_pin_seed(batch.id):
            uow.events.append(PinSeedDestroyed(batch.public_id), now)
        uow.commit()
        fresh = uow.batches.get_by_id(batch.id)
        assert fresh is not None
    return {
        "batch_id": batch.public_id,
        "scope": "batch" if unit is None else unit.kind.value,
        "sscc": None if unit is None else unit.sscc,
        "activated_cases": len(positions),
        "activated_items": items,
        "batch_status": fresh.status.value,
    }


# ----------------------------------------------------------------------------- anchor
def anchor_batch(
    cmd: commands.AnchorBatch,
    uow_factory: UnitOfWorkFactory,
    ledger: Ledger,
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
    cmd: commands.RecallBatch,
    uow_factory: UnitOfWorkFactory,
    commitments: Commitments,
    ledger: Ledger,
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
    actor: Actor, public_id: str, uow: UnitOfWork, offset: int, limit: int
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
    cmd: commands.AttestBatch, uow_factory: UnitOfWorkFactory, ledger: Ledger, clock: Clock
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


# ----------------------------------------------------------------------------- code file
CODE_FILE_HEADER = ("serial", "uri", "pin", "case_sscc", "pallet_sscc")
#: Rows per database query and per chunk of the streamed code file.
CODE_FILE_CHUNK = 20_000


def download_code_file(
    cmd: commands.DownloadCodeFile,
    uow_factory: UnitOfWorkFactory,
    secrets: Secrets,
    clock: Clock,
    resolver_url: str,
) -> tuple[str, Iterator[bytes]]:
    """Record the (audited, once-only) download of the code file, and return it as a stream.

    The download is committed before the first byte is sent: a file that may have left the
    building counts as downloaded even if the transfer breaks. A second download needs an
    unused approval by an admin, which it consumes.
    """
    actor = cmd.actor
    actor.require(Permission.PRINT_CODES)
    with uow_factory() as uow:
        batch = _own_batch(uow, actor, cmd.batch_id)
        assert batch.id is not None
        if batch.status is BatchStatus.DRAFT:
            raise InvalidRequestError("The batch is a draft: generate its codes first.")
        sealed = uow.batches.pin_seed(batch.id)
        if sealed is None:
            raise CodeFileSealedError()
        now = clock.now()
        approval = None
        if uow.code_files.downloads(batch.id):
            approval = uow.code_files.take_approval(batch.id, now)
            if approval is None:
                raise CodeFileApprovalRequiredError()
        number = uow.code_files.add_download(batch.id, actor.principal_id, approval, now)
        uow.events.append(
            CodeFileDownloaded(batch.public_id, actor.principal_id, number, approval), now
        )
        uow.commit()
    seed = secrets.unseal(sealed, batch.public_id.encode())
    filename = f"{batch.gtin}-{batch.lot}-codes-{number}.csv"
    return filename, _code_file_rows(uow_factory, batch, seed, resolver_url)


def _code_file_rows(
    uow_factory: UnitOfWorkFactory, batch: Batch, seed: bytes, resolver_url: str
) -> Iterator[bytes]:
    assert batch.id is not None and batch.gtin is not None
    scheme, _, host = resolver_url.partition("://")
    prefix = item_uri(host, batch.gtin, batch.lot, "", scheme)
    yield (",".join(CODE_FILE_HEADER) + "\n").encode("ascii")
    with uow_factory.reader() as uow:
        for page in uow.codes.code_pages(batch.id, CODE_FILE_CHUNK):
            pins = codes.derive_pins(seed, [row[0] for row in page])
            yield "".join(
                f"{serial},{prefix}{serial},{pin[:4]}-{pin[4:]},{case or ''},{pallet or ''}\n"
                for (serial, case, pallet, _), pin in zip(page, pins, strict=True)
            ).encode("ascii")


def approve_reprint(
    cmd: commands.ApproveReprint, uow_factory: UnitOfWorkFactory, clock: Clock
) -> dict[str, Any]:
    """An admin allows one more download of a batch's code file."""
    actor = cmd.actor
    actor.require(Permission.APPROVE_REPRINT)
    reason = validate_recall_reason(cmd.reason)  # the same rule: printable, 1-1000 chars
    with uow_factory() as uow:
        batch = _visible_batch(uow, actor, cmd.batch_id)
        assert batch.id is not None
        if uow.batches.pin_seed(batch.id) is None:
            raise CodeFileSealedError()
        now = clock.now()
        approval = uow.code_files.add_approval(batch.id, actor.principal_id, reason, now)
        uow.events.append(
            CodeFileReprintApproved(batch.public_id, approval, actor.principal_id), now
        )
        uow.commit()
    return {"batch_id": batch.public_id, "approval_id": approval, "reason": reason}


# ----------------------------------------------------------------------------- labels and QR
def label_stream(
    actor: Actor,
    public_id: str,
    kind: UnitKind | None,
    offset: int,
    count: int,
    uow_factory: UnitOfWorkFactory,
    resolver_url: str,
    max_count: int = MAX_LABELS_PER_FILE,
) -> tuple[Batch, Iterator[Label]]:
    """Labels of a batch's items (``kind`` None), cases or pallets: QR + human-readable code;
    at most ``max_count`` in one file."""
    actor.require(Permission.PRINT_CODES)
    if count > max_count:
        raise TooManyLabelsError(
            f"One file holds at most {max_count:,} labels; ask for a range: count <= "
            f"{max_count:,}, then the next with offset={offset + max_count}."
        )
    if not 1 <= count <= MAX_LABELS_PER_FILE or offset < 0:
        raise InvalidRequestError(
            f"Ask for 1-{MAX_LABELS_PER_FILE:,} labels per file from an offset >= 0."
        )
    with uow_factory() as uow:
        batch = _own_batch(uow, actor, public_id)
        if batch.status is BatchStatus.DRAFT:
            raise InvalidRequestError("The batch is a draft: generate its codes first.")
    return batch, _labels(uow_factory, batch, kind, offset, count, resolver_url)


def _labels(
    uow_factory: UnitOfWorkFactory,
    batch: Batch,
    kind: UnitKind | None,
    offset: int,
    count: int,
    resolver_url: str,
) -> Iterator[Label]:
    assert batch.id is not None and batch.gtin is not None
    scheme, _, host = resolver_url.partition("://")
    caption = f"GTIN {batch.gtin} LOT {batch.lot}"
    with uow_factory.reader() as uow:
        rows: Iterator[Any]
        if kind is None:
            pages = uow.codes.code_pages(batch.id, min(count, 5_000), start=offset)
            rows = (row[0] for page in pages for row in page)
        else:
            rows = (r[0] for r in uow.codes.unit_rows(batch.id, kind, start=offset))
        for n, code in enumerate(rows):
            if n >= count:
                return
            if kind is None:
                yield Label(item_uri(host, batch.gtin, batch.lot, code, scheme), code, caption)
            else:
                yield Label(sscc_uri(host, code, scheme), f"(00) {code}", f"{kind.value} {caption}")


def code_uri(actor: Actor, code: str, uow: UnitOfWork, resolver_url: str) -> str:
    """The GS1 Digital Link URI of an item serial or an SSCC the caller's batches hold."""
    actor.require(Permission.PRINT_CODES)
    scheme, _, host = resolver_url.partition("://")
    link = parse_code(code)
    with uow:
        if link.sscc is not None:
            unit = uow.codes.unit(link.sscc)
            batch = uow.batches.get_by_id(unit.batch_id) if unit and unit.batch_id else None
            if batch is None or not _sees(uow, actor, batch):
                raise LogisticUnitNotFoundError()
            return sscc_uri(host, link.sscc, scheme)
        assert link.serial is not None
        item = uow.codes.find_item(link.serial)
        batch = uow.batches.get_by_id(item.batch_id) if item else None
        if item is None or batch is None or batch.gtin is None or not _sees(uow, actor, batch):
            raise ItemNotFoundError()
        return item_uri(host, batch.gtin, batch.lot, item.serial, scheme)


def unit_view(actor: Actor, sscc: str, uow: UnitOfWork, resolver_url: str) -> dict[str, Any]:
    """A case or pallet: its batch, parent, activation and contents."""
    actor.require(Permission.READ_BATCH)
    link = parse_code(sscc)
    if link.sscc is None:
        raise LogisticUnitNotFoundError()
    scheme, _, host = resolver_url.partition("://")
    with uow:
        unit = uow.codes.unit(link.sscc)
        batch = uow.batches.get_by_id(unit.batch_id) if unit and unit.batch_id else None
        if unit is None or batch is None or not _sees(uow, actor, batch):
            raise LogisticUnitNotFoundError()
        assert unit.id is not None
        if unit.kind is UnitKind.CASE:
            children = uow.codes.unit_items(unit.id)
        else:
            children = [u.sscc for u in _cases_of(uow, batch, unit)]
    return {
        "sscc": unit.sscc,
        "kind": unit.kind.value,
        "uri": sscc_uri(host, unit.sscc, scheme),
        "batch_id": batch.public_id,
        "position": unit.position,
        "parent_sscc": unit.parent_sscc,
        "activated_at": unit.activated_at,
        "children": children,
    }


def _cases_of(uow: UnitOfWork, batch: Batch, pallet: LogisticUnit) -> list[LogisticUnit]:
    assert batch.id is not None
    per = batch.cases_per_pallet
    cases = uow.codes.units(batch.id, UnitKind.CASE, pallet.position * per, per)
    return [c for c in cases if c.parent_sscc == pallet.sscc]


def item_proof(
    actor: Actor, public_id: str, serial: str, uow: UnitOfWork, commitments: Commitments
) -> dict[str, Any]:
    """The Merkle proof of one item against its batch root, from the stored tree."""
    actor.require(Permission.READ_BATCH)
    with uow:
        batch = _visible_batch(uow, actor, public_id)
        item = uow.codes.find_item(serial) if is_valid_serial_text(serial) else None
        if item is None or item.batch_id != batch.id or batch.root is None:
            raise ItemNotFoundError("No item with this serial in the batch; check the serial.")
        proof = uow.codes.proof(item.batch_id, item.leaf_index, batch.item_count)
    return {
        "batch_id": batch.public_id,
        "chain_batch_id": hex0x(batch.chain_batch_id),
        "serial": item.serial,
        "token_id": str(commitments.token_id(batch.chain_batch_id, item.item_hash)),
        "item_hash": hex0x(item.item_hash),
        "leaf": hex0x(item.leaf),
        "leaf_index": item.leaf_index,
        "proof": [hex0x(p) for p in proof],
        "root": hex0x(batch.root),
        "status": batch.status.value,
    }


@dataclass(frozen=True)
class FactoryUseCases:
    """The factory's use cases (products, batches, codes, labels) with their adapters and
    settings bound once in bootstrap: the routes and the CLI pass the command or the request's
    data only. Each builds its own unit of work (a reader for those that only read)."""

    uows: UnitOfWorkFactory
    commitments: Commitments
    ledger: Ledger
    secrets: Secrets
    clock: Clock
    printer: LabelPrinter
    #: Settings: the largest batch, the default GS1 company prefix, the resolver's address.
    max_batch_items: int
    company_prefix: str
    resolver_url: str

    def register_product(self, cmd: commands.RegisterProduct) -> dict[str, Any]:
        return register_product(cmd, self.uows(), self.clock)

    def get_product(self, actor: Actor, gtin: str) -> dict[str, Any]:
        return get_product(actor, gtin, self.uows.reader())

    def list_products(self, actor: Actor, offset: int, limit: int) -> list[dict[str, Any]]:
        return list_products(actor, self.uows.reader(), offset, limit)

    def create_batch(self, cmd: commands.CreateBatch) -> dict[str, Any]:
        return create_batch(cmd, self.uows, self.commitments, self.clock, self.max_batch_items)

    def get_batch(self, actor: Actor, batch_id: str) -> dict[str, Any]:
        return get_batch(actor, batch_id, self.uows.reader(), self.ledger)

    def list_batches(self, actor: Actor, offset: int, limit: int) -> list[dict[str, Any]]:
        return list_batches(actor, self.uows.reader(), offset, limit)

    def generate_codes(
        self, cmd: commands.GenerateCodes, progress: Progress = _no_progress
    ) -> dict[str, Any]:
        return generate_codes(
            cmd,
            self.uows,
            self.commitments,
            self.secrets,
            self.clock,
            self.company_prefix,
            progress,
        )

    def activate_codes(self, cmd: commands.ActivateCodes) -> dict[str, Any]:
        return activate_codes(cmd, self.uows, self.clock)

    def anchor_batch(self, cmd: commands.AnchorBatch) -> dict[str, Any]:
        return anchor_batch(cmd, self.uows, self.ledger, self.clock)

    def recall_batch(self, cmd: commands.RecallBatch) -> dict[str, Any]:
        return recall_batch(cmd, self.uows, self.commitments, self.ledger, self.clock)

    def recalled_items(
        self, actor: Actor, batch_id: str, offset: int, limit: int
    ) -> dict[str, Any]:
        return recalled_items(actor, batch_id, self.uows.reader(), offset, limit)

    def attest_batch(self, cmd: commands.AttestBatch) -> dict[str, Any]:
        return attest_batch(cmd, self.uows, self.ledger, self.clock)

    def item_proof(self, actor: Actor, batch_id: str, serial: str) -> dict[str, Any]:
        return item_proof(actor, batch_id, serial, self.uows.reader(), self.commitments)

    def download_code_file(self, cmd: commands.DownloadCodeFile) -> tuple[str, Iterator[bytes]]:
        return download_code_file(cmd, self.uows, self.secrets, self.clock, self.resolver_url)

    def approve_reprint(self, cmd: commands.ApproveReprint) -> dict[str, Any]:
        return approve_reprint(cmd, self.uows, self.clock)

    def label_stream(
        self,
        actor: Actor,
        batch_id: str,
        kind: UnitKind | None,
        offset: int,
        count: int,
        max_count: int = MAX_LABELS_PER_FILE,
    ) -> tuple[Batch, Iterator[Label]]:
        """``max_count``: the API's bound on one file (its setting); the CLI's is the format's."""
        return label_stream(
            actor, batch_id, kind, offset, count, self.uows, self.resolver_url, max_count
        )

    def write_labels(
        self,
        batch: Batch,
        kind: str,
        labels: Iterable[Label],
        layout: LabelLayout,
        out: IO[bytes],
        progress: Callable[[int], None] | None = None,
    ) -> int:
        """Draw the ``kind`` labels of ``batch`` (from :meth:`label_stream`) as A4 sheets to
        ``out``, titled after the batch; how many were drawn."""
        title = f"{batch.gtin} {batch.lot} {kind} labels"
        return self.printer.write_label_sheets(labels, layout, out, progress, title)

    def unit_view(self, actor: Actor, sscc: str) -> dict[str, Any]:
        return unit_view(actor, sscc, self.uows.reader(), self.resolver_url)

    def qr_png(self, actor: Actor, code: str, module_px: int) -> bytes:
        """The QR image of a code's Digital Link, as PNG."""
        return self.printer.qr_png(
            code_uri(actor, code, self.uows.reader(), self.resolver_url), module_px=module_px
        )

    def qr_svg(self, actor: Actor, code: str) -> bytes:
        """The QR image of a code's Digital Link, as SVG."""
        return self.printer.qr_svg(code_uri(actor, code, self.uows.reader(), self.resolver_url))
