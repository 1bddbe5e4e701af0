"""The sender after confirmation: reorgs inside the finality window, nonce gaps, and its logs.

Each test drives the sender against the strict fake chain: a reorg there replaces blocks with
empty ones and, like anvil, does not put the removed transactions back in the pool.
"""

from __future__ import annotations

import logging

import pytest
from eth_account import Account

from chain.config import ChainSettings
from chain.sender import Sender, TxStatus
from tests.unit.chain.fakes import REVERTS_ON_CHAIN, FakeChain, FakeTxStore, decode_raw

TO = "0x" + "42" * 20
KEY = "0x" + "01" * 32
SELF = Account.from_key(KEY).address


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


def make_sender(
    chain: FakeChain, store: FakeTxStore, clock: Clock, finality_blocks: int = 64
) -> Sender:
    settings = ChainSettings(
        backend="pyevm", confirmations=2, stuck_after_s=30.0, finality_blocks=finality_blocks
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


def settle(sender: Sender, chain: FakeChain, rounds: int = 6) -> None:
    for _ in range(rounds):
        sender.step()
        chain.mine()
    sender.step()


def confirm_one(sender: Sender, chain: FakeChain, store: FakeTxStore, data: bytes) -> int:
    """Queue a write and drive it to CONFIRMED at exactly depth K (2): head = its block + 1."""
    rid = store.enqueue(TO, data)
    sender.step()  # signed and sent
    chain.mine()  # in block h
    sender.step()  # MINED
    chain.mine()  # depth 2
    sender.step()
    assert store.status(rid) == TxStatus.CONFIRMED
    return rid


def test_confirmed_write_removed_by_a_reorg_of_depth_k_is_sent_again_and_lands_once(
    chain, store, clock
):
    sender = make_sender(chain, store, clock)
    rid = confirm_one(sender, chain, store, b"\x01anchor")
    first_block = store.requests[rid].mined_block_number
    (attempt,) = store.attempts[rid]

    chain.reorg(2)  # depth K: the confirmed write is gone, and not back in the pool
    report = sender.step()
    assert report.reorged == 1
    assert store.status(rid) == TxStatus.SENT
    assert chain.mempool[attempt.nonce][0] == attempt.tx_hash  # the very same raw bytes

    settle(sender, chain)
    assert store.status(rid) == TxStatus.CONFIRMED
    assert store.effects(rid) == 1 and store.undone == []
    ((_, old, new),) = store.reincluded
    assert old == first_block and new != first_block
    assert store.requests[rid].mined_block_number == new
    assert [m.tx_hash for m in chain.mined_ours()] == [attempt.tx_hash]


def test_issue_repro_anchor_a_reorg_k_then_anchor_b_both_land_and_nothing_stalls(
    chain, store, clock
):
    sender = make_sender(chain, store, clock)
    a = confirm_one(sender, chain, store, b"\x01A")
    chain.reorg(2)
    b = store.enqueue(TO, b"\x01B")

    settle(sender, chain)
    assert store.status(a) == store.status(b) == TxStatus.CONFIRMED
    assert store.effects(a) == store.effects(b) == 1
    assert sorted((m.nonce, m.data) for m in chain.mined_ours()) == [(0, b"\x01A"), (1, b"\x01B")]


def test_confirmed_write_reincluded_in_another_block_gets_its_new_block(chain, store, clock):
    sender = make_sender(chain, store, clock)
    rid = confirm_one(sender, chain, store, b"\x01")
    first_block = store.requests[rid].mined_block_number

    chain.reorg(2, keep_txs=True)  # a real chain: the transaction goes back to the pool
    chain.mine()  # and is mined again, one block later
    settle(sender, chain)
    assert store.status(rid) == TxStatus.CONFIRMED
    assert store.reincluded == [(rid, first_block, first_block + 2)]
    assert store.effects(rid) == 1
    assert len(chain.mined_ours()) == 1


def test_confirmed_write_whose_nonce_was_taken_is_undone_and_queued_again(chain, store, clock):
    sender = make_sender(chain, store, clock)
    rid = confirm_one(sender, chain, store, b"\x01")
    chain.reorg(2)
    chain.foreign_tx()  # someone with our key used nonce 0 on the new branch

    report = sender.step()
    assert (report.reorged, report.undone, report.requeued) == (1, 1, 1)
    assert store.undone == [rid]
    settle(sender, chain)
    assert store.status(rid) == TxStatus.CONFIRMED
    assert store.confirmed_effects == [rid, rid] and store.effects(rid) == 1
    assert [m.nonce for m in chain.mined_ours()] == [1]


def test_write_past_the_finality_window_is_final_and_no_longer_read(chain, store, clock):
    sender = make_sender(chain, store, clock, finality_blocks=4)
    rid = confirm_one(sender, chain, store, b"\x01")
    for _ in range(4):
        chain.mine()
        sender.step()
    assert rid in store.final
    assert store.following(sender.address) == []

    chain.calls.clear()
    for _ in range(5):
        chain.mine()
        sender.step()
    assert chain.calls.get("block_hash", 0) == 0  # a final write costs nothing any more


def test_a_pass_reads_one_block_per_distinct_block_and_none_while_the_head_stands(
    chain, store, clock
):
    sender = make_sender(chain, store, clock)
    ids = [store.enqueue(TO, bytes([1, i])) for i in range(5)]
    sender.step()
    chain.mine()  # all five in one block
    settle(sender, chain, rounds=2)
    assert all(store.status(i) == TxStatus.CONFIRMED for i in ids)

    chain.mine()
    chain.calls.clear()
    sender.step()
    assert chain.calls["block_hash"] == 1  # five writes, one block
    chain.calls.clear()
    sender.step()  # the head has not moved: nothing can have changed
    assert chain.calls.get("block_hash", 0) == 0


def test_finalized_tag_keeps_a_write_followed_until_it_passes(chain, store, clock):
    chain.finalized_lag = 10
    sender = make_sender(chain, store, clock, finality_blocks=2)
    rid = confirm_one(sender, chain, store, b"\x01")
    block = store.requests[rid].mined_block_number
    while chain.block_number() - 10 < block:
        assert rid not in store.final, "final before the finalized block passed it"
        chain.mine()
        sender.step()
    assert rid in store.final


def test_gap_left_by_a_final_write_removed_later_is_filled_with_its_own_raw_transaction(
    chain, store, clock
):
    sender = make_sender(chain, store, clock, finality_blocks=2)
    a = confirm_one(sender, chain, store, b"\x01A")
    chain.mine()
    sender.step()
    assert a in store.final
    (attempt,) = store.attempts[a]

    chain.rollback(3)  # a node that lost blocks, deeper than the window
    b = store.enqueue(TO, b"\x01B")
    report = sender.step()
    assert report.reorged == 1 and store.status(a) == TxStatus.SENT
    assert report.filled == 0

    settle(sender, chain)
    assert store.status(a) == store.status(b) == TxStatus.CONFIRMED
    assert store.effects(a) == 1
    assert [m.tx_hash for m in chain.mined_ours() if m.data == b"\x01A"] == [attempt.tx_hash]
    assert sorted(m.nonce for m in chain.mined_ours()) == [0, 1]


def test_gap_nobody_owns_is_filled_by_a_zero_value_self_transfer_persisted_first(
    chain, store, clock
):
    sender = make_sender(chain, store, clock)
    rid = store.enqueue(TO, b"\x01")
    sender.step()  # nonce 0
    chain.foreign_tx()  # takes nonce 0
    sender.step()  # re-queued and signed again at nonce 1
    assert store.requests[rid].nonce == 1
    chain.reorg(1)  # the foreign transaction is gone: nonce 0 is unused, 1 waits behind it

    persisted: list[bool] = []
    chain.on_send = lambda raw: persisted.append(
        any(a.raw == raw for attempts in store.attempts.values() for a in attempts)
    )
    report = sender.step()
    assert report.filled == 1 and all(persisted)
    (filler,) = store.fillers()
    fields = decode_raw(store.attempts[filler.id][0].raw)
    assert (fields["nonce"], fields["data"], fields["to"].hex()) == (0, b"", SELF[2:].lower())

    settle(sender, chain)
    assert store.status(rid) == store.status(filler.id) == TxStatus.CONFIRMED
    assert [m.nonce for m in chain.mined_txs()] == [0, 1]


def test_gap_of_a_write_that_reverted_on_chain_is_filled_not_sent_again(chain, store, clock):
    sender = make_sender(chain, store, clock, finality_blocks=2)
    bad = store.enqueue(TO, REVERTS_ON_CHAIN + b"x")  # nonce 0, reverts when mined
    good = store.enqueue(TO, b"\x01ok")  # nonce 1
    settle(sender, chain)
    assert store.status(bad) == TxStatus.FAILED and store.status(good) == TxStatus.CONFIRMED
    assert good in store.final

    chain.rollback(len(chain.blocks) - 1)  # back to genesis
    settle(sender, chain)
    assert [m.data for m in chain.mined_txs()] == [b"", b"\x01ok"]  # a filler, then good's raw
    assert store.status(bad) == TxStatus.FAILED
    assert store.effects(good) == 1


def test_reorged_write_is_sent_again_as_is_before_any_fee_bump(chain, store, clock):
    sender = make_sender(chain, store, clock)
    rid = confirm_one(sender, chain, store, b"\x01")
    clock.now += 600  # long after its first send
    chain.reorg(2)
    report = sender.step()
    assert report.bumped == 0 and len(store.attempts[rid]) == 1

    clock.now += 31  # unmined for stuck_after_s after the re-send: now it is replaced
    assert sender.step().bumped == 1
    settle(sender, chain)
    assert store.status(rid) == TxStatus.CONFIRMED and len(chain.mined_ours()) == 1


def test_each_decision_is_logged_once(chain, store, clock, caplog):
    caplog.set_level(logging.INFO, logger="chain.sender")
    sender = make_sender(chain, store, clock)
    kept = confirm_one(sender, chain, store, b"\x01kept")
    chain.reorg(2)
    for _ in range(3):
        sender.step()  # removed, re-sent: logged once however often it is rebroadcast
    settle(sender, chain)

    lost = confirm_one(sender, chain, store, b"\x01lost")
    chain.reorg(2)
    chain.foreign_tx()
    settle(sender, chain)

    stuck = store.enqueue(TO, b"\x01stuck")
    sender.step()
    clock.now += 31
    sender.step()
    settle(sender, chain)

    text = [r.getMessage() for r in caplog.records]

    def count(*parts: str) -> int:
        return sum(all(p in line for p in parts) for line in text)

    assert count(f"write #{kept} ", "removed by a reorg") == 1
    assert count(f"write #{kept} ", "re-sent") == 1
    assert count(f"write #{kept} ", "re-included") == 1
    assert count(f"write #{lost} ", "removed by a reorg") == 1
    assert count(f"write #{lost} ", "is undone") == 1
    assert count(f"write #{stuck} ", "replaced at nonce") == 1
    assert all(r.levelno >= logging.INFO for r in caplog.records)


def test_gap_found_and_filled_are_logged_as_warnings(chain, store, clock, caplog):
    caplog.set_level(logging.INFO, logger="chain.sender")
    sender = make_sender(chain, store, clock)
    rid = store.enqueue(TO, b"\x01")
    sender.step()
    chain.foreign_tx()
    sender.step()
    chain.reorg(1)
    sender.step()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("re-queued" in w and f"#{rid}" in w for w in warnings)
    assert any("nonce gap" in w and "chain's nonce is 0" in w for w in warnings)
    assert any("filled with a zero-value self-transfer" in w for w in warnings)


def test_write_handed_back_by_a_recheck_is_sent_again_at_once_after_a_restart(chain, store, clock):
    rid = confirm_one(make_sender(chain, store, clock), chain, store, b"\x01")
    (attempt,) = store.attempts[rid]
    chain.reorg(2)
    store.record_reorged(rid, "tracecert chain recheck: missing")  # from another process
    clock.now += 600

    restarted = make_sender(chain, store, clock)
    report = restarted.step()
    assert report.bumped == 0 and report.resent == 1
    assert chain.mempool[attempt.nonce][0] == attempt.tx_hash
    settle(restarted, chain)
    assert store.status(rid) == TxStatus.CONFIRMED and store.effects(rid) == 1
