"""What the touchpoints' use cases need of storage: the feed's two sources, the checkpoints, and
the journey's tables."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from service.kernel.ports import LogEntry, UnitOfWork
from service.touchpoints.domain.identities import Merge
from service.touchpoints.domain.journey import Cause, Reach, Stage
from service.touchpoints.domain.members import Consent, Purpose
from service.touchpoints.domain.points import Award, Draw, Entry
from service.touchpoints.domain.risk import Evidence, Level, Sighting


@dataclass(frozen=True)
class ScanFact:
    """A scan as the feed reads it: the row id is its position in the stream; the brand and GTIN
    are its batch's. A partner's scan (``by_partner``) moves the position and nothing else."""

    position: int
    by_partner: bool
    at: datetime
    device_hash: bytes
    verdict: str
    region_code: str | None
    brand_id: int | None
    gtin: str | None
    #: The scanned item's row id (a code, for the signals per code; no serial).
    item_id: int = 0


@dataclass(frozen=True)
class CertificateFacts:
    """What the feed keeps of a certificate: its brand and product, the region its claim named,
    who holds it now (a subject), and a step waiting for the chain, with who asked for it."""

    certificate_id: str
    brand_id: int
    batch_id: str
    gtin: str | None
    region_code: str | None
    holder: str | None = None
    pending_action: str | None = None
    pending_by: str | None = None
    #: Since when it is in a custodian's storage (a confirmed deposit; a storage anniversary).
    stored_since: datetime | None = None
    #: Who offered it as a gift, and the log index of the offer (a referral, when accepted by
    #: someone who signed up after it).
    gift_from: str | None = None
    gift_index: int | None = None
    #: Whether its claimer scanned it before claiming (the claim's log entry says).
    scanned_first: bool = False


@dataclass(frozen=True)
class Holding:
    """A subject came to hold a certificate of a brand (claimed, or a gift accepted)."""

    brand_id: int
    subject: str
    certificate_id: str
    batch_id: str
    held_at: datetime


@dataclass(frozen=True)
class FunnelRow:
    """Subjects that reached a stage in a period, per region and product."""

    period: str
    stage: Stage
    region_code: str | None
    gtin: str | None
    subjects: int


class Feed(Protocol):
    """The event log's entries of some types, the consumer-scan stream after a position, and
    the brand and product of a batch."""

    def log_entries(self, start: int, end: int, types: Collection[str]) -> list[LogEntry]:
        """The entries with ``start <= log_index < end`` of these types, in log order (the
        others are skipped in the database: most of the log is the channel's)."""
        ...

    def scans_after(self, position: int, limit: int) -> list[ScanFact]: ...
    def last_scan(self) -> int:
        """The stream's last position (0 when empty)."""
        ...

    def batch_brands(self, batch_ids: Collection[str]) -> dict[str, tuple[int | None, str | None]]:
        """Each known batch's brand and GTIN by its public id (fixed once made)."""
        ...

    def account_public_id(self, account_id: int) -> str | None:
        """A signed-in consumer's account's public id (what the log names it by)."""
        ...

    def account_contacts(self, account_ids: Collection[str]) -> dict[str, AccountContact]:
        """Accounts by public id, with the sign-in phone or e-mail (personal data: read only
        for their owner, or with the owner's consent)."""
        ...

    def brand_names(self, brand_ids: Collection[int]) -> dict[int, str]:
        """Each brand's name, by organisation id (an id that is no brand's is absent)."""
        ...

    def account_by_destination(self, destination: str) -> str | None:
        """The account that signs in with this (normalised) phone number or e-mail address."""
        ...

    def refresh_statistics(self) -> None:
        """Have the database's planner count the touchpoint tables again (after a bulk fill)."""
        ...


class Checkpoints(Protocol):
    def position(self, source: str) -> int:
        """Where the projector stands in ``source`` (0 at first): in the log, the next index to
        read; in the scan stream, the last row id applied."""
        ...

    def advance(self, source: str, old: int, new: int, at: datetime) -> bool:
        """Move ``source`` from ``old`` to ``new``, as one conditional update: False if another
        projector moved it first (then this transaction must not commit)."""
        ...

    def positions(self) -> dict[str, int]: ...


class JourneyRepository(Protocol):
    """The journey's tables, read and written a page at a time."""

    def reach(self, reaches: Sequence[Reach]) -> None:
        """Record each stage reached, keeping the earliest cause of each (brand, subject, stage)."""
        ...

    def stages(self, brand_id: int, subject: str) -> dict[Stage, Cause]: ...
    def certificates(self, certificate_ids: Collection[str]) -> dict[str, CertificateFacts]: ...
    def put_certificates(self, facts: Sequence[CertificateFacts]) -> None:
        """Insert or replace each certificate's facts."""
        ...

    def wallet_holders(self, addresses: Collection[str]) -> dict[str, str]:
        """The subject of each known address (lower case)."""
        ...

    def put_wallets(self, holders: Sequence[tuple[str, str, int | None]]) -> None:
        """Insert or replace ``(address, subject, joined)``: ``joined`` is the log index of the
        account's sign-up."""
        ...

    def joined(self, subjects: Collection[str]) -> dict[str, int]:
        """The log index each known account signed up at."""
        ...

    def stored(self) -> list[CertificateFacts]:
        """Every certificate in a custodian's storage."""
        ...

    def holdings_of(self, subjects: Collection[str]) -> list[Holding]:
        """Every holding of these subjects, of every brand."""
        ...

    def add_holdings(self, holdings: Sequence[Holding]) -> None:
        """Record new holdings (one already recorded is left as it is)."""
        ...

    def rules(self, brand_ids: Collection[int]) -> dict[int, dict[str, Any]]:
        """The journey rules each brand set (a brand that set none is absent)."""
        ...

    def put_rules(
        self, brand_id: int, settings: dict[str, Any], at: datetime, cause: str
    ) -> None: ...

    def funnel(self, brand_id: int, offset: int, limit: int) -> list[FunnelRow]:
        """A brand's subjects per stage reached, by month (UTC), region and product, ordered by
        month, stage, region and product (unknown ones first)."""
        ...

    def dump(self) -> dict[str, list[list[Any]]]:
        """Every row the feed built, table by table, in a fixed order (rebuilds compare it)."""
        ...

    def clear(self) -> None:
        """Forget everything the feed built, checkpoints included (a rebuild starts here)."""
        ...


class PointsRepository(Protocol):
    """The brands' programmes and the points ledger (append-only: entries and draws are added,
    never changed)."""

    def programmes(self, brand_ids: Collection[int]) -> dict[int, dict[str, Any]]:
        """The settings each brand set (a brand that set none is absent)."""
        ...

    def put_programme(
        self, brand_id: int, settings: dict[str, Any], at: datetime, cause: str
    ) -> None: ...
    def existing(self, keys: Collection[str]) -> set[str]:
        """Which of these entry keys the ledger holds."""
        ...

    def earned_since(
        self, holders: Collection[str], since: datetime
    ) -> list[tuple[str, int, datetime, int]]:
        """``(holder, brand, at, points)`` of each award of these holders from ``since`` on."""
        ...

    def awards(self, keys: Collection[str]) -> dict[str, Award]:
        """These awards, with what is left of each."""
        ...

    def open_awards(self, brand_id: int, holder: str) -> list[Award]:
        """A holder's released awards of a brand with points left (what a spend draws on)."""
        ...

    def awards_of_batch(self, batch_id: str) -> list[Award]:
        """Every award for a bottle of this batch, with what is left of each."""
        ...

    def expiring(self, after: datetime, until: datetime) -> list[Award]:
        """Awards that expire in ``(after, until]`` with points left."""
        ...

    def add(self, entries: Sequence[Entry], draws: Sequence[Draw]) -> None: ...
    def balances(self, holder: str) -> dict[int, int]:
        """A holder's balance per brand (the sum of its entries)."""
        ...

    def history(self, holder: str, brand_id: int, offset: int, limit: int) -> list[Entry]:
        """A holder's entries of a brand, newest first."""
        ...

    def dump(self) -> dict[str, list[list[Any]]]: ...
    def clear(self) -> None: ...


@dataclass(frozen=True)
class Member:
    brand_id: int
    subject: str
    public_id: str
    since_at: datetime
    since_cause: str
    erased_at: datetime | None = None


@dataclass(frozen=True)
class AccountContact:
    """A consumer account as its owner (and, with consent, a store) may see it."""

    public_id: str
    channel: str
    destination: str
    wallet_address: str
    custody: str
    created_at: datetime


class MembersRepository(Protocol):
    """The brands' members and their consents (projections of the log)."""

    def ensure(self, members: Sequence[Member]) -> None:
        """Record each member, keeping the earliest cause of each."""
        ...

    def record_consents(self, brand_subject_consents: Sequence[tuple[int, str, Consent]]) -> None:
        """Each purpose's latest record (later ones replace earlier)."""
        ...

    def erase(self, subject: str, at: datetime) -> None:
        """The person behind ``subject`` had their account erased: its memberships name
        nobody, and every consent it gave is withdrawn."""
        ...

    def of_subject(self, subject: str) -> list[Member]: ...
    def by_public_id(self, public_id: str) -> Member | None: ...
    def consents(
        self, brand_id: int, subjects: Collection[str]
    ) -> dict[str, dict[Purpose, Consent]]: ...
    def members(self, brand_id: int, offset: int, limit: int) -> list[Member]: ...
    def granted(self, brand_id: int, purpose: Purpose, offset: int, limit: int) -> list[Member]:
        """Live members of the brand whose consent to ``purpose`` stands, and whom it has not
        blacklisted (a blacklisted member gets no campaigns)."""
        ...

    def dump(self) -> dict[str, list[list[Any]]]: ...
    def clear(self) -> None: ...


@dataclass(frozen=True)
class AwardStatus:
    """An award's screening: ``released``, ``held`` or ``forfeited``, by the log entry
    ``cause``."""

    award_key: str
    status: str
    at: datetime
    cause: str


@dataclass(frozen=True)
class RiskDecision:
    """A decision on a member's risk: a screening (``kind`` screen) or the brand's review
    (``review``, with its note), recorded by the log entry ``cause``."""

    cause: str
    brand_id: int
    subject: str
    kind: str
    level: Level
    score: int
    reasons: list[dict[str, Any]]
    note: str | None
    at: datetime


@dataclass(frozen=True)
class RiskState:
    """A member's risk as it stands: the last decision on it."""

    brand_id: int
    subject: str
    level: Level
    score: int
    reasons: list[dict[str, Any]]
    at: datetime
    cause: str
    #: The brand's last review: when, and the level it set.
    reviewed_at: datetime | None = None
    review_level: Level | None = None


class RiskRepository(Protocol):
    """What the screening reads and decides (projections of the log and the scan stream)."""

    def add_sightings(self, brand_sightings: Sequence[tuple[int, Sighting]]) -> None: ...
    def put_statuses(self, statuses: Sequence[AwardStatus]) -> None: ...
    def decide(self, decisions: Sequence[RiskDecision]) -> None: ...
    def erase(self, subject: str) -> None: ...
    def put_rules(
        self, brand_id: int, settings: dict[str, Any], at: datetime, cause: str
    ) -> None: ...
    def rules(self, brand_ids: Collection[int]) -> dict[int, dict[str, Any]]:
        """Brands' risk rules as they set them (brands that set none are absent)."""
        ...

    def levels(self, subjects: Collection[str]) -> dict[tuple[int, str], Level]:
        """The risk level of each of these subjects with each brand that decided one."""
        ...

    def unscreened(
        self, limit: int, after: tuple[datetime, str] | None = None
    ) -> tuple[list[tuple[int, str]], tuple[datetime, str] | None]: ...
    def awards_by_status(self, brand_id: int, subject: str) -> dict[str, list[str]]: ...
    def awards_by_status_of(
        self, brand_id: int, subjects: Collection[str]
    ) -> dict[str, dict[str, list[str]]]: ...
    def evidence(self, brand_id: int, subject: str) -> Evidence: ...
    def evidence_of(self, brand_id: int, subjects: Collection[str]) -> dict[str, Evidence]: ...
    def risk(self, brand_id: int, subject: str) -> RiskState | None: ...
    def risks(self, brand_id: int, subjects: Collection[str]) -> dict[str, RiskState]: ...
    def queue(
        self, brand_id: int, levels: Collection[Level], offset: int, limit: int
    ) -> list[RiskState]: ...
    def decisions(self, brand_id: int, subject: str) -> list[RiskDecision]: ...
    def held_points(self, brand_id: int, subject: str) -> dict[str, int]: ...
    def dump(self) -> dict[str, list[list[Any]]]: ...
    def clear(self) -> None: ...


@dataclass(frozen=True)
class IdentityLink:
    """An identity of a member: its type, opaque reference, proof and log entry."""

    brand_id: int
    kind: str
    ref: str
    subject: str
    proof: str
    at: datetime
    cause: str


@dataclass(frozen=True)
class MergeRecord:
    """A merge as the member view shows it: undone or standing."""

    id: str
    survivor: str
    merged: str
    reason: str
    at: datetime
    undone_at: datetime | None
    undone_cause: str | None


class IdentitiesRepository(Protocol):
    """One-ID: identities, their values, merges and blocked values."""

    def link(self, links: Sequence[IdentityLink]) -> None: ...
    def merged(self, brand_id: int, merge: Merge, at: datetime) -> None: ...
    def unmerged(self, brand_id: int, merge_id: str, at: datetime, cause: str) -> None: ...
    def block(self, brand_id: int, kind: str, ref: str, at: datetime, cause: str) -> None: ...
    def erase(self, subject: str) -> None: ...
    def put_value(self, brand_id: int, kind: str, ref: str, value: str) -> None: ...
    def holders(self, brand_id: int, kind: str, ref: str) -> list[str]: ...
    def of_subjects(self, brand_id: int, subjects: Collection[str]) -> list[IdentityLink]: ...
    def values(
        self, brand_id: int, refs: Collection[tuple[str, str]]
    ) -> dict[tuple[str, str], str]: ...
    def is_blocked(self, brand_id: int, kind: str, ref: str) -> bool: ...
    def standing(self, brand_id: int) -> list[Merge]: ...
    def merges_of(self, brand_id: int, subjects: Collection[str]) -> list[MergeRecord]: ...
    def dump(self) -> dict[str, list[list[Any]]]: ...
    def clear(self) -> None: ...


class RegionPlaces(Protocol):
    """Where a region's centre is, (latitude, longitude), from a maintained dataset."""

    def __call__(self, code: str) -> tuple[float, float] | None: ...


class TouchpointsUnitOfWork(UnitOfWork, Protocol):
    """One transaction over the touchpoints' tables, the event log (read) and the scan stream."""

    journeys: JourneyRepository
    points: PointsRepository
    members: MembersRepository
    risk: RiskRepository
    identities: IdentitiesRepository
    feed_checkpoints: Checkpoints
    feed: Feed


class TouchpointsUnitOfWorkFactory(Protocol):
    def __call__(self) -> TouchpointsUnitOfWork: ...
    def reader(self) -> TouchpointsUnitOfWork:
        """A unit of work for use cases that only read (no write lock on SQLite)."""
        ...
