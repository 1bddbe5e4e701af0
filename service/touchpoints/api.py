"""The touchpoints' routes: the brand's funnel and points programme, and the consumer's points."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import JSONResponse
from pydantic import Field, StrictBool, StrictInt

from service.api.deps import (
    ContainerDep,
    CurrentActor,
    CurrentConsumer,
    IdempotencyKeyDep,
    idempotency_of,
    page_limit,
    use_cases,
)
from service.api.schemas import Id, IdPath, IdQuery, Limit, Offset, Public, Strict
from service.touchpoints.app.funnel import FunnelUseCases
from service.touchpoints.app.identities import IdentitiesUseCases
from service.touchpoints.app.members import MembersUseCases
from service.touchpoints.app.points import PointsUseCases
from service.touchpoints.app.risk import MAX_NOTE, RiskUseCases
from service.touchpoints.domain.points import MAX_EXPIRY_DAYS, MAX_POINTS, MAX_REWARDS
from service.touchpoints.domain.risk import Level

TouchpointsDep = Annotated[FunnelUseCases, Depends(use_cases("funnel"))]
PointsDep = Annotated[PointsUseCases, Depends(use_cases("points"))]

router = APIRouter(tags=["touchpoints"])

#: Strict types: JSON's 0 is not false, nor "5" a number (the schema says so; so does the API).
Points = Annotated[StrictInt, Field(ge=0, le=MAX_POINTS)]


class FunnelRowPublic(Public):
    #: The month the stage was reached in (UTC), ``YYYY-MM``.
    period: str
    stage: Literal["discover", "activate", "convert", "use_share", "loyal"]
    region_code: str | None
    gtin: str | None
    #: Subjects (members, wallets, anonymous devices) that reached the stage then, there, for
    #: that product.
    subjects: int


@router.get("/touchpoints/funnel", response_model=list[FunnelRowPublic])
def funnel(
    actor: CurrentActor,
    touchpoints: TouchpointsDep,
    container: ContainerDep,
    brand_id: IdQuery = None,
    offset: Offset = 0,
    limit: Limit = None,
) -> list[FunnelRowPublic]:
    """Your brand's journey funnel (brand, auditor; an admin names ``brand_id``): how many
    subjects reached each stage, by month, region and product, as the touchpoints' feed has
    applied the event log and the scans so far (its lag is in ``GET /health``)."""
    rows = touchpoints.funnel(actor, brand_id, offset, page_limit(container, limit))
    return [FunnelRowPublic.model_validate(r) for r in rows]


# ----------------------------------------------------------------------------- the programme
class EarnRules(Strict):
    """Points each rule earns (0: none)."""

    claim: Points | None = None
    referral: Points | None = None
    storage_anniversary: Points | None = None
    redemption: Points | None = None
    #: The claimer scanned the bottle before claiming it.
    first_scan: Points | None = None


class Caps(Strict):
    """Most a member earns per calendar day, ISO week and month (UTC); 0: no cap."""

    day: Points | None = None
    week: Points | None = None
    month: Points | None = None


class RewardCreate(Strict):
    id: str = Field(min_length=1, max_length=40, pattern=r"^[\x21-\x7e]+$")
    name: str = Field(min_length=1, max_length=120)
    points: StrictInt = Field(ge=1, le=MAX_POINTS)


class ProgrammeUpdate(Strict):
    """A brand's points programme; what is left out keeps the default."""

    enabled: StrictBool | None = None
    earn: EarnRules | None = None
    caps: Caps | None = None
    expires_after_days: StrictInt | None = Field(default=None, ge=1, le=MAX_EXPIRY_DAYS)
    rewards: list[RewardCreate] | None = Field(default=None, max_length=MAX_REWARDS)


class ProgrammePublic(Public):
    brand_id: int
    enabled: bool
    earn: dict[str, int]
    caps: dict[str, int]
    expires_after_days: int
    rewards: list[dict[str, Any]]
    #: Where the log holds the change (it applies to what the log holds after it).
    log_index: int | None = None


@router.get("/touchpoints/points/programme", response_model=ProgrammePublic)
def programme(actor: CurrentActor, points: PointsDep, brand_id: IdQuery = None) -> Any:
    """Your brand's points programme (brand, auditor; an admin names ``brand_id``): what each
    rule earns, the caps, how long points last, and the rewards on offer. A brand that set
    none runs the defaults."""
    return points.programme(actor, brand_id)


