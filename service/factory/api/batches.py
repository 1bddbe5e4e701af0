from __future__ import annotations

import tempfile
from collections.abc import Iterator
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response, StreamingResponse

from service.api.deps import (
    ContainerDep,
    CurrentActor,
    IdempotencyKeyDep,
    idempotency_of,
    page_limit,
)
from service.api.schemas import Limit, Offset
from service.factory.api.deps import FactoryDep
from service.factory.api.schemas import (
    ActivationCreate,
    ActivationPublic,
    AttestationCreate,
    BatchCreate,
    BatchPublic,
    ItemProofPublic,
    RecallCreate,
    RecalledItemsPublic,
    ReprintApprovalCreate,
    ReprintApprovalPublic,
    UnitPublic,
)
from service.factory.app.commands import (
    ActivateCodes,
    AnchorBatch,
    ApproveReprint,
    AttestBatch,
    CreateBatch,
    DownloadCodeFile,
    GenerateCodes,
    RecallBatch,
)
from service.factory.domain.labels import LabelLayout, validate_layout
from service.factory.domain.units import UnitKind
from service.kernel.errors import InvalidRequestError

router = APIRouter(tags=["batches"])

BatchId = str


@router.post("/batches", status_code=201, response_model=BatchPublic)
def create_batch(
    body: BatchCreate,
    actor: CurrentActor,
    factory: FactoryDep,
    idempotency_key: IdempotencyKeyDep,
) -> BatchPublic:
    """Plan a production batch of a product (factory): a draft. Honours ``Idempotency-Key``."""
    idempotency = idempotency_of(idempotency_key, body)
    cmd = CreateBatch(
        actor=actor,
        gtin=body.gtin,
        lot=body.lot,
        production_date=body.production_date,
        line=body.line,
        planned_quantity=body.planned_quantity,
        case_size=body.case_size,
        cases_per_pallet=body.cases_per_pallet,
        idempotency=idempotency,
    )
    view = factory.create_batch(cmd)
    return BatchPublic.model_validate(view)


@router.get("/batches", response_model=list[BatchPublic])
def list_batches(
    actor: CurrentActor,
    factory: FactoryDep,
    container: ContainerDep,
    offset: Offset = 0,
    limit: Limit = None,
) -> list[BatchPublic]:
    """Your factory's batches, or your brand's; newest first."""
    rows = factory.list_batches(actor, offset, page_limit(container, limit))
    return [BatchPublic.model_validate(r) for r in rows]


@router.get("/batches/{batch_id}", response_model=BatchPublic)
def get_batch(batch_id: BatchId, actor: CurrentActor, factory: FactoryDep) -> BatchPublic:
    """A batch: status, counts, anchor (transaction, confirmations), attestations, recall."""
    return BatchPublic.model_validate(factory.get_batch(actor, batch_id))


@router.post("/batches/{batch_id}/codes", response_model=BatchPublic)
def generate_codes(batch_id: BatchId, actor: CurrentActor, factory: FactoryDep) -> BatchPublic:
    """Generate the batch's item codes, cases, pallets and Merkle tree (factory, once).

    Runs in one transaction; large batches take a while (about 30 s per million items):
    the CLI's ``tracecert batch generate`` shows progress.
    """
    cmd = GenerateCodes(actor=actor, batch_id=batch_id)
    view = factory.generate_codes(cmd)
    return BatchPublic.model_validate(view)


@router.post("/batches/{batch_id}/activate", response_model=ActivationPublic)
def activate_batch(batch_id: BatchId, actor: CurrentActor, factory: FactoryDep) -> ActivationPublic:
    """Activate every code of the batch at once (factory)."""
    cmd = ActivateCodes(actor=actor, batch_id=batch_id)
    return ActivationPublic.model_validate(factory.activate_codes(cmd))


@router.post("/activations", response_model=ActivationPublic)
def activate_unit(
    body: ActivationCreate, actor: CurrentActor, factory: FactoryDep
) -> ActivationPublic:
    """Activate the codes of a scanned case or pallet label (factory line scanner)."""
    cmd = ActivateCodes(actor=actor, code=body.code)
    return ActivationPublic.model_validate(factory.activate_codes(cmd))


