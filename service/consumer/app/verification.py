"""Scans of item codes (verification), the risk checks they feed, and the brand's alerts.

A scan answers the verdict, the provenance and the chain proof. A consumer's scan is also recorded
(item, time, region, keyed hashes of the device and of the client's network, who vouches for it,
verdict) in the scan log and feeds two risk rules (``service.consumer.domain.scans``): too many
independent sources or regions for one code within a window make a genuine bottle a
``suspected_clone`` (a flag; it never stops a claim), and scans outside the territory of the
bottle's authorised holder, from enough networks or a signed-in member, raise or join the same
diversion alert a partner's ``observe`` there would (``service.channel.app.scanning``), with the
consumer as the scanning party.

The hot path reads one code in one read transaction (``ScanReads``) and keeps, per process,
what never changes once a batch is anchored: its attributes, factory and anchor (refreshed
every ``ttl_s`` for attestations). The batch's status, root, item count and metadata hash are
read from the database on every scan; anything but an anchored batch (a recall above all) is
read in full.

The chain is the truth (``service.consumer.domain.verification``): the verdict compares the
database's batch with the registry's record of it (``batch(batchId)``: root, item count, recall,
metadata hash), and a proof that folds to the root the registry stores is what the contract's
``verifyItem`` checks, so it is checked here. The registry's record is kept at most ``chain_ttl_s``
(a few seconds; the longest a recall made on chain may stay unseen), read by one scan at a time per
batch: one node read per batch per ``chain_ttl_s``, never one per scan. When it has expired and the
node does not answer, a scan of an anchored batch answers 503 ``chain_unavailable`` rather than a
verdict older than the bound; a batch the database holds as recalled answers ``recalled`` without
the chain.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Collection
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Final

from service.alerts.interface import Alert, AlertKind, AlertRaised, item_alert_key
from service.channel.interface import Custody, Diversion, RegionTree, Target, find_diversion
from service.consumer.app import commands
from service.consumer.domain.certificates import PENDING_STATES, CertificateState
from service.consumer.domain.scans import (
    CloneCheck,
    CloneRule,
    Sighting,
    Witness,
    check_clone,
    comparable_region,
    enough_diversion_evidence,
    judges_diversion,
    with_risk,
)
from service.consumer.domain.verification import (
    NOT_READ,
    PROVEN,
    BatchOnChain,
    BatchOnRecord,
    ChainNotRead,
    Verdict,
    alerts_brand,
    differences,
    verdict,
)
from service.consumer.ports import (
    CertificateChain,
    CertificateCommitments,
    ConsumerScan,
    ConsumerScanLog,
    ConsumerUnitOfWork,
    ConsumerUnitOfWorkFactory,
    DiversionDesk,
    ScanReads,
    StoredSighting,
)
from service.factory.interface import Batch, BatchStatus, ItemRecord, product_name
from service.identity.interface import Organisation
from service.kernel.actor import Actor
from service.kernel.errors import InvalidRequestError
from service.kernel.gs1 import check_item_key, is_valid_serial_text
from service.kernel.ports import Clock
from service.kernel.views import hex0x
from service.ledger.interface import LedgerHeldError, LedgerUnavailableError, OutboxEntry


class Deferred:
    """What an inline attempt answers when the scan would have to wait (a chain call, a
    write): run it again in a worker thread."""


#: The answer of :meth:`Verifier.scan` with ``inline=True`` that must be run in a thread.
DEFERRED: Final = Deferred()
#: Batches whose confirmed root and attributes a process keeps (least recently used go).
MAX_BATCHES = 10_000


@dataclass(frozen=True)
class ScanOrigin:
    """Where a scan comes from, as the HTTP layer saw it: the keyed hash of the device, the
    region the page reported (checked against the region tree here), the keyed hash of the
    client's counting network, and the signed-in consumer if it sent a session (its account
    and the keyed hash it counts as)."""

    device_hash: bytes
    region: str | None = None
    network_hash: bytes | None = None
    account_id: int | None = None
    member_hash: bytes | None = None


@dataclass(frozen=True)
class _CertificateView:
    state: CertificateState
    claimed_at: datetime
    claim_region: str | None
    owner: int | None = None


@dataclass(frozen=True)
class _Read:
    """Everything a scan read of one code, by either path."""

    item: ItemRecord
    batch: Batch
    proof: list[bytes]
    anchor: OutboxEntry | None
    #: The recall's chain write (a recalled batch's full read only).
    recall: OutboxEntry | None
    certificate: _CertificateView | None
    factory: Organisation | None
    attestations: list[dict[str, Any]]
    history: list[dict[str, Any]]
    #: The item and what carries its custody (its sealed case, or itself); None if unknown.
    target: Target | None
    carrier: Target | None
    #: Its stored consumer scans in the clone window, when this path reads them.
    sightings: list[StoredSighting] = field(default_factory=list)


@dataclass(frozen=True)
class _BatchView:
    """What a process keeps of an anchored batch (see the module docstring)."""

    batch: Batch
    anchor: OutboxEntry | None
    factory: Organisation | None
    attestations: list[dict[str, Any]]
    expires: float


#: How long a failed read of the node is remembered: the scans of a batch waiting for it then
#: answer 503 at once instead of each waiting for the node's timeout in turn.
CHAIN_FAILURE_S = 1.0


@dataclass(frozen=True)
class _ChainRead:
    """The registry's record of a batch (None: it holds none), kept until ``expires``; or
    the error the node's read ended with, for a moment."""

    record: BatchOnChain | None
    expires: float
    error: LedgerUnavailableError | LedgerHeldError | None = None


