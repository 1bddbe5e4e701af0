"""Writes from outside the feed, applied in log order.

What changes the touchpoints from outside the feed (a spend, a programme's settings, an expiry
run, a consent) is appended to the event log and applied at once, in the same transaction: the
transaction takes the log's appenders' lock, applies every entry the feed has not applied yet,
decides on that state (a spend sees every award and reversal before it), appends its entries,
applies them and moves the feed's checkpoint past them. So a rebuild, which applies the log
from the start, gives the same state; concurrent writes are serialised by that lock; and what a
client wrote is there when it next reads.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from service.kernel.actor import Actor
from service.kernel.errors import PermissionDeniedError, RequestInProgressError
from service.kernel.events import Event, canonical_json
from service.kernel.idempotency import Idempotency, replay
from service.kernel.ports import Clock, DuplicateError, StoredResponse
from service.kernel.roles import Role
from service.touchpoints.app.projector import LOG_RANGE, PAGE, apply_log
from service.touchpoints.domain.errors import PointsCatchingUpError
from service.touchpoints.domain.journey import Source
from service.touchpoints.ports import TouchpointsUnitOfWork, TouchpointsUnitOfWorkFactory

#: A write applies what the feed has not applied yet; beyond this many log entries behind
#: (after a restart or a rebuild) it asks the client to come back instead of holding the log.
MAX_CATCH_UP = PAGE * LOG_RANGE
#: Tries of a write whose checkpoint the feed's own pass moved first.
ATTEMPTS = 5

Work = Callable[[TouchpointsUnitOfWork, datetime], dict[str, Any] | None]


def signed_in(actor: Actor, uow: TouchpointsUnitOfWork, refusal: str) -> str:
    """The signed-in consumer's account public id (what the log names them by); ``refusal`` is
    the sentence for any other caller."""
    if actor.role is not Role.CONSUMER or actor.account_id is None:
        raise PermissionDeniedError(refusal)
    public_id = uow.feed.account_public_id(actor.account_id)
    if public_id is None:
        raise PermissionDeniedError(refusal)
    return public_id


class AppliedWrites:
    def __init__(self, uows: TouchpointsUnitOfWorkFactory, clock: Clock) -> None:
        self.uows = uows
        self.clock = clock
        #: Batches' brands and products (fixed once made), as the projector keeps them.
        self._brands: dict[str, tuple[int | None, str | None]] = {}

    def append(
        self,
        uow: TouchpointsUnitOfWork,
        decide: Callable[[TouchpointsUnitOfWork], Sequence[Event]],
        now: datetime,
    ) -> int | None:
        """Hold the log, apply what the feed has not, let ``decide`` make the events on that
        state, append and apply them, and move the feed's checkpoint past them: the first new
        index. None when the feed's own pass moved the checkpoint first (the caller rolls back
        and tries again)."""
        size = uow.events.hold()
        start = uow.feed_checkpoints.position(Source.LOG)
        if size - start > MAX_CATCH_UP:
            raise PointsCatchingUpError()
        if size > start:
            apply_log(uow, start, size, self._brands)
        events = list(decide(uow))
        first = uow.events.append_many(events, now) if events else size
        end = first + len(events)
        if events:
            apply_log(uow, first, end, self._brands)
        if end > start and not uow.feed_checkpoints.advance(Source.LOG, start, end, now):
            return None
        return first

    def run(self, actor: Actor, idempotency: Idempotency | None, work: Work) -> dict[str, Any]:
        """Run ``work`` in one transaction, again while it answers None (the feed moved
        first); the same Idempotency-Key answers the same."""
        for _ in range(ATTEMPTS):
            try:
                with self.uows() as uow:
                    stored = replay(uow, actor, idempotency)
                    if stored is not None:
                        return stored
                    now = self.clock.now()
                    view = work(uow, now)
                    if view is None:
                        uow.rollback()
                        continue
                    if idempotency is not None:
                        uow.idempotency.add(
                            actor.principal_id,
                            idempotency.key,
                            StoredResponse(idempotency.request_hash, 200, canonical_json(view)),
                            now,
                        )
                    uow.commit()
                    return view
            except DuplicateError as exc:
                if idempotency is None or exc.constraint != "idempotency_keys":
                    raise
                with self.uows.reader() as uow:
                    stored = replay(uow, actor, idempotency)
                if stored is not None:
                    return stored
                raise RequestInProgressError() from exc
        raise RequestInProgressError(
            "The touchpoints are being updated right now; send the same request again in a moment."
        )