@router.put("/touchpoints/points/programme", response_model=ProgrammePublic)
def set_programme(
    body: ProgrammeUpdate,
    actor: CurrentActor,
    points: PointsDep,
    idempotency_key: IdempotencyKeyDep,
) -> Any:
    """Set your brand's points programme (the brand). It is an entry of the event log and
    applies to what follows it; points already earned keep their amounts and expiry dates."""
    settings = body.model_dump(exclude_none=True)
    for part in ("earn", "caps"):
        if part in settings:
            settings[part] = {k: v for k, v in settings[part].items() if v is not None}
    return points.set_programme(
        actor, settings, idempotency_of(idempotency_key, body, "points-programme")
    )


# ----------------------------------------------------------------------------- the consumer
class EntryPublic(Public):
    #: What the entry is for: ``claim:<certificate>``, ``spend:<log index>``, ...
    id: str
    kind: Literal["earn", "spend", "expire", "reverse"]
    #: Signed: what it added to (or took from) the balance.
    points: int
    at: str
    #: The log entry that caused it, ``log:<index>``.
    cause: str
    #: The rule an award was earned by, or the reward a spend bought.
    rule: str | None
    certificate_id: str | None
    expires_at: str | None
    #: An award: what the caps withheld. A reversal: what had been spent already.
    withheld: int


class ExpiringPublic(Public):
    points: int
    expires_at: str


class BrandPointsPublic(Public):
    brand_id: int
    brand: str | None
    #: What may be spent: points released by the anti-farming screening.
    balance: int
    #: Points earned and waiting for the screening (usually under a minute).
    pending: int
    #: Points held while the brand reviews the account.
    held: int
    #: Whether the brand's programme is open (points may be spent).
    open: bool
    #: What expires next, earliest first.
    expiring: list[ExpiringPublic]
    rewards: list[dict[str, Any]]
    latest: list[EntryPublic]


class MyPointsPublic(Public):
    brands: list[BrandPointsPublic]


class SpendCreate(Strict):
    brand_id: Id
    #: One of the brand's rewards (``GET /me/points``).
    reward: str = Field(min_length=1, max_length=40)


class DrawPublic(Public):
    award: str
    points: int


class SpendPublic(Public):
    #: ``spend:<log index>``.
    id: str
    brand_id: int
    reward: dict[str, Any]
    points: int
    #: What may be spent after the spend.
    balance: int
    draws: list[DrawPublic]
    at: str
    log_index: int


@router.get("/me/points", response_model=MyPointsPublic)
def my_points(actor: CurrentConsumer, points: PointsDep) -> Any:
    """Your points, brand by brand: the balance, what expires next, the brand's rewards and the
    latest entries. Points follow the event log within a second or so."""
    return points.my_points(actor)


@router.get("/me/points/{brand_id}/entries", response_model=list[EntryPublic])
def my_point_entries(
    brand_id: IdPath,
    actor: CurrentConsumer,
    points: PointsDep,
    container: ContainerDep,
    offset: Offset = 0,
    limit: Limit = None,
) -> Any:
    """Your points ledger with one brand, newest first."""
    return points.history(actor, brand_id, offset, page_limit(container, limit))


@router.post("/me/points/spend", response_model=SpendPublic)
def spend(
    body: SpendCreate,
    actor: CurrentConsumer,
    points: PointsDep,
    idempotency_key: IdempotencyKeyDep,
) -> Any:
    """Spend points on one of the brand's rewards, drawn from the points that expire first.
    Needs an ``Idempotency-Key``: a retry with the same key answers the same and spends once."""
    return points.spend(
        actor, body.brand_id, body.reward, idempotency_of(idempotency_key, body, "points-spend")
    )


# ----------------------------------------------------------------------------- members, consent
class ConsentPublic(Public):
    granted: bool
    at: str
    #: The version of the consent text the person saw.
    text_version: str
    channel: str
    #: The log entry that recorded it, ``log:<index>``.
    cause: str


class ConsentsPublic(Public):
    marketing: ConsentPublic | None
    profiling: ConsentPublic | None
    store_sharing: ConsentPublic | None


