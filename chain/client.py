"""A narrow, typed JSON-RPC client over a :class:`~chain.backends.Backend`.

Every method maps the node's failures onto the :mod:`chain.errors` tree; no web3, requests or
eth-tester exception leaves this module. Reverts are decoded against the error ABIs the client
knows (custom errors, plus the standard ``Error(string)`` and ``Panic(uint256)``).
"""

from __future__ import annotations

import ast
import re
import socket
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import requests
from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_hash.auto import keccak
from eth_utils.abi import collapse_if_tuple
from eth_utils.address import to_checksum_address
from web3 import Web3
from web3.exceptions import (
    BlockNotFound,
    ContractLogicError,
    ProviderConnectionError,
    RequestTimedOut,
    TimeExhausted,
    TransactionNotFound,
    Web3RPCError,
)

from chain.backends import Backend
from chain.errors import (
    ChainError,
    ChainUnavailableError,
    ContractRevertError,
    NonceTooLowError,
    TransactionRejectedError,
)

try:  # eth-tester reports reverts with its own exception type; it is optional at runtime.
    from eth_tester.exceptions import TransactionFailed as _TesterTransactionFailed
except ImportError:  # pragma: no cover - eth-tester is a pinned dependency

    class _TesterTransactionFailed(Exception):  # type: ignore[no-redef]
        pass


ERROR_STRING_SELECTOR = bytes.fromhex("08c379a0")  # Error(string)
PANIC_SELECTOR = bytes.fromhex("4e487b71")  # Panic(uint256)

_UNAVAILABLE: tuple[type[BaseException], ...] = (
    requests.RequestException,
    ConnectionError,
    socket.timeout,
    TimeoutError,
    ProviderConnectionError,
    RequestTimedOut,
    TimeExhausted,
)
_ETH_TESTER_NONCE = re.compile(r"nonce:\s*expected\s*(\d+),\s*but got\s*(\d+)", re.IGNORECASE)


@dataclass(frozen=True)
class ChainIdentity:
    """Which chain a node serves: its chain id and the hash of its genesis block."""

    chain_id: int
    genesis_hash: bytes


@dataclass(frozen=True)
class Fees:
    """EIP-1559 fees to sign a transaction with (wei per gas)."""

    max_fee_per_gas: int
    max_priority_fee_per_gas: int


@dataclass(frozen=True)
class LogEntry:
    """One event log of a receipt (raw; contract wrappers decode it)."""

    address: str
    topics: tuple[bytes, ...]
    data: bytes
    log_index: int


@dataclass(frozen=True)
class Receipt:
    """A transaction receipt, as far as tracecert needs it."""

    tx_hash: bytes
    block_number: int
    block_hash: bytes
    status: int
    gas_used: int
    contract_address: bytes | None
    logs: tuple[LogEntry, ...]


@dataclass(frozen=True)
class _ErrorAbi:
    name: str
    types: tuple[str, ...]


def error_selector(signature: str) -> bytes:
    """Return the 4-byte selector of an error or function signature such as ``"Foo(uint256)"``."""
    return bytes(keccak(signature.encode()))[:4]


def error_abis_by_selector(
    abi: Iterable[Mapping[str, Any]],
) -> dict[bytes, tuple[str, tuple[str, ...]]]:
    """Index the ``error`` entries of an ABI by selector.

    Args:
        abi: a contract ABI (a list of JSON entries).

    Returns:
        ``{selector: (name, (abi type, ...))}``.
    """
    table: dict[bytes, tuple[str, tuple[str, ...]]] = {}
    for entry in abi:
        if entry.get("type") != "error":
            continue
        types = tuple(collapse_if_tuple(dict(inp)) for inp in entry.get("inputs", []))
        table[error_selector(f"{entry['name']}({','.join(types)})")] = (entry["name"], types)
    return table


def decode_revert_data(
    data: bytes, errors: Mapping[bytes, tuple[str, tuple[str, ...]]]
) -> ContractRevertError:
    """Decode raw revert data into a :class:`ContractRevertError`.

    Args:
        data: the revert data (selector + ABI-encoded arguments), possibly empty.
        errors: custom errors by selector (see :func:`error_abis_by_selector`).

    Returns:
        ``ContractRevertError(name, args)``; ``"Error"``/``"Panic"`` for the standard errors and
        ``("Unknown", ("0x...",))`` when the selector is unknown or the arguments do not decode.
    """
    selector, body = data[:4], data[4:]
    known: tuple[str, tuple[str, ...]] | None
    if selector == ERROR_STRING_SELECTOR:
        known = ("Error", ("string",))
    elif selector == PANIC_SELECTOR:
        known = ("Panic", ("uint256",))
    else:
        known = errors.get(selector) if len(data) >= 4 else None
    if known is not None:
        name, types = known
        try:
            values = abi_decode(list(types), body, strict=False)
            return ContractRevertError(
                name,
                tuple(
                    to_checksum_address(v) if t == "address" else v
                    for t, v in zip(types, values, strict=True)
                ),
            )
        except Exception:  # malformed arguments: report the raw data instead
            pass
    return ContractRevertError("Unknown", ("0x" + data.hex(),))


