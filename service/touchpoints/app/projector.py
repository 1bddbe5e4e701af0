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
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from service.kernel.events import canonical_json
from service.kernel.ports import Clock, LogEntry
from service.touchpoints.app.awards import EXPIRY_SOURCE, PointsPage
from service.touchpoints.domain.identities import Merge
from service.touchpoints.domain.journey import (
    DEFAULT_RULES,
    USE_ACTIONS,
    Cause,
    JourneyRules,
    Reach,
    Source,
    Stage,
    account_subject,
    device_subject,
    rules_from_settings,
    wallet_subject,
)
from service.touchpoints.domain.members import Consent, Purpose, member_public_id
from service.touchpoints.domain.points import Rule, earliest_window
from service.touchpoints.domain.risk import CLONE_VERDICT, RECYCLED_VERDICTS, Level, Sighting
from service.touchpoints.ports import (
    CertificateFacts,
    Holding,
    IdentityLink,
    Member,
    RiskDecision,
    ScanFact,
    TouchpointsUnitOfWork,
    TouchpointsUnitOfWorkFactory,
)

#: Entries per transaction: big enough that a page's fixed cost is small, small enough that a
#: page's write lock is short (SQLite has one writer).
PAGE = 500

#: A log page covers this many pages' worth of indexes: the entries the journey does not read
#: are skipped in the database's index on the log's type (migration 0017), so a range costs
#: little more than the entries it applies.
LOG_RANGE = 100

#: Progress callback of a long catch-up (the CLI's bar): entries applied, entries (at most) to go.
Progress = Callable[[int, int], None]


class Projector:
    """Applies the feed's two sources to the journey, a page at a time."""

    def __init__(self, uows: TouchpointsUnitOfWorkFactory, clock: Clock, page: int = PAGE) -> None:
        self.uows = uows
        self.clock = clock
        self.page = page
        #: Batches' brands and products (fixed once a batch is made), read once.
        self._brands: dict[str, tuple[int | None, str | None]] = {}

    def step(self) -> int:
        """Apply one page of each source that has more; how many entries were applied. Which
        have more is read first without a write lock: an idle pass takes none (SQLite has one
        writer, and the scans and uploads need it)."""
        now = lag(self.uows)
        done = 0
        if now["log_behind"]:
            done += self._log_page()
        if now["scan_ids_behind"]:
            done += self._scan_page()
        return done

    def catch_up(self, progress: Progress | None = None) -> int:
        """Apply pages until both sources are read to their end; how many entries."""
        start = lag(self.uows)
        to_go = start["log_behind"] + start["scan_ids_behind"]
        total = 0
        while done := self.step():
            total += done
            if progress is not None:
                progress(total, max(to_go - total, 0))
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
            entries = uow.feed.log_entries(start, end, _HANDLERS)
            LogPage(uow, entries, self._brands).apply()
            if not uow.feed_checkpoints.advance(Source.LOG, start, end, self.clock.now()):
                uow.rollback()  # another projector applied this range
                return 0
            uow.commit()
            return end - start

    # ------------------------------------------------------------------ the scan stream
    def _scan_page(self) -> int:
        with self.uows() as uow:
            start = uow.feed_checkpoints.position(Source.SCANS)
            scans = uow.feed.scans_after(start, self.page)
            if not scans:
                return 0
            reaches = [r for r in map(scan_reach, scans) if r is not None]
            if reaches:
                uow.journeys.reach(reaches)
            flagged = [f for f in map(scan_sighting, scans) if f is not None]
            if flagged:
                uow.risk.add_sightings(flagged)
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


#: Scan verdicts the screening reads (a consumer's scan of a code that no bottle in a buyer's
#: hands shows); every other scan only moves the journey.
FLAGGED_VERDICTS = RECYCLED_VERDICTS | {CLONE_VERDICT}