class MyConsentPublic(Public):
    brand_id: int
    brand: str | None
    member_id: str
    consents: ConsentsPublic


class ConsentUpdate(Strict):
    """What you agree to (true) or withdraw (false); a purpose left out stays as it is."""

    marketing: StrictBool | None = None
    profiling: StrictBool | None = None
    store_sharing: StrictBool | None = None
    #: The version of the consent text you were shown.
    text_version: str = Field(min_length=1, max_length=40, pattern=r"^[\x21-\x7e]+$")
    channel: Literal["web", "app", "wechat", "store", "phone"] = "web"


class BrandConsentsPublic(Public):
    brand_id: int
    consents: ConsentsPublic


class ContactPublic(Public):
    channel: Literal["sms", "email"]
    value: str
    masked: bool


class MemberSummaryPublic(Public):
    id: str
    since: str
    erased: bool
    #: The member's stage, with profiling consent only.
    stage: str | None
    balance: int
    consents: ConsentsPublic


class JourneyStepPublic(Public):
    stage: str
    at: str
    cause: str


class ReasonPublic(Public):
    #: accounts_per_device, velocity, impossible_travel, recycled_caps, clone_flag or
    #: referral_ring.
    signal: str
    weight: int
    detail: str
    #: The log entries (``log:<index>``) and consumer scans (``scans:<row id>``) behind it.
    events: list[str]


class RiskDecisionPublic(Public):
    #: ``screen`` (the screening job) or ``review`` (the brand).
    kind: Literal["screen", "review"]
    level: Literal["clear", "grey", "black"]
    score: int
    reasons: list[ReasonPublic]
    note: str | None
    at: str
    #: The log entry that recorded it.
    cause: str


class RiskPublic(Public):
    #: clear (points released), grey (points held for review), black (no points, no campaigns).
    level: Literal["clear", "grey", "black"]
    score: int
    reasons: list[ReasonPublic]
    decided_at: str | None
    cause: str | None
    reviewed_at: str | None
    review_level: Literal["clear", "grey", "black"] | None
    #: Points left in awards not released: ``pending`` screening, ``held`` for review.
    points: dict[str, int]


class MemberRiskPublic(RiskPublic):
    #: Every decision on the member, oldest first.
    decisions: list[RiskDecisionPublic]


class IdentityPublic(Public):
    #: phone, email, wallet or external:<namespace>.
    type: str
    #: Masked.
    value: str | None
    #: sign_in (a verified one-time code), wallet_binding, integration.
    proof: str
    #: The member (of those merged) that carries it.
    member_id: str
    since: str | None
    #: The log entry that linked it (none for a sign-in or a wallet: the account's own).
    cause: str | None


class DevicePublic(Public):
    device: str
    member_id: str
    #: Claimed from for more members than a household has: it links nobody.
    shared: bool


class MergePublic(Public):
    #: The log index of the merge (``POST /touchpoints/merges/{id}/undo`` undoes it).
    id: int
    survivor: str
    merged: str
    reason: str
    at: str
    undone_at: str | None


class MemberPublic(Public):
    id: str
    since: str
    erased: bool
    #: Masked, except for a store's staff with the member's store-sharing consent.
    contact: ContactPublic | None
    consents: ConsentsPublic
    balance: int
    points: list[EntryPublic]
    #: Whether the member consented to profiling: without it, no stage and no journey.
    profiling: bool
    stage: str | None
    journey: list[JourneyStepPublic] | None
    #: The anti-farming screening's view of the member (the brand and its auditors; not a
    #: store's staff).
    risk: MemberRiskPublic | None
    #: One-ID (the brand and its auditors; None for a store's staff): the member's identities,
    #: masked, and those of the members merged into it.
    identities: list[IdentityPublic] | None
    #: Devices the member claimed from (a shared one links nobody).
    devices: list[DevicePublic] | None
    #: The member this one is merged into (its points and journey show there too).
    merged_into: str | None
    #: This member and those merged into it.
    members: list[str] | None
    merges: list[MergePublic] | None


class ContactListPublic(Public):
    member_id: str
    channel: Literal["sms", "email"]
    contact: str
    consent: ConsentPublic


MembersDep = Annotated[MembersUseCases, Depends(use_cases("members"))]


