"""The scan use case with its caches and risk checks (``scans.Verifier``), against the fakes."""

from dataclasses import replace
from datetime import timedelta

import pytest

from service.app import commands, scans
from service.app.ports import ConsumerScan
from service.domain.errors import InvalidRegionError
from service.domain.regions import Region, RegionTree
from service.domain.scans import CloneRule
from tests.unit.service.fakes import FACTORY, GTIN, FakeCodes, Harness

LOT = "L2025-12-001"
TREE = RegionTree(
    [
        Region("330000", "浙江省", 1, None),
        Region("330100", "杭州市", 2, "330000"),
        Region("330106", "西湖区", 3, "330100"),
        Region("330108", "滨江区", 3, "330100"),
        Region("320000", "江苏省", 1, None),
        Region("320100", "南京市", 2, "320000"),
        Region("320102", "玄武区", 3, "320100"),
        Region("110000", "北京市", 1, None),
        Region("110100", "市辖区", 2, "110000"),
    ]
)


class FakeScanLog:
    """The scan log in memory: everything recorded is "buffered"."""

    def __init__(self) -> None:
        self.scans: list[ConsumerScan] = []

    def record(self, scan: ConsumerScan) -> bool:
        self.scans.append(scan)
        return True

    def buffered(self, item_id: int, since):
        return [
            (s.region_code, s.device_hash)
            for s in reversed(self.scans)
            if s.item_id == item_id and s.at >= since and s.organisation_id is None
        ]

    def flush(self) -> int:
        return 0


@pytest.fixture
def h(monkeypatch):
    # The fakes' items have no row ids; a scan is recorded against one.
    record = FakeCodes._record

    def with_id(self, item):
        return replace(record(self, item), id=1000 + item.leaf_index + 100 * item.batch_id)

    monkeypatch.setattr(FakeCodes, "_record", with_id)
    return Harness()


@pytest.fixture
def log():
    return FakeScanLog()


def verifier(h, log=None, **kw):
    rule = kw.pop("rule", CloneRule(max_regions=2, max_devices=3, window=timedelta(days=1)))
    return scans.Verifier(
        h.db, h.commitments, h.ledger, h.clock, lambda: TREE, scan_log=log, rule=rule, **kw
    )


def scan(v, serial, device=b"d" * 16, region=None, actor=None, inline=False):
    cmd = commands.ScanItem(serial, GTIN, LOT, actor)
    return v.scan(cmd, scans.ScanOrigin(device, region), inline=inline)


def serials(h, public_id, n=3):
    return [i.serial for i in h.items(public_id)[:n]]


# ----------------------------------------------------------------------------- the chain
def test_the_chain_confirms_a_batch_root_once_and_later_scans_check_the_proof_locally(h):
    v = verifier(h)
    first, second, third = serials(h, h.anchored())
    assert scan(v, first)["verdict"] == "genuine" and h.ledger.verify_calls == 1
    assert scan(v, second)["verdict"] == "genuine" and scan(v, third)["chain"]["on_chain"]
    assert h.ledger.verify_calls == 1


def test_a_root_the_chain_refused_is_not_kept(h):
    v = verifier(h)
    first, second, _ = serials(h, h.anchored())
    anchored = dict(h.ledger.anchored)
    h.ledger.anchored.clear()  # the contract does not hold the batch
    assert scan(v, first)["verdict"] == "mismatch"
    h.ledger.anchored.update(anchored)
    assert scan(v, second)["verdict"] == "genuine" and h.ledger.verify_calls == 2


def test_an_altered_item_record_is_a_mismatch_even_with_the_root_confirmed(h):
    v = verifier(h)
    public_id = h.anchored()
    first, second, _ = serials(h, public_id)
    scan(v, first)
    h.items(public_id)[1].item_hash = b"\x00" * 32
    body = scan(v, second)
    assert body["verdict"] == "mismatch" and body["chain"]["valid"] is False


def test_an_inline_attempt_defers_what_needs_the_chain_and_answers_the_rest(h, log):
    v = verifier(h, log)
    first, second, _ = serials(h, h.anchored())
    assert scan(v, first, inline=True) is scans.DEFERRED
    assert not log.scans and h.ledger.verify_calls == 0  # nothing done, nothing recorded
    assert scan(v, first)["verdict"] == "genuine"
    assert scan(v, second, inline=True)["verdict"] == "genuine"
    assert len(log.scans) == 2 and h.ledger.verify_calls == 1


def test_an_inline_attempt_defers_a_scan_that_alerts_the_brand(h, log):
    v = verifier(h, log)
    serial = serials(h, h.generated(), 1)[0]
    assert scan(v, serial, inline=True) is scans.DEFERRED and not h.state.alerts
    assert scan(v, serial)["verdict"] == "not_activated" and len(h.state.alerts) == 1


