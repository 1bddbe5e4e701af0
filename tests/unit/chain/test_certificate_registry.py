"""CertificateRegistry wrapper without a chain: calldata encoders, roles, EIP-712 signatures."""

from __future__ import annotations

from typing import Any

import pytest
from eth_abi.abi import decode, encode
from eth_account import Account
from eth_keys import keys
from eth_utils.abi import collapse_if_tuple
from eth_utils.address import to_checksum_address

from chain.artifacts import Artifact
from chain.backends import PyEvmBackend
from chain.client import ChainClient, LogEntry, Receipt
from chain.contracts.certificate_registry import (
    CLAIM_SKIP_REASONS,
    CLAIM_SKIPPED_TOPIC,
    MAX_CLAIM_BATCH,
    ROLES,
    CertificateRegistry,
    ClaimRequest,
    ClaimSkip,
    claim_skips,
    role_id,
    sign_claim_voucher,
    sign_gift_claim,
)
from chain.merkle import keccak256, token_id_of

ADDRESS = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
ALICE = Account.from_key("0x" + "a1" * 32)
BOB = "0x" + "b0" * 20
BATCH = b"\x01" * 32
ITEM = b"\x02" * 32


@pytest.fixture
def wrapper(registry_artifact: Artifact) -> CertificateRegistry:
    # No chain is needed to encode; the client is never asked anything here.
    return CertificateRegistry(ChainClient(PyEvmBackend()), ADDRESS, registry_artifact)


def _abi_function(artifact: Artifact, name: str, arity: int) -> dict[str, Any]:
    return next(
        e
        for e in artifact.abi
        if e.get("type") == "function" and e["name"] == name and len(e["inputs"]) == arity
    )


def _decode_call(artifact: Artifact, name: str, arity: int, data: bytes) -> tuple[Any, ...]:
    entry = _abi_function(artifact, name, arity)
    types = [collapse_if_tuple(i) for i in entry["inputs"]]
    signature = f"{name}({','.join(types)})"
    assert data[:4] == keccak256(signature.encode())[:4], f"selector of {signature}"
    return tuple(decode(types, data[4:]))


REQ = ClaimRequest(BATCH, 7, ITEM, BOB)
REQ_ABI = (BATCH, 7, ITEM, BOB)
PROOF = [b"\x03" * 32, b"\x04" * 32]
CASES: list[tuple[str, tuple[Any, ...], str, tuple[Any, ...]]] = [
    (
        "encode_anchor_batch",
        (BATCH, b"\x05" * 32, 100, b"\x06" * 32),
        "anchorBatch",
        (BATCH, b"\x05" * 32, 100, b"\x06" * 32),
    ),
    ("encode_recall_batch", (BATCH, b"\x07" * 32), "recallBatch", (BATCH, b"\x07" * 32)),
    (
        "encode_attest_batch",
        (BATCH, b"\x08" * 32, "ipfs://r"),
        "attestBatch",
        (BATCH, b"\x08" * 32, "ipfs://r"),
    ),
    ("encode_anchor_log", (12, b"\x09" * 32), "anchorLog", (12, b"\x09" * 32)),
    ("encode_rewind_log", (12,), "rewindLog", (12,)),
    ("encode_claim", (REQ, PROOF), "claim", (REQ_ABI, tuple(PROOF))),
    (
        "encode_claim_batch",
        ([REQ, REQ], [PROOF, []]),
        "claimBatch",
        ((REQ_ABI, REQ_ABI), (tuple(PROOF), ())),
    ),
    (
        "encode_claim_with_voucher",
        (REQ, 99, PROOF, b"\x01" * 65),
        "claimWithVoucher",
        (REQ_ABI, 99, tuple(PROOF), b"\x01" * 65),
    ),
    ("encode_pledge", (7, BOB), "pledge", (7, BOB)),
    ("encode_release_pledge", (7,), "releasePledge", (7,)),
    ("encode_foreclose_pledge", (7,), "foreclosePledge", (7,)),
    ("encode_deposit_to_custody", (7, BOB), "depositToCustody", (7, BOB)),
    ("encode_release_custody", (7,), "releaseCustody", (7,)),
    ("encode_request_redemption", (7,), "requestRedemption", (7,)),
    ("encode_fulfil_redemption", (7,), "fulfilRedemption", (7,)),
    ("encode_redeem", (7,), "redeem", (7,)),
    ("encode_create_gift", (7, BOB, 2_000_000_000), "createGift", (7, BOB, 2_000_000_000)),
    ("encode_claim_gift", (7, BOB, b"\x02" * 65), "claimGift", (7, BOB, b"\x02" * 65)),
    ("encode_cancel_gift", (7,), "cancelGift", (7,)),
    ("encode_set_base_uri", ("https://t/",), "setBaseURI", ("https://t/",)),
    ("encode_pause", (), "pause", ()),
    ("encode_unpause", (), "unpause", ()),
    ("encode_grant_role", ("FACTORY_ROLE", BOB), "grantRole", (ROLES["FACTORY_ROLE"], BOB)),
    ("encode_revoke_role", ("relayer", BOB), "revokeRole", (ROLES["RELAYER_ROLE"], BOB)),
    ("encode_renounce_role", ("admin", BOB), "renounceRole", (b"\x00" * 32, BOB)),
    ("encode_transfer_from", (BOB, ALICE.address, 7), "transferFrom", (BOB, ALICE.address, 7)),
    ("encode_approve", (BOB, 7), "approve", (BOB, 7)),
]