@router.get("/me/consents", response_model=list[MyConsentPublic])
def my_consents(actor: CurrentConsumer, members: MembersDep) -> Any:
    """The brands you are a member of, with what you agreed to for each: marketing contact,
    profiling (your journey in the brand's view), sharing your contact with its stores."""
    return members.my_consents(actor)


@router.put("/me/consents/{brand_id}", response_model=BrandConsentsPublic)
def set_my_consents(
    brand_id: IdPath, body: ConsentUpdate, actor: CurrentConsumer, members: MembersDep
) -> Any:
    """Give or withdraw consent to a brand's purposes. Each change is recorded with its time,
    the text's version and the channel; the brand uses nothing for a purpose without it."""
    choices = {
        k: v
        for k, v in body.model_dump(include={"marketing", "profiling", "store_sharing"}).items()
        if v is not None
    }
    return members.set_consents(actor, brand_id, choices, body.text_version, body.channel)


@router.get("/me/data")
def my_data(actor: CurrentConsumer, members: MembersDep) -> Any:
    """Download your data: your account, and for each brand your membership, consents,
    journey, certificates held and points entries (JSON)."""
    return JSONResponse(
        members.my_data(actor),
        headers={"Content-Disposition": 'attachment; filename="tracecert-my-data.json"'},
    )


@router.get("/touchpoints/members", response_model=list[MemberSummaryPublic])
def brand_members(
    actor: CurrentActor,
    members: MembersDep,
    container: ContainerDep,
    offset: Offset = 0,
    limit: Limit = None,
) -> Any:
    """Your brand's members (brand, auditor), earliest first, without contact details; a
    member's stage only with their profiling consent."""
    return members.members(actor, offset, page_limit(container, limit))


@router.get("/touchpoints/members/{member_id}", response_model=MemberPublic)
def brand_member(
    member_id: Annotated[str, Path(min_length=1, max_length=40)],
    actor: CurrentActor,
    members: MembersDep,
) -> Any:
    """One member (brand, auditor, the brand's stores): contact masked (in full for a store
    with the member's store-sharing consent), consents, points, and the journey with
    profiling consent."""
    return members.member(actor, member_id)


@router.get("/touchpoints/contacts", response_model=list[ContactListPublic])
def brand_contacts(
    actor: CurrentActor,
    members: MembersDep,
    container: ContainerDep,
    offset: Offset = 0,
    limit: Limit = None,
) -> Any:
    """Your brand's contact list (brand): the members whose marketing consent stands, with the
    phone or e-mail to reach them by. Nobody without that consent is ever on it."""
    return members.contactable(actor, offset, page_limit(container, limit))


# ----------------------------------------------------------------------------- journey rules
UseShare = Literal["gift", "pledge", "deposit", "request_redemption"]


class JourneyRulesUpdate(Strict):
    """A brand's journey rules; what is left out keeps the default."""

    #: A second certificate this many days after the first is loyalty (default 30).
    loyal_after_days: StrictInt | None = Field(default=None, ge=1, le=3650)
    #: A second certificate from another batch is loyalty at once (default true).
    loyal_other_batch: StrictBool | None = None
    #: Confirmed steps that count as using or sharing (default all four).
    use_share: list[UseShare] | None = Field(default=None, max_length=4)


class JourneyRulesPublic(Public):
    brand_id: int
    loyal_after_days: int
    loyal_other_batch: bool
    use_share: list[UseShare]
    #: Where the log holds the change (it applies to what the log holds after it).
    log_index: int | None = None


@router.get("/touchpoints/journey/rules", response_model=JourneyRulesPublic)
def journey_rules(
    actor: CurrentActor, touchpoints: TouchpointsDep, brand_id: IdQuery = None
) -> Any:
    """Your brand's journey rules (brand, auditor; an admin names ``brand_id``): when a second
    certificate makes a member loyal, and which steps count as using or sharing one."""
    return touchpoints.rules(actor, brand_id)


@router.put("/touchpoints/journey/rules", response_model=JourneyRulesPublic)
def set_journey_rules(
    body: JourneyRulesUpdate,
    actor: CurrentActor,
    touchpoints: TouchpointsDep,
    idempotency_key: IdempotencyKeyDep,
) -> Any:
    """Set your brand's journey rules (the brand). They are an entry of the event log and apply
    to what follows it; stages already reached stay reached."""
    settings = body.model_dump(exclude_none=True)
    return touchpoints.set_rules(
        actor, settings, idempotency_of(idempotency_key, body, "journey-rules")
    )


