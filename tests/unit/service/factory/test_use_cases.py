"""Factory use cases against the fakes: products, batches, codes, activation, anchoring,
recall, attestation and the code file.

The default batch has 10 items in cases of 3 (the last case holds 1) and 2 cases a pallet:
4 cases on 2 pallets.
"""

import csv
import io
from datetime import date

import pytest

from service.factory.app.batches import get_batch, list_batches, recalled_items
from service.factory.app.codes import code_uri, item_proof, unit_view
from service.factory.app.printing import label_stream
from service.factory.app.products import get_product, list_products
from service.factory.domain import codes
from service.factory.domain.batches import BatchStatus
from service.factory.domain.errors import (
    AttestationExistsError,
    BatchAlreadyAnchoredError,
    BatchNotFoundError,
    BatchRecalledError,
    BatchStateError,
    BatchTooLargeError,
    CodeFileApprovalRequiredError,
    CodeFileSealedError,
    InvalidBatchError,
    ItemNotFoundError,
    LogisticUnitNotFoundError,
    LotExistsError,
    ProductExistsError,
    ProductNotFoundError,
    SsccExhaustedError,
)
from service.factory.domain.units import UnitKind
from service.identity.domain.errors import (
    GtinOutsideCompanyPrefixesError,
    OrganisationNotFoundError,
)
from service.kernel.errors import (
    IdempotencyKeyReusedError,
    InvalidCodeError,
    InvalidGtinError,
    InvalidLotError,
    InvalidRequestError,
    PermissionDeniedError,
)
from service.kernel.gs1 import is_valid_sscc, make_sscc
from service.kernel.idempotency import Idempotency
from service.ledger.domain.errors import DeploymentNotFoundError
from tests.unit.service.fakes.factory import FakeBatches
from tests.unit.service.fakes.kernel import FakeIdempotency
from tests.unit.service.fakes.ledger import fail_outbox
from tests.unit.service.fakes.world import (
    ADMIN,
    ATTESTOR,
    AUDITOR,
    BRAND,
    BRAND_PREFIX,
    DEFAULT_PREFIX,
    DISTRIBUTOR,
    FACTORY,
    GTIN,
    OTHER_BRAND,
    OTHER_BRAND_PREFIX,
    OTHER_FACTORY,
    OTHER_GTIN,
    RESOLVER,
    SISTER_FACTORY,
    Harness,
    gtin14,
)


@pytest.fixture
def h():
    return Harness()


def draft(h, **batch):
    h.product()
    return h.batch(**batch)["id"]


def writes(h):
    return [w for w, _ in h.state.outbox.values()]


# ----------------------------------------------------------------------------- products
def test_brand_registers_a_product_of_its_own_brand_with_one_event(h):
    view = h.product(gtin=GTIN[1:], volume_ml=500)
    assert view["gtin"] == GTIN and view["brand_id"] == 2
    assert view["attributes"] == {"volume_ml": 500}
    assert [p.gtin for p in h.state.products.values()] == [GTIN]
    assert h.state.event_types() == ["ProductRegistered"]


def test_admin_must_name_the_brand_of_a_product(h):
    with pytest.raises(InvalidRequestError):
        h.product(actor=ADMIN)
    assert not h.state.products
    view = h.product(actor=ADMIN, brand_id=4, gtin=gtin14("0" + OTHER_BRAND_PREFIX))
    assert view["brand_id"] == 4


def test_admin_cannot_register_a_product_for_an_organisation_that_is_not_a_brand(h):
    with pytest.raises(OrganisationNotFoundError):
        h.product(actor=ADMIN, brand_id=3)
    assert not h.state.products


def test_brand_cannot_register_a_product_for_another_brand(h):
    with pytest.raises(ProductNotFoundError):
        h.product(actor=BRAND, brand_id=4)
    assert not h.state.products


@pytest.mark.parametrize("gtin", [GTIN[:-1] + str((int(GTIN[-1]) + 1) % 10), "12345", "abc"])
def test_product_with_a_malformed_gtin_or_wrong_check_digit_is_invalid(h, gtin):
    with pytest.raises(InvalidGtinError):
        h.product(gtin=gtin)
    assert not h.state.products and h.state.commits == 0


def test_registering_a_gtin_twice_is_a_conflict_for_its_brand_only(h):
    h.product()
    with pytest.raises(ProductExistsError):
        h.product(gtin=GTIN[1:])
    # Another brand learns only that the GTIN is outside its prefixes, not that it exists.
    with pytest.raises(GtinOutsideCompanyPrefixesError):
        h.product(actor=OTHER_BRAND)
    assert len(h.state.products) == 1 and h.state.event_types() == ["ProductRegistered"]


@pytest.mark.parametrize("actor", [FACTORY, AUDITOR, ATTESTOR])
def test_only_brands_and_admins_register_products(h, actor):
    with pytest.raises(PermissionDeniedError):
        h.product(actor=actor)
    assert not h.state.products


def test_products_are_listed_per_brand(h):
    h.product()
    h.product(actor=OTHER_BRAND, gtin=OTHER_GTIN)
    assert [p["gtin"] for p in list_products(FACTORY, h.db(), 0, 10)] == [GTIN]
    assert [p["gtin"] for p in list_products(OTHER_FACTORY, h.db(), 0, 10)] == [OTHER_GTIN]
    assert len(list_products(ADMIN, h.db(), 0, 10)) == 2
    with pytest.raises(ProductNotFoundError):
        get_product(OTHER_FACTORY, GTIN, h.db())


