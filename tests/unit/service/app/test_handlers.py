import pytest

from service.app import commands, handlers
from service.domain.actor import Actor
from service.domain.errors import (
    BatchNotFoundError,
    IdempotencyKeyReusedError,
    InvalidApiKeyError,
    InvalidBatchError,
    ItemAlreadyRegisteredError,
    ItemNotFoundError,
    LedgerUnavailableError,
    OrganisationExistsError,
    PermissionDeniedError,
    RoleNotAllowedForOrganisationError,
)
from service.domain.roles import Role
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
OTHER_FACTORY = Actor("key:other", Role.FACTORY, organisation_id=3)


@pytest.fixture
def db():
    return FakeDatabase()


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def ledger():
    return FakeLedger()


def create(db, clock, actor=FACTORY, items=("a1", "a2", "a3"), idem=None, lot="L1"):
    cmd = commands.CreateBatch(actor=actor, lot=lot, items=list(items), idempotency=idem)
    return handlers.create_batch(cmd, db, FakeCommitments(), clock, max_items=100)


def anchor(db, clock, ledger, batch_id, actor=FACTORY):
    return handlers.anchor_batch(commands.AnchorBatch(actor, batch_id), db, ledger, clock)


# ----------------------------------------------------------------------------- organisations
def test_create_organisation_writes_the_organisation_and_one_event(db, clock):
    org = handlers.create_organisation(
        commands.CreateOrganisation(ADMIN, " Moutai Factory 1 ", "factory"), db(), clock
    )
    assert org.id == 1 and org.name == "Moutai Factory 1"
    assert [e.type for e in db.state.events] == ["OrganisationCreated"]


def test_duplicate_organisation_name_is_a_conflict(db, clock):
    handlers.create_organisation(commands.CreateOrganisation(ADMIN, "X", "store"), db(), clock)
    with pytest.raises(OrganisationExistsError):
        handlers.create_organisation(commands.CreateOrganisation(ADMIN, "X", "store"), db(), clock)
    assert len(db.state.events) == 1


def test_only_admins_create_organisations(db, clock):
    with pytest.raises(PermissionDeniedError):
        handlers.create_organisation(
            commands.CreateOrganisation(FACTORY, "X", "store"), db(), clock
        )
    assert db.state.commits == 0


def test_issued_key_authenticates_and_revoked_key_does_not(db, clock):
    org = handlers.create_organisation(
        commands.CreateOrganisation(ADMIN, "F", "factory"), db(), clock
    )
    issued = handlers.create_api_key(
        commands.CreateApiKey(ADMIN, org.id, "factory"), db(), clock, PEPPER
    )
    actor = handlers.authenticate(db(), PEPPER, issued.secret_key)
    assert actor.role is Role.FACTORY and actor.organisation_id == org.id
    handlers.revoke_api_key(commands.RevokeApiKey(ADMIN, issued.key.key_id), db(), clock)
    with pytest.raises(InvalidApiKeyError):
        handlers.authenticate(db(), PEPPER, issued.secret_key)
    assert [e.type for e in db.state.events][-2:] == ["ApiKeyCreated", "ApiKeyRevoked"]


def test_key_with_the_wrong_pepper_or_garbage_does_not_authenticate(db, clock):
    org = handlers.create_organisation(
        commands.CreateOrganisation(ADMIN, "F", "factory"), db(), clock
    )
    issued = handlers.create_api_key(
        commands.CreateApiKey(ADMIN, org.id, "factory"), db(), clock, PEPPER
    )
    for bearer in (None, "", "nonsense", issued.secret_key[:-1] + "x"):
        with pytest.raises(InvalidApiKeyError):
            handlers.authenticate(db(), PEPPER, bearer)
    with pytest.raises(InvalidApiKeyError):
        handlers.authenticate(db(), b"another-pepper-123456", issued.secret_key)


