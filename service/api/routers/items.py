from __future__ import annotations

from fastapi import APIRouter, Request, Response

from service.api.deps import ContainerDep, OptionalActor
from service.api.routers import pages
from service.api.schemas import ScanPublic
from service.app import commands, scans

router = APIRouter(tags=["scan and verify"])


@router.get("/items/{serial}/verify", response_model=ScanPublic)
def verify_item(serial: str, actor: OptionalActor, container: ContainerDep) -> ScanPublic:
    """Public: is this code genuine? The verdict, with the proof checked locally and on chain.

    An unknown serial is a 404. Without a key the scan counts as a consumer's: scanning an
    inert code then raises an alert for the brand.
    """
    cmd = commands.ScanItem(serial=serial, actor=actor)
    return ScanPublic.model_validate(
        scans.verify_item(
            cmd,
            container.uow_factory,
            container.commitments,
            container.ledger,
            container.clock,
            container.regions.tree,
        )
    )


def _resolve(
    gtin: str, lot: str | None, serial: str, actor: OptionalActor, container: ContainerDep
) -> ScanPublic:
    cmd = commands.ScanItem(serial=serial, gtin=gtin, lot=lot, actor=actor)
    return ScanPublic.model_validate(
        scans.resolve(
            cmd,
            container.uow_factory,
            container.commitments,
            container.ledger,
            container.clock,
            container.regions.tree,
        )
    )


def _answer(request: Request, body: ScanPublic) -> ScanPublic | Response:
    """The scan page for a browser (it asks for text/html first), the JSON for anything else."""
    if pages.wants_html(request):
        return pages.render_scan_page(request, body.model_dump(mode="json"))
    return body


@router.get("/01/{gtin}/10/{lot}/21/{serial}", response_model=ScanPublic)
def resolve_with_lot(
    gtin: str,
    lot: str,
    serial: str,
    request: Request,
    actor: OptionalActor,
    container: ContainerDep,
) -> ScanPublic | Response:
    """GS1 Digital Link resolver: what a bottle's QR code opens. A browser gets the scan page
    (Chinese or English); ``Accept: application/json`` gets the verdict, provenance and proof.
    Unknown codes answer ``verdict: unknown`` (likely counterfeit)."""
    return _answer(request, _resolve(gtin, lot, serial, actor, container))


@router.get("/01/{gtin}/21/{serial}", response_model=ScanPublic)
def resolve_without_lot(
    gtin: str, serial: str, request: Request, actor: OptionalActor, container: ContainerDep
) -> ScanPublic | Response:
    """GS1 Digital Link resolver for a URI without the lot."""
    return _answer(request, _resolve(gtin, None, serial, actor, container))