def scan_sighting(scan: ScanFact) -> tuple[int, Sighting] | None:
    """A consumer's scan of a redeemed, recalled or suspected cloned code, by its device."""
    if scan.by_partner or scan.verdict not in FLAGGED_VERDICTS or scan.brand_id is None:
        return None
    return scan.brand_id, Sighting(
        "scan",
        None,
        scan.device_hash,
        f"item:{scan.item_id}",
        scan.at,
        Cause(scan.at, Source.SCANS, scan.position).ref(),
        scan.region_code,
        scan.verdict,
    )


# ----------------------------------------------------------------------------- the log's events
class LogPage:
    """One page of the log applied in memory: the certificates, wallets, holdings and batches
    its entries name are read in bulk first, the entries applied in log order, and what changed
    written in bulk at the end (a few statements a page, not a few an entry)."""

    def __init__(
        self,
        uow: TouchpointsUnitOfWork,
        entries: Sequence[LogEntry],
        brands: dict[str, tuple[int | None, str | None]],
    ) -> None:
        self.uow = uow
        self.entries = [(e, json.loads(e.payload)) for e in entries]
        #: A batch's brand and product never change: kept by the projector across pages.
        self.brands = brands
        certificate_ids, addresses, batches = set(), set(), set()
        for _, body in self.entries:
            if "certificate_id" in body:
                certificate_ids.add(body["certificate_id"])
            for key in ("owner_address", "wallet_address"):
                if key in body:
                    addresses.add(body[key].lower())
            if "batch_id" in body and body["batch_id"] not in brands:
                batches.add(body["batch_id"])
        if batches:
            brands.update(uow.feed.batch_brands(batches))
        self.certificates: dict[str, CertificateFacts] = uow.journeys.certificates(certificate_ids)
        self.wallets: dict[str, str] = uow.journeys.wallet_holders(addresses)
        subjects = {f.holder for f in self.certificates.values() if f.holder}
        subjects |= {f.pending_by for f in self.certificates.values() if f.pending_by}
        subjects |= set(self.wallets.values())
        subjects |= {wallet_subject(a) for a in addresses}
        self.holdings: dict[tuple[int, str], list[Holding]] = {}
        for held in uow.journeys.holdings_of(subjects):
            self.holdings.setdefault((held.brand_id, held.subject), []).append(held)
        for kept in self.holdings.values():
            kept.sort(key=lambda h: (h.held_at, h.certificate_id))
        since = earliest_window(min(e.occurred_at for e in entries)) if entries else None
        self.points = PointsPage(uow, subjects, self.certificates, since)
        self.dirty: set[str] = set()
        #: Accounts that signed up in this page: their subject and log index.
        self.joined: dict[str, int] = {}
        self.new_wallets: dict[str, tuple[str, int | None]] = {}
        self.new_holdings: list[Holding] = []
        self.reaches: list[Reach] = []
        self.members: list[Member] = []
        #: Brands' journey rules, read as the page first needs them; and those set in it.
        self._rules: dict[int, JourneyRules] = {}
        self.rules_set: dict[int, tuple[dict[str, Any], datetime, str]] = {}
        self.consents: list[tuple[int, str, Consent]] = []
        self.erased: list[tuple[str, datetime]] = []
        #: What the screening reads, and its decisions, in log order.
        self.sightings: list[tuple[int, Sighting]] = []
        self.decisions: list[RiskDecision] = []
        self.risk_rules_set: dict[int, tuple[dict[str, Any], datetime, str]] = {}
        #: One-ID: identities linked, and merges, unmerges and blocks in log order.
        self.identity_links: list[IdentityLink] = []
        self.identity_events: list[tuple[str, int, Any, Cause]] = []

    def apply(self) -> None:
        for entry, body in self.entries:
            handler = _HANDLERS.get(entry.type)
            if handler is not None:
                handler(self, body, Cause(entry.occurred_at, Source.LOG, entry.index))
        journeys = self.uow.journeys
        if self.new_wallets:
            journeys.put_wallets([(a, s, j) for a, (s, j) in sorted(self.new_wallets.items())])
        if self.dirty:
            journeys.put_certificates([self.certificates[c] for c in sorted(self.dirty)])
        if self.new_holdings:
            journeys.add_holdings(self.new_holdings)
        if self.reaches:
            journeys.reach(self.reaches)
        for brand_id, (settings, at, ref) in sorted(self.rules_set.items()):
            journeys.put_rules(brand_id, settings, at, ref)
        self.points.flush()
        members = self.uow.members
        if self.members:
            members.ensure(self.members)
        if self.consents:
            members.record_consents(self.consents)
        risk = self.uow.risk
        risk.add_sightings(self.sightings)
        risk.decide(self.decisions)
        for brand_id, (settings, at, ref) in sorted(self.risk_rules_set.items()):
            risk.put_rules(brand_id, settings, at, ref)
        identities = self.uow.identities
        identities.link(self.identity_links)
        for kind, brand_id, what, cause in self.identity_events:
            if kind == "merge":
                identities.merged(brand_id, what, cause.at)
            elif kind == "unmerge":
                identities.unmerged(brand_id, what, cause.at, cause.ref())
            else:
                identities.block(brand_id, what[0], what[1], cause.at, cause.ref())
        for subject, at in self.erased:
            members.erase(subject, at)
            risk.erase(subject)
            identities.erase(subject)

    # ------------------------------------------------------------------ the page's facts
    def put(self, facts: CertificateFacts) -> None:
        self.certificates[facts.certificate_id] = facts
        self.dirty.add(facts.certificate_id)

    def subject_of(self, address: str) -> str:
        """The account known to hold ``address``, else the address itself."""
        return self.wallets.get(address.lower()) or wallet_subject(address)

    def hold(self, facts: CertificateFacts, subject: str, cause: Cause) -> None:
        """``subject`` now holds the certificate: converted, and loyal if it held one of the
        brand's before (from another batch, or a month earlier)."""
        self.put(replace(facts, holder=subject, pending_action=None, pending_by=None))
        held = self.holdings.setdefault((facts.brand_id, subject), [])
        if any(h.certificate_id == facts.certificate_id for h in held):
            return
        first = held[0] if held else None
        holding = Holding(facts.brand_id, subject, facts.certificate_id, facts.batch_id, cause.at)
        held.append(holding)
        self.new_holdings.append(holding)
        self.reach(facts, subject, Stage.CONVERT, cause)
        rules = self.rules(facts.brand_id)
        if first is not None and rules.is_loyal(
            first.batch_id, first.held_at, facts.batch_id, cause.at
        ):
            self.reach(facts, subject, Stage.LOYAL, cause)

    def rules(self, brand_id: int) -> JourneyRules:
        """The brand's journey rules as of this point of the page."""
        found = self._rules.get(brand_id)
        if found is None:
            settings = self.uow.journeys.rules([brand_id]).get(brand_id)
            found = rules_from_settings(settings) if settings else DEFAULT_RULES
            self._rules[brand_id] = found
        return found

    def joined_at(self, subject: str) -> int | None:
        """The log index ``subject`` signed up at, if known."""
        joined = self.joined.get(subject)
        if joined is None:
            joined = self.uow.journeys.joined([subject]).get(subject)
        return joined

    def joined_after(self, subject: str, index: int | None) -> bool:
        """Whether ``subject`` is an account that signed up after log index ``index``."""
        if index is None:
            return False
        joined = self.joined.get(subject)
        if joined is None:
            joined = self.uow.journeys.joined([subject]).get(subject)
        return joined is not None and joined > index

    def stored(self) -> list[CertificateFacts]:
        """Every certificate in storage, as of this point of the page."""
        found = {f.certificate_id: f for f in self.uow.journeys.stored()}
        for certificate_id in self.dirty:
            facts = self.certificates[certificate_id]
            if facts.stored_since is not None:
                found[certificate_id] = facts
            else:
                found.pop(certificate_id, None)
        return [found[c] for c in sorted(found)]

    def reach(self, facts: CertificateFacts, subject: str, stage: Stage, cause: Cause) -> None:
        self.reaches.append(
            Reach(facts.brand_id, subject, stage, cause, facts.region_code, facts.gtin)
        )
        self.member(facts.brand_id, subject, cause)

    def member(self, brand_id: int, subject: str, cause: Cause) -> None:
        """An account that has something to do with a brand is its member."""
        if subject.startswith("account:"):
            account = subject.removeprefix("account:")
            self.members.append(
                Member(
                    brand_id, subject, member_public_id(brand_id, account), cause.at, cause.ref()
                )
            )


