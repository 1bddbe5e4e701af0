"""The audit area's route: ``GET /audit/export``, the auditor's export as a tar stream."""

from __future__ import annotations

import shutil
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from service.api.deps import ContainerDep, CurrentActor
from service.audit import app

router = APIRouter(prefix="/audit", tags=["event log"])

_CHUNK = 1 << 16


@router.get(
    "/export",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/x-tar": {}}, "description": "a tar stream"}},
)
def audit_export(
    actor: CurrentActor,
    container: ContainerDep,
    since_index: Annotated[int, Query(ge=0, le=2**62)] = 0,
) -> StreamingResponse:
    """The auditor's export as a tar stream (docs/audit.md): what the caller's tenant may see,
    from one database snapshot, spooled to disk and never held in memory."""
    work = Path(tempfile.mkdtemp(prefix="tracecert-audit-"))
    try:
        manifest = app.audit_export(actor, container.audit_exporter, work / "export", since_index)
        archive = work / "export.tar"
        with tarfile.open(archive, "w") as tar:
            for name in [*manifest["files"], "manifest.json"]:
                tar.add(work / "export" / name, arcname=f"export/{name}")
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise

    def stream() -> Iterator[bytes]:
        try:
            with archive.open("rb") as f:
                while chunk := f.read(_CHUNK):
                    yield chunk
        finally:
            shutil.rmtree(work, ignore_errors=True)

    return StreamingResponse(
        stream(),
        media_type="application/x-tar",
        headers={"Content-Disposition": 'attachment; filename="tracecert-audit.tar"'},
    )
