"""Forward requests without a chain: EIP-712 signing and recovery, and the forwarder's calldata."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from eth_abi.abi import decode, encode
from eth_account import Account
from eth_keys import keys
from eth_utils.abi import collapse_if_tuple

from chain.artifacts import Artifact
from chain.backends import PyEvmBackend
from chain.client import ChainClient
from chain.contracts.forwarder import (
    Forwarder,
    ForwardRequest,
    forward_request_digest,
    recover_forward_request_signer,
    sign_forward_request,
)
from chain.merkle import keccak256

FORWARDER = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
REGISTRY = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"
OWNER = Account.from_key("0x" + "a1" * 32)
MALLORY = Account.from_key("0x" + "e1" * 32)
CHAIN_ID = 31337
REQUEST = ForwardRequest(
    from_=OWNER.address,
    to=REGISTRY,
    value=0,
    gas=250_000,
    nonce=4,
    deadline=1_900_000_000,
    data=bytes.fromhex("e75fa0f6") + b"\x00" * 64,
)


@pytest.fixture
def wrapper(forwarder_artifact: Artifact) -> Forwarder:
    # No chain is needed to encode; the client is never asked anything here.
    return Forwarder(ChainClient(PyEvmBackend()), FORWARDER, forwarder_artifact)


def _solidity_digest(request: ForwardRequest, chain_id: int, forwarder: str) -> bytes:
    """What ERC2771Forwarder hashes, computed by hand as Solidity does."""
    domain_type = keccak256(
        b"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
    )
    domain = keccak256(
        encode(
            ["bytes32", "bytes32", "bytes32", "uint256", "address"],
            [domain_type, keccak256(b"TracecertForwarder"), keccak256(b"1"), chain_id, forwarder],
        )
    )
    request_type = keccak256(
        b"ForwardRequest(address from,address to,uint256 value,uint256 gas,uint256 nonce,"
        b"uint48 deadline,bytes data)"
    )
    struct_hash = keccak256(
        encode(
            ["bytes32", "address", "address", "uint256", "uint256", "uint256", "uint48", "bytes32"],
            [
                request_type,
                request.from_,
                request.to,
                request.value,
                request.gas,
                request.nonce,
                request.deadline,
                keccak256(request.data),
            ],
        )
    )
    return keccak256(b"\x19\x01" + domain + struct_hash)


def test_digest_matches_the_one_the_forwarder_computes() -> None:
    assert forward_request_digest(REQUEST, CHAIN_ID, FORWARDER) == _solidity_digest(
        REQUEST, CHAIN_ID, FORWARDER
    )


def test_signature_recovers_to_the_signer_round_trip() -> None:
    signature = sign_forward_request(OWNER, REQUEST, CHAIN_ID, FORWARDER)
    assert len(signature) == 65
    assert recover_forward_request_signer(REQUEST, signature, CHAIN_ID, FORWARDER) == OWNER.address
    # Recovered again over the hand-computed digest, with eth_keys rather than eth-account.
    digest = _solidity_digest(REQUEST, CHAIN_ID, FORWARDER)
    v = signature[64] - 27 if signature[64] >= 27 else signature[64]
    recovered = keys.Signature(signature[:64] + bytes([v])).recover_public_key_from_msg_hash(digest)
    assert recovered.to_checksum_address() == OWNER.address


@pytest.mark.parametrize(
    "change",
    [
        {"chain_id": CHAIN_ID + 1},
        {"forwarder_address": REGISTRY},
        {"request": replace(REQUEST, nonce=REQUEST.nonce + 1)},
        {"request": replace(REQUEST, data=REQUEST.data + b"\x00")},
        {"request": replace(REQUEST, gas=REQUEST.gas + 1)},
        {"request": replace(REQUEST, deadline=REQUEST.deadline + 1)},
    ],
    ids=["chain id", "forwarder", "nonce", "data", "gas", "deadline"],
)
def test_any_other_domain_or_request_recovers_someone_else(change: dict[str, Any]) -> None:
    signature = sign_forward_request(OWNER, REQUEST, CHAIN_ID, FORWARDER)
    context: dict[str, Any] = {
        "request": REQUEST,
        "chain_id": CHAIN_ID,
        "forwarder_address": FORWARDER,
        **change,
    }
    assert recover_forward_request_signer(signature=signature, **context) != OWNER.address


def test_a_request_in_someone_elses_name_is_not_signed() -> None:
    with pytest.raises(ValueError, match="signer is"):
        sign_forward_request(MALLORY, REQUEST, CHAIN_ID, FORWARDER)


@pytest.mark.parametrize("signature", [b"", b"\x01" * 64, b"\x01" * 64 + b"\x05"])
def test_a_malformed_signature_is_a_value_error(signature: bytes) -> None:
    with pytest.raises(ValueError, match="malformed"):
        recover_forward_request_signer(REQUEST, signature, CHAIN_ID, FORWARDER)


def _decode_call(artifact: Artifact, name: str, data: bytes) -> tuple[Any, ...]:
    entry = next(e for e in artifact.abi if e.get("type") == "function" and e["name"] == name)
    types = [collapse_if_tuple(i) for i in entry["inputs"]]
    assert data[:4] == keccak256(f"{name}({','.join(types)})".encode())[:4]
    return tuple(decode(types, data[4:]))


def _lower(value: Any) -> Any:
    if isinstance(value, str):
        return value.lower()
    if isinstance(value, (tuple, list)):
        return tuple(_lower(v) for v in value)
    return value


def test_execute_carries_the_request_data_without_its_nonce(wrapper: Forwarder) -> None:
    signature = b"\x07" * 65
    (struct,) = _decode_call(
        wrapper.artifact, "execute", wrapper.encode_execute(REQUEST, signature)
    )
    assert _lower(struct) == _lower(
        (OWNER.address, REGISTRY, 0, 250_000, 1_900_000_000, REQUEST.data, signature)
    )


def test_execute_batch_carries_every_request_and_the_refund_receiver(
    wrapper: Forwarder,
) -> None:
    second = replace(REQUEST, nonce=5, data=b"\x01\x02")
    data = wrapper.encode_execute_batch(
        [(REQUEST, b"\x07" * 65), (second, b"\x08" * 65)], MALLORY.address
    )
    structs, refund = _decode_call(wrapper.artifact, "executeBatch", data)
    assert [s[5] for s in structs] == [REQUEST.data, b"\x01\x02"]
    assert [s[6] for s in structs] == [b"\x07" * 65, b"\x08" * 65]
    assert refund.lower() == MALLORY.address.lower()
    _, no_refund = _decode_call(
        wrapper.artifact, "executeBatch", wrapper.encode_execute_batch([(REQUEST, b"")])
    )
    assert int(no_refund, 16) == 0


def test_a_deadline_beyond_uint48_cannot_be_encoded(wrapper: Forwarder) -> None:
    with pytest.raises(ValueError):
        wrapper.encode_execute(replace(REQUEST, deadline=2**48), b"\x07" * 65)
