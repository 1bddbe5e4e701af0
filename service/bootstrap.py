"""``bootstrap(settings)`` wires the service together; nothing else builds adapters."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from eth_account import Account
from sqlalchemy import Engine

from chain.backends import Backend, make_backend
from chain.recheck import RecheckResult, recheck
from chain.sender import NONCE_FILL, Sender, SenderReport
from service.adapters.regions.places import region_centre
from service.alerts.app import AlertUseCases
from service.audit.storage import SqlAlchemyAuditExporter
from service.channel.app.diversions import ConsumerDiversions
from service.channel.app.epcis import EpcisCapture, EpcisEvents
from service.channel.app.use_cases import ChannelUseCases
from service.channel.storage.epcis_hash import event_hashes
from service.channel.storage.epcis_schema import validate as validate_epcis
from service.channel.storage.region_directory import CachedRegionDirectory
from service.config import Settings
from service.consumer.app import claims, gifts, lifecycle
from service.consumer.app.accounts import CodeLimits
from service.consumer.app.certificates import CertificateUseCases
from service.consumer.app.consumers import ConsumerUseCases
from service.consumer.app.verification import Verifier
from service.consumer.domain.scans import CloneRule
from service.consumer.ports import OtpSender
from service.consumer.storage.confirmations import (
    CLAIM_KINDS,
    LIFECYCLE_KINDS,
    ROLE_GRANT_KINDS,
    ClaimConfirmations,
    RoleGrantConfirmations,
    StepConfirmations,
)
from service.consumer.storage.credentials import (
    JwtSessionTokens,
    LogOtpSender,
    SealedWallets,
    WebhookOtpSender,
)
from service.consumer.storage.device_keys import HmacDeviceKeys
from service.consumer.storage.scan_log import ConsumerScanRecorder
from service.consumer.storage.scan_reads import SqlAlchemyScanReads
from service.factory.app.use_cases import FactoryUseCases
from service.factory.storage.confirmations import BATCH_HANDLERS
from service.factory.storage.printing import QrLabelPrinter
from service.identity.app.use_cases import OrganisationUseCases
from service.kernel.errors import TracecertError
from service.kernel.outages import OutageMonitor
from service.kernel.storage.clock import SystemClock
from service.kernel.storage.db import is_outage, make_engine
from service.kernel.storage.reference_cache import ReferenceCache
from service.kernel.storage.secrets import AesGcmSecrets
from service.ledger.app import log_access
from service.ledger.app.commands import AnchorLog
from service.ledger.app.health import HealthLimits, chain_info, check_health
from service.ledger.app.log import LogUseCases, anchor_log
from service.ledger.ports import LogAnchor
from service.ledger.storage.chain import ChainLedger, ChainRuntime
from service.ledger.storage.commitments import ChainCommitments, leaf_hash
from service.ledger.storage.confirmations import NO_EFFECT, ConfirmationRegistry
from service.ledger.storage.lease import SqlAlchemyLease
from service.ledger.storage.log_anchor_confirmations import LOG_ANCHOR_KINDS, LogAnchorConfirmations
from service.ledger.storage.log_inspector import ProcessLogInspector
from service.ledger.storage.tx_store import SqlAlchemyTxStore
from service.touchpoints.app.funnel import FunnelUseCases
from service.touchpoints.app.identities import IdentitiesUseCases
from service.touchpoints.app.members import MembersUseCases
from service.touchpoints.app.points import PointsUseCases
from service.touchpoints.app.projector import Projector, lag
from service.touchpoints.app.risk import RiskUseCases
from service.touchpoints.domain.errors import PointsCatchingUpError
from service.touchpoints.storage.identity_refs import HmacIdentityRefs
from service.unit_of_work import SqlAlchemyUnitOfWorkFactory, open_factory

log = logging.getLogger(__name__)


@dataclass
class Container:
    """Everything the API, the CLI and the workers need, built once."""

    settings: Settings
    engine: Engine
    uow_factory: SqlAlchemyUnitOfWorkFactory
    commitments: ChainCommitments
    clock: SystemClock
    runtime: ChainRuntime
    ledger: ChainLedger
    tx_store: SqlAlchemyTxStore
    lease: SqlAlchemyLease
    secrets: AesGcmSecrets
    printer: QrLabelPrinter
    regions: CachedRegionDirectory
    #: Reference rows every request reads (keys, organisations, sites, territories) and the
    #: actors of recently seen API keys; see ``service.kernel.storage.reference_cache``.
    reference_cache: ReferenceCache
    wallets: SealedWallets
    otp_sender: OtpSender
    session_tokens: JwtSessionTokens
    #: Item scans (verify, Digital Link) with their caches, the scan log and device keys.
    verifier: Verifier
    scan_log: ConsumerScanRecorder
    device_keys: HmacDeviceKeys
    #: POST /epcis/capture, with GS1's schema and the CBV 2.0 event hasher.
    epcis_capture: EpcisCapture
    #: GET /epcis/events.
    epcis_events: EpcisEvents
    #: The use cases of each area with their adapters bound: what routes and the CLI call.
    factory: FactoryUseCases
    organisations: OrganisationUseCases
    channel: ChannelUseCases
    alerts: AlertUseCases
    consumers: ConsumerUseCases
    certificates: CertificateUseCases
    log: LogUseCases
    #: Database outages, logged once each (the API answers 503 for them; see ``api.errors``).
    outages: OutageMonitor
    #: The touchpoints' feed: the event log and the consumer-scan stream applied to the journey,
    #: in a thread of its own so no request waits for it.
    touchpoints: Projector
    #: The brand's journey funnel, read from what the feed built.
    funnel: FunnelUseCases
    #: Points: "My points", spending, the brands' programmes, the expiry job.
    points: PointsUseCases
    #: Members and consent: the consumer's consents and data, the brand's member view.
    members: MembersUseCases
    #: Anti-farming: the screening job, the brand's review queue and reviews.
    risk: RiskUseCases
    #: One-ID: identities the brand's integrations assert, merges and their undoing, blocks.
    identities: IdentitiesUseCases
    sender: Sender | None = None
    #: The anchorer's proof pass, in a child process while the workers run (None: here).
    log_inspector: ProcessLogInspector | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _next_log_anchor: float = 0.0
    #: The expiry job's first run is an interval after the workers start.
    _next_points_expiry: float = 0.0
    _next_risk_screen: float = 0.0

    # ------------------------------------------------------------------ chain steps
    @property
    def audit_exporter(self) -> SqlAlchemyAuditExporter:
        """The auditor's export, read through the read-only sessions."""
        return SqlAlchemyAuditExporter(self.uow_factory.read_sessions, log_access.cut_all)

    def prepare_chain(self) -> bool:
        """Identity check and one-time deployment; safe to call repeatedly."""
        return self.runtime.prepare()

    def _sender(self) -> Sender | None:
        if self.sender is None and self.runtime.recorded is not None:
            self.sender = Sender(
                self.runtime.client,
                self.runtime.account,
                self.tx_store,
                self.settings.chain,
                self.runtime.recorded,
            )
        return self.sender

    def sender_step(self) -> SenderReport | None:
        """One sender pass, if this process holds the sender lease and the chain is ours."""
        if self.runtime.registry is None or self.runtime.genesis_mismatch:
            self.prepare_chain()
        if self.runtime.genesis_mismatch:
            return SenderReport(held=True)
        sender = self._sender()
        if sender is None or not self.lease.acquire():
            return None
        report = sender.step()
        if sender.held:
            self.runtime.hold(sender.hold_reason or "chain identity changed")
            self.runtime.prepare(deploy_if_missing=False)
        else:
            self.runtime.sender_held = False
            self.runtime.hold_reason = None
        return report

    def anchor_log_step(self) -> LogAnchor | None:
        """Queue an anchor of the event-log root if the log grew."""
        try:
            return anchor_log(
                AnchorLog(),
                self.uow_factory,
                self.commitments,
                self.ledger,
                self.clock,
                self.log_inspector,
            )
        except TracecertError as exc:  # no deployment yet: try again next interval
            log.info("log anchor postponed: %s", exc.detail)
            return None

    def claim_step(self, force: bool = False) -> int:
        """Queue one chain write for waiting claims (a shared ``claimBatch`` when several);
        ``force`` sends what waits without waiting for the batching window."""
        if self.runtime.registry is None:
            return 0
        return claims.send_claims(
            self.uow_factory,
            self.ledger,
            self.clock,
            self.settings.claim_batch_window_s,
            self.settings.claim_batch_max,
            force=force,
        )

    def gift_expiry_step(self) -> int:
        """Return gifts nobody accepted in time to their givers."""
        if self.runtime.registry is None:
            return 0
        return gifts.return_expired_gifts(
            lifecycle.Services(
                self.uow_factory, self.ledger, self.wallets, self.secrets, self.clock
            )
        )

    def points_expiry_step(self) -> None:
        """Run the points' expiry job; while the feed catches up (after a restart), next time."""
        try:
            self.points.run_expiry()
        except PointsCatchingUpError:
            self._next_points_expiry = time.monotonic() + self.settings.touchpoints_interval_s * 30

    def risk_screen_step(self) -> None:
        """Screen the members with pending awards; while the feed catches up, next time."""
        try:
            self.risk.screen()
        except PointsCatchingUpError:
            self._next_risk_screen = time.monotonic() + self.settings.touchpoints_interval_s * 30

    # ------------------------------------------------------------------ workers
    def _project(self) -> None:
        while not self._stop.is_set():
            busy = False
            try:
                busy = self.touchpoints.step() > 0
            except Exception as exc:  # a bug must not kill the projector silently
                if not self.outages.failed(exc, "touchpoints"):
                    log.exception("touchpoints step failed")
            self._stop.wait(0.0 if busy else self.settings.touchpoints_interval_s)

    def _work(self) -> None:
        while not self._stop.is_set():
            busy = False
            try:
                if self.lease.acquire():
                    busy = self.claim_step() > 0
                report = self.sender_step()
                busy = busy or bool(report and report.busy)
                if time.monotonic() >= self._next_log_anchor and self.lease.acquire():
                    self._next_log_anchor = time.monotonic() + self.settings.log_anchor_interval_s
                    self.anchor_log_step()
                    self.gift_expiry_step()
                if time.monotonic() >= self._next_points_expiry and self.lease.acquire():
                    self._next_points_expiry = (
                        time.monotonic() + self.settings.points_expiry_interval_s
                    )
                    self.points_expiry_step()
                if time.monotonic() >= self._next_risk_screen and self.lease.acquire():
                    self._next_risk_screen = time.monotonic() + self.settings.risk_screen_interval_s
                    self.risk_screen_step()
                self.outages.succeeded()
            except Exception as exc:  # a bug must not kill the worker silently
                if not self.outages.failed(exc, "worker"):
                    log.exception("worker step failed")
            self._stop.wait(0.0 if busy else self.settings.sender_poll_interval_s)

    def start_workers(self) -> None:
        if self._threads or not self.settings.workers_enabled:
            return
        self.scan_log.start()
        if self.log_inspector is None and not _in_memory(self.settings.database_url):
            self.log_inspector = ProcessLogInspector(
                open_factory, self.settings.database_url, self.settings.database_busy_timeout_s
            )
        self._stop.clear()
        self._next_points_expiry = time.monotonic() + self.settings.points_expiry_interval_s
        for target, name in (
            (self._work, "tracecert-worker"),
            (self._project, "tracecert-touchpoints"),
        ):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop_workers(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)
        self._threads.clear()
        if self.log_inspector is not None:
            self.log_inspector.close()
            self.log_inspector = None
        self.scan_log.stop()  # writes the scans still buffered
        try:
            self.lease.release()
        except Exception:  # the database may be gone at shutdown
            log.warning("could not release the sender lease", exc_info=True)

    def close(self) -> None:
        self.stop_workers()
        self.engine.dispose()

    def health(self) -> tuple[bool, dict[str, Any]]:
        limits = HealthLimits(
            max_in_flight_age_s=self.settings.health_max_in_flight_age_s,
            max_nonce_gap=self.settings.health_max_nonce_gap,
            max_confirmed_missing=self.settings.health_max_confirmed_missing,
        )
        ok, body = check_health(self.uow_factory.reader, self.ledger, limits, self.clock.now())
        body["database"].update(self.outages.status())
        body["scan_log"] = self.scan_log.status()
        try:
            body["touchpoints"] = lag(self.uow_factory)
        except Exception as exc:  # like the database's own checks: reported, never raised
            body["touchpoints"] = {"error": type(exc).__name__}
        if self.settings.dev_clock_offset_s:
            body["dev_clock"] = dev_clock(self.settings.dev_clock_offset_s, self.clock.now())
        return ok, body

    def chain_info(self) -> dict[str, Any]:
        """The chain identity, the recorded identity, the registry deployment and the sender."""
        return chain_info(self.ledger, self.uow_factory)

    def confirmed_writes(self) -> int:
        """How many chain writes the database holds as confirmed (what a recheck reads)."""
        with self.uow_factory.reader() as uow:
            return uow.outbox.counts().get("confirmed", 0)

    def recheck_chain(self) -> Iterator[RecheckResult]:
        """Every write the database holds as confirmed, checked against the chain (all time)."""
        return recheck(self.runtime.client, self.tx_store)

    def hand_back(self, result: RecheckResult) -> None:
        """Give a write the recheck found off its recorded block back to the sender, which
        follows it again: re-included, its blocks are refreshed; lost, its effect is undone."""
        self.tx_store.record_reorged(
            result.request.id, f"tracecert chain recheck: {result.verdict.value}"
        )