# ----------------------------------------------------------------------------- create
def test_create_batch_makes_a_draft_with_one_event(h):
    h.product()
    view = h.batch()
    stored = h.stored(view["id"])
    assert view["status"] == "draft" and stored.status is BatchStatus.DRAFT
    assert view["item_count"] == 0 and view["planned_quantity"] == 10
    assert (view["factory_id"], view["brand_id"], view["gtin"]) == (3, 2, GTIN)
    assert stored.chain_batch_id == h.commitments.chain_batch_id(view["id"])
    assert stored.metadata_hash == h.commitments.attributes_hash(stored.metadata)
    assert stored.metadata["product"]["name"] == "Moutai 53% 500 ml"
    assert h.state.event_types() == ["ProductRegistered", "BatchCreated"]
    assert not h.state.items and not h.state.units


def test_a_lot_is_used_once_per_product(h):
    h.product()
    h.batch(lot="L1")
    with pytest.raises(LotExistsError):
        h.batch(lot="L1", quantity=5)
    assert len(h.state.batches) == 1
    h.batch(actor=SISTER_FACTORY, lot="L2")
    assert len(h.state.batches) == 2


def test_the_same_lot_may_be_used_for_another_product(h):
    second = gtin14("0" + BRAND_PREFIX + "00002")
    h.product()
    h.product(gtin=second)
    h.batch(lot="L1")
    h.batch(lot="L1", gtin=second)
    assert len(h.state.batches) == 2


def test_a_batch_over_the_cap_is_too_large_and_stores_nothing(h):
    h.product()
    h.max_items = 100
    with pytest.raises(BatchTooLargeError):
        h.batch(quantity=101)
    assert not h.state.batches and h.state.event_types() == ["ProductRegistered"]
    assert h.batch(quantity=100)["planned_quantity"] == 100


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"lot": "L 1"}, InvalidLotError),
        ({"quantity": 0}, InvalidBatchError),
        ({"case_size": 0}, InvalidBatchError),
        ({"per_pallet": 0}, InvalidBatchError),
        ({"production_date": date(2026, 1, 3)}, InvalidBatchError),
    ],
)
def test_a_malformed_batch_is_refused_and_stores_nothing(h, change, error):
    h.product()
    with pytest.raises(error):
        h.batch(**change)
    assert not h.state.batches


def test_a_factory_cannot_make_a_product_of_another_brand(h):
    h.product()
    with pytest.raises(ProductNotFoundError):
        h.batch(actor=OTHER_FACTORY)
    with pytest.raises(ProductNotFoundError):
        h.batch(gtin=OTHER_GTIN)
    assert not h.state.batches


@pytest.mark.parametrize("actor", [BRAND, DISTRIBUTOR, ATTESTOR])
def test_only_factories_create_batches(h, actor):
    h.product()
    with pytest.raises(PermissionDeniedError):
        h.batch(actor=actor)
    assert not h.state.batches


def test_same_idempotency_key_and_body_replays_the_first_response(h):
    h.product()
    idem = Idempotency("k1", b"h" * 32)
    first = h.batch(idempotency=idem)
    second = h.batch(idempotency=idem)
    assert first == second
    assert len(h.state.batches) == 1 and h.state.event_types().count("BatchCreated") == 1


def test_same_idempotency_key_with_another_body_is_refused(h):
    h.product()
    h.batch(idempotency=Idempotency("k1", b"h" * 32))
    with pytest.raises(IdempotencyKeyReusedError):
        h.batch(lot="L9", idempotency=Idempotency("k1", b"x" * 32))
    assert len(h.state.batches) == 1


def test_idempotency_keys_are_scoped_per_principal(h):
    h.product()
    idem = Idempotency("k1", b"h" * 32)
    h.batch(idempotency=idem)
    h.batch(actor=SISTER_FACTORY, lot="L9", idempotency=idem)
    assert len(h.state.batches) == 2


def test_a_concurrent_request_with_the_same_key_is_answered_as_it_was(h, monkeypatch):
    h.product()
    idem = Idempotency("k1", b"h" * 32)
    first = h.batch(idempotency=idem)
    # The other request commits between our replay check and our insert.
    original, calls = FakeIdempotency.get, []

    def not_yet(self, principal_id, key):
        calls.append(key)
        return None if len(calls) == 1 else original(self, principal_id, key)

    monkeypatch.setattr(FakeIdempotency, "get", not_yet)
    assert h.batch(idempotency=idem) == first
    assert len(calls) == 2 and len(h.state.batches) == 1


def test_batches_are_listed_for_their_factory_and_brand_only(h):
    own = draft(h)
    h.product(actor=OTHER_BRAND, gtin=OTHER_GTIN)
    other = h.batch(actor=OTHER_FACTORY, gtin=OTHER_GTIN)["id"]
    assert [b["id"] for b in list_batches(FACTORY, h.db(), 0, 10)] == [own]
    assert [b["id"] for b in list_batches(SISTER_FACTORY, h.db(), 0, 10)] == []
    assert [b["id"] for b in list_batches(BRAND, h.db(), 0, 10)] == [own]
    assert [b["id"] for b in list_batches(ADMIN, h.db(), 0, 10)] == [other, own]
    with pytest.raises(BatchNotFoundError):
        get_batch(OTHER_BRAND, own, h.db(), h.ledger)


