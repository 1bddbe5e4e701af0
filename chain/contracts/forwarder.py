"""Typed wrapper of ``TracecertForwarder`` (OpenZeppelin ``ERC2771Forwarder``), and its requests.

The service has one sending account, but lifecycle calls of the registry must come from the
certificate's owner (or pledgee, custodian, giver). The owner signs an EIP-712
``ForwardRequest``; the sender submits it through the forwarder, which checks the signature and
nonce and calls the registry with the signer appended to the calldata (ERC-2771), so the
registry acts as the signer.

Signing and recovery here need no chain: a self-custody signature can be checked off chain
(:func:`recover_forward_request_signer`) before anything is queued. Writes are only *encoded*
(calldata for the outbox), as in :mod:`chain.contracts.certificate_registry`.

Nonces are sequential per signer: a request signed over nonce ``n`` is valid only once the
forwarder's ``nonces(signer)`` is ``n``, and ``execute`` consumes it only when the relayed call
succeeds (a reverted call reverts the whole ``execute``, nonce included).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_account.messages import SignableMessage, encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_hash.auto import keccak
from eth_utils.address import to_checksum_address

from chain.contracts._base import ContractWrapper

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"

#: EIP-712 domain name and version of the forwarder (version "1" is set by OpenZeppelin).
EIP712_NAME = "TracecertForwarder"
EIP712_VERSION = "1"

#: ``ForwardRequest(address from,address to,uint256 value,uint256 gas,uint256 nonce,uint48
#: deadline,bytes data)`` as OpenZeppelin's ERC2771Forwarder hashes it.
FORWARD_REQUEST_TYPES: dict[str, list[dict[str, str]]] = {
    "ForwardRequest": [
        {"name": "from", "type": "address"},
        {"name": "to", "type": "address"},
        {"name": "value", "type": "uint256"},
        {"name": "gas", "type": "uint256"},
        {"name": "nonce", "type": "uint256"},
        {"name": "deadline", "type": "uint48"},
        {"name": "data", "type": "bytes"},
    ]
}


@dataclass(frozen=True)
class ForwardRequest:
    """One call to relay: ``from_`` asks the forwarder to call ``to`` with ``data``.

    ``gas`` is the gas the forwarder passes to the call (the relayer pays up to that much);
    ``nonce`` must equal the forwarder's ``nonces(from_)`` when the request is executed;
    ``deadline`` is the last unix time (``uint48``) at which it may run.
    """

    from_: str
    to: str
    value: int
    gas: int
    nonce: int
    deadline: int
    data: bytes

    def as_abi(self, signature: bytes) -> tuple[str, str, int, int, int, bytes, bytes]:
        """Return ``ForwardRequestData(from, to, value, gas, deadline, data, signature)``.

        The struct ``execute`` takes carries no nonce: the forwarder reads its own.
        """
        return (
            to_checksum_address(self.from_),
            to_checksum_address(self.to),
            self.value,
            self.gas,
            self.deadline,
            bytes(self.data),
            bytes(signature),
        )


def _typed_data(request: ForwardRequest, chain_id: int, forwarder_address: str) -> SignableMessage:
    return encode_typed_data(
        domain_data={
            "name": EIP712_NAME,
            "version": EIP712_VERSION,
            "chainId": chain_id,
            "verifyingContract": to_checksum_address(forwarder_address),
        },
        message_types=FORWARD_REQUEST_TYPES,
        message_data={
            "from": to_checksum_address(request.from_),
            "to": to_checksum_address(request.to),
            "value": request.value,
            "gas": request.gas,
            "nonce": request.nonce,
            "deadline": request.deadline,
            "data": bytes(request.data),
        },
    )


def forward_request_digest(request: ForwardRequest, chain_id: int, forwarder_address: str) -> bytes:
    """Return the EIP-712 digest the forwarder recovers the signer from.

    Args:
        request: the request (with the nonce it is signed over).
        chain_id: the chain id of the domain.
        forwarder_address: the forwarder (the domain's ``verifyingContract``).

    Returns:
        ``keccak256(0x1901 || domainSeparator || hashStruct(request))``.
    """
    signable = _typed_data(request, chain_id, forwarder_address)
    return bytes(keccak(b"\x19" + signable.version + signable.header + signable.body))


def sign_forward_request(
    signer: LocalAccount, request: ForwardRequest, chain_id: int, forwarder_address: str
) -> bytes:
    """Sign a ``ForwardRequest`` (EIP-712) as the forwarder checks it.

    Args:
        signer: the account the request acts as; must be ``request.from_``.
        request: the request, with the signer's nonce at execution time.
        chain_id: the chain id of the domain.
        forwarder_address: the forwarder that will execute it.

    Returns:
        The 65-byte signature ``r || s || v``.

    Raises:
        ValueError: if ``signer`` is not ``request.from_`` (the forwarder would refuse it).
    """
    if to_checksum_address(signer.address) != to_checksum_address(request.from_):
        raise ValueError(f"request is from {request.from_}, signer is {signer.address}")
    signable = _typed_data(request, chain_id, forwarder_address)
    return bytes(signer.sign_message(signable).signature)


def recover_forward_request_signer(
    request: ForwardRequest, signature: bytes, chain_id: int, forwarder_address: str
) -> str:
    """Recover who signed ``request`` for this forwarder and chain.

    The forwarder accepts the request only if this equals ``request.from_`` (and the nonce and
    deadline hold); a signature made for another chain, forwarder or nonce recovers to some
    other address.

    Args:
        request: the request as it will be submitted.
        signature: the 65-byte signature.
        chain_id: the chain id of the domain.
        forwarder_address: the forwarder.

    Returns:
        The checksummed signer address.

    Raises:
        ValueError: if the signature is malformed (wrong length, invalid ``v``/``s``).
    """
    signable = _typed_data(request, chain_id, forwarder_address)
    try:
        return to_checksum_address(Account.recover_message(signable, signature=bytes(signature)))
    except Exception as exc:  # eth_keys BadSignature, ValueError: a malformed signature
        raise ValueError(f"malformed forward request signature: {exc}") from exc


class Forwarder(ContractWrapper):
    """The ``TracecertForwarder`` at ``address``.

    ``encode_*`` methods return calldata for the outbox and raise ``ValueError`` when an argument
    does not fit its ABI type. Views raise :class:`~chain.errors.ChainUnavailableError` when the
    node cannot be reached and :class:`~chain.errors.ChainError` on any other failure.

    Args:
        client: the chain client (its revert decoding learns the forwarder's errors).
        address: the deployed forwarder.
        artifact: the compiled ``TracecertForwarder`` (for the ABI).
    """

    # ------------------------------------------------------------------ EIP-712
    def request(
        self, from_: str, to: str, data: bytes, *, gas: int, deadline: int, value: int = 0
    ) -> ForwardRequest:
        """Build a request at ``from_``'s current forwarder nonce (read from the chain).

        Raises:
            ChainUnavailableError: if the node cannot be reached.
            ChainError: on any other failure.
        """
        return ForwardRequest(
            from_=to_checksum_address(from_),
            to=to_checksum_address(to),
            value=value,
            gas=gas,
            nonce=self.nonces(from_),
            deadline=deadline,
            data=bytes(data),
        )

    def sign(self, signer: LocalAccount, request: ForwardRequest) -> bytes:
        """Sign ``request`` for this forwarder (see :func:`sign_forward_request`)."""
        return sign_forward_request(signer, request, self.chain_id(), self.address)

    def recover_signer(self, request: ForwardRequest, signature: bytes) -> str:
        """Recover the signer for this forwarder (see :func:`recover_forward_request_signer`)."""
        return recover_forward_request_signer(request, signature, self.chain_id(), self.address)

    # ------------------------------------------------------------------ write encoders
    def encode_execute(self, request: ForwardRequest, signature: bytes) -> bytes:
        """Calldata for ``execute(ForwardRequestData)`` (anyone; ``msg.value`` = ``request.value``).

        The transaction reverts (``FailedCall()``, no nonce used) if the relayed call reverts,
        and with the forwarder's own errors for a bad signature, nonce, deadline or target.
        """
        return self.encode("execute", request.as_abi(signature))

    def encode_execute_batch(
        self,
        signed: Sequence[tuple[ForwardRequest, bytes]],
        refund_receiver: str = ZERO_ADDRESS,
    ) -> bytes:
        """Calldata for ``executeBatch(ForwardRequestData[], address refundReceiver)``.

        With the zero ``refund_receiver`` the batch is all or nothing: any invalid request
        reverts it. With another address, invalid requests are skipped and failed calls are
        reported by ``ExecutedForwardRequest(signer, nonce, false)``; their value is refunded there.
        """
        return self.encode(
            "executeBatch",
            [request.as_abi(signature) for request, signature in signed],
            to_checksum_address(refund_receiver),
        )

    # ------------------------------------------------------------------ views
    def nonces(self, owner: str) -> int:
        """Return the nonce ``owner``'s next request must be signed over."""
        return int(self._view("nonces", to_checksum_address(owner))[0])

    def verify(self, request: ForwardRequest, signature: bytes) -> bool:
        """Tell whether ``execute`` would accept the request now (signer, nonce, deadline, target).

        It does not tell whether the relayed call itself would succeed.
        """
        return bool(self._view("verify", request.as_abi(signature))[0])

    def eip712_domain(self) -> dict[str, Any]:
        """Return the forwarder's EIP-712 domain as the contract reports it (ERC-5267)."""
        _, name, version, chain_id, verifying_contract, _, _ = self._view("eip712Domain")
        return {
            "name": str(name),
            "version": str(version),
            "chainId": int(chain_id),
            "verifyingContract": to_checksum_address(verifying_contract),
        }