def _unknown(serial: str) -> dict[str, Any]:
    return {"serial": serial, "verdict": Verdict.UNKNOWN.value, "genuine": False}


class Verifier:
    """Scans of item codes, with the caches of the hot path; one per process (bootstrap)."""

    def __init__(
        self,
        uow_factory: ConsumerUnitOfWorkFactory,
        commitments: CertificateCommitments,
        ledger: CertificateChain,
        clock: Clock,
        regions: Callable[[], RegionTree] | None = None,
        *,
        reads: ScanReads | None = None,
        scan_log: ConsumerScanLog | None = None,
        rule: CloneRule | None = None,
        diversion_min_networks: int = 2,
        ttl_s: float = 5.0,
        chain_ttl_s: float = 5.0,
        inline: bool = False,
        ticks: Callable[[], float] = time.monotonic,
        diversions: DiversionDesk | None = None,
    ) -> None:
        self.uow_factory = uow_factory
        self.commitments = commitments
        self.ledger = ledger
        self.clock = clock
        self.regions = regions
        #: The channel's diversion rules (territories, raising the alert): without them, or
        #: without regions, no scan is judged out of territory.
        self.diversions = diversions
        self.reads = reads
        self.scan_log = scan_log
        self.rule = rule or CloneRule()
        #: Distinct networks whose anonymous sightings out of territory make a diversion.
        self.diversion_min_networks = diversion_min_networks
        self.ttl_s = ttl_s
        #: How long the registry's record of a batch is kept: the longest a recall made on
        #: chain (or any other change there) may stay unseen by a scan.
        self.chain_ttl_s = chain_ttl_s
        #: Whether scans may be tried on the caller's thread (the event loop): true where the
        #: reads never wait on another transaction (SQLite in WAL mode).
        self.inline = inline
        #: The clock of what is kept (monotonic seconds).
        self.ticks = ticks
        self._lock = threading.Lock()
        self._chain: OrderedDict[bytes, _ChainRead] = OrderedDict()
        #: One reader of the node per batch at a time; the others wait for its answer.
        self._chain_gates: dict[bytes, threading.Lock] = {}
        self._views: OrderedDict[int, _BatchView] = OrderedDict()
        self._territories: dict[int, tuple[float, list[str] | None]] = {}

    # ------------------------------------------------------------------ the use case
    def scan(
        self, cmd: commands.ScanItem, origin: ScanOrigin | None = None, *, inline: bool = False
    ) -> dict[str, Any] | Deferred | None:
        """Verify an item code; None when the code is well formed but unknown.

        Verifying never changes the item. An anonymous (consumer) scan of an inert code, or any
        scan whose proof the chain refuses, opens (or repeats) an alert for the brand. With an
        ``origin`` the scan is recorded and runs the risk checks. ``inline=True`` answers
        :data:`DEFERRED` instead of asking the chain or writing.

        Raises:
            MalformedCodeError: the serial, GTIN or lot is not well formed (a subclass names it).
        """
        tree = self.regions() if self.regions is not None else None
        region = None
        if origin is not None and origin.region is not None:
            if tree is None:
                raise InvalidRequestError("This service has no region directory.")
            region = tree.require(origin.region).code
        # A malformed code is refused (GS1's syntax; nothing of it is echoed); a well-formed
        # one we never made is unknown. A GTIN-8/12/13 is read as its GTIN-14 (Digital Link).
        gtin = check_item_key(cmd.serial, cmd.gtin, cmd.lot).gtin
        if not is_valid_serial_text(cmd.serial):
            return None  # set 82, but outside the alphabet we issue: never one of ours
        now = self.clock.now()
        read = self._read(cmd.serial, now - self.rule.window)
        if read is None:
            return None
        item, batch = read.item, read.batch
        anonymous = cmd.actor is None
        current = _witnessed(origin, read.certificate)
        # A genuine serial under another product or lot is a copy onto something else.
        if (gtin is not None and gtin != batch.gtin) or (
            cmd.lot is not None and cmd.lot != batch.lot
        ):
            self._record(origin, current, item, batch, Verdict.UNKNOWN, cmd.actor, region, now)
            return None
        token_id = self.commitments.token_id(batch.chain_batch_id, item.item_hash)
        leaf = self.commitments.item_leaf(batch.chain_batch_id, token_id, item.item_hash)
        valid = (
            batch.root is not None
            and leaf == item.leaf
            and self.commitments.verify_batch_proof(read.proof, batch.root, leaf)
        )
        activated = item.activated_at is not None or (
            item.case_sscc is None
            and batch.status not in (BatchStatus.DRAFT, BatchStatus.GENERATED)
        )
        anchor, recall = read.anchor, read.recall
        record = BatchOnRecord(
            status=batch.status,
            root=batch.root,
            item_count=batch.item_count,
            metadata_hash=batch.metadata_hash,
            anchor_confirmed=anchor is not None and anchor.status == "confirmed",
            recall_confirmed=recall is not None and recall.status == "confirmed",
        )
        # The chain is asked outside any transaction: a slow node must not hold database locks.
        chain: BatchOnChain | ChainNotRead | None = NOT_READ
        if record.on_chain:
            kept = self._chain_kept(batch.chain_batch_id)
            if kept is None and inline:
                return DEFERRED
            try:
                chain = self._chain_record(batch.chain_batch_id, kept)
            except (LedgerUnavailableError, LedgerHeldError):
                # A recall is shown without the chain (it is a safety notice); anything else
                # would be a verdict older than the bound.
                if batch.status is not BatchStatus.RECALLED:
                    raise
        certificate = read.certificate
        redeemed = certificate is not None and certificate.state is CertificateState.REDEEMED
        result = verdict(record, chain, activated, valid, redeemed)
        differs = list(differences(record, chain)) if not isinstance(chain, ChainNotRead) else []
        on_chain: bool | None = None
        if not isinstance(chain, ChainNotRead):
            # The contract's verifyItem: the item's proof folds to the root the chain stores.
            on_chain = (
                chain is not None
                and leaf == item.leaf
                and (
                    valid
                    if chain.root == batch.root
                    else self.commitments.verify_batch_proof(read.proof, chain.root, leaf)
                )
            )
        # ---- risk checks (consumers' scans only)
        clone = None
        if result is Verdict.GENUINE and anonymous and current is not None and tree is not None:
            clone = self._clone_check(tree, read, current, region, now)
        result = with_risk(result, clone)
        diversion = None
        joins: int | None = None
        diverted: str | None = None
        if (
            tree is not None
            and read.carrier is not None
            and region is not None
            and judges_diversion(anonymous, region, claimed=certificate is not None)
        ):
            diversion = self._diversion(tree, read.carrier.custody, region)
            if diversion is not None and self.scan_log is not None:
                # Nothing to write now: the scan log's writer counts this sighting on the
                # goods' alert (already flagged), or raises it, when it writes the scan
                # (service.channel.app.diversions), so a scan never waits for a write.
                joins = read.carrier.custody.alert_id
                # An anonymous sighting alerts only once enough networks saw the goods out
                # of territory (a member's counts by itself): one network's word is recorded,
                # alerting nobody yet.
                if joins is None and self._diversion_proven(tree, read, current, region, now):
                    diverted = item.serial
                diversion = None
        brand_alert = alerts_brand(result, anonymous=anonymous)
        clone_alert = clone is not None and clone.suspected and clone.new_place
        if inline and (brand_alert or clone_alert or diversion is not None):
            return DEFERRED
        body = self._body(read, result, activated, valid, on_chain, record.on_chain, token_id)
        body["chain"]["batch"] = _chain_view(chain)
        body["chain"]["differs"] = differs
        if brand_alert:
            detail: dict[str, Any] = {"batch_id": batch.public_id, "verdict": result.value}
            kind = AlertKind.INACTIVE_CODE_SCANNED
            if result is Verdict.MISMATCH:
                kind = AlertKind.CHAIN_MISMATCH
                # What differs: the batch's fields, or the item's own record (its proof).
                detail["differs"] = differs or ["proof"]
                detail["database"] = _record_view(record)
                detail["chain"] = _chain_view(chain)
            alert = self._raise_item_alert(kind, batch, item.serial, detail)
            body["alert"] = {"id": alert.id, "kind": kind.value, "count": alert.count}
        if clone_alert and clone is not None:
            self._raise_item_alert(
                AlertKind.SUSPECTED_CLONE,
                batch,
                item.serial,
                {
                    "batch_id": batch.public_id,
                    "regions": clone.regions,
                    "devices": clone.devices,
                    "window_hours": round(self.rule.window / timedelta(hours=1), 2),
                },
            )
        if diversion is not None and tree is not None:
            self._raise_diversion(tree, item.serial, batch, diversion.actual, now)
        self._record(origin, current, item, batch, result, cmd.actor, region, now, joins, diverted)
        return body

    # ------------------------------------------------------------------ reading
    def _read(self, serial: str, since: datetime) -> _Read | None:
        if self.reads is None:
            return self._read_all(serial)
        facts = self.reads.read(serial, since)
        if facts is None:
            return None
        if facts.batch_status is not BatchStatus.ANCHORED:
            return self._read_all(serial)  # a recall, or not anchored yet: everything, fresh
        view = self._view(facts.item.batch_id)
        if view is None or view.batch.status is not BatchStatus.ANCHORED:
            return self._read_all(serial)
        certificate = (
            _CertificateView(
                facts.certificate_state,
                facts.claimed_at,
                facts.claim_region,
                facts.certificate_owner,
            )
            if facts.certificate_state is not None and facts.claimed_at is not None
            else None
        )
        return _Read(
            item=facts.item,
            # What the chain can contradict is read live: an altered row must fail the check.
            batch=replace(
                view.batch,
                status=facts.batch_status,
                root=facts.batch_root,
                item_count=facts.batch_item_count,
                metadata_hash=facts.batch_metadata_hash,
            ),
            proof=facts.proof,
            anchor=view.anchor,
            recall=None,
            certificate=certificate,
            factory=view.factory,
            attestations=view.attestations,
            history=facts.history,
            target=facts.target,
            carrier=facts.carrier,
            sightings=facts.sightings,
        )

    def _view(self, batch_id: int) -> _BatchView | None:
        now = self.ticks()
        with self._lock:
            view = self._views.get(batch_id)
            if view is not None and view.expires > now:
                self._views.move_to_end(batch_id)
                return view
        with self.uow_factory.reader() as uow:
            batch = uow.batches.get_by_id(batch_id)
            if batch is None or batch.status is not BatchStatus.ANCHORED:
                return None
            anchor = uow.outbox.get(batch.outbox_id) if batch.outbox_id is not None else None
            factory = uow.organisations.get(batch.organisation_id)
            attestations = _attestations(uow, batch)
        view = _BatchView(batch, anchor, factory, attestations, now + self.ttl_s)
        with self._lock:
            self._views[batch_id] = view
            self._views.move_to_end(batch_id)
            while len(self._views) > MAX_BATCHES:
                self._views.popitem(last=False)
        return view

    def _read_all(self, serial: str) -> _Read | None:
        """Every read of the scan through the unit of work (nothing kept)."""
        with self.uow_factory.reader() as uow:
            item = uow.codes.find_item(serial)
            batch = uow.batches.get_by_id(item.batch_id) if item is not None else None
            if item is None or batch is None:
                return None
            proof = (
                uow.codes.proof(batch.id, item.leaf_index, batch.item_count)
                if batch.id is not None and batch.root is not None
                else []
            )
            anchor = uow.outbox.get(batch.outbox_id) if batch.outbox_id is not None else None
            recall = (
                uow.outbox.get(batch.recall_outbox_id)
                if batch.recall_outbox_id is not None
                else None
            )
            found = uow.certificates.by_item(item.id) if item.id is not None else None
            certificate = (
                _CertificateView(
                    found.state, found.claimed_at, found.claim_region, found.owner_account_id
                )
                if found is not None
                else None
            )
            factory = uow.organisations.get(batch.organisation_id)
            attestations = _attestations(uow, batch)
            target = uow.custody.target(None, serial)
            history = uow.custody.history(target) if target is not None else []
            carrier = target
            if target is not None and not target.loose and target.parent_id is not None:
                cases = uow.custody.units_by_id([target.parent_id])
                carrier = cases[0] if cases else None
        return _Read(
            item,
            batch,
            proof,
            anchor,
            recall,
            certificate,
            factory,
            attestations,
            history,
            target,
            carrier,
        )

    def _chain_kept(self, chain_batch_id: bytes) -> _ChainRead | None:
        """The registry's record of the batch if read less than ``chain_ttl_s`` ago."""
        with self._lock:
            kept = self._chain.get(chain_batch_id)
            if kept is None or kept.expires <= self.ticks():
                return None
            self._chain.move_to_end(chain_batch_id)
            return kept

    def _chain_record(
        self, chain_batch_id: bytes, kept: _ChainRead | None = None
    ) -> BatchOnChain | None:
        """The registry's record of the batch: ``kept`` if given, else read from the node by
        one scan at a time (the others wait for its answer) and kept ``chain_ttl_s`` from when
        it was asked.

        Raises:
            LedgerUnavailableError: the node does not answer (remembered for a moment).
            LedgerHeldError: the node is not the recorded chain.
        """
        if kept is None:
            with self._lock:
                gate = self._chain_gates.setdefault(chain_batch_id, threading.Lock())
            with gate:
                kept = self._chain_kept(chain_batch_id)
                if kept is None:
                    kept = self._ask_chain(chain_batch_id)
        if kept.error is not None:
            raise kept.error
        return kept.record

    def _ask_chain(self, chain_batch_id: bytes) -> _ChainRead:
        asked = self.ticks()
        try:
            read = _ChainRead(self.ledger.batch_on_chain(chain_batch_id), asked + self.chain_ttl_s)
        except (LedgerUnavailableError, LedgerHeldError) as exc:
            read = _ChainRead(None, asked + min(CHAIN_FAILURE_S, self.chain_ttl_s), exc)
        except BaseException:
            with self._lock:
                self._chain_gates.pop(chain_batch_id, None)
            raise
        with self._lock:
            # Kept before the gate goes: a scan arriving now finds it instead of a new gate.
            self._chain[chain_batch_id] = read
            self._chain.move_to_end(chain_batch_id)
            while len(self._chain) > MAX_BATCHES:
                self._chain.popitem(last=False)
            self._chain_gates.pop(chain_batch_id, None)
        return read

    def seen_by(self, serial: str, sources: Collection[bytes], since: datetime) -> bool:
        """Whether a consumer scan of the code since ``since`` came from one of ``sources`` (a
        device's keyed hash, a signed-in member's): the claimer verified the bottle before
        claiming it. Reads the stored scans and this process's buffered ones."""
        if not sources or self.reads is None:
            return False
        facts = self.reads.read(serial, since)
        if facts is None:
            return False
        buffered = (
            self.scan_log.buffered(facts.item.id, since)
            if self.scan_log is not None and facts.item.id is not None
            else []
        )
        return any(device in sources for _, device, _, _, _ in (*buffered, *facts.sightings))

    # ------------------------------------------------------------------ risk checks
    def _earlier(self, read: _Read, now: datetime) -> list[Sighting]:
        """The item's consumer scans in the window (raw regions): this process's scans not
        stored yet, then the stored ones (a scan in both counts once)."""
        if self.scan_log is None or read.item.id is None:
            return []
        buffered = self.scan_log.buffered(read.item.id, now - self.rule.window)
        return list(dict.fromkeys(_sighting(s) for s in (*buffered, *read.sightings)))

    def _clone_check(
        self, tree: RegionTree, read: _Read, current: Sighting, region: str | None, now: datetime
    ) -> CloneCheck | None:
        if self.scan_log is None or read.item.id is None:
            return None
        earlier = [
            replace(s, region=comparable_region(tree, s.region)) for s in self._earlier(read, now)
        ]
        this = replace(current, region=comparable_region(tree, region), at=now)
        return check_clone(self.rule, earlier, this)

    def _diversion_proven(
        self, tree: RegionTree, read: _Read, current: Sighting | None, region: str, now: datetime
    ) -> bool:
        """Whether the sightings out of territory are worth an alert (enough networks, or a
        member); those from before the goods reached their holder do not count."""
        if current is None or read.carrier is None:
            return False
        custody = read.carrier.custody
        territory = (
            self._territory_kept(custody.authorised_id)
            if custody.authorised_id is not None
            else None
        )
        outside = [
            s
            for s in self._earlier(read, now)
            if s.region is not None
            and (custody.since is None or s.at is None or s.at >= custody.since)
            and find_diversion(tree, custody.authorised_id, territory, s.region) is not None
        ]
        return enough_diversion_evidence(
            self.diversion_min_networks, outside, replace(current, region=region)
        )

    def _diversion(self, tree: RegionTree, custody: Custody, region: str) -> Diversion | None:
        if custody.authorised_id is None:
            return None
        expected = self._territory_kept(custody.authorised_id)
        return find_diversion(tree, custody.authorised_id, expected, region)

    def _territory_kept(self, organisation_id: int) -> list[str] | None:
        """The territory, kept ``ttl_s`` (as the reference cache keeps organisations)."""
        now = self.ticks()
        with self._lock:
            kept = self._territories.get(organisation_id)
        if kept is not None and kept[0] > now:
            return kept[1]
        if self.diversions is None:
            return None
        with self.uow_factory.reader() as uow:
            found = self.diversions.territory(uow, organisation_id)
        with self._lock:
            if len(self._territories) >= MAX_BATCHES:
                self._territories.clear()
            self._territories[organisation_id] = (now + self.ttl_s, found)
        return found

    # ------------------------------------------------------------------ writing
    def _record(
        self,
        origin: ScanOrigin | None,
        current: Sighting | None,
        item: ItemRecord,
        batch: Batch,
        result: Verdict,
        actor: Actor | None,
        region: str | None,
        now: datetime,
        joins: int | None = None,
        diverted: str | None = None,
    ) -> None:
        if self.scan_log is None or origin is None or item.id is None or batch.id is None:
            return
        witness = current.witness if current is not None else Witness.ANONYMOUS
        self.scan_log.record(
            ConsumerScan(
                at=now,
                item_id=item.id,
                batch_id=batch.id,
                region_code=region,
                # A member counts as one source whatever its device: its keyed hash.
                device_hash=current.source
                if current is not None and witness is not Witness.ANONYMOUS
                else origin.device_hash,
                verdict=result.value,
                organisation_id=actor.organisation_id if actor is not None else None,
                alert_id=joins,
                diversion_serial=diverted,
                network_hash=origin.network_hash,
                witness=witness.value,
            )
        )

    def _raise_item_alert(
        self, kind: AlertKind, batch: Batch, serial: str, detail: dict[str, Any]
    ) -> Alert:
        with self.uow_factory() as uow:
            now = self.clock.now()
            alert, new = uow.alerts.raise_or_repeat(
                Alert(
                    kind=kind,
                    dedupe_key=item_alert_key(kind, serial),
                    brand_id=batch.brand_id,
                    batch_id=batch.id,
                    serial=serial,
                    detail=detail,
                ),
                now,
            )
            if new:
                assert alert.id is not None
                uow.events.append(AlertRaised(alert.id, kind.value, batch.public_id, serial), now)
            uow.commit()
        return alert

    def _raise_diversion(
        self, tree: RegionTree, serial: str, batch: Batch, region: str, now: datetime
    ) -> None:
        """Raise (or join) the diversion alert of the goods at once, in a transaction of its
        own: only without a scan log (whose writer raises them otherwise)."""
        if self.diversions is None:
            return
        with self.uow_factory() as uow:
            if self.diversions.raise_diversion(uow, tree, serial, batch, region, now):
                uow.commit()

    # ------------------------------------------------------------------ the answer
    def _body(
        self,
        read: _Read,
        result: Verdict,
        activated: bool,
        valid: bool,
        on_chain: bool | None,
        anchored_on_chain: bool,
        token_id: int,
    ) -> dict[str, Any]:
        item, batch, anchor = read.item, read.batch, read.anchor
        contract = self.ledger.contract()
        return {
            "serial": item.serial,
            "verdict": result.value,
            "genuine": result in PROVEN,
            "gtin": batch.gtin,
            "lot": batch.lot,
            "batch_id": batch.public_id,
            "production_date": batch.production_date.isoformat() if batch.production_date else None,
            "activated": activated,
            "recall": None
            if batch.recalled_at is None
            else {"reason": batch.recall_reason, "recalled_at": batch.recalled_at.isoformat()},
            "chain": {
                "anchored": anchored_on_chain,
                "valid": valid,
                "on_chain": on_chain,
                "chain_batch_id": hex0x(batch.chain_batch_id),
                "token_id": str(token_id),
                "item_hash": hex0x(item.item_hash),
                "leaf": hex0x(item.leaf),
                "root": hex0x(batch.root),
                "proof": [hex0x(p) for p in read.proof],
                "anchor_tx_hash": hex0x(anchor.tx_hash) if anchor is not None else None,
                "anchor_block_number": anchor.block_number if anchor is not None else None,
            },
            "certificate": self._certificate_public(read.certificate),
            "provenance": self._provenance(read),
            "contract": {"address": contract[0], "chain_id": contract[1]} if contract else None,
        }

    def _region(self, code: str | None) -> dict[str, Any] | None:
        return _region(code, self.regions)

    def _certificate_public(self, certificate: _CertificateView | None) -> dict[str, Any] | None:
        """What a scan may say of a certificate: its state, the day and region of the claim.
        Never who holds it (no account, no address)."""
        if certificate is None:
            return None
        return {
            "state": certificate.state.value,
            "pending": certificate.state in PENDING_STATES,
            "claimed_on": certificate.claimed_at.date().isoformat(),
            "claim_region": self._region(certificate.claim_region),
        }

    def _provenance(self, read: _Read) -> dict[str, Any]:
        """Batch, factory, production date and attestations, then the journey by region."""
        batch = read.batch
        journey: list[dict[str, Any]] = []
        for leg in read.history:
            journey.append({"at": leg["dispatched_at"], "step": "shipped", "region": None})
            if leg["received_at"] is not None:
                journey.append(
                    {
                        "at": leg["received_at"],
                        "step": "received",
                        "region": self._region(leg["received_in"]),
                    }
                )
        return {
            "product": {
                "name": product_name(batch),
                "gtin": batch.gtin,
                "lot": batch.lot,
                "production_date": batch.production_date.isoformat()
                if batch.production_date
                else None,
            },
            "factory": {"name": read.factory.name} if read.factory is not None else None,
            "attestations": read.attestations,
            "journey": journey,
        }


