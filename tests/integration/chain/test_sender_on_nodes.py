"""The sender on real nodes (py-evm and anvil): confirm at depth, decode reverts, survive reorgs."""

from __future__ import annotations

from typing import Any

import pytest
from eth_account.signers.local import LocalAccount

from chain.client import ChainClient
from chain.config import ChainSettings
from chain.contracts.certificate_registry import CertificateRegistry
from chain.sender import Sender, TxStatus
from tests.unit.chain.fakes import FakeTxStore


def make_sender(
    registry: CertificateRegistry, admin: LocalAccount, store: FakeTxStore, confirmations: int = 2
) -> Sender:
    client: ChainClient = registry.client
    settings = ChainSettings(backend="pyevm", confirmations=confirmations)
    return Sender(client, admin, store, settings, client.identity(), rebroadcast_after_s=0.0)


def settle(sender: Sender, backend: Any, rounds: int = 8) -> None:
    for _ in range(rounds):
        sender.step()
        backend.mine()
    sender.step()


def anchor_call(registry: CertificateRegistry, n: int) -> tuple[bytes, bytes]:
    batch_id, root = bytes([n]) * 32, bytes([n + 100]) * 32
    return batch_id, registry.encode_anchor_batch(batch_id, root, 10, b"\x00" * 32)


def test_sender_anchors_batches_and_confirms_them_at_depth(registry, registry_roles, chain_backend):
    store = FakeTxStore()
    calls = [anchor_call(registry, i) for i in range(1, 4)]
    ids = [store.enqueue(registry.address, data) for _, data in calls]
    sender = make_sender(registry, registry_roles.admin, store)

    sender.step()
    assert all(store.status(i) in (TxStatus.SENT, TxStatus.MINED) for i in ids)
    settle(sender, chain_backend)

    assert [store.status(i) for i in ids] == [TxStatus.CONFIRMED] * 3
    for batch_id, _ in calls:
        record = registry.batch(batch_id)
        assert record is not None and record.item_count == 10


def test_sender_fails_a_request_that_would_revert_with_the_decoded_error(
    registry, registry_roles, chain_backend
):
    store = FakeTxStore()
    _, data = anchor_call(registry, 7)
    first = store.enqueue(registry.address, data)
    sender = make_sender(registry, registry_roles.admin, store)
    settle(sender, chain_backend)
    assert store.status(first) == TxStatus.CONFIRMED

    again = store.enqueue(registry.address, data)
    nonce_before = registry.client.nonce(registry_roles.admin.address, "latest")
    settle(sender, chain_backend)
    assert store.status(again) == TxStatus.FAILED
    _, revert = store.failures[again]
    assert revert is not None and revert.name == "CertificateRegistryBatchAlreadyAnchored"
    assert registry.client.nonce(registry_roles.admin.address, "latest") == nonce_before


@pytest.mark.anvil
@pytest.mark.parametrize("chain_backend", ["anvil"], indirect=True)
@pytest.mark.parametrize("depth", [1, 2, 3])
def test_reorg_before_confirmation_is_followed_and_the_write_lands_once(
    registry, registry_roles, chain_backend, depth
):
    anvil_backend = chain_backend
    store = FakeTxStore()
    batch_id, data = anchor_call(registry, 40 + depth)
    rid = store.enqueue(registry.address, data)
    # K = depth + 1: the receipt is `depth` blocks deep, not yet confirmed, when the reorg hits.
    sender = make_sender(registry, registry_roles.admin, store, confirmations=depth + 1)
    sender.step()  # signed and sent: anvil automines it
    for _ in range(depth - 1):
        anvil_backend.mine()
    sender.step()
    assert store.status(rid) in (TxStatus.MINED, TxStatus.CONFIRMED)
    mined_in = store.requests[rid].mined_block_hash
    if store.status(rid) == TxStatus.CONFIRMED:
        pytest.fail("confirmed before the reorg; depth setup is wrong")

    # Replace the last `depth` blocks with empty ones: the anchor vanishes from the chain.
    anvil_backend._rpc("anvil_reorg", [depth, []])
    assert registry.batch(batch_id) is None

    settle(sender, anvil_backend)
    assert store.status(rid) == TxStatus.CONFIRMED
    assert store.confirmed_effects == [rid]
    assert store.requests[rid].mined_block_hash != mined_in
    record = registry.batch(batch_id)
    assert record is not None and record.item_count == 10


@pytest.mark.anvil
@pytest.mark.parametrize("chain_backend", ["anvil"], indirect=True)
@pytest.mark.parametrize(
    ("method", "depth"), [("anvil_reorg", 2), ("anvil_reorg", 4), ("anvil_rollback", 3)]
)
def test_confirmed_write_removed_by_a_reorg_of_depth_k_or_more_lands_once_and_nothing_stalls(
    registry, registry_roles, chain_backend, method, depth
):
    anvil_backend = chain_backend
    store = FakeTxStore()
    batch_a, data_a = anchor_call(registry, 60 + depth)
    a = store.enqueue(registry.address, data_a)
    sender = make_sender(registry, registry_roles.admin, store, confirmations=2)
    sender.step()  # automined
    for _ in range(depth - 1):
        anvil_backend.mine()
        sender.step()
    assert store.status(a) == TxStatus.CONFIRMED  # at depth `depth` >= K
    (attempt,) = store.attempts[a]

    params = [depth, []] if method == "anvil_reorg" else [depth]
    anvil_backend._rpc(method, params)
    assert registry.batch(batch_a) is None
    batch_b, data_b = anchor_call(registry, 70 + depth)
    b = store.enqueue(registry.address, data_b)  # the repro: B must not stall

    settle(sender, anvil_backend)
    assert store.status(a) == store.status(b) == TxStatus.CONFIRMED
    assert store.effects(a) == store.effects(b) == 1
    for batch_id in (batch_a, batch_b):
        record = registry.batch(batch_id)
        assert record is not None and record.item_count == 10
    assert registry.client.receipt(attempt.tx_hash) is not None  # A's very own raw bytes
    assert store.requests[a].mined_block_hash == registry.client.receipt(attempt.tx_hash).block_hash
