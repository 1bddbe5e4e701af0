"""In-memory ``Fake*`` implementations of the application ports, for unit tests.

Each fake keeps the semantics the handlers rely on from its ``SqlAlchemy*`` counterpart in
the SQLAlchemy repositories: unique constraints raise ``DuplicateError``, conditional
updates return False when the row is not in the expected state (another caller won), and nothing
a unit of work does is visible to anyone else until it commits.

Batch trees are real (``chain.merkle``), so a proof read from the stored levels verifies against
the stored root exactly as it does in production; the other hashes are SHA-256 stand-ins.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from typing import Any

from service.factory.app.batches import anchor_batch, attest_batch, create_batch, recall_batch
from service.factory.app.codes import activate_codes, generate_codes
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
from service.factory.app.printing import approve_reprint, download_code_file
from service.factory.app.products import register_product
from service.factory.domain.batches import Batch
from service.factory.domain.units import UnitKind
from service.identity.domain.organisations import Organisation
from service.kernel.actor import Actor
from service.kernel.gs1 import check_digit
from service.kernel.idempotency import Idempotency
from service.kernel.roles import OrganisationKind, Role
from tests.unit.service.fakes.database import FakeDatabase
from tests.unit.service.fakes.kernel import FakeClock, FakeSecrets
from tests.unit.service.fakes.ledger import FakeCommitments, FakeLedger, confirm_anchor
from tests.unit.service.fakes.state import FakeState, ItemRow, UnitRow


# ----------------------------------------------------------------------------- a seeded world
def gtin14(first_13: str) -> str:
    """A GTIN-14 with its correct check digit."""
    return first_13 + str(check_digit(first_13))


BRAND_PREFIX = "0614141"


DEFAULT_PREFIX = "0999999"


GTIN = gtin14("0950600013435")


OTHER_GTIN = gtin14("0950600013436")


RESOLVER = "https://id.example.com"


ADMIN = Actor("key:admin", Role.ADMIN, organisation_id=1)


BRAND = Actor("key:brand", Role.BRAND, organisation_id=2, brand_id=2)


AUDITOR = Actor("key:auditor", Role.AUDITOR, organisation_id=2, brand_id=2)


FACTORY = Actor("key:factory", Role.FACTORY, organisation_id=3, brand_id=2)


OTHER_BRAND = Actor("key:brand2", Role.BRAND, organisation_id=4, brand_id=4)


OTHER_FACTORY = Actor("key:factory2", Role.FACTORY, organisation_id=5, brand_id=4)


ATTESTOR = Actor("key:lab", Role.ATTESTOR, organisation_id=6)


SISTER_FACTORY = Actor("key:factory3", Role.FACTORY, organisation_id=7, brand_id=2)


DISTRIBUTOR = Actor("key:distributor", Role.DISTRIBUTOR, organisation_id=8, brand_id=2)


#: Wuliangye's GS1 company prefix (12 digits: next to Moutai's, within no other).
OTHER_BRAND_PREFIX = OTHER_GTIN[1:13]


def seed_organisations(db: FakeDatabase) -> None:
    """Organisations 1-8 of the actors above, written straight into the committed state."""
    at = datetime(2025, 12, 1, tzinfo=UTC)
    rows = [
        ("Platform", OrganisationKind.PLATFORM, None, None),
        ("Moutai", OrganisationKind.BRAND, None, BRAND_PREFIX),
        ("Moutai Factory 1", OrganisationKind.FACTORY, 2, None),
        ("Wuliangye", OrganisationKind.BRAND, None, None),
        ("Wuliangye Factory", OrganisationKind.FACTORY, 4, None),
        ("Test Lab", OrganisationKind.ATTESTOR, None, None),
        ("Moutai Factory 2", OrganisationKind.FACTORY, 2, None),
        ("Moutai Distributor", OrganisationKind.DISTRIBUTOR, 2, None),
    ]
    for n, (name, kind, brand_id, prefix) in enumerate(rows, start=1):
        db.state.organisations[n] = Organisation(name, kind, at, brand_id, prefix, id=n)
    # Moutai holds the GTINs' company prefix, Wuliangye another; Moutai authorised the lab.
    db.state.company_prefixes.update({GTIN[1:13]: 2, BRAND_PREFIX: 2, OTHER_BRAND_PREFIX: 4})
    db.state.brand_partners[(2, 6)] = frozenset({"attestor"})


class Harness:
    """The factory use cases wired to the fakes, with a seeded world (see the actors above).

    The defaults make a batch of 10 items in cases of 3 (the last holds 1), 2 cases a pallet:
    4 cases on 2 pallets.
    """

    def __init__(self) -> None:
        self.db = FakeDatabase()
        self.clock = FakeClock()
        self.ledger = FakeLedger()
        self.commitments = FakeCommitments()
        self.secrets = FakeSecrets()
        self.max_items = 1_000
        seed_organisations(self.db)

    @property
    def state(self) -> FakeState:
        return self.db.state

    def product(
        self, actor: Actor = BRAND, gtin: str = GTIN, brand_id: int | None = None, **attributes: Any
    ) -> dict[str, Any]:
        cmd = RegisterProduct(actor, gtin, "Moutai 53% 500 ml", attributes, brand_id)
        return register_product(cmd, self.db(), self.clock)

    def batch(
        self,
        actor: Actor = FACTORY,
        gtin: str = GTIN,
        lot: str = "L2025-12-001",
        quantity: int = 10,
        case_size: int = 3,
        per_pallet: int = 2,
        idempotency: Idempotency | None = None,
        production_date: date = date(2025, 12, 31),
    ) -> dict[str, Any]:
        cmd = CreateBatch(
            actor,
            gtin,
            lot,
            production_date,
            "line 1",
            quantity,
            case_size,
            per_pallet,
            idempotency,
        )
        return create_batch(cmd, self.db, self.commitments, self.clock, self.max_items)

    def generate(
        self,
        public_id: str,
        actor: Actor = FACTORY,
        progress: Callable[[str, int, int], None] | None = None,
    ) -> dict[str, Any]:
        cmd = GenerateCodes(actor, public_id)
        extra = {} if progress is None else {"progress": progress}
        return generate_codes(
            cmd, self.db, self.commitments, self.secrets, self.clock, DEFAULT_PREFIX, **extra
        )

    def activate(
        self, code: str | None = None, batch_id: str | None = None, actor: Actor = FACTORY
    ) -> dict[str, Any]:
        cmd = ActivateCodes(actor, code=code, batch_id=batch_id)
        return activate_codes(cmd, self.db, self.clock)

    def anchor(self, public_id: str, actor: Actor = FACTORY) -> dict[str, Any]:
        cmd = AnchorBatch(actor, public_id)
        return anchor_batch(cmd, self.db, self.ledger, self.clock)

    def recall(
        self, public_id: str, reason: str = "Contaminated bottles", actor: Actor = BRAND
    ) -> dict[str, Any]:
        cmd = RecallBatch(actor, public_id, reason)
        return recall_batch(cmd, self.db, self.commitments, self.ledger, self.clock)

    def attest(
        self,
        public_id: str,
        report_hash: bytes = b"\x07" * 32,
        uri: str = "https://lab.example.com/reports/1.pdf",
        actor: Actor = ATTESTOR,
    ) -> dict[str, Any]:
        cmd = AttestBatch(actor, public_id, report_hash, uri)
        return attest_batch(cmd, self.db, self.ledger, self.clock)

    def download(self, public_id: str, actor: Actor = FACTORY) -> tuple[str, Iterator[bytes]]:
        cmd = DownloadCodeFile(actor, public_id)
        return download_code_file(cmd, self.db, self.secrets, self.clock, RESOLVER)

    def approve(
        self, public_id: str, reason: str = "Printer jam", actor: Actor = ADMIN
    ) -> dict[str, Any]:
        cmd = ApproveReprint(actor, public_id, reason)
        return approve_reprint(cmd, self.db, self.clock)

    def confirm_anchor(self, public_id: str) -> None:
        confirm_anchor(self.db, self.ledger, public_id)

    # ------------------------------------------------------------------ batches in a state
    def generated(self, **batch: Any) -> str:
        """A batch with its codes generated (its product registered if need be)."""
        gtin = batch.get("gtin", GTIN)
        if not any(p.gtin == gtin for p in self.state.products.values()):
            owner = BRAND if batch.get("actor", FACTORY).brand_id == 2 else OTHER_BRAND
            self.product(actor=owner, gtin=gtin)
        public_id: str = self.batch(**batch)["id"]
        self.generate(public_id, actor=batch.get("actor", FACTORY))
        return public_id

    def activated(self, **batch: Any) -> str:
        public_id = self.generated(**batch)
        self.activate(batch_id=public_id, actor=batch.get("actor", FACTORY))
        return public_id

    def anchored(self, **batch: Any) -> str:
        public_id = self.activated(**batch)
        self.anchor(public_id, actor=batch.get("actor", FACTORY))
        self.confirm_anchor(public_id)
        return public_id

    # ------------------------------------------------------------------ reading the state
    def stored(self, public_id: str) -> Batch:
        return self.state.batch(public_id)

    def items(self, public_id: str) -> list[ItemRow]:
        return self.state.items_of(self.stored(public_id).id or 0)

    def cases(self, public_id: str) -> list[UnitRow]:
        return self.state.units_of(self.stored(public_id).id or 0, UnitKind.CASE)

    def pallets(self, public_id: str) -> list[UnitRow]:
        return self.state.units_of(self.stored(public_id).id or 0, UnitKind.PALLET)
