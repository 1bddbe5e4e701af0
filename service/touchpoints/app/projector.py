"""The projector: the event log and the consumer-scan stream, applied to the journey exactly
once, in pages.

Each page is one transaction: the page's effects and its source's new checkpoint commit
together, and the checkpoint moves by a conditional update. So a projector killed between
applying and checkpointing leaves nothing of the page, the next pass applies it again from the
same checkpoint, and two projectors (two processes) never both apply a page: the one whose
checkpoint update finds the position moved rolls back. The log's indexes are dense and in commit
order (appended under a lock), so reading after the checkpoint misses nothing.

The effects do not depend on the order the two sources are read in (each stage keeps its earliest
cause), so a rebuild from scratch (:func:`rebuild`) builds the state the live projector built.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from service.kernel.events import canonical_json
from service.kernel.ports import Clock, LogEntry
from service.touchpoints.domain.journey import (
    USE_ACTIONS,
    Cause,
    Reach,
    Source,
    Stage,
    account_subject,
    device_subject,
    is_loyal,
    wallet_subject,
)
from service.touchpoints.ports import (
    CertificateFacts,
    Holding,
    ScanFact,
    TouchpointsUnitOfWork,
    TouchpointsUnitOfWorkFactory,
)

#: Entries per transaction: big enough that a page's fixed cost is small, small enough that a
#: page's write lock is short (SQLite has one writer).
PAGE = 500

#: A log page covers this many pages' worth of indexes: the entries the journey does not read
#: are skipped in the database, so a range costs little more than the entries it applies.
LOG_RANGE = 10

#: Progress callback of a long catch-up (the CLI's bar): entries applied, entries (at most) to go.
Progress = Callable[[int, int], None]


class Projector:
    """Applies the feed's two sources to the journey, a page at a time."""

    def __init__(self, uows: TouchpointsUnitOfWorkFactory, clock: Clock, page: int = PAGE) -> None:
        self.uows = uows
        self.clock = clock
        self.page = page
        #: Entries applied by this projector since it started.
        self.applied = 0

    def step(self) -> int:
        """Apply one page of each source; how many entries were applied."""
        done = self._log_page() + self._scan_page()
        self.applied += done
        return done

    def catch_up(self, progress: Progress | None = None) -> int:
        """Apply pages until both sources are read to their end; how many entries."""
        total = 0
        while True:
            done = self.step()
            total += done
            if progress is not None:
                now = lag(self.uows)
                progress(total, now["log_behind"] + now["scan_ids_behind"])
            if done == 0:
                return total

    def lag(self) -> dict[str, Any]:
        """How far the projector stands behind each source."""
        return lag(self.uows)

    def rebuild(self, progress: Progress | None = None) -> int:
        """Forget what the feed built and apply both sources again (:func:`rebuild`)."""
        return rebuild(self.uows, self.clock, progress)

    def snapshot(self) -> bytes:
        """The feed's state as canonical bytes (:func:`snapshot`)."""
        return snapshot(self.uows)

    # ------------------------------------------------------------------ the event log
    def _log_page(self) -> int:
        """A range of the log: only the entries of the types the journey reads are fetched
        (most of the log is the channel's), and the checkpoint moves past the whole range."""
        with self.uows() as uow:
            start = uow.feed_checkpoints.position(Source.LOG)
            end = min(start + self.page * LOG_RANGE, uow.events.size())
            if end <= start:
                return 0
            for entry in uow.scan_feed.log_entries(start, end, _HANDLERS):
                apply_entry(uow, entry)
            if not uow.feed_checkpoints.advance(Source.LOG, start, end, self.clock.now()):
                uow.rollback()  # another projector applied this range
                return 0
            uow.commit()
            return end - start

    # ------------------------------------------------------------------ the scan stream
    def _scan_page(self) -> int:
        with self.uows() as uow:
            start = uow.feed_checkpoints.position(Source.SCANS)
            scans = uow.scan_feed.scans_after(start, self.page)
            if not scans:
                return 0
            reaches = [r for r in map(scan_reach, scans) if r is not None]
            if reaches:
                uow.journeys.reach(reaches)
            end = scans[-1].position
            if not uow.feed_checkpoints.advance(Source.SCANS, start, end, self.clock.now()):
                uow.rollback()
                return 0
            uow.commit()
            return len(scans)


def scan_reach(scan: ScanFact) -> Reach | None:
    """A consumer's scan of a genuine bottle discovers the brand for its (anonymous) device."""
    if scan.by_partner or scan.verdict != "genuine" or scan.brand_id is None:
        return None
    return Reach(
        scan.brand_id,
        device_subject(scan.device_hash),
        Stage.DISCOVER,
        Cause(scan.at, Source.SCANS, scan.position),
        scan.region_code,
        scan.gtin,
    )


# ----------------------------------------------------------------------------- the log's events
def apply_entry(uow: TouchpointsUnitOfWork, entry: LogEntry) -> None:
    """Apply one entry of the log (events that are no touchpoint change nothing)."""
    handler = _HANDLERS.get(entry.type)
    if handler is None:
        return
    body = json.loads(entry.payload)
    handler(uow, body, Cause(entry.occurred_at, Source.LOG, entry.index))


def _account_created(uow: TouchpointsUnitOfWork, body: dict[str, Any], cause: Cause) -> None:
    uow.journeys.put_wallet(body["wallet_address"].lower(), account_subject(body["account_id"]))


def _subject_of(uow: TouchpointsUnitOfWork, address: str) -> str:
    """The account known to hold ``address``, else the address itself."""
    return uow.journeys.wallet_holder(address.lower()) or wallet_subject(address)


