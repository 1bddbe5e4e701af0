"""A lease row so that only one process per database runs the sender (one signer per key)."""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import or_, update
from sqlalchemy.orm import Session, sessionmaker

from service.ledger.storage.rows import WorkerLeaseRow


class SqlAlchemyLease:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        name: str,
        holder: str,
        ttl_s: float = 15.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._sessions = sessions
        self.name = name
        self.holder = holder
        self._ttl_s = ttl_s
        self._clock = clock

    def acquire(self) -> bool:
        """Take or renew the lease; False while another live holder has it."""
        now = self._clock()
        with self._sessions.begin() as s:
            result = s.execute(
                update(WorkerLeaseRow)
                .where(
                    WorkerLeaseRow.name == self.name,
                    or_(
                        WorkerLeaseRow.holder == self.holder,
                        WorkerLeaseRow.holder.is_(None),
                        WorkerLeaseRow.expires_at < now,
                    ),
                )
                .values(holder=self.holder, expires_at=now + self._ttl_s)
            )
            return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    def release(self) -> None:
        with self._sessions.begin() as s:
            s.execute(
                update(WorkerLeaseRow)
                .where(WorkerLeaseRow.name == self.name, WorkerLeaseRow.holder == self.holder)
                .values(holder=None, expires_at=0.0)
            )
