"""The fake unit of work (a deep copy of the committed state, published by ``commit``) and
its factory, over every area's fake repositories."""

from __future__ import annotations

import copy

from service.alerts.ports import AlertRepository
from service.factory.ports import (
    AttestationRepository,
    BatchRepository,
    CodeFileRepository,
    CodeRepository,
    ProductRepository,
)
from service.identity.ports import ApiKeyRepository, OrganisationRepository
from service.kernel.ports import (
    EventLog,
    IdempotencyRepository,
)
from service.ledger.ports import (
    LogAnchorRepository,
    LogCheckRepository,
    OutboxRepository,
)
from tests.unit.service.fakes.alerts import FakeAlerts
from tests.unit.service.fakes.channel import FakeCustody
from tests.unit.service.fakes.consumer import FakeCertificates
from tests.unit.service.fakes.factory import (
    FakeAttestations,
    FakeBatches,
    FakeCodeFiles,
    FakeCodes,
    FakeProducts,
)
from tests.unit.service.fakes.identity import FakeApiKeys, FakeOrganisations, FakeTenancy
from tests.unit.service.fakes.kernel import FakeEventLog, FakeIdempotency
from tests.unit.service.fakes.ledger import (
    FakeLogAnchors,
    FakeLogChecks,
    FakeLogTenants,
    FakeOutbox,
)
from tests.unit.service.fakes.state import FakeState


class FakeUnitOfWork:
    """Works on a deep copy of the committed state; ``commit`` publishes it.

    A reader (``FakeDatabase.reader()``) refuses to commit, so a handler that writes through
    a read-only unit of work fails its test.
    """

    organisations: OrganisationRepository
    api_keys: ApiKeyRepository
    products: ProductRepository
    batches: BatchRepository
    codes: CodeRepository
    code_files: CodeFileRepository
    attestations: AttestationRepository
    alerts: AlertRepository
    events: EventLog
    log_anchors: LogAnchorRepository
    log_checks: LogCheckRepository
    outbox: OutboxRepository
    idempotency: IdempotencyRepository

    def __init__(self, db: FakeDatabase, read_only: bool = False) -> None:
        self.db = db
        self.read_only = read_only
        self.state: FakeState | None = None
        self.organisations = FakeOrganisations(self)
        self.api_keys = FakeApiKeys(self)
        self.products = FakeProducts(self)
        self.batches = FakeBatches(self)
        self.codes = FakeCodes(self)
        self.code_files = FakeCodeFiles(self)
        self.attestations = FakeAttestations(self)
        self.tenancy = FakeTenancy(self)
        self.alerts = FakeAlerts(self)
        self.events = FakeEventLog(self)
        self.log_tenants = FakeLogTenants(self)
        self.log_anchors = FakeLogAnchors(self)
        self.log_checks = FakeLogChecks(self)
        self.outbox = FakeOutbox(self)
        self.idempotency = FakeIdempotency(self)
        self.custody = FakeCustody(self)
        self.certificates = FakeCertificates(self)

    def __enter__(self) -> FakeUnitOfWork:
        self.state = copy.deepcopy(self.db.state)
        return self

    def __exit__(self, *exc: object) -> None:
        self.state = None

    def commit(self) -> None:
        assert self.state is not None
        assert not self.read_only, "a reader unit of work must not commit"
        self.state.commits += 1
        self.db.state = copy.deepcopy(self.state)

    def rollback(self) -> None:
        self.state = copy.deepcopy(self.db.state)


class FakeDatabase:
    """The ``UnitOfWorkFactory``: every unit of work sees the last committed state."""

    def __init__(self) -> None:
        self.state = FakeState()

    def __call__(self) -> FakeUnitOfWork:
        return FakeUnitOfWork(self)

    def reader(self) -> FakeUnitOfWork:
        return FakeUnitOfWork(self, read_only=True)
