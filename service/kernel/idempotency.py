"""Idempotent requests: an ``Idempotency-Key``, and the response once given to it.

A client that retries a request with the same key and body gets the first answer again; the
same key with a different body is refused (``IdempotencyKeyReusedError``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from service.kernel.actor import Actor
from service.kernel.errors import IdempotencyKeyReusedError
from service.kernel.ports import UnitOfWork


@dataclass(frozen=True)
class Idempotency:
    """An ``Idempotency-Key`` and the hash of the request it came with."""

    key: str
    request_hash: bytes


def replay(uow: UnitOfWork, actor: Actor, idempotency: Idempotency | None) -> dict[str, Any] | None:
    """The response once given to this Idempotency-Key, or None; a different body is refused."""
    if idempotency is None:
        return None
    stored = uow.idempotency.get(actor.principal_id, idempotency.key)
    if stored is None:
        return None
    if stored.request_hash != idempotency.request_hash:
        raise IdempotencyKeyReusedError()
    body: dict[str, Any] = json.loads(stored.body)
    return body
