"""Handlers: each one reads like its use case and commits only at the unit-of-work boundary."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from service.app import commands
from service.app.ports import (
    Clock,
    Commitments,
    DuplicateError,
    Ledger,
    LogAnchor,
    OutboxEntry,
    StoredResponse,
    UnitOfWork,
    UnitOfWorkFactory,
)
from service.domain import api_keys
from service.domain.actor import Actor
from service.domain.api_keys import ApiKey
from service.domain.batches import (
    Batch,
    BatchStatus,
    is_valid_item_id,
    is_valid_public_id,
    new_public_id,
    validate_item_ids,
    validate_lot,
    validate_metadata,
)
from service.domain.errors import (
    ApiKeyNotFoundError,
    BatchNotFoundError,
    IdempotencyKeyReusedError,
    InvalidApiKeyError,
    InvalidOrganisationError,
    ItemAlreadyRegisteredError,
    ItemNotFoundError,
    LogRangeError,
    OrganisationExistsError,
    OrganisationNotFoundError,
    RequestInProgressError,
    RoleNotAllowedForOrganisationError,
)
from service.domain.events import (
    ApiKeyCreated,
    ApiKeyRevoked,
    BatchAnchoringRequested,
    BatchCreated,
    OrganisationCreated,
    canonical_json,
)
from service.domain.organisations import Organisation, validate_name
from service.domain.roles import OrganisationKind, Permission, Role, may_hold


def hex0x(value: bytes | None) -> str | None:
    return None if value is None else "0x" + value.hex()


# ----------------------------------------------------------------------------- auth
def authenticate(uow: UnitOfWork, pepper: bytes, bearer: str | None) -> Actor:
    """Return the actor of a bearer key, or raise InvalidApiKeyError."""
    parsed = api_keys.parse(bearer) if bearer else None
    if parsed is None:
        raise InvalidApiKeyError()
    key_id, secret = parsed
    with uow:
        key = uow.api_keys.get(key_id)
    if key is None or key.revoked_at is not None or not api_keys.matches(key, pepper, secret):
        raise InvalidApiKeyError()
    return Actor(principal_id=key.principal_id, role=key.role, organisation_id=key.organisation_id)


# ----------------------------------------------------------------------------- organisations
def create_organisation(
    cmd: commands.CreateOrganisation, uow: UnitOfWork, clock: Clock
) -> Organisation:
    """Register an organisation."""
    cmd.actor.require(Permission.MANAGE_ORGANISATIONS)
    name = validate_name(cmd.name)
    kind = _organisation_kind(cmd.kind)
    with uow:
        if uow.organisations.get_by_name(name) is not None:
            raise OrganisationExistsError()
        now = clock.now()
        try:
            organisation = uow.organisations.add(Organisation(name=name, kind=kind, created_at=now))
        except DuplicateError as exc:
            raise OrganisationExistsError() from exc
        assert organisation.id is not None
        uow.events.append(OrganisationCreated(organisation.id, kind.value), now)
        uow.commit()
    return organisation


def list_organisations(
    actor: Actor, uow: UnitOfWork, offset: int, limit: int
) -> list[Organisation]:
    actor.require(Permission.MANAGE_ORGANISATIONS)
    with uow:
        return uow.organisations.list(offset, limit)


def _organisation_kind(kind: str) -> OrganisationKind:
    try:
        return OrganisationKind(kind)
    except ValueError:
        raise InvalidOrganisationError(
            f"Unknown organisation kind {kind!r}; use one of "
            + ", ".join(k.value for k in OrganisationKind)
            + "."
        ) from None


# ----------------------------------------------------------------------------- API keys
@dataclass(frozen=True)
class IssuedApiKey:
    """A new key; ``secret_key`` is shown once and never stored."""

    key: ApiKey
    secret_key: str


def create_api_key(
    cmd: commands.CreateApiKey, uow: UnitOfWork, clock: Clock, pepper: bytes
) -> IssuedApiKey:
    """Issue an API key scoped to an organisation and a role."""
    cmd.actor.require(Permission.MANAGE_API_KEYS)
    role = _role(cmd.role)
    with uow:
        organisation = uow.organisations.get(cmd.organisation_id)
        if organisation is None:
            raise OrganisationNotFoundError()
        if not may_hold(organisation.kind, role):
            raise RoleNotAllowedForOrganisationError(
                f"An organisation of kind '{organisation.kind}' cannot hold '{role}' keys."
            )
        key_id, secret, full_key = api_keys.generate()
        now = clock.now()
        key = ApiKey(
            key_id=key_id,
            secret_hash=api_keys.digest(pepper, secret),
            role=role,
            organisation_id=cmd.organisation_id,
            created_at=now,
        )
        uow.api_keys.add(key)
        uow.events.append(ApiKeyCreated(key_id, cmd.organisation_id, role.value), now)
        uow.commit()
    return IssuedApiKey(key=key, secret_key=full_key)


def revoke_api_key(cmd: commands.RevokeApiKey, uow: UnitOfWork, clock: Clock) -> ApiKey:
    """Revoke a key; revoking twice is a no-op."""
    cmd.actor.require(Permission.MANAGE_API_KEYS)
    if not api_keys.is_valid_key_id(cmd.key_id):
        raise ApiKeyNotFoundError()
    with uow:
        key = uow.api_keys.get(cmd.key_id)
        if key is None:
            raise ApiKeyNotFoundError()
        now = clock.now()
        if uow.api_keys.revoke(cmd.key_id, now):
            uow.events.append(ApiKeyRevoked(cmd.key_id, key.organisation_id), now)
            uow.commit()
            key.revoked_at = now
        else:
            key = uow.api_keys.get(cmd.key_id) or key
    return key


def _role(role: str) -> Role:
    try:
        parsed = Role(role)
    except ValueError:
        raise RoleNotAllowedForOrganisationError(
            f"Unknown role {role!r}; use one of "
            + ", ".join(r.value for r in Role if r is not Role.CONSUMER)
            + "."
        ) from None
    if parsed is Role.CONSUMER:
        raise RoleNotAllowedForOrganisationError(
            "Consumers sign in with their own accounts; organisations cannot hold consumer keys."
        )
    return parsed


# ----------------------------------------------------------------------------- batches
def batch_view(
    batch: Batch, anchor: OutboxEntry | None = None, head: int | None = None
) -> dict[str, Any]:
    """Return the JSON-ready public view of a batch."""
    confirmations = None
    if anchor is not None and anchor.block_number is not None and head is not None:
        confirmations = max(head - anchor.block_number + 1, 0)
    return {
        "id": batch.public_id,
        "lot": batch.lot,
        "chain_batch_id": hex0x(batch.chain_batch_id),
        "root": hex0x(batch.root),
        "item_count": batch.item_count,
        "metadata_hash": hex0x(batch.metadata_hash),
        "status": batch.status.value,
        "anchor": None
        if anchor is None
        else {
            "status": anchor.status,
            "tx_hash": hex0x(anchor.tx_hash),
            "block_number": anchor.block_number,
            "confirmations": confirmations,
            "error": anchor.error_name,
        },
    }


def create_batch(
    cmd: commands.CreateBatch,
    uow_factory: UnitOfWorkFactory,
    commitments: Commitments,
    clock: Clock,
    max_items: int,
) -> dict[str, Any]:
    """Register a batch of item ids with its Merkle root (not yet on chain)."""
    actor = cmd.actor
    actor.require(Permission.CREATE_BATCH)
    assert actor.organisation_id is not None
    lot = validate_lot(cmd.lot)
    item_ids = validate_item_ids(cmd.items, max_items)
    validate_metadata(cmd.metadata, len(canonical_json(cmd.metadata)))
    try:
        with uow_factory() as uow:
            replay = _replay(uow, actor, cmd.idempotency)
            if replay is not None:
                return replay
            now = clock.now()
            taken = uow.batches.registered_item_ids(item_ids)
            if taken:
                raise ItemAlreadyRegisteredError(
                    f"{len(taken)} item id(s) are already registered, e.g. {taken[0]!r}; "
                    "every item id must be unique."
                )
            public_id = new_public_id()
            commitment = commitments.commit_batch(public_id, item_ids, cmd.metadata)
            batch = uow.batches.add(
                Batch(
                    public_id=public_id,
                    organisation_id=actor.organisation_id,
                    lot=lot,
                    chain_batch_id=commitment.chain_batch_id,
                    root=commitment.root,
                    item_count=len(item_ids),
                    metadata_hash=commitment.metadata_hash,
                    metadata=cmd.metadata,
                    created_at=now,
                ),
                commitment.items,
            )
            uow.events.append(
                BatchCreated(
                    batch_id=public_id,
                    organisation_id=actor.organisation_id,
                    lot=lot,
                    chain_batch_id=batch.chain_batch_id,
                    root=batch.root,
                    item_count=batch.item_count,
                    metadata_hash=batch.metadata_hash,
                ),
                now,
            )
            view = batch_view(batch)
            if cmd.idempotency is not None:
                uow.idempotency.add(
                    actor.principal_id,
                    cmd.idempotency.key,
                    StoredResponse(cmd.idempotency.request_hash, 201, canonical_json(view)),
                    now,
                )
            uow.commit()
            return view
    except (DuplicateError, ItemAlreadyRegisteredError) as exc:
        if cmd.idempotency is not None:
            # A concurrent request with the same key may have won between our replay check
            # and our insert (its items or its key came first); if so, answer as it did.
            with uow_factory() as uow:
                replay = _replay(uow, actor, cmd.idempotency)
            if replay is not None:
                return replay
            if isinstance(exc, DuplicateError) and exc.constraint == "idempotency_keys":
                raise RequestInProgressError() from exc
        if isinstance(exc, ItemAlreadyRegisteredError):
            raise
        raise ItemAlreadyRegisteredError() from exc


def _replay(
    uow: UnitOfWork, actor: Actor, idempotency: commands.Idempotency | None
) -> dict[str, Any] | None:
    if idempotency is None:
        return None
    stored = uow.idempotency.get(actor.principal_id, idempotency.key)
    if stored is None:
        return None
    if stored.request_hash != idempotency.request_hash:
        raise IdempotencyKeyReusedError()
    body: dict[str, Any] = json.loads(stored.body)
    return body


def _visible_batch(uow: UnitOfWork, actor: Actor, public_id: str) -> Batch:
    if not is_valid_public_id(public_id):
        raise BatchNotFoundError()
    batch = uow.batches.get(public_id)
    # Another organisation's batch is reported as missing, so ids cannot be probed.
    if batch is None or not actor.sees_organisation(batch.organisation_id):
        raise BatchNotFoundError()
    return batch


def get_batch(actor: Actor, public_id: str, uow: UnitOfWork, ledger: Ledger) -> dict[str, Any]:
    actor.require(Permission.READ_BATCH)
    with uow:
        batch = _visible_batch(uow, actor, public_id)
        anchor = uow.outbox.get(batch.outbox_id) if batch.outbox_id is not None else None
    head = ledger.block_number() if anchor is not None and anchor.block_number else None
    return batch_view(batch, anchor, head)


def anchor_batch(
    cmd: commands.AnchorBatch,
    uow_factory: UnitOfWorkFactory,
    ledger: Ledger,
    clock: Clock,
) -> dict[str, Any]:
    """Queue the batch's anchor transaction; asking again returns the same anchor."""
    cmd.actor.require(Permission.ANCHOR_BATCH)
    with uow_factory() as uow:
        batch = _visible_batch(uow, cmd.actor, cmd.batch_id)
        assert batch.id is not None
        # The conditional update is the race's referee: exactly one caller moves the batch.
        if uow.batches.start_anchoring(batch.id):
            now = clock.now()
            outbox_id = ledger.enqueue_anchor_batch(uow.outbox, batch, now)
            uow.batches.set_outbox(batch.id, outbox_id)
            uow.events.append(
                BatchAnchoringRequested(batch.public_id, batch.chain_batch_id, outbox_id), now
            )
            uow.commit()
    with uow_factory() as uow:
        fresh = _visible_batch(uow, cmd.actor, cmd.batch_id)
        anchor = uow.outbox.get(fresh.outbox_id) if fresh.outbox_id is not None else None
    return batch_view(fresh, anchor)