def _account_created(page: LogPage, body: dict[str, Any], cause: Cause) -> None:
    address = body["wallet_address"].lower()
    subject = account_subject(body["account_id"])
    page.wallets[address] = subject
    page.new_wallets[address] = (subject, cause.position)
    page.joined[subject] = cause.position
    page.points.fresh.add(subject)


def _wallet_bound(page: LogPage, body: dict[str, Any], cause: Cause) -> None:
    """A self-custody wallet the account proved it holds: its claims are the account's."""
    address = body["wallet_address"].lower()
    subject = account_subject(body["account_id"])
    page.wallets[address] = subject
    page.new_wallets[address] = (subject, page.joined_at(subject))


def _claim_requested(page: LogPage, body: dict[str, Any], cause: Cause) -> None:
    brand_id, gtin = page.brands.get(body["batch_id"], (None, None))
    if brand_id is None:  # an unknown batch, or one of no brand: nobody's touchpoint
        return
    subject = page.subject_of(body["owner_address"])
    if body["certificate_id"] not in page.certificates:
        page.points.fresh_certificates.add(body["certificate_id"])
    facts = CertificateFacts(
        body["certificate_id"],
        brand_id,
        body["batch_id"],
        gtin,
        body.get("region"),
        pending_action="claim",
        pending_by=subject,
        scanned_first=bool(body.get("scanned_first")),
    )
    page.put(facts)
    page.reach(facts, subject, Stage.ACTIVATE, cause)
    device = body.get("device")
    page.sightings.append(
        (
            brand_id,
            Sighting(
                "claim",
                subject,
                bytes.fromhex(device.removeprefix("0x")) if device else None,
                body["certificate_id"],
                cause.at,
                cause.ref(),
                body.get("region"),
                body.get("channel"),
            ),
        )
    )


