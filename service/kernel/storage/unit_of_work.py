"""The session lifecycle of every unit of work: one session, one transaction, commit only when
asked, and the reference cache told what the commit changed."""

from __future__ import annotations

from types import TracebackType

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from service.kernel.storage.reference_cache import ReferenceCache
from service.kernel.storage.sql import translate_integrity


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=False)


class SessionUnitOfWork:
    """A transaction over one session; leaving the ``with`` block without commit rolls back.

    A subclass opens the session in ``__enter__`` (``self.session = ...``) and builds its
    repositories over it.
    """

    def __init__(self, cache: ReferenceCache | None = None) -> None:
        self._cache = cache
        self.session: Session | None = None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self.session is not None
        try:
            self.session.rollback()
        finally:
            self.session.close()
            self.session = None

    def commit(self) -> None:
        assert self.session is not None
        with translate_integrity(self.session, "commit"):
            self.session.commit()
        if self._cache is not None:
            self._cache.committed(self.session.info)

    def rollback(self) -> None:
        assert self.session is not None
        self.session.rollback()