# ----------------------------------------------------------------------------- generate
def test_generate_codes_makes_items_cases_and_pallets(h):
    public_id = draft(h)
    view = h.generate(public_id)
    stored = h.stored(public_id)
    assert view["status"] == "generated" and stored.status is BatchStatus.GENERATED
    assert view["item_count"] == 10 and stored.item_count == 10
    assert (view["cases"], view["pallets"], view["activated_cases"]) == (4, 2, 0)
    assert len(h.items(public_id)) == 10
    assert [len(h.state.units_of(stored.id, k)) for k in UnitKind] == [4, 2]
    assert view["code_file"] == {"downloads": 0, "sealed": False}


def test_generate_codes_logs_one_generation_and_one_aggregation_per_case_and_pallet(h):
    public_id = draft(h)
    h.generate(public_id)
    entries = h.state.events[2:]
    assert [e.type for e in entries] == ["CodesGenerated"] + ["ItemsAggregated"] * 6
    cases = [c.sscc for c in h.cases(public_id)]
    serials = [i.serial for i in h.items(public_id)]
    aggregated = [e.payload.decode() for e in entries[1:]]
    for n, case in enumerate(cases):
        assert f'"parent_sscc":"{case}"' in aggregated[n] and '"child_kind":"item"' in aggregated[n]
        assert all(s in aggregated[n] for s in serials[n * 3 : n * 3 + 3])
    for n, pallet in enumerate(h.pallets(public_id)):
        payload = aggregated[4 + n]
        assert f'"parent_sscc":"{pallet.sscc}"' in payload and '"child_kind":"case"' in payload
        assert all(c in payload for c in cases[n * 2 : n * 2 + 2])


def test_items_are_packed_in_cases_and_cases_on_pallets_in_order(h):
    public_id = draft(h)
    h.generate(public_id)
    cases, pallets = h.cases(public_id), h.pallets(public_id)
    per_case = [sum(1 for i in h.items(public_id) if i.case_id == c.id) for c in cases]
    assert per_case == [3, 3, 3, 1]
    assert [c.parent_id for c in cases] == [pallets[0].id] * 2 + [pallets[1].id] * 2
    assert [i.leaf_index for i in h.items(public_id)] == list(range(10))


def test_ssccs_use_the_brands_company_prefix_and_are_valid(h):
    public_id = draft(h)
    h.generate(public_id)
    ssccs = [u.sscc for u in h.pallets(public_id) + h.cases(public_id)]
    assert ssccs == [make_sscc(0, BRAND_PREFIX, n) for n in range(6)]
    assert all(is_valid_sscc(s) for s in ssccs)
    assert h.state.sscc_counters == {BRAND_PREFIX: 6}


def test_a_brand_without_a_prefix_gets_the_configured_default(h):
    h.product(actor=OTHER_BRAND, gtin=OTHER_GTIN)
    public_id = h.batch(actor=OTHER_FACTORY, gtin=OTHER_GTIN)["id"]
    h.generate(public_id, actor=OTHER_FACTORY)
    assert h.state.sscc_counters == {DEFAULT_PREFIX: 6}
    assert h.pallets(public_id)[0].sscc == make_sscc(0, DEFAULT_PREFIX, 0)


def test_consecutive_batches_take_consecutive_ssccs(h):
    first = draft(h)
    second = h.batch(lot="L2")["id"]
    h.generate(first)
    h.generate(second)
    assert h.pallets(second)[0].sscc == make_sscc(0, BRAND_PREFIX, 6)
    assert h.state.sscc_counters == {BRAND_PREFIX: 12}


def test_the_last_ssccs_of_a_company_prefix_can_be_used(h):
    public_id = draft(h)
    last = 10 * 10**9  # references under a 7-digit prefix, extension digits 0-9
    h.state.sscc_counters[BRAND_PREFIX] = last - 6
    h.generate(public_id)
    assert h.cases(public_id)[-1].sscc == make_sscc(9, BRAND_PREFIX, 10**9 - 1)


def test_a_company_prefix_without_enough_ssccs_left_generates_nothing(h):
    public_id = draft(h)
    last = 10 * 10**9
    h.state.sscc_counters[BRAND_PREFIX] = last - 5
    with pytest.raises(SsccExhaustedError):
        h.generate(public_id)
    assert h.state.sscc_counters[BRAND_PREFIX] == last - 5
    assert h.stored(public_id).status is BatchStatus.DRAFT and not h.state.units


def test_every_stored_pin_hash_is_the_hash_of_the_pin_derived_from_the_sealed_seed(h):
    public_id = draft(h)
    h.generate(public_id)
    stored = h.stored(public_id)
    seed = h.secrets.unseal(h.state.pin_seeds[stored.id], public_id.encode())
    assert len(seed) == codes.PIN_SEED_BYTES
    for item in h.items(public_id):
        pin = codes.derive_pin(seed, item.serial)
        assert item.pin_hash == codes.pin_hash(h.secrets.pin_key, item.serial, pin)


def test_serials_are_unique_well_formed_and_committed_in_leaf_order(h):
    public_id = draft(h)
    h.generate(public_id)
    stored = h.stored(public_id)
    items = h.items(public_id)
    serials = [i.serial for i in items]
    assert len(set(serials)) == 10 and all(codes.is_serial(s) for s in serials)
    hashes, leaves = h.commitments.commit_items(
        stored.chain_batch_id, stored.metadata_hash, serials
    )
    assert [i.item_hash for i in items] == hashes and [i.leaf for i in items] == leaves
    assert stored.root == h.commitments.tree_levels(leaves)[-1][0]