@pytest.mark.parametrize("role", ["admin", "consumer", "wizard"])
def test_factory_organisation_cannot_hold_foreign_or_unknown_roles(db, clock, role):
    org = handlers.create_organisation(
        commands.CreateOrganisation(ADMIN, "F", "factory"), db(), clock
    )
    with pytest.raises(RoleNotAllowedForOrganisationError):
        handlers.create_api_key(commands.CreateApiKey(ADMIN, org.id, role), db(), clock, PEPPER)
    assert not db.state.api_keys


# ----------------------------------------------------------------------------- batches
def test_create_batch_records_the_batch_its_items_and_one_event(db, clock):
    view = create(db, clock)
    assert view["status"] == "created" and view["item_count"] == 3
    assert len(db.state.items[1]) == 3
    assert [e.type for e in db.state.events] == ["BatchCreated"]


def test_malformed_batch_changes_nothing(db, clock):
    with pytest.raises(InvalidBatchError):
        create(db, clock, items=["ok", "not ok"])
    assert db.state.commits == 0 and not db.state.batches


def test_item_registered_in_another_batch_is_a_conflict(db, clock):
    create(db, clock, items=["a1", "a2"])
    with pytest.raises(ItemAlreadyRegisteredError):
        create(db, clock, items=["z9", "a2"])
    assert len(db.state.batches) == 1


def test_same_idempotency_key_and_body_replays_the_first_response(db, clock):
    idem = commands.Idempotency("k1", b"h" * 32)
    first = create(db, clock, idem=idem)
    second = create(db, clock, idem=idem)
    assert first == second
    assert len(db.state.batches) == 1 and len(db.state.events) == 1


def test_same_idempotency_key_with_another_body_is_refused(db, clock):
    create(db, clock, idem=commands.Idempotency("k1", b"h" * 32))
    with pytest.raises(IdempotencyKeyReusedError):
        create(db, clock, items=["b1"], idem=commands.Idempotency("k1", b"x" * 32))
    assert len(db.state.batches) == 1


def test_idempotency_keys_are_scoped_per_principal(db, clock):
    create(db, clock, idem=commands.Idempotency("k1", b"h" * 32))
    create(db, clock, actor=OTHER_FACTORY, items=["b1"], idem=commands.Idempotency("k1", b"h" * 32))
    assert len(db.state.batches) == 2


def test_distributors_cannot_create_batches(db, clock):
    with pytest.raises(PermissionDeniedError):
        create(db, clock, actor=Actor("key:d", Role.DISTRIBUTOR, 2))


# ----------------------------------------------------------------------------- anchoring
def test_anchor_queues_one_chain_write_and_one_event(db, clock, ledger):
    batch = create(db, clock)
    view = anchor(db, clock, ledger, batch["id"])
    assert view["status"] == "anchoring" and view["anchor"]["status"] == "queued"
    assert len(db.state.outbox) == 1
    assert [e.type for e in db.state.events] == ["BatchCreated", "BatchAnchoringRequested"]


def test_anchoring_twice_returns_the_same_anchor_and_queues_nothing_more(db, clock, ledger):
    batch = create(db, clock)
    first = anchor(db, clock, ledger, batch["id"])
    second = anchor(db, clock, ledger, batch["id"])
    assert first == second
    assert len(db.state.outbox) == 1 and len(db.state.events) == 2


def test_another_organisations_batch_is_not_found(db, clock, ledger):
    batch = create(db, clock)
    with pytest.raises(BatchNotFoundError):
        anchor(db, clock, ledger, batch["id"], actor=OTHER_FACTORY)
    with pytest.raises(BatchNotFoundError):
        handlers.get_batch(OTHER_FACTORY, batch["id"], db(), ledger)
    assert not db.state.outbox


@pytest.mark.parametrize("bad", ["", "b_nothex", "../../etc", "b_" + "0" * 24 + "\x00"])
def test_malformed_batch_ids_are_not_found(db, clock, ledger, bad):
    with pytest.raises(BatchNotFoundError):
        anchor(db, clock, ledger, bad)


