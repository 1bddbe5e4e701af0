"""The event log: dense indexes, every entry's bytes and link, and each anchored root against
``logRoot(size)`` on chain (RFC 6962; docs/event-log.md gives the entry format)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from tracecert_verify.export import Export, ExportError, Report
from tracecert_verify.hashing import LogFolder, log_leaf
from tracecert_verify.rpc import Registry

Progress = Callable[[str, int, int], None]


def check_log(
    export: Export,
    registry: Registry,
    report: Report,
    progress: Progress,
    feed: Callable[[int, dict[str, Any]], None],
) -> None:
    """Check the log, handing each readable entry ``(index, body)`` to ``feed`` (the replay)."""
    since = int(export.manifest.get("since_index", 0))
    size = int(export.manifest["log_size"])
    anchors = list(export.records("anchors.ndjson"))
    anchored = {int(a["size"]): a for a in anchors if a.get("status") == "anchored"}
    folder = LogFolder() if since == 0 else _frontier(export, since, registry, report)
    expected, prev_leaf = since, None
    roots: dict[int, bytes] = {}
    for record in export.records("log.ndjson"):
        index, leaf = int(record["index"]), bytes.fromhex(record["leaf_hash"][2:])
        if index > expected:
            report.add("log", f"entries {expected}..{index - 1}", "missing: indexes are not dense")
        elif index < expected:
            report.add("log", f"entry {index}", f"out of order: found after entry {expected - 1}")
        payload = record.get("payload")
        if payload is not None:
            raw = payload.encode("utf-8")
            if log_leaf(raw) != leaf:
                report.add("log", f"entry {index}", "edited: its bytes do not hash to its leaf")
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
            if not isinstance(body, dict):
                report.add("log", f"entry {index}", "edited: not a JSON object")
            else:
                feed(index, body)
                if body.get("log_index") not in (None, index):
                    report.add(
                        "log",
                        f"entry {index}",
                        f"reordered: it says it is entry {body.get('log_index')}",
                    )
                link = body.get("prev")
                if link is not None and prev_leaf is not None and link != "0x" + prev_leaf.hex():
                    report.add(
                        "log",
                        f"entry {index - 1}",
                        f"edited with its leaf hash: entry {index} links to another leaf",
                    )
        folder.append(leaf)
        if folder.size in anchored:
            roots[folder.size] = folder.root()
        prev_leaf, expected = leaf, max(expected, index + 1)
        if expected % 10000 == 0:
            progress("log", expected - since, size - since)
    if expected < size:
        report.add("log", f"entries {expected}..{size - 1}", "missing: the log ends early")
    progress("log", size - since, size - since)
    report.facts["log_size"] = size
    report.facts["anchors"] = len(anchored)
    _roots(anchored, roots, size, since, registry, report)


def _frontier(export: Export, since: int, registry: Registry, report: Report) -> LogFolder:
    """An incremental export starts at an anchored size; its manifest carries the tree's
    frontier there (the perfect subtrees' roots). The frontier's root must be the chain's
    ``logRoot(since)``: then every later root recomputes from it and the entries exported, and
    each is consistent with the anchor at ``since``."""
    frontier = export.manifest.get("frontier") or {}
    if int(frontier.get("size", -1)) != since:
        raise ExportError(f"an incremental export from {since} without its frontier there")
    try:
        folder = LogFolder.resume(since, [bytes.fromhex(h[2:]) for h in frontier["subtrees"]])
    except (KeyError, TypeError, ValueError) as exc:
        raise ExportError(f"the frontier at {since} is malformed: {exc}") from exc
    on_chain = registry.log_root(since)
    if on_chain == bytes(32):
        report.add("anchor", f"size {since}", "the export starts here; the chain holds no root")
    elif folder.root() != on_chain:
        report.add(
            "anchor",
            f"size {since}",
            "the frontier's root is not the chain's: the entries before it were changed",
        )
    else:
        report.facts["frontier_verified"] = since
    return folder


def _roots(
    anchored: dict[int, dict[str, Any]],
    roots: dict[int, bytes],
    size: int,
    since: int,
    registry: Registry,
    report: Report,
) -> None:
    checked = 0
    for anchor_size, anchor in sorted(anchored.items()):
        if anchor_size < since:
            continue  # before this export: checked by an earlier audit, or the frontier
        on_chain = registry.log_root(anchor_size)
        if on_chain == bytes(32):
            report.add("anchor", f"size {anchor_size}", "the chain holds no root for this size")
            continue
        if anchor.get("root") != "0x" + on_chain.hex():
            report.add("anchor", f"size {anchor_size}", "the recorded root is not the chain's")
        if anchor_size == since:
            continue  # the frontier's own root, checked against the chain above
        mine = roots.get(anchor_size)
        if mine is None:
            report.add("anchor", f"size {anchor_size}", "the export has fewer entries")
        elif mine != on_chain:
            report.add(
                "anchor",
                f"size {anchor_size}",
                f"the log's root 0x{mine.hex()} is not the chain's 0x{on_chain.hex()}",
            )
        else:
            checked += 1
    # Every anchored root recomputed from one sequence of leaves (from the frontier the chain
    # vouches for): each anchor is consistent with the one before (a prefix of the newer).
    report.facts["roots_verified"] = checked
    last = max(anchored, default=0)
    # The next daily export: from the last anchored size (docs/audit.md, "A daily audit").
    report.facts["next_since_index"] = max(last, since)
    if size > last:
        report.unanchored_tail = size - last
        report.facts["unanchored_tail"] = f"entries {last}..{size - 1}"