def test_every_item_proof_from_the_stored_tree_verifies_against_the_root(h):
    public_id = draft(h)
    h.generate(public_id)
    root = h.stored(public_id).root
    for item in h.items(public_id):
        proof = item_proof(FACTORY, public_id, item.serial, h.db(), h.commitments)
        assert proof["leaf_index"] == item.leaf_index and proof["root"] == "0x" + root.hex()
        path = [bytes.fromhex(p[2:]) for p in proof["proof"]]
        assert h.commitments.verify_batch_proof(path, root, item.leaf)
        assert not h.commitments.verify_batch_proof(path, root, b"\x00" * 32)


def test_a_batch_of_one_item_is_its_own_root(h):
    public_id = draft(h, quantity=1)
    view = h.generate(public_id)
    (item,) = h.items(public_id)
    assert view["cases"] == 1 and view["pallets"] == 1
    assert h.stored(public_id).root == item.leaf
    proof = item_proof(FACTORY, public_id, item.serial, h.db(), h.commitments)
    assert proof["proof"] == []


def test_generating_twice_is_a_state_conflict_that_changes_nothing(h):
    public_id = draft(h)
    h.generate(public_id)
    events, counters = len(h.state.events), dict(h.state.sscc_counters)
    with pytest.raises(BatchStateError):
        h.generate(public_id)
    assert len(h.state.events) == events and h.state.sscc_counters == counters
    assert len(h.items(public_id)) == 10


@pytest.mark.parametrize("actor", [SISTER_FACTORY, OTHER_FACTORY])
def test_another_factorys_batch_is_not_found_for_generation(h, actor):
    public_id = draft(h)
    with pytest.raises(BatchNotFoundError):
        h.generate(public_id, actor=actor)
    assert h.stored(public_id).status is BatchStatus.DRAFT and not h.state.sscc_counters


def test_a_recalled_draft_cannot_be_generated(h):
    public_id = draft(h)
    h.recall(public_id)
    with pytest.raises(BatchRecalledError):
        h.generate(public_id)
    assert not h.state.items


def test_generation_progress_starts_at_zero_and_reaches_the_total(h):
    public_id = draft(h)
    calls = []
    h.generate(public_id, progress=lambda stage, done, total: calls.append((stage, done, total)))
    assert {total for _, _, total in calls} == {10}
    assert calls[0][1] == 0 and calls[-1][1] == 10
    for stage in {s for s, _, _ in calls}:
        done = [d for s, d, _ in calls if s == stage]
        assert done == sorted(done) and done[-1] == 10, stage
    stages = list(dict.fromkeys(s for s, _, _ in calls))
    assert stages == ["generate", "insert", "hash", "tree", "events", "commit", "statistics"]


def test_generation_refreshes_the_planner_statistics_once_committed(h):
    assert h.state.statistics_refreshed == 0
    h.generate(draft(h))
    assert h.state.statistics_refreshed == 1


# ----------------------------------------------------------------------------- activate
def test_activating_a_case_activates_its_items_only(h):
    public_id = h.generated()
    case = h.cases(public_id)[1]
    result = h.activate(code=case.sscc)
    assert result["scope"] == "case" and result["sscc"] == case.sscc
    assert (result["activated_cases"], result["activated_items"]) == (1, 3)
    assert result["batch_status"] == "generated"
    uow = h.db()
    with uow:
        active = [
            uow.codes.find_item(i.serial).activated_at is not None for i in h.items(public_id)
        ]
    assert active == [False] * 3 + [True] * 3 + [False] * 4
    assert h.state.event_types()[-1] == "CodesActivated"


def test_activating_a_pallet_activates_its_cases(h):
    public_id = h.generated()
    last = h.pallets(public_id)[1]
    result = h.activate(code=last.sscc)
    assert result["scope"] == "pallet"
    assert (result["activated_cases"], result["activated_items"]) == (2, 4)
    assert [c.activated_at is not None for c in h.cases(public_id)] == [False, False, True, True]
    assert h.pallets(public_id)[1].activated_at is not None
    assert h.pallets(public_id)[0].activated_at is None


def test_a_digital_link_uri_of_a_case_activates_it(h):
    public_id = h.generated()
    case = h.cases(public_id)[0]
    result = h.activate(code=f"https://id.example.com/00/{case.sscc}")
    assert result["activated_cases"] == 1 and h.cases(public_id)[0].activated_at is not None


def test_activating_a_whole_batch_activates_it_and_destroys_its_pin_seed(h):
    public_id = h.generated()
    result = h.activate(batch_id=public_id)
    assert result["scope"] == "batch" and result["sscc"] is None
    assert (result["activated_cases"], result["activated_items"]) == (4, 10)
    assert result["batch_status"] == "activated"
    stored = h.stored(public_id)
    assert stored.status is BatchStatus.ACTIVATED and h.state.pin_seeds[stored.id] is None
    assert all(u.activated_at is not None for u in h.cases(public_id) + h.pallets(public_id))
    assert h.state.event_types()[-2:] == ["CodesActivated", "PinSeedDestroyed"]
    assert b'"batch_activated":true' in h.state.events[-2].payload


def test_activating_again_activates_nothing_and_logs_nothing(h):
    public_id = h.generated()
    case = h.cases(public_id)[0].sscc
    h.activate(code=case)
    events = len(h.state.events)
    again = h.activate(code=case)
    assert (again["activated_cases"], again["activated_items"]) == (0, 0)
    assert len(h.state.events) == events
    h.activate(batch_id=public_id)
    events = len(h.state.events)
    assert h.activate(batch_id=public_id)["activated_cases"] == 0
    assert len(h.state.events) == events


