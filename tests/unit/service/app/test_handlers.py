"""Organisations, API keys, authentication, the event log and health, against the fakes.

The batch use cases are in ``test_factory.py``; scans and alerts in ``test_scans.py``.
"""

from datetime import UTC, datetime, timedelta

import pytest

from service.app import commands, handlers
from service.app.ports import OutboxFlight
from service.domain.errors import LogRangeError
from service.identity.domain.errors import (
    ApiKeyNotFoundError,
    InvalidApiKeyError,
    InvalidOrganisationError,
    OrganisationExistsError,
    OrganisationNotFoundError,
    RoleNotAllowedForOrganisationError,
)
from service.kernel.actor import Actor
from service.kernel.errors import InvalidCompanyPrefixError, PermissionDeniedError
from service.kernel.roles import Role
from tests.unit.service.fakes import (
    FakeClock,
    FakeCommitments,
    FakeDatabase,
    FakeLedger,
    confirm_outbox,
)

PEPPER = b"unit-test-pepper-0123456789"
ADMIN = Actor("key:admin", Role.ADMIN, organisation_id=1)
FACTORY = Actor("key:factory", Role.FACTORY, organisation_id=2)


@pytest.fixture
def db():
    return FakeDatabase()


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def ledger():
    return FakeLedger()


def organisation(db, clock, name, kind, brand_id=None, prefix=None, actor=ADMIN):
    cmd = commands.CreateOrganisation(actor, name, kind, brand_id, prefix)
    return handlers.create_organisation(cmd, db(), clock)


@pytest.fixture
def brand(db, clock):
    return organisation(db, clock, "Moutai", "brand")


# ----------------------------------------------------------------------------- organisations
def test_create_organisation_writes_the_organisation_and_one_event(db, clock, brand):
    org = organisation(db, clock, " Moutai Factory 1 ", "factory", brand_id=brand.id)
    assert org.id == 2 and org.name == "Moutai Factory 1" and org.brand_id == brand.id
    assert db.state.organisations[2].brand_id == brand.id
    assert db.state.event_types() == ["OrganisationCreated", "OrganisationCreated"]
    assert b'"brand_id":1' in db.state.events[-1].payload


def test_duplicate_organisation_name_is_a_conflict(db, clock):
    organisation(db, clock, "X", "brand")
    with pytest.raises(OrganisationExistsError):
        organisation(db, clock, "X", "brand")
    assert len(db.state.events) == 1 and len(db.state.organisations) == 1


def test_only_admins_create_organisations(db, clock):
    with pytest.raises(PermissionDeniedError):
        organisation(db, clock, "X", "brand", actor=FACTORY)
    assert db.state.commits == 0


def test_unknown_organisation_kind_is_invalid(db, clock):
    with pytest.raises(InvalidOrganisationError):
        organisation(db, clock, "X", "wizard")
    assert not db.state.organisations


@pytest.mark.parametrize("kind", ["factory", "distributor", "store"])
def test_factories_distributors_and_stores_must_name_their_brand(db, clock, kind):
    with pytest.raises(InvalidOrganisationError):
        organisation(db, clock, "X", kind)
    assert not db.state.organisations and not db.state.events


@pytest.mark.parametrize("kind", ["factory", "distributor", "store"])
def test_brand_members_may_only_name_a_brand_organisation(db, clock, brand, kind):
    factory = organisation(db, clock, "Factory", "factory", brand_id=brand.id)
    with pytest.raises(InvalidOrganisationError):
        organisation(db, clock, "X", kind, brand_id=factory.id)
    with pytest.raises(InvalidOrganisationError):
        organisation(db, clock, "Y", kind, brand_id=99)
    assert len(db.state.organisations) == 2


@pytest.mark.parametrize("kind", ["brand", "platform"])
def test_brands_and_platforms_work_for_no_brand(db, clock, brand, kind):
    with pytest.raises(InvalidOrganisationError):
        organisation(db, clock, "X", kind, brand_id=brand.id)
    assert len(db.state.organisations) == 1


