"""The scanner page's device sessions (issue 12 item 18a)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.concurrency import run_in_threadpool

from service.api.deps import CurrentActor, ScannerSession
from service.identity.api.deps import OrganisationsDep
from service.identity.api.schemas import ScannerSessionPublic

router = APIRouter(tags=["distribution"])


@router.post("/scanner/sessions", status_code=201, response_model=ScannerSessionPublic)
def open_session(actor: CurrentActor, organisations: OrganisationsDep) -> ScannerSessionPublic:
    """Trade a factory, distributor or store API key for a scanner session token (lasting
    TRACECERT_SCANNER_SESSION_TTL_S, 12 h by default) that works only on GET /me, POST /scans
    and POST /scans/upload. It ends on DELETE /scanner/sessions/current, at its expiry, and
    when the key is revoked."""
    opened = organisations.open_scanner_session(actor)
    return ScannerSessionPublic(token=opened.token, expires_at=opened.expires_at)


@router.delete("/scanner/sessions/current", status_code=204)
async def end_session(session: ScannerSession, organisations: OrganisationsDep) -> Response:
    """Sign the scanner out: the session token stops working at once."""
    await run_in_threadpool(organisations.end_scanner_session, session[1])
    return Response(status_code=204)