def revert_data_from_exception(exc: BaseException) -> bytes | None:
    """Extract the raw revert data from a node's revert error, whatever node raised it.

    anvil (and geth-like nodes) answer with a JSON-RPC error carrying ``data`` as hex, which
    web3 turns into ``ContractLogicError(data="0x...")``. eth-tester instead raises its own
    ``TransactionFailed("execution reverted: b'...'")`` with the bytes as a Python literal, or
    with the already decoded reason for ``Error(string)`` (re-encoded here).

    Args:
        exc: the exception raised by ``eth_call``/``eth_estimateGas``.

    Returns:
        The revert data, or ``None`` if ``exc`` is not a revert.
    """
    if isinstance(exc, ContractLogicError):
        data = exc.data
        if isinstance(data, dict):
            data = data.get("data")
        if isinstance(data, str) and (data == "0x" or data.startswith("0x")):
            try:
                return bytes.fromhex(data[2:])
            except ValueError:
                pass
        return b""
    if isinstance(exc, _TesterTransactionFailed):
        message = str(exc.args[0]) if exc.args else ""
        prefix = "execution reverted: "
        reason = message[len(prefix) :] if message.startswith(prefix) else message
        if reason[:2] in ("b'", 'b"'):
            try:
                literal = ast.literal_eval(reason)
            except (ValueError, SyntaxError):
                literal = None
            if isinstance(literal, bytes):
                return literal
        return ERROR_STRING_SELECTOR + abi_encode(["string"], [reason])
    if isinstance(exc, Web3RPCError) and exc.rpc_response is not None:
        error = exc.rpc_response.get("error")
        if isinstance(error, Mapping) and "revert" in str(error.get("message", "")).lower():
            data = error.get("data")
            if isinstance(data, str) and data.startswith("0x"):
                return bytes.fromhex(data[2:])
            return b""
    return None


def _message(exc: BaseException) -> str:
    if isinstance(exc, Web3RPCError) and exc.rpc_response is not None:
        error = exc.rpc_response.get("error")
        if isinstance(error, Mapping):
            return str(error.get("message", exc))
    if isinstance(exc, Web3RPCError):
        return str(exc.message)
    return str(exc.args[0]) if exc.args else str(exc)


def _is_unavailable(exc: BaseException) -> bool:
    return isinstance(exc, _UNAVAILABLE)


def _as_chain_error(exc: Exception, what: str) -> ChainError:
    if _is_unavailable(exc):
        return ChainUnavailableError(f"{what}: node unreachable: {exc}")
    return ChainError(f"{what} failed: {type(exc).__name__}: {_message(exc)}")