def item_proof(
    actor: Actor, public_id: str, item_id: str, uow: UnitOfWork, commitments: Commitments
) -> dict[str, Any]:
    actor.require(Permission.READ_BATCH)
    if not is_valid_item_id(item_id):
        raise ItemNotFoundError()
    with uow:
        batch = _visible_batch(uow, actor, public_id)
        assert batch.id is not None
        items = uow.batches.items(batch.id)
    item = next((i for i in items if i.item_id == item_id), None)
    if item is None:
        raise ItemNotFoundError("No item with this id in the batch; check the item id.")
    proof = commitments.batch_proof([i.leaf for i in items], item.leaf_index)
    return {
        "batch_id": batch.public_id,
        "chain_batch_id": hex0x(batch.chain_batch_id),
        "item_id": item.item_id,
        "token_id": str(item.token_id),
        "item_hash": hex0x(item.item_hash),
        "leaf": hex0x(item.leaf),
        "leaf_index": item.leaf_index,
        "proof": [hex0x(p) for p in proof],
        "root": hex0x(batch.root),
        "status": batch.status.value,
    }


def verify_item(
    cmd: commands.VerifyItem, uow: UnitOfWork, commitments: Commitments, ledger: Ledger
) -> dict[str, Any]:
    """Check an item: registered, its proof valid locally, and accepted by the contract."""
    if not is_valid_item_id(cmd.item_id):
        raise ItemNotFoundError()
    with uow:
        found = uow.batches.find_item(cmd.item_id)
        if found is None:
            raise ItemNotFoundError()
        batch, item = found
        assert batch.id is not None
        leaves = [i.leaf for i in uow.batches.items(batch.id)]
    proof = commitments.batch_proof(leaves, item.leaf_index)
    valid = commitments.verify_batch_proof(proof, batch.root, item.leaf)
    # The chain is asked outside the transaction: a slow node must not hold database locks.
    on_chain = ledger.verify_item(batch.chain_batch_id, item.token_id, item.item_hash, proof)
    return {
        "item_id": item.item_id,
        "batch_id": batch.public_id,
        "chain_batch_id": hex0x(batch.chain_batch_id),
        "token_id": str(item.token_id),
        "item_hash": hex0x(item.item_hash),
        "anchored": batch.status == BatchStatus.ANCHORED,
        "valid": valid,
        "on_chain": on_chain,
        "genuine": valid and on_chain,
    }