# ----------------------------------------------------------------------------- anti-farming
RiskDep = Annotated[RiskUseCases, Depends(use_cases("risk"))]


Weight = Annotated[StrictInt, Field(ge=0, le=100)]
Threshold = Annotated[StrictInt, Field(ge=1, le=1000)]


class RiskWeights(Strict):
    """What each signal adds to a member's score (0: nothing)."""

    accounts_per_device: Weight | None = None
    velocity: Weight | None = None
    impossible_travel: Weight | None = None
    recycled_caps: Weight | None = None
    clone_flag: Weight | None = None
    referral_ring: Weight | None = None
    off_channel: Weight | None = None


class RiskRulesUpdate(Strict):
    """A brand's anti-farming rules; what is left out keeps the default."""

    #: A device that claimed for more accounts than this raises accounts_per_device (3).
    device_accounts: Threshold | None = None
    #: More claims than this in 24 hours raise velocity (5).
    claims_per_day: Threshold | None = None
    #: Faster than this between two sightings is impossible travel (1000 km/h) ...
    travel_kmh: Annotated[StrictInt, Field(ge=100, le=100_000)] | None = None
    #: ... unless they are closer than this (100 km).
    travel_min_km: Annotated[StrictInt, Field(ge=0, le=5000)] | None = None
    #: Distinct redeemed or recalled codes scanned that raise recycled_caps (2).
    recycled_codes: Threshold | None = None
    #: Claims of a partner's bottles outside its territory that raise off_channel (2).
    outside_claims: Threshold | None = None
    weights: RiskWeights | None = None
    #: A score from this is grey (points held for review; 40) ...
    grey_at: Annotated[StrictInt, Field(ge=1, le=100)] | None = None
    #: ... and from this black (no points, no campaigns; 80).
    black_at: Annotated[StrictInt, Field(ge=1, le=100)] | None = None


class RiskRulesPublic(Public):
    brand_id: int
    device_accounts: int
    claims_per_day: int
    travel_kmh: int
    travel_min_km: int
    recycled_codes: int
    outside_claims: int
    weights: dict[str, int]
    grey_at: int
    black_at: int
    #: Where the log holds the change (screenings after it use the rules).
    log_index: int | None = None


@router.get("/touchpoints/risk/rules", response_model=RiskRulesPublic)
def risk_rules(actor: CurrentActor, risk: RiskDep, brand_id: IdQuery = None) -> Any:
    """Your brand's anti-farming rules (brand, auditor; an admin names ``brand_id``): each
    signal's threshold and weight, and the scores that greylist and blacklist."""
    return risk.risk_rules(actor, brand_id)


@router.put("/touchpoints/risk/rules", response_model=RiskRulesPublic)
def set_risk_rules(
    body: RiskRulesUpdate,
    actor: CurrentActor,
    risk: RiskDep,
    idempotency_key: IdempotencyKeyDep,
) -> Any:
    """Set your brand's anti-farming rules (the brand). They are an entry of the event log;
    screenings after it use them, and decisions already made stand."""
    settings = body.model_dump(exclude_none=True)
    return risk.set_risk_rules(actor, settings, idempotency_of(idempotency_key, body, "risk-rules"))


class RiskCasePublic(RiskPublic):
    member_id: str | None


class ReviewCreate(Strict):
    """The brand's decision on a member's case."""

    #: clear releases the held points; grey keeps them held; black forfeits what is left of
    #: every award and stops the member earning and being contacted.
    level: Literal["clear", "grey", "black"]
    #: Why: kept with the decision in the event log.
    note: str = Field(min_length=1, max_length=MAX_NOTE)


class ReviewPublic(MemberRiskPublic):
    member_id: str
    log_index: int


@router.get("/touchpoints/risk/queue", response_model=list[RiskCasePublic])
def risk_queue(
    actor: CurrentActor,
    risk: RiskDep,
    container: ContainerDep,
    level: Annotated[list[Literal["clear", "grey", "black"]] | None, Query()] = None,
    brand_id: IdQuery = None,
    offset: Offset = 0,
    limit: Limit = None,
) -> Any:
    """The review queue (brand, auditor; an admin names ``brand_id``): members the
    anti-farming screening greylisted (or the ``level`` asked for), the latest first, with the
    reasons and the events behind each, and the points held."""
    levels = [Level(x) for x in level or ["grey"]]
    return risk.queue(actor, brand_id, levels, offset, page_limit(container, limit))


