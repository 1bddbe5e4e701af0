"""Scans of item codes (verdicts) and the alerts they raise, against the fakes."""

import pytest

from service.alerts.app import alert_views
from service.consumer.app import commands
from service.consumer.app import verification as scans
from service.kernel.errors import (
    InvalidRequestError,
    MalformedCodeError,
    MalformedGtinError,
    MalformedLotError,
    MalformedSerialError,
    PermissionDeniedError,
)
from service.ledger.domain.errors import LedgerHeldError, LedgerUnavailableError
from tests.unit.service.fakes.world import (
    ADMIN,
    AUDITOR,
    BRAND,
    FACTORY,
    GTIN,
    OTHER_BRAND,
    OTHER_FACTORY,
    OTHER_GTIN,
    Harness,
)

LOT = "L2025-12-001"


@pytest.fixture
def h():
    return Harness()


def scan(h, serial, gtin=None, lot=None, actor=None):
    cmd = commands.ScanItem(serial, gtin, lot, actor)
    return scans.scan_item(cmd, h.db, h.commitments, h.ledger, h.clock)


def verify(h, serial, actor=None):
    cmd = commands.ScanItem(serial, actor=actor)
    return scans.resolve(cmd, h.db, h.commitments, h.ledger, h.clock)


def resolve(h, serial, gtin=None, lot=None):
    cmd = commands.ScanItem(serial, gtin, lot)
    return scans.resolve(cmd, h.db, h.commitments, h.ledger, h.clock)


def first_serial(h, public_id):
    return h.items(public_id)[0].serial


def alerts(h, actor=ADMIN, status=None):
    return alert_views(actor, h.db(), status, 0, 50)


# ----------------------------------------------------------------------------- verdicts
@pytest.mark.parametrize("serial", ["NOSUCHSERIAL00000000", "A+<>?", "x" * 20])
def test_a_well_formed_code_we_never_made_is_unknown_by_either_path(h, serial):
    h.anchored()
    assert scan(h, serial) is None
    unknown = {"serial": serial, "verdict": "unknown", "genuine": False}
    assert verify(h, serial) == resolve(h, serial) == unknown
    assert not h.state.alerts


@pytest.mark.parametrize(
    ("serial", "gtin", "lot", "error"),
    [
        ("bad serial", None, None, MalformedSerialError),
        ("", None, None, MalformedSerialError),
        ("x" * 21, None, None, MalformedSerialError),
        ("S" * 60_000, GTIN, None, MalformedSerialError),
        ("SERIAL1", "09506000134353", None, MalformedGtinError),
        ("SERIAL1", "0950600013435X", None, MalformedGtinError),
        ("SERIAL1", GTIN, "L" * 21, MalformedLotError),
        ("SERIAL1", GTIN, "caf\u00e9", MalformedLotError),
    ],
)
def test_a_malformed_code_is_refused_by_either_path_and_raises_no_alert(
    h, serial, gtin, lot, error
):
    h.anchored()
    with pytest.raises(error) as refused:
        resolve(h, serial, gtin, lot)
    assert serial not in refused.value.detail or not serial
    with pytest.raises(MalformedCodeError):
        scan(h, serial, gtin, lot)
    assert not h.state.alerts


def test_a_code_that_was_never_activated_is_not_activated(h):
    public_id = h.generated()
    body = verify(h, first_serial(h, public_id), actor=FACTORY)
    assert body["verdict"] == "not_activated" and body["genuine"] is False
    assert body["activated"] is False
    assert body["chain"]["anchored"] is False and body["chain"]["on_chain"] is None
    assert body["chain"]["valid"] is True and h.ledger.chain_reads == 0


def test_an_activated_code_of_a_batch_not_yet_anchored_is_not_anchored(h):
    public_id = h.generated()
    h.activate(code=h.cases(public_id)[0].sscc)
    body = verify(h, first_serial(h, public_id))
    assert body["verdict"] == "not_anchored" and body["activated"] is True
    assert h.ledger.chain_reads == 0


