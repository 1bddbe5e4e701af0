"""The scan use case with its caches and risk checks (``scans.Verifier``), against the fakes."""

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import timedelta

import pytest

from service.channel.app.diversions import ConsumerDiversions
from service.channel.domain.errors import InvalidRegionError
from service.channel.domain.regions import Region, RegionTree
from service.consumer.app import commands
from service.consumer.app import verification as scans
from service.consumer.domain.scans import CloneRule
from service.consumer.ports import ConsumerScan
from service.ledger.domain.errors import LedgerUnavailableError
from tests.unit.service.fakes.factory import FakeCodes
from tests.unit.service.fakes.world import FACTORY, GTIN, Harness

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
            (s.region_code, s.device_hash, s.at, s.network_hash, s.witness)
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
    # Without the minimum span unless a test asks for it: most count sources alone.
    rule = kw.pop(
        "rule",
        CloneRule(max_regions=2, max_devices=3, window=timedelta(days=1), min_span=timedelta(0)),
    )
    return scans.Verifier(
        h.db,
        h.commitments,
        h.ledger,
        h.clock,
        lambda: TREE,
        scan_log=log,
        rule=rule,
        diversions=ConsumerDiversions(lambda: TREE),
        **kw,
    )


def scan(
    v, serial, device=b"d" * 16, region=None, actor=None, inline=False, network=None, account=None
):
    cmd = commands.ScanItem(serial, GTIN, LOT, actor)
    origin = scans.ScanOrigin(
        device,
        region,
        network_hash=network,
        account_id=account,
        member_hash=b"m%015d" % account if account is not None else None,
    )
    return v.scan(cmd, origin, inline=inline)


def serials(h, public_id, n=3):
    return [i.serial for i in h.items(public_id)[:n]]


# ----------------------------------------------------------------------------- the chain
class Ticks:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_chain_is_read_once_per_batch_per_ttl_and_proofs_are_checked_locally(h):
    ticks = Ticks()
    v = verifier(h, chain_ttl_s=5.0, ticks=ticks)
    first, second, third = serials(h, h.anchored())
    assert scan(v, first)["verdict"] == "genuine" and h.ledger.chain_reads == 1
    assert scan(v, second)["verdict"] == "genuine" and scan(v, third)["chain"]["on_chain"]
    ticks.now += 4.9
    assert scan(v, first)["verdict"] == "genuine" and h.ledger.chain_reads == 1
    ticks.now += 0.1  # five seconds after the read was asked: read again
    assert scan(v, second)["verdict"] == "genuine" and h.ledger.chain_reads == 2


def test_a_recall_on_chain_turns_a_kept_genuine_verdict_into_a_mismatch_within_the_ttl(h):
    ticks = Ticks()
    v = verifier(h, chain_ttl_s=5.0, ticks=ticks)
    public_id = h.anchored()
    first, second, _ = serials(h, public_id)
    assert scan(v, first)["verdict"] == "genuine"
    # Recalled on chain; the database still says anchored (its recall fields cleared).
    h.ledger.recall_on_chain(h.stored(public_id).chain_batch_id)
    ticks.now += 5.0
    body = scan(v, second)
    assert (body["verdict"], body["genuine"]) == ("mismatch", False)
    assert body["chain"]["differs"] == ["recalled"] and body["chain"]["batch"]["recalled"]
    assert body["alert"]["kind"] == "chain_mismatch"
    (alert,) = h.state.alerts.values()
    assert alert.detail["differs"] == ["recalled"]
    assert alert.detail["chain"]["recalled"] is True
    assert alert.detail["database"]["recalled"] is False


def test_what_the_chain_said_is_kept_no_longer_than_the_ttl(h):
    ticks = Ticks()
    v = verifier(h, chain_ttl_s=2.0, ticks=ticks)
    first, second, _ = serials(h, h.anchored())
    anchored = dict(h.ledger.anchored)
    h.ledger.anchored.clear()  # the contract does not hold the batch
    body = scan(v, first)
    assert body["verdict"] == "mismatch" and body["chain"]["differs"] == ["anchored"]
    h.ledger.anchored.update(anchored)
    assert scan(v, second)["verdict"] == "mismatch"  # what the chain said 0 s ago
    ticks.now += 2.0
    assert scan(v, second)["verdict"] == "genuine" and h.ledger.chain_reads == 2


