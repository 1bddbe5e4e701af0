"""ChainClient error mapping and revert decoding, against scripted node answers.

The real nodes (py-evm and anvil) are exercised in tests/integration/chain; here each node
answer shape is pinned down on its own, including the two ways reverts arrive: anvil's JSON-RPC
error with hex ``data`` and eth-tester's ``TransactionFailed`` with a Python bytes literal.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import requests
from eth_abi.abi import encode
from eth_account import Account
from eth_tester.exceptions import TransactionFailed
from web3 import Web3
from web3.exceptions import ContractCustomError, ContractLogicError, ContractPanicError
from web3.providers.base import BaseProvider

from chain.backends import PyEvmBackend
from chain.client import (
    ChainClient,
    decode_revert_data,
    error_abis_by_selector,
    error_selector,
    revert_data_from_exception,
)
from chain.config import PYEVM_DEV_PRIVATE_KEY
from chain.errors import (
    ChainError,
    ChainUnavailableError,
    ContractRevertError,
    NonceTooLowError,
    TransactionRejectedError,
)

ERRORS_ABI: list[dict[str, Any]] = [
    {
        "type": "error",
        "name": "CertificateRegistryTokenLocked",
        "inputs": [{"name": "tokenId", "type": "uint256"}, {"name": "state", "type": "uint8"}],
    },
    {"type": "error", "name": "CertificateRegistryEmptyBatch", "inputs": []},
    {
        "type": "error",
        "name": "NotOwner",
        "inputs": [{"name": "caller", "type": "address"}, {"name": "tags", "type": "bytes32[]"}],
    },
]
TABLE = error_abis_by_selector(ERRORS_ABI)
LOCKED = error_selector("CertificateRegistryTokenLocked(uint256,uint8)")


Answer = dict[str, Any] | BaseException


class ScriptedProvider(BaseProvider):
    """Answers each JSON-RPC method from a script (a dict, an exception, or a callable)."""

    def __init__(self, script: dict[str, Answer | Callable[[Any], Answer]]) -> None:
        super().__init__()
        # web3's validation middleware asks for the chain id before eth_call/estimateGas.
        self.script = {"eth_chainId": {"result": "0x7a69"}, **script}
        self.calls: list[str] = []

    def make_request(self, method: Any, params: Any) -> Any:
        self.calls.append(method)
        answer = self.script.get(method)
        if callable(answer) and not isinstance(answer, BaseException):
            answer = answer(params)
        if answer is None:
            return {"jsonrpc": "2.0", "id": 1, "error": {"code": -32601, "message": "no"}}
        if isinstance(answer, BaseException):
            raise answer
        return {"jsonrpc": "2.0", "id": 1, **answer}

    def is_connected(self, show_traceback: bool = False) -> bool:
        return True


class ScriptedBackend:
    rpc_url: str | None = "http://scripted"

    def __init__(self, script: dict[str, Any]) -> None:
        self.provider = ScriptedProvider(script)
        self._w3 = Web3(self.provider)

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def web3(self) -> Web3:
        return self._w3


def _client(script: dict[str, Any]) -> ChainClient:
    return ChainClient(ScriptedBackend(script), [ERRORS_ABI])


def _error(message: str, code: int = -32000, data: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return {"error": error}


RAW = bytes.fromhex(
    "02f86b827a69808459682f0084b2d05e00825208940000000000000000000000000000000000000000"
)
RAW_HASH = Web3.keccak(RAW)


# ------------------------------------------------------------------------------ decoding
def test_custom_error_is_decoded_by_selector() -> None:
    data = LOCKED + encode(["uint256", "uint8"], [42, 2])
    error = decode_revert_data(data, TABLE)
    assert isinstance(error, ContractRevertError)
    assert (error.name, error.args) == ("CertificateRegistryTokenLocked", (42, 2))


def test_custom_error_without_arguments_is_decoded() -> None:
    error = decode_revert_data(error_selector("CertificateRegistryEmptyBatch()"), TABLE)
    assert (error.name, error.args) == ("CertificateRegistryEmptyBatch", ())


def test_addresses_in_custom_errors_come_back_checksummed() -> None:
    who = Account.create().address
    data = error_selector("NotOwner(address,bytes32[])") + encode(
        ["address", "bytes32[]"], [who, [b"\x01" * 32]]
    )
    error = decode_revert_data(data, TABLE)
    assert (error.name, error.args) == ("NotOwner", (who, (b"\x01" * 32,)))


def test_standard_error_string_is_decoded_as_error() -> None:
    data = bytes.fromhex("08c379a0") + encode(["string"], ["nope"])
    error = decode_revert_data(data, {})
    assert (error.name, error.args) == ("Error", ("nope",))


def test_standard_panic_is_decoded_as_panic() -> None:
    data = bytes.fromhex("4e487b71") + encode(["uint256"], [0x11])
    error = decode_revert_data(data, {})
    assert (error.name, error.args) == ("Panic", (0x11,))


@pytest.mark.parametrize(
    "data", [b"", b"\x12\x34", bytes.fromhex("deadbeef") + b"\x00" * 32, LOCKED + b"\x01"]
)
def test_unknown_or_undecodable_revert_is_reported_raw(data: bytes) -> None:
    error = decode_revert_data(data, TABLE)
    assert (error.name, error.args) == ("Unknown", ("0x" + data.hex(),))


# ------------------------------------------------------------------------------ both shapes
def test_revert_data_is_taken_from_anvil_style_contract_logic_error() -> None:
    data = LOCKED + encode(["uint256", "uint8"], [1, 3])
    hexdata = "0x" + data.hex()
    assert revert_data_from_exception(ContractCustomError(hexdata, data=hexdata)) == data
    assert revert_data_from_exception(ContractLogicError("execution reverted", data="0x")) == b""
    panic = "0x4e487b71" + "00" * 31 + "01"
    assert revert_data_from_exception(ContractPanicError("p", data=panic)) == bytes.fromhex(
        panic[2:]
    )


def test_revert_data_is_taken_from_eth_tester_bytes_literal() -> None:
    data = LOCKED + encode(["uint256", "uint8"], [5, 4])
    failed = TransactionFailed(f"execution reverted: {data!r}")
    assert revert_data_from_exception(failed) == data


def test_eth_tester_decoded_reason_string_is_re_encoded_as_error_string() -> None:
    failed = TransactionFailed("execution reverted: not allowed")
    data = revert_data_from_exception(failed)
    assert data is not None
    error = decode_revert_data(data, {})
    assert (error.name, error.args) == ("Error", ("not allowed",))


def test_non_revert_exceptions_carry_no_revert_data() -> None:
    assert revert_data_from_exception(ValueError("boom")) is None
    assert revert_data_from_exception(requests.ConnectionError("refused")) is None


def test_call_revert_from_anvil_style_answer_raises_decoded_error() -> None:
    data = "0x" + (LOCKED + encode(["uint256", "uint8"], [9, 2])).hex()
    client = _client({"eth_call": _error("execution reverted", code=3, data=data)})
    with pytest.raises(ContractRevertError) as caught:
        client.call({"to": "0x" + "11" * 20, "data": b"\x00"})
    assert (caught.value.name, caught.value.args) == ("CertificateRegistryTokenLocked", (9, 2))


def test_estimate_gas_revert_from_eth_tester_style_exception_raises_decoded_error() -> None:
    data = LOCKED + encode(["uint256", "uint8"], [3, 1])
    client = _client({"eth_estimateGas": TransactionFailed(f"execution reverted: {data!r}")})
    with pytest.raises(ContractRevertError) as caught:
        client.estimate_gas({"to": "0x" + "11" * 20, "data": b"\x00"})
    assert (caught.value.name, caught.value.args) == ("CertificateRegistryTokenLocked", (3, 1))


def test_revert_with_unregistered_selector_is_unknown() -> None:
    client = _client({"eth_call": _error("execution reverted", code=3, data="0xcafebabe")})
    with pytest.raises(ContractRevertError) as caught:
        client.call({"to": "0x" + "11" * 20, "data": b""})
    assert (caught.value.name, caught.value.args) == ("Unknown", ("0xcafebabe",))


def test_abi_registered_later_is_used_for_decoding() -> None:
    client = ChainClient(ScriptedBackend({}))
    data = error_selector("CertificateRegistryEmptyBatch()")
    assert client.decode_revert(data).name == "Unknown"
    client.register_revert_abi(ERRORS_ABI)
    assert client.decode_revert(data).name == "CertificateRegistryEmptyBatch"


# ------------------------------------------------------------------------------ send_raw
def test_send_raw_returns_keccak_of_raw() -> None:
    client = _client({"eth_sendRawTransaction": {"result": "0x" + RAW_HASH.hex()}})
    assert client.send_raw(RAW) == bytes(RAW_HASH)


@pytest.mark.parametrize(
    "message", ["already known", "transaction already imported", "known transaction: 0xab"]
)
def test_send_raw_twice_returns_same_hash_when_node_already_has_it(message: str) -> None:
    client = _client({"eth_sendRawTransaction": _error(message, code=-32003)})
    assert client.send_raw(RAW) == bytes(RAW_HASH)


def _tx_found(params: Any) -> dict[str, Any]:
    return {"result": None}


@pytest.mark.parametrize(
    "message", ["nonce too low", "Invalid transaction nonce: Expected 5, but got 3"]
)
def test_send_raw_nonce_too_low_for_a_foreign_tx_raises_nonce_too_low(message: str) -> None:
    client = _client(
        {"eth_sendRawTransaction": _error(message), "eth_getTransactionByHash": _tx_found}
    )
    with pytest.raises(NonceTooLowError):
        client.send_raw(RAW)


def test_send_raw_nonce_too_low_for_our_own_mined_tx_returns_its_hash() -> None:
    mined = {
        "result": {
            "hash": "0x" + RAW_HASH.hex(),
            "blockHash": "0x" + "00" * 32,
            "blockNumber": "0x1",
            "from": "0x" + "22" * 20,
            "to": "0x" + "00" * 20,
            "gas": "0x5208",
            "gasPrice": "0x1",
            "input": "0x",
            "nonce": "0x0",
            "transactionIndex": "0x0",
            "value": "0x0",
            "type": "0x2",
            "v": "0x0",
            "r": "0x1",
            "s": "0x1",
        }
    }
    client = _client(
        {"eth_sendRawTransaction": _error("nonce too low"), "eth_getTransactionByHash": mined}
    )
    assert client.send_raw(RAW) == bytes(RAW_HASH)


def test_send_raw_nonce_gap_on_eth_tester_is_a_rejection_not_nonce_too_low() -> None:
    client = _client(
        {"eth_sendRawTransaction": ValueError("Invalid transaction nonce: Expected 3, but got 5")}
    )
    with pytest.raises(TransactionRejectedError, match="Expected 3"):
        client.send_raw(RAW)


def test_send_raw_other_refusal_is_transaction_rejected() -> None:
    client = _client({"eth_sendRawTransaction": _error("insufficient funds for gas * price")})
    with pytest.raises(TransactionRejectedError) as caught:
        client.send_raw(RAW)
    assert "insufficient funds" in caught.value.reason


# ------------------------------------------------------------------------------ outages
@pytest.mark.parametrize(
    "failure",
    [
        requests.ConnectionError("Connection refused"),
        requests.ReadTimeout("read timed out"),
        ConnectionResetError("reset"),
        TimeoutError("timed out"),
    ],
)
def test_unreachable_node_raises_chain_unavailable_on_every_method(failure: Exception) -> None:
    client = _client(
        dict.fromkeys(
            [
                "eth_chainId",
                "eth_blockNumber",
                "eth_getBlockByNumber",
                "eth_getTransactionCount",
                "eth_getBalance",
                "eth_call",
                "eth_estimateGas",
                "eth_sendRawTransaction",
                "eth_getTransactionReceipt",
                "eth_maxPriorityFeePerGas",
            ],
            failure,
        )
    )
    address = "0x" + "11" * 20
    calls: list[Callable[[], object]] = [
        client.identity,
        client.block_number,
        lambda: client.block_hash(1),
        lambda: client.nonce(address),
        lambda: client.balance(address),
        client.fees,
        lambda: client.call({"to": address, "data": b""}),
        lambda: client.estimate_gas({"to": address, "data": b""}),
        lambda: client.send_raw(RAW),
        lambda: client.receipt(b"\x00" * 32),
    ]
    for call in calls:
        with pytest.raises(ChainUnavailableError) as caught:
            call()
        assert caught.value.__cause__ is failure


def test_other_node_errors_become_chain_error_with_cause() -> None:
    client = _client({"eth_blockNumber": _error("internal error", code=-32603)})
    with pytest.raises(ChainError) as caught:
        client.block_number()
    assert not isinstance(caught.value, ChainUnavailableError)
    assert caught.value.__cause__ is not None


def test_missing_receipt_and_block_are_none() -> None:
    client = _client(
        {"eth_getTransactionReceipt": {"result": None}, "eth_getBlockByNumber": {"result": None}}
    )
    assert client.receipt(b"\x01" * 32) is None
    assert client.block_hash(99) is None


# ------------------------------------------------------------------------------ py-evm
@pytest.fixture(scope="module")
def pyevm() -> Any:
    backend = PyEvmBackend(sender_private_key="0x" + "77" * 32)
    backend.start()
    yield backend
    backend.stop()


def test_pyevm_backend_funds_a_sender_key_that_is_not_an_eth_tester_account(pyevm: Any) -> None:
    client = ChainClient(pyevm)
    stranger = Account.from_key("0x" + "77" * 32)
    assert client.balance(stranger.address) == 10**24
    assert client.balance(Account.from_key(PYEVM_DEV_PRIVATE_KEY).address) == 10**24


def test_fees_leave_room_for_base_fee_growth(pyevm: Any) -> None:
    fees = ChainClient(pyevm).fees()
    assert fees.max_priority_fee_per_gas > 0
    assert fees.max_fee_per_gas >= 2 * 10**9 + fees.max_priority_fee_per_gas - 10**9


def test_stopped_pyevm_backend_is_unavailable() -> None:
    backend = PyEvmBackend()
    with pytest.raises(ChainUnavailableError):
        ChainClient(backend).block_number()