@pytest.mark.parametrize(
    ("method", "args", "function", "expected"), CASES, ids=[c[0] for c in CASES]
)
def test_encoder_produces_the_functions_calldata(
    wrapper: CertificateRegistry,
    method: str,
    args: tuple[Any, ...],
    function: str,
    expected: tuple[Any, ...],
) -> None:
    data = getattr(wrapper, method)(*args)
    decoded = _decode_call(wrapper.artifact, function, len(expected), data)
    normalised = _lower(decoded)
    assert normalised == _lower(expected)


def _lower(value: Any) -> Any:
    if isinstance(value, str):
        return value.lower()
    if isinstance(value, (tuple, list)):
        return tuple(_lower(v) for v in value)
    return value


def test_every_write_function_of_the_spec_has_an_encoder(wrapper: CertificateRegistry) -> None:
    spec_writes = {
        "anchorBatch",
        "recallBatch",
        "attestBatch",
        "anchorLog",
        "rewindLog",
        "claim",
        "claimBatch",
        "claimWithVoucher",
        "pledge",
        "releasePledge",
        "foreclosePledge",
        "depositToCustody",
        "releaseCustody",
        "requestRedemption",
        "fulfilRedemption",
        "redeem",
        "createGift",
        "claimGift",
        "cancelGift",
        "setBaseURI",
        "pause",
        "unpause",
        "grantRole",
    }
    encoded = {case[2] for case in CASES}
    assert spec_writes <= encoded
    abi_writes = {
        e["name"]
        for e in wrapper.artifact.abi
        if e.get("type") == "function" and e["stateMutability"] in ("nonpayable", "payable")
    }
    assert spec_writes <= abi_writes


def test_safe_transfer_from_picks_the_overload(wrapper: CertificateRegistry) -> None:
    plain = wrapper.encode_safe_transfer_from(BOB, ALICE.address, 7)
    with_data = wrapper.encode_safe_transfer_from(BOB, ALICE.address, 7, b"hi")
    assert _decode_call(wrapper.artifact, "safeTransferFrom", 3, plain)[2] == 7
    assert _decode_call(wrapper.artifact, "safeTransferFrom", 4, with_data)[3] == b"hi"


def test_encoding_a_wrong_sized_hash_is_a_value_error(wrapper: CertificateRegistry) -> None:
    with pytest.raises(ValueError):
        wrapper.encode_anchor_log(-1, b"\x00" * 32)
    with pytest.raises(ValueError):
        wrapper.encode("noSuchFunction")
    with pytest.raises(ValueError):
        wrapper.encode("redeem", 1, 2)


def test_roles_are_keccak_of_their_names_and_admin_is_zero() -> None:
    assert ROLES["DEFAULT_ADMIN_ROLE"] == b"\x00" * 32
    for name in (
        "FACTORY_ROLE",
        "RELAYER_ROLE",
        "CUSTODIAN_ROLE",
        "PLEDGEE_ROLE",
        "ATTESTOR_ROLE",
        "ANCHOR_ROLE",
        "PAUSER_ROLE",
    ):
        assert ROLES[name] == keccak256(name.encode())


@pytest.mark.parametrize("spelling", ["FACTORY_ROLE", "factory", "Factory_Role", "FACTORY"])
def test_role_names_resolve_in_any_spelling(spelling: str) -> None:
    assert role_id(spelling) == ROLES["FACTORY_ROLE"]


def test_unknown_role_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown role"):
        role_id("OWNER")


# ------------------------------------------------------------------------------ EIP-712
def _domain_separator(chain_id: int, contract: str) -> bytes:
    """The contract's _domainSeparatorV4(), computed by hand as Solidity does."""
    type_hash = keccak256(
        b"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
    )
    return keccak256(
        encode(
            ["bytes32", "bytes32", "bytes32", "uint256", "address"],
            [
                type_hash,
                keccak256(b"TracecertCertificateRegistry"),
                keccak256(b"1"),
                chain_id,
                contract,
            ],
        )
    )


def _recover(digest: bytes, signature: bytes) -> str:
    v = signature[64] - 27 if signature[64] >= 27 else signature[64]
    sig = keys.Signature(signature[:64] + bytes([v]))
    return sig.recover_public_key_from_msg_hash(digest).to_checksum_address()


def test_claim_voucher_signature_recovers_to_the_relayer_over_the_solidity_digest() -> None:
    relayer = Account.from_key("0x" + "c3" * 32)
    signature = sign_claim_voucher(
        relayer, chain_id=31337, verifying_contract=ADDRESS, request=REQ, deadline=1_900_000_000
    )
    type_hash = keccak256(
        b"ClaimVoucher(bytes32 batchId,uint256 tokenId,bytes32 itemHash,address to,"
        b"uint256 deadline)"
    )
    struct_hash = keccak256(
        encode(
            ["bytes32", "bytes32", "uint256", "bytes32", "address", "uint256"],
            [type_hash, BATCH, 7, ITEM, BOB, 1_900_000_000],
        )
    )
    digest = keccak256(b"\x19\x01" + _domain_separator(31337, ADDRESS) + struct_hash)
    assert len(signature) == 65
    assert _recover(digest, signature) == relayer.address