def _claimed(page: LogPage, body: dict[str, Any], cause: Cause) -> None:
    facts = page.certificates.get(body["certificate_id"])
    if facts is None or facts.pending_action != "claim" or facts.pending_by is None:
        return
    page.hold(facts, facts.pending_by, cause)
    page.points.earn(Rule.CLAIM, facts, facts.pending_by, cause)
    if facts.scanned_first:
        page.points.earn(Rule.FIRST_SCAN, facts, facts.pending_by, cause)


def _claim_failed(page: LogPage, body: dict[str, Any], cause: Cause) -> None:
    facts = page.certificates.get(body["certificate_id"])
    if facts is not None and facts.pending_action == "claim":
        page.put(replace(facts, pending_action=None, pending_by=None))


def _action_requested(page: LogPage, body: dict[str, Any], cause: Cause) -> None:
    facts = page.certificates.get(body["certificate_id"])
    if facts is None:
        return
    by = str(body.get("by") or "")
    subject = account_subject(by.removeprefix("account:")) if by.startswith("account:") else None
    facts = replace(facts, pending_action=body["action"], pending_by=subject)
    if body["action"] == "gift":  # the offer a referral is counted from
        facts = replace(facts, gift_from=subject, gift_index=cause.position)
    page.put(facts)


def _action_confirmed(page: LogPage, body: dict[str, Any], cause: Cause) -> None:
    facts = page.certificates.get(body["certificate_id"])
    if facts is None:
        return
    action = body["action"]
    asked_by = facts.pending_by if facts.pending_action == action else None
    settled = facts
    if facts.pending_action == action:
        settled = replace(settled, pending_action=None, pending_by=None)
    if action == "confirm_deposit":
        settled = replace(settled, stored_since=cause.at)
    elif action in ("withdraw", "request_redemption"):
        settled = replace(settled, stored_since=None)
    if action in ("accept_gift", "cancel_gift"):
        settled = replace(settled, gift_from=None, gift_index=None)
    if settled != facts:
        page.put(settled)
    if action in USE_ACTIONS:
        subject = asked_by or facts.holder
        if subject is not None and action in page.rules(facts.brand_id).use_share:
            page.reach(facts, subject, Stage.USE_SHARE, cause)
        if action == "request_redemption":
            page.points.earn(Rule.REDEMPTION, facts, subject, cause)
    elif action == "accept_gift" and asked_by is not None:
        page.hold(settled, asked_by, cause)
        giver = facts.gift_from
        if (
            giver is not None
            and giver != asked_by
            and page.joined_after(asked_by, facts.gift_index)
        ):
            page.points.earn(Rule.REFERRAL, facts, giver, cause)
            page.sightings.append(
                (
                    facts.brand_id,
                    Sighting(
                        "referral",
                        giver,
                        None,
                        facts.certificate_id,
                        cause.at,
                        cause.ref(),
                        other=asked_by,
                    ),
                )
            )


