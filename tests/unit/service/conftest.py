"""Fixtures the use-case tests share (a module may define its own instead): a fake database,
clock and ledger, and a brand created through identity's use case (``organisation`` in
``tests/unit/service/organisations.py`` creates others)."""

import pytest

from tests.unit.service.fakes.database import FakeDatabase
from tests.unit.service.fakes.kernel import FakeClock
from tests.unit.service.fakes.ledger import FakeLedger
from tests.unit.service.organisations import organisation


@pytest.fixture
def db():
    return FakeDatabase()


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def ledger():
    return FakeLedger()


@pytest.fixture
def brand(db, clock):
    return organisation(db, clock, "Moutai", "brand")
