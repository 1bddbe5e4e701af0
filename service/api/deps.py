"""``Annotated`` dependencies: the container, a unit of work, the current actor."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from service.api.lanes import Lane, write_lane
from service.consumer.interface import InvalidSessionError
from service.identity.interface import (
    InvalidApiKeyError,
    InvalidScannerSessionError,
    ScannerSessionScopeError,
    looks_like_scanner_token,
    parse_api_key,
)
from service.kernel.actor import Actor
from service.kernel.errors import InvalidRequestError
from service.kernel.events import canonical_json
from service.kernel.idempotency import Idempotency
from service.kernel.ports import ReferenceCache

_bearer = HTTPBearer(auto_error=False, description="An API key: tc_<key id>_<secret>")
_IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9._:-]{1,128}", re.ASCII)


# The trivial dependencies are ``async def`` on purpose: FastAPI runs a plain ``def`` dependency
# in the thread pool, and each such hop cost a case scan about 0.7 ms of its 8 ms.
async def get_container(request: Request) -> Any:
    return request.app.state.container


ContainerDep = Annotated[Any, Depends(get_container)]
WriteLaneDep = Annotated[Lane, Depends(write_lane)]


def use_cases(name: str) -> Callable[[Any], Awaitable[Any]]:
    """The dependency answering the container's ``name``: an area's use cases, built once in
    bootstrap with their adapters bound (``async def``: no thread-pool hop). Each area's routes
    declare theirs: ``FactoryDep = Annotated[FactoryUseCases, Depends(use_cases("factory"))]``."""

    async def get_use_cases(container: ContainerDep) -> Any:
        return getattr(container, name)

    return get_use_cases


async def get_actor(
    container: ContainerDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Actor:
    """The caller of a valid key. A key seen in the last few seconds (the reference cache's
    TTL) is answered from memory without a thread-pool hop; revoking it in this process
    forgets it at once, elsewhere within the TTL."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise InvalidApiKeyError()
    token = credentials.credentials
    if looks_like_scanner_token(token):
        # A scanner session works only where ScannerActor is asked for.
        raise ScannerSessionScopeError()
    parsed = parse_api_key(token)
    if parsed is None:
        raise InvalidApiKeyError()
    cache: ReferenceCache = container.reference_cache
    digest = hashlib.sha256(token.encode()).digest()
    seen = cache.lookup(("actor", parsed[0]))
    if seen is not None and hmac.compare_digest(seen[0], digest):
        return seen[1]  # type: ignore[no-any-return]
    actor: Actor = await run_in_threadpool(container.organisations.authenticate, token)
    cache.put(("actor", parsed[0]), (digest, actor))
    return actor


CurrentActor = Annotated[Actor, Depends(get_actor)]


async def get_optional_actor(
    container: ContainerDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Actor | None:
    """The caller if it sent a key (which must then be valid); None for anonymous calls."""
    if credentials is None:
        return None
    return await get_actor(container, credentials)


#: Public endpoints that behave differently for partners (e.g. scans raise no alert).
OptionalActor = Annotated[Actor | None, Depends(get_optional_actor)]


async def get_scanner_session(
    container: ContainerDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> tuple[Actor, str]:
    """The key's actor of a scanner session token (``POST /scanner/sessions``) and the session
    id. Not cached: each use checks the session's expiry and end, and its key's revocation."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise InvalidScannerSessionError()
    found: tuple[Actor, str] = await run_in_threadpool(
        container.organisations.scanner_session, credentials.credentials
    )
    return found


ScannerSession = Annotated[tuple[Actor, str], Depends(get_scanner_session)]


async def get_scanner_actor(
    container: ContainerDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Actor:
    """For the routes the scanner page uses: the caller of an API key or of a scanner session
    token."""
    if (
        credentials is not None
        and credentials.scheme.lower() == "bearer"
        and looks_like_scanner_token(credentials.credentials)
    ):
        return (await get_scanner_session(container, credentials))[0]
    return await get_actor(container, credentials)


#: An API key or a scanner session token (only on GET /me, POST /scans, POST /scans/upload).
ScannerActor = Annotated[Actor, Depends(get_scanner_actor)]


async def get_consumer_session(
    container: ContainerDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> tuple[Actor, str]:
    """The signed-in consumer (a session token from ``POST /accounts/sessions``) and the
    session id. A session checked in the last few seconds is answered from memory; signing
    out forgets it at once."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise InvalidSessionError()
    token = credentials.credentials
    cache: ReferenceCache = container.reference_cache
    digest = hashlib.sha256(token.encode()).digest()
    seen = cache.lookup(("session-token", digest))
    if seen is not None and cache.lookup(("session", seen[1])) is not None:
        return seen  # type: ignore[no-any-return]
    found: tuple[Actor, str] = await run_in_threadpool(container.consumers.authenticate, token)
    cache.put(("session-token", digest), found)
    cache.put(("session", found[1]), True)
    return found


ConsumerSession = Annotated[tuple[Actor, str], Depends(get_consumer_session)]


async def get_scan_caller(
    container: ContainerDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> tuple[Actor | None, Actor | None]:
    """Who scans: ``(partner, consumer)``. A partner's API key must be valid; a consumer's
    session is optional, never required: one that is expired or signed out scans as anyone
    would (anonymously)."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        return None, None
    if parse_api_key(credentials.credentials) is not None:
        return await get_actor(container, credentials), None
    try:
        consumer, _ = await get_consumer_session(container, credentials)
    except InvalidSessionError:
        return None, None
    return None, consumer


#: The scan routes: a partner's key, a consumer's session, or nobody.
ScanCaller = Annotated[tuple[Actor | None, Actor | None], Depends(get_scan_caller)]


async def get_consumer(session: ConsumerSession) -> Actor:
    return session[0]


CurrentConsumer = Annotated[Actor, Depends(get_consumer)]


async def get_idempotency_key(
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> str | None:
    if idempotency_key is not None and _IDEMPOTENCY_KEY.fullmatch(idempotency_key) is None:
        raise InvalidRequestError(
            "Idempotency-Key must be 1-128 characters of A-Z, a-z, 0-9, '.', '_', ':' or '-'."
        )
    return idempotency_key


IdempotencyKeyDep = Annotated[str | None, Depends(get_idempotency_key)]


def idempotency_of(key: str | None, body: Any, scope: str | None = None) -> Idempotency | None:
    """The ``Idempotency-Key`` with the hash of the request it came with (its body, and the
    ``scope`` — the target — where one key could otherwise serve several paths)."""
    if key is None:
        return None
    dumped = body.model_dump(mode="json") if body is not None else None
    payload = dumped if scope is None else {"path": scope, "body": dumped}
    return Idempotency(key, hashlib.sha256(canonical_json(payload)).digest())


def page_limit(container: Any, limit: int | None) -> int:
    settings = container.settings
    if limit is None:
        return int(settings.default_page_size)
    if limit > settings.max_page_size:
        raise InvalidRequestError(f"limit may be at most {settings.max_page_size}.")
    return limit