def confirmations() -> ConfirmationRegistry:
    """The outbox's confirmation handlers, one per kind of chain write, each from its area."""
    registry = ConfirmationRegistry()
    for kind, handler in BATCH_HANDLERS.items():
        registry.register(handler, kind)
    return (
        registry.register(ClaimConfirmations(), *CLAIM_KINDS)
        .register(StepConfirmations(), *LIFECYCLE_KINDS)
        .register(RoleGrantConfirmations(), *ROLE_GRANT_KINDS)
        .register(LogAnchorConfirmations(), *LOG_ANCHOR_KINDS)
        .register(NO_EFFECT, NONCE_FILL)
    )


def _in_memory(database_url: str) -> bool:
    """An in-memory SQLite database, which no other process can open."""
    return database_url.startswith("sqlite") and (
        ":memory:" in database_url or database_url.rstrip("/") in ("sqlite:", "sqlite+pysqlite:")
    )


def dev_clock(offset_s: float, now: datetime) -> dict[str, Any]:
    """How /health and the start-up table show a dev clock offset: never silently."""
    return {
        "offset_s": offset_s,
        "now": now.isoformat(),
        "note": "TRACECERT_DEV_CLOCK_OFFSET_S: the service's clock runs ahead (dev mode only); "
        "the chain keeps its own time",
    }


