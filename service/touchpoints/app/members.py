"""Members and consent: the consumer's consents and their data (export), the brand's member
view and contact list, and a store's view of a member.

Consent is enforced here, at every use of a member's data for a purpose:

* the brand's **contact list** holds only members whose *marketing* consent stands, and is the
  only answer that carries a phone number or e-mail address to the brand;
* the **member view** shows the journey and the timeline only with *profiling* consent;
* a **store's** staff see the phone or e-mail in full only with *store sharing* consent, masked
  without; the brand and its auditors always see it masked.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from service.kernel.actor import Actor
from service.kernel.errors import InvalidRequestError, NotFoundError, PermissionDeniedError
from service.kernel.roles import Role
from service.touchpoints.app.identities import identities_view, linked_devices, own_identities
from service.touchpoints.app.points import entry_view
from service.touchpoints.app.risk import member_risk
from service.touchpoints.app.writes import AppliedWrites, signed_in
from service.touchpoints.domain.events import ConsentRecorded
from service.touchpoints.domain.journey import account_subject, current_stage
from service.touchpoints.domain.members import (
    CHANNELS,
    PURPOSES,
    Consent,
    Purpose,
    mask_contact,
)
from service.touchpoints.ports import (
    AccountContact,
    TouchpointsUnitOfWork,
    TouchpointsUnitOfWorkFactory,
)

#: Points entries and stages a member view shows.
TIMELINE = 20


def iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def consent_view(consent: Consent | None) -> dict[str, Any] | None:
    if consent is None:
        return None
    return {
        "granted": consent.granted,
        "at": iso(consent.at),
        "text_version": consent.text_version,
        "channel": consent.channel,
        "cause": consent.cause,
    }


def consents_view(consents: dict[Purpose, Consent]) -> dict[str, Any]:
    return {p.value: consent_view(consents.get(p)) for p in PURPOSES}


def granted(consents: dict[Purpose, Consent], purpose: Purpose) -> bool:
    found = consents.get(purpose)
    return found is not None and found.granted


class MembersUseCases:
    def __init__(self, uows: TouchpointsUnitOfWorkFactory, clock: Any) -> None:
        self.uows = uows
        self.writes = AppliedWrites(uows, clock)

    # ------------------------------------------------------------------ the consumer
    def _account(self, actor: Actor, uow: TouchpointsUnitOfWork) -> str:
        return signed_in(actor, uow, "Sign in to see and change your consents and data.")

    def my_consents(self, actor: Actor) -> list[dict[str, Any]]:
        """The brands the consumer is a member of, each with its consent per purpose."""
        with self.uows.reader() as uow:
            subject = account_subject(self._account(actor, uow))
            members = [m for m in uow.members.of_subject(subject) if m.erased_at is None]
            names = uow.feed.brand_names({m.brand_id for m in members}) if members else {}
            out = []
            for m in members:
                consents = uow.members.consents(m.brand_id, [subject]).get(subject, {})
                out.append(
                    {
                        "brand_id": m.brand_id,
                        "brand": names.get(m.brand_id),
                        "member_id": m.public_id,
                        "consents": consents_view(consents),
                    }
                )
        return out

    def set_consents(
        self,
        actor: Actor,
        brand_id: int,
        choices: dict[str, bool],
        text_version: str,
        channel: str,
    ) -> dict[str, Any]:
        """Give or withdraw consent to purposes of one brand; each change is an entry of the
        log (its time, the text's version, the channel), applied at once."""
        if not choices:
            raise InvalidRequestError(
                "Name at least one purpose: marketing, profiling, store_sharing."
            )
        if channel not in CHANNELS:
            raise InvalidRequestError(f"channel is one of {', '.join(CHANNELS)}.")
        wanted = {Purpose(p): bool(v) for p, v in choices.items()}
        answer: dict[str, Any] = {}

        def decide(uow: TouchpointsUnitOfWork) -> list[ConsentRecorded]:
            account = answer["account"]
            if not uow.feed.brand_names([brand_id]):
                raise NotFoundError("No brand has this id; see GET /me/consents.")
            subject = account_subject(account)
            now = uow.members.consents(brand_id, [subject]).get(subject, {})
            return [
                ConsentRecorded(account, brand_id, p.value, g, text_version, channel)
                for p, g in sorted(wanted.items())
                if now.get(p) is None or now[p].granted != g or now[p].text_version != text_version
            ]

        def work(uow: TouchpointsUnitOfWork, at: datetime) -> dict[str, Any] | None:
            answer["account"] = self._account(actor, uow)
            if self.writes.append(uow, decide, at) is None:
                return None
            subject = account_subject(answer["account"])
            consents = uow.members.consents(brand_id, [subject]).get(subject, {})
            return {"brand_id": brand_id, "consents": consents_view(consents)}

        return self.writes.run(actor, None, work)

    def my_data(self, actor: Actor) -> dict[str, Any]:
        """Everything the service keeps of the consumer, as they may download it: the account,
        and per brand the membership, consents, journey, holdings and points."""
        with self.uows.reader() as uow:
            account = self._account(actor, uow)
            subject = account_subject(account)
            contact = uow.feed.account_contacts([account]).get(account)
            members = uow.members.of_subject(subject)
            brand_ids = {m.brand_id for m in members} | set(uow.points.balances(subject))
            names = uow.feed.brand_names(brand_ids) if brand_ids else {}
            holdings = uow.journeys.holdings_of([subject])
            brands = []
            for brand_id in sorted(brand_ids):
                member = next((m for m in members if m.brand_id == brand_id), None)
                stages = uow.journeys.stages(brand_id, subject)
                brands.append(
                    {
                        "brand_id": brand_id,
                        "brand": names.get(brand_id),
                        "member_id": member.public_id if member else None,
                        "member_since": iso(member.since_at) if member else None,
                        "consents": consents_view(
                            uow.members.consents(brand_id, [subject]).get(subject, {})
                        ),
                        "journey": [
                            {"stage": s.value, "at": iso(c.at), "cause": c.ref()}
                            for s, c in sorted(stages.items(), key=lambda x: x[1])
                        ],
                        "certificates": [
                            {
                                "id": h.certificate_id,
                                "batch_id": h.batch_id,
                                "held_at": iso(h.held_at),
                            }
                            for h in holdings
                            if h.brand_id == brand_id
                        ],
                        "points": [
                            entry_view(e) for e in uow.points.history(subject, brand_id, 0, 10_000)
                        ],
                        # The screening's decisions about them, and the identifiers the brand's
                        # integrations linked to them (their own, in full).
                        "risk": member_risk(uow, brand_id, subject),
                        "identities": own_identities(uow, brand_id, subject),
                    }
                )
        return {
            "account": _account_view(contact),
            "brands": brands,
            "exported_at": iso(self.writes.clock.now()),
        }

    # ------------------------------------------------------------------ the brand, its stores
    def _brand_reader(self, actor: Actor, *, stores: bool = False) -> int:
        roles = {Role.BRAND, Role.AUDITOR} | ({Role.STORE} if stores else set())
        if actor.role not in roles or actor.brand_id is None:
            who = "the brand, its auditors or its stores" if stores else "the brand or its auditors"
            raise PermissionDeniedError(f"Only {who} read the brand's members.")
        return actor.brand_id

    def members(self, actor: Actor, offset: int, limit: int) -> list[dict[str, Any]]:
        """The brand's members, earliest first: id, since, stage (with profiling consent),
        balance and consents. No contact details."""
        brand_id = self._brand_reader(actor)
        with self.uows.reader() as uow:
            found = uow.members.members(brand_id, offset, limit)
            consents = uow.members.consents(brand_id, [m.subject for m in found])
            out = []
            for m in found:
                mine = consents.get(m.subject, {})
                profiled = granted(mine, Purpose.PROFILING) and m.erased_at is None
                stage = (
                    current_stage(uow.journeys.stages(brand_id, m.subject)) if profiled else None
                )
                out.append(
                    {
                        "id": m.public_id,
                        "since": iso(m.since_at),
                        "erased": m.erased_at is not None,
                        "stage": stage.value if stage else None,
                        "balance": uow.points.balances(m.subject).get(brand_id, 0),
                        "consents": consents_view(mine),
                    }
                )
        return out

    def member(self, actor: Actor, member_id: str) -> dict[str, Any]:
        """One member as the brand, its auditors or its stores see them: the contact masked
        (a store sees it in full with store-sharing consent), the consents, the points, and the
        journey and timeline only with profiling consent."""
        brand_id = self._brand_reader(actor, stores=True)
        with self.uows.reader() as uow:
            m = uow.members.by_public_id(member_id)
            if m is None or m.brand_id != brand_id:
                raise NotFoundError("Your brand has no member with this id.")
            mine = uow.members.consents(brand_id, [m.subject]).get(m.subject, {})
            live = m.erased_at is None
            contact = (
                uow.feed.account_contacts([m.subject.removeprefix("account:")]).get(
                    m.subject.removeprefix("account:")
                )
                if live
                else None
            )
            full = actor.role is Role.STORE and granted(mine, Purpose.STORE_SHARING)
            profiled = live and granted(mine, Purpose.PROFILING)
            stages = uow.journeys.stages(brand_id, m.subject) if profiled else {}
            if profiled:
                # An anonymous visitor's scans count as the member's when a device of theirs
                # (one they claimed from, and no one else's) scanned: at most one member.
                for device in linked_devices(uow, brand_id, m.subject):
                    for reached, cause in uow.journeys.stages(brand_id, device).items():
                        if reached not in stages or cause < stages[reached]:
                            stages[reached] = cause
            stage = current_stage(stages)
            history = uow.points.history(m.subject, brand_id, 0, TIMELINE)
            one = identities_view(uow, brand_id, m.subject)
            part = one.pop("subjects")
            view = {
                "id": m.public_id,
                "since": iso(m.since_at),
                "erased": not live,
                "contact": _contact(contact, full),
                "consents": consents_view(mine),
                # The member's and every member merged into it (One-ID).
                "balance": sum(uow.points.balances(x).get(brand_id, 0) for x in part),
                "points": [entry_view(e) for e in history],
                "profiling": profiled,
                "stage": stage.value if stage else None,
                "journey": [
                    {"stage": s.value, "at": iso(c.at), "cause": c.ref()}
                    for s, c in sorted(stages.items(), key=lambda x: x[1])
                ]
                if profiled
                else None,
                "risk": member_risk(uow, brand_id, m.subject)
                if actor.role is not Role.STORE
                else None,
                # One-ID, for the brand and its auditors (a store's staff see the contact only).
                **(one if actor.role is not Role.STORE else dict.fromkeys(one)),
            }
        return view

    def contactable(self, actor: Actor, offset: int, limit: int) -> list[dict[str, Any]]:
        """The brand's contact list: members whose marketing consent stands, with the phone or
        e-mail to reach them by. Nobody else, whatever else they did."""
        if actor.role is not Role.BRAND or actor.brand_id is None:
            raise PermissionDeniedError("Only the brand reads its contact list.")
        with self.uows.reader() as uow:
            found = uow.members.granted(actor.brand_id, Purpose.MARKETING, offset, limit)
            contacts = uow.feed.account_contacts(
                [m.subject.removeprefix("account:") for m in found]
            )
            consents = uow.members.consents(actor.brand_id, [m.subject for m in found])
        out = []
        for m in found:
            contact = contacts.get(m.subject.removeprefix("account:"))
            if contact is None or contact.channel not in ("sms", "email"):
                continue  # an erased account
            consent = consents[m.subject][Purpose.MARKETING]
            out.append(
                {
                    "member_id": m.public_id,
                    "channel": contact.channel,
                    "contact": contact.destination,
                    "consent": consent_view(consent),
                }
            )
        return out


def _contact(contact: AccountContact | None, full: bool) -> dict[str, Any] | None:
    if contact is None or contact.channel not in ("sms", "email"):
        return None
    value = contact.destination if full else mask_contact(contact.channel, contact.destination)
    return {"channel": contact.channel, "value": value, "masked": not full}


def _account_view(contact: AccountContact | None) -> dict[str, Any] | None:
    if contact is None:
        return None
    return {
        "id": contact.public_id,
        "channel": contact.channel,
        "sign_in": contact.destination,
        "wallet_address": contact.wallet_address,
        "custody": contact.custody,
        "created_at": iso(contact.created_at),
    }