def _chain_view(chain: BatchOnChain | ChainNotRead | None) -> dict[str, Any] | None:
    """The registry's record of the batch as a scan shows it; None when none or not read."""
    if chain is None or isinstance(chain, ChainNotRead):
        return None
    return {
        "root": hex0x(chain.root),
        "item_count": chain.item_count,
        "recalled": chain.recalled,
        "metadata_hash": hex0x(chain.metadata_hash),
    }


def _record_view(record: BatchOnRecord) -> dict[str, Any]:
    """The database's batch as a mismatch alert shows it, beside the chain's."""
    return {
        "status": record.status.value,
        "root": hex0x(record.root),
        "item_count": record.item_count,
        "recalled": record.status is BatchStatus.RECALLED,
        "metadata_hash": hex0x(record.metadata_hash),
    }


def _region(code: str | None, regions: Callable[[], RegionTree] | None) -> dict[str, Any] | None:
    if code is None:
        return None
    found = regions().get(code) if regions is not None else None
    return {"code": code, "name": found.name if found is not None else None}


def _attestations(uow: ConsumerUnitOfWork, batch: Batch) -> list[dict[str, Any]]:
    """The batch's attestations whose chain write is confirmed."""
    attestations = uow.attestations.of_batch(batch.id) if batch.id is not None else []
    return [
        {"uri": a.uri, "report_hash": hex0x(a.report_hash), "tx_hash": hex0x(tx.tx_hash)}
        for a, tx in ((a, uow.outbox.get(a.outbox_id)) for a in attestations)
        if tx is not None and tx.status == "confirmed"
    ]


