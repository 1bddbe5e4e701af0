"""The SQLAlchemy unit of work: one session, one transaction, commit only when asked.

Wiring: it builds every area's repositories over one session (the kernel's ``SessionUnitOfWork``
gives the session's lifecycle), so it is one of the few modules that import areas' storage.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

import service.schema  # noqa: F401  (every row mapped before the first query)
from service.alerts.ports import AlertRepository
from service.alerts.storage.repositories import SqlAlchemyAlertRepository
from service.channel.ports import ChannelRepository, CustodyRepository, EpcisRepository
from service.channel.storage.custody import SqlAlchemyCustodyRepository
from service.channel.storage.epcis_store import SqlAlchemyEpcisRepository
from service.channel.storage.network import SqlAlchemyChannelRepository
from service.consumer.ports import AccountRepository, CertificateRepository
from service.consumer.storage.accounts import SqlAlchemyAccountRepository
from service.consumer.storage.certificates import SqlAlchemyCertificateRepository
from service.factory.ports import (
    AttestationRepository,
    BatchRepository,
    CodeFileRepository,
    CodeRepository,
    ProductRepository,
)
from service.factory.storage.attestations import SqlAlchemyAttestationRepository
from service.factory.storage.batches import SqlAlchemyBatchRepository
from service.factory.storage.code_files import SqlAlchemyCodeFileRepository
from service.factory.storage.codes import SqlAlchemyCodeRepository
from service.factory.storage.products import SqlAlchemyProductRepository
from service.identity.ports import ApiKeyRepository, OrganisationRepository, TenancyRepository
from service.identity.storage.repositories import (
    SqlAlchemyApiKeyRepository,
    SqlAlchemyOrganisationRepository,
)
from service.identity.storage.tenancy import SqlAlchemyTenancyRepository
from service.kernel.ports import EventLog, IdempotencyRepository
from service.kernel.storage.db import READ_ONLY, make_engine
from service.kernel.storage.event_log import SqlAlchemyEventLog
from service.kernel.storage.idempotency import SqlAlchemyIdempotencyRepository
from service.kernel.storage.reference_cache import ReferenceCache
from service.kernel.storage.unit_of_work import SessionUnitOfWork, session_factory
from service.ledger.ports import (
    LogAnchorRepository,
    LogCheckRepository,
    LogTenants,
    OutboxRepository,
)
from service.ledger.storage.commitments import leaf_hash
from service.ledger.storage.log_tenants import SqlAlchemyLogTenants
from service.ledger.storage.repositories import (
    SqlAlchemyLogAnchorRepository,
    SqlAlchemyLogCheckRepository,
    SqlAlchemyOutboxRepository,
)
from service.touchpoints.ports import (
    Checkpoints,
    Feed,
    IdentitiesRepository,
    JourneyRepository,
    MembersRepository,
    PointsRepository,
    RiskRepository,
)
from service.touchpoints.storage.feed import SqlAlchemyFeed
from service.touchpoints.storage.identities import SqlAlchemyIdentitiesRepository
from service.touchpoints.storage.members import SqlAlchemyMembersRepository
from service.touchpoints.storage.points import SqlAlchemyPointsRepository
from service.touchpoints.storage.repositories import (
    SqlAlchemyFeedCheckpoints,
    SqlAlchemyJourneyRepository,
)
from service.touchpoints.storage.risk import SqlAlchemyRiskRepository


class SqlAlchemyUnitOfWork(SessionUnitOfWork):
    """A transaction with repositories; leaving the ``with`` block without commit rolls back."""

    organisations: OrganisationRepository
    api_keys: ApiKeyRepository
    products: ProductRepository
    batches: BatchRepository
    codes: CodeRepository
    code_files: CodeFileRepository
    attestations: AttestationRepository
    tenancy: TenancyRepository
    alerts: AlertRepository
    channel: ChannelRepository
    custody: CustodyRepository
    epcis: EpcisRepository
    events: EventLog
    log_tenants: LogTenants
    log_anchors: LogAnchorRepository
    log_checks: LogCheckRepository
    outbox: OutboxRepository
    idempotency: IdempotencyRepository
    accounts: AccountRepository
    certificates: CertificateRepository
    journeys: JourneyRepository
    points: PointsRepository
    members: MembersRepository
    risk: RiskRepository
    identities: IdentitiesRepository
    feed_checkpoints: Checkpoints
    feed: Feed

    def __init__(
        self,
        sessions: sessionmaker[Session],
        leaf_hash: Callable[[bytes], bytes],
        cache: ReferenceCache | None = None,
    ) -> None:
        super().__init__(cache)
        self._sessions = sessions
        self._leaf_hash = leaf_hash

    def __enter__(self) -> SqlAlchemyUnitOfWork:
        session = self._sessions()
        self.session = session
        self.organisations = SqlAlchemyOrganisationRepository(session, self._cache)
        self.api_keys = SqlAlchemyApiKeyRepository(session, self._cache)
        self.products = SqlAlchemyProductRepository(session)
        self.batches = SqlAlchemyBatchRepository(session)
        self.codes = SqlAlchemyCodeRepository(session)
        self.code_files = SqlAlchemyCodeFileRepository(session)
        self.attestations = SqlAlchemyAttestationRepository(session)
        self.tenancy = SqlAlchemyTenancyRepository(session)
        self.alerts = SqlAlchemyAlertRepository(session)
        self.channel = SqlAlchemyChannelRepository(session, self._cache)
        self.custody = SqlAlchemyCustodyRepository(session)
        self.epcis = SqlAlchemyEpcisRepository(session)
        self.events = SqlAlchemyEventLog(session, self._leaf_hash)
        self.log_tenants = SqlAlchemyLogTenants(session)
        self.log_anchors = SqlAlchemyLogAnchorRepository(session)
        self.log_checks = SqlAlchemyLogCheckRepository(session)
        self.outbox = SqlAlchemyOutboxRepository(session)
        self.idempotency = SqlAlchemyIdempotencyRepository(session)
        self.accounts = SqlAlchemyAccountRepository(session)
        self.certificates = SqlAlchemyCertificateRepository(session)
        self.journeys = SqlAlchemyJourneyRepository(session)
        self.points = SqlAlchemyPointsRepository(session)
        self.members = SqlAlchemyMembersRepository(session)
        self.risk = SqlAlchemyRiskRepository(session)
        self.identities = SqlAlchemyIdentitiesRepository(session)
        self.feed_checkpoints = SqlAlchemyFeedCheckpoints(session)
        self.feed = SqlAlchemyFeed(session)
        return self


class SqlAlchemyUnitOfWorkFactory:
    """Makes a fresh unit of work per use case."""

    def __init__(
        self,
        engine: Engine,
        leaf_hash: Callable[[bytes], bytes],
        cache: ReferenceCache | None = None,
    ) -> None:
        self.engine = engine
        self.sessions = session_factory(engine)
        self._leaf_hash = leaf_hash
        #: Reference rows (keys, organisations, sites, territories) shared by this process;
        #: off unless given (bootstrap gives one per the settings).
        self.cache = cache or ReferenceCache(ttl_s=0)

        self.read_sessions = session_factory(engine.execution_options(**{READ_ONLY: True}))

    def __call__(self) -> SqlAlchemyUnitOfWork:
        return SqlAlchemyUnitOfWork(self.sessions, self._leaf_hash, self.cache)

    def reader(self) -> SqlAlchemyUnitOfWork:
        """A unit of work for use cases that only read (no write lock on SQLite)."""
        return SqlAlchemyUnitOfWork(self.read_sessions, self._leaf_hash, self.cache)


def open_factory(database_url: str, busy_timeout_s: float) -> SqlAlchemyUnitOfWorkFactory:
    """A unit-of-work factory over an engine of its own, for a process of its own (the log's
    proof pass): a module-level function, so a spawned child can be handed it."""
    return SqlAlchemyUnitOfWorkFactory(
        make_engine(database_url, busy_timeout_s=busy_timeout_s), leaf_hash
    )