def _journey_rules_set(page: LogPage, body: dict[str, Any], cause: Cause) -> None:
    brand_id = int(body["brand_id"])
    page._rules[brand_id] = rules_from_settings(body["settings"])
    page.rules_set[brand_id] = (body["settings"], cause.at, cause.ref())


def _consent_recorded(page: LogPage, body: dict[str, Any], cause: Cause) -> None:
    brand_id, subject = int(body["brand_id"]), account_subject(body["account_id"])
    page.member(brand_id, subject, cause)
    consent = Consent(
        Purpose(body["purpose"]),
        bool(body["granted"]),
        cause.at,
        body["text_version"],
        body["channel"],
        cause.ref(),
    )
    page.consents.append((brand_id, subject, consent))


def _account_erased(page: LogPage, body: dict[str, Any], cause: Cause) -> None:
    page.erased.append((account_subject(body["account_id"]), cause.at))


def _members_screened(page: LogPage, body: dict[str, Any], cause: Cause) -> None:
    """The screening's decisions: each member's risk, and their awards settled."""
    brand_id = int(body["brand_id"])
    page.points.read_awards(k for d in body["decisions"] for k in d["awards"])
    for d in body["decisions"]:
        subject = account_subject(d["account_id"])
        level = Level(d["level"])
        page.decisions.append(
            RiskDecision(
                cause.ref(),
                brand_id,
                subject,
                "screen",
                level,
                int(d["score"]),
                d["reasons"],
                None,
                cause.at,
            )
        )
        page.points.levels[(brand_id, subject)] = level
        page.points.settle(level, d["awards"], cause)


def _risk_reviewed(page: LogPage, body: dict[str, Any], cause: Cause) -> None:
    """The brand's review of a member's case."""
    brand_id, subject = int(body["brand_id"]), account_subject(body["account_id"])
    level = Level(body["level"])
    page.decisions.append(
        RiskDecision(
            cause.ref(),
            brand_id,
            subject,
            "review",
            level,
            int(body["score"]),
            body["reasons"],
            body["note"],
            cause.at,
        )
    )
    page.points.levels[(brand_id, subject)] = level
    page.points.settle(level, body["awards"], cause)


def _identity_linked(page: LogPage, body: dict[str, Any], cause: Cause) -> None:
    """An integration asserted an identity of a member (by reference)."""
    page.identity_links.append(
        IdentityLink(
            int(body["brand_id"]),
            body["kind"],
            body["ref"],
            account_subject(body["account_id"]),
            body["proof"],
            cause.at,
            cause.ref(),
        )
    )


def _members_merged(page: LogPage, body: dict[str, Any], cause: Cause) -> None:
    merge = Merge(
        cause.ref(),
        account_subject(body["survivor"]),
        account_subject(body["merged"]),
        body["reason"],
    )
    page.identity_events.append(("merge", int(body["brand_id"]), merge, cause))


def _members_unmerged(page: LogPage, body: dict[str, Any], cause: Cause) -> None:
    page.identity_events.append(("unmerge", int(body["brand_id"]), body["merge"], cause))


