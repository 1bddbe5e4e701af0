"""ChainClient against real nodes: every test runs on py-evm and on anvil.

A tiny hand-assembled contract reverts with whatever calldata it receives, so each revert shape
(custom error, Error(string), Panic, unknown selector, empty) comes from a real node.
"""

from __future__ import annotations

import os
import time
from typing import Any

import pytest
from eth_abi.abi import encode
from eth_account import Account
from eth_account.signers.local import LocalAccount

from chain.artifacts import Artifact
from chain.backends import AnvilBackend, PyEvmBackend, anvil_binary, free_port
from chain.client import ChainClient, error_selector
from chain.deploy import deploy, send_transaction, wait_for_receipt
from chain.errors import (
    ChainUnavailableError,
    ContractRevertError,
    NonceTooLowError,
    TransactionRejectedError,
)
from tests.fixtures.chain import ANVIL_KEYS, PROJECT_ROOT, SnapshotBackend

# CALLDATASIZE PUSH0 PUSH0 CALLDATACOPY CALLDATASIZE PUSH0 REVERT / ... RETURN
REVERT_ECHO = bytes.fromhex("365f5f37365ffd")
RETURN_ECHO = bytes.fromhex("365f5f37365ff3")
ERRORS_ABI: list[dict[str, Any]] = [
    {
        "type": "error",
        "name": "CertificateRegistryTokenLocked",
        "inputs": [{"name": "tokenId", "type": "uint256"}, {"name": "state", "type": "uint8"}],
    }
]


def _initcode(runtime: bytes) -> bytes:
    # PUSH1 len PUSH1 10 PUSH0 CODECOPY PUSH1 len PUSH0 RETURN, then the runtime code.
    n = len(runtime)
    return bytes([0x60, n, 0x60, 10, 0x5F, 0x39, 0x60, n, 0x5F, 0xF3]) + runtime


def _deploy_echo(client: ChainClient, account: LocalAccount, runtime: bytes) -> str:
    return deploy(client, account, Artifact("Echo", [], _initcode(runtime))).address


def _signed(client: ChainClient, account: LocalAccount, nonce: int, value: int = 1) -> bytes:
    fees = client.fees()
    tx = {
        "type": 2,
        "chainId": client.identity().chain_id,
        "nonce": nonce,
        "to": account.address,
        "value": value,
        "gas": 21_000,
        "maxFeePerGas": fees.max_fee_per_gas,
        "maxPriorityFeePerGas": fees.max_priority_fee_per_gas,
    }
    return bytes(account.sign_transaction(tx).raw_transaction)


def test_identity_is_stable_and_names_the_chain(
    chain_client: ChainClient, chain_backend: SnapshotBackend
) -> None:
    identity = chain_client.identity()
    expected = PyEvmBackend.CHAIN_ID if isinstance(chain_backend, PyEvmBackend) else 31337
    assert identity.chain_id == expected
    assert len(identity.genesis_hash) == 32
    assert chain_client.identity() == identity
    assert chain_client.block_hash(0) == identity.genesis_hash


def test_send_raw_twice_returns_same_hash(
    chain_client: ChainClient, chain_accounts: list[LocalAccount]
) -> None:
    sender = chain_accounts[4]
    raw = _signed(chain_client, sender, chain_client.nonce(sender.address))
    first = chain_client.send_raw(raw)
    second = chain_client.send_raw(raw)
    assert first == second
    receipt = wait_for_receipt(chain_client, first, timeout_s=10)
    assert receipt.status == 1
    assert chain_client.send_raw(raw) == first  # even after it was mined


def test_send_raw_with_nonce_taken_by_another_tx_raises_nonce_too_low(
    chain_client: ChainClient, chain_accounts: list[LocalAccount]
) -> None:
    sender = chain_accounts[5]
    nonce = chain_client.nonce(sender.address)
    mined = chain_client.send_raw(_signed(chain_client, sender, nonce, value=1))
    wait_for_receipt(chain_client, mined, timeout_s=10)
    with pytest.raises(NonceTooLowError):
        chain_client.send_raw(_signed(chain_client, sender, nonce, value=2))