def bootstrap(settings: Settings, *, backend: Backend | None = None) -> Container:
    """Wire engine, unit of work, chain runtime, ledger and workers (not started).

    The chain is checked (identity recorded on first contact, registry deployed once per
    chain) if the node answers; otherwise the workers retry. Pass ``backend`` to reuse a
    started one (tests, ``tracecert run``).
    """
    engine = make_engine(settings.database_url, busy_timeout_s=settings.database_busy_timeout_s)
    outages = OutageMonitor("database", is_outage)
    reference_cache = ReferenceCache(ttl_s=settings.reference_cache_ttl_s)
    uow_factory = SqlAlchemyUnitOfWorkFactory(engine, leaf_hash, reference_cache)
    clock = SystemClock(timedelta(seconds=settings.dev_clock_offset_s))
    backend = backend or make_backend(settings.chain)
    account = Account.from_key(settings.chain.private_key())
    runtime = ChainRuntime(
        backend, account, uow_factory.sessions, settings.chain.artifacts_dir, clock.now
    )
    runtime.load_recorded()
    holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    secrets = AesGcmSecrets(settings.code_secret_bytes)
    wallets = SealedWallets(settings.wallet_kek_bytes)
    commitments = ChainCommitments()
    ledger = ChainLedger(runtime, wallets)
    regions = CachedRegionDirectory(uow_factory, ttl_s=settings.reference_cache_ttl_s)
    # The channel's diversion rules: the scan log's writer raises the alerts of recorded scans,
    # the Verifier asks for territories (and raises a sighting's alert without a scan log).
    diversions = ConsumerDiversions(regions.tree)
    scan_log = ConsumerScanRecorder(
        engine,
        max_buffer=settings.scan_log_buffer,
        spill_dir=settings.data_dir / "scan-spill",
        # The writer's transactions; consumers' diversion alerts are raised in them, with the
        # scans.
        uows=uow_factory,
        outages=outages,
        diversions=diversions,
    )
    verifier = Verifier(
        uow_factory,
        commitments,
        ledger,
        clock,
        regions.tree,
        reads=SqlAlchemyScanReads(engine),
        scan_log=scan_log,
        rule=CloneRule(
            settings.clone_max_regions,
            settings.clone_max_devices,
            timedelta(hours=settings.clone_window_h),
            timedelta(minutes=settings.clone_min_span_min),
        ),
        diversion_min_networks=settings.diversion_min_networks,
        ttl_s=settings.reference_cache_ttl_s,
        chain_ttl_s=settings.chain_read_ttl_s,
        # SQLite readers in WAL mode never wait on a writer: a scan's reads can run on the
        # event loop (a thread-pool hop costs more than they do). PostgreSQL's go to a thread.
        inline=engine.dialect.name == "sqlite",
        diversions=diversions,
    )
    printer = QrLabelPrinter()
    otp_sender = (
        WebhookOtpSender(settings.otp_webhook_url.get_secret_value())
        if settings.otp_sender == "webhook"
        else LogOtpSender()
    )
    session_tokens = JwtSessionTokens(secrets.session_key)
    points = PointsUseCases(uow_factory, clock)
    container = Container(
        settings=settings,
        engine=engine,
        uow_factory=uow_factory,
        commitments=commitments,
        clock=clock,
        runtime=runtime,
        ledger=ledger,
        tx_store=SqlAlchemyTxStore(uow_factory.sessions, leaf_hash, clock, confirmations()),
        lease=SqlAlchemyLease(uow_factory.sessions, "sender", holder),
        secrets=secrets,
        printer=printer,
        regions=regions,
        reference_cache=reference_cache,
        wallets=wallets,
        otp_sender=otp_sender,
        session_tokens=session_tokens,
        verifier=verifier,
        scan_log=scan_log,
        device_keys=HmacDeviceKeys(settings.code_secret_bytes),
        epcis_capture=EpcisCapture(uow_factory, clock, validate_epcis, event_hashes),
        epcis_events=EpcisEvents(uow_factory, clock),
        log=LogUseCases(uow_factory, commitments, ledger),
        factory=FactoryUseCases(
            uow_factory,
            commitments,
            ledger,
            secrets,
            clock,
            printer,
            max_batch_items=settings.max_batch_items,
            company_prefix=settings.gs1_company_prefix,
            resolver_url=settings.resolver_url,
        ),
        organisations=OrganisationUseCases(
            uow_factory, clock, settings.pepper, int(settings.scanner_session_ttl_s)
        ),
        consumers=ConsumerUseCases(
            uow_factory,
            commitments,
            ledger,
            secrets,
            wallets,
            session_tokens,
            otp_sender,
            regions.tree,
            clock,
            reference_cache,
            code_limits=CodeLimits(
                settings.otp_max_per_network_per_hour,
                settings.otp_budget_per_hour,
                settings.otp_budget_per_day,
            ),
            access_ttl=timedelta(seconds=settings.consumer_session_ttl_s),
            refresh_ttl=timedelta(seconds=settings.consumer_refresh_ttl_s),
        ),
        certificates=CertificateUseCases(
            lifecycle.Services(uow_factory, ledger, wallets, secrets, clock, otp_sender),
            settings.resolver_url,
        ),
        channel=ChannelUseCases(uow_factory, regions, clock),
        alerts=AlertUseCases(uow_factory, clock),
        outages=outages,
        touchpoints=Projector(uow_factory, clock),
        funnel=FunnelUseCases(uow_factory, clock),
        points=points,
        members=MembersUseCases(uow_factory, clock),
        risk=RiskUseCases(points.writes, region_centre),
        identities=IdentitiesUseCases(points.writes, HmacIdentityRefs(settings.code_secret_bytes)),
    )
    container.prepare_chain()
    return container