def test_the_last_case_activates_the_batch_and_destroys_its_pin_seed_once(h):
    public_id = h.generated()
    cases = [c.sscc for c in h.cases(public_id)]
    for sscc in cases[:-1]:
        assert h.activate(code=sscc)["batch_status"] == "generated"
    assert "PinSeedDestroyed" not in h.state.event_types()
    result = h.activate(code=cases[-1])
    assert result["batch_status"] == "activated" and result["activated_items"] == 1
    assert h.state.pin_seeds[h.stored(public_id).id] is None
    assert h.state.event_types().count("PinSeedDestroyed") == 1


def test_activation_scans_a_case_or_pallet_not_an_item(h):
    public_id = h.generated()
    serial = h.items(public_id)[0].serial
    for code in (serial, f"https://id.example.com/01/{GTIN}/10/L2025-12-001/21/{serial}"):
        with pytest.raises(InvalidRequestError):
            h.activate(code=code)
    assert h.stored(public_id).status is BatchStatus.GENERATED
    assert all(c.activated_at is None for c in h.cases(public_id))


def test_an_sscc_with_a_wrong_check_digit_is_an_invalid_code(h):
    h.generated()
    sscc = make_sscc(0, BRAND_PREFIX, 0)
    with pytest.raises(InvalidCodeError):
        h.activate(code=sscc[:-1] + str((int(sscc[-1]) + 1) % 10))


def test_an_unknown_sscc_is_not_found(h):
    h.generated()
    with pytest.raises(LogisticUnitNotFoundError):
        h.activate(code=make_sscc(0, BRAND_PREFIX, 999))


@pytest.mark.parametrize("actor", [SISTER_FACTORY, OTHER_FACTORY])
def test_another_factorys_case_is_not_found(h, actor):
    public_id = h.generated()
    with pytest.raises(LogisticUnitNotFoundError):
        h.activate(code=h.cases(public_id)[0].sscc, actor=actor)
    with pytest.raises(BatchNotFoundError):
        h.activate(batch_id=public_id, actor=actor)
    assert all(c.activated_at is None for c in h.cases(public_id))


def test_a_draft_cannot_be_activated(h):
    public_id = draft(h)
    with pytest.raises(BatchStateError):
        h.activate(batch_id=public_id)


def test_activation_needs_exactly_one_of_a_code_or_a_batch(h):
    public_id = h.generated()
    with pytest.raises(InvalidRequestError):
        h.activate()
    with pytest.raises(InvalidRequestError):
        h.activate(code=h.cases(public_id)[0].sscc, batch_id=public_id)


def test_a_recalled_batch_cannot_be_activated(h):
    public_id = h.generated()
    h.recall(public_id)
    with pytest.raises(BatchRecalledError):
        h.activate(code=h.cases(public_id)[0].sscc)
    assert all(c.activated_at is None for c in h.cases(public_id))


# ----------------------------------------------------------------------------- anchor
def test_anchoring_is_refused_until_every_case_is_activated(h):
    public_id = h.generated()
    with pytest.raises(BatchStateError):
        h.anchor(public_id)
    h.activate(code=h.cases(public_id)[0].sscc)
    with pytest.raises(BatchStateError):
        h.anchor(public_id)
    assert not h.state.outbox


def test_a_draft_cannot_be_anchored(h):
    public_id = draft(h)
    with pytest.raises(BatchStateError):
        h.anchor(public_id)
    assert not h.state.outbox


def test_anchor_queues_one_chain_write_and_one_event(h):
    public_id = h.activated()
    view = h.anchor(public_id)
    stored = h.stored(public_id)
    assert view["status"] == "anchoring" and view["anchor"]["status"] == "queued"
    (write,) = writes(h)
    assert write.kind == "anchor_batch" and stored.root in write.data
    assert stored.outbox_id == 1
    assert h.state.event_types()[-1] == "BatchAnchoringRequested"


def test_asking_again_while_anchoring_queues_nothing(h):
    public_id = h.activated()
    first = h.anchor(public_id)
    events = len(h.state.events)
    second = h.anchor(public_id)
    assert first == second
    assert len(h.state.outbox) == 1 and len(h.state.events) == events


def test_an_anchored_batch_is_already_anchored(h):
    public_id = h.anchored()
    with pytest.raises(BatchAlreadyAnchoredError):
        h.anchor(public_id)
    assert len(h.state.outbox) == 1


def test_a_recalled_batch_cannot_be_anchored(h):
    public_id = h.activated()
    h.recall(public_id)
    with pytest.raises(BatchRecalledError):
        h.anchor(public_id)
    assert not h.state.outbox


def test_anchoring_before_the_registry_is_deployed_changes_nothing(h):
    public_id = h.activated()
    h.ledger.deployed = False
    with pytest.raises(DeploymentNotFoundError):
        h.anchor(public_id)
    assert h.stored(public_id).status is BatchStatus.ACTIVATED and not h.state.outbox


def test_a_failed_anchor_may_be_asked_for_again(h):
    public_id = h.activated()
    h.anchor(public_id)
    fail_outbox(h.db, 1)
    assert h.anchor(public_id)["status"] == "anchoring"
    first, retry = writes(h)
    assert retry.kind == "anchor_batch" and retry.dedupe_key != first.dedupe_key
    assert h.stored(public_id).outbox_id == 2


def test_anchor_that_lost_the_race_queues_nothing(h, monkeypatch):
    public_id = h.activated()
    # Another request moved the batch between our read and our conditional update.
    monkeypatch.setattr(FakeBatches, "transition", lambda self, *args: False)
    h.anchor(public_id)
    assert not h.state.outbox and "BatchAnchoringRequested" not in h.state.event_types()