def test_send_raw_without_funds_is_rejected(chain_client: ChainClient) -> None:
    pauper = Account.create()
    with pytest.raises(TransactionRejectedError):
        chain_client.send_raw(_signed(chain_client, pauper, 0))


def test_nonce_pending_and_latest_agree_after_mining(
    chain_client: ChainClient, chain_accounts: list[LocalAccount]
) -> None:
    sender = chain_accounts[6]
    before = chain_client.nonce(sender.address, "latest")
    send_transaction(chain_client, sender, sender.address, b"", value=1)
    assert chain_client.nonce(sender.address, "latest") == before + 1
    assert chain_client.nonce(sender.address) == before + 1


@pytest.mark.parametrize(
    ("data", "name", "args"),
    [
        (
            error_selector("CertificateRegistryTokenLocked(uint256,uint8)")
            + encode(["uint256", "uint8"], [42, 3]),
            "CertificateRegistryTokenLocked",
            (42, 3),
        ),
        (bytes.fromhex("08c379a0") + encode(["string"], ["no way"]), "Error", ("no way",)),
        (bytes.fromhex("4e487b71") + encode(["uint256"], [0x12]), "Panic", (0x12,)),
        (bytes.fromhex("deadbeef"), "Unknown", ("0xdeadbeef",)),
        (b"", "Unknown", ("0x",)),
    ],
    ids=["custom", "error-string", "panic", "unknown-selector", "empty"],
)
def test_reverts_are_decoded_the_same_on_both_nodes(
    chain_client: ChainClient,
    chain_accounts: list[LocalAccount],
    data: bytes,
    name: str,
    args: tuple[Any, ...],
) -> None:
    chain_client.register_revert_abi(ERRORS_ABI)
    echo = _deploy_echo(chain_client, chain_accounts[0], REVERT_ECHO)
    tx = {"from": chain_accounts[0].address, "to": echo, "data": data}
    with pytest.raises(ContractRevertError) as on_call:
        chain_client.call(tx)
    with pytest.raises(ContractRevertError) as on_estimate:
        chain_client.estimate_gas(tx)
    for caught in (on_call, on_estimate):
        assert (caught.value.name, caught.value.args) == (name, args)


def test_call_returns_raw_output_and_estimate_gas_is_positive(
    chain_client: ChainClient, chain_accounts: list[LocalAccount]
) -> None:
    echo = _deploy_echo(chain_client, chain_accounts[0], RETURN_ECHO)
    payload = os.urandom(40)
    assert chain_client.call({"to": echo, "data": payload}) == payload
    assert chain_client.estimate_gas({"from": chain_accounts[0].address, "to": echo}) >= 21_000
    assert chain_client.code(echo) == RETURN_ECHO


def test_receipt_of_a_deployment_and_of_a_mined_revert(
    chain_client: ChainClient, chain_accounts: list[LocalAccount]
) -> None:
    admin = chain_accounts[0]
    echo = _deploy_echo(chain_client, admin, REVERT_ECHO)
    receipt = send_transaction(chain_client, admin, echo, b"\x01\x02", gas=60_000)
    assert receipt.status == 0
    assert receipt.gas_used > 21_000
    assert receipt.contract_address is None
    assert chain_client.block_hash(receipt.block_number) == receipt.block_hash
    assert chain_client.receipt(receipt.tx_hash) == receipt


def test_unknown_receipt_and_future_block_are_none(chain_client: ChainClient) -> None:
    assert chain_client.receipt(os.urandom(32)) is None
    assert chain_client.block_hash(chain_client.block_number() + 1000) is None


def test_fees_cover_the_current_base_fee(chain_client: ChainClient) -> None:
    fees = chain_client.fees()
    assert fees.max_fee_per_gas > fees.max_priority_fee_per_gas > 0