@router.post("/batches/{batch_id}/anchor", status_code=202, response_model=BatchPublic)
def anchor_batch(batch_id: BatchId, actor: CurrentActor, factory: FactoryDep) -> BatchPublic:
    """Queue the batch root for anchoring on chain (factory). While the anchor is in flight,
    asking again answers the same; once anchored, it is a 409."""
    cmd = AnchorBatch(actor=actor, batch_id=batch_id)
    view = factory.anchor_batch(cmd)
    return BatchPublic.model_validate(view)


@router.post("/batches/{batch_id}/recall", response_model=BatchPublic)
def recall_batch(
    batch_id: BatchId, body: RecallCreate, actor: CurrentActor, factory: FactoryDep
) -> BatchPublic:
    """Recall a batch with a reason (factory, brand): at once for scans and claims; on chain
    as soon as the batch is anchored there."""
    cmd = RecallBatch(actor=actor, batch_id=batch_id, reason=body.reason)
    view = factory.recall_batch(cmd)
    return BatchPublic.model_validate(view)


@router.get("/batches/{batch_id}/recalled-items", response_model=RecalledItemsPublic)
def recalled_items(
    batch_id: BatchId,
    actor: CurrentActor,
    factory: FactoryDep,
    container: ContainerDep,
    offset: Offset = 0,
    limit: Limit = None,
) -> RecalledItemsPublic:
    """The items of a recalled batch with their last known holder and region (brand, factory)."""
    view = factory.recalled_items(actor, batch_id, offset, page_limit(container, limit))
    return RecalledItemsPublic.model_validate(view)


@router.post("/batches/{batch_id}/attestations", status_code=202, response_model=BatchPublic)
def attest_batch(
    batch_id: BatchId, body: AttestationCreate, actor: CurrentActor, factory: FactoryDep
) -> BatchPublic:
    """Attach a quality report (its hash and URL) to an anchored batch (attestor); the
    attestation goes on chain."""
    cmd = AttestBatch(
        actor=actor,
        batch_id=batch_id,
        report_hash=bytes.fromhex(body.report_hash[2:]),
        uri=body.uri,
    )
    view = factory.attest_batch(cmd)
    return BatchPublic.model_validate(view)


@router.get("/batches/{batch_id}/items/{serial}/proof", response_model=ItemProofPublic)
def item_proof(
    batch_id: BatchId, serial: str, actor: CurrentActor, factory: FactoryDep
) -> ItemProofPublic:
    """The Merkle proof of one item against its batch root."""
    view = factory.item_proof(actor, batch_id, serial)
    return ItemProofPublic.model_validate(view)