class ChainClient:
    """Typed access to one chain through a :class:`~chain.backends.Backend`.

    Args:
        backend: a started backend.
        revert_abis: contract ABIs whose custom errors are decoded in reverts.
    """

    def __init__(self, backend: Backend, revert_abis: Sequence[list[Any]] = ()) -> None:
        self._backend = backend
        self._errors: dict[bytes, tuple[str, tuple[str, ...]]] = {}
        for abi in revert_abis:
            self.register_revert_abi(abi)

    @property
    def backend(self) -> Backend:
        """The backend this client talks to."""
        return self._backend

    def register_revert_abi(self, abi: Iterable[Mapping[str, Any]]) -> None:
        """Also decode the custom errors of ``abi`` in reverts.

        Args:
            abi: a contract ABI.
        """
        self._errors.update(error_abis_by_selector(abi))

    def decode_revert(self, data: bytes) -> ContractRevertError:
        """Decode revert data against the known ABIs.

        Args:
            data: raw revert data.

        Returns:
            The decoded error (``"Unknown"`` if the selector is not known).
        """
        return decode_revert_data(data, self._errors)

    @property
    def _w3(self) -> Web3:
        return self._backend.web3()

    @contextmanager
    def _mapped(self, what: str) -> Iterator[None]:
        try:
            yield
        except ChainError:
            raise
        except Exception as exc:
            raise _as_chain_error(exc, what) from exc

    @contextmanager
    def _mapped_revert(self, what: str) -> Iterator[None]:
        try:
            yield
        except ChainError:
            raise
        except Exception as exc:
            data = revert_data_from_exception(exc)
            if data is not None:
                raise self.decode_revert(data) from exc
            raise _as_chain_error(exc, what) from exc

    # ------------------------------------------------------------------ reads
    def identity(self) -> ChainIdentity:
        """Return the chain id and genesis hash the node serves.

        Returns:
            The node's :class:`ChainIdentity`.

        Raises:
            ChainUnavailableError: if the node cannot be reached.
            ChainError: on any other node failure.
        """
        with self._mapped("identity"):
            chain_id = int(self._w3.eth.chain_id)
            genesis = self._w3.eth.get_block(0)
            return ChainIdentity(chain_id=chain_id, genesis_hash=bytes(genesis["hash"]))

    def block_number(self) -> int:
        """Return the number of the latest block.

        Raises:
            ChainUnavailableError: if the node cannot be reached.
            ChainError: on any other node failure.
        """
        with self._mapped("block_number"):
            return int(self._w3.eth.block_number)

    def head(self) -> tuple[int, bytes]:
        """Return the number and hash of the latest block, read together in one call.

        Raises:
            ChainUnavailableError: if the node cannot be reached.
            ChainError: on any other node failure.
        """
        with self._mapped("head"):
            block = self._w3.eth.get_block("latest")
            return int(block["number"]), bytes(block["hash"])

    def finalized_block_number(self) -> int | None:
        """Return the number of the ``finalized`` block, or ``None`` if the node has no such tag.

        Raises:
            ChainUnavailableError: if the node cannot be reached.
        """
        try:
            with self._mapped("finalized_block_number"):
                return int(self._w3.eth.get_block("finalized")["number"])
        except ChainUnavailableError:
            raise
        except ChainError:  # an older node that does not know the tag
            return None

    def block_timestamp(self, block: str | int = "latest") -> int:
        """Return the timestamp of a block (seconds since the epoch).

        Raises:
            ChainUnavailableError: if the node cannot be reached.
            ChainError: if the block does not exist or on any other node failure.
        """
        with self._mapped("block_timestamp"):
            return int(self._w3.eth.get_block(block)["timestamp"])  # type: ignore[arg-type]

    def block_hash(self, number: int) -> bytes | None:
        """Return the hash of the canonical block ``number``.

        Args:
            number: block number.

        Returns:
            The 32-byte hash, or ``None`` if the node has no such block (yet, or any more).

        Raises:
            ChainUnavailableError: if the node cannot be reached.
            ChainError: on any other node failure.
        """
        with self._mapped("block_hash"):
            try:
                block = self._w3.eth.get_block(number)
            except BlockNotFound:
                return None
            return bytes(block["hash"])

    def nonce(self, address: str, block: str = "pending") -> int:
        """Return the transaction count of ``address``.

        Args:
            address: the account.
            block: ``"pending"`` (default, includes the mempool) or ``"latest"``.

        Returns:
            The next nonce as the node sees it.

        Raises:
            ChainUnavailableError: if the node cannot be reached.
            ChainError: on any other node failure.
        """
        with self._mapped("nonce"):
            return int(
                self._w3.eth.get_transaction_count(to_checksum_address(address), block)  # type: ignore[arg-type]
            )

    def balance(self, address: str) -> int:
        """Return the balance of ``address`` in wei at the latest block.

        Raises:
            ChainUnavailableError: if the node cannot be reached.
            ChainError: on any other node failure.
        """
        with self._mapped("balance"):
            return int(self._w3.eth.get_balance(to_checksum_address(address)))

    def code(self, address: str) -> bytes:
        """Return the runtime code at ``address`` (empty for an account without code).

        Raises:
            ChainUnavailableError: if the node cannot be reached.
            ChainError: on any other node failure.
        """
        with self._mapped("code"):
            return bytes(self._w3.eth.get_code(to_checksum_address(address)))

    def fees(self) -> Fees:
        """Suggest EIP-1559 fees: twice the latest base fee plus the node's priority fee.

        Returns:
            :class:`Fees` that stay valid through several blocks of rising base fee.

        Raises:
            ChainUnavailableError: if the node cannot be reached.
            ChainError: on any other node failure.
        """
        with self._mapped("fees"):
            latest = self._w3.eth.get_block("latest")
            base = int(latest.get("baseFeePerGas", 0) or 0)
            priority = int(self._w3.eth.max_priority_fee)
            return Fees(max_fee_per_gas=2 * base + priority, max_priority_fee_per_gas=priority)

    def estimate_gas(self, tx: dict[str, Any]) -> int:
        """Estimate the gas ``tx`` needs.

        Args:
            tx: ``from``, ``to``, ``data`` and ``value`` as for ``eth_estimateGas``.

        Returns:
            The node's estimate.

        Raises:
            ContractRevertError: if the transaction would revert (decoded).
            ChainUnavailableError: if the node cannot be reached.
            ChainError: on any other node failure.
        """
        with self._mapped_revert("estimate_gas"):
            return int(self._w3.eth.estimate_gas(_tx_params(tx)))

    def call(self, tx: dict[str, Any], block: str | int = "latest") -> bytes:
        """Execute ``tx`` without a transaction (``eth_call``).

        Args:
            tx: ``to``, ``data`` and optionally ``from``/``value``.
            block: block number or tag to execute against.

        Returns:
            The raw return data.

        Raises:
            ContractRevertError: if the call reverts (decoded).
            ChainUnavailableError: if the node cannot be reached.
            ChainError: on any other node failure.
        """
        with self._mapped_revert("call"):
            return bytes(self._w3.eth.call(_tx_params(tx), block))  # type: ignore[arg-type]

    def receipt(self, tx_hash: bytes) -> Receipt | None:
        """Return the receipt of a mined transaction.

        Args:
            tx_hash: the transaction hash.

        Returns:
            The :class:`Receipt`, or ``None`` while the transaction is not mined (or unknown).

        Raises:
            ChainUnavailableError: if the node cannot be reached.
            ChainError: on any other node failure.
        """
        with self._mapped("receipt"):
            try:
                raw = self._w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
            except TransactionNotFound:
                return None
            if raw is None:
                return None
            return _to_receipt(raw)

    def knows_transaction(self, tx_hash: bytes) -> bool:
        """Tell whether the node knows a transaction (in its mempool or mined).

        Raises:
            ChainUnavailableError: if the node cannot be reached.
            ChainError: on any other node failure.
        """
        with self._mapped("knows_transaction"):
            try:
                found = self._w3.eth.get_transaction(tx_hash)  # type: ignore[arg-type]
            except TransactionNotFound:
                return False
            return found is not None

    # ------------------------------------------------------------------ writes
    def send_raw(self, raw: bytes) -> bytes:
        """Broadcast a signed transaction; sending the same bytes again is harmless.

        "already known"/"already imported" count as sent. "nonce too low" also counts as sent
        when the node knows this very transaction (it was sent before and mined); otherwise the
        nonce went to another transaction and :class:`NonceTooLowError` is raised.

        Args:
            raw: the signed transaction (as stored by the sender before sending).

        Returns:
            The transaction hash, ``keccak(raw)``.

        Raises:
            NonceTooLowError: if the nonce was consumed by a different transaction.
            TransactionRejectedError: if the node refuses it for another reason.
            ChainUnavailableError: if the node cannot be reached (the send may or may not have
                happened; send the same bytes again).
        """
        tx_hash = bytes(keccak(raw))
        try:
            self._w3.eth.send_raw_transaction(raw)
        except Exception as exc:
            if _is_unavailable(exc):
                raise ChainUnavailableError(f"send_raw: node unreachable: {exc}") from exc
            message = _message(exc)
            lowered = message.lower()
            if (
                "already known" in lowered
                or "already imported" in lowered
                or ("known transaction" in lowered)
            ):
                return tx_hash
            if _is_nonce_too_low(lowered):
                if self.knows_transaction(tx_hash):
                    return tx_hash
                raise NonceTooLowError(f"nonce too low: {message}") from exc
            raise TransactionRejectedError(message) from exc
        return tx_hash