def test_snapshot_revert_restores_block_and_balance(
    chain_backend: SnapshotBackend, chain_client: ChainClient, chain_accounts: list[LocalAccount]
) -> None:
    sender, receiver = chain_accounts[7], chain_accounts[8]
    block, balance = chain_client.block_number(), chain_client.balance(receiver.address)
    snapshot = chain_backend.snapshot()
    send_transaction(chain_client, sender, receiver.address, b"", value=10**18)
    assert chain_client.balance(receiver.address) == balance + 10**18
    chain_backend.revert(snapshot)
    assert chain_client.block_number() == block
    assert chain_client.balance(receiver.address) == balance


# ---------------------------------------------------------------------------- anvil only
@pytest.fixture
def own_anvil(tmp_path: Any) -> Any:
    """Factory for extra anvil processes (stopped by PID afterwards)."""
    binary = anvil_binary(PROJECT_ROOT)
    if not binary.is_file():
        pytest.skip(f"anvil binary missing at {binary}")
    started: list[AnvilBackend] = []

    def make(state_file: Any = None) -> AnvilBackend:
        backend = AnvilBackend(binary, port=free_port(), state_file=state_file)
        backend.start()
        started.append(backend)
        return backend

    yield make
    for backend in started:
        backend.stop()


@pytest.mark.anvil
def test_send_raw_twice_while_pending_returns_same_hash(
    anvil_backend: AnvilBackend,
) -> None:
    client = ChainClient(anvil_backend)
    sender = Account.from_key(ANVIL_KEYS[9])
    snapshot = anvil_backend.snapshot()
    anvil_backend.set_automine(False)
    try:
        raw = _signed(client, sender, client.nonce(sender.address))
        first = client.send_raw(raw)
        assert client.send_raw(raw) == first  # "transaction already imported"
        assert client.receipt(first) is None
        assert client.nonce(sender.address, "pending") == client.nonce(sender.address, "latest") + 1
        anvil_backend.mine()
        assert client.receipt(first) is not None
    finally:
        anvil_backend.set_automine(True)
        anvil_backend.revert(snapshot)


@pytest.mark.anvil
def test_anvil_start_records_pid_and_stop_ends_the_process(own_anvil: Any) -> None:
    backend = own_anvil()
    pid = backend.pid
    assert pid is not None and backend.running
    backend.stop()
    assert backend.pid is None and not backend.running
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


@pytest.mark.anvil
def test_stopped_node_raises_chain_unavailable(own_anvil: Any) -> None:
    backend = own_anvil()
    client = ChainClient(backend)
    assert client.block_number() == 0
    backend.kill()
    started = time.monotonic()
    with pytest.raises(ChainUnavailableError) as caught:
        client.block_number()
    assert caught.value.__cause__ is not None
    assert time.monotonic() - started < 5  # no retry storm
    with pytest.raises(ChainUnavailableError):
        client.send_raw(b"\x02\x00")


@pytest.mark.anvil
def test_restart_without_state_is_a_new_genesis(own_anvil: Any) -> None:
    backend = own_anvil()
    before = ChainClient(backend).identity()
    backend.stop()
    time.sleep(1.1)  # anvil's genesis timestamp has one-second resolution
    backend.start()
    after = ChainClient(backend).identity()
    assert after.chain_id == before.chain_id
    assert after.genesis_hash != before.genesis_hash


@pytest.mark.anvil
def test_state_file_survives_kill_and_keeps_genesis(own_anvil: Any, tmp_path: Any) -> None:
    backend = own_anvil(state_file=tmp_path / "state" / "anvil.json")
    client = ChainClient(backend)
    before = client.identity()
    sender = Account.from_key(ANVIL_KEYS[1])
    receipt = send_transaction(client, sender, sender.address, b"", value=1)
    time.sleep(2.2)  # --state-interval 1: let anvil write the state at least once
    backend.kill()
    backend.start()
    assert client.identity() == before
    assert client.receipt(receipt.tx_hash) is not None
    assert client.nonce(sender.address, "latest") == 1
