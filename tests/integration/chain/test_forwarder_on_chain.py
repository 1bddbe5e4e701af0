"""Lifecycle calls relayed through the TracecertForwarder, on py-evm and on anvil.

The admin account plays the service's one sender: it submits requests that certificate owners
signed, and the registry acts as the signer.
"""

from __future__ import annotations

import os
from dataclasses import replace

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from chain.client import Receipt
from chain.contracts.certificate_registry import CertificateRegistry, CertificateState, ClaimRequest
from chain.contracts.forwarder import Forwarder, ForwardRequest, sign_forward_request
from chain.deploy import send_transaction
from chain.errors import ContractRevertError
from chain.merkle import BatchTree, item_leaf, token_id_of
from tests.fixtures.chain import RegistryRoles

RELAYED_GAS = 300_000


def _claimed(registry: CertificateRegistry, admin: LocalAccount, owners: list[str]) -> list[int]:
    """Anchor a batch and claim one certificate to each of ``owners``; return the token ids."""
    batch_id = os.urandom(32)
    hashes = [os.urandom(32) for _ in owners]
    items = [(token_id_of(batch_id, h), h) for h in hashes]
    tree = BatchTree([item_leaf(batch_id, t, h) for t, h in items])
    anchor = registry.encode_anchor_batch(batch_id, tree.root, len(items), b"\x00" * 32)
    assert send_transaction(registry.client, admin, registry.address, anchor).status == 1
    requests = [ClaimRequest(batch_id, t, h, o) for (t, h), o in zip(items, owners, strict=True)]
    claim = registry.encode_claim_batch(requests, [tree.proof(i) for i in range(len(items))])
    assert send_transaction(registry.client, admin, registry.address, claim).status == 1
    return [t for t, _ in items]


def _request(
    forwarder: Forwarder, registry: CertificateRegistry, signer: LocalAccount, data: bytes
) -> ForwardRequest:
    deadline = registry.client.block_timestamp() + 3600
    return forwarder.request(
        signer.address, registry.address, data, gas=RELAYED_GAS, deadline=deadline
    )


def _relay(forwarder: Forwarder, sender: LocalAccount, data: bytes) -> Receipt:
    receipt = send_transaction(forwarder.client, sender, forwarder.address, data)
    assert receipt.status == 1
    return receipt


def _refused(forwarder: Forwarder, sender: LocalAccount, data: bytes) -> ContractRevertError:
    with pytest.raises(ContractRevertError) as caught:
        forwarder.client.estimate_gas(
            {"from": sender.address, "to": forwarder.address, "data": data}
        )
    return caught.value


def test_the_registry_trusts_the_forwarder_and_the_domain_is_tracecerts(
    registry: CertificateRegistry, forwarder: Forwarder
) -> None:
    assert registry.trusted_forwarder() == forwarder.address
    assert forwarder.eip712_domain() == {
        "name": "TracecertForwarder",
        "version": "1",
        "chainId": registry.client.identity().chain_id,
        "verifyingContract": forwarder.address,
    }


def test_relayed_pledge_acts_as_the_owner_who_signed_it(
    registry: CertificateRegistry, forwarder: Forwarder, registry_roles: RegistryRoles
) -> None:
    sender, owner, pledgee = registry_roles.admin, registry_roles.others[0], registry_roles.pledgee
    (token,) = _claimed(registry, sender, [owner.address])
    request = _request(forwarder, registry, owner, registry.encode_pledge(token, pledgee.address))
    signature = forwarder.sign(owner, request)
    assert forwarder.recover_signer(request, signature) == owner.address
    assert forwarder.verify(request, signature)
    receipt = _relay(forwarder, sender, forwarder.encode_execute(request, signature))
    pledged = [e for e in registry.decode_events(receipt) if e.name == "CertificatePledged"]
    assert [e.args for e in pledged] == [
        {"tokenId": token, "owner": owner.address, "pledgee": pledgee.address}
    ]
    certificate = registry.certificate(token)
    assert (certificate.state, certificate.counterparty) == (
        CertificateState.PLEDGED,
        pledgee.address,
    )
    assert forwarder.nonces(owner.address) == request.nonce + 1


def test_relayed_gift_escrows_the_token_with_the_signer_as_giver(
    registry: CertificateRegistry, forwarder: Forwarder, registry_roles: RegistryRoles
) -> None:
    sender, giver = registry_roles.admin, registry_roles.others[1]
    (token,) = _claimed(registry, sender, [giver.address])
    claim_key = Account.create()
    expiry = registry.client.block_timestamp() + 3600
    create = _request(
        forwarder, registry, giver, registry.encode_create_gift(token, claim_key.address, expiry)
    )
    _relay(forwarder, sender, forwarder.encode_execute(create, forwarder.sign(giver, create)))
    gift = registry.gift(token)
    assert gift is not None
    assert (gift.giver, gift.claim_key, gift.expiry) == (giver.address, claim_key.address, expiry)
    assert registry.owner_of(token) == registry.address
    cancel = _request(forwarder, registry, giver, registry.encode_cancel_gift(token))
    _relay(forwarder, sender, forwarder.encode_execute(cancel, forwarder.sign(giver, cancel)))
    assert registry.owner_of(token) == giver.address
    assert registry.gift(token) is None


