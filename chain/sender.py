"""The single transaction sender: sign, persist, send; resend, bump, confirm; follow to finality.

Every chain write is a request row that the service inserted in the same database
transaction as the business change (the transactional outbox). The sender turns requests
into transactions under one rule: **a signed transaction is persisted before it is sent**,
so after any crash the very same raw bytes are sent again and a request can never become
two transactions with different nonces.

Life of a request::

    QUEUED -estimate,sign,persist-> SIGNED -send-> SENT -receipt-> MINED -depth K-> CONFIRMED
       ^                                          |  ^ ^           |                  |
       |    nonce taken by a foreign transaction  |  | +- reorg ---+                  | window
       +------------------------------------------+  +-- reorg (effect kept) -------+ v
    (a revert found by estimation, or a mined receipt with status 0) -> FAILED      final

* "already known" from the node means the transaction is in its pool: that counts as sent.
* "nonce too low" is reconciled by transaction hash: one of our attempts was mined (the
  receipt poll finds it), or a foreign transaction took the nonce and the request is queued
  again with a fresh nonce (none of its attempts can ever be mined any more).
* A transaction that sits unmined for ``stuck_after_s`` is replaced with the same nonce
  and fees raised by ``fee_bump_permille`` (+1 wei); every hash is kept and polled.
* A receipt counts only at depth ``confirmations``; the block hash is checked again at
  that moment, and a receipt whose block left the canonical chain goes back to SENT.
* A CONFIRMED write is still followed, by comparing its block hash with the canonical hash
  at that height (one call per distinct block, only when the head moved), until
  ``finality_blocks`` bury it and, on chains that report one, the ``finalized`` block passes
  it; then it is marked final and never polled again. A confirmed write that leaves the
  chain goes back to SENT *with its business effect kept*: its stored raw transaction is sent
  again (the same bytes). Re-included, the store refreshes every block number derived from
  it; its nonce taken by another transaction, the store undoes the effect and queues it
  again, and its next confirmation applies the effect again.
* Nonce gaps: every nonce between the chain's ``latest`` nonce and the highest nonce ever
  signed must be held by a write in flight, or later writes wait forever. A gap is filled
  by the stored raw transaction of the confirmed write that owns the nonce (it left the
  chain after the window), otherwise by a zero-value self-transfer at that nonce, persisted
  like any write before it is sent. Never is a *different* transaction signed for a nonce
  that one of our writes may still use.
* When the chain's identity differs from the one recorded with the database, the sender
  is *held*: it sends nothing at all.

Each decision (re-queued, re-sent, fee bumped, removed by a reorg, re-included, undone, gap
found and filled) is logged once, at INFO or WARNING.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak

from chain.client import ChainClient, ChainIdentity, Fees, Receipt
from chain.config import ChainSettings
from chain.errors import (
    ChainError,
    ChainUnavailableError,
    ContractRevertError,
    NonceTooLowError,
)

log = logging.getLogger(__name__)


class TxStatus(StrEnum):
    """Where a chain-write request is in its life (see the module docstring)."""

    QUEUED = "queued"
    SIGNED = "signed"
    SENT = "sent"
    MINED = "mined"
    CONFIRMED = "confirmed"
    FAILED = "failed"


IN_FLIGHT = (TxStatus.SIGNED, TxStatus.SENT, TxStatus.MINED)
#: The outbox kind of a zero-value self-transfer that fills a nonce gap.
NONCE_FILL = "nonce_fill"
#: Gas of a plain value transfer (a gap filler).
TRANSFER_GAS = 21_000


@dataclass
class TxRequest:
    """One chain write waiting in, or moving through, the outbox."""

    id: int
    to: str
    data: bytes
    value: int = 0
    gas_limit: int | None = None
    status: TxStatus = TxStatus.QUEUED
    nonce: int | None = None
    mined_block_number: int | None = None
    mined_block_hash: bytes | None = None
    mined_tx_hash: bytes | None = None
    #: What the write does (``anchor_batch``, ``claim_batch``, ``nonce_fill``...): for logs.
    kind: str = ""
    #: Set while a write that was confirmed (its business effect applied) is off the chain
    #: again after a reorg: the block it had been confirmed in.
    reorged_from_block: int | None = None


@dataclass
class TxAttempt:
    """One signed transaction for a request; replacements share the nonce."""

    tx_hash: bytes
    raw: bytes
    nonce: int
    max_fee_per_gas: int
    max_priority_fee_per_gas: int
    gas_limit: int
    sent_at: float | None = None


class TxStore(Protocol):
    """Persistence of requests and attempts; the service implements it on its database."""

    def queued(self, limit: int) -> list[TxRequest]:
        """Return up to ``limit`` QUEUED requests, oldest first."""
        ...

    def in_flight(self) -> list[tuple[TxRequest, list[TxAttempt]]]:
        """Return SIGNED, SENT and MINED requests with all their attempts, by nonce."""
        ...

    def highest_nonce(self, sender: str) -> int | None:
        """Return the highest nonce ever assigned to ``sender`` by this store."""
        ...

    def record_signed(self, request_id: int, sender: str, attempt: TxAttempt) -> None:
        """Durably store a signed attempt before it is sent.

        The first attempt moves the request from QUEUED to SIGNED and fixes its nonce; a
        replacement (same nonce, higher fees) is added beside the earlier attempts and leaves
        the status as it is.
        """
        ...

    def record_sent(self, request_id: int, tx_hash: bytes, at: float) -> None:
        """Note that an attempt reached a node."""
        ...

    def record_mined(self, request_id: int, receipt: Receipt) -> None:
        """Note the receipt of one of the request's attempts."""
        ...

    def record_unmined(self, request_id: int) -> None:
        """Forget a receipt whose block left the canonical chain (back to SENT)."""
        ...

    def record_confirmed(self, request_id: int, receipt: Receipt) -> None:
        """Mark the request confirmed and apply its business effects atomically."""
        ...

    def record_failed(
        self, request_id: int, reason: str, revert: ContractRevertError | None
    ) -> None:
        """Mark the request failed for good, with the decoded revert if there is one."""
        ...

    def record_requeued(self, request_id: int, reason: str) -> None:
        """Send the request back to QUEUED: its nonce went to a foreign transaction.

        A request that had been confirmed (``reorged_from_block`` set) has its business
        effect undone in the same transaction; its next confirmation applies it again.
        """
        ...

    def following(self, sender: str) -> list[TxRequest]:
        """Return ``sender``'s CONFIRMED requests that are not final yet, by nonce."""
        ...

    def record_final(self, request_ids: list[int]) -> None:
        """Mark confirmed requests final: past the finality window, never followed again."""
        ...

    def record_reorged(self, request_id: int, reason: str) -> None:
        """A CONFIRMED request left the chain: back to SENT, its business effect kept.

        ``record_confirmed`` then refreshes the block numbers derived from it (re-included),
        or ``record_requeued``/``record_failed`` undo its effect. A request that is no longer
        CONFIRMED is left as it is.
        """
        ...

    def nonce_owners(self, sender: str, nonces: list[int]) -> dict[int, TxRequest]:
        """Return the CONFIRMED or FAILED requests of ``sender`` that hold these nonces."""
        ...

    def record_filler(self, sender: str, attempt: TxAttempt) -> int:
        """Durably store a zero-value self-transfer that fills a nonce gap, as a SIGNED
        request of kind ``nonce_fill``; return its id."""
        ...

    def confirmed_page(self, after_id: int, limit: int) -> list[tuple[TxRequest, list[TxAttempt]]]:
        """Return up to ``limit`` CONFIRMED requests (final or not) with an id above
        ``after_id``, by id, with their attempts."""
        ...


