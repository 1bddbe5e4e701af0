"""The bodies the event log's routes answer; their names are the OpenAPI document's."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from service.api.schemas import Public


class LogAnchorPublic(Public):
    size: int
    root: str = Field(description="the root this anchor was requested with (log_anchors)")
    status: str = Field(description="requested, anchored or failed")
    tx_hash: str | None = None
    block_number: int | None = None
    chain_root: str | None = Field(
        default=None,
        description="the root the contract holds for this size now (logRoot); null when it "
        "holds none or the chain cannot be read",
    )
    stored_root: str | None = Field(
        default=None,
        description="the stored log's root at this size, as the last integrity pass "
        "computed it; null if that pass did not reach this size or found entries missing",
    )
    matches: bool | None = Field(
        default=None,
        description="whether stored_root equals chain_root; null when either is unknown",
    )
    problem: str | None = Field(
        default=None,
        description="root_differs (the stored log disagrees with the chain), not_on_chain "
        "(called anchored, but the chain holds no root for this size) or recorded_differs "
        "(log_anchors records another root than the chain); null when none",
    )


class LogFindingPublic(Public):
    kind: str = Field(description="edited, gap, duplicate, reordered or root")
    index: int = Field(description="the entry (for root: the anchored size) it is about")
    end: int | None = Field(default=None, description="the last index of a run of gaps")
    detail: str


class LogIntegrityPublic(Public):
    log_integrity: str = Field(description="ok, failed or unchecked")
    size: int | None = Field(default=None, description="entries the last pass read")
    checked_at: datetime | None = None
    chain_size: int | None = Field(
        default=None, description="the latest size anchored on chain, proven against"
    )
    first_bad_index: int | None = None
    failed_since: datetime | None = None
    reason: str | None = None
    findings: list[LogFindingPublic] = Field(default_factory=list)


class LogPublic(Public):
    size: int
    root: str
    latest_anchor: LogAnchorPublic | None = None
    latest_anchored: LogAnchorPublic | None = None
    integrity: LogIntegrityPublic = Field(
        description="the last pass proving the stored log against the chain (every "
        "log-anchor interval; the anchorer anchors nothing unless it is ok)"
    )


class LogEventPublic(Public):
    """An entry of the event log. Another tenant's entry is withheld: only its index and
    leaf hash, so that roots and proofs still recompute."""

    index: int
    type: str | None = Field(default=None, description="null when withheld")
    occurred_at: datetime | None = Field(default=None, description="null when withheld")
    payload: str | None = Field(
        default=None,
        description="the canonical JSON bytes of the event, as text; null when withheld",
    )
    leaf_hash: str
    withheld: bool = Field(
        default=False,
        description="true for another tenant's entry: only index and leaf_hash are shown",
    )


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
