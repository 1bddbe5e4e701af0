"""Codes: a batch's serials, PINs and packing generated, activated by scanning, resolved to
their Digital Link, a case's or pallet's contents, an item's proof."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from service.factory.app.batches import _own_batch, _sees, _visible_batch, batch_view
from service.factory.app.commands import (
    ActivateCodes,
    GenerateCodes,
)
from service.factory.domain import codes
from service.factory.domain.batches import (
    Batch,
    BatchStatus,
)
from service.factory.domain.errors import (
    BatchNotFoundError,
    ItemNotFoundError,
    LogisticUnitNotFoundError,
    SsccExhaustedError,
)
from service.factory.domain.events import (
    CodesActivated,
    CodesGenerated,
    ItemsAggregated,
    PinSeedDestroyed,
)
from service.factory.domain.units import (
    LogisticUnit,
    UnitKind,
    plan_packing,
    references_available,
)
from service.factory.ports import (
    BatchCommitments,
    FactoryUnitOfWork,
    FactoryUnitOfWorkFactory,
    PinSecrets,
)
from service.kernel.actor import Actor
from service.kernel.errors import (
    InvalidRequestError,
)
from service.kernel.events import Event
from service.kernel.gs1 import (
    is_valid_serial_text,
    item_uri,
    parse_code,
    sscc_uri,
)
from service.kernel.ports import Clock
from service.kernel.roles import Permission, Role
from service.kernel.views import hex0x

#: Items hashed and inserted per step of code generation (bounds memory, drives progress).
GENERATION_CHUNK = 50_000


#: ``progress(stage, done, total)``: generation reports each stage as it advances.
Progress = Callable[[str, int, int], None]


def _no_progress(stage: str, done: int, total: int) -> None:
    return None


# ----------------------------------------------------------------------------- generate
@dataclass(frozen=True)
class _Chunk:
    start: int
    serials: list[str]


def generate_codes(
    cmd: GenerateCodes,
    uow_factory: FactoryUnitOfWorkFactory,
    commitments: BatchCommitments,
    secrets: PinSecrets,
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
    cmd: ActivateCodes, uow_factory: FactoryUnitOfWorkFactory, clock: Clock
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


def code_uri(actor: Actor, code: str, uow: FactoryUnitOfWork, resolver_url: str) -> str:
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


def unit_view(actor: Actor, sscc: str, uow: FactoryUnitOfWork, resolver_url: str) -> dict[str, Any]:
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


def _cases_of(uow: FactoryUnitOfWork, batch: Batch, pallet: LogisticUnit) -> list[LogisticUnit]:
    assert batch.id is not None
    per = batch.cases_per_pallet
    cases = uow.codes.units(batch.id, UnitKind.CASE, pallet.position * per, per)
    return [c for c in cases if c.parent_sscc == pallet.sscc]


def item_proof(
    actor: Actor, public_id: str, serial: str, uow: FactoryUnitOfWork, commitments: BatchCommitments
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