def test_a_brand_may_hold_a_gs1_company_prefix(db, clock):
    org = organisation(db, clock, "Moutai", "brand", prefix="0614141")
    assert org.gs1_company_prefix == "0614141"
    assert db.state.organisations[org.id].gs1_company_prefix == "0614141"


@pytest.mark.parametrize("kind", ["factory", "platform", "attestor"])
def test_only_brands_hold_a_gs1_company_prefix(db, clock, brand, kind):
    brand_id = brand.id if kind == "factory" else None
    with pytest.raises(InvalidOrganisationError):
        organisation(db, clock, "X", kind, brand_id=brand_id, prefix="0614141")
    assert len(db.state.organisations) == 1


@pytest.mark.parametrize("prefix", ["12345", "1234567890123", "06141a1", ""])
def test_malformed_gs1_company_prefix_is_refused(db, clock, prefix):
    with pytest.raises(InvalidCompanyPrefixError):
        organisation(db, clock, "X", "brand", prefix=prefix)
    assert not db.state.organisations


# ----------------------------------------------------------------------------- API keys
def test_issued_key_authenticates_and_revoked_key_does_not(db, clock, brand):
    org = organisation(db, clock, "F", "factory", brand_id=brand.id)
    issued = handlers.create_api_key(
        commands.CreateApiKey(ADMIN, org.id, "factory"), db(), clock, PEPPER
    )
    actor = handlers.authenticate(db(), PEPPER, issued.secret_key)
    assert actor.role is Role.FACTORY and actor.organisation_id == org.id
    handlers.revoke_api_key(commands.RevokeApiKey(ADMIN, issued.key.key_id), db(), clock)
    with pytest.raises(InvalidApiKeyError):
        handlers.authenticate(db(), PEPPER, issued.secret_key)
    assert db.state.event_types()[-2:] == ["ApiKeyCreated", "ApiKeyRevoked"]


def test_a_factory_key_acts_for_the_brand_of_its_factory(db, clock, brand):
    org = organisation(db, clock, "F", "factory", brand_id=brand.id)
    issued = handlers.create_api_key(
        commands.CreateApiKey(ADMIN, org.id, "factory"), db(), clock, PEPPER
    )
    assert handlers.authenticate(db(), PEPPER, issued.secret_key).brand_id == brand.id


def test_a_brand_key_acts_for_its_own_brand(db, clock, brand):
    issued = handlers.create_api_key(
        commands.CreateApiKey(ADMIN, brand.id, "brand"), db(), clock, PEPPER
    )
    actor = handlers.authenticate(db(), PEPPER, issued.secret_key)
    assert actor.role is Role.BRAND and actor.brand_id == brand.id


def test_a_platform_key_acts_for_no_brand(db, clock):
    platform = organisation(db, clock, "Platform", "platform")
    issued = handlers.create_api_key(
        commands.CreateApiKey(ADMIN, platform.id, "admin"), db(), clock, PEPPER
    )
    assert handlers.authenticate(db(), PEPPER, issued.secret_key).brand_id is None


def test_key_with_the_wrong_pepper_or_garbage_does_not_authenticate(db, clock, brand):
    issued = handlers.create_api_key(
        commands.CreateApiKey(ADMIN, brand.id, "brand"), db(), clock, PEPPER
    )
    for bearer in (None, "", "nonsense", issued.secret_key[:-1] + "x"):
        with pytest.raises(InvalidApiKeyError):
            handlers.authenticate(db(), PEPPER, bearer)
    with pytest.raises(InvalidApiKeyError):
        handlers.authenticate(db(), b"another-pepper-123456", issued.secret_key)


@pytest.mark.parametrize("role", ["admin", "consumer", "wizard"])
def test_factory_organisation_cannot_hold_foreign_or_unknown_roles(db, clock, brand, role):
    org = organisation(db, clock, "F", "factory", brand_id=brand.id)
    with pytest.raises(RoleNotAllowedForOrganisationError):
        handlers.create_api_key(commands.CreateApiKey(ADMIN, org.id, role), db(), clock, PEPPER)
    assert not db.state.api_keys


