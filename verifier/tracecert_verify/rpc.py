"""The registry's views over plain JSON-RPC (eth_call) with urllib."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from tracecert_verify.hashing import keccak256


class ChainUnreachableError(Exception):
    """Raised when the JSON-RPC endpoint cannot be reached or answers with an error."""


def _selector(signature: str) -> bytes:
    return keccak256(signature.encode("ascii"))[:4]


class Registry:
    def __init__(self, url: str, address: str, timeout_s: float = 30.0) -> None:
        self.url, self.address, self.timeout_s = url, address, timeout_s
        self._id = 0

    def _rpc(self, method: str, params: list[Any]) -> Any:
        self._id += 1
        body = json.dumps({"jsonrpc": "2.0", "id": self._id, "method": method, "params": params})
        request = urllib.request.Request(
            self.url, data=body.encode(), headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                answer = json.loads(response.read())
        except (OSError, ValueError, urllib.error.URLError) as exc:
            raise ChainUnreachableError(f"{self.url}: {exc}") from exc
        if "error" in answer:
            raise ChainUnreachableError(f"{method}: {answer['error']}")
        return answer["result"]

    def _call(self, signature: str, *words: bytes) -> bytes:
        data = "0x" + (_selector(signature) + b"".join(words)).hex()
        result = self._rpc("eth_call", [{"to": self.address, "data": data}, "latest"])
        return bytes.fromhex(result[2:])

    def chain_id(self) -> int:
        return int(self._rpc("eth_chainId", []), 16)

    def genesis_hash(self) -> str:
        return str(self._rpc("eth_getBlockByNumber", ["0x0", False])["hash"])

    def log_root(self, size: int) -> bytes:
        return self._call("logRoot(uint64)", size.to_bytes(32, "big"))[:32]

    def batch(self, chain_batch_id: bytes) -> dict[str, Any]:
        """The registry's BatchRecord: root, itemCount, anchoredAt, recalled, metadataHash."""
        out = self._call("batch(bytes32)", chain_batch_id)
        words = [out[i : i + 32] for i in range(0, 160, 32)]
        return {
            "root": words[0],
            "item_count": int.from_bytes(words[1], "big"),
            "anchored_at": int.from_bytes(words[2], "big"),
            "recalled": int.from_bytes(words[3], "big") != 0,
            "metadata_hash": words[4],
        }

    def attestation_count(self, chain_batch_id: bytes) -> int:
        """How many attestations the registry holds for the batch (``attestationCount``)."""
        return int.from_bytes(self._call("attestationCount(bytes32)", chain_batch_id)[:32], "big")

    def lock(self, token_id: int) -> str:
        """The token's lock state as the registry's views give it: ``active``, ``gift escrow``,
        ``pledged``, ``in custody``, ``in custody, redemption requested``, ``redeemed``, or
        ``none`` (never claimed). ``certificate(uint256)`` returns the struct
        (batchId, state, counterparty, since, redemptionRequested), state an enum
        None/Active/Pledged/InCustody/Redeemed; ``gift(uint256)`` returns (giver, claimKey,
        expiry, nonce), giver zero when no gift is pending."""
        word = token_id.to_bytes(32, "big")
        out = self._call("certificate(uint256)", word)
        state, requested = int.from_bytes(out[32:64], "big"), out[128:160] != bytes(32)
        if state == 1 and self._call("gift(uint256)", word)[:32] != bytes(32):
            return "gift escrow"
        if state == 3 and requested:
            return "in custody, redemption requested"
        names = {0: "none", 1: "active", 2: "pledged", 3: "in custody", 4: "redeemed"}
        return names.get(state, f"unknown state {state}")

    def owner_of(self, token_id: int) -> str | None:
        """The token's owner, or None when it does not exist (the call reverts)."""
        try:
            out = self._call("ownerOf(uint256)", token_id.to_bytes(32, "big"))
        except ChainUnreachableError as exc:
            if "revert" in str(exc).lower() or "execution" in str(exc).lower():
                return None
            raise
        return "0x" + out[12:32].hex()
