"""The event log proven against the chain, and tampering located.

One implementation for the anchorer (``anchor_log``), ``/health``, ``GET /log`` and
``tracecert log verify``. Insiders are in the threat model: someone with database access may
drop the append-only triggers and edit, delete, copy or move rows at any time, so a pass never
trusts the triggers, ``log_anchors`` or an in-memory frontier. It streams the stored rows in
index order (pages of leaf hashes; payloads only inside a window), folds the leaf hashes into an
RFC 6962 tree edge (O(log n) memory) and, on the way:

* checks that indexes are dense: each missing run is a ``gap``, an index stored twice a
  ``duplicate``;
* takes the stored log's root at each checkpoint size, to compare with the roots anchored on
  chain (``root`` findings when they differ);
* inside the payload window, checks each entry: its stored leaf hash is ``H(0x00 || payload)``,
  the ``log_index`` it carries is its position (else it was moved: ``reordered``, or copied:
  ``duplicate``), and its ``prev`` is the stored leaf hash of the entry before it (else that
  entry was edited together with its leaf hash: ``edited``).

Entries written before links existed carry no ``log_index``/``prev``; they are proven by the
anchored roots only, which can narrow an edit down to the entries between two anchored sizes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from service.alerts.interface import Alert, AlertKind, AlertRaised
from service.kernel.errors import TracecertError
from service.kernel.events import NO_PREVIOUS_LEAF, MalformedEntryError, log_link
from service.kernel.ports import Clock, LogRow
from service.kernel.roles import OrganisationKind
from service.ledger.ports import (
    LedgerUnitOfWork,
    LedgerUnitOfWorkFactory,
    LogAnchor,
    LogCheck,
    LogCommitments,
    LogLedger,
)

#: Rows read per query (32-byte leaf hashes; payloads are a few hundred bytes).
PAGE = 50_000
#: Findings kept per pass (the count says how many there were in all).
MAX_FINDINGS = 50
#: Entries out of place remembered at once (to tell a move from a copy).
MAX_TRACKED = 10_000
#: Anchored sizes at or below the chain's latest whose stored roots a pass keeps, to narrow an
#: edit below the latest anchor down to the entries between two anchored sizes.
NARROWING_ANCHORS = 256

#: ``progress(stage, done, total)`` for long passes (the CLI's progress bar).
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class Finding:
    """One thing wrong with the stored log, at ``index`` (through ``end`` for a run)."""

    kind: str  # edited | gap | duplicate | reordered | root
    index: int
    detail: str
    end: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "index": self.index, "end": self.end, "detail": self.detail}


@dataclass
class Inspection:
    """What one streaming pass found: findings, and the stored roots at the checkpoints."""

    rows: int = 0
    findings: list[Finding] = field(default_factory=list)
    finding_count: int = 0
    roots: dict[int, bytes | None] = field(default_factory=dict)


class _Inspector:
    """Feeds on stored rows in index order; see the module docstring for what it checks."""

    def __init__(self, commitments: LogCommitments, checkpoints: Iterable[int], size: int) -> None:
        self._c = commitments
        self._folder = commitments.log_folder()
        self._checkpoints = sorted({s for s in checkpoints if 0 <= s <= size})
        self._next_checkpoint = 0
        self.result = Inspection()
        #: Roots are sound only below the first index where density broke.
        self._broken_at: int | None = None
        self._next = 0  # the index the next row should carry
        self._last: tuple[int, bytes, bool] | None = None  # index, leaf hash, in place
        self._linked_at: int | None = None  # a linked entry seen before
        self._moved: dict[int, int] = {}  # position -> index carried, entries out of place
        self._waiting: dict[int, int] = {}  # index carried -> position, for indexes ahead

    # ------------------------------------------------------------------ feeding
    def feed(self, row: LogRow) -> None:
        index, leaf, payload = row
        self.result.rows += 1
        if self._last is not None and index == self._last[0]:
            self._note("duplicate", index, f"index {index} is stored more than once")
            self._break(index)
            return
        after_gap = index > self._next
        if after_gap:
            self._gap(self._next, index - 1)
        self._reach(index)
        if self._broken_at is None:
            self._folder.append(leaf)
        in_place = True
        if payload is not None:
            in_place = self._check_entry(index, leaf, payload, after_gap)
        waiting = self._waiting.pop(index, None)
        if waiting is not None:
            if in_place:
                self._note("duplicate", waiting, f"index {waiting} holds a copy of entry {index}")
            else:
                self._note(
                    "reordered", waiting, f"index {waiting} holds the entry written as {index}"
                )
        self._last = (index, leaf, in_place)
        self._next = index + 1

    def feed_page(self, rows: Sequence[LogRow]) -> None:
        """Feed a page of rows; a dense page without payloads is folded in bulk (most of a
        pass), anything else row by row."""
        first, last = rows[0][0], rows[-1][0]
        if (
            rows[0][2] is not None
            or first != self._next
            or last - first + 1 != len(rows)
            or any(first <= waiting <= last for waiting in self._waiting)
            or [r[0] for r in rows] != list(range(first, last + 1))
        ):
            for row in rows:
                self.feed(row)
            return
        self.result.rows += len(rows)
        self._reach(first)
        if self._broken_at is None:
            # Fold up to each checkpoint inside the page, take its root, then the rest.
            position, points = first, self._checkpoints
            while self._next_checkpoint < len(points) and points[self._next_checkpoint] <= last:
                size = points[self._next_checkpoint]
                self._folder.extend([r[1] for r in rows[position - first : size - first]])
                position = size
                self._reach(size)
            self._folder.extend([r[1] for r in rows[position - first :]])
        else:
            self._reach(last)
        self._last = (last, rows[-1][1], True)
        self._next = last + 1

    def finish(self, size: int) -> Inspection:
        """Close the pass at ``size`` (the log's claimed size): missing tail entries are gaps."""
        if self._next < size:
            self._gap(self._next, size - 1)
        self._reach(size)
        for carried, position in sorted(self._waiting.items(), key=lambda kv: kv[1]):
            self._note(
                "reordered",
                position,
                f"index {position} holds an entry written as {carried}, beyond the log's end",
            )
        self.result.findings.sort(key=lambda f: (f.index, f.kind))
        return self.result

    # ------------------------------------------------------------------ checks
    def _check_entry(self, index: int, leaf: bytes, payload: bytes, after_gap: bool) -> bool:
        """Check one entry's bytes; return whether it sits where its link says."""
        if self._c.log_leaf_hash(payload) != leaf:
            self._note(
                "edited",
                index,
                f"entry {index}'s stored leaf hash is not H(0x00 || payload): "
                "its payload or its leaf hash was changed",
            )
        try:
            link = log_link(payload)
        except MalformedEntryError as exc:
            self._note("edited", index, f"entry {index} is not a log entry ({exc})")
            return True
        if link is None:
            if self._linked_at is not None:
                self._note(
                    "edited",
                    index,
                    f"entry {index} carries no log link although entry {self._linked_at} "
                    "before it does",
                )
            return True
        self._linked_at = index
        if link.index != index:
            self._misplaced(index, link.index)
            return False
        last = self._last
        if index == 0:
            if link.prev != NO_PREVIOUS_LEAF:
                self._note("edited", 0, "entry 0 links to a predecessor; the first has none")
        elif (
            not after_gap
            and last is not None
            and last[0] == index - 1
            and last[2]
            and link.prev != last[1]
        ):
            self._note(
                "edited",
                index - 1,
                f"entry {index - 1} differs from the entry {index} was linked to "
                f"(stored leaf hash 0x{last[1].hex()}, linked 0x{link.prev.hex()})",
            )
        return True

    def _misplaced(self, position: int, carried: int) -> None:
        if len(self._moved) < MAX_TRACKED:
            self._moved[position] = carried
        if carried < position:
            if carried in self._moved:
                self._note(
                    "reordered", position, f"index {position} holds the entry written as {carried}"
                )
            else:
                self._note(
                    "duplicate", position, f"index {position} holds a copy of entry {carried}"
                )
        elif len(self._waiting) < MAX_TRACKED:
            self._waiting[carried] = position  # a move or a copy: known once ``carried`` is read
        else:
            self._note(
                "reordered", position, f"index {position} holds the entry written as {carried}"
            )

    def _gap(self, first: int, last: int) -> None:
        detail = (
            f"entry {first} is missing"
            if first == last
            else f"entries {first} to {last} are missing ({last - first + 1})"
        )
        self._note("gap", first, detail, None if first == last else last)
        self._break(first)

    def _break(self, index: int) -> None:
        if self._broken_at is None or index < self._broken_at:
            self._broken_at = index

    def _reach(self, limit: int) -> None:
        """Take the roots of every checkpoint size up to ``limit`` (all leaves below it read)."""
        points = self._checkpoints
        while self._next_checkpoint < len(points) and points[self._next_checkpoint] <= limit:
            size = points[self._next_checkpoint]
            sound = self._broken_at is None or size <= self._broken_at
            self.result.roots[size] = (
                self._folder.root() if sound and len(self._folder) == size else None
            )
            self._next_checkpoint += 1

    def _note(self, kind: str, index: int, detail: str, end: int | None = None) -> None:
        self.result.finding_count += 1
        if len(self.result.findings) < MAX_FINDINGS:
            self.result.findings.append(Finding(kind, index, detail, end))


def inspect(
    uow: LedgerUnitOfWork,
    commitments: LogCommitments,
    size: int,
    checkpoints: Iterable[int] = (),
    payloads: tuple[int, int] = (0, 0),
    progress: Progress | None = None,
) -> Inspection:
    """Stream the stored log up to ``size`` (inside ``uow``), reading payloads for indexes in
    ``payloads`` (``[start, end)``); the stored roots at ``checkpoints`` come back too."""
    inspector = _Inspector(commitments, checkpoints, size)
    low, high = max(0, payloads[0]), min(size, payloads[1])
    ranges = [(0, low, False), (low, high, True), (high, size, False)]
    for start, end, with_payloads in ranges if low < high else [(0, size, False)]:
        # Pages by index, each from the last index read, skipping the rows of that index
        # already fed: a page boundary cannot hide an index stored twice.
        last, seen = start, 0
        while rows := uow.events.rows(last, end, PAGE + seen, with_payloads)[seen:]:
            inspector.feed_page(rows)
            tail = rows[-1][0]
            same = 1
            while same < len(rows) and rows[-1 - same][0] == tail:
                same += 1
            seen, last = (seen + same if tail == last else same), tail
            if progress is not None:
                progress("entries", tail + 1, size)
    return inspector.finish(size)


class Inspector(Protocol):
    """What reads the stored log for a proof: :func:`inspect`, here or in another process."""

    def __call__(
        self,
        uow: LedgerUnitOfWork,
        commitments: LogCommitments,
        size: int,
        checkpoints: Iterable[int] = (),
        payloads: tuple[int, int] = (0, 0),
        progress: Progress | None = None,
    ) -> Inspection: ...


def _first_bad(findings: Sequence[Finding], lower: int | None) -> int | None:
    located = [f.index for f in findings if f.kind != "root"]
    if located:
        return min(located)
    return lower


def _root_finding(size: int, stored: bytes | None, why: str) -> Finding:
    if stored is None:
        return Finding(
            "root",
            size,
            f"the stored log has no root at size {size} (entries below it are missing or "
            f"doubled), but {why}",
        )
    return Finding("root", size, f"the stored log's root at size {size} is 0x{stored.hex()}, {why}")


# ----------------------------------------------------------------------------- the anchorer
@dataclass(frozen=True)
class _ChainView:
    size: int
    root: bytes | None


def _chain_root(ledger: LogLedger, size: int) -> bytes | None:
    """The root anchored on chain at ``size``; None if none (the contract answers zero)."""
    root = ledger.log_root(size)
    return None if root == bytes(32) else root


def prove(
    uow_factory: LedgerUnitOfWorkFactory,
    commitments: LogCommitments,
    ledger: LogLedger,
    clock: Clock,
    inspector: Inspector | None = None,
) -> LogCheck:
    """Prove the stored log against the last root anchored on chain, before anchoring more.

    Every stored leaf hash is read (an edit below an in-memory frontier would be invisible);
    payloads are read for the entries since the chain's latest size (and, when a root
    disagrees, for the entries since the last anchored size that still agrees, to name them).
    Nothing is written here: ``record`` keeps the outcome and raises the alerts. ``inspector``
    runs the reading passes (the anchorer's runs them in a process of its own)."""
    inspect_log = inspector or inspect
    now = clock.now()
    try:
        chain_size = ledger.latest_log_size()
        chain = _ChainView(chain_size, _chain_root(ledger, chain_size) if chain_size else None)
    except TracecertError as exc:
        return LogCheck("unchecked", 0, now, reason=f"The chain cannot be read: {exc.detail}")
    with uow_factory.reader() as uow:
        stored_size = uow.events.size()
        size = max(stored_size, chain.size)
        # Anchors requested (or confirmed, then removed by a reorganisation) above the chain's
        # size commit to roots too: the log must still have them.
        pending = uow.log_anchors.after(chain.size, 1000)
        earlier = sorted(a.size for a in uow.log_anchors.up_to(chain.size, NARROWING_ANCHORS))
        shown = [a.size for a in (uow.log_anchors.latest(), uow.log_anchors.latest_anchored()) if a]
        checkpoints = {chain.size, stored_size, *shown, *earlier, *(a.size for a in pending)}
        found = inspect_log(uow, commitments, size, checkpoints, (chain.size - 1, size))
        findings = list(found.findings)
        count = found.finding_count
        lower: int | None = None
        stored_at_chain = found.roots.get(chain.size)
        if chain.size and stored_at_chain != chain.root:
            findings.append(
                _root_finding(
                    chain.size,
                    stored_at_chain,
                    f"the root anchored on chain is 0x{(chain.root or bytes(32)).hex()}",
                )
            )
            count += 1
            known = {(f.kind, f.index) for f in findings}
            previous = uow.log_checks.last()
            if (
                previous is not None
                and previous.status == "failed"
                and previous.chain_size == chain.size
                and chain.size in previous.roots
                and previous.roots[chain.size] == stored_at_chain
            ):
                # The same stored prefix as at the last pass (its root says so): what that
                # pass named below the chain's size still stands; re-reading every payload
                # each interval would only say it again.
                lower = previous.first_bad_index
                extra = [
                    Finding(f["kind"], f["index"], f["detail"], f["end"])
                    for f in previous.findings
                    if f["kind"] in ("edited", "duplicate", "reordered")
                    and f["index"] < chain.size - 1
                    and (f["kind"], f["index"]) not in known
                ]
            else:
                lower = _last_agreeing(ledger, earlier, found.roots, chain.size)
                located = inspect_log(uow, commitments, size, (), (lower - 1, chain.size + 1))
                extra = [f for f in located.findings if (f.kind, f.index) not in known]
            findings.extend(extra)
            count += len(extra)
        for anchor in pending:
            stored = found.roots.get(anchor.size)
            if stored != anchor.root:
                why = f"the anchor {anchor.status} at that size commits to 0x{anchor.root.hex()}"
                findings.append(_root_finding(anchor.size, stored, why))
                count += 1
    findings.sort(key=lambda f: (f.index, f.kind))
    keep = {chain.size, stored_size, *shown, *(a.size for a in pending)}
    roots = {s: r for s, r in found.roots.items() if s in keep}
    if not findings:
        return LogCheck("ok", size, now, chain_size=chain.size, roots=roots)
    return LogCheck(
        "failed",
        size,
        now,
        chain_size=chain.size,
        first_bad_index=_first_bad(findings, lower),
        reason=f"{count} problem(s) in the stored log; nothing is anchored until it is whole",
        findings=tuple(f.as_dict() for f in findings[:MAX_FINDINGS]),
        roots=roots,
    )


def _last_agreeing(
    ledger: LogLedger, sizes: Sequence[int], stored: dict[int, bytes | None], below: int
) -> int:
    """The largest anchored size below ``below`` whose stored root the chain confirms (0 if
    none): a log that agrees at a size agrees at every smaller one, so a binary search."""
    candidates = [s for s in sizes if 0 < s < below]
    low, high, best = 0, len(candidates) - 1, 0
    try:
        while low <= high:
            middle = (low + high) // 2
            size = candidates[middle]
            if stored.get(size) is not None and stored.get(size) == _chain_root(ledger, size):
                best, low = size, middle + 1
            else:
                high = middle - 1
    except TracecertError:
        return best
    return best


def record(uow: LedgerUnitOfWork, check: LogCheck) -> LogCheck:
    """Keep the pass's outcome and alert every brand's auditors once per new finding.

    A log found failed stays failed until a pass proves it whole: a pass that cannot read the
    chain keeps the failure (with its findings) instead of turning ``unchecked``."""
    previous = uow.log_checks.last()
    was_failed = previous is not None and previous.status == "failed"
    if check.status == "unchecked" and was_failed:
        assert previous is not None
        check = replace(previous, checked_at=check.checked_at, reason=check.reason)
    elif check.status == "failed":
        since = previous.failed_since if was_failed and previous else None
        check = replace(check, failed_since=since or check.checked_at)
        known = (
            {(f["kind"], f["index"]) for f in previous.findings}
            if was_failed and previous
            else set()
        )
        new = [f for f in check.findings if (f["kind"], f["index"]) not in known]
        if new:
            _alert(uow, check, new)
    uow.log_checks.save(check)
    return check


def _brands(uow: LedgerUnitOfWork) -> list[int | None]:
    brands: list[int | None] = []
    offset = 0
    while True:
        page = uow.organisations.list(offset, 500)
        brands += [o.id for o in page if o.kind is OrganisationKind.BRAND]
        if len(page) < 500:
            return brands or [None]
        offset += 500


def _alert(uow: LedgerUnitOfWork, check: LogCheck, findings: Sequence[dict[str, Any]]) -> None:
    """One alert per finding for every brand: the log and its anchored roots are the evidence
    every brand's records rest on, and an edited entry's own brand cannot be trusted from its
    (edited) bytes."""
    assert check.failed_since is not None
    incident = check.failed_since.strftime("%Y%m%dT%H%M%S%f")
    for brand in _brands(uow):
        for finding in findings:
            alert, new = uow.alerts.raise_or_repeat(
                Alert(
                    kind=AlertKind.LOG_INTEGRITY,
                    dedupe_key=(
                        f"log_integrity:{brand}:{incident}:{finding['kind']}:{finding['index']}"
                    ),
                    brand_id=brand,
                    batch_id=None,
                    serial=None,
                    detail={
                        **finding,
                        "first_bad_index": check.first_bad_index,
                        "size": check.size,
                        "chain_size": check.chain_size,
                    },
                ),
                check.checked_at,
            )
            if new:
                assert alert.id is not None
                uow.events.append(
                    AlertRaised(alert.id, AlertKind.LOG_INTEGRITY.value, None, None),
                    check.checked_at,
                )


def check_view(check: LogCheck | None) -> dict[str, Any]:
    """The last pass as /health and GET /log show it."""
    if check is None:
        return {
            "log_integrity": "unchecked",
            "size": None,
            "checked_at": None,
            "chain_size": None,
            "first_bad_index": None,
            "failed_since": None,
            "reason": "no integrity pass has run yet",
            "findings": [],
        }
    return {
        "log_integrity": check.status,
        "size": check.size,
        "checked_at": check.checked_at.isoformat(),
        "chain_size": check.chain_size,
        "first_bad_index": check.first_bad_index,
        "failed_since": check.failed_since.isoformat() if check.failed_since else None,
        "reason": check.reason,
        "findings": list(check.findings),
    }


# ----------------------------------------------------------------------------- the auditor
@dataclass(frozen=True)
class AnchorVerdict:
    """One anchored size: the root on chain, in ``log_anchors`` and of the stored log."""

    size: int
    status: str  # ok | root_differs | not_on_chain | recorded_differs
    detail: str
    chain_root: bytes | None
    recorded_root: bytes | None
    stored_root: bytes | None


@dataclass(frozen=True)
class LogReport:
    """Everything ``tracecert log verify`` found."""

    size: int
    chain_size: int
    findings: list[Finding]
    finding_count: int
    anchors: list[AnchorVerdict]
    first_bad_index: int | None

    @property
    def ok(self) -> bool:
        return not self.finding_count and all(a.status == "ok" for a in self.anchors)


def verify(
    uow_factory: LedgerUnitOfWorkFactory,
    commitments: LogCommitments,
    ledger: LogLedger,
    progress: Progress | None = None,
) -> LogReport:
    """Replay the whole stored log against every anchored root: each entry's bytes and link,
    density, and the root at every size ``log_anchors`` calls anchored or the chain holds last.

    Raises:
        LedgerUnavailableError: the chain cannot be read (nothing can be verified without it).
    """
    chain_size = ledger.latest_log_size()
    with uow_factory.reader() as uow:
        stored_size = uow.events.size()
        recorded: dict[int, LogAnchor] = {}
        after = 0
        while page := uow.log_anchors.after(after, 1000):
            recorded.update((a.size, a) for a in page if a.status == "anchored")
            after = page[-1].size
    sizes = sorted({*recorded, *([chain_size] if chain_size else [])})
    chain_roots: dict[int, bytes | None] = {}
    for n, size in enumerate(sizes, 1):
        chain_roots[size] = _chain_root(ledger, size)
        if progress is not None:
            progress("anchors", n, len(sizes))
    size = max(stored_size, chain_size)
    with uow_factory.reader() as uow:
        found = inspect(uow, commitments, size, sizes, (0, size), progress)
    verdicts = [_verdict(s, chain_roots[s], recorded.get(s), found.roots.get(s)) for s in sizes]
    # Without a named entry, an edit lies above the last size whose root still agrees.
    differs = [v.size for v in verdicts if v.status == "root_differs"]
    lower = None
    if differs:
        lower = max(
            (v.size for v in verdicts if v.status == "ok" and v.size < differs[0]), default=0
        )
    return LogReport(
        size=size,
        chain_size=chain_size,
        findings=found.findings,
        finding_count=found.finding_count,
        anchors=verdicts,
        first_bad_index=_first_bad(found.findings, lower),
    )


def _verdict(
    size: int, chain: bytes | None, row: LogAnchor | None, stored: bytes | None
) -> AnchorVerdict:
    recorded = row.root if row is not None else None

    def verdict(status: str, detail: str) -> AnchorVerdict:
        return AnchorVerdict(size, status, detail, chain, recorded, stored)

    if chain is None:
        return verdict(
            "not_on_chain",
            "log_anchors calls this size anchored, but the chain holds no root for it "
            "(a reorganisation removed the write, or the row was forged)",
        )
    if stored != chain:
        if stored is None:
            return verdict(
                "root_differs",
                "the stored log has no root at this size (entries below it are missing or doubled)",
            )
        return verdict("root_differs", "the stored log's root differs from the root on chain")
    if recorded is not None and recorded != chain:
        return verdict("recorded_differs", "log_anchors records another root than the chain holds")
    return verdict("ok", "the stored log's root is the root on chain")


# ----------------------------------------------------------------------------- GET /log
def anchor_view(anchor: LogAnchor, ledger: LogLedger, check: LogCheck | None) -> dict[str, Any]:
    """An anchor beside the chain: the on-chain root and whether the stored log's root at that
    size (as the last pass found it) matches it."""
    try:
        chain: bytes | None = _chain_root(ledger, anchor.size)
        readable = True
    except TracecertError:
        chain, readable = None, False
    stored = check.roots.get(anchor.size) if check is not None else None
    checked = check is not None and anchor.size in check.roots
    matches = stored == chain if readable and checked and chain is not None else None
    problem = None
    if readable and chain is None and anchor.status == "anchored":
        problem = "not_on_chain"
    elif readable and chain is not None and checked and stored != chain:
        problem = "root_differs"
    elif readable and chain is not None and anchor.root != chain:
        problem = "recorded_differs"
    return {
        "chain_root": chain,
        "stored_root": stored,
        "matches": matches,
        "problem": problem,
    }