def test_confirmed_anchor_shows_transaction_and_confirmations(db, clock, ledger):
    batch = create(db, clock)
    view = anchor(db, clock, ledger, batch["id"])
    confirm_outbox(db, 1)
    view = handlers.get_batch(FACTORY, batch["id"], db(), ledger)
    assert view["anchor"]["tx_hash"] == "0x" + "09" * 32
    assert view["anchor"]["confirmations"] == 6  # head 10, mined in block 5


# ----------------------------------------------------------------------------- verification
def test_verify_reports_valid_proof_and_chain_answer(db, clock, ledger):
    batch = create(db, clock)
    result = handlers.verify_item(commands.VerifyItem("a2"), db(), FakeCommitments(), ledger)
    assert result["valid"] is True and result["on_chain"] is False
    assert result["anchored"] is False and result["genuine"] is False
    ledger.anchored.add(bytes.fromhex(batch["chain_batch_id"][2:]))
    result = handlers.verify_item(commands.VerifyItem("a2"), db(), FakeCommitments(), ledger)
    assert result["on_chain"] is True and result["genuine"] is True


def test_verify_unknown_item_is_not_found(db, clock, ledger):
    create(db, clock)
    with pytest.raises(ItemNotFoundError):
        handlers.verify_item(commands.VerifyItem("nope"), db(), FakeCommitments(), ledger)


def test_verify_while_chain_is_down_is_unavailable(db, clock, ledger):
    create(db, clock)
    ledger.available = False
    with pytest.raises(LedgerUnavailableError):
        handlers.verify_item(commands.VerifyItem("a1"), db(), FakeCommitments(), ledger)


def test_item_proof_contains_the_leaf_and_root(db, clock):
    batch = create(db, clock)
    proof = handlers.item_proof(FACTORY, batch["id"], "a3", db(), FakeCommitments())
    assert proof["leaf_index"] == 2 and proof["root"] == batch["root"]
    with pytest.raises(ItemNotFoundError):
        handlers.item_proof(FACTORY, batch["id"], "zz", db(), FakeCommitments())


# ----------------------------------------------------------------------------- event log
def test_log_anchor_is_queued_only_when_the_log_grew(db, clock, ledger):
    commitments = FakeCommitments()
    assert handlers.anchor_log(commands.AnchorLog(), db, commitments, ledger, clock) is None
    create(db, clock)
    first = handlers.anchor_log(commands.AnchorLog(), db, commitments, ledger, clock)
    assert first is not None and first.size == 1
    assert handlers.anchor_log(commands.AnchorLog(), db, commitments, ledger, clock) is None
    create(db, clock, items=["x"])
    second = handlers.anchor_log(commands.AnchorLog(), db, commitments, ledger, clock)
    assert second is not None and second.size == 2
    assert [w.kind for w, _ in db.state.outbox.values()] == ["anchor_log", "anchor_log"]


def test_log_proof_ranges_are_checked(db, clock):
    from service.domain.errors import LogRangeError

    create(db, clock)
    with pytest.raises(LogRangeError):
        handlers.log_inclusion_proof(ADMIN, db(), FakeCommitments(), 1, None)
    with pytest.raises(LogRangeError):
        handlers.log_consistency_proof(ADMIN, db(), FakeCommitments(), 2, None)
    assert handlers.log_inclusion_proof(ADMIN, db(), FakeCommitments(), 0, None)["size"] == 1


def test_factories_cannot_read_the_log(db):
    with pytest.raises(PermissionDeniedError):
        handlers.log_status(FACTORY, db(), FakeCommitments())


def test_health_is_degraded_when_the_sender_is_held(db, ledger):
    ok, body = handlers.check_health(db, ledger)
    assert ok and body["status"] == "ok"
    ledger.held = True
    ok, body = handlers.check_health(db, ledger)
    assert not ok and body["chain"]["genesis_mismatch"] and body["sender"]["held"]