def _claim_requested(uow: TouchpointsUnitOfWork, body: dict[str, Any], cause: Cause) -> None:
    brand = uow.scan_feed.batch_brand(body["batch_id"])
    if brand is None:
        return
    brand_id, gtin = brand
    if brand_id is None:  # a batch of no brand: nobody's touchpoint
        return
    subject = _subject_of(uow, body["owner_address"])
    facts = CertificateFacts(
        body["certificate_id"],
        brand_id,
        body["batch_id"],
        gtin,
        body.get("region"),
        pending_action="claim",
        pending_by=subject,
    )
    uow.journeys.put_certificate(facts)
    uow.journeys.reach([_reach(facts, subject, Stage.ACTIVATE, cause)])


def _claimed(uow: TouchpointsUnitOfWork, body: dict[str, Any], cause: Cause) -> None:
    facts = uow.journeys.certificate(body["certificate_id"])
    if facts is None or facts.pending_action != "claim" or facts.pending_by is None:
        return
    _hold(uow, facts, facts.pending_by, cause)


def _claim_failed(uow: TouchpointsUnitOfWork, body: dict[str, Any], cause: Cause) -> None:
    facts = uow.journeys.certificate(body["certificate_id"])
    if facts is not None and facts.pending_action == "claim":
        uow.journeys.put_certificate(replace(facts, pending_action=None, pending_by=None))


def _action_requested(uow: TouchpointsUnitOfWork, body: dict[str, Any], cause: Cause) -> None:
    facts = uow.journeys.certificate(body["certificate_id"])
    if facts is None:
        return
    by = str(body.get("by") or "")
    subject = account_subject(by.removeprefix("account:")) if by.startswith("account:") else None
    uow.journeys.put_certificate(replace(facts, pending_action=body["action"], pending_by=subject))


def _action_confirmed(uow: TouchpointsUnitOfWork, body: dict[str, Any], cause: Cause) -> None:
    facts = uow.journeys.certificate(body["certificate_id"])
    if facts is None:
        return
    action = body["action"]
    asked_by = facts.pending_by if facts.pending_action == action else None
    settled = replace(facts, pending_action=None, pending_by=None)
    if facts.pending_action == action:
        uow.journeys.put_certificate(settled)
    if action in USE_ACTIONS:
        subject = asked_by or facts.holder
        if subject is not None:
            uow.journeys.reach([_reach(facts, subject, Stage.USE_SHARE, cause)])
    elif action == "accept_gift" and asked_by is not None:
        _hold(uow, settled, asked_by, cause)


def _hold(uow: TouchpointsUnitOfWork, facts: CertificateFacts, subject: str, cause: Cause) -> None:
    """``subject`` now holds the certificate: converted, and loyal if it held one before."""
    earlier = uow.journeys.holdings(facts.brand_id, subject)
    holding = Holding(facts.brand_id, subject, facts.certificate_id, facts.batch_id, cause.at)
    uow.journeys.put_certificate(
        replace(facts, holder=subject, pending_action=None, pending_by=None)
    )
    if not uow.journeys.add_holding(holding):
        return
    reaches = [_reach(facts, subject, Stage.CONVERT, cause)]
    if earlier and is_loyal(earlier[0].batch_id, earlier[0].held_at, facts.batch_id, cause.at):
        reaches.append(_reach(facts, subject, Stage.LOYAL, cause))
    uow.journeys.reach(reaches)


def _reach(facts: CertificateFacts, subject: str, stage: Stage, cause: Cause) -> Reach:
    return Reach(facts.brand_id, subject, stage, cause, facts.region_code, facts.gtin)


_HANDLERS: dict[str, Callable[[TouchpointsUnitOfWork, dict[str, Any], Cause], None]] = {
    "AccountCreated": _account_created,
    "CertificateClaimRequested": _claim_requested,
    "CertificateClaimed": _claimed,
    "CertificateClaimFailed": _claim_failed,
    "CertificateActionRequested": _action_requested,
    "CertificateActionConfirmed": _action_confirmed,
}


# ----------------------------------------------------------------------------- status, rebuild
def lag(uows: TouchpointsUnitOfWorkFactory) -> dict[str, Any]:
    """How far the projector stands behind each source (what /health shows)."""
    with uows.reader() as uow:
        positions = uow.feed_checkpoints.positions()
        log_size = uow.events.size()
        last_scan = uow.scan_feed.last_scan()
    log_at = positions.get(Source.LOG, 0)
    scans_at = positions.get(Source.SCANS, 0)
    return {
        "log_position": log_at,
        "log_size": log_size,
        "log_behind": max(log_size - log_at, 0),
        "scan_position": scans_at,
        "last_scan": last_scan,
        # At most this many scans wait (row ids may have gaps).
        "scan_ids_behind": max(last_scan - scans_at, 0),
    }


def rebuild(
    uows: TouchpointsUnitOfWorkFactory, clock: Clock, progress: Progress | None = None
) -> int:
    """Forget what the feed built and apply both sources again from the start; how many
    entries. The result is the state the live projector built (its effects do not depend on
    how the sources were paged or interleaved)."""
    with uows() as uow:
        uow.journeys.clear()
        uow.commit()
    return Projector(uows, clock).catch_up(progress)


def snapshot(uows: TouchpointsUnitOfWorkFactory) -> bytes:
    """The feed's state as canonical bytes (what a rebuild is compared with)."""
    with uows.reader() as uow:
        return canonical_json(uow.journeys.dump())
