"""The CertificateRegistry wrapper against the real contract, on py-evm and on anvil."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest
from eth_abi.abi import decode
from eth_account import Account
from eth_account.signers.local import LocalAccount

from chain.client import Receipt
from chain.contracts.certificate_registry import (
    MAX_CLAIM_BATCH,
    ROLES,
    CertificateRegistry,
    CertificateState,
    ClaimRequest,
    ClaimSkip,
    claim_skips,
)
from chain.errors import ContractRevertError
from chain.log import LogTree, leaf_hash
from chain.merkle import BatchTree, item_leaf, token_id_of
from tests.fixtures.chain import RegistryRoles

Transact = Callable[..., Receipt]
ZERO32 = b"\x00" * 32


def _batch(size: int) -> tuple[bytes, list[tuple[int, bytes]], BatchTree]:
    batch_id = os.urandom(32)
    hashes = [os.urandom(32) for _ in range(size)]
    items = [(token_id_of(batch_id, h), h) for h in hashes]
    return batch_id, items, BatchTree([item_leaf(batch_id, t, h) for t, h in items])


def _anchor(
    registry: CertificateRegistry, transact: Transact, admin: LocalAccount, size: int
) -> tuple[bytes, list[tuple[int, bytes]], BatchTree]:
    batch_id, items, tree = _batch(size)
    receipt = transact(admin, registry.encode_anchor_batch(batch_id, tree.root, size, ZERO32))
    assert receipt.status == 1
    return batch_id, items, tree


def _claim(
    registry: CertificateRegistry,
    transact: Transact,
    admin: LocalAccount,
    to: str,
    size: int = 4,
) -> tuple[bytes, list[tuple[int, bytes]], BatchTree, int]:
    batch_id, items, tree = _anchor(registry, transact, admin, size)
    token_id, item_hash = items[0]
    request = ClaimRequest(batch_id, token_id, item_hash, to)
    assert transact(admin, registry.encode_claim(request, tree.proof(0))).status == 1
    return batch_id, items, tree, token_id


def _revert_of(registry: CertificateRegistry, sender: LocalAccount, data: bytes) -> Any:
    with pytest.raises(ContractRevertError) as caught:
        registry.client.estimate_gas({"from": sender.address, "to": registry.address, "data": data})
    return caught.value


def test_role_constants_and_grants_match_the_contract(
    registry: CertificateRegistry, registry_roles: RegistryRoles
) -> None:
    for name, role in ROLES.items():
        raw = registry.client.call({"to": registry.address, "data": registry.encode(name)})
        assert decode(["bytes32"], raw)[0] == role
    admin = registry_roles.admin.address
    for role in ("DEFAULT_ADMIN_ROLE", "PAUSER_ROLE", "FACTORY_ROLE", "RELAYER_ROLE"):
        assert registry.has_role(role, admin)
    assert registry.has_role("custodian", registry_roles.custodian.address)
    assert registry.has_role("pledgee", registry_roles.pledgee.address)
    assert not registry.has_role("factory", registry_roles.others[0].address)


def test_item_leaf_matches_the_contract(registry: CertificateRegistry) -> None:
    for token_id in (0, 1, 2**64 + 5, 2**256 - 1):
        batch_id, item_hash = os.urandom(32), os.urandom(32)
        assert registry.item_leaf(batch_id, token_id, item_hash) == item_leaf(
            batch_id, token_id, item_hash
        )


def test_token_id_and_claim_cap_match_the_contract(registry: CertificateRegistry) -> None:
    for _ in range(4):
        batch_id, item_hash = os.urandom(32), os.urandom(32)
        assert registry.token_id_of(batch_id, item_hash) == token_id_of(batch_id, item_hash)
    assert registry.max_claim_batch() == MAX_CLAIM_BATCH


@pytest.mark.parametrize("size", [*range(1, 18), pytest.param(1000, marks=pytest.mark.slow)])
def test_every_batch_tree_proof_verifies_on_chain_and_mutations_fail(
    registry: CertificateRegistry,
    transact: Transact,
    registry_roles: RegistryRoles,
    size: int,
) -> None:
    batch_id, items, tree = _anchor(registry, transact, registry_roles.admin, size)
    probe_every = 1 if size <= 17 else 50  # py-evm needs ~45 ms per eth_call
    for index, (token_id, item_hash) in enumerate(items):
        proof = tree.proof(index)
        assert registry.verify_item(batch_id, token_id, item_hash, proof), index
        if index % probe_every:
            continue
        assert not registry.verify_item(batch_id, token_id, os.urandom(32), proof)
        if proof:
            flipped = bytes([proof[0][0] ^ 1]) + proof[0][1:]
            assert not registry.verify_item(batch_id, token_id, item_hash, [flipped, *proof[1:]])
            assert not registry.verify_item(batch_id, token_id, item_hash, proof[:-1])
    assert not registry.verify_item(batch_id, items[0][0] + size, items[0][1], tree.proof(0))
    assert not registry.verify_item(os.urandom(32), *items[0], tree.proof(0))  # not anchored


def test_anchor_batch_records_it_and_emits_batch_anchored(
    registry: CertificateRegistry, transact: Transact, registry_roles: RegistryRoles
) -> None:
    batch_id, _, tree = _batch(3)
    metadata = os.urandom(32)
    assert registry.batch(batch_id) is None
    receipt = transact(
        registry_roles.admin, registry.encode_anchor_batch(batch_id, tree.root, 3, metadata)
    )
    record = registry.batch(batch_id)
    assert record is not None
    assert (record.root, record.item_count, record.recalled, record.metadata_hash) == (
        tree.root,
        3,
        False,
        metadata,
    )
    assert record.anchored_at == registry.client.block_timestamp(receipt.block_number)
    events = registry.decode_events(receipt)
    assert [(e.name, e.args) for e in events] == [
        (
            "BatchAnchored",
            {"batchId": batch_id, "root": tree.root, "itemCount": 3, "metadataHash": metadata},
        )
    ]
    error = _revert_of(
        registry,
        registry_roles.admin,
        registry.encode_anchor_batch(batch_id, tree.root, 3, metadata),
    )
    assert (error.name, error.args) == ("CertificateRegistryBatchAlreadyAnchored", (batch_id,))


def test_unauthorised_write_reverts_with_decoded_access_control_error(
    registry: CertificateRegistry, registry_roles: RegistryRoles
) -> None:
    intruder = registry_roles.others[0]
    error = _revert_of(
        registry, intruder, registry.encode_anchor_batch(os.urandom(32), os.urandom(32), 1, ZERO32)
    )
    assert error.name == "AccessControlUnauthorizedAccount"
    assert error.args == (intruder.address, ROLES["FACTORY_ROLE"])


def test_claim_mints_to_the_recipient_and_a_second_claim_is_refused(
    registry: CertificateRegistry, transact: Transact, registry_roles: RegistryRoles
) -> None:
    holder = registry_roles.others[1]
    batch_id, items, tree = _anchor(registry, transact, registry_roles.admin, 5)
    token_id, item_hash = items[2]
    request = ClaimRequest(batch_id, token_id, item_hash, holder.address)
    assert not registry.is_claimed(token_id)
    assert registry.owner_of(token_id) is None
    receipt = transact(registry_roles.admin, registry.encode_claim(request, tree.proof(2)))
    claimed = [e for e in registry.decode_events(receipt) if e.name == "CertificateClaimed"]
    assert claimed[0].args == {"tokenId": token_id, "batchId": batch_id, "to": holder.address}
    assert registry.is_claimed(token_id)
    assert registry.owner_of(token_id) == holder.address
    assert registry.balance_of(holder.address) == 1
    certificate = registry.certificate(token_id)
    assert (certificate.batch_id, certificate.state, certificate.counterparty) == (
        batch_id,
        CertificateState.ACTIVE,
        None,
    )
    again = _revert_of(
        registry, registry_roles.admin, registry.encode_claim(request, tree.proof(2))
    )
    assert (again.name, again.args) == ("CertificateRegistryAlreadyClaimed", (token_id,))
    wrong = ClaimRequest(batch_id, items[3][0], items[3][1], holder.address)
    bad = _revert_of(registry, registry_roles.admin, registry.encode_claim(wrong, tree.proof(2)))
    assert (bad.name, bad.args) == ("CertificateRegistryInvalidProof", (batch_id, items[3][0]))
    unbound = ClaimRequest(batch_id, items[3][0] ^ 1, items[3][1], holder.address)
    foreign = _revert_of(
        registry, registry_roles.admin, registry.encode_claim(unbound, tree.proof(3))
    )
    assert (foreign.name, foreign.args) == (
        "CertificateRegistryInvalidTokenId",
        (batch_id, items[3][0] ^ 1),
    )


def test_claim_batch_skips_what_cannot_be_claimed_and_mints_the_rest(
    registry: CertificateRegistry, transact: Transact, registry_roles: RegistryRoles
) -> None:
    to = registry_roles.others[2].address
    batch_id, items, tree = _anchor(registry, transact, registry_roles.admin, 6)
    requests = [ClaimRequest(batch_id, t, h, to) for t, h in items[:4]]
    proofs = [tree.proof(i) for i in range(4)]
    # Item 1 is claimed first (a voucher, another relayer call); item 2 comes with a wrong proof.
    early = registry_roles.others[3].address
    first = ClaimRequest(batch_id, items[1][0], items[1][1], early)
    assert transact(registry_roles.admin, registry.encode_claim(first, proofs[1])).status == 1
    proofs[2] = proofs[0]
    receipt = transact(registry_roles.admin, registry.encode_claim_batch(requests, proofs))
    assert receipt.status == 1
    assert claim_skips(receipt, registry.address) == [
        ClaimSkip(items[1][0], batch_id, to, "CertificateRegistryAlreadyClaimed"),
        ClaimSkip(items[2][0], batch_id, to, "CertificateRegistryInvalidProof"),
    ]
    owners = [registry.owner_of(r.token_id) for r in requests]
    assert owners == [to, early, None, to]
    mismatch = _revert_of(
        registry, registry_roles.admin, registry.encode_claim_batch(requests, proofs[:2])
    )
    assert (mismatch.name, mismatch.args) == ("CertificateRegistryLengthMismatch", (4, 2))
    too_many = _revert_of(
        registry,
        registry_roles.admin,
        registry.encode_claim_batch(
            [requests[0]] * (MAX_CLAIM_BATCH + 1), [proofs[0]] * (MAX_CLAIM_BATCH + 1)
        ),
    )
    assert (too_many.name, too_many.args) == (
        "CertificateRegistryTooManyClaims",
        (MAX_CLAIM_BATCH + 1, MAX_CLAIM_BATCH),
    )


def test_voucher_claim_by_anyone_mints_and_bad_vouchers_are_refused(
    registry: CertificateRegistry, transact: Transact, registry_roles: RegistryRoles
) -> None:
    consumer = registry_roles.others[3]
    batch_id, items, tree = _anchor(registry, transact, registry_roles.admin, 3)
    request = ClaimRequest(batch_id, items[1][0], items[1][1], consumer.address)
    deadline = registry.client.block_timestamp() + 3600
    forged = registry.sign_claim_voucher(registry_roles.others[4], request, deadline)
    error = _revert_of(
        registry,
        consumer,
        registry.encode_claim_with_voucher(request, deadline, tree.proof(1), forged),
    )
    assert (error.name, error.args) == (
        "CertificateRegistryInvalidVoucherSigner",
        (registry_roles.others[4].address,),
    )
    stale = registry.client.block_timestamp() - 1
    old = registry.sign_claim_voucher(registry_roles.admin, request, stale)
    expired = _revert_of(
        registry, consumer, registry.encode_claim_with_voucher(request, stale, tree.proof(1), old)
    )
    assert (expired.name, expired.args) == ("CertificateRegistryVoucherExpired", (stale,))
    voucher = registry.sign_claim_voucher(registry_roles.admin, request, deadline)
    redirected = ClaimRequest(batch_id, items[1][0], items[1][1], registry_roles.others[4].address)
    assert (
        _revert_of(
            registry,
            consumer,
            registry.encode_claim_with_voucher(redirected, deadline, tree.proof(1), voucher),
        ).name
        == "CertificateRegistryInvalidVoucherSigner"
    )
    receipt = transact(
        consumer, registry.encode_claim_with_voucher(request, deadline, tree.proof(1), voucher)
    )
    assert receipt.status == 1
    assert registry.owner_of(items[1][0]) == consumer.address


def test_pledge_release_and_foreclose(
    registry: CertificateRegistry, transact: Transact, registry_roles: RegistryRoles
) -> None:
    owner, pledgee = registry_roles.others[0], registry_roles.pledgee
    _, _, _, token = _claim(registry, transact, registry_roles.admin, owner.address)
    transact(owner, registry.encode_pledge(token, pledgee.address))
    pledged = registry.certificate(token)
    assert (pledged.state, pledged.counterparty) == (CertificateState.PLEDGED, pledgee.address)
    locked = _revert_of(
        registry, owner, registry.encode_transfer_from(owner.address, pledgee.address, token)
    )
    assert (locked.name, locked.args) == (
        "CertificateRegistryTokenLocked",
        (token, int(CertificateState.PLEDGED)),
    )
    transact(pledgee, registry.encode_release_pledge(token))
    assert registry.certificate(token).state == CertificateState.ACTIVE
    transact(owner, registry.encode_pledge(token, pledgee.address))
    receipt = transact(pledgee, registry.encode_foreclose_pledge(token))
    assert "CertificatePledgeForeclosed" in [e.name for e in registry.decode_events(receipt)]
    assert registry.owner_of(token) == pledgee.address
    assert registry.certificate(token).state == CertificateState.ACTIVE


def test_custody_redemption_is_terminal(
    registry: CertificateRegistry, transact: Transact, registry_roles: RegistryRoles
) -> None:
    owner, custodian = registry_roles.others[1], registry_roles.custodian
    _, _, _, token = _claim(registry, transact, registry_roles.admin, owner.address)
    early = _revert_of(registry, owner, registry.encode_request_redemption(token))
    assert early.name == "CertificateRegistryUnexpectedState"
    transact(owner, registry.encode_deposit_to_custody(token, custodian.address))
    held = registry.certificate(token)
    assert (held.state, held.counterparty) == (CertificateState.IN_CUSTODY, custodian.address)
    not_requested = _revert_of(registry, custodian, registry.encode_fulfil_redemption(token))
    assert (not_requested.name, not_requested.args) == (
        "CertificateRegistryRedemptionNotRequested",
        (token,),
    )
    transact(owner, registry.encode_request_redemption(token))
    assert registry.certificate(token).redemption_requested
    transact(custodian, registry.encode_fulfil_redemption(token))
    assert registry.certificate(token).state == CertificateState.REDEEMED
    assert _revert_of(registry, owner, registry.encode_redeem(token)).name in (
        "CertificateRegistryUnexpectedState",
        "CertificateRegistryTokenLocked",
        "CertificateRegistryNotTokenOwner",
    )


def test_gift_escrow_claim_with_claim_key_signature(
    registry: CertificateRegistry, transact: Transact, registry_roles: RegistryRoles
) -> None:
    giver, friend, thief = (
        registry_roles.others[2],
        registry_roles.others[3],
        registry_roles.others[4],
    )
    _, _, _, token = _claim(registry, transact, registry_roles.admin, giver.address)
    claim_key = Account.create()
    expiry = registry.client.block_timestamp() + 3600
    receipt = transact(giver, registry.encode_create_gift(token, claim_key.address, expiry))
    gift = registry.gift(token)
    assert gift is not None
    assert (gift.giver, gift.claim_key, gift.expiry) == (giver.address, claim_key.address, expiry)
    created = next(e for e in registry.decode_events(receipt) if e.name == "GiftCreated")
    assert created.args["nonce"] == gift.nonce
    assert registry.owner_of(token) == registry.address
    signature = registry.sign_gift_claim(claim_key, token, friend.address, gift.nonce)
    stolen = _revert_of(
        registry, thief, registry.encode_claim_gift(token, thief.address, signature)
    )
    assert (stolen.name, stolen.args) == ("CertificateRegistryInvalidGiftSignature", (token,))
    transact(thief, registry.encode_claim_gift(token, friend.address, signature))
    assert registry.owner_of(token) == friend.address
    assert registry.gift(token) is None


def test_gift_cancel_returns_token_and_only_the_giver_may_cancel(
    registry: CertificateRegistry, transact: Transact, registry_roles: RegistryRoles
) -> None:
    giver, other = registry_roles.others[5], registry_roles.others[6]
    _, _, _, token = _claim(registry, transact, registry_roles.admin, giver.address)
    expiry = registry.client.block_timestamp() + 600
    transact(giver, registry.encode_create_gift(token, Account.create().address, expiry))
    refused = _revert_of(registry, other, registry.encode_cancel_gift(token))
    assert (refused.name, refused.args) == ("CertificateRegistryNotGiver", (token, other.address))
    transact(giver, registry.encode_cancel_gift(token))
    assert registry.owner_of(token) == giver.address
    missing = _revert_of(registry, giver, registry.encode_cancel_gift(token))
    assert (missing.name, missing.args) == ("CertificateRegistryGiftNotFound", (token,))


def test_recall_blocks_transfers_and_attestations_count(
    registry: CertificateRegistry, transact: Transact, registry_roles: RegistryRoles
) -> None:
    admin, owner = registry_roles.admin, registry_roles.others[0]
    batch_id, _, _, token = _claim(registry, transact, admin, owner.address)
    transact(admin, registry.encode_attest_batch(batch_id, os.urandom(32), "ipfs://report"))
    assert registry.attestation_count(batch_id) == 1
    transact(admin, registry.encode_recall_batch(batch_id, os.urandom(32)))
    record = registry.batch(batch_id)
    assert record is not None and record.recalled
    blocked = _revert_of(
        registry, owner, registry.encode_transfer_from(owner.address, admin.address, token)
    )
    assert (blocked.name, blocked.args) == ("CertificateRegistryBatchIsRecalled", (batch_id,))
    # A recalled bottle is never handed out.
    kept = _revert_of(registry, owner, registry.encode_redeem(token))
    assert (kept.name, kept.args) == ("CertificateRegistryBatchIsRecalled", (batch_id,))


def test_pause_stops_claims_with_enforced_pause(
    registry: CertificateRegistry, transact: Transact, registry_roles: RegistryRoles
) -> None:
    admin = registry_roles.admin
    batch_id, items, tree = _anchor(registry, transact, admin, 2)
    transact(admin, registry.encode_pause())
    assert registry.paused()
    request = ClaimRequest(batch_id, items[0][0], items[0][1], admin.address)
    paused = _revert_of(registry, admin, registry.encode_claim(request, tree.proof(0)))
    assert (paused.name, paused.args) == ("EnforcedPause", ())
    # unpause() adds the seconds paused to a running total: estimated in the second of the
    # pause, it writes nothing new; mined a second later, it writes a first non-zero value
    # (20,000 gas more), which ran the estimated limit out on a loaded machine. Give it room.
    unpaused = transact(admin, registry.encode_unpause(), gas=100_000)
    assert unpaused.status == 1
    assert not registry.paused()


def test_log_roots_are_anchored_in_increasing_sizes(
    registry: CertificateRegistry, transact: Transact, registry_roles: RegistryRoles
) -> None:
    admin = registry_roles.admin
    log = LogTree([leaf_hash(f"event {i}".encode()) for i in range(5)])
    assert registry.latest_log_size() == 0
    transact(admin, registry.encode_anchor_log(3, log.root(3)))
    transact(admin, registry.encode_anchor_log(5, log.root(5)))
    assert registry.latest_log_size() == 5
    assert registry.log_root(3) == log.root(3)
    assert registry.log_root(5) == log.root(5)
    assert registry.log_root(4) == ZERO32
    stale = _revert_of(registry, admin, registry.encode_anchor_log(5, log.root(5)))
    assert (stale.name, stale.args) == ("CertificateRegistryLogSizeNotIncreasing", (5, 5))
    zero = _revert_of(registry, admin, registry.encode_anchor_log(6, ZERO32))
    assert zero.name == "CertificateRegistryInvalidLogRoot"


def test_a_runaway_log_anchor_is_rewound_and_anchoring_resumes(
    registry: CertificateRegistry, transact: Transact, registry_roles: RegistryRoles
) -> None:
    admin = registry_roles.admin
    log = LogTree([leaf_hash(f"event {i}".encode()) for i in range(4)])
    transact(admin, registry.encode_anchor_log(3, log.root(3)))
    transact(admin, registry.encode_anchor_log(2**64 - 1, log.root(3)))
    stuck = _revert_of(registry, admin, registry.encode_anchor_log(4, log.root(4)))
    assert stuck.name == "CertificateRegistryLogSizeNotIncreasing"
    receipt = transact(admin, registry.encode_rewind_log(2**64 - 1))
    assert [(e.name, e.args) for e in registry.decode_events(receipt)] == [
        ("LogRewound", {"size": 2**64 - 1, "latest": 3})
    ]
    assert registry.latest_log_size() == 3
    assert registry.log_root(2**64 - 1) == ZERO32
    transact(admin, registry.encode_anchor_log(4, log.root(4)))
    assert registry.latest_log_size() == 4


def test_base_uri_feeds_token_uri(
    registry: CertificateRegistry, transact: Transact, registry_roles: RegistryRoles
) -> None:
    admin = registry_roles.admin
    _, _, _, token = _claim(registry, transact, admin, registry_roles.others[1].address)
    receipt = transact(admin, registry.encode_set_base_uri("https://cert.example/"))
    assert registry.decode_events(receipt)[0].name == "BaseURIUpdated"
    assert registry.token_uri(token) == f"https://cert.example/{token}"


def test_each_test_starts_from_the_deployed_state(registry: CertificateRegistry) -> None:
    # Runs after the tests above (same module): their anchors and claims were reverted.
    assert registry.latest_log_size() == 0
    assert not registry.paused()