def _identity_blocked(page: LogPage, body: dict[str, Any], cause: Cause) -> None:
    page.identity_events.append(
        ("block", int(body["brand_id"]), (body["kind"], body["ref"]), cause)
    )


def _risk_rules_set(page: LogPage, body: dict[str, Any], cause: Cause) -> None:
    page.risk_rules_set[int(body["brand_id"])] = (body["settings"], cause.at, cause.ref())


def _batch_recalled(page: LogPage, body: dict[str, Any], cause: Cause) -> None:
    page.points.reverse_batch(body["batch_id"], cause)


def _programme_set(page: LogPage, body: dict[str, Any], cause: Cause) -> None:
    page.points.set_programme(int(body["brand_id"]), body["settings"], cause)


def _points_spent(page: LogPage, body: dict[str, Any], cause: Cause) -> None:
    page.points.spend(body, cause)


def _expiry_ran(page: LogPage, body: dict[str, Any], cause: Cause) -> None:
    """The expiry job's run, from where the last one stood (seconds since the epoch)."""
    checkpoints = page.uow.feed_checkpoints
    last = checkpoints.position(EXPIRY_SOURCE)
    as_of = datetime.fromisoformat(body["as_of"])
    now = int(as_of.timestamp())
    if now <= last:
        return
    since = datetime.fromtimestamp(last, UTC)
    page.points.expire(as_of, cause, page.stored(), since)
    checkpoints.advance(EXPIRY_SOURCE, last, now, cause.at)


_HANDLERS: dict[str, Callable[[LogPage, dict[str, Any], Cause], None]] = {
    "AccountCreated": _account_created,
    "WalletBound": _wallet_bound,
    "CertificateClaimRequested": _claim_requested,
    "CertificateClaimed": _claimed,
    "CertificateClaimFailed": _claim_failed,
    "CertificateActionRequested": _action_requested,
    "CertificateActionConfirmed": _action_confirmed,
    "BatchRecalled": _batch_recalled,
    "ConsentRecorded": _consent_recorded,
    "JourneyRulesSet": _journey_rules_set,
    "AccountErased": _account_erased,
    "PointsProgrammeSet": _programme_set,
    "PointsSpent": _points_spent,
    "PointsExpiryRan": _expiry_ran,
    "MembersScreened": _members_screened,
    "RiskReviewed": _risk_reviewed,
    "RiskRulesSet": _risk_rules_set,
    "IdentityLinked": _identity_linked,
    "MembersMerged": _members_merged,
    "MembersUnmerged": _members_unmerged,
    "IdentityBlocked": _identity_blocked,
}


# ----------------------------------------------------------------------------- status, rebuild
def lag(uows: TouchpointsUnitOfWorkFactory) -> dict[str, Any]:
    """How far the projector stands behind each source (what /health shows)."""
    with uows.reader() as uow:
        positions = uow.feed_checkpoints.positions()
        log_size = uow.events.size()
        last_scan = uow.feed.last_scan()
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
        uow.points.clear()
        uow.members.clear()
        uow.risk.clear()
        uow.identities.clear()
        uow.commit()
    applied = Projector(uows, clock).catch_up(progress)
    with uows() as uow:
        uow.feed.refresh_statistics()
        uow.commit()
    return applied


def snapshot(uows: TouchpointsUnitOfWorkFactory) -> bytes:
    """The feed's state as canonical bytes (what a rebuild is compared with)."""
    with uows.reader() as uow:
        return canonical_json(
            {
                **uow.journeys.dump(),
                **uow.points.dump(),
                **uow.members.dump(),
                **uow.risk.dump(),
                **uow.identities.dump(),
            }
        )


def apply_log(
    uow: TouchpointsUnitOfWork,
    start: int,
    end: int,
    brands: dict[str, tuple[int | None, str | None]],
) -> None:
    """Apply the log's entries ``start <= index < end`` in this unit of work (no checkpoint
    moves: the caller moves it with the rest of its transaction)."""
    LogPage(uow, uow.feed.log_entries(start, end, _HANDLERS), brands).apply()
