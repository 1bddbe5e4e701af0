from __future__ import annotations

import asyncio
import re
from typing import Annotated, Any
from urllib.parse import unquote

from fastapi import APIRouter, Query, Request, Response

from service.api.clients import network_key
from service.api.deps import ContainerDep, ScanCaller
from service.api.errors import STATUS_BY_KIND, error_response
from service.api.lanes import Lane
from service.api.limits import ScanLimits
from service.consumer.api import pages
from service.consumer.api.schemas import ScanPublic
from service.consumer.app import commands
from service.consumer.app import verification as scans
from service.consumer.domain.errors import ScanRateLimitedError
from service.kernel.actor import Actor
from service.kernel.errors import MalformedCodeError, TracecertError
from service.kernel.gs1 import parse_item_path

router = APIRouter(tags=["scan and verify"])

#: The anonymous device cookie: an opaque id, kept a year (browsers cap cookies at 400 days).
DEVICE_COOKIE = "tc_device"
DEVICE_COOKIE_MAX_AGE = 365 * 24 * 3600
#: A '%' that does not start a %XX escape: the URI is not well formed (RFC 3986), though the
#: server passes it on as a literal '%', which set 82 allows.
_BROKEN_ESCAPE = re.compile(rb"%(?![0-9A-Fa-f]{2})")
_DEVICE_ID_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")

RegionQuery = Annotated[
    str | None,
    Query(
        max_length=12,
        description="GB/T 2260 code (or one of a loaded custom tree) of where the scan "
        "happens, as the scan page reports it; an unknown code is a 422 invalid_region.",
    ),
]


def _device(request: Request, container: Any) -> tuple[bytes, str | None]:
    """The keyed hash of the scanning device, and the cookie to set when it sent none.

    The device is its ``tc_device`` cookie; without one, a keyed hash of its address and user
    agent, which also becomes its cookie, so a phone's later scans count as the same device.
    Neither the address nor the cookie is stored, only the keyed hash."""
    keys = container.device_keys
    cookie = request.cookies.get(DEVICE_COOKIE)
    if cookie is not None and 16 <= len(cookie) <= 64 and set(cookie) <= _DEVICE_ID_CHARS:
        return keys.device_hash(cookie), None
    client = request.client.host if request.client is not None else ""
    device_id = keys.device_id(client, request.headers.get("user-agent", ""))
    return keys.device_hash(device_id), device_id


def cookie_device(request: Request, container: Any) -> bytes | None:
    """The keyed hash of the device cookie the request sent, if it sent one (a browser that
    scanned before); None for any other client."""
    cookie = request.cookies.get(DEVICE_COOKIE)
    if cookie is not None and 16 <= len(cookie) <= 64 and set(cookie) <= _DEVICE_ID_CHARS:
        hashed: bytes = container.device_keys.device_hash(cookie)
        return hashed
    return None


async def _scan(
    request: Request,
    container: Any,
    cmd: commands.ScanItem,
    region: str | None,
    consumer: Actor | None = None,
) -> Response:
    """Verify, record and answer: the page for a browser, the JSON for anything else; a
    browser also gets its refusals (a malformed code above all) as a page.

    A device or a client network past its rate limit is answered 429 ``scan_rate_limited``
    before anything is read. The scan is first tried on the event loop where the reads never
    wait (SQLite); when it would have to wait (asking the chain, writing an alert) it runs
    again in a worker thread.
    """
    device_hash, new_device = _device(request, container)
    network = network_key(request, container.settings.proxies)
    limits: ScanLimits = request.app.state.scan_limits
    wait_s = limits.wait_s(device_hash, network)
    if wait_s:
        return _rate_limited(request, wait_s)
    try:
        if _BROKEN_ESCAPE.search(request.scope.get("raw_path") or b"") is not None:
            raise MalformedCodeError(
                "A '%' in the link must start a percent-encoded byte (%XX); scan the label again."
            )
        device = (device_hash, new_device, network)
        return await _verify(request, container, cmd, region, consumer, device)
    except TracecertError as exc:
        return _refused(request, exc)


def _rate_limited(request: Request, wait_s: int) -> Response:
    """429 ``scan_rate_limited`` with ``Retry-After``: the page for a browser, else JSON."""
    exc = ScanRateLimitedError(
        f"Too many scans from this device or network; scan again in {wait_s} seconds."
    )
    if not pages.wants_html(request):
        return error_response(429, exc.code, exc.detail, retry_after_s=wait_s)
    response = pages.render_error_page(request, 429, exc.code, exc.detail)
    response.headers["Retry-After"] = str(wait_s)
    return response


def _refused(request: Request, exc: TracecertError) -> Response:
    """A refused scan: the error page for a browser; anything else gets the JSON error."""
    if not pages.wants_html(request):
        raise exc
    return pages.render_error_page(request, STATUS_BY_KIND[exc.kind], exc.code, exc.detail)


