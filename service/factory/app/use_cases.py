"""The factory's use cases with their adapters bound once in bootstrap."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any

from service.factory.app.batches import (
    anchor_batch,
    attest_batch,
    create_batch,
    get_batch,
    list_batches,
    recall_batch,
    recalled_items,
)
from service.factory.app.codes import (
    Progress,
    _no_progress,
    activate_codes,
    code_uri,
    generate_codes,
    item_proof,
    unit_view,
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
    RegisterProduct,
)
from service.factory.app.printing import approve_reprint, download_code_file, label_stream
from service.factory.app.products import get_product, list_products, register_product
from service.factory.domain.batches import (
    Batch,
)
from service.factory.domain.labels import MAX_LABELS_PER_FILE, Label, LabelLayout
from service.factory.domain.units import (
    UnitKind,
)
from service.factory.ports import (
    BatchChain,
    BatchCommitments,
    FactoryUnitOfWorkFactory,
    LabelPrinter,
    PinSecrets,
)
from service.kernel.actor import Actor
from service.kernel.ports import Clock


@dataclass(frozen=True)
class FactoryUseCases:
    """The factory's use cases (products, batches, codes, labels) with their adapters and
    settings bound once in bootstrap: the routes and the CLI pass the command or the request's
    data only. Each builds its own unit of work (a reader for those that only read)."""

    uows: FactoryUnitOfWorkFactory
    commitments: BatchCommitments
    ledger: BatchChain
    secrets: PinSecrets
    clock: Clock
    printer: LabelPrinter
    #: Settings: the largest batch, the default GS1 company prefix, the resolver's address.
    max_batch_items: int
    company_prefix: str
    resolver_url: str

    def register_product(self, cmd: RegisterProduct) -> dict[str, Any]:
        return register_product(cmd, self.uows(), self.clock)

    def get_product(self, actor: Actor, gtin: str) -> dict[str, Any]:
        return get_product(actor, gtin, self.uows.reader())

    def list_products(self, actor: Actor, offset: int, limit: int) -> list[dict[str, Any]]:
        return list_products(actor, self.uows.reader(), offset, limit)

    def create_batch(self, cmd: CreateBatch) -> dict[str, Any]:
        return create_batch(cmd, self.uows, self.commitments, self.clock, self.max_batch_items)

    def get_batch(self, actor: Actor, batch_id: str) -> dict[str, Any]:
        return get_batch(actor, batch_id, self.uows.reader(), self.ledger)

    def list_batches(self, actor: Actor, offset: int, limit: int) -> list[dict[str, Any]]:
        return list_batches(actor, self.uows.reader(), offset, limit)

    def generate_codes(
        self, cmd: GenerateCodes, progress: Progress = _no_progress
    ) -> dict[str, Any]:
        return generate_codes(
            cmd,
            self.uows,
            self.commitments,
            self.secrets,
            self.clock,
            self.company_prefix,
            progress,
        )

    def activate_codes(self, cmd: ActivateCodes) -> dict[str, Any]:
        return activate_codes(cmd, self.uows, self.clock)

    def anchor_batch(self, cmd: AnchorBatch) -> dict[str, Any]:
        return anchor_batch(cmd, self.uows, self.ledger, self.clock)

    def recall_batch(self, cmd: RecallBatch) -> dict[str, Any]:
        return recall_batch(cmd, self.uows, self.commitments, self.ledger, self.clock)

    def recalled_items(
        self, actor: Actor, batch_id: str, offset: int, limit: int
    ) -> dict[str, Any]:
        return recalled_items(actor, batch_id, self.uows.reader(), offset, limit)

    def attest_batch(self, cmd: AttestBatch) -> dict[str, Any]:
        return attest_batch(cmd, self.uows, self.ledger, self.clock)

    def item_proof(self, actor: Actor, batch_id: str, serial: str) -> dict[str, Any]:
        return item_proof(actor, batch_id, serial, self.uows.reader(), self.commitments)

    def download_code_file(self, cmd: DownloadCodeFile) -> tuple[str, Iterator[bytes]]:
        return download_code_file(cmd, self.uows, self.secrets, self.clock, self.resolver_url)

    def approve_reprint(self, cmd: ApproveReprint) -> dict[str, Any]:
        return approve_reprint(cmd, self.uows, self.clock)

    def label_stream(
        self,
        actor: Actor,
        batch_id: str,
        kind: UnitKind | None,
        offset: int,
        count: int,
        max_count: int = MAX_LABELS_PER_FILE,
    ) -> tuple[Batch, Iterator[Label]]:
        """``max_count``: the API's bound on one file (its setting); the CLI's is the format's."""
        return label_stream(
            actor, batch_id, kind, offset, count, self.uows, self.resolver_url, max_count
        )

    def write_labels(
        self,
        batch: Batch,
        kind: str,
        labels: Iterable[Label],
        layout: LabelLayout,
        out: IO[bytes],
        progress: Callable[[int], None] | None = None,
    ) -> int:
        """Draw the ``kind`` labels of ``batch`` (from :meth:`label_stream`) as A4 sheets to
        ``out``, titled after the batch; how many were drawn."""
        title = f"{batch.gtin} {batch.lot} {kind} labels"
        return self.printer.write_label_sheets(labels, layout, out, progress, title)

    def unit_view(self, actor: Actor, sscc: str) -> dict[str, Any]:
        return unit_view(actor, sscc, self.uows.reader(), self.resolver_url)

    def qr_png(self, actor: Actor, code: str, module_px: int) -> bytes:
        """The QR image of a code's Digital Link, as PNG."""
        return self.printer.qr_png(
            code_uri(actor, code, self.uows.reader(), self.resolver_url), module_px=module_px
        )

    def qr_svg(self, actor: Actor, code: str) -> bytes:
        """The QR image of a code's Digital Link, as SVG."""
        return self.printer.qr_svg(code_uri(actor, code, self.uows.reader(), self.resolver_url))
