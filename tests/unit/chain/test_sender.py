"""The sender against a strict fake chain: persistence, resends, bumps, reorgs, holds."""

from __future__ import annotations

import pytest
from eth_account import Account

from chain.client import ChainIdentity
from chain.config import ChainSettings
from chain.errors import ChainUnavailableError
from chain.sender import Sender, TxStatus
from tests.unit.chain.fakes import REVERTING, REVERTS_ON_CHAIN, FakeChain, FakeTxStore, decode_raw

TO = "0x" + "42" * 20
KEY = "0x" + "01" * 32


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def chain() -> FakeChain:
    return FakeChain()


@pytest.fixture
def store() -> FakeTxStore:
    return FakeTxStore()


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make_sender(chain: FakeChain, store: FakeTxStore, clock: Clock, **overrides: object) -> Sender:
    settings = ChainSettings(
        backend="pyevm",
        confirmations=2,
        stuck_after_s=30.0,
        **overrides,  # type: ignore[arg-type]
    )
    return Sender(
        chain,  # type: ignore[arg-type]
        Account.from_key(KEY),
        store,
        settings,
        chain.identity_,
        clock=clock,
        rebroadcast_after_s=0.0,
    )


def run_until_settled(sender: Sender, chain: FakeChain, rounds: int = 10) -> None:
    for _ in range(rounds):
        sender.step()
        chain.mine()
    sender.step()


def test_queued_request_is_signed_persisted_sent_and_confirmed_at_depth(chain, store, clock):
    rid = store.enqueue(TO, b"\x01anchor")
    sender = make_sender(chain, store, clock)

    report = sender.step()
    assert (report.signed, report.sent) == (1, 1)
    assert store.status(rid) == TxStatus.SENT

    chain.mine()  # depth 1
    sender.step()
    assert store.status(rid) == TxStatus.MINED
    assert store.confirmed_effects == []

    chain.mine()  # depth 2 = confirmations
    sender.step()
    assert store.status(rid) == TxStatus.CONFIRMED
    assert store.confirmed_effects == [rid]
    assert [m.data for m in chain.mined_txs()] == [b"\x01anchor"]


def test_signed_transaction_is_persisted_before_it_reaches_the_node(chain, store, clock):
    store.enqueue(TO, b"\x01")
    persisted_before_send: list[bool] = []
    chain.on_send = lambda raw: persisted_before_send.append(
        any(a.raw == raw for attempts in store.attempts.values() for a in attempts)
    )
    make_sender(chain, store, clock).step()
    assert persisted_before_send == [True]
    assert store.journal[:2] == [("signed", 1), ("sent", 1)]


def test_restart_after_signing_resends_the_same_raw_transaction(chain, store, clock):
    rid = store.enqueue(TO, b"\x01")
    chain.on_send = lambda raw: (_ for _ in ()).throw(ChainUnavailableError("killed"))
    report = make_sender(chain, store, clock).step()
    assert report.unavailable and store.status(rid) == TxStatus.SIGNED
    signed_hash = store.attempts[rid][0].tx_hash

    chain.on_send = None
    restarted = make_sender(chain, store, clock)  # a new process: no memory of the old one
    run_until_settled(restarted, chain)

    assert store.status(rid) == TxStatus.CONFIRMED
    assert [m.tx_hash for m in chain.mined_txs()] == [signed_hash]
    assert len(store.attempts[rid]) == 1


def test_resending_a_transaction_the_node_already_has_is_harmless(chain, store, clock):
    rid = store.enqueue(TO, b"\x01")
    sender = make_sender(chain, store, clock)
    sender.step()
    for _ in range(3):
        clock.now += 5
        sender.step()  # rebroadcasts: "already known"
    run_until_settled(sender, chain)
    assert store.status(rid) == TxStatus.CONFIRMED
    assert len(chain.mined_txs()) == 1


def test_request_that_would_revert_fails_without_consuming_a_nonce(chain, store, clock):
    bad = store.enqueue(TO, REVERTING + b"x")
    good = store.enqueue(TO, b"\x01ok")
    sender = make_sender(chain, store, clock)
    run_until_settled(sender, chain)

    assert store.status(bad) == TxStatus.FAILED
    reason, revert = store.failures[bad]
    assert revert is not None and revert.name == "CertificateRegistryBatchAlreadyAnchored"
    assert "would revert" in reason
    assert store.status(good) == TxStatus.CONFIRMED
    assert [m.nonce for m in chain.mined_txs()] == [0]


def test_transaction_reverting_on_chain_is_failed_with_the_decoded_error(chain, store, clock):
    rid = store.enqueue(TO, REVERTS_ON_CHAIN + b"x")
    run_until_settled(make_sender(chain, store, clock), chain)
    assert store.status(rid) == TxStatus.FAILED
    reason, revert = store.failures[rid]
    assert revert is not None and revert.name == "CertificateRegistryLogSizeNotIncreasing"
    assert "reverted on chain" in reason


