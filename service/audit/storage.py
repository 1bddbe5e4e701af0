"""The auditor's export (issue 13): NDJSON files and a manifest, read in one snapshot.

Files (one JSON object a line; hashes as 0x hex):

* ``log.ndjson``       -- ``{index, leaf_hash, payload}``; another tenant's entries as
  ``{index, leaf_hash, withheld: true}`` (the ledger's rule, service/ledger/app/log_access.py,
  decides whose is whose)
* ``anchors.ndjson``   -- ``{size, root, status, tx_hash, block}``
* ``batches.ndjson``   -- ``{id, chain_batch_id, brand_id, factory_id, status, root,
  item_count, metadata, metadata_hash, recalled, attestations}`` (attestations: the
  attestation rows of the batch, requested or on chain)
* ``items.ndjson``     -- ``{batch_id, leaf_index, serial, item_hash, token_id, leaf}`` (never
  a PIN)
* ``units.ndjson``     -- ``{sscc, kind, batch_id, parent, holder_id}``
* ``certificates.ndjson`` -- ``{id, batch_id, token_id, state, owner_address, confirmed}``
* ``epcis.ndjson``     -- the EPCIS events captured through ``POST /epcis/capture``:
  ``{event_id, event_hash, organisation_id, event_time, body}`` (exported, not yet checked)
* ``manifest.json``    -- format, chain id, genesis hash, registry, sizes, SHA-256 of each file;
  for an incremental export, ``since_index`` (the last anchored size at or before the one
  asked for) and ``frontier``: ``{size, subtrees}``, the log tree's perfect subtrees there

docs/audit.md describes the format for the auditor.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from chain import log as event_log
from service.audit.ports import LogCut
from service.kernel.actor import Actor
from service.kernel.ports import LogEntry
from service.kernel.roles import Role
from service.kernel.storage.rows import EventRow, LogHeadRow
from service.ledger.storage.chain import CONTRACT
from service.ledger.storage.commitments import token_id as derive_token_id
from service.ledger.storage.log_tenants import SqlAlchemyLogTenants
from service.ledger.storage.rows import DeploymentRow

FORMAT = "tracecert-audit/1"
FILES = (
    "log.ndjson",
    "anchors.ndjson",
    "batches.ndjson",
    "items.ndjson",
    "units.ndjson",
    "certificates.ndjson",
    "epcis.ndjson",
)
_PAGE = 5000

Progress = Callable[[str, int, int], None]


def _hex(value: bytes | None) -> str | None:
    return None if value is None else "0x" + bytes(value).hex()


class _Writer:
    """One NDJSON file, hashed as it is written."""

    def __init__(self, path: Path) -> None:
        self._file = path.open("wb")
        self.sha = hashlib.sha256()
        self.count = 0

    def write(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, sort_keys=True, separators=(",", ":")).encode() + b"\n"
        self._file.write(line)
        self.sha.update(line)
        self.count += 1

    def close(self) -> None:
        self._file.close()


class SqlAlchemyAuditExporter:
    """Writes the export of what ``actor`` may see into a directory, in one transaction."""

    def __init__(self, sessions: sessionmaker[Session], cut_log: LogCut) -> None:
        self._sessions = sessions
        self._cut_log = cut_log

    def write(
        self,
        directory: Path,
        actor: Actor,
        since_index: int = 0,
        progress: Progress | None = None,
    ) -> dict[str, Any]:
        directory.mkdir(parents=True, exist_ok=True)
        brand = None if actor.role is Role.ADMIN else actor.brand_id
        with self._sessions() as session:
            if session.bind is not None and session.get_bind().dialect.name == "postgresql":
                # Every file from one snapshot: the log and the state rows agree.
                session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
            writers = {name: _Writer(directory / name) for name in FILES}
            try:
                size = int(session.scalar(select(LogHeadRow.size).where(LogHeadRow.id == 1)) or 0)
                start, frontier = self._frontier(session, min(since_index, size))
                self._log(session, writers["log.ndjson"], actor, start, size, progress)
                self._anchors(session, writers["anchors.ndjson"])
                batches = self._batches(session, writers["batches.ndjson"], brand, actor)
                self._items(session, writers["items.ndjson"], batches, progress)
                self._units(session, writers["units.ndjson"], batches)
                self._certificates(session, writers["certificates.ndjson"], batches)
                self._epcis(session, writers["epcis.ndjson"], brand, actor)
                deployment = session.execute(
                    select(DeploymentRow)
                    .where(DeploymentRow.contract == CONTRACT)
                    .order_by(DeploymentRow.id.desc())
                    .limit(1)
                ).scalar_one_or_none()
            finally:
                for w in writers.values():
                    w.close()
        manifest = {
            "format": FORMAT,
            "chain_id": deployment.chain_id if deployment else None,
            "genesis_hash": _hex(deployment.genesis_hash) if deployment else None,
            "registry": deployment.address if deployment else None,
            "brand_id": brand,
            # An incremental export starts at the last anchored size at or before the one
            # asked for, with the tree's frontier there (docs/audit.md).
            "since_index": start,
            "requested_since_index": since_index,
            "frontier": frontier,
            "log_size": size,
            "files": {
                name: {"sha256": w.sha.hexdigest(), "records": w.count}
                for name, w in writers.items()
            },
        }
        (directory / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True))
        return manifest

    # ------------------------------------------------------------------------- the files
    def _frontier(self, session: Session, since: int) -> tuple[int, dict[str, Any] | None]:
        """Where an export from ``since`` starts, and the log tree's frontier there: the last
        anchored size at or before ``since`` and the roots of its perfect subtrees, folded
        from the stored leaf hashes. The verifier checks the frontier's root against
        ``logRoot`` on chain and recomputes every later root from it. ``(0, None)`` for a
        full export."""
        start = int(
            session.scalar(
                text("SELECT MAX(size) FROM log_anchors WHERE status = 'anchored' AND size <= :n"),
                {"n": since},
            )
            or 0
        )
        if start == 0:
            return 0, None
        folder, last = event_log.LogFrontier(), -1
        while len(folder) < start:
            leaves = session.execute(
                select(EventRow.log_index, EventRow.leaf_hash)
                .where(EventRow.log_index > last, EventRow.log_index < start)
                .order_by(EventRow.log_index)
                .limit(_PAGE * 4)
            ).all()
            if not leaves:
                break  # entries missing: the frontier says so by its size, the verifier too
            folder.extend([bytes(leaf) for _, leaf in leaves])
            last = int(leaves[-1][0])
        return start, {"size": len(folder), "subtrees": [_hex(h) for h in folder.subtrees]}

    def _log(
        self,
        session: Session,
        out: _Writer,
        actor: Actor,
        since: int,
        size: int,
        progress: Progress | None,
    ) -> None:
        tenants = SqlAlchemyLogTenants(session)

        def entries() -> Iterator[LogEntry]:
            start = since
            while start < size:
                rows = session.execute(
                    select(
                        EventRow.log_index,
                        EventRow.type,
                        EventRow.occurred_at,
                        EventRow.payload,
                        EventRow.leaf_hash,
                    )
                    .where(EventRow.log_index >= start, EventRow.log_index < size)
                    .order_by(EventRow.log_index)
                    .limit(_PAGE)
                ).all()
                if not rows:
                    return
                for r in rows:
                    yield LogEntry(r[0], r[1], r[2], bytes(r[3]), bytes(r[4]))
                start = int(rows[-1][0]) + 1
                if progress:
                    progress("log", min(start, size) - since, size - since)

        for shown in self._cut_log(actor, entries(), tenants):
            record = {"index": shown["index"], "leaf_hash": shown["leaf_hash"]}
            if shown["withheld"]:
                record["withheld"] = True
            else:
                record["payload"] = shown["payload"]
            out.write(record)

    def _anchors(self, session: Session, out: _Writer) -> None:
        rows = session.execute(
            text(
                "SELECT a.size, a.root, a.status, o.mined_tx_hash, o.mined_block_number "
                "FROM log_anchors a LEFT JOIN outbox o ON o.id = a.outbox_id "
                "WHERE a.status != 'failed' ORDER BY a.size"
            )
        )
        for size, root, status, tx, block in rows:
            out.write(
                {
                    "size": int(size),
                    "root": _hex(root),
                    "status": status,
                    "tx_hash": _hex(tx),
                    "block": block,
                }
            )

    def _batches(
        self, session: Session, out: _Writer, brand: int | None, actor: Actor
    ) -> dict[int, tuple[str, bytes]]:
        where = "" if actor.role is Role.ADMIN else "WHERE b.brand_id = :brand"
        rows = session.execute(
            text(
                "SELECT b.id, b.public_id, b.chain_batch_id, b.brand_id, b.organisation_id, "
                "b.status, b.root, b.item_count, b.metadata_json, b.metadata_hash, "
                "b.recalled_at, "
                "(SELECT COUNT(*) FROM attestations a WHERE a.batch_id = b.id) "
                f"FROM batches b {where} ORDER BY b.id"
            ),
            {"brand": brand if brand is not None else -1},
        )
        batches: dict[int, tuple[str, bytes]] = {}
        for row in rows:
            metadata = row[8] if not isinstance(row[8], str) else json.loads(row[8])
            batches[row[0]] = (row[1], bytes(row[2]))
            out.write(
                {
                    "id": row[1],
                    "chain_batch_id": _hex(row[2]),
                    "brand_id": row[3],
                    "factory_id": row[4],
                    "status": row[5],
                    "root": _hex(row[6]),
                    "item_count": row[7],
                    "metadata": metadata,
                    "metadata_hash": _hex(row[9]),
                    "recalled": row[5] == "recalled" or row[10] is not None,
                    "attestations": int(row[11] or 0),
                }
            )
        return batches

    def _items(
        self,
        session: Session,
        out: _Writer,
        batches: dict[int, tuple[str, bytes]],
        progress: Progress | None,
    ) -> None:
        for batch_id, (public_id, chain_id) in batches.items():
            last = -1
            while True:
                rows = session.execute(
                    text(
                        "SELECT leaf_index, serial, item_hash, leaf FROM items "
                        "WHERE batch_id = :b AND leaf_index > :last ORDER BY leaf_index LIMIT :n"
                    ),
                    {"b": batch_id, "last": last, "n": _PAGE * 4},
                ).all()
                if not rows:
                    break
                for leaf_index, serial, item_hash, leaf in rows:
                    ih = bytes(item_hash)
                    out.write(
                        {
                            "batch_id": public_id,
                            "leaf_index": leaf_index,
                            "serial": serial,
                            "item_hash": _hex(ih),
                            "token_id": str(derive_token_id(chain_id, ih)),
                            "leaf": _hex(leaf),
                        }
                    )
                last = rows[-1][0]
                if progress:
                    progress("items", out.count, out.count)

    def _units(self, session: Session, out: _Writer, batches: dict[int, tuple[str, bytes]]) -> None:
        rows = session.execute(
            text(
                "SELECT u.sscc, u.kind, u.batch_id, p.sscc, u.holder_id FROM logistic_units u "
                "LEFT JOIN logistic_units p ON p.id = u.parent_id ORDER BY u.id"
            )
        )
        for sscc, kind, batch_id, parent, holder in rows:
            if batch_id in batches:
                out.write(
                    {
                        "sscc": sscc,
                        "kind": kind,
                        "batch_id": batches[batch_id][0],
                        "parent": parent,
                        "holder_id": holder,
                    }
                )

    def _certificates(
        self, session: Session, out: _Writer, batches: dict[int, tuple[str, bytes]]
    ) -> None:
        rows = session.execute(
            text(
                "SELECT public_id, batch_id, token_id, state, owner_address, claim_tx_hash "
                "FROM certificates ORDER BY id"
            )
        )
        for public_id, batch_id, token, state, owner, tx in rows:
            if batch_id in batches:
                out.write(
                    {
                        "id": public_id,
                        "batch_id": batches[batch_id][0],
                        "token_id": token,
                        "state": state,
                        "owner_address": owner,
                        "confirmed": tx is not None,
                    }
                )

    def _epcis(self, session: Session, out: _Writer, brand: int | None, actor: Actor) -> None:
        where = "" if actor.role is Role.ADMIN else "WHERE brand_id = :brand"
        rows = session.execute(
            text(
                "SELECT event_id, event_hash, organisation_id, event_time, body "
                f"FROM epcis_events {where} ORDER BY id"
            ).columns(),
            {"brand": brand if brand is not None else -1},
        )
        for event_id, event_hash, organisation_id, event_time, body in rows:
            record = {
                "event_id": event_id,
                "event_hash": event_hash,
                "organisation_id": organisation_id,
                "event_time": str(event_time),
            }
            try:
                parsed = json.loads(body) if isinstance(body, str | bytes) else body
                out.write({**record, "body": parsed})
            except (ValueError, RecursionError):
                # A document stored before capture refused such things (issue 12, item 8):
                # it is named, never allowed to stop the export.
                out.write({**record, "body": None, "unreadable": True})


def iter_files(directory: Path) -> Iterable[Path]:
    """The export's files, manifest last (as they go into a tar stream)."""
    return [*(directory / n for n in FILES), directory / "manifest.json"]