# ----------------------------------------------------------------------------- event log
def anchor_log(
    cmd: commands.AnchorLog,
    uow_factory: UnitOfWorkFactory,
    commitments: Commitments,
    ledger: Ledger,
    clock: Clock,
) -> LogAnchor | None:
    """Queue an anchor of the log root when the log grew since the last request."""
    with uow_factory() as uow:
        size = uow.events.size()
        latest = uow.log_anchors.latest()
        if size == 0 or (latest is not None and latest.size >= size):
            return None
        root = commitments.log_root(uow.events.leaf_hashes(size))
        now = clock.now()
        outbox_id = ledger.enqueue_anchor_log(uow.outbox, size, root, now)
        anchor = LogAnchor(
            size=size, root=root, status="requested", outbox_id=outbox_id, requested_at=now
        )
        uow.log_anchors.add(anchor)
        uow.commit()
    return anchor


def log_status(actor: Actor, uow: UnitOfWork, commitments: Commitments) -> dict[str, Any]:
    actor.require(Permission.READ_LOG)
    with uow:
        size = uow.events.size()
        root = commitments.log_root(uow.events.leaf_hashes(size))
        latest = uow.log_anchors.latest()
        anchored = uow.log_anchors.latest_anchored()
        entries = {
            a.outbox_id: uow.outbox.get(a.outbox_id)
            for a in (latest, anchored)
            if a is not None and a.outbox_id is not None
        }

    def render(anchor: LogAnchor | None) -> dict[str, Any] | None:
        if anchor is None:
            return None
        entry = entries.get(anchor.outbox_id) if anchor.outbox_id is not None else None
        return {
            "size": anchor.size,
            "root": hex0x(anchor.root),
            "status": anchor.status,
            "tx_hash": hex0x(entry.tx_hash) if entry else None,
            "block_number": entry.block_number if entry else None,
        }

    return {
        "size": size,
        "root": hex0x(root),
        "latest_anchor": render(latest),
        "latest_anchored": render(anchored),
    }