# ----------------------------------------------------------------------------- records
def test_a_scan_is_recorded_with_its_region_device_and_verdict(h, log):
    v = verifier(h, log)
    public_id = h.anchored()
    serial = serials(h, public_id, 1)[0]
    scan(v, serial, device=b"p" * 16, region="330106")
    scan(v, serial, device=b"q" * 16, actor=FACTORY)
    consumer, partner = log.scans
    batch_id = h.stored(public_id).id
    assert (consumer.item_id, consumer.batch_id) == (1000 + 100 * batch_id, batch_id)
    assert (consumer.region_code, consumer.device_hash, consumer.verdict) == (
        "330106",
        b"p" * 16,
        "genuine",
    )
    assert consumer.organisation_id is None and consumer.at < partner.at <= h.clock.now()
    assert partner.organisation_id == FACTORY.organisation_id


def test_an_unknown_region_is_refused_before_anything_is_read_or_recorded(h, log):
    v = verifier(h, log)
    serial = serials(h, h.anchored(), 1)[0]
    with pytest.raises(InvalidRegionError):
        scan(v, serial, region="999999")
    assert not log.scans and h.ledger.verify_calls == 0


def test_a_known_serial_under_another_lot_is_unknown_and_recorded_so(h, log):
    v = verifier(h, log)
    serial = serials(h, h.anchored(), 1)[0]
    cmd = commands.ScanItem(serial, GTIN, "L-OTHER")
    assert v.scan(cmd, scans.ScanOrigin(b"d" * 16)) is None
    assert [s.verdict for s in log.scans] == ["unknown"]


def test_without_an_origin_nothing_is_recorded(h, log):
    v = verifier(h, log)
    serial = serials(h, h.anchored(), 1)[0]
    assert v.scan(commands.ScanItem(serial))["verdict"] == "genuine"
    assert not log.scans


# ----------------------------------------------------------------------------- clones
def test_too_many_devices_make_a_genuine_bottle_a_suspected_clone_and_alert_once(h, log):
    v = verifier(h, log)
    serial = serials(h, h.anchored(), 1)[0]
    verdicts = [scan(v, serial, device=bytes([n]) * 16)["verdict"] for n in range(3)]
    assert verdicts == ["genuine"] * 3
    body = scan(v, serial, device=b"\x09" * 16)
    assert body["verdict"] == "suspected_clone" and body["genuine"] is True
    assert "alert" not in body  # the flag is the verdict; the alert is the brand's
    (alert,) = h.state.alerts.values()
    assert alert.kind.value == "suspected_clone" and alert.serial == serial
    assert alert.detail["devices"] == 4 and alert.count == 1
    # A known device again changes nothing; one more new device counts on the same alert.
    assert scan(v, serial, device=b"\x00" * 16)["verdict"] == "suspected_clone"
    assert alert.count == 1 and next(iter(h.state.alerts.values())).count == 1
    scan(v, serial, device=b"\x0a" * 16)
    assert next(iter(h.state.alerts.values())).count == 2


def test_districts_of_one_city_are_one_region_for_the_clone_rule(h, log):
    v = verifier(h, log)
    serial = serials(h, h.anchored(), 1)[0]
    for region in ("330106", "330108", "320102"):  # Hangzhou twice, then Nanjing: 2 cities
        assert scan(v, serial, region=region)["verdict"] == "genuine"
    assert scan(v, serial, region="110000")["verdict"] == "suspected_clone"  # a third


def test_scans_older_than_the_window_do_not_count(h, log):
    v = verifier(h, log)
    serial = serials(h, h.anchored(), 1)[0]
    for n in range(3):
        scan(v, serial, device=bytes([n]) * 16)
    h.clock.current += timedelta(days=2)
    assert scan(v, serial, device=b"\x09" * 16)["verdict"] == "genuine"


def test_partner_scans_do_not_count_for_clones(h, log):
    v = verifier(h, log)
    serial = serials(h, h.anchored(), 1)[0]
    for n in range(5):
        assert scan(v, serial, device=bytes([n]) * 16, actor=FACTORY)["verdict"] == "genuine"
    assert scan(v, serial)["verdict"] == "genuine"


def test_only_a_genuine_bottle_is_flagged(h, log):
    v = verifier(h, log)
    public_id = h.anchored()
    serial = serials(h, public_id, 1)[0]
    for n in range(3):
        scan(v, serial, device=bytes([n]) * 16)
    h.recall(public_id)
    assert scan(v, serial, device=b"\x09" * 16)["verdict"] == "recalled"
