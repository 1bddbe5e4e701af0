"""ChainSettings: env prefix, dev defaults, and refusal of well-known keys on real networks."""

from __future__ import annotations

from pathlib import Path

import pytest
from eth_account import Account
from pydantic import ValidationError

from chain.config import (
    ANVIL_DEV_PRIVATE_KEY,
    PYEVM_DEV_PRIVATE_KEY,
    WELL_KNOWN_DEV_KEYS,
    ChainSettings,
)

REAL_KEY = "0x" + "5a" * 32


def test_defaults_match_the_interface_spec() -> None:
    settings = ChainSettings()
    assert settings.backend == "anvil"
    assert (settings.anvil_host, settings.anvil_port, settings.anvil_chain_id) == (
        "127.0.0.1",
        8545,
        31337,
    )
    assert settings.state_dir == Path("data/chain")
    assert settings.confirmations == 2
    assert settings.fee_bump_permille == 1125
    assert settings.artifacts_dir == Path("artifacts")


def test_anvil_backend_defaults_to_anvil_account_zero() -> None:
    settings = ChainSettings(backend="anvil")
    assert settings.private_key() == ANVIL_DEV_PRIVATE_KEY
    assert Account.from_key(settings.private_key()).address == (
        "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
    )


def test_pyevm_backend_defaults_to_eth_tester_account_zero() -> None:
    settings = ChainSettings(backend="pyevm")
    assert settings.private_key() == PYEVM_DEV_PRIVATE_KEY
    assert Account.from_key(settings.private_key()).address == (
        "0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf"
    )


def test_settings_are_read_from_chain_prefixed_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CHAIN_BACKEND", "rpc")
    monkeypatch.setenv("CHAIN_RPC_URL", "http://10.0.0.1:8545")
    monkeypatch.setenv("CHAIN_SENDER_PRIVATE_KEY", REAL_KEY)
    monkeypatch.setenv("CHAIN_CONFIRMATIONS", "12")
    settings = ChainSettings()
    assert settings.backend == "rpc"
    assert settings.rpc_url == "http://10.0.0.1:8545"
    assert settings.private_key() == REAL_KEY
    assert settings.confirmations == 12


def test_secret_key_is_not_shown_in_repr() -> None:
    settings = ChainSettings(backend="rpc", rpc_url="http://x", sender_private_key=REAL_KEY)
    assert REAL_KEY[2:] not in repr(settings)


@pytest.mark.parametrize("key", sorted(WELL_KNOWN_DEV_KEYS))
def test_rpc_backend_refuses_every_well_known_dev_key(key: str) -> None:
    with pytest.raises(ValidationError, match="well-known"):
        ChainSettings(backend="rpc", rpc_url="http://x", sender_private_key="0x" + key)


def test_rpc_backend_refuses_dev_key_written_in_upper_case_without_prefix() -> None:
    with pytest.raises(ValidationError, match="well-known"):
        ChainSettings(
            backend="rpc", rpc_url="http://x", sender_private_key=ANVIL_DEV_PRIVATE_KEY[2:].upper()
        )


def test_rpc_backend_requires_a_key_and_a_url() -> None:
    with pytest.raises(ValidationError, match="SENDER_PRIVATE_KEY is required"):
        ChainSettings(backend="rpc", rpc_url="http://x")
    with pytest.raises(ValidationError, match="RPC_URL is required"):
        ChainSettings(backend="rpc", sender_private_key=REAL_KEY)


def test_well_known_list_holds_anvils_ten_mnemonic_accounts() -> None:
    Account.enable_unaudited_hdwallet_features()
    mnemonic = "test test test test test test test test test test test junk"
    derived = {
        Account.from_mnemonic(mnemonic, account_path=f"m/44'/60'/0'/0/{i}")
        .key.hex()
        .removeprefix("0x")
        for i in range(10)
    }
    assert derived <= WELL_KNOWN_DEV_KEYS


def test_fee_bump_below_ten_percent_is_refused() -> None:
    with pytest.raises(ValidationError):
        ChainSettings(fee_bump_permille=1050)


def test_finality_window_shorter_than_the_confirmation_depth_is_refused() -> None:
    assert ChainSettings(confirmations=2).finality_blocks == 64
    with pytest.raises(ValidationError, match="FINALITY_BLOCKS must be >= CHAIN_CONFIRMATIONS"):
        ChainSettings(confirmations=6, finality_blocks=5)


def test_a_chain_settings_error_never_prints_the_key_it_was_given(monkeypatch):
    secret_tail = "5a" * 32
    monkeypatch.setenv("CHAIN_BACKEND", "rpc")
    monkeypatch.setenv("CHAIN_SENDER_PRIVATE_KEY", "0x" + secret_tail)
    monkeypatch.delenv("CHAIN_RPC_URL", raising=False)
    with pytest.raises(ValidationError, match="CHAIN_RPC_URL is required") as refused:
        ChainSettings()
    assert secret_tail[:16] not in str(refused.value)