def _is_nonce_too_low(lowered_message: str) -> bool:
    if "nonce too low" in lowered_message:
        return True
    # eth-tester/py-evm: "Invalid transaction nonce: Expected 5, but got 3"
    match = _ETH_TESTER_NONCE.search(lowered_message)
    return match is not None and int(match.group(2)) < int(match.group(1))


def _tx_params(tx: Mapping[str, Any]) -> Any:
    params = dict(tx)
    for key in ("from", "to"):
        if isinstance(params.get(key), str):
            params[key] = to_checksum_address(params[key])
    data = params.get("data")
    if isinstance(data, (bytes, bytearray)):
        params["data"] = "0x" + bytes(data).hex()
    return params


def _to_receipt(raw: Mapping[str, Any]) -> Receipt:
    contract = raw.get("contractAddress")
    return Receipt(
        tx_hash=bytes(raw["transactionHash"]),
        block_number=int(raw["blockNumber"]),
        block_hash=bytes(raw["blockHash"]),
        status=int(raw["status"]),
        gas_used=int(raw["gasUsed"]),
        contract_address=bytes.fromhex(str(contract)[2:]) if contract else None,
        logs=tuple(
            LogEntry(
                address=to_checksum_address(entry["address"]),
                topics=tuple(bytes(t) for t in entry["topics"]),
                data=bytes(entry["data"]),
                log_index=int(entry["logIndex"]),
            )
            for entry in raw.get("logs", [])
        ),
    )


__all__ = [
    "ChainClient",
    "ChainIdentity",
    "Fees",
    "LogEntry",
    "Receipt",
    "Web3",
    "decode_revert_data",
    "error_abis_by_selector",
    "error_selector",
    "revert_data_from_exception",
]
