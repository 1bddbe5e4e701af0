"""The bodies the factory's routes take and answer; their names are the OpenAPI document's."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import Field

from service.api.schemas import HARD_MAX_ITEMS, HEX32, ChainWritePublic, Id, Public, Strict


class ProductCreate(Strict):
    gtin: str = Field(min_length=1, max_length=14, description="GTIN-8/12/13/14 with check digit")
    name: str = Field(min_length=1, max_length=200)
    attributes: dict[str, Any] = Field(
        default_factory=dict,
        description="Flat attributes, e.g. volume_ml, abv, aroma, vintage.",
    )
    brand_id: Id | None = Field(default=None, description="Admins only: the brand.")


class ProductPublic(Public):
    id: int
    gtin: str
    brand_id: int
    name: str
    attributes: dict[str, Any]
    created_at: datetime | None = None


class BatchCreate(Strict):
    gtin: str = Field(min_length=1, max_length=14)
    lot: str = Field(min_length=1, max_length=20, description="GS1 AI 10")
    production_date: date
    line: str = Field(min_length=1, max_length=64, description="The production line")
    planned_quantity: int = Field(ge=1, le=HARD_MAX_ITEMS)
    case_size: int = Field(default=6, ge=1, le=1000, description="Items per case")
    cases_per_pallet: int = Field(default=100, ge=1, le=10_000, description="Cases per pallet")


class AttestationPublic(Public):
    attestor_id: int
    report_hash: str
    uri: str
    created_at: datetime | None = None
    chain: ChainWritePublic | None = None


class RecallPublic(Public):
    reason: str | None
    recalled_at: datetime | None
    chain: ChainWritePublic | None = None


class CodeFileStatePublic(Public):
    downloads: int
    sealed: bool = Field(description="The PIN seed is destroyed: no PIN can be printed again.")


class BatchPublic(Public):
    id: str
    gtin: str | None
    lot: str
    production_date: date | None
    line: str | None
    factory_id: int
    brand_id: int | None
    planned_quantity: int
    case_size: int
    cases_per_pallet: int
    status: str
    attributes: dict[str, Any] = Field(description="Public batch attributes; leaves commit to them")
    chain_batch_id: str
    metadata_hash: str = Field(description="keccak256 of the canonical attributes JSON")
    root: str | None
    item_count: int
    cases: int
    pallets: int
    activated_cases: int
    anchor: ChainWritePublic | None = None
    attestations: list[AttestationPublic]
    recall: RecallPublic | None = None
    code_file: CodeFileStatePublic
    created_at: datetime | None = None


class ActivationCreate(Strict):
    code: str = Field(
        min_length=1, max_length=512, description="A case or pallet label: SSCC or its URI"
    )


class ActivationPublic(Public):
    batch_id: str
    scope: str
    sscc: str | None
    activated_cases: int
    activated_items: int
    batch_status: str


class RecallCreate(Strict):
    reason: str = Field(min_length=1, max_length=1000)


class RecalledItemPublic(Public):
    serial: str
    case_sscc: str | None
    pallet_sscc: str | None
    activated: bool
    last_holder: dict[str, Any] | None
    region: str | None


class RecalledItemsPublic(Public):
    batch_id: str
    reason: str | None
    recalled_at: datetime | None
    total: int
    offset: int
    items: list[RecalledItemPublic]


class AttestationCreate(Strict):
    report_hash: str = Field(pattern=HEX32, description="0x + 64 hex: the report's hash")
    uri: str = Field(min_length=8, max_length=2000, description="Where the report is published")


class ReprintApprovalCreate(Strict):
    reason: str = Field(min_length=1, max_length=1000)


class ReprintApprovalPublic(Public):
    batch_id: str
    approval_id: int
    reason: str


class UnitPublic(Public):
    sscc: str
    kind: str
    uri: str
    batch_id: str
    position: int
    parent_sscc: str | None
    activated_at: datetime | None
    children: list[str] = Field(description="Serials in a case, case SSCCs on a pallet")


class ItemProofPublic(Public):
    batch_id: str
    chain_batch_id: str
    serial: str
    token_id: str = Field(description="uint256 as a decimal string")
    item_hash: str
    leaf: str
    leaf_index: int
    proof: list[str]
    root: str
    status: str