def test_stuck_transaction_is_replaced_with_same_nonce_and_higher_fees(chain, store, clock):
    rid = store.enqueue(TO, b"\x01")
    sender = make_sender(chain, store, clock)
    sender.step()
    first = store.attempts[rid][0]

    clock.now += 31
    report = sender.step()
    assert report.bumped == 1
    first_again, second = store.attempts[rid]
    assert first_again.tx_hash == first.tx_hash  # every hash is kept
    assert second.nonce == first.nonce
    assert second.max_fee_per_gas >= first.max_fee_per_gas * 1125 // 1000
    assert second.max_priority_fee_per_gas >= first.max_priority_fee_per_gas * 1125 // 1000
    assert chain.mempool[first.nonce][0] == second.tx_hash

    run_until_settled(sender, chain)
    assert store.status(rid) == TxStatus.CONFIRMED
    assert [m.tx_hash for m in chain.mined_txs()] == [second.tx_hash]


def test_confirmation_waits_for_depth_and_a_reorg_sends_it_again(chain, store, clock):
    rid = store.enqueue(TO, b"\x01")
    sender = make_sender(chain, store, clock)
    sender.step()
    chain.mine()
    sender.step()
    assert store.status(rid) == TxStatus.MINED

    chain.reorg(1)  # the block with our tx is gone, and the node forgot the tx
    report = sender.step()
    assert report.unmined == 1
    assert store.status(rid) == TxStatus.SENT
    assert store.attempts[rid][0].nonce in chain.mempool  # resent the same raw

    run_until_settled(sender, chain)
    assert store.status(rid) == TxStatus.CONFIRMED
    assert store.confirmed_effects == [rid]
    assert len(chain.mined_txs()) == 1


def test_reorg_between_receipt_and_confirmation_is_detected_by_block_hash(chain, store, clock):
    rid = store.enqueue(TO, b"\x01")
    sender = make_sender(chain, store, clock)
    sender.step()
    chain.mine()
    sender.step()
    recorded = store.requests[rid].mined_block_hash

    chain.reorg(1, keep_txs=True)  # re-mined later in a different block
    chain.mine()
    run_until_settled(sender, chain)
    assert store.status(rid) == TxStatus.CONFIRMED
    assert store.requests[rid].mined_block_hash != recorded  # confirmed in the new block
    assert store.confirmed_effects == [rid]


def test_genesis_mismatch_holds_every_write(chain, store, clock):
    rid = store.enqueue(TO, b"\x01")
    sender = make_sender(chain, store, clock)
    chain.identity_ = ChainIdentity(chain_id=31337, genesis_hash=b"\x22" * 32)

    report = sender.step()
    assert report.held and sender.held
    assert sender.hold_reason is not None and "genesis" in sender.hold_reason
    assert store.status(rid) == TxStatus.QUEUED
    assert chain.sent_log == []


def test_chain_outage_loses_nothing_and_work_resumes(chain, store, clock):
    ids = [store.enqueue(TO, bytes([i])) for i in range(3)]
    chain.down = True
    sender = make_sender(chain, store, clock)
    report = sender.step()
    assert report.unavailable
    assert all(store.status(i) == TxStatus.QUEUED for i in ids)

    chain.down = False
    run_until_settled(sender, chain)
    assert all(store.status(i) == TxStatus.CONFIRMED for i in ids)


def test_nonce_taken_by_a_foreign_transaction_requeues_the_request(chain, store, clock):
    rid = store.enqueue(TO, b"\x01")
    sender = make_sender(chain, store, clock)
    sender.step()
    chain.foreign_tx()  # someone else used nonce 0 with our key

    report = sender.step()
    assert report.requeued == 1
    run_until_settled(sender, chain)
    assert store.status(rid) == TxStatus.CONFIRMED
    ours = [m for m in chain.mined_txs() if m.sender == "sender"]
    assert [m.nonce for m in ours] == [1]


def test_many_requests_get_consecutive_nonces_without_gaps(chain, store, clock):
    ids = [store.enqueue(TO, bytes([1, i])) for i in range(20)]
    ids.insert(7, store.enqueue(TO, REVERTING))  # rejected before signing: no hole
    sender = make_sender(chain, store, clock)
    run_until_settled(sender, chain)
    nonces = [m.nonce for m in chain.mined_txs()]
    assert nonces == list(range(20))
    assert sum(store.status(i) == TxStatus.CONFIRMED for i in ids) == 20
    assert all(decode_raw(a.raw)["chain_id"] == 31337 for a in store.attempts[ids[0]])