def log_events(actor: Actor, uow: UnitOfWork, offset: int, limit: int) -> list[dict[str, Any]]:
    actor.require(Permission.READ_LOG)
    with uow:
        entries = uow.events.entries(offset, limit)
    return [
        {
            "index": e.index,
            "type": e.type,
            "occurred_at": e.occurred_at.isoformat(),
            "payload": e.payload.decode("utf-8"),
            "leaf_hash": hex0x(e.leaf_hash),
        }
        for e in entries
    ]


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
def check_health(uow_factory: UnitOfWorkFactory, ledger: Ledger) -> tuple[bool, dict[str, Any]]:
    """Report the database, the chain and the sender; ok is False when anything is degraded."""
    database: dict[str, Any] = {"ok": True}
    counts: dict[str, int] = {}
    try:
        with uow_factory() as uow:
            counts = uow.outbox.counts()
            database["log_size"] = uow.events.size()
    except Exception as exc:  # any database failure is reported, never raised
        database = {"ok": False, "error": type(exc).__name__}
    chain = ledger.status()
    in_flight = sum(counts.get(s, 0) for s in ("signed", "sent", "mined"))
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
        },
    }
    ok = bool(
        database["ok"]
        and chain.reachable
        and not chain.genesis_mismatch
        and not chain.sender_held
        and chain.contract_address
    )
    body["status"] = "ok" if ok else "degraded"
    return ok, body


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


# ----------------------------------------------------------------------------- first admin
#: The operator at the command line; only the CLI acts as it.
SYSTEM_ACTOR = Actor(principal_id="system:cli", role=Role.ADMIN)


def create_admin(
    name: str, uow_factory: UnitOfWorkFactory, clock: Clock, pepper: bytes
) -> tuple[Organisation, IssuedApiKey]:
    """Create (or reuse) the platform organisation ``name`` and issue an admin key for it."""
    with uow_factory() as uow:
        organisation = uow.organisations.get_by_name(validate_name(name))
    if organisation is None:
        organisation = create_organisation(
            commands.CreateOrganisation(SYSTEM_ACTOR, name, OrganisationKind.PLATFORM.value),
            uow_factory(),
            clock,
        )
    if organisation.kind is not OrganisationKind.PLATFORM:
        raise InvalidOrganisationError(
            f"{organisation.name!r} is a {organisation.kind} organisation; admins belong to a "
            "platform organisation. Choose another name."
        )
    assert organisation.id is not None
    issued = create_api_key(
        commands.CreateApiKey(SYSTEM_ACTOR, organisation.id, Role.ADMIN.value),
        uow_factory(),
        clock,
        pepper,
    )
    return organisation, issued