@pytest.mark.parametrize(
    ("actor", "error"), [(BRAND, PermissionDeniedError), (SISTER_FACTORY, BatchNotFoundError)]
)
def test_only_the_batchs_factory_anchors_it(h, actor, error):
    public_id = h.activated()
    with pytest.raises(error):
        h.anchor(public_id, actor=actor)
    assert not h.state.outbox


@pytest.mark.parametrize("bad", ["", "b_nothex", "../../etc", "b_" + "0" * 24 + "\x00"])
def test_malformed_batch_ids_are_not_found(h, bad):
    with pytest.raises(BatchNotFoundError):
        h.anchor(bad)


def test_a_confirmed_anchor_shows_its_transaction_and_confirmations(h):
    public_id = h.anchored()
    view = get_batch(FACTORY, public_id, h.db(), h.ledger)
    assert view["status"] == "anchored"
    assert view["anchor"]["tx_hash"] == "0x" + "09" * 32
    assert view["anchor"]["confirmations"] == 6  # head 10, mined in block 5


# ----------------------------------------------------------------------------- recall
def test_recalling_a_batch_the_chain_does_not_know_stays_off_chain(h):
    public_id = h.generated()
    view = h.recall(public_id, reason="  Contaminated bottles ")
    assert view["status"] == "recalled"
    assert view["recall"]["reason"] == "Contaminated bottles" and view["recall"]["chain"] is None
    stored = h.stored(public_id)
    assert stored.recall_outbox_id is None and h.state.pin_seeds[stored.id] is None
    assert not h.state.outbox
    assert h.state.event_types()[-1] == "BatchRecalled"
    assert b'"outbox_id":null' in h.state.events[-1].payload


def test_recalling_an_anchored_batch_queues_a_recall_on_chain(h):
    public_id = h.anchored()
    view = h.recall(public_id)
    recall = writes(h)[-1]
    assert recall.kind == "recall_batch" and recall.depends_on is None
    assert h.commitments.text_hash("Contaminated bottles") in recall.data
    assert view["recall"]["chain"]["status"] == "queued"
    assert h.stored(public_id).recall_outbox_id == 2


def test_recalling_while_anchoring_waits_for_the_anchor(h):
    public_id = h.activated()
    h.anchor(public_id)
    view = h.recall(public_id)
    anchor, recall = writes(h)
    assert anchor.kind == "anchor_batch" and h.stored(public_id).outbox_id == 1
    assert recall.kind == "recall_batch" and recall.depends_on == 1
    assert view["recall"]["chain"]["status"] == "queued"
    assert view["status"] == "recalled"


def test_recalling_after_a_failed_anchor_stays_off_chain(h):
    public_id = h.activated()
    h.anchor(public_id)
    fail_outbox(h.db, 1)
    h.recall(public_id)
    assert [w.kind for w in writes(h)] == ["anchor_batch"]


def test_a_recall_is_final(h):
    public_id = h.anchored()
    h.recall(public_id)
    with pytest.raises(BatchRecalledError):
        h.recall(public_id, reason="Again")
    assert h.state.event_types().count("BatchRecalled") == 1 and len(h.state.outbox) == 2
    assert h.stored(public_id).recall_reason == "Contaminated bottles"


@pytest.mark.parametrize("reason", ["", "   ", "bad\x00reason", "x" * 1001])
def test_a_recall_needs_a_printable_reason(h, reason):
    public_id = h.generated()
    with pytest.raises(InvalidBatchError):
        h.recall(public_id, reason=reason)
    assert h.stored(public_id).status is BatchStatus.GENERATED


@pytest.mark.parametrize("actor", [FACTORY, BRAND, ADMIN])
def test_the_factory_its_brand_and_admins_may_recall(h, actor):
    public_id = h.generated()
    assert h.recall(public_id, actor=actor)["status"] == "recalled"


@pytest.mark.parametrize("actor", [SISTER_FACTORY, OTHER_FACTORY, OTHER_BRAND])
def test_others_cannot_recall_a_batch(h, actor):
    public_id = h.generated()
    with pytest.raises(BatchNotFoundError):
        h.recall(public_id, actor=actor)
    assert h.stored(public_id).status is BatchStatus.GENERATED


def test_recall_that_lost_the_race_is_reported_and_logs_nothing(h, monkeypatch):
    public_id = h.generated()
    monkeypatch.setattr(FakeBatches, "recall", lambda self, *args: False)
    with pytest.raises(BatchNotFoundError):
        h.recall(public_id)
    assert "BatchRecalled" not in h.state.event_types()


def test_recalled_items_are_listed_page_by_page_with_their_holder(h):
    public_id = h.generated()
    h.activate(code=h.cases(public_id)[0].sscc)
    h.recall(public_id)
    serials = [i.serial for i in h.items(public_id)]
    first = recalled_items(BRAND, public_id, h.db(), 0, 4)
    last = recalled_items(BRAND, public_id, h.db(), 8, 4)
    assert [r["serial"] for r in first["items"]] == serials[:4]
    assert [r["serial"] for r in last["items"]] == serials[8:]
    assert first["total"] == 10 and last["offset"] == 8
    assert [r["activated"] for r in first["items"]] == [True, True, True, False]
    assert first["items"][0]["last_holder"]["organisation_id"] == 3
    assert first["items"][0]["case_sscc"] == h.cases(public_id)[0].sscc
    assert first["reason"] == "Contaminated bottles"


