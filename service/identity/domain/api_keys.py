"""API keys: ``tc_<key id>_<secret>``; only a keyed hash of the secret is ever stored."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from service.kernel.roles import Role

_KEY_RE = re.compile(r"tc_([0-9a-f]{16})_([A-Za-z0-9_-]{43})", re.ASCII)
_KEY_ID_RE = re.compile(r"[0-9a-f]{16}", re.ASCII)


@dataclass
class ApiKey:
    """A stored API key: its public id, the keyed hash of its secret, and its scope."""

    key_id: str
    secret_hash: bytes
    role: Role
    organisation_id: int
    created_at: datetime
    revoked_at: datetime | None = None

    @property
    def principal_id(self) -> str:
        """The principal this key stands for."""
        return f"key:{self.key_id}"


def digest(pepper: bytes, secret: str) -> bytes:
    """Return HMAC-SHA256(pepper, secret): a database leak alone cannot test guesses."""
    return hmac.new(pepper, secret.encode("ascii"), hashlib.sha256).digest()


def generate() -> tuple[str, str, str]:
    """Return ``(key_id, secret, full key)`` for a new API key (256 random bits of secret)."""
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    return key_id, secret, f"tc_{key_id}_{secret}"


def parse(full_key: str) -> tuple[str, str] | None:
    """Return ``(key_id, secret)`` of a well-formed key, else ``None``."""
    match = _KEY_RE.fullmatch(full_key)
    return (match.group(1), match.group(2)) if match else None


def is_valid_key_id(value: str) -> bool:
    """Return whether ``value`` looks like a key id."""
    return _KEY_ID_RE.fullmatch(value) is not None


def matches(key: ApiKey, pepper: bytes, secret: str) -> bool:
    """Return whether ``secret`` belongs to ``key`` (constant-time comparison)."""
    return hmac.compare_digest(key.secret_hash, digest(pepper, secret))