def test_a_replayed_request_is_refused(
    registry: CertificateRegistry, forwarder: Forwarder, registry_roles: RegistryRoles
) -> None:
    sender, owner = registry_roles.admin, registry_roles.others[2]
    (token,) = _claimed(registry, sender, [owner.address])
    request = _request(forwarder, registry, owner, registry.encode_redeem(token))
    execute = forwarder.encode_execute(request, forwarder.sign(owner, request))
    _relay(forwarder, sender, execute)
    assert registry.certificate(token).state == CertificateState.REDEEMED
    assert not forwarder.verify(request, forwarder.sign(owner, request))
    error = _refused(forwarder, sender, execute)
    # The nonce moved on, so the old signature recovers to some other address.
    assert error.name == "ERC2771ForwarderInvalidSigner"
    assert error.args[1] == owner.address
    assert error.args[0] != owner.address


def test_a_request_signed_for_another_chain_is_refused(
    registry: CertificateRegistry, forwarder: Forwarder, registry_roles: RegistryRoles
) -> None:
    sender, owner, pledgee = registry_roles.admin, registry_roles.others[3], registry_roles.pledgee
    (token,) = _claimed(registry, sender, [owner.address])
    request = _request(forwarder, registry, owner, registry.encode_pledge(token, pledgee.address))
    foreign = sign_forward_request(owner, request, forwarder.chain_id() + 1, forwarder.address)
    assert not forwarder.verify(request, foreign)
    error = _refused(forwarder, sender, forwarder.encode_execute(request, foreign))
    assert error.name == "ERC2771ForwarderInvalidSigner"
    assert registry.certificate(token).state == CertificateState.ACTIVE


def test_a_signer_who_is_not_the_owner_cannot_pledge_or_gift_the_token(
    registry: CertificateRegistry, forwarder: Forwarder, registry_roles: RegistryRoles
) -> None:
    sender, owner, mallory = (
        registry_roles.admin,
        registry_roles.others[4],
        registry_roles.others[5],
    )
    pledgee = registry_roles.pledgee
    (token,) = _claimed(registry, sender, [owner.address])
    pledge = registry.encode_pledge(token, pledgee.address)
    # In her own name the request is valid, but the registry sees Mallory, who owns nothing.
    own = _request(forwarder, registry, mallory, pledge)
    refused = _refused(
        forwarder, sender, forwarder.encode_execute(own, forwarder.sign(mallory, own))
    )
    assert refused.name == "FailedCall"
    # Signed by Mallory and submitted in the owner's name, the forwarder refuses it.
    gift = registry.encode_create_gift(
        token, Account.create().address, registry.client.block_timestamp() + 3600
    )
    signed = _request(forwarder, registry, mallory, gift)
    forged = replace(signed, from_=owner.address, nonce=forwarder.nonces(owner.address))
    error = _refused(
        forwarder, sender, forwarder.encode_execute(forged, forwarder.sign(mallory, signed))
    )
    assert error.name == "ERC2771ForwarderInvalidSigner"
    assert error.args[1] == owner.address
    assert registry.owner_of(token) == owner.address
    assert registry.certificate(token).state == CertificateState.ACTIVE


def test_execute_batch_relays_two_owners_requests_in_one_transaction(
    registry: CertificateRegistry, forwarder: Forwarder, registry_roles: RegistryRoles
) -> None:
    sender, custodian = registry_roles.admin, registry_roles.custodian
    first, second = registry_roles.others[5], registry_roles.others[6]
    token_a, token_b = _claimed(registry, sender, [first.address, second.address])
    deposit = _request(
        forwarder, registry, first, registry.encode_deposit_to_custody(token_a, custodian.address)
    )
    redeem = _request(forwarder, registry, second, registry.encode_redeem(token_b))
    batch = forwarder.encode_execute_batch(
        [(deposit, forwarder.sign(first, deposit)), (redeem, forwarder.sign(second, redeem))]
    )
    receipt = _relay(forwarder, sender, batch)
    names = [e.name for e in registry.decode_events(receipt)]
    assert names == [
        "CertificateCustodyStarted",
        "MetadataUpdate",
        "CertificateRedeemed",
        "MetadataUpdate",
    ]
    assert registry.certificate(token_a).state == CertificateState.IN_CUSTODY
    assert registry.certificate(token_a).counterparty == custodian.address
    assert registry.certificate(token_b).state == CertificateState.REDEEMED
    assert forwarder.nonces(first.address) == deposit.nonce + 1
    assert forwarder.nonces(second.address) == redeem.nonce + 1
