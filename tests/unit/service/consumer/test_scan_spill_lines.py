"""The spill file's lines carry a scan's network and witness, and read lines from before."""

from datetime import UTC, datetime

from service.consumer.ports import ConsumerScan
from service.consumer.storage.spill import SpilledScan, decode, encode

AT = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)


def test_a_spilled_scan_keeps_its_network_and_witness():
    scan = ConsumerScan(
        AT,
        1,
        2,
        "330106",
        b"d" * 16,
        "genuine",
        None,
        None,
        network_hash=b"n" * 16,
        witness="member",
    )
    assert decode(encode(SpilledScan(b"i" * 16, scan))) == SpilledScan(b"i" * 16, scan)


def test_a_line_spilled_before_networks_were_recorded_reads_as_anonymous():
    line = (
        b'{"id":"' + (b"69" * 16) + b'","at":"2026-12-06T08:00:00+00:00","item":1,"batch":2,'
        b'"region":null,"device":"' + (b"64" * 16) + b'","verdict":"genuine","org":null,'
        b'"alert":null}\n'
    )
    spilled = decode(line)
    assert spilled is not None
    assert (spilled.scan.network_hash, spilled.scan.witness) == (None, "anonymous")
