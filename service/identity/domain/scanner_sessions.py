"""Scanner device sessions: a short-lived token the scanner page trades an API key for.

A token is ``tcs_<session id>_<secret>``; only the SHA-256 of the whole token is stored (the
secret has 256 random bits, so a plain hash is enough). It acts as its key's organisation and
role, but only on the routes the scanner page uses; it ends at its expiry, on sign-out, or when
its key is revoked.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from service.kernel.roles import Role

PREFIX = "tcs_"
_TOKEN_RE = re.compile(r"tcs_([0-9a-f]{16})_([A-Za-z0-9_-]{43})", re.ASCII)
#: The roles whose keys may open a scanner session: the organisations that scan goods.
SESSION_ROLES = frozenset({Role.FACTORY, Role.DISTRIBUTOR, Role.STORE})


@dataclass
class ScannerSession:
    """A stored scanner session: never the token, only its hash."""

    id: str
    token_hash: str
    key_id: str
    organisation_id: int
    created_at: datetime
    expires_at: datetime
    ended_at: datetime | None = None

    def live(self, now: datetime) -> bool:
        return self.ended_at is None and now < self.expires_at


def looks_like_token(token: str) -> bool:
    """Whether a bearer credential is meant as a scanner session token (not an API key)."""
    return token.startswith(PREFIX)


def generate() -> tuple[str, str]:
    """Return ``(session id, token)`` for a new session."""
    session_id = secrets.token_hex(8)
    return session_id, f"{PREFIX}{session_id}_{secrets.token_urlsafe(32)}"


def parse(token: str) -> str | None:
    """The session id of a well-formed token, else ``None``."""
    match = _TOKEN_RE.fullmatch(token)
    return match.group(1) if match else None


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def matches(session: ScannerSession, token: str) -> bool:
    return hmac.compare_digest(session.token_hash, token_hash(token))