async def _verify(
    request: Request,
    container: Any,
    cmd: commands.ScanItem,
    region: str | None,
    consumer: Actor | None,
    device: tuple[bytes, str | None, str],
) -> Response:
    device_hash, new_device, network = device
    keys = container.device_keys
    account = consumer.account_id if consumer is not None else None
    origin = scans.ScanOrigin(
        device_hash,
        region,
        network_hash=keys.network_hash(network),
        account_id=account,
        member_hash=keys.member_hash(account) if account is not None else None,
    )
    verifier: scans.Verifier = container.verifier
    body: dict[str, Any] | scans.Deferred | None = scans.DEFERRED
    if verifier.inline:
        # Yield once first: the loop then reads every connection that is ready before the
        # scans run, rather than running each to completion as it is read. Measured at 32
        # connections: about 15 % more scans per second and a shorter tail.
        await asyncio.sleep(0)
        body = verifier.scan(cmd, origin, inline=True)
    if isinstance(body, scans.Deferred):
        lane: Lane = request.app.state.verify_lane
        body = await lane.run(verifier.scan, cmd, origin)
    assert not isinstance(body, scans.Deferred)
    if body is None:
        body = scans.unknown(cmd.serial)
    public = ScanPublic.model_validate(body)
    response: Response
    if pages.wants_html(request):
        response = pages.render_scan_page(request, public.model_dump(mode="json"))
    else:
        response = Response(public.model_dump_json(), media_type="application/json")
    if new_device is not None:
        response.set_cookie(
            DEVICE_COOKIE,
            new_device,
            max_age=DEVICE_COOKIE_MAX_AGE,
            path="/",
            secure=request.url.scheme == "https",
            httponly=True,
            samesite="lax",
        )
    return response


@router.get("/items/{serial}/verify", response_model=ScanPublic)
async def verify_item(
    serial: str,
    request: Request,
    caller: ScanCaller,
    container: ContainerDep,
    region: RegionQuery = None,
) -> Response:
    """Public: is this code genuine? The verdict, with the proof checked locally and on chain.

    Answers as the Digital Link path does: a well-formed serial we never made is
    ``verdict: unknown`` (200), a malformed one (not 1-20 characters of GS1 character set 82)
    a 400 ``malformed_serial``. Without a key the scan counts as a consumer's: it is recorded
    (region, device) and feeds the risk checks (suspected clone, diversion), and scanning an
    inert code raises an alert for the brand.
    """
    cmd = commands.ScanItem(serial=serial, actor=caller[0])
    return await _scan(request, container, cmd, region, caller[1])


@router.get("/01/{gtin}/10/{lot}/21/{serial}", response_model=ScanPublic)
async def resolve_with_lot(
    gtin: str,
    lot: str,
    serial: str,
    request: Request,
    caller: ScanCaller,
    container: ContainerDep,
    region: RegionQuery = None,
) -> Response:
    """GS1 Digital Link resolver: what a bottle's QR code opens. A browser gets the scan page
    (Chinese or English); ``Accept: application/json`` gets the verdict, provenance and proof.
    A well-formed code we never made answers ``verdict: unknown`` (likely counterfeit); a
    malformed one (GTIN digits or check digit, lot or serial beyond 20 characters of GS1
    character set 82) is a 400 ``malformed_gtin``, ``malformed_lot`` or ``malformed_serial``."""
    cmd = commands.ScanItem(serial=serial, gtin=gtin, lot=lot, actor=caller[0])
    return await _scan(request, container, cmd, region, caller[1])


@router.get("/01/{gtin}/21/{serial}", response_model=ScanPublic)
async def resolve_without_lot(
    gtin: str,
    serial: str,
    request: Request,
    caller: ScanCaller,
    container: ContainerDep,
    region: RegionQuery = None,
) -> Response:
    """GS1 Digital Link resolver for a URI without the lot."""
    cmd = commands.ScanItem(serial=serial, gtin=gtin, actor=caller[0])
    return await _scan(request, container, cmd, region, caller[1])


@router.get("/01/{rest:path}", include_in_schema=False)
async def resolve_other(
    rest: str,
    request: Request,
    caller: ScanCaller,
    container: ContainerDep,
    region: RegionQuery = None,
) -> Response:
    """Any other path under /01/: a lot or serial with a percent-encoded '/' (the routes above
    never see it whole), or not an item link at all (400 ``malformed_code``)."""
    try:
        link = parse_item_path(_raw_segments(request))
    except TracecertError as exc:
        return _refused(request, exc)
    assert link.serial is not None
    cmd = commands.ScanItem(serial=link.serial, gtin=link.gtin, lot=link.lot, actor=caller[0])
    return await _scan(request, container, cmd, region, caller[1])


def _raw_segments(request: Request) -> list[str]:
    """The path's segments from /01/ on, each percent-decoded on its own (so an encoded '/'
    stays inside its value)."""
    raw: bytes = request.scope.get("raw_path") or request.url.path.encode()
    try:
        path = raw.decode("ascii")
        segments = [unquote(s, errors="strict") for s in path.split("/")[1:]]
    except UnicodeDecodeError as exc:
        raise MalformedCodeError() from exc
    return segments