@router.get(
    "/batches/{batch_id}/code-file",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}, "description": "serial,uri,pin,case,pallet"}},
)
def download_code_file(
    batch_id: BatchId, actor: CurrentActor, factory: FactoryDep
) -> StreamingResponse:
    """The code file for variable-data printers, with the hidden PINs (factory).

    Audited and allowed once; another download needs an admin's approval. Once every code of
    the batch is activated the PINs are destroyed and the file cannot be made again.
    """
    cmd = DownloadCodeFile(actor=actor, batch_id=batch_id)
    filename, rows = factory.download_code_file(cmd)
    return StreamingResponse(
        rows,
        media_type="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )


@router.post(
    "/batches/{batch_id}/code-file/approvals",
    status_code=201,
    response_model=ReprintApprovalPublic,
)
def approve_reprint(
    batch_id: BatchId, body: ReprintApprovalCreate, actor: CurrentActor, factory: FactoryDep
) -> ReprintApprovalPublic:
    """Allow one more download of the code file (admin), with a reason for the audit trail."""
    cmd = ApproveReprint(actor=actor, batch_id=batch_id, reason=body.reason)
    return ReprintApprovalPublic.model_validate(factory.approve_reprint(cmd))


def _pdf_chunks(spooled: tempfile.SpooledTemporaryFile[bytes]) -> Iterator[bytes]:
    try:
        spooled.seek(0)
        while chunk := spooled.read(1 << 16):
            yield chunk
    finally:
        spooled.close()


@router.get(
    "/batches/{batch_id}/labels.pdf",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"application/pdf": {}}},
        503: {
            "description": "printer_busy: as many label files as allowed "
            "(TRACECERT_LABEL_MAX_PARALLEL) are being made; retry after Retry-After seconds. "
            "Or the database or the chain is unavailable.",
            "headers": {
                "Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}
            },
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/ErrorPublic"}}
            },
        },
    },
)
def label_sheets(
    request: Request,
    batch_id: BatchId,
    actor: CurrentActor,
    factory: FactoryDep,
    container: ContainerDep,
    kind: Literal["item", "case", "pallet"] = "item",
    offset: Annotated[int, Query(ge=0, le=2**31)] = 0,
    count: Annotated[
        int,
        Query(
            ge=1,
            le=1_000_000,
            description="Labels in the file, at most TRACECERT_LABEL_MAX_COUNT (10,000 unless "
            "set); more answers 422 too_many_labels: ask for ranges with offset.",
        ),
    ] = 10_000,
    label_width_mm: Annotated[float, Query(gt=0, le=1000)] = 30.0,
    label_height_mm: Annotated[float, Query(gt=0, le=1000)] = 36.0,
    page_margin_mm: Annotated[float, Query(ge=0, le=100)] = 8.0,
    gap_mm: Annotated[float, Query(ge=0, le=100)] = 2.0,
) -> StreamingResponse:
    """A4 label sheets: QR code plus the human-readable serial or SSCC (factory; no PINs).

    One file holds at most TRACECERT_LABEL_MAX_COUNT labels (else 422 ``too_many_labels``), and
    at most TRACECERT_LABEL_MAX_PARALLEL files are made at once (else 503 ``printer_busy``
    with Retry-After)."""
    layout = validate_layout(
        LabelLayout(
            label_width_mm=label_width_mm,
            label_height_mm=label_height_mm,
            page_margin_mm=page_margin_mm,
            gap_mm=gap_mm,
        )
    )
    unit_kind = None if kind == "item" else UnitKind(kind)
    batch, labels = factory.label_stream(
        actor,
        batch_id,
        unit_kind,
        offset,
        count,
        container.settings.label_max_count,
    )
    # Closed by _pdf_chunks once the response is sent (or here when there is nothing to send).
    spooled: tempfile.SpooledTemporaryFile[bytes] = tempfile.SpooledTemporaryFile(32 << 20)  # noqa: SIM115
    try:
        # Rendering is the CPU-heavy part (the labels are read as it goes): bounded per process.
        with request.app.state.label_slots.hold():
            written = factory.write_labels(batch, kind, labels, layout, spooled)
    except BaseException:
        spooled.close()
        raise
    if written == 0:
        spooled.close()
        raise InvalidRequestError("No labels from this offset; the batch has fewer codes.")
    filename = f"{batch.gtin}-{batch.lot}-{kind}-labels-{offset}.pdf"
    return StreamingResponse(
        _pdf_chunks(spooled),
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get("/units/{sscc}", response_model=UnitPublic)
def get_unit(sscc: str, actor: CurrentActor, factory: FactoryDep) -> UnitPublic:
    """A case or pallet by SSCC: batch, parent pallet, activation and contents."""
    view = factory.unit_view(actor, sscc)
    return UnitPublic.model_validate(view)


@router.get(
    "/codes/{code}/qr.{fmt}",
    response_class=Response,
    responses={200: {"content": {"image/png": {}, "image/svg+xml": {}}}},
)
def qr_image(
    code: str,
    fmt: Literal["png", "svg"],
    actor: CurrentActor,
    factory: FactoryDep,
    module_px: Annotated[int, Query(ge=1, le=40)] = 8,
) -> Response:
    """The QR image (PNG or SVG) of an item serial or a case/pallet SSCC: its Digital Link."""
    if fmt == "png":
        return Response(factory.qr_png(actor, code, module_px), media_type="image/png")
    return Response(factory.qr_svg(actor, code), media_type="image/svg+xml")