@dataclass
class SenderReport:
    """What one ``Sender.step`` did; handy for logs, tests and /health."""

    held: bool = False
    unavailable: bool = False
    signed: int = 0
    sent: int = 0
    resent: int = 0
    bumped: int = 0
    mined: int = 0
    confirmed: int = 0
    failed: int = 0
    requeued: int = 0
    unmined: int = 0
    #: Confirmed writes found off the chain (sent again, their effect kept for now).
    reorged: int = 0
    #: Of those, re-included and confirmed again (block numbers refreshed).
    reincluded: int = 0
    #: Of those, undone: their nonce went to another transaction, so they were queued again.
    undone: int = 0
    #: Confirmed writes that passed the finality window.
    final: int = 0
    #: Nonces of a gap filled with a zero-value self-transfer.
    filled: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def busy(self) -> bool:
        """True when the pass moved something, so the next one should follow at once."""
        return bool(self.signed or self.mined or self.confirmed or self.reorged or self.filled)


class Sender:
    """Moves outbox requests onto the chain for one signing key.

    Exactly one ``Sender`` may run per key; the service enforces that with a lease.
    """

    def __init__(
        self,
        client: ChainClient,
        account: LocalAccount,
        store: TxStore,
        settings: ChainSettings,
        expected: ChainIdentity,
        *,
        clock: Callable[[], float] = time.time,
        batch_limit: int = 64,
        rebroadcast_after_s: float = 3.0,
    ) -> None:
        self._client = client
        self._account = account
        self._store = store
        self._settings = settings
        self._expected = expected
        self._clock = clock
        self._batch_limit = batch_limit
        self._rebroadcast_after_s = rebroadcast_after_s
        self._last_broadcast: dict[bytes, float] = {}
        #: When a write went back on its way after a reorg: its stuck clock starts there,
        #: so the stored raw transaction is sent again before any replacement is signed.
        self._waiting_since: dict[int, float] = {}
        #: The head (number, hash) at the last check of the confirmed writes: while it has
        #: not moved, no block they sit in can have changed.
        self._followed_head: tuple[int, bytes] | None = None
        #: Writes whose raw transaction goes out in the next pass, whenever it last went out.
        self._resend_now: set[int] = set()
        self.held = False
        self.hold_reason: str | None = None
        self.last_report: SenderReport | None = None

    @property
    def address(self) -> str:
        """The address that signs every transaction of this sender."""
        return str(self._account.address)

    # ------------------------------------------------------------------ the loop
    def step(self) -> SenderReport:
        """Run one pass: identity check, confirmed writes inside the finality window,
        in-flight follow-up, nonce gaps, then new requests.

        Returns:
            What the pass did. Chain outages are reported, never raised.
        """
        report = SenderReport()
        try:
            identity = self._client.identity()
            if identity != self._expected:
                self.held = True
                self.hold_reason = (
                    f"chain identity changed: expected chain {self._expected.chain_id} "
                    f"genesis 0x{self._expected.genesis_hash.hex()}, found chain "
                    f"{identity.chain_id} genesis 0x{identity.genesis_hash.hex()}"
                )
                report.held = True
                self.last_report = report
                return report
            self.held = False
            self.hold_reason = None
            self._follow_confirmed(report)
            held, latest_nonce = self._follow_in_flight(report)
            self._fill_gaps(held, latest_nonce, report)
            self._sign_and_send_queued(report)
        except ChainUnavailableError as exc:
            report.unavailable = True
            report.errors.append(str(exc))
        self.last_report = report
        return report

    def run(self, stop: threading.Event, interval_s: float | None = None) -> None:
        """Call ``step`` until ``stop`` is set, sleeping ``interval_s`` between passes."""
        pause = self._settings.poll_interval_s if interval_s is None else interval_s
        while not stop.is_set():
            try:
                report = self.step()
            except Exception:  # a bug must not kill the loop silently; it is logged loudly
                log.exception("sender step failed")
                report = None
            stop.wait(0 if report is not None and report.busy else pause)

    # ------------------------------------------------------------------ confirmed, not final
    def _follow_confirmed(self, report: SenderReport) -> None:
        """Compare the block of every confirmed, not yet final write with the canonical one."""
        head, head_hash = self._client.head()
        if self._followed_head == (head, head_hash):
            return
        following = self._store.following(self.address)
        if following:
            finalized = self._client.finalized_block_number()
            canonical: dict[int, bytes | None] = {}
            final: list[int] = []
            for request in following:
                number = request.mined_block_number
                if number is None:  # cannot happen through record_confirmed
                    continue
                if number not in canonical:
                    canonical[number] = self._client.block_hash(number) if number <= head else None
                if canonical[number] == request.mined_block_hash:
                    if head - number >= self._settings.finality_blocks and (
                        finalized is None or number <= finalized
                    ):
                        final.append(request.id)
                    continue
                self._reorged(request, f"block {number} left the canonical chain", report)
            if final:
                self._store.record_final(final)
                report.final += len(final)
        self._followed_head = (head, head_hash)

    def _reorged(self, request: TxRequest, why: str, report: SenderReport) -> None:
        tx_hash, nonce = request.mined_tx_hash or b"", request.nonce
        self._store.record_reorged(request.id, why)
        self._waiting_since[request.id] = self._clock()
        self._resend_now.add(request.id)
        report.reorged += 1
        log.warning(
            "write #%d (%s, nonce %s, tx 0x%s) was removed by a reorg: %s; its effect is kept "
            "while its stored raw transaction is sent again",
            request.id,
            request.kind or "write",
            nonce,
            tx_hash.hex(),
            why,
        )

    # ------------------------------------------------------------------ in flight
    def _follow_in_flight(self, report: SenderReport) -> tuple[set[int], int | None]:
        """Follow every write in flight; return the nonces they still hold, and the chain's
        ``latest`` nonce if it was read."""
        held: set[int] = set()
        head: int | None = None
        latest_nonce: int | None = None
        for request, attempts in self._store.in_flight():
            if not attempts:  # cannot happen through record_signed; be loud, not stuck
                report.errors.append(f"request {request.id} is in flight without attempts")
                continue
            if head is None:
                head = self._client.block_number()
            if request.reorged_from_block is not None and request.id not in self._waiting_since:
                # Handed back by an operator's recheck, or followed since before a restart:
                # its raw transaction goes out now, and its stuck clock starts now.
                self._waiting_since[request.id] = self._clock()
                self._resend_now.add(request.id)
            receipt = self._find_receipt(attempts)
            if request.status == TxStatus.MINED and (
                receipt is None or receipt.block_hash != request.mined_block_hash
            ):
                # The block that held it is gone (reorg, or a node restarted from an older
                # state): the same raw transaction is still valid, send it again.
                self._store.record_unmined(request.id)
                request.status = TxStatus.SENT
                report.unmined += 1
                log.info(
                    "write #%d (%s) left block %s before its confirmation; following it again",
                    request.id,
                    request.kind or "write",
                    request.mined_block_number,
                )
                if receipt is None:
                    self._last_broadcast.clear()
            if receipt is not None:
                if request.nonce is not None:
                    held.add(request.nonce)
                self._on_receipt(request, receipt, head, report)
                continue
            if request.nonce is not None:
                if latest_nonce is None:
                    latest_nonce = self._client.nonce(self.address, "latest")
                if request.nonce < latest_nonce and self._find_receipt(attempts) is None:
                    # The nonce was used, and by none of our attempts: a foreign transaction
                    # took it. None of our attempts can ever be mined now.
                    self._nonce_lost(request, report)
                    continue
                held.add(request.nonce)
            self._keep_alive(request, attempts, report)
        return held, latest_nonce

    def _nonce_lost(self, request: TxRequest, report: SenderReport) -> None:
        why = f"nonce {request.nonce} was used by another transaction"
        confirmed_in = request.reorged_from_block
        self._waiting_since.pop(request.id, None)
        if request.kind == NONCE_FILL:
            # A filler whose nonce is used has nothing left to fill.
            self._store.record_failed(request.id, f"{why}: no gap left to fill", None)
            log.info("gap filler #%d: %s; nothing left to fill", request.id, why)
            return
        self._store.record_requeued(request.id, why)
        report.requeued += 1
        if confirmed_in is not None:
            report.undone += 1
            log.warning(
                "write #%d (%s) confirmed in block %d is undone: %s; its effect is taken "
                "back and it is queued again",
                request.id,
                request.kind or "write",
                confirmed_in,
                why,
            )
        else:
            log.warning("write #%d (%s) re-queued: %s", request.id, request.kind or "write", why)

    def _find_receipt(self, attempts: list[TxAttempt]) -> Receipt | None:
        for attempt in reversed(attempts):
            receipt = self._client.receipt(attempt.tx_hash)
            if receipt is not None:
                return receipt
        return None

    def _on_receipt(
        self, request: TxRequest, receipt: Receipt, head: int, report: SenderReport
    ) -> None:
        if request.status != TxStatus.MINED:
            self._store.record_mined(request.id, receipt)
            report.mined += 1
        depth = head - receipt.block_number + 1
        if depth < self._settings.confirmations:
            return
        canonical = self._client.block_hash(receipt.block_number)
        if canonical != receipt.block_hash:
            self._store.record_unmined(request.id)
            report.unmined += 1
            return
        self._waiting_since.pop(request.id, None)
        confirmed_in = request.reorged_from_block
        if receipt.status == 1:
            self._store.record_confirmed(request.id, receipt)
            report.confirmed += 1
            if confirmed_in is not None:
                report.reincluded += 1
                log.info(
                    "write #%d (%s) re-included: tx 0x%s in block %d (confirmed before in "
                    "block %d); its block numbers are refreshed",
                    request.id,
                    request.kind or "write",
                    receipt.tx_hash.hex(),
                    receipt.block_number,
                    confirmed_in,
                )
        else:
            revert = self._replay_revert(request, receipt)
            reason = f"reverted on chain in block {receipt.block_number}"
            if revert is not None:
                reason += f": {revert.name}{revert.args!r}"
            self._store.record_failed(request.id, reason, revert)
            report.failed += 1
            if confirmed_in is not None:
                report.undone += 1
                log.warning(
                    "write #%d (%s) confirmed in block %d is undone: re-included, it %s",
                    request.id,
                    request.kind or "write",
                    confirmed_in,
                    reason,
                )

    def _replay_revert(self, request: TxRequest, receipt: Receipt) -> ContractRevertError | None:
        try:
            self._client.call(
                {
                    "from": self.address,
                    "to": request.to,
                    "data": request.data,
                    "value": request.value,
                },
                block=max(receipt.block_number - 1, 0),
            )
        except ContractRevertError as exc:
            return exc
        except ChainError:
            return None
        return None

    def _keep_alive(
        self, request: TxRequest, attempts: list[TxAttempt], report: SenderReport
    ) -> None:
        now = self._clock()
        latest = attempts[-1]
        waiting_since = max(
            latest.sent_at or 0.0, self._waiting_since.get(request.id, float("-inf"))
        )
        if (
            request.status == TxStatus.SENT
            and latest.sent_at is not None
            and now - waiting_since >= self._settings.stuck_after_s
        ):
            replacement = self._sign(request, latest.nonce, latest.gas_limit, bump_from=latest)
            self._store.record_signed(request.id, self.address, replacement)
            attempts.append(replacement)
            report.bumped += 1
            log.info(
                "write #%d (%s) unmined for %.0f s: replaced at nonce %d with fees +%.1f%% "
                "(tx 0x%s)",
                request.id,
                request.kind or "write",
                now - waiting_since,
                latest.nonce,
                (self._settings.fee_bump_permille - 1000) / 10,
                replacement.tx_hash.hex(),
            )
            latest = replacement
        last = self._last_broadcast.get(latest.tx_hash)
        announce = request.id in self._resend_now
        if not announce and last is not None and now - last < self._rebroadcast_after_s:
            return
        self._resend_now.discard(request.id)
        was_sent = latest.sent_at is not None
        if self._broadcast(request, latest, report) and was_sent:
            report.resent += 1
            if last is None or announce:  # first re-send of this process, or after a reorg
                log.info(
                    "write #%d (%s) re-sent: the same raw transaction 0x%s at nonce %d",
                    request.id,
                    request.kind or "write",
                    latest.tx_hash.hex(),
                    latest.nonce,
                )

    # ------------------------------------------------------------------ nonce gaps
    def _fill_gaps(self, held: set[int], latest: int | None, report: SenderReport) -> None:
        """Every nonce from the chain's ``latest`` one up to the highest we signed must be
        held by a write in flight; fill the others."""
        highest = self._store.highest_nonce(self.address)
        if highest is None:
            return
        if latest is None:
            latest = self._client.nonce(self.address, "latest")
        missing = [n for n in range(latest, highest + 1) if n not in held]
        if not missing:
            return
        log.warning(
            "nonce gap: the chain's nonce is %d, the lowest nonce in flight %s; %d nonce(s) "
            "unheld: %s",
            latest,
            min(held) if held else None,
            len(missing),
            missing[:10],
        )
        missing = missing[: self._batch_limit]
        owners = self._store.nonce_owners(self.address, missing)
        for nonce in missing:
            owner = owners.get(nonce)
            if owner is not None and owner.status == TxStatus.CONFIRMED:
                # Confirmed, yet its nonce is unused on chain: it left the chain after the
                # window we follow. Its stored raw transaction goes out again.
                self._reorged(owner, f"its nonce {nonce} is unused on chain", report)
                continue
            # Nobody can use this nonce (its write was re-queued, or it reverted on chain and
            # sending it again could now succeed behind the database's back): fill it.
            filler = TxRequest(
                id=0, to=self.address, data=b"", gas_limit=TRANSFER_GAS, kind=NONCE_FILL
            )
            attempt = self._sign(filler, nonce, TRANSFER_GAS)
            filler.id = self._store.record_filler(self.address, attempt)
            report.filled += 1
            log.warning(
                "nonce gap at %d filled with a zero-value self-transfer (write #%d, tx 0x%s)%s",
                nonce,
                filler.id,
                attempt.tx_hash.hex(),
                f"; its write #{owner.id} had {owner.status}" if owner is not None else "",
            )
            self._broadcast(filler, attempt, report)

    # ------------------------------------------------------------------ new requests
    def _sign_and_send_queued(self, report: SenderReport) -> None:
        queued = self._store.queued(self._batch_limit)
        if not queued:
            return
        next_nonce = self._client.nonce(self.address, "pending")
        highest = self._store.highest_nonce(self.address)
        if highest is not None:
            next_nonce = max(next_nonce, highest + 1)
        for request in queued:
            try:
                gas = request.gas_limit or self._estimate(request)
            except ContractRevertError as exc:
                # Nothing was signed, so no nonce is consumed by a request that cannot work.
                self._store.record_failed(request.id, f"would revert: {exc.name}{exc.args!r}", exc)
                report.failed += 1
                continue
            attempt = self._sign(request, next_nonce, gas)
            self._store.record_signed(request.id, self.address, attempt)
            report.signed += 1
            next_nonce += 1
            self._broadcast(request, attempt, report)

    def _estimate(self, request: TxRequest) -> int:
        estimate = self._client.estimate_gas(
            {"from": self.address, "to": request.to, "data": request.data, "value": request.value}
        )
        return estimate * 5 // 4 + 10_000

    def _sign(
        self, request: TxRequest, nonce: int, gas: int, bump_from: TxAttempt | None = None
    ) -> TxAttempt:
        fees = self._client.fees()
        if bump_from is not None:
            fees = Fees(
                max_fee_per_gas=max(fees.max_fee_per_gas, self._bumped(bump_from.max_fee_per_gas)),
                max_priority_fee_per_gas=max(
                    fees.max_priority_fee_per_gas,
                    self._bumped(bump_from.max_priority_fee_per_gas),
                ),
            )
        tx: dict[str, Any] = {
            "type": 2,
            "chainId": self._expected.chain_id,
            "nonce": nonce,
            "to": request.to,
            "data": request.data,
            "value": request.value,
            "gas": gas,
            "maxFeePerGas": fees.max_fee_per_gas,
            "maxPriorityFeePerGas": fees.max_priority_fee_per_gas,
        }
        signed = self._account.sign_transaction(tx)
        raw = bytes(signed.raw_transaction)
        return TxAttempt(
            tx_hash=keccak(raw),
            raw=raw,
            nonce=nonce,
            max_fee_per_gas=fees.max_fee_per_gas,
            max_priority_fee_per_gas=fees.max_priority_fee_per_gas,
            gas_limit=gas,
        )

    def _bumped(self, fee: int) -> int:
        return fee * self._settings.fee_bump_permille // 1000 + 1

    def _broadcast(self, request: TxRequest, attempt: TxAttempt, report: SenderReport) -> bool:
        try:
            self._client.send_raw(attempt.raw)
        except NonceTooLowError:
            # Reconciled by hash in the next pass: either an attempt of ours was mined,
            # or the request is queued again.
            self._last_broadcast[attempt.tx_hash] = self._clock()
            return False
        except ChainUnavailableError:
            raise
        except ChainError as exc:
            report.errors.append(f"request {request.id}: send refused: {exc}")
            self._last_broadcast[attempt.tx_hash] = self._clock()
            return False
        now = self._clock()
        self._last_broadcast[attempt.tx_hash] = now
        if attempt.sent_at is None:
            self._store.record_sent(request.id, attempt.tx_hash, now)
            attempt.sent_at = now
            report.sent += 1
        return True
