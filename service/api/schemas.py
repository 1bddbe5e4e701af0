"""Request (``ThingCreate``) and response (``ThingPublic``) bodies; requests forbid extra fields."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

#: A hard ceiling for the schema; the configured ``max_batch_items`` is enforced by the domain.
HARD_MAX_ITEMS = 100_000


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class Public(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorPublic(Public):
    error: str
    detail: str


class OrganisationCreate(Strict):
    name: str = Field(min_length=1, max_length=200)
    kind: str = Field(min_length=1, max_length=32)


class OrganisationPublic(Public):
    id: int
    name: str
    kind: str
    created_at: datetime


class ApiKeyCreate(Strict):
    role: str = Field(min_length=1, max_length=32)


class ApiKeyPublic(Public):
    key_id: str
    organisation_id: int
    role: str
    created_at: datetime
    revoked_at: datetime | None = None


class ApiKeySecretPublic(ApiKeyPublic):
    api_key: str = Field(description="Shown once; store it now. Only a keyed hash is kept.")


class BatchCreate(Strict):
    lot: str = Field(min_length=1, max_length=64)
    items: list[str] = Field(min_length=1, max_length=HARD_MAX_ITEMS)
    metadata: dict[str, Any] = Field(default_factory=dict)


class AnchorPublic(Public):
    status: str
    tx_hash: str | None = None
    block_number: int | None = None
    confirmations: int | None = None
    error: str | None = None


class BatchPublic(Public):
    id: str
    lot: str
    chain_batch_id: str
    root: str
    item_count: int
    metadata_hash: str
    status: str
    anchor: AnchorPublic | None = None


class ItemProofPublic(Public):
    batch_id: str
    chain_batch_id: str
    item_id: str
    token_id: str = Field(description="uint256 as a decimal string")
    item_hash: str
    leaf: str
    leaf_index: int
    proof: list[str]
    root: str
    status: str


class ItemVerificationPublic(Public):
    item_id: str
    batch_id: str
    chain_batch_id: str
    token_id: str
    item_hash: str
    anchored: bool = Field(description="the service recorded the batch's anchor as confirmed")
    valid: bool = Field(description="the Merkle proof checks locally against the batch root")
    on_chain: bool = Field(description="the contract's verifyItem accepts the proof")
    genuine: bool


class LogAnchorPublic(Public):
    size: int
    root: str
    status: str
    tx_hash: str | None = None
    block_number: int | None = None


class LogPublic(Public):
    size: int
    root: str
    latest_anchor: LogAnchorPublic | None = None
    latest_anchored: LogAnchorPublic | None = None


class LogEventPublic(Public):
    index: int
    type: str
    occurred_at: datetime
    payload: str = Field(description="the canonical JSON bytes of the event, as text")
    leaf_hash: str


class InclusionProofPublic(Public):
    index: int
    size: int
    leaf_hash: str
    proof: list[str]
    root: str


class ConsistencyProofPublic(Public):
    old_size: int
    new_size: int
    old_root: str
    new_root: str
    proof: list[str]