def test_key_for_an_unknown_organisation_is_not_found(db, clock):
    with pytest.raises(OrganisationNotFoundError):
        handlers.create_api_key(commands.CreateApiKey(ADMIN, 42, "brand"), db(), clock, PEPPER)
    assert not db.state.api_keys


def test_revoking_twice_logs_one_revocation(db, clock, brand):
    issued = handlers.create_api_key(
        commands.CreateApiKey(ADMIN, brand.id, "brand"), db(), clock, PEPPER
    )
    first = handlers.revoke_api_key(commands.RevokeApiKey(ADMIN, issued.key.key_id), db(), clock)
    second = handlers.revoke_api_key(commands.RevokeApiKey(ADMIN, issued.key.key_id), db(), clock)
    assert first.revoked_at is not None and second.revoked_at == first.revoked_at
    assert db.state.event_types().count("ApiKeyRevoked") == 1


@pytest.mark.parametrize("key_id", ["0123456789abcdef", "not-a-key-id"])
def test_revoking_an_unknown_key_is_not_found(db, clock, key_id):
    with pytest.raises(ApiKeyNotFoundError):
        handlers.revoke_api_key(commands.RevokeApiKey(ADMIN, key_id), db(), clock)


def test_create_admin_makes_a_platform_and_an_admin_key_and_reuses_the_platform(db, clock):
    org, issued = handlers.create_admin("Operator", db, clock, PEPPER)
    again, _ = handlers.create_admin("Operator", db, clock, PEPPER)
    assert again.id == org.id and len(db.state.organisations) == 1
    assert handlers.authenticate(db(), PEPPER, issued.secret_key).role is Role.ADMIN


def test_create_admin_refuses_a_name_that_is_not_a_platform(db, clock):
    organisation(db, clock, "Moutai", "brand")
    with pytest.raises(InvalidOrganisationError):
        handlers.create_admin("Moutai", db, clock, PEPPER)
    assert not db.state.api_keys


# ----------------------------------------------------------------------------- event log
def test_log_anchor_is_queued_only_when_the_log_grew(db, clock, ledger):
    commitments = FakeCommitments()
    assert handlers.anchor_log(commands.AnchorLog(), db, commitments, ledger, clock) is None
    organisation(db, clock, "A", "brand")
    first = handlers.anchor_log(commands.AnchorLog(), db, commitments, ledger, clock)
    assert first is not None and first.size == 1
    assert handlers.anchor_log(commands.AnchorLog(), db, commitments, ledger, clock) is None
    organisation(db, clock, "B", "brand")
    second = handlers.anchor_log(commands.AnchorLog(), db, commitments, ledger, clock)
    assert second is not None and second.size == 2
    assert [w.kind for w, _ in db.state.outbox.values()] == ["anchor_log", "anchor_log"]


def test_log_status_shows_the_latest_anchor_and_its_transaction(db, clock, ledger):
    commitments = FakeCommitments()
    organisation(db, clock, "A", "brand")
    handlers.anchor_log(commands.AnchorLog(), db, commitments, ledger, clock)
    confirm_outbox(db, 1)
    status = handlers.log_status(ADMIN, db(), commitments, ledger)
    assert status["size"] == 1
    assert status["latest_anchor"]["tx_hash"] == "0x" + "09" * 32
    assert status["latest_anchored"] is None


def test_log_proof_ranges_are_checked(db, clock):
    organisation(db, clock, "A", "brand")
    with pytest.raises(LogRangeError):
        handlers.log_inclusion_proof(ADMIN, db(), FakeCommitments(), 1, None)
    with pytest.raises(LogRangeError):
        handlers.log_consistency_proof(ADMIN, db(), FakeCommitments(), 2, None)
    assert handlers.log_inclusion_proof(ADMIN, db(), FakeCommitments(), 0, None)["size"] == 1


def test_log_events_are_listed_in_order_with_their_payloads(db, clock):
    organisation(db, clock, "A", "brand")
    organisation(db, clock, "B", "brand")
    events = handlers.log_events(ADMIN, db(), 1, 10)
    assert [e["index"] for e in events] == [1]
    assert '"organisation_id":2' in events[0]["payload"]