def test_items_of_a_batch_that_is_not_recalled_are_not_listed(h):
    public_id = h.generated()
    with pytest.raises(InvalidRequestError):
        recalled_items(BRAND, public_id, h.db(), 0, 10)


# ----------------------------------------------------------------------------- attest
@pytest.mark.parametrize("state", ["generated", "activated"])
def test_only_an_anchored_batch_can_be_attested(h, state):
    public_id = getattr(h, state)()
    with pytest.raises(BatchStateError):
        h.attest(public_id)
    assert not h.state.attestations


def test_an_anchoring_batch_cannot_be_attested_yet(h):
    public_id = h.activated()
    h.anchor(public_id)
    with pytest.raises(BatchStateError):
        h.attest(public_id)
    assert len(h.state.outbox) == 1


def test_attesting_an_anchored_batch_queues_the_attestation(h):
    public_id = h.anchored()
    view = h.attest(public_id)
    (attestation,) = view["attestations"]
    assert attestation["attestor_id"] == 6 and attestation["report_hash"] == "0x" + "07" * 32
    assert attestation["uri"] == "https://lab.example.com/reports/1.pdf"
    assert attestation["chain"]["status"] == "queued"
    assert writes(h)[-1].kind == "attest_batch"
    assert h.state.event_types()[-1] == "BatchAttestationRequested"


def test_the_same_report_is_attested_once(h):
    public_id = h.anchored()
    h.attest(public_id)
    with pytest.raises(AttestationExistsError):
        h.attest(public_id)
    assert len(h.state.attestations) == 1 and len(h.state.outbox) == 2
    h.attest(public_id, report_hash=b"\x08" * 32)
    assert len(h.state.attestations) == 2


@pytest.mark.parametrize(
    ("report_hash", "uri"),
    [
        (b"\x07" * 31, "https://lab.example.com/r.pdf"),
        (b"\x00" * 32, "https://lab.example.com/r.pdf"),
        (b"\x07" * 32, "ftp://lab.example.com/r.pdf"),
        (b"\x07" * 32, "not a url"),
        (b"\x07" * 32, "https://lab.example.com/has space"),
        (b"\x07" * 32, "https://" + "a" * 2000),
    ],
)
def test_a_report_needs_a_32_byte_hash_and_an_http_uri(h, report_hash, uri):
    public_id = h.anchored()
    with pytest.raises(InvalidRequestError):
        h.attest(public_id, report_hash=report_hash, uri=uri)
    assert not h.state.attestations


def test_factories_cannot_attest(h):
    public_id = h.anchored()
    with pytest.raises(PermissionDeniedError):
        h.attest(public_id, actor=FACTORY)


# ----------------------------------------------------------------------------- code file
def read_csv(stream):
    text = b"".join(stream).decode("ascii")
    return list(csv.DictReader(io.StringIO(text)))


