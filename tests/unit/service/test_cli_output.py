"""What ``tracecert run`` prints at start-up, in an 80-column terminal: every hash and address
whole, on one line, never wrapped or cut short."""

from __future__ import annotations

import io

from rich.console import Console

from service import cli

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
    "sender": {"address": SENDER, "held": True, "queued": 12, "in_flight": 3, "failed": 1},
}


def test_the_start_up_table_fits_80_columns_with_every_hash_whole(monkeypatch):
    out = io.StringIO()
    monkeypatch.setattr(cli, "console", Console(file=out, width=80, color_system=None))
    monkeypatch.setattr(cli.handlers, "chain_info", lambda ledger, uow_factory: INFO)
    cli._print_chain(type("Container", (), {"ledger": None, "uow_factory": None})())
    lines = out.getvalue().splitlines()
    assert lines and all(len(line) <= 80 for line in lines), lines
    for value in (GENESIS, RECORDED, TX, REGISTRY, SENDER):
        assert any(value in line for line in lines), f"{value} is not whole on one line"
    text = out.getvalue()
    assert "…" not in text and "YES: writes held" in text and "HELD" in text
    registry_line = next(line for line in lines if REGISTRY in line)
    assert registry_line.split()[0] == "registry"