@router.post("/touchpoints/members/{member_id}/review", response_model=ReviewPublic)
def review_member(
    member_id: Annotated[str, Path(min_length=1, max_length=40)],
    body: ReviewCreate,
    actor: CurrentActor,
    risk: RiskDep,
    idempotency_key: IdempotencyKeyDep,
) -> Any:
    """Decide a member's case (the brand): clear, keep grey, or blacklist, with a note. The
    decision is a log entry naming the score and reasons it saw. Honours ``Idempotency-Key``."""
    return risk.review(
        actor,
        member_id,
        Level(body.level),
        body.note,
        idempotency_of(idempotency_key, body, f"risk-review:{member_id}"),
    )


# ----------------------------------------------------------------------------- One-ID
IdentitiesDep = Annotated[IdentitiesUseCases, Depends(use_cases("identities"))]
IdentityKind = Annotated[str, Field(min_length=1, max_length=48, pattern=r"^[a-z][a-z0-9_:]*$")]


class IdentityCreate(Strict):
    """An identifier the brand's integration knows is the member's."""

    member_id: str = Field(min_length=1, max_length=40)
    #: phone, email, wallet or external:<namespace> (wechat_openid, wechat_unionid, ...).
    type: IdentityKind
    value: str = Field(min_length=1, max_length=254)


class IdentityAssertedPublic(Public):
    member_id: str
    log_index: int
    identities: list[IdentityPublic]
    devices: list[DevicePublic]
    merged_into: str | None
    members: list[str]
    merges: list[MergePublic]


class BlockCreate(Strict):
    type: IdentityKind
    value: str = Field(min_length=1, max_length=254)


class BlockedPublic(Public):
    type: str
    #: Masked.
    value: str
    log_index: int


class UnmergeCreate(Strict):
    #: Why: kept with the undoing in the event log.
    note: str = Field(min_length=1, max_length=1000)


class UnmergedPublic(Public):
    id: int
    survivor: str
    merged: str
    undone_at: str
    log_index: int


@router.post("/touchpoints/identities", response_model=IdentityAssertedPublic)
def assert_identity(
    body: IdentityCreate,
    actor: CurrentActor,
    identities: IdentitiesDep,
    idempotency_key: IdempotencyKeyDep,
) -> Any:
    """Your integration asserts an identifier of a member (the brand's key): a phone, an
    e-mail, a wallet or an external id such as a WeChat OpenID. A member that already holds it,
    or signs in with it, is the same person: the two merge, the older surviving (undo with
    ``POST /touchpoints/merges/{id}/undo``). A blocked value is refused (409
    ``identity_blocked``), and so is one more identifier of a type than a person has (409
    ``identity_limit``). The log holds the identifier by an opaque reference only."""
    return identities.assert_identity(
        actor,
        body.member_id,
        body.type,
        body.value,
        idempotency_of(idempotency_key, body, "identities"),
    )


@router.post("/touchpoints/identities/blocked", response_model=BlockedPublic)
def block_identity(
    body: BlockCreate,
    actor: CurrentActor,
    identities: IdentitiesDep,
    idempotency_key: IdempotencyKeyDep,
) -> Any:
    """Put a value on your brand's blocked list (a store's own phone, a test OpenID): it links
    nobody from now on."""
    return identities.block(
        actor, body.type, body.value, idempotency_of(idempotency_key, body, "identities-blocked")
    )


@router.post("/touchpoints/merges/{merge_id}/undo", response_model=UnmergedPublic)
def undo_merge(
    merge_id: IdPath,
    body: UnmergeCreate,
    actor: CurrentActor,
    identities: IdentitiesDep,
    idempotency_key: IdempotencyKeyDep,
) -> Any:
    """Undo a merge (the brand): both members stand alone again, each with its own
    identities, points and journey."""
    return identities.unmerge(
        actor, merge_id, body.note, idempotency_of(idempotency_key, body, f"unmerge:{merge_id}")
    )