def test_a_brand_reads_another_brands_log_entries_as_leaf_hashes_only(db, clock):
    a = organisation(db, clock, "A", "brand")
    b = organisation(db, clock, "B", "brand")
    everything = handlers.log_events(ADMIN, db(), 0, 10)
    seen = handlers.log_events(Actor("key:b", Role.BRAND, b.id, brand_id=b.id), db(), 0, 10)
    assert seen[0] == {
        "index": 0,
        "leaf_hash": everything[0]["leaf_hash"],
        "withheld": True,
    }
    assert f'"organisation_id":{a.id}' in everything[0]["payload"]
    assert seen[1] == everything[1] and f'"organisation_id":{b.id}' in seen[1]["payload"]


def test_factories_cannot_read_the_log(db, ledger):
    with pytest.raises(PermissionDeniedError):
        handlers.log_status(FACTORY, db(), FakeCommitments(), ledger)


# ----------------------------------------------------------------------------- health
def test_health_is_degraded_when_the_sender_is_held(db, ledger):
    ok, body = handlers.check_health(db, ledger)
    assert ok and body["status"] == "ok"
    ledger.held = True
    ok, body = handlers.check_health(db, ledger)
    assert not ok and body["chain"]["genesis_mismatch"] and body["sender"]["held"]


def test_health_is_degraded_when_the_chain_is_down(db, ledger):
    ledger.available = False
    ok, body = handlers.check_health(db, ledger)
    assert not ok and body["status"] == "degraded" and body["chain"]["reachable"] is False


def test_health_reports_a_broken_database_without_raising(ledger):
    def broken():
        raise OSError("disk on fire")

    ok, body = handlers.check_health(broken, ledger)
    assert not ok and body["database"] == {"ok": False, "error": "OSError"}


# ----------------------------------------------------------------------------- health: writes
NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def test_health_shows_the_sender_flight_and_stays_ok_when_writes_move(db, ledger):
    db.state.flight = OutboxFlight(NOW - timedelta(seconds=20), 7, 0, (6, 5, 4))
    ledger.sender_nonce = 7
    ok, body = handlers.check_health(db, ledger, now=NOW)
    sender = body["sender"]
    assert ok and sender["problems"] == []
    assert sender["oldest_in_flight_age_s"] == 20.0
    assert (sender["chain_nonce"], sender["lowest_in_flight_nonce"]) == (7, 7)
    assert (sender["nonce_gap"], sender["confirmed_missing"]) == (0, 0)


def test_health_is_degraded_by_an_old_write_in_flight(db, ledger):
    db.state.flight = OutboxFlight(NOW - timedelta(seconds=301), 7, 0, ())
    ledger.sender_nonce = 7
    ok, body = handlers.check_health(db, ledger, now=NOW)
    assert not ok and body["status"] == "degraded"
    assert "went out 301 s ago" in body["sender"]["problems"][0]
    limits = handlers.HealthLimits(max_in_flight_age_s=600)
    assert handlers.check_health(db, ledger, limits, now=NOW)[0]


def test_health_is_degraded_by_a_nonce_gap(db, ledger):
    db.state.flight = OutboxFlight(NOW, 9, 0, (6,))
    ledger.sender_nonce = 7  # nonces 7 and 8 are held by nobody: 9 waits forever
    ok, body = handlers.check_health(db, ledger, now=NOW)
    assert not ok and body["sender"]["nonce_gap"] == 2
    assert "nonce gap" in body["sender"]["problems"][0]


def test_health_counts_confirmed_writes_the_chain_does_not_hold(db, ledger):
    # One reorged write being sent again, and two confirmed whose nonces the chain never used.
    db.state.flight = OutboxFlight(NOW, 5, 1, (7, 6, 4))
    ledger.sender_nonce = 5
    ok, body = handlers.check_health(db, ledger, now=NOW)
    assert not ok and body["sender"]["confirmed_missing"] == 3
    assert body["sender"]["problems"] == ["3 confirmed write(s) are not on the chain"]
