"""Printing: the sealed code file a printer downloads once, reprints a brand approves, and
label sheets."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from service.factory.app.batches import _own_batch, _visible_batch
from service.factory.app.commands import (
    ApproveReprint,
    DownloadCodeFile,
)
from service.factory.domain import codes
from service.factory.domain.batches import (
    Batch,
    BatchStatus,
    validate_recall_reason,
)
from service.factory.domain.errors import (
    CodeFileApprovalRequiredError,
    CodeFileSealedError,
    TooManyLabelsError,
)
from service.factory.domain.events import (
    CodeFileDownloaded,
    CodeFileReprintApproved,
)
from service.factory.domain.labels import MAX_LABELS_PER_FILE, Label
from service.factory.domain.units import (
    UnitKind,
)
from service.factory.ports import FactoryUnitOfWorkFactory, PinSecrets
from service.kernel.actor import Actor
from service.kernel.errors import (
    InvalidRequestError,
)
from service.kernel.gs1 import (
    item_uri,
    sscc_uri,
)
from service.kernel.ports import Clock
from service.kernel.roles import Permission

# ----------------------------------------------------------------------------- code file
CODE_FILE_HEADER = ("serial", "uri", "pin", "case_sscc", "pallet_sscc")


#: Rows per database query and per chunk of the streamed code file.
CODE_FILE_CHUNK = 20_000


def download_code_file(
    cmd: DownloadCodeFile,
    uow_factory: FactoryUnitOfWorkFactory,
    secrets: PinSecrets,
    clock: Clock,
    resolver_url: str,
) -> tuple[str, Iterator[bytes]]:
    """Record the (audited, once-only) download of the code file, and return it as a stream.

    The download is committed before the first byte is sent: a file that may have left the
    building counts as downloaded even if the transfer breaks. A second download needs an
    unused approval by an admin, which it consumes.
    """
    actor = cmd.actor
    actor.require(Permission.PRINT_CODES)
    with uow_factory() as uow:
        batch = _own_batch(uow, actor, cmd.batch_id)
        assert batch.id is not None
        if batch.status is BatchStatus.DRAFT:
            raise InvalidRequestError("The batch is a draft: generate its codes first.")
        sealed = uow.batches.pin_seed(batch.id)
        if sealed is None:
            raise CodeFileSealedError()
        now = clock.now()
        approval = None
        if uow.code_files.downloads(batch.id):
            approval = uow.code_files.take_approval(batch.id, now)
            if approval is None:
                raise CodeFileApprovalRequiredError()
        number = uow.code_files.add_download(batch.id, actor.principal_id, approval, now)
        uow.events.append(
            CodeFileDownloaded(batch.public_id, actor.principal_id, number, approval), now
        )
        uow.commit()
    seed = secrets.unseal(sealed, batch.public_id.encode())
    filename = f"{batch.gtin}-{batch.lot}-codes-{number}.csv"
    return filename, _code_file_rows(uow_factory, batch, seed, resolver_url)


def _code_file_rows(
    uow_factory: FactoryUnitOfWorkFactory, batch: Batch, seed: bytes, resolver_url: str
) -> Iterator[bytes]:
    assert batch.id is not None and batch.gtin is not None
    scheme, _, host = resolver_url.partition("://")
    prefix = item_uri(host, batch.gtin, batch.lot, "", scheme)
    yield (",".join(CODE_FILE_HEADER) + "\n").encode("ascii")
    with uow_factory.reader() as uow:
        for page in uow.codes.code_pages(batch.id, CODE_FILE_CHUNK):
            pins = codes.derive_pins(seed, [row[0] for row in page])
            yield "".join(
                f"{serial},{prefix}{serial},{pin[:4]}-{pin[4:]},{case or ''},{pallet or ''}\n"
                for (serial, case, pallet, _), pin in zip(page, pins, strict=True)
            ).encode("ascii")


def approve_reprint(
    cmd: ApproveReprint, uow_factory: FactoryUnitOfWorkFactory, clock: Clock
) -> dict[str, Any]:
    """An admin allows one more download of a batch's code file."""
    actor = cmd.actor
    actor.require(Permission.APPROVE_REPRINT)
    reason = validate_recall_reason(cmd.reason)  # the same rule: printable, 1-1000 chars
    with uow_factory() as uow:
        batch = _visible_batch(uow, actor, cmd.batch_id)
        assert batch.id is not None
        if uow.batches.pin_seed(batch.id) is None:
            raise CodeFileSealedError()
        now = clock.now()
        approval = uow.code_files.add_approval(batch.id, actor.principal_id, reason, now)
        uow.events.append(
            CodeFileReprintApproved(batch.public_id, approval, actor.principal_id), now
        )
        uow.commit()
    return {"batch_id": batch.public_id, "approval_id": approval, "reason": reason}


# ----------------------------------------------------------------------------- labels and QR
def label_stream(
    actor: Actor,
    public_id: str,
    kind: UnitKind | None,
    offset: int,
    count: int,
    uow_factory: FactoryUnitOfWorkFactory,
    resolver_url: str,
    max_count: int = MAX_LABELS_PER_FILE,
) -> tuple[Batch, Iterator[Label]]:
    """Labels of a batch's items (``kind`` None), cases or pallets: QR + human-readable code;
    at most ``max_count`` in one file."""
    actor.require(Permission.PRINT_CODES)
    if count > max_count:
        raise TooManyLabelsError(
            f"One file holds at most {max_count:,} labels; ask for a range: count <= "
            f"{max_count:,}, then the next with offset={offset + max_count}."
        )
    if not 1 <= count <= MAX_LABELS_PER_FILE or offset < 0:
        raise InvalidRequestError(
            f"Ask for 1-{MAX_LABELS_PER_FILE:,} labels per file from an offset >= 0."
        )
    with uow_factory() as uow:
        batch = _own_batch(uow, actor, public_id)
        if batch.status is BatchStatus.DRAFT:
            raise InvalidRequestError("The batch is a draft: generate its codes first.")
    return batch, _labels(uow_factory, batch, kind, offset, count, resolver_url)


def _labels(
    uow_factory: FactoryUnitOfWorkFactory,
    batch: Batch,
    kind: UnitKind | None,
    offset: int,
    count: int,
    resolver_url: str,
) -> Iterator[Label]:
    assert batch.id is not None and batch.gtin is not None
    scheme, _, host = resolver_url.partition("://")
    caption = f"GTIN {batch.gtin} LOT {batch.lot}"
    with uow_factory.reader() as uow:
        rows: Iterator[Any]
        if kind is None:
            pages = uow.codes.code_pages(batch.id, min(count, 5_000), start=offset)
            rows = (row[0] for page in pages for row in page)
        else:
            rows = (r[0] for r in uow.codes.unit_rows(batch.id, kind, start=offset))
        for n, code in enumerate(rows):
            if n >= count:
                return
            if kind is None:
                yield Label(item_uri(host, batch.gtin, batch.lot, code, scheme), code, caption)
            else:
                yield Label(sscc_uri(host, code, scheme), f"(00) {code}", f"{kind.value} {caption}")