def test_a_code_of_a_batch_whose_anchor_is_in_flight_is_not_anchored(h):
    public_id = h.activated()
    h.anchor(public_id)
    body = verify(h, first_serial(h, public_id))
    assert body["verdict"] == "not_anchored" and body["chain"]["anchored"] is False


def test_an_activated_code_of_an_anchored_batch_is_genuine(h):
    public_id = h.anchored()
    item = h.items(public_id)[9]
    body = verify(h, item.serial)
    assert body["verdict"] == "genuine" and body["genuine"] is True
    assert (body["gtin"], body["lot"], body["batch_id"]) == (GTIN, LOT, public_id)
    chain = body["chain"]
    assert chain["anchored"] and chain["valid"] and chain["on_chain"] is True
    assert chain["root"] == "0x" + h.stored(public_id).root.hex()
    assert chain["leaf"] == "0x" + item.leaf.hex()
    assert chain["anchor_tx_hash"] == "0x" + "09" * 32 and chain["anchor_block_number"] == 5
    proof = [bytes.fromhex(p[2:]) for p in chain["proof"]]
    assert h.commitments.verify_batch_proof(proof, h.stored(public_id).root, item.leaf)
    assert "alert" not in body


def test_a_genuine_serial_with_the_right_gtin_and_lot_is_genuine(h):
    public_id = h.anchored()
    body = scan(h, first_serial(h, public_id), gtin=GTIN, lot=LOT)
    assert body["verdict"] == "genuine"


@pytest.mark.parametrize(("gtin", "lot"), [(OTHER_GTIN, None), (GTIN, "L-OTHER"), (None, "L1")])
def test_a_genuine_serial_under_another_gtin_or_lot_is_unknown(h, gtin, lot):
    public_id = h.anchored()
    serial = first_serial(h, public_id)
    assert scan(h, serial, gtin=gtin, lot=lot) is None
    assert resolve(h, serial, gtin=gtin, lot=lot)["verdict"] == "unknown"
    assert not h.state.alerts


def test_a_code_of_a_recalled_batch_is_recalled(h):
    public_id = h.anchored()
    h.recall(public_id, reason="Contaminated bottles")
    body = verify(h, first_serial(h, public_id))
    assert body["verdict"] == "recalled" and body["genuine"] is False
    assert body["recall"]["reason"] == "Contaminated bottles"
    assert body["chain"]["anchored"] is True  # its anchor was confirmed before the recall


def test_a_code_of_a_batch_recalled_before_anchoring_is_recalled_without_the_chain(h):
    public_id = h.generated()
    h.recall(public_id)
    body = verify(h, first_serial(h, public_id))
    assert body["verdict"] == "recalled" and body["chain"]["anchored"] is False
    assert h.ledger.chain_reads == 0 and not h.state.alerts


def test_a_code_the_chain_does_not_hold_is_a_mismatch_and_alerts_the_brand(h):
    public_id = h.anchored()
    h.ledger.anchored.clear()  # the database says anchored, the contract disagrees
    body = verify(h, first_serial(h, public_id), actor=FACTORY)
    assert body["verdict"] == "mismatch" and body["chain"]["on_chain"] is False
    assert body["alert"]["kind"] == "chain_mismatch"
    (alert,) = alerts(h)
    assert alert["kind"] == "chain_mismatch" and alert["serial"] == first_serial(h, public_id)


def test_an_altered_item_record_is_a_mismatch_that_names_the_proof(h):
    public_id = h.anchored()
    item = h.items(public_id)[0]
    item.item_hash = b"\x00" * 32  # a record altered in the database
    body = verify(h, item.serial)
    assert body["verdict"] == "mismatch" and body["chain"]["valid"] is False
    assert body["chain"]["on_chain"] is False and body["chain"]["differs"] == []
    (alert,) = alerts(h)
    assert alert["kind"] == "chain_mismatch" and alert["detail"]["differs"] == ["proof"]


def test_scans_never_change_the_item_or_log_anything_but_alerts(h):
    public_id = h.anchored()
    events, commits = len(h.state.events), h.state.commits
    before = [(i.serial, i.pin_hash) for i in h.items(public_id)]
    for _ in range(3):
        verify(h, first_serial(h, public_id))
    assert len(h.state.events) == events and h.state.commits == commits
    assert [(i.serial, i.pin_hash) for i in h.items(public_id)] == before


