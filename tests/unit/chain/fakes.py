"""Fakes for the sender's ports: an in-memory chain with a mempool, and an in-memory TxStore.

The fake chain is deliberately strict: it enforces nonces, replacement-fee rules and block
hashes, so the sender's reconciliation logic is exercised the way a real node would.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import rlp
from eth_utils import keccak

from chain.client import ChainIdentity, Fees, Receipt
from chain.errors import ChainError, ChainUnavailableError, ContractRevertError, NonceTooLowError
from chain.sender import NONCE_FILL, TxAttempt, TxRequest, TxStatus

REVERTING = b"\xde\xad"  # calldata prefix the fake "contract" rejects at estimation time
REVERTS_ON_CHAIN = b"\xbe\xef"  # calldata prefix that estimates fine but reverts when mined


def decode_raw(raw: bytes) -> dict[str, Any]:
    """Decode an EIP-1559 raw transaction into the fields the fake chain needs."""
    assert raw[0] == 2, "the sender signs type-2 transactions"
    fields = rlp.decode(raw[1:])
    return {
        "chain_id": int.from_bytes(fields[0], "big"),
        "nonce": int.from_bytes(fields[1], "big"),
        "max_priority_fee_per_gas": int.from_bytes(fields[2], "big"),
        "max_fee_per_gas": int.from_bytes(fields[3], "big"),
        "gas": int.from_bytes(fields[4], "big"),
        "to": fields[5],
        "data": fields[7],
    }


@dataclass
class _Mined:
    tx_hash: bytes
    nonce: int
    data: bytes
    sender: str


@dataclass
class FakeChain:
    """A single-sender chain: mempool by nonce, explicit ``mine()``, ``reorg()``, outages."""

    identity_: ChainIdentity = field(
        default_factory=lambda: ChainIdentity(chain_id=31337, genesis_hash=b"\x11" * 32)
    )
    base_fee: int = 1_000_000_000
    down: bool = False
    blocks: list[tuple[bytes, list[_Mined]]] = field(default_factory=list)
    mempool: dict[int, tuple[bytes, bytes, dict[str, Any]]] = field(default_factory=dict)
    sent_log: list[bytes] = field(default_factory=list)
    on_send: Any = None  # optional hook(raw) called before a send is accepted
    #: ``finalized`` lags the head by this many blocks; ``None``: the node has no such tag.
    finalized_lag: int | None = None
    #: How many times each read was made (to check what a pass costs).
    calls: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.blocks.append((os.urandom(32), []))  # genesis

    # ---- ChainClient surface -------------------------------------------------------------------
    def _check(self, what: str = "") -> None:
        if self.down:
            raise ChainUnavailableError("fake node is down")
        self.calls[what] = self.calls.get(what, 0) + 1

    def identity(self) -> ChainIdentity:
        self._check()
        return self.identity_

    def block_number(self) -> int:
        self._check()
        return len(self.blocks) - 1

    def block_hash(self, number: int) -> bytes | None:
        self._check("block_hash")
        return self.blocks[number][0] if 0 <= number < len(self.blocks) else None

    def head(self) -> tuple[int, bytes]:
        self._check("head")
        return len(self.blocks) - 1, self.blocks[-1][0]

    def finalized_block_number(self) -> int | None:
        self._check("finalized")
        if self.finalized_lag is None:
            return None
        return max(len(self.blocks) - 1 - self.finalized_lag, 0)

    def mined_nonce(self) -> int:
        return sum(len(txs) for _, txs in self.blocks)

    def nonce(self, address: str, block: str = "pending") -> int:
        self._check()
        n = self.mined_nonce()
        if block == "pending":
            while n in self.mempool:
                n += 1
        return n

    def fees(self) -> Fees:
        self._check()
        return Fees(max_fee_per_gas=2 * self.base_fee, max_priority_fee_per_gas=self.base_fee // 10)

    def estimate_gas(self, tx: dict[str, Any]) -> int:
        self._check()
        if bytes(tx["data"]).startswith(REVERTING):
            raise ContractRevertError("CertificateRegistryBatchAlreadyAnchored", (b"\x01" * 32,))
        return 50_000

    def call(self, tx: dict[str, Any], block: str | int = "latest") -> bytes:
        self._check()
        if bytes(tx["data"]).startswith(REVERTS_ON_CHAIN):
            raise ContractRevertError("CertificateRegistryLogSizeNotIncreasing", (3, 5))
        return b""

    def send_raw(self, raw: bytes) -> bytes:
        self._check()
        if self.on_send is not None:
            self.on_send(raw)
        tx_hash = keccak(raw)
        fields = decode_raw(raw)
        if fields["chain_id"] != self.identity_.chain_id:
            raise ChainError("invalid chain id")
        nonce = fields["nonce"]
        if any(m.tx_hash == tx_hash for _, txs in self.blocks for m in txs):
            raise NonceTooLowError("nonce too low")  # what nodes say for a mined tx
        if nonce < self.mined_nonce():
            raise NonceTooLowError("nonce too low")
        current = self.mempool.get(nonce)
        if current is not None:
            if current[0] == tx_hash:
                return tx_hash  # "already known" is reported as success by the client
            old = current[2]
            if fields["max_fee_per_gas"] < old["max_fee_per_gas"] * 11 // 10 or (
                fields["max_priority_fee_per_gas"] < old["max_priority_fee_per_gas"] * 11 // 10
            ):
                raise ChainError("replacement transaction underpriced")
        self.mempool[nonce] = (tx_hash, raw, fields)
        self.sent_log.append(tx_hash)
        return tx_hash

    def receipt(self, tx_hash: bytes) -> Receipt | None:
        self._check("receipt")
        for number, (block_hash, txs) in enumerate(self.blocks):
            for m in txs:
                if m.tx_hash == tx_hash:
                    return Receipt(
                        tx_hash=tx_hash,
                        block_number=number,
                        block_hash=block_hash,
                        status=0 if m.data.startswith(REVERTS_ON_CHAIN) else 1,
                        gas_used=21_000,
                        contract_address=None,
                        logs=(),
                    )
        return None

    # ---- test controls -------------------------------------------------------------------------
    def mine(self, count: int = 1) -> None:
        """Mine ``count`` blocks; the first takes every executable mempool transaction."""
        for _ in range(count):
            txs: list[_Mined] = []
            n = self.mined_nonce()
            while n in self.mempool:
                tx_hash, _raw, fields = self.mempool.pop(n)
                txs.append(_Mined(tx_hash, n, bytes(fields["data"]), "sender"))
                n += 1
            self.blocks.append((os.urandom(32), txs))

    def reorg(self, depth: int, *, keep_txs: bool = False) -> None:
        """Drop the last ``depth`` blocks; their transactions go back to the pool or vanish."""
        dropped = self.blocks[-depth:]
        del self.blocks[-depth:]
        if keep_txs:
            for _, txs in dropped:
                for m in txs:
                    self.mempool[m.nonce] = (m.tx_hash, b"", {"data": m.data})
        self.blocks.extend((os.urandom(32), []) for _ in range(depth))

    def rollback(self, depth: int) -> None:
        """Drop the last ``depth`` blocks for good (a node that lost blocks)."""
        del self.blocks[-depth:]

    def foreign_tx(self) -> None:
        """Mine a transaction from the same key that the sender never saw (nonce taken)."""
        n = self.mined_nonce()
        self.mempool.pop(n, None)
        self.blocks.append((os.urandom(32), [_Mined(os.urandom(32), n, b"", "foreign")]))

    def mined_txs(self) -> list[_Mined]:
        return [m for _, txs in self.blocks for m in txs]

    def mined_ours(self) -> list[_Mined]:
        """Our transactions on chain, without the gap fillers (empty calldata)."""
        return [m for m in self.mined_txs() if m.sender == "sender" and m.data]


@dataclass
class FakeTxStore:
    """In-memory TxStore that also keeps the order of calls, to check persist-before-send."""

    requests: dict[int, TxRequest] = field(default_factory=dict)
    attempts: dict[int, list[TxAttempt]] = field(default_factory=dict)
    failures: dict[int, tuple[str, ContractRevertError | None]] = field(default_factory=dict)
    confirmed_effects: list[int] = field(default_factory=list)
    #: (request id, block it was confirmed in, block it is confirmed in now)
    reincluded: list[tuple[int, int, int]] = field(default_factory=list)
    #: requests whose business effect was undone (confirmed, then lost their nonce)
    undone: list[int] = field(default_factory=list)
    final: set[int] = field(default_factory=set)
    journal: list[tuple[str, int]] = field(default_factory=list)
    nonces: dict[str, int] = field(default_factory=dict)

    def enqueue(self, to: str, data: bytes) -> int:
        rid = len(self.requests) + 1
        self.requests[rid] = TxRequest(id=rid, to=to, data=data)
        self.attempts[rid] = []
        return rid

    def status(self, rid: int) -> TxStatus:
        return self.requests[rid].status

    def all_hashes(self) -> set[bytes]:
        return {a.tx_hash for attempts in self.attempts.values() for a in attempts}

    def effects(self, rid: int) -> int:
        """How many times the request's business effect stands applied (0 or 1)."""
        return self.confirmed_effects.count(rid) - self.undone.count(rid)

    def fillers(self) -> list[TxRequest]:
        return [r for r in self.requests.values() if r.kind == NONCE_FILL]

    # ---- TxStore -------------------------------------------------------------------------------
    def queued(self, limit: int) -> list[TxRequest]:
        return [r for r in self.requests.values() if r.status == TxStatus.QUEUED][:limit]

    def in_flight(self) -> list[tuple[TxRequest, list[TxAttempt]]]:
        rows = [
            (r, list(self.attempts[r.id]))
            for r in self.requests.values()
            if r.status in (TxStatus.SIGNED, TxStatus.SENT, TxStatus.MINED)
        ]
        return sorted(rows, key=lambda row: row[0].nonce or 0)

    def highest_nonce(self, sender: str) -> int | None:
        return self.nonces.get(sender)

    def record_signed(self, request_id: int, sender: str, attempt: TxAttempt) -> None:
        self.journal.append(("signed", request_id))
        req = self.requests[request_id]
        if req.status == TxStatus.QUEUED:
            req.status = TxStatus.SIGNED
            req.nonce = attempt.nonce
        self.attempts[request_id].append(attempt)
        self.nonces[sender] = max(self.nonces.get(sender, -1), attempt.nonce)

    def record_sent(self, request_id: int, tx_hash: bytes, at: float) -> None:
        self.journal.append(("sent", request_id))
        req = self.requests[request_id]
        if req.status == TxStatus.SIGNED:
            req.status = TxStatus.SENT
        for a in self.attempts[request_id]:
            if a.tx_hash == tx_hash:
                a.sent_at = at

    def record_mined(self, request_id: int, receipt: Receipt) -> None:
        req = self.requests[request_id]
        req.status = TxStatus.MINED
        req.mined_block_hash = receipt.block_hash
        req.mined_block_number = receipt.block_number
        req.mined_tx_hash = receipt.tx_hash

    def record_unmined(self, request_id: int) -> None:
        req = self.requests[request_id]
        req.status = TxStatus.SENT
        req.mined_block_hash = req.mined_block_number = req.mined_tx_hash = None

    def record_confirmed(self, request_id: int, receipt: Receipt) -> None:
        req = self.requests[request_id]
        assert req.status != TxStatus.CONFIRMED, "confirmed twice"
        req.status = TxStatus.CONFIRMED
        req.mined_tx_hash = receipt.tx_hash
        req.mined_block_hash = receipt.block_hash
        req.mined_block_number = receipt.block_number
        if req.reorged_from_block is not None:  # the effect stands: refresh, do not repeat
            self.reincluded.append((request_id, req.reorged_from_block, receipt.block_number))
            req.reorged_from_block = None
            return
        self.confirmed_effects.append(request_id)

    def _undo(self, req: TxRequest) -> None:
        if req.reorged_from_block is not None:
            self.undone.append(req.id)
            req.reorged_from_block = None

    def record_failed(
        self, request_id: int, reason: str, revert: ContractRevertError | None
    ) -> None:
        self._undo(self.requests[request_id])
        self.requests[request_id].status = TxStatus.FAILED
        self.failures[request_id] = (reason, revert)

    def record_requeued(self, request_id: int, reason: str) -> None:
        req = self.requests[request_id]
        self._undo(req)
        req.status = TxStatus.QUEUED
        req.nonce = None
        self.attempts[request_id] = []
        self.journal.append(("requeued", request_id))

    def following(self, sender: str) -> list[TxRequest]:
        rows = [
            r
            for r in self.requests.values()
            if r.status == TxStatus.CONFIRMED and r.id not in self.final
        ]
        return sorted(rows, key=lambda r: r.nonce or 0)

    def record_final(self, request_ids: list[int]) -> None:
        self.final.update(request_ids)

    def record_reorged(self, request_id: int, reason: str) -> None:
        req = self.requests[request_id]
        if req.status != TxStatus.CONFIRMED:
            return
        self.journal.append(("reorged", request_id))
        req.status = TxStatus.SENT
        req.reorged_from_block = req.mined_block_number
        req.mined_block_hash = req.mined_block_number = req.mined_tx_hash = None
        self.final.discard(request_id)

    def nonce_owners(self, sender: str, nonces: list[int]) -> dict[int, TxRequest]:
        return {
            r.nonce: r
            for r in self.requests.values()
            if r.nonce in nonces and r.status in (TxStatus.CONFIRMED, TxStatus.FAILED)
        }

    def record_filler(self, sender: str, attempt: TxAttempt) -> int:
        rid = len(self.requests) + 1
        self.requests[rid] = TxRequest(
            id=rid,
            to=sender,
            data=b"",
            gas_limit=attempt.gas_limit,
            status=TxStatus.SIGNED,
            nonce=attempt.nonce,
            kind=NONCE_FILL,
        )
        self.attempts[rid] = [attempt]
        self.nonces[sender] = max(self.nonces.get(sender, -1), attempt.nonce)
        self.journal.append(("filler", rid))
        return rid

    def confirmed_page(self, after_id: int, limit: int) -> list[tuple[TxRequest, list[TxAttempt]]]:
        rows = sorted(
            (
                r
                for r in self.requests.values()
                if r.status == TxStatus.CONFIRMED and r.id > after_id
            ),
            key=lambda r: r.id,
        )[:limit]
        return [(r, list(self.attempts[r.id])) for r in rows]
