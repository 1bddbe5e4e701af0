"""The anchorer's proof pass in a process of its own.

Before each anchor the whole stored log is read back and the entries since the chain's last
anchor are hashed and decoded again (``service.ledger.app.log_integrity``). That is seconds of
CPU on a large log, every anchor interval. In the API's process it held the interpreter lock against
the requests: a case scan that took 25 ms took 250-580 ms while a pass ran (scripts/bench_scans,
issue 11). In a child process it runs on the other core and never holds the API's lock.

The child opens its own read-only connections to the same database and reads the rows below
the size the parent asked for; those are append-only, so it sees what the parent would have
(an insider's edit between the two reads is what the next pass reports). If the child cannot
start or dies, the pass runs in this process, as before: the log is never left unproven.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from service.ledger.app import log_integrity
from service.ledger.app.log_integrity import Inspection, Progress
from service.ledger.ports import LedgerUnitOfWork, LedgerUnitOfWorkFactory, LogCommitments

log = logging.getLogger(__name__)

# The child's own unit-of-work factory and commitments (set by ``_start_child``).
_child: dict[str, Any] = {}

#: Opens the child's unit-of-work factory from the arguments it is given: a module-level
#: function of the wiring (``service.unit_of_work.open_factory``), so it can be sent to a
#: spawned process.
UowOpener = Callable[..., LedgerUnitOfWorkFactory]


def _start_child(open_uows: UowOpener, args: tuple[Any, ...]) -> None:
    from service.ledger.storage.commitments import ChainCommitments

    _child["uow_factory"] = open_uows(*args)
    _child["commitments"] = ChainCommitments()


def _inspect_in_child(
    size: int, checkpoints: tuple[int, ...], payloads: tuple[int, int]
) -> Inspection:
    with _child["uow_factory"].reader() as uow:
        return log_integrity.inspect(uow, _child["commitments"], size, checkpoints, payloads)


class ProcessLogInspector:
    """``log_integrity.inspect`` run by one long-lived child process (started on first use)."""

    def __init__(self, open_uows: UowOpener, *args: Any) -> None:
        """``open_uows(*args)`` opens the child's unit-of-work factory, in the child."""
        self._args = (open_uows, args)
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        #: Passes the child ran, and passes run here because it could not.
        self.passes_in_child = 0
        self.fallbacks = 0

    def __call__(
        self,
        uow: LedgerUnitOfWork,
        commitments: LogCommitments,
        size: int,
        checkpoints: Iterable[int] = (),
        payloads: tuple[int, int] = (0, 0),
        progress: Progress | None = None,
    ) -> Inspection:
        if progress is None:
            points = tuple(sorted(set(checkpoints)))
            try:
                found = self._child().submit(_inspect_in_child, size, points, payloads).result()
                self.passes_in_child += 1
                return found
            except (BrokenProcessPool, OSError) as exc:
                log.warning("the log proof process failed (%s); proving in this process", exc)
                self.fallbacks += 1
                self.close()
        return log_integrity.inspect(uow, commitments, size, checkpoints, payloads, progress)

    def _child(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                # spawn: a fork would copy this process's threads' locks and open connections.
                self._pool = ProcessPoolExecutor(
                    max_workers=1,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_start_child,
                    initargs=self._args,
                )
            return self._pool

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