def test_the_first_download_streams_every_code_with_a_pin_that_matches_its_hash(h):
    public_id = h.generated()
    filename, stream = h.download(public_id)
    rows = read_csv(stream)
    items = h.items(public_id)
    assert filename == f"{GTIN}-L2025-12-001-codes-1.csv"
    assert [r["serial"] for r in rows] == [i.serial for i in items]
    for row, item in zip(rows, items, strict=True):
        assert codes.pin_matches(h.secrets.pin_key, item.serial, row["pin"], item.pin_hash)
        assert row["uri"] == f"https://id.example.com/01/{GTIN}/10/L2025-12-001/21/{item.serial}"
    cases = [c.sscc for c in h.cases(public_id)]
    pallets = [p.sscc for p in h.pallets(public_id)]
    assert [r["case_sscc"] for r in rows] == [cases[n // 3] for n in range(10)]
    assert [r["pallet_sscc"] for r in rows] == [pallets[n // 6] for n in range(10)]


def test_a_download_is_recorded_before_the_file_is_read(h):
    public_id = h.generated()
    h.download(public_id)  # the stream is never consumed
    (download,) = h.state.downloads
    assert download.principal_id == FACTORY.principal_id and download.approval_id is None
    assert h.state.event_types()[-1] == "CodeFileDownloaded"
    view = get_batch(FACTORY, public_id, h.db(), h.ledger)
    assert view["code_file"] == {"downloads": 1, "sealed": False}


def test_a_second_download_needs_an_approval_and_records_nothing(h):
    public_id = h.generated()
    h.download(public_id)
    events = len(h.state.events)
    with pytest.raises(CodeFileApprovalRequiredError):
        h.download(public_id)
    assert len(h.state.downloads) == 1 and len(h.state.events) == events


def test_an_approved_reprint_allows_exactly_one_more_download(h):
    public_id = h.generated()
    first = read_csv(h.download(public_id)[1])
    approval = h.approve(public_id)
    assert approval["approval_id"] == 1 and approval["reason"] == "Printer jam"
    filename, stream = h.download(public_id)
    assert filename.endswith("-codes-2.csv") and read_csv(stream) == first
    assert [d.approval_id for d in h.state.downloads] == [None, 1]
    with pytest.raises(CodeFileApprovalRequiredError):
        h.download(public_id)
    assert len(h.state.downloads) == 2
    assert h.state.event_types().count("CodeFileReprintApproved") == 1


def test_the_code_file_is_sealed_once_every_code_is_activated(h):
    public_id = h.generated()
    h.download(public_id)
    h.activate(batch_id=public_id)
    with pytest.raises(CodeFileSealedError):
        h.download(public_id)
    with pytest.raises(CodeFileSealedError):
        h.approve(public_id)
    assert len(h.state.downloads) == 1 and not h.state.approvals
    view = get_batch(FACTORY, public_id, h.db(), h.ledger)
    assert view["code_file"] == {"downloads": 1, "sealed": True}


def test_the_code_file_of_a_recalled_batch_is_sealed(h):
    public_id = h.generated()
    h.recall(public_id)
    with pytest.raises(CodeFileSealedError):
        h.download(public_id)


def test_a_draft_has_no_code_file(h):
    public_id = draft(h)
    with pytest.raises(InvalidRequestError):
        h.download(public_id)
    assert not h.state.downloads


@pytest.mark.parametrize("actor", [BRAND, AUDITOR, ATTESTOR])
def test_only_factories_download_code_files(h, actor):
    public_id = h.generated()
    with pytest.raises(PermissionDeniedError):
        h.download(public_id, actor=actor)
    assert not h.state.downloads


@pytest.mark.parametrize("actor", [SISTER_FACTORY, OTHER_FACTORY])
def test_another_factory_cannot_download_the_code_file(h, actor):
    public_id = h.generated()
    with pytest.raises(BatchNotFoundError):
        h.download(public_id, actor=actor)
    assert not h.state.downloads


@pytest.mark.parametrize("actor", [FACTORY, BRAND])
def test_only_admins_approve_reprints(h, actor):
    public_id = h.generated()
    with pytest.raises(PermissionDeniedError):
        h.approve(public_id, actor=actor)
    assert not h.state.approvals


# ----------------------------------------------------------------------------- proofs, labels
def test_item_proof_of_a_serial_outside_the_batch_is_not_found(h):
    first = h.generated()
    second = h.generated(lot="L2")
    serial = h.items(second)[0].serial
    for bad in (serial, "NOSUCHSERIAL", "bad serial/../"):
        with pytest.raises(ItemNotFoundError):
            item_proof(FACTORY, first, bad, h.db(), h.commitments)


def test_item_proof_names_the_items_token_and_hashes(h):
    public_id = h.generated()
    item = h.items(public_id)[4]
    proof = item_proof(BRAND, public_id, item.serial, h.db(), h.commitments)
    with h.db() as uow:
        batch = uow.batches.get(public_id)
    assert batch is not None
    assert proof["token_id"] == str(h.commitments.token_id(batch.chain_batch_id, item.item_hash))
    assert proof["item_hash"] == "0x" + item.item_hash.hex()
    assert proof["leaf"] == "0x" + item.leaf.hex() and proof["status"] == "generated"


def test_labels_of_items_cases_and_pallets_carry_their_digital_links(h):
    public_id = h.generated()
    _, labels = label_stream(FACTORY, public_id, None, 2, 3, h.db, RESOLVER)
    serials = [i.serial for i in h.items(public_id)]
    assert [label.text for label in labels] == serials[2:5]
    _, labels = label_stream(FACTORY, public_id, UnitKind.PALLET, 0, 10, h.db, RESOLVER)
    pallets = [p.sscc for p in h.pallets(public_id)]
    assert [label.data for label in labels] == [
        f"https://id.example.com/00/{sscc}" for sscc in pallets
    ]
    _, labels = label_stream(FACTORY, public_id, UnitKind.CASE, 1, 10, h.db, RESOLVER)
    cases = [c.sscc for c in h.cases(public_id)]
    assert [label.text for label in labels] == [f"(00) {sscc}" for sscc in cases[1:]]


@pytest.mark.parametrize(("offset", "count"), [(0, 0), (0, 50_001), (-1, 10)])
def test_a_label_file_holds_1_to_50000_labels_from_an_offset(h, offset, count):
    public_id = h.generated()
    with pytest.raises(InvalidRequestError):
        label_stream(FACTORY, public_id, None, offset, count, h.db, RESOLVER)


def test_a_draft_has_no_labels(h):
    public_id = draft(h)
    with pytest.raises(InvalidRequestError):
        label_stream(FACTORY, public_id, None, 0, 10, h.db, RESOLVER)


def test_code_uri_gives_the_digital_link_of_an_item_or_a_case_the_caller_made(h):
    public_id = h.generated()
    serial, case = h.items(public_id)[0].serial, h.cases(public_id)[0].sscc
    resolver = RESOLVER
    assert code_uri(FACTORY, serial, h.db(), resolver) == (
        f"{resolver}/01/{GTIN}/10/L2025-12-001/21/{serial}"
    )
    assert code_uri(FACTORY, case, h.db(), resolver) == f"{resolver}/00/{case}"
    with pytest.raises(ItemNotFoundError):
        code_uri(OTHER_FACTORY, serial, h.db(), resolver)
    with pytest.raises(LogisticUnitNotFoundError):
        code_uri(OTHER_FACTORY, case, h.db(), resolver)


def test_a_case_lists_its_items_and_a_pallet_its_cases(h):
    public_id = h.generated()
    case, pallet = h.cases(public_id)[3], h.pallets(public_id)[1]
    case_view = unit_view(FACTORY, case.sscc, h.db(), RESOLVER)
    pallet_view = unit_view(FACTORY, pallet.sscc, h.db(), RESOLVER)
    assert case_view["children"] == [h.items(public_id)[9].serial]
    assert case_view["parent_sscc"] == pallet.sscc
    assert pallet_view["children"] == [c.sscc for c in h.cases(public_id)[2:]]
    with pytest.raises(LogisticUnitNotFoundError):
        unit_view(OTHER_FACTORY, case.sscc, h.db(), RESOLVER)
