"""Cases and pallets (logistic units, GS1 AI 00) and the items packed in them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from service.factory.domain.batches import Packing
from service.kernel.gs1 import make_sscc, sscc_capacity


class UnitKind(StrEnum):
    """What a logistic unit is."""

    CASE = "case"
    PALLET = "pallet"


@dataclass(frozen=True)
class LogisticUnit:
    """A case or a pallet as the line packed it."""

    sscc: str
    kind: UnitKind
    batch_id: int | None
    position: int
    parent_sscc: str | None = None
    activated_at: datetime | None = None
    id: int | None = None


@dataclass(frozen=True)
class ItemRecord:
    """What the database knows of one coded item."""

    serial: str
    batch_id: int
    leaf_index: int
    item_hash: bytes
    leaf: bytes
    pin_hash: bytes | None
    case_sscc: str | None
    pallet_sscc: str | None
    #: When its case was activated at the line; None while the code is inert.
    activated_at: datetime | None
    id: int | None = None


@dataclass(frozen=True)
class PackingPlan:
    """SSCCs for a batch's pallets and cases, and which pallet each case sits on.

    Item ``i`` goes into case ``i // case_size``; case ``j`` onto pallet ``j // cases_per_pallet``.
    """

    pallet_ssccs: tuple[str, ...]
    case_ssccs: tuple[str, ...]
    packing: Packing
    item_count: int = 0

    def case_of_item(self, index: int) -> int:
        return index // self.packing.case_size

    def pallet_of_case(self, index: int) -> int:
        return index // self.packing.cases_per_pallet

    def items_in_case(self, index: int) -> int:
        return self.packing.items_in_case(index, self.item_count)

    def items_on_pallet(self, index: int) -> int:
        per = self.packing.cases_per_pallet
        cases = range(index * per, min((index + 1) * per, len(self.case_ssccs)))
        return sum(self.items_in_case(c) for c in cases)


def sscc_for_reference(company_prefix: str, reference: int) -> str:
    """Return the SSCC of the ``reference``-th unit under a prefix (extension digit first)."""
    capacity = sscc_capacity(company_prefix)
    return make_sscc(reference // capacity, company_prefix, reference % capacity)


def plan_packing(
    item_count: int, packing: Packing, company_prefix: str, first_reference: int
) -> PackingPlan:
    """Return the plan for ``item_count`` items using references from ``first_reference``.

    Pallets take the first references, then cases, so a batch's SSCCs are one block.
    """
    pallets = packing.pallets_for(item_count)
    cases = packing.cases_for(item_count)
    refs = range(first_reference, first_reference + pallets + cases)
    ssccs = [sscc_for_reference(company_prefix, r) for r in refs]
    return PackingPlan(tuple(ssccs[:pallets]), tuple(ssccs[pallets:]), packing, item_count)


def references_available(company_prefix: str, next_reference: int) -> int:
    """Return how many SSCC references are left under ``company_prefix``."""
    return 10 * sscc_capacity(company_prefix) - next_reference
