"""``chain.recheck``: every write the store holds as confirmed, checked against the chain."""

from __future__ import annotations

from eth_account import Account

from chain.config import ChainSettings
from chain.recheck import RecheckVerdict, recheck
from chain.sender import Sender, TxStatus
from tests.unit.chain.fakes import FakeChain, FakeTxStore

TO = "0x" + "42" * 20


def confirmed_writes(n: int, finality_blocks: int = 2) -> tuple[FakeChain, FakeTxStore, Sender]:
    chain, store = FakeChain(), FakeTxStore()
    sender = Sender(
        chain,  # type: ignore[arg-type]
        Account.from_key("0x" + "01" * 32),
        store,
        ChainSettings(backend="pyevm", confirmations=2, finality_blocks=finality_blocks),
        chain.identity_,
        rebroadcast_after_s=0.0,
    )
    for i in range(n):
        store.enqueue(TO, bytes([1, i]))
        sender.step()
        chain.mine()
    for _ in range(6):
        sender.step()
        chain.mine()
    assert all(r.status == TxStatus.CONFIRMED for r in store.requests.values())
    return chain, store, sender


def test_writes_in_their_recorded_blocks_are_ok_at_one_read_per_block():
    chain, store, _ = confirmed_writes(4)
    chain.calls.clear()
    verdicts = [r.verdict for r in recheck(chain, store, page_size=3)]  # type: ignore[arg-type]
    assert verdicts == [RecheckVerdict.OK] * 4
    assert chain.calls["block_hash"] == 4 and chain.calls.get("receipt", 0) == 0


def test_writes_the_chain_lost_beyond_the_window_are_missing():
    chain, store, _ = confirmed_writes(3)
    assert all(r.id in store.final for r in store.requests.values())  # the sender stopped
    third_block = store.requests[3].mined_block_number
    chain.rollback(len(chain.blocks) - third_block)  # the last write's block is gone
    results = {r.request.id: r.verdict for r in recheck(chain, store)}  # type: ignore[arg-type]
    assert results == {1: RecheckVerdict.OK, 2: RecheckVerdict.OK, 3: RecheckVerdict.MISSING}


def test_a_write_mined_again_in_another_block_is_moved_with_its_receipt():
    chain, store, _ = confirmed_writes(1)
    block = store.requests[1].mined_block_number
    chain.reorg(len(chain.blocks) - block, keep_txs=True)
    chain.mine()
    (result,) = recheck(chain, store)  # type: ignore[arg-type]
    assert result.verdict is RecheckVerdict.MOVED
    assert result.receipt is not None and result.receipt.block_number != block
