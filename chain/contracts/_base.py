"""What every typed contract wrapper shares: ABI lookup, calldata encoding and view calls.

Each wrapper in :mod:`chain.contracts` subclasses :class:`ContractWrapper` and adds one typed
method per function it exposes; the plumbing (selectors, ABI encoding, decoding view output,
the cached chain id for EIP-712 domains) lives here once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_hash.auto import keccak
from eth_utils.abi import collapse_if_tuple
from eth_utils.address import to_checksum_address

from chain.artifacts import Artifact
from chain.client import ChainClient
from chain.errors import ChainError, ContractRevertError


@dataclass(frozen=True)
class AbiFunction:
    """One function of a contract ABI: its selector and canonical input and output types."""

    name: str
    selector: bytes
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]


class ContractWrapper:
    """A deployed contract known by its artifact: encodes calls and reads views.

    Args:
        client: the chain client (its revert decoding learns this contract's errors).
        address: the deployed contract.
        artifact: the compiled contract (for the ABI).
    """

    def __init__(self, client: ChainClient, address: str, artifact: Artifact) -> None:
        self._client = client
        self.address = to_checksum_address(address)
        self.artifact = artifact
        self._functions: dict[str, AbiFunction] = {}
        for entry in artifact.abi:
            if entry.get("type") != "function":
                continue
            inputs = tuple(collapse_if_tuple(dict(i)) for i in entry.get("inputs", []))
            outputs = tuple(collapse_if_tuple(dict(o)) for o in entry.get("outputs", []))
            signature = f"{entry['name']}({','.join(inputs)})"
            fn = AbiFunction(entry["name"], bytes(keccak(signature.encode()))[:4], inputs, outputs)
            self._functions[signature] = fn
            self._functions.setdefault(entry["name"], fn)
        client.register_revert_abi(artifact.abi)
        self._chain_id: int | None = None

    @property
    def client(self) -> ChainClient:
        """The chain client this wrapper calls through."""
        return self._client

    def encode(self, function: str, *args: Any) -> bytes:
        """Encode calldata for any function of the ABI.

        Args:
            function: a name (first overload) or full signature like
                ``"safeTransferFrom(address,address,uint256,bytes)"``.
            *args: arguments in ABI order (tuples for structs).

        Returns:
            selector + ABI-encoded arguments.

        Raises:
            ValueError: if the function is unknown or an argument does not fit its type.
        """
        fn = self._function(function)
        if len(args) != len(fn.inputs):
            raise ValueError(f"{fn.name} takes {len(fn.inputs)} arguments, got {len(args)}")
        try:
            return fn.selector + abi_encode(list(fn.inputs), list(args))
        except Exception as exc:  # eth_abi.exceptions.EncodingError and friends
            raise ValueError(f"cannot encode {fn.name}{args!r}: {exc}") from exc

    def _function(self, function: str) -> AbiFunction:
        try:
            return self._functions[function]
        except KeyError:
            raise ValueError(
                f"{self.artifact.contract_name} has no function {function!r}"
            ) from None

    def _view(self, function: str, *args: Any) -> tuple[Any, ...]:
        fn = self._function(function)
        raw = self._client.call({"to": self.address, "data": self.encode(function, *args)})
        try:
            return tuple(abi_decode(list(fn.outputs), raw))
        except Exception as exc:  # eth_abi.exceptions.DecodingError: not this contract?
            raise ChainError(
                f"cannot decode {fn.name} output from {self.address}: 0x{raw.hex()}"
            ) from exc

    def chain_id(self) -> int:
        """Return (and cache) the chain id, for EIP-712 domains."""
        if self._chain_id is None:
            self._chain_id = self._client.identity().chain_id
        return self._chain_id

    def decode_revert(self, data: bytes) -> ContractRevertError:
        """Decode revert data of this contract.

        Args:
            data: raw revert data.

        Returns:
            The decoded :class:`ContractRevertError` (``"Unknown"`` for a foreign selector).
        """
        return self._client.decode_revert(data)
