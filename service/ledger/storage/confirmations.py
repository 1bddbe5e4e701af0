"""The outbox's registry of confirmation handlers: what a chain write's outcome does, by kind.

``SqlAlchemyTxStore`` only persists the outbox. When it records that a write was confirmed,
failed, taken back or re-included, it asks this registry for the handler of the write's kind
and calls it in the SAME database transaction, so the business effect commits (or not) with
the status change. Each handler is owned by the area whose rows it changes and lives beside
that area's storage:

* ``anchor_batch``, ``recall_batch``, ``attest_batch``: ``batch_confirmations`` (factory);
* ``claim``, ``claim_batch``, ``forward``, ``relay``, ``grant_role``:
  ``certificate_confirmations`` (consumer);
* ``anchor_log``: ``log_anchor_confirmations`` (ledger);
* ``nonce_fill``: :data:`NO_EFFECT` here (a gap filler touches no business row).

``service.bootstrap`` registers them once. A kind registered twice is refused, and a write of
a kind nobody registered is an error that names the kind, never a silent no-op.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy.orm import Session

from chain.client import Receipt
from service.kernel.events import Event


@dataclass(frozen=True)
class Settlement:
    """The outbox's open transaction, as a handler sees it: the session to change its rows
    in, the time of the decision, and the event log to record the change in."""

    session: Session
    now: datetime
    log: Callable[[Event], object]


@dataclass(frozen=True)
class Write:
    """The chain write whose outcome is settled."""

    id: int
    kind: str
    #: The address it calls (the registry, or the forwarder for relayed requests).
    to: str


@dataclass(frozen=True)
class Touched:
    """The business rows a write acts on, named in ``ChainWriteReincluded`` and
    ``ChainWriteRolledBack``."""

    batch_id: str | None = None
    certificate_ids: tuple[str, ...] = ()


class ConfirmationHandler(Protocol):
    """What a chain write of one kind does to its area's rows. Every method runs inside the
    outbox's transaction (``tx``) and must not commit."""

    #: False for kinds whose chain facts no event may record (``ChainWriteReincluded``,
    #: ``ChainWriteRolledBack``): a log anchor's event would grow the log it anchors.
    logs_chain_facts: bool

    def confirmed(self, tx: Settlement, write: Write, receipt: Receipt, again: bool) -> None:
        """The write is on chain at depth K: apply its effect. ``again`` when its effect had
        been taken back after an earlier confirmation."""

    def failed(
        self, tx: Settlement, writes: Sequence[Write], reason: str, revert: str | None
    ) -> None:
        """The writes failed for good (``revert``: the contract's error name, if it reverted),
        or their dependency did: undo what queueing them did."""

    def taken_back(self, tx: Settlement, write: Write) -> Touched:
        """A confirmed write left the chain for good: undo what its confirmation did."""

    def reincluded(self, tx: Settlement, write: Write, receipt: Receipt) -> Touched:
        """A confirmed write that a reorg removed is on chain again, in ``receipt``: every
        fact derived from its inclusion names the new one."""


class UnknownWriteKindError(LookupError):
    """Raised when the outbox settles a write of a kind no confirmation handler was
    registered for: register one in ``service.bootstrap``."""

    def __init__(self, kind: str, known: Iterable[str]) -> None:
        super().__init__(
            f"No confirmation handler for chain writes of kind {kind!r} "
            f"(registered: {', '.join(sorted(known)) or 'none'}); register one in "
            "service.bootstrap."
        )
        self.kind = kind


class DuplicateWriteKindError(ValueError):
    """Raised when a second confirmation handler is registered for a kind that has one."""

    def __init__(self, kind: str) -> None:
        super().__init__(
            f"Chain writes of kind {kind!r} already have a confirmation handler; "
            "each kind has exactly one owner."
        )
        self.kind = kind


class ConfirmationRegistry:
    """Outbox kind -> the one handler of that kind."""

    def __init__(self) -> None:
        self._handlers: dict[str, ConfirmationHandler] = {}

    def register(self, handler: ConfirmationHandler, *kinds: str) -> ConfirmationRegistry:
        """Make ``handler`` the handler of each of ``kinds``; refuse a kind that has one."""
        seen = set(self._handlers)
        for kind in kinds:
            if kind in seen:
                raise DuplicateWriteKindError(kind)
            seen.add(kind)
        for kind in kinds:
            self._handlers[kind] = handler
        return self

    def handler(self, kind: str) -> ConfirmationHandler:
        """The handler of ``kind``; raise :class:`UnknownWriteKindError` if there is none."""
        found = self._handlers.get(kind)
        if found is None:
            raise UnknownWriteKindError(kind, self._handlers)
        return found

    def kinds(self) -> frozenset[str]:
        return frozenset(self._handlers)


class NoEffect:
    """A write that changes no business row (a nonce-gap filler): nothing to apply, nothing
    to take back, and no chain fact to log."""

    logs_chain_facts = False

    def confirmed(self, tx: Settlement, write: Write, receipt: Receipt, again: bool) -> None:
        return None

    def failed(
        self, tx: Settlement, writes: Sequence[Write], reason: str, revert: str | None
    ) -> None:
        return None

    def taken_back(self, tx: Settlement, write: Write) -> Touched:
        return Touched()

    def reincluded(self, tx: Settlement, write: Write, receipt: Receipt) -> Touched:
        return Touched()


NO_EFFECT = NoEffect()
