"""What ``tracecert run`` prints at start-up, in an 80-column terminal: every hash and address
whole, on one line, never wrapped or cut short."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

from rich.console import Console

from service import cli
from service.config import Settings
from service.kernel.storage.clock import SystemClock

GENESIS = "0x" + "ab" * 32
RECORDED = "0x" + "cd" * 32
TX = "0x" + "ef" * 32
REGISTRY = "0x" + "12" * 20
SENDER = "0x" + "34" * 20
INFO = {
    "identity": {
        "chain_id": 31337,
        "genesis_hash": GENESIS,
        "block_number": 123456789,
        "reachable": True,
    },
    "recorded_identity": {"chain_id": 31337, "genesis_hash": RECORDED},
    "genesis_mismatch": True,
    "deployment": {"contract": "CertificateRegistry", "address": REGISTRY, "tx_hash": TX},
    "sender": {
        "address": SENDER,
        "held": True,
        "queued": 12,
        "in_flight": 3,
        "failed": 1,
        "oldest_in_flight_age_s": 312.4,
        "chain_nonce": 1041,
        "lowest_in_flight_nonce": 1043,
        "nonce_gap": 2,
        "confirmed_missing": 1,
        "problems": ["a nonce gap of 2 below the lowest nonce in flight (limit 0)"],
    },
}


class _Container:
    """What _print_chain reads of the container."""

    def __init__(self, offset_s: float = 0.0) -> None:
        self.settings = Settings(dev_clock_offset_s=offset_s)
        self.clock = SystemClock(timedelta(seconds=offset_s))

    def chain_info(self) -> dict[str, Any]:
        return INFO


def _printed(monkeypatch, container: _Container) -> str:
    out = io.StringIO()
    monkeypatch.setattr(cli, "console", Console(file=out, width=80, color_system=None))
    cli._print_chain(container)  # type: ignore[arg-type]
    return out.getvalue()


def test_the_start_up_table_fits_80_columns_with_every_hash_whole(monkeypatch):
    out = io.StringIO()
    out.write(_printed(monkeypatch, _Container()))
    lines = out.getvalue().splitlines()
    assert lines and all(len(line) <= 80 for line in lines), lines
    for value in (GENESIS, RECORDED, TX, REGISTRY, SENDER):
        assert any(value in line for line in lines), f"{value} is not whole on one line"
    text = out.getvalue()
    assert "…" not in text and "YES: writes held" in text and "HELD" in text
    assert "gap 2" in text and "1 confirmed write(s) not on chain" in text and "nonce gap" in text
    registry_line = next(line for line in lines if REGISTRY in line)
    assert registry_line.split()[0] == "registry"
    assert "dev clock" not in out.getvalue()


def test_a_dev_clock_offset_is_shown_in_the_start_up_table(monkeypatch):
    text = _printed(monkeypatch, _Container(2 * 86400))
    assert all(len(line) <= 80 for line in text.splitlines())
    (line,) = [line for line in text.splitlines() if line.startswith("dev clock")]
    assert "+172800 s" in line and "TRACECERT_DEV_CLOCK_OFFSET_S" in line
    (now,) = [line for line in text.splitlines() if line.startswith("service now")]
    assert now.split()[2][:4] > "2000"
