"""A subset of the EPCIS 2.0 REST binding: capture and the events query."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from service.api.deps import ContainerDep, CurrentActor
from service.channel.domain import json_values
from service.channel.domain.errors import InvalidEpcisError

router = APIRouter(prefix="/epcis", tags=["EPCIS 2.0"])

_LD_JSON = "application/ld+json"


@router.post("/capture", status_code=202, responses={202: {"description": "captured"}})
async def capture(request: Request, actor: CurrentActor, container: ContainerDep) -> JSONResponse:
    """Capture an EPCISDocument, or an EPCISQueryDocument as GET /epcis/events answers (JSON or
    JSON-LD), validated against GS1's EPCIS 2.0 schema.

    Events you already have (the same eventID, or for an event without one the same CBV 2.0
    event hash, among your captured events and ours you may read) are counted as duplicates
    and skipped, so a capture, or an export of ours, may be sent again."""
    try:
        # Strict: depth is measured on the raw bytes before parsing, and values we could not
        # render again (NaN, 1e999999, lone surrogates) are refused here, not stored.
        document: Any = json_values.loads(await request.body())
    except ValueError:
        raise InvalidEpcisError("The body is not JSON; send an EPCISDocument.") from None
    # Validation and the writes block: off the event loop, like every plain-def route.
    result = await run_in_threadpool(container.epcis_capture, actor, document)
    return JSONResponse(result, status_code=202, headers={"GS1-EPCIS-Version": "2.0.0"})


@router.get("/events", responses={200: {"content": {_LD_JSON: {}}}})
def events(request: Request, actor: CurrentActor, container: ContainerDep) -> JSONResponse:
    """Events you may read, as an EPCISQueryDocument. Parameters of the REST binding:
    GE_eventTime, LT_eventTime, EQ_action, EQ_bizStep, EQ_disposition, MATCH_epc,
    MATCH_parentID, MATCH_anyEPC (values repeated or separated by '|'), perPage (1-1000),
    nextPageToken. The next page is in the ``Link`` header (rel="next")."""
    params: dict[str, list[str]] = {}
    for key, value in request.query_params.multi_items():
        params.setdefault(key, []).append(value)
    document, token = container.epcis_events(actor, params)
    headers = {"GS1-EPCIS-Version": "2.0.0"}
    if token is not None:
        headers["Link"] = f'<{request.url.include_query_params(nextPageToken=token)}>; rel="next"'
    return JSONResponse(document, media_type=_LD_JSON, headers=headers)
