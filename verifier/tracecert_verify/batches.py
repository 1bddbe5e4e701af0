"""Batches against their public attributes, their items and the registry; certificates'
owners against ``ownerOf`` and their lock state against the registry's lock views."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

from tracecert_verify.export import Export, Report
from tracecert_verify.hashing import (
    batch_root,
    canonical_json,
    chain_batch_id,
    item_commitments,
    keccak256,
)
from tracecert_verify.rpc import Registry

Progress = Callable[[str, int, int], None]
#: Statuses whose root is on chain.
ON_CHAIN = frozenset({"anchored", "recalled"})


def _hex(b: bytes) -> str:
    return "0x" + b.hex()


def check_batches(
    export: Export, registry: Registry, report: Report, progress: Progress
) -> dict[str, dict[str, Any]]:
    """Check every batch; return the batch rows by id for the state replay."""
    batches = {b["id"]: b for b in export.records("batches.ndjson")}
    leaves: dict[str, list[bytes]] = defaultdict(list)
    total = sum(int(b.get("item_count") or 0) for b in batches.values())
    done = 0
    for item in export.records("items.ndjson"):
        batch = batches.get(item["batch_id"])
        subject = f"item {item['serial']} of batch {item['batch_id']}"
        if batch is None:
            report.add("batch", subject, "belongs to no exported batch")
            continue
        item_hash, token, leaf = item_commitments(
            bytes.fromhex(batch["chain_batch_id"][2:]),
            bytes.fromhex(batch["metadata_hash"][2:]),
            item["serial"],
        )
        if (
            _hex(item_hash) != item["item_hash"]
            or str(token) != item["token_id"]
            or _hex(leaf) != item["leaf"]
        ):
            report.add("batch", subject, "its item hash, token id or leaf is not its serial's")
        if int(item["leaf_index"]) != len(leaves[item["batch_id"]]):
            report.add("batch", subject, "leaf indexes are not dense")
        leaves[item["batch_id"]].append(leaf)
        done += 1
        if done % 20000 == 0:
            progress("items", done, total)
    progress("items", done, total)
    for public_id, batch in batches.items():
        subject = f"batch {public_id}"
        if _hex(chain_batch_id(public_id)) != batch["chain_batch_id"]:
            report.add("batch", subject, "its chain batch id is not derived from its id")
        metadata_hash = keccak256(canonical_json(batch["metadata"]))
        if _hex(metadata_hash) != batch["metadata_hash"]:
            report.add("batch", subject, "metadataHash is not the hash of its public attributes")
        mine = leaves.get(public_id, [])
        root = batch_root(mine) if mine else None
        if batch.get("root") is not None and (root is None or _hex(root) != batch["root"]):
            report.add("batch", subject, "its root is not the root of its items' leaves")
        if batch["status"] not in ON_CHAIN:
            continue
        record = registry.batch(bytes.fromhex(batch["chain_batch_id"][2:]))
        if record["anchored_at"] == 0:
            report.add("batch", subject, "not on chain, but its row says anchored")
            continue
        if root is not None and record["root"] != root:
            report.add("batch", subject, "the registry holds another root")
        if record["item_count"] != len(mine):
            report.add(
                "batch", subject, f"{len(mine)} items, the registry says {record['item_count']}"
            )
        if record["metadata_hash"] != metadata_hash:
            report.add("batch", subject, "the registry holds another metadataHash")
        if record["recalled"] != bool(batch["recalled"]):
            report.add(
                "batch",
                subject,
                f"recalled is {bool(batch['recalled'])} in the export, "
                f"{record['recalled']} on chain",
            )
    report.facts["batches"] = len(batches)
    report.facts["items"] = done
    return batches


#: A confirmed certificate's state row -> the lock states the registry may show for it
#: (``Registry.lock``). Offers nobody has taken up yet are off chain: the token is still active.
#: A redemption asked of a store is off chain; one asked of a custodian is on chain.
LOCKS: dict[str, frozenset[str]] = {
    "active": frozenset({"active"}),
    "gifted": frozenset({"gift escrow"}),
    "pledge_offered": frozenset({"active"}),
    "pledged": frozenset({"pledged"}),
    "deposit_offered": frozenset({"active"}),
    "in_custody": frozenset({"in custody"}),
    "redemption_requested": frozenset({"active", "in custody, redemption requested"}),
    "redeemed": frozenset({"redeemed"}),
}


def check_attestations(
    batches: dict[str, dict[str, Any]],
    attested: dict[str, int] | None,
    registry: Registry,
    report: Report,
) -> None:
    """Each batch's ``attestationCount`` on chain against its attestation rows (requested or
    on chain: the chain may hold fewer while some are in flight, never more) and, on a full
    export, the log's ``BatchAttested`` entries (``attested``; the chain holds at least as
    many)."""
    for public_id, batch in batches.items():
        if batch["status"] not in ON_CHAIN or batch.get("attestations") is None:
            continue
        on_chain = registry.attestation_count(bytes.fromhex(batch["chain_batch_id"][2:]))
        rows = int(batch["attestations"])
        confirmed = (attested or {}).get(public_id, 0)
        if not confirmed <= on_chain <= rows:
            report.add(
                "batch",
                f"batch {public_id}",
                f"{on_chain} attestations on chain; the export has {rows} attestation rows"
                + (f" and the log {confirmed} confirmed" if attested is not None else ""),
            )


def check_certificates(
    export: Export,
    registry: Registry,
    report: Report,
    in_flight: dict[str, str] | None = None,
) -> int:
    """Each confirmed certificate's owner row against ``ownerOf`` on chain, and its state row
    against the registry's lock views. ``in_flight`` maps a certificate whose last step the
    log shows requested but not yet confirmed or failed to the state it left: the chain may
    still show that state."""
    n = 0
    for cert in export.records("certificates.ndjson"):
        if not cert.get("confirmed"):
            continue
        owner = registry.owner_of(int(cert["token_id"]))
        n += 1
        if owner is None:
            report.add("certificate", f"certificate {cert['id']}", "its token is not on chain")
            continue
        allowed = LOCKS.get(cert["state"], frozenset())
        before = (in_flight or {}).get(cert["id"])
        if before is not None:
            allowed = allowed | LOCKS.get(before, frozenset())
        lock = registry.lock(int(cert["token_id"]))
        if lock not in allowed:
            report.add(
                "certificate",
                f"certificate {cert['id']}",
                f"its state is {cert['state']} in the export; the registry shows it {lock}",
            )
        elif owner.lower() != str(cert["owner_address"]).lower() and cert["state"] == "active":
            report.add(
                "certificate",
                f"certificate {cert['id']}",
                f"owner {cert['owner_address']} in the export, {owner} on chain",
            )
    report.facts["certificates"] = n
    return n