def test_an_expired_chain_read_with_the_node_down_is_unavailable_never_genuine(h):
    ticks = Ticks()
    v = verifier(h, chain_ttl_s=5.0, ticks=ticks)
    first, second, _ = serials(h, h.anchored())
    assert scan(v, first)["verdict"] == "genuine"
    h.ledger.available = False
    ticks.now += 4.0
    assert scan(v, second)["verdict"] == "genuine"  # read 4 s ago: within the bound
    ticks.now += 1.0
    with pytest.raises(LedgerUnavailableError):
        scan(v, second)
    # The failure is remembered for a moment: the next scans do not wait for the node.
    reads = h.ledger.chain_reads
    with pytest.raises(LedgerUnavailableError):
        scan(v, first)
    assert h.ledger.chain_reads == reads
    h.ledger.available = True
    ticks.now += scans.CHAIN_FAILURE_S
    assert scan(v, first)["verdict"] == "genuine"


def test_a_recall_shows_with_the_node_down(h):
    v = verifier(h, chain_ttl_s=0.0)
    public_id = h.anchored()
    h.recall(public_id)
    h.ledger.available = False
    body = scan(v, serials(h, public_id, 1)[0])
    assert body["verdict"] == "recalled" and body["chain"]["on_chain"] is None


def test_scans_waiting_on_an_expired_read_share_one_read_of_the_node(h):
    v = verifier(h, chain_ttl_s=5.0)
    batch = serials(h, h.anchored(), 8)
    read = h.ledger.batch_on_chain

    def slow(chain_batch_id):
        time.sleep(0.05)
        return read(chain_batch_id)

    h.ledger.batch_on_chain = slow
    with ThreadPoolExecutor(8) as pool:
        verdicts = list(pool.map(lambda serial: scan(v, serial)["verdict"], batch))
    assert verdicts == ["genuine"] * 8 and h.ledger.chain_reads == 1


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
    assert not log.scans and h.ledger.chain_reads == 0  # nothing done, nothing recorded
    assert scan(v, first)["verdict"] == "genuine"
    assert scan(v, second, inline=True)["verdict"] == "genuine"
    assert len(log.scans) == 2 and h.ledger.chain_reads == 1


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
    assert not log.scans and h.ledger.chain_reads == 0


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
    # Hangzhou twice (one network), then Nanjing: 2 cities, each from a network of its own.
    for region, network in (("330106", b"n1"), ("330108", b"n1"), ("320102", b"n2")):
        assert scan(v, serial, region=region, network=network)["verdict"] == "genuine"
    assert scan(v, serial, region="110000", network=b"n3")["verdict"] == "suspected_clone"


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


# ----------------------------------------------------------------------------- forged signals
def net(n: int) -> bytes:
    return b"N" * 15 + bytes([n])


def test_five_forged_scans_from_one_network_change_nothing_the_next_consumer_sees(h, log):
    v = verifier(h, log, rule=CloneRule())  # the defaults: 3 regions, 5 sources, 30 minutes
    serial = serials(h, h.anchored(), 1)[0]
    regions = ["330106", "320102", "110100", "330000", "320000", "110000"]
    for n, region in enumerate(regions):  # new cookies, new regions, over an hour: one network
        body = scan(v, serial, device=bytes([n]) * 16, region=region, network=net(1))
        assert body["verdict"] == "genuine"
        h.clock.current += timedelta(minutes=15)
    assert scan(v, serial, device=b"\x77" * 16, network=net(2))["verdict"] == "genuine"
    assert not h.state.alerts
    assert {s.network_hash for s in log.scans} == {net(1), net(2)}
    assert {s.witness for s in log.scans} == {"anonymous"}


def test_genuine_sightings_from_several_networks_over_time_still_flag(h, log):
    v = verifier(h, log, rule=CloneRule())
    serial = serials(h, h.anchored(), 1)[0]
    for n in range(5):  # five networks within ten minutes: a burst, not yet evidence
        assert scan(v, serial, device=bytes([n]) * 16, network=net(n))["verdict"] == "genuine"
        h.clock.current += timedelta(minutes=2)
    assert scan(v, serial, device=b"\x09" * 16, network=net(9))["verdict"] == "genuine"
    h.clock.current += timedelta(minutes=30)
    body = scan(v, serial, device=b"\x0a" * 16, network=net(10))
    assert body["verdict"] == "suspected_clone"
    (alert,) = h.state.alerts.values()
    assert alert.kind.value == "suspected_clone" and alert.detail["devices"] == 7


def test_signed_in_members_count_as_one_source_each_and_the_owner_never(h, log):
    v = verifier(h, log)  # three sources allowed
    serial = serials(h, h.anchored(), 1)[0]
    for n in range(3):  # one member, many devices and networks: one source
        scan(v, serial, device=bytes([n]) * 16, network=net(n), account=7)
    assert scan(v, serial, device=b"\x05" * 16, network=net(5))["verdict"] == "genuine"
    assert {s.witness for s in log.scans} == {"member", "anonymous"}
    assert len({s.device_hash for s in log.scans if s.witness == "member"}) == 1
    scan(v, serial, network=net(6), account=8)
    assert scan(v, serial, network=net(6), account=9)["verdict"] == "suspected_clone"
