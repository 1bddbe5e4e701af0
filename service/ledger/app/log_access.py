"""Whose entry of the event log is whose: the tenant rule (issue 12, item 2).

A brand and its auditors read their own tenant's entries in full; every other entry appears
only as its index and leaf hash (``withheld``), so roots and proofs still recompute. The admin
reads everything. The tenant of an entry is decided here, and only here, from the references
its canonical JSON carries; the database answers which brand each reference belongs to.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from service.kernel.actor import Actor
from service.kernel.ports import LogEntry
from service.kernel.roles import Role
from service.ledger.ports import LogTenants, TenantRefs

#: The references an entry may carry, in the order they decide its tenant: the first one
#: present (and known) wins. A shipment belongs to its sender's brand, a site or an
#: organisation to the brand it works for (a brand to itself).
_DECIDING_KEYS: tuple[tuple[str, str], ...] = (
    ("brand_id", "brand"),
    ("batch_id", "batch"),
    ("alert_id", "alert"),
    ("certificate_id", "certificate"),
    ("certificate_ids", "certificate"),
    ("shipment_id", "shipment"),
    ("sscc", "unit"),
    ("organisation_id", "organisation"),
    ("sender_id", "organisation"),
    ("receiver_id", "organisation"),
    ("site_id", "site"),
)


def references(body: dict[str, Any]) -> list[tuple[str, Any]]:
    """The (kind, key) references of an entry's body that may decide its tenant, in order."""
    found: list[tuple[str, Any]] = []
    for key, kind in _DECIDING_KEYS:
        value = body.get(key)
        if value is None:
            continue
        for one in value if isinstance(value, list) else [value]:
            if isinstance(one, str | int) and not isinstance(one, bool):
                found.append((kind, one))
    return found


def tenant_of(body: dict[str, Any], brands: TenantRefs) -> int | None:
    """The brand an entry belongs to, or None for the platform's own (regions, consumers)."""
    for kind, key in references(body):
        if kind == "brand":
            return int(key)
        brand = brands.get((kind, key))
        if brand is not None:
            return brand
    return None


def sees_in_full(actor: Actor, tenant: int | None) -> bool:
    """Whether ``actor`` reads an entry of ``tenant`` in full (else only its leaf hash)."""
    if actor.role is Role.ADMIN:
        return True
    return actor.brand_id is not None and tenant == actor.brand_id


def body_of(payload: bytes) -> dict[str, Any]:
    """An entry's JSON object; an unreadable entry (an altered row) decides no tenant."""
    try:
        body = json.loads(payload)
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def tenants(entries: Sequence[LogEntry], lookup: LogTenants) -> list[int | None]:
    """The tenant of each entry, resolved with one lookup for the lot."""
    bodies = [body_of(e.payload) for e in entries]
    wanted: set[tuple[str, Any]] = set()
    for body in bodies:
        wanted.update(r for r in references(body) if r[0] != "brand")
    brands = lookup.brands_of(wanted)
    return [tenant_of(body, brands) for body in bodies]


def withheld(index: int, leaf_hash: bytes) -> dict[str, Any]:
    """What a reader of another tenant sees of an entry."""
    return {"index": index, "leaf_hash": "0x" + leaf_hash.hex(), "withheld": True}


def shown(entry: LogEntry) -> dict[str, Any]:
    """An entry in full."""
    return {
        "index": entry.index,
        "type": entry.type,
        "occurred_at": entry.occurred_at.isoformat(),
        "payload": entry.payload.decode("utf-8", errors="replace"),
        "leaf_hash": "0x" + entry.leaf_hash.hex(),
        "withheld": False,
    }


def cut(actor: Actor, entries: Sequence[LogEntry], lookup: LogTenants) -> list[dict[str, Any]]:
    """``entries`` as ``actor`` may read them: its tenant's in full, the others withheld."""
    if actor.role is Role.ADMIN:
        return [shown(e) for e in entries]
    return [
        shown(e) if sees_in_full(actor, t) else withheld(e.index, e.leaf_hash)
        for e, t in zip(entries, tenants(entries, lookup), strict=True)
    ]


def cut_all(
    actor: Actor, entries: Iterable[LogEntry], lookup: LogTenants, chunk: int = 2000
) -> Iterable[dict[str, Any]]:
    """Like :func:`cut` over a stream, resolving tenants ``chunk`` entries at a time."""
    batch: list[LogEntry] = []
    for entry in entries:
        batch.append(entry)
        if len(batch) >= chunk:
            yield from cut(actor, batch, lookup)
            batch = []
    if batch:
        yield from cut(actor, batch, lookup)