def _witnessed(origin: ScanOrigin | None, certificate: _CertificateView | None) -> Sighting | None:
    """This scan as the risk rules see it (region set later): its witness and its source."""
    if origin is None:
        return None
    if origin.account_id is not None:
        owner = certificate is not None and certificate.owner == origin.account_id
        return Sighting(
            None,
            origin.member_hash or origin.device_hash,
            Witness.OWNER if owner else Witness.MEMBER,
        )
    return Sighting(None, origin.network_hash or origin.device_hash, Witness.ANONYMOUS)


def _sighting(stored: StoredSighting) -> Sighting:
    """A stored (or buffered) scan as the rules see it: an anonymous scan's source is its
    network (its device on rows from before migration 0014), a member's its keyed hash."""
    region, device, at, network, witness = stored
    kind = Witness(witness) if witness else Witness.ANONYMOUS
    source = network if kind is Witness.ANONYMOUS and network is not None else device
    return Sighting(region, source, kind, at)


def _answer(body: dict[str, Any] | Deferred | None) -> dict[str, Any] | None:
    assert not isinstance(body, Deferred)  # only an inline attempt defers
    return body


def scan_item(
    cmd: commands.ScanItem,
    uow_factory: ConsumerUnitOfWorkFactory,
    commitments: CertificateCommitments,
    ledger: CertificateChain,
    clock: Clock,
    regions: Callable[[], RegionTree] | None = None,
    diversions: DiversionDesk | None = None,
) -> dict[str, Any] | None:
    """Verify an item code with nothing kept (see :class:`Verifier`); None when unknown."""
    verifier = Verifier(uow_factory, commitments, ledger, clock, regions, diversions=diversions)
    return _answer(verifier.scan(cmd))


def resolve(
    cmd: commands.ScanItem,
    uow_factory: ConsumerUnitOfWorkFactory,
    commitments: CertificateCommitments,
    ledger: CertificateChain,
    clock: Clock,
    regions: Callable[[], RegionTree] | None = None,
) -> dict[str, Any]:
    """A scan by either path (``/items/{serial}/verify`` or the Digital Link): always a verdict,
    ``unknown`` for a well-formed code we never made; a malformed one raises
    :class:`~service.kernel.errors.MalformedCodeError`."""
    body = scan_item(cmd, uow_factory, commitments, ledger, clock, regions)
    return body or _unknown(cmd.serial)


def unknown(serial: str) -> dict[str, Any]:
    """The answer to a scan of a well-formed code we never made (it is at most 20 characters:
    only a well-formed serial is ever echoed)."""
    return _unknown(serial)
