"""Scanner device sessions (issue 12 item 18a): the scanner page trades an organisation's API
key for a short-lived token that only the scanning routes accept, so the key itself never has
to stay in the browser."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from service.identity.domain import scanner_sessions
from service.identity.domain.errors import InvalidScannerSessionError
from service.identity.domain.scanner_sessions import ScannerSession
from service.identity.ports import IdentityUnitOfWork, IdentityUnitOfWorkFactory
from service.kernel.actor import Actor
from service.kernel.errors import PermissionDeniedError
from service.kernel.ports import Clock

_KEY_PRINCIPAL = "key:"


@dataclass(frozen=True)
class OpenedSession:
    token: str
    expires_at: datetime


def open_session(actor: Actor, uow: IdentityUnitOfWork, clock: Clock, ttl_s: int) -> OpenedSession:
    """Open a session for the API key ``actor`` authenticated with (a scanning role)."""
    if (
        actor.role not in scanner_sessions.SESSION_ROLES
        or actor.organisation_id is None
        or not actor.principal_id.startswith(_KEY_PRINCIPAL)
    ):
        raise PermissionDeniedError(
            "Only a factory, distributor or store key may open a scanner session."
        )
    session_id, token = scanner_sessions.generate()
    now = clock.now()
    expires_at = now + timedelta(seconds=ttl_s)
    with uow:
        uow.api_keys.add_scanner_session(
            ScannerSession(
                id=session_id,
                token_hash=scanner_sessions.token_hash(token),
                key_id=actor.principal_id.removeprefix(_KEY_PRINCIPAL),
                organisation_id=actor.organisation_id,
                created_at=now,
                expires_at=expires_at,
            )
        )
        uow.commit()
    return OpenedSession(token, expires_at)


def authenticate(
    token: str, uow_factory: IdentityUnitOfWorkFactory, clock: Clock
) -> tuple[Actor, str]:
    """The actor of a live session's key, and the session id. Checked at every use: the
    session's expiry and end, and its key's revocation."""
    session_id = scanner_sessions.parse(token)
    if session_id is None:
        raise InvalidScannerSessionError()
    with uow_factory.reader() as uow:
        session = uow.api_keys.scanner_session(session_id)
        key = uow.api_keys.get(session.key_id) if session is not None else None
        organisation = uow.organisations.get(key.organisation_id) if key is not None else None
    if (
        session is None
        or key is None
        or not scanner_sessions.matches(session, token)
        or not session.live(clock.now())
        or key.revoked_at is not None
        or key.organisation_id != session.organisation_id
    ):
        raise InvalidScannerSessionError()
    actor = Actor(
        principal_id=key.principal_id,
        role=key.role,
        organisation_id=key.organisation_id,
        brand_id=organisation.brand_scope if organisation is not None else None,
    )
    return actor, session_id


def end_session(session_id: str, uow_factory: IdentityUnitOfWorkFactory, clock: Clock) -> None:
    with uow_factory() as uow:
        uow.api_keys.end_scanner_session(session_id, clock.now())
        uow.commit()