def test_gift_claim_signature_recovers_to_the_claim_key_over_the_solidity_digest() -> None:
    claim_key = Account.create()
    signature = sign_gift_claim(
        claim_key.key, chain_id=5, verifying_contract=ADDRESS, token_id=7, to=BOB, nonce=3
    )
    type_hash = keccak256(b"GiftClaim(uint256 tokenId,address to,uint64 nonce)")
    struct_hash = keccak256(
        encode(["bytes32", "uint256", "address", "uint64"], [type_hash, 7, BOB, 3])
    )
    digest = keccak256(b"\x19\x01" + _domain_separator(5, ADDRESS) + struct_hash)
    assert _recover(digest, signature) == claim_key.address


def test_voucher_is_bound_to_recipient_chain_and_contract() -> None:
    relayer = Account.from_key("0x" + "c3" * 32)
    base = {"chain_id": 1, "verifying_contract": ADDRESS, "request": REQ, "deadline": 10}
    reference = sign_claim_voucher(relayer, **base)  # type: ignore[arg-type]
    variants: list[dict[str, Any]] = [
        {**base, "chain_id": 2},
        {**base, "verifying_contract": BOB},
        {**base, "deadline": 11},
        {**base, "request": ClaimRequest(BATCH, 7, ITEM, ALICE.address)},
    ]
    for variant in variants:
        assert sign_claim_voucher(relayer, **variant) != reference


# ------------------------------------------------------------------------------ claim skips
def _skip_log(token_id: int, batch_id: bytes, to: str, reason: bytes, address: str) -> LogEntry:
    return LogEntry(
        address=address,
        topics=(
            CLAIM_SKIPPED_TOPIC,
            token_id.to_bytes(32, "big"),
            batch_id,
            bytes(12) + bytes.fromhex(to[2:]),
        ),
        data=encode(["bytes4"], [reason]),
        log_index=0,
    )


def test_claim_skips_names_each_skipped_item_and_its_reason() -> None:
    already = keccak256(b"CertificateRegistryAlreadyClaimed(uint256)")[:4]
    unknown = b"\xde\xad\xbe\xef"
    other = LogEntry(ADDRESS, (keccak256(b"Transfer(address,address,uint256)"),), b"", 1)
    receipt = Receipt(
        tx_hash=b"\x01" * 32,
        block_number=1,
        block_hash=b"\x02" * 32,
        status=1,
        gas_used=1,
        contract_address=None,
        logs=(
            _skip_log(7, BATCH, BOB, already, ADDRESS),
            other,
            _skip_log(8, BATCH, BOB, unknown, ADDRESS),
            _skip_log(9, BATCH, BOB, already, BOB),  # another contract's log
        ),
    )
    bob = to_checksum_address(BOB)
    assert claim_skips(receipt, ADDRESS) == [
        ClaimSkip(7, BATCH, bob, "CertificateRegistryAlreadyClaimed"),
        ClaimSkip(8, BATCH, bob, "0xdeadbeef"),
    ]
    assert [skip.token_id for skip in claim_skips(receipt)] == [7, 8, 9]


def test_claim_skip_reasons_and_topic_match_the_abi(registry_artifact: Artifact) -> None:
    errors = {
        keccak256(f"{e['name']}({','.join(collapse_if_tuple(i) for i in e['inputs'])})".encode())[
            :4
        ]: e["name"]
        for e in registry_artifact.abi
        if e.get("type") == "error"
    }
    assert {errors[selector] for selector in CLAIM_SKIP_REASONS} == set(CLAIM_SKIP_REASONS.values())
    assert set(CLAIM_SKIP_REASONS.values()) == {
        "CertificateRegistryAlreadyClaimed",
        "CertificateRegistryBatchIsRecalled",
        "CertificateRegistryBatchNotAnchored",
        "CertificateRegistryInvalidTokenId",
        "CertificateRegistryInvalidProof",
    }
    (event,) = [
        e
        for e in registry_artifact.abi
        if e.get("type") == "event" and e["name"] == "CertificateClaimSkipped"
    ]
    signature = f"CertificateClaimSkipped({','.join(i['type'] for i in event['inputs'])})"
    assert keccak256(signature.encode()) == CLAIM_SKIPPED_TOPIC
    assert MAX_CLAIM_BATCH == 128


def test_token_id_is_the_keccak_of_batch_and_item_hash() -> None:
    assert token_id_of(BATCH, ITEM) == int.from_bytes(keccak256(BATCH + ITEM), "big")
    assert token_id_of(BATCH, ITEM) != token_id_of(b"\x09" * 32, ITEM)
    with pytest.raises(ValueError):
        token_id_of(BATCH[:31], ITEM)
