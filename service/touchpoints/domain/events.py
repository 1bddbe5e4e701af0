"""The touchpoints' events. Every decision on points is a log entry, so the ledger is a function
of the log: a brand's programme as it set it, a spend with the awards it draws down, and each
run of the expiry job. They name members by their account's public id, never by phone or e-mail."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from service.kernel.events import Event


@dataclass(frozen=True)
class PointsProgrammeSet(Event):
    """A brand set its points programme; it applies to what the log holds after this entry."""

    type: ClassVar[str] = "PointsProgrammeSet"
    brand_id: int
    settings: dict[str, Any]
    by: str


@dataclass(frozen=True)
class JourneyRulesSet(Event):
    """A brand set its journey rules; they apply to what the log holds after this entry."""

    type: ClassVar[str] = "JourneyRulesSet"
    brand_id: int
    settings: dict[str, Any]
    by: str


@dataclass(frozen=True)
class PointsSpent(Event):
    """A member spent points on a reward; ``draws`` are ``[award key, points]``, the earliest
    to expire first."""

    type: ClassVar[str] = "PointsSpent"
    brand_id: int
    holder: str
    reward: str
    points: int
    draws: list[list[Any]]


@dataclass(frozen=True)
class PointsExpiryRan(Event):
    """The expiry job ran: every award that expired by ``as_of`` loses what is left of it, and
    every bottle that has been a full year in storage by then earns its anniversary."""

    type: ClassVar[str] = "PointsExpiryRan"
    as_of: str


@dataclass(frozen=True)
class ConsentRecorded(Event):
    """A member gave or withdrew consent to one purpose of one brand: when (the entry's time),
    to which version of the text, through which channel. No personal data."""

    type: ClassVar[str] = "ConsentRecorded"
    account_id: str
    brand_id: int
    purpose: str
    granted: bool
    text_version: str
    channel: str


@dataclass(frozen=True)
class MembersScreened(Event):
    """The screening job's decisions on members of a brand with awards waiting for it. Each
    decision names the member (account public id), the level, the score with its reasons (each
    listing the log entries and scans behind it), and the awards it settles: released when
    clear, held for review when grey, forfeited when black."""

    type: ClassVar[str] = "MembersScreened"
    brand_id: int
    decisions: list[dict[str, Any]]


@dataclass(frozen=True)
class RiskReviewed(Event):
    """The brand reviewed a member's case: the level it decided (clear releases the held
    awards; black forfeits what is left of every award and stops earning), with its note, the
    score and reasons it saw, and the awards it settles."""

    type: ClassVar[str] = "RiskReviewed"
    brand_id: int
    account_id: str
    level: str
    note: str
    by: str
    score: int
    reasons: list[dict[str, Any]]
    awards: list[str]


@dataclass(frozen=True)
class RiskRulesSet(Event):
    """A brand set its anti-farming rules (thresholds, weights, levels); screenings after this
    entry use them."""

    type: ClassVar[str] = "RiskRulesSet"
    brand_id: int
    settings: dict[str, Any]
    by: str


@dataclass(frozen=True)
class IdentityLinked(Event):
    """A brand's integration asserted an identity of a member: its type (``phone``, ``email``,
    ``wallet``, ``external:<namespace>``) and an opaque reference (a keyed hash of the value;
    the value is kept apart, and deleted with the person)."""

    type: ClassVar[str] = "IdentityLinked"
    brand_id: int
    account_id: str
    kind: str
    ref: str
    proof: str
    by: str


@dataclass(frozen=True)
class MembersMerged(Event):
    """Two members are one person: ``survivor`` (the older) absorbed ``merged``, on the proof
    ``reason`` says. Each keeps its own identities and events, so an unmerge gives both back."""

    type: ClassVar[str] = "MembersMerged"
    brand_id: int
    survivor: str
    merged: str
    reason: str
    by: str


@dataclass(frozen=True)
class MembersUnmerged(Event):
    """A merge (``merge``: the log entry that recorded it) was undone, with the brand's note."""

    type: ClassVar[str] = "MembersUnmerged"
    brand_id: int
    merge: str
    note: str
    by: str


@dataclass(frozen=True)
class IdentityBlocked(Event):
    """A value (by reference) is on the brand's blocked list: it links nobody from now on."""

    type: ClassVar[str] = "IdentityBlocked"
    brand_id: int
    kind: str
    ref: str
    by: str