# ----------------------------------------------------------------------------- the chain
def test_a_scan_of_an_anchored_batch_while_the_chain_is_down_is_unavailable(h):
    public_id = h.anchored()
    h.ledger.available = False
    with pytest.raises(LedgerUnavailableError):
        verify(h, first_serial(h, public_id))
    assert not h.state.alerts


def test_a_scan_of_an_anchored_batch_on_a_foreign_chain_is_held(h):
    public_id = h.anchored()
    h.ledger.held = True
    with pytest.raises(LedgerHeldError):
        verify(h, first_serial(h, public_id))


def test_a_scan_of_a_recalled_batch_shows_the_recall_while_the_chain_is_down(h):
    public_id = h.anchored()
    h.recall(public_id)
    h.ledger.available = False
    body = verify(h, first_serial(h, public_id))
    assert body["verdict"] == "recalled" and body["recall"]["reason"] == "Contaminated bottles"


def test_a_scan_of_a_batch_not_anchored_needs_no_chain(h):
    public_id = h.activated()
    h.ledger.available = False
    assert verify(h, first_serial(h, public_id))["verdict"] == "not_anchored"


# ----------------------------------------------------------------------------- alerts
def test_an_anonymous_scan_of_an_inactive_code_opens_one_alert_and_repeats_count(h):
    public_id = h.generated()
    serial = first_serial(h, public_id)
    first = verify(h, serial)
    assert first["verdict"] == "not_activated"
    assert first["alert"]["kind"] == "inactive_code_scanned" and first["alert"]["count"] == 1
    second = verify(h, serial)
    assert second["alert"] == {**first["alert"], "count": 2}
    (alert,) = alerts(h)
    assert alert["count"] == 2 and alert["status"] == "open" and alert["serial"] == serial
    assert alert["detail"] == {"batch_id": public_id, "verdict": "not_activated"}
    assert alert["first_seen_at"] < alert["last_seen_at"]
    assert h.state.event_types().count("AlertRaised") == 1


def test_anonymous_scans_of_two_inactive_codes_open_two_alerts(h):
    public_id = h.generated()
    for item in h.items(public_id)[:2]:
        verify(h, item.serial)
    assert len(alerts(h)) == 2 and h.state.event_types().count("AlertRaised") == 2


def test_a_partner_scan_of_an_inactive_code_raises_no_alert(h):
    public_id = h.generated()
    body = verify(h, first_serial(h, public_id), actor=FACTORY)
    assert body["verdict"] == "not_activated" and "alert" not in body
    assert not h.state.alerts and "AlertRaised" not in h.state.event_types()


def test_an_anonymous_scan_of_an_activated_code_raises_no_alert(h):
    public_id = h.activated()
    body = verify(h, first_serial(h, public_id))
    assert body["verdict"] == "not_anchored" and "alert" not in body
    assert not h.state.alerts


def test_alerts_are_listed_for_their_brand_only(h):
    own = h.generated()
    other = h.generated(actor=OTHER_FACTORY, gtin=OTHER_GTIN)
    verify(h, first_serial(h, own))
    verify(h, first_serial(h, other))
    assert [a["serial"] for a in alerts(h, BRAND)] == [first_serial(h, own)]
    assert [a["serial"] for a in alerts(h, AUDITOR)] == [first_serial(h, own)]
    assert [a["serial"] for a in alerts(h, OTHER_BRAND)] == [first_serial(h, other)]
    assert len(alerts(h, ADMIN)) == 2


def test_alerts_are_filtered_by_status(h):
    public_id = h.generated()
    verify(h, first_serial(h, public_id))
    assert len(alerts(h, BRAND, status="open")) == 1
    assert alerts(h, BRAND, status="dismissed") == []
    with pytest.raises(InvalidRequestError):
        alerts(h, BRAND, status="closed")


def test_factories_cannot_read_alerts(h):
    with pytest.raises(PermissionDeniedError):
        alerts(h, FACTORY)
