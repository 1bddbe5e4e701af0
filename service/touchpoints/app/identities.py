"""One-ID: the brand's integrations assert identities of members; a member that another already
holds the identifier of is the same person, and the two merge (the older survives); the brand
undoes a merge, and blocks values that must link nobody.

Every change is a log entry applied at once, in log order (``writes``): ``IdentityLinked``
(by reference: the value is kept apart, in a table deleted with the person),
``MembersMerged``, ``MembersUnmerged``, ``IdentityBlocked``. A merged member keeps its own
identities, points and journey; the member it is part of shows them all, and an unmerge gives
both back as they were.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from datetime import datetime
from typing import Any

from service.consumer.interface import InvalidDestinationError, normalise_destination
from service.kernel.actor import Actor
from service.kernel.errors import NotFoundError, PermissionDeniedError
from service.kernel.idempotency import Idempotency
from service.kernel.roles import Role
from service.touchpoints.app.writes import AppliedWrites
from service.touchpoints.domain.errors import (
    IdentityBlockedError,
    IdentityLimitError,
    InvalidIdentityError,
    UnknownMergeError,
)
from service.touchpoints.domain.events import (
    IdentityBlocked,
    IdentityLinked,
    MembersMerged,
    MembersUnmerged,
)
from service.touchpoints.domain.identities import (
    LIMITS,
    SHARED_DEVICE_MEMBERS,
    Identifier,
    IdType,
    MemberGraph,
    Proof,
    identifier,
)
from service.touchpoints.domain.journey import account_subject, device_subject
from service.touchpoints.domain.members import mask_contact, member_public_id
from service.touchpoints.ports import Member, TouchpointsUnitOfWork

#: The keyed reference of an identity: (brand, type, normalised value) -> opaque text.
IdentityRefs = Callable[[int, str, str], str]


def iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def account_of(subject: str) -> str:
    return subject.removeprefix("account:")


def member_graph(
    uow: TouchpointsUnitOfWork, brand_id: int, also: Collection[str] = ()
) -> MemberGraph:
    """The brand's standing merges, with the members they (and ``also``) name."""
    graph = MemberGraph()
    merges = uow.identities.standing(brand_id)
    subjects = {m.survivor for m in merges} | {m.merged for m in merges} | set(also)
    for subject in sorted(subjects):
        for m in uow.members.of_subject(subject):
            if m.brand_id == brand_id:
                graph.add(subject, (m.since_at.isoformat(), m.since_cause))
    for merge in merges:
        graph.merges[merge.id] = merge
        graph.absorbed_by[merge.merged] = merge.id
    return graph


def mask(kind: str, value: str | None) -> str | None:
    if value is None:
        return None
    if kind == IdType.PHONE:
        return mask_contact("sms", value)
    if kind == IdType.EMAIL:
        return mask_contact("email", value)
    if kind == IdType.WALLET:
        return value[:6] + "…" + value[-4:]
    return value[:3] + "…" + value[-2:] if len(value) > 6 else value[:1] + "…"


def linked_devices(uow: TouchpointsUnitOfWork, brand_id: int, subject: str) -> list[str]:
    """The anonymous device subjects that link to the member: devices it claimed from that no
    more than :data:`SHARED_DEVICE_MEMBERS` members claimed from (a store's tablet links
    nobody), and that no other member claimed from either (a visitor links to one member)."""
    evidence = uow.risk.evidence(brand_id, subject)
    mine = sorted({x.device for x in evidence.own if x.kind == "claim" and x.device is not None})
    return [
        device_subject(device)
        for device in mine
        if evidence.accounts_per_device.get(device, 0) == 1
    ]


def own_identities(uow: TouchpointsUnitOfWork, brand_id: int, subject: str) -> list[dict[str, Any]]:
    """The identifiers the brand's integrations linked to a member, with their values: what
    the person downloads of themselves."""
    links = uow.identities.of_subjects(brand_id, [subject])
    values = uow.identities.values(brand_id, {(x.kind, x.ref) for x in links})
    return [
        {
            "type": x.kind,
            "value": values.get((x.kind, x.ref)),
            "proof": x.proof,
            "since": iso(x.at),
            "cause": x.cause,
        }
        for x in links
    ]


def identities_view(uow: TouchpointsUnitOfWork, brand_id: int, subject: str) -> dict[str, Any]:
    """A member's identities (masked), whom they are merged into, and every merge naming
    them: what the brand's member view shows."""
    graph = member_graph(uow, brand_id, [subject])
    root = graph.root(subject)
    part = graph.part_of(root) if root == subject else [subject]
    out: list[dict[str, Any]] = []
    contacts = uow.feed.account_contacts([account_of(s) for s in part])
    for s in part:
        contact = contacts.get(account_of(s))
        if contact is not None and contact.channel in ("sms", "email"):
            kind = IdType.PHONE if contact.channel == "sms" else IdType.EMAIL
            out.append(
                {
                    "type": kind.value,
                    "value": mask(kind, contact.destination),
                    "proof": Proof.SIGN_IN.value,
                    "member_id": member_public_id(brand_id, account_of(s)),
                    "since": iso(contact.created_at),
                    "cause": None,
                }
            )
        if contact is not None:
            out.append(
                {
                    "type": IdType.WALLET.value,
                    "value": mask(IdType.WALLET, contact.wallet_address),
                    "proof": Proof.WALLET_BINDING.value,
                    "member_id": member_public_id(brand_id, account_of(s)),
                    "since": iso(contact.created_at),
                    "cause": None,
                }
            )
    links = uow.identities.of_subjects(brand_id, part)
    values = uow.identities.values(brand_id, {(x.kind, x.ref) for x in links})
    out += [
        {
            "type": x.kind,
            "value": mask(x.kind, values.get((x.kind, x.ref))),
            "proof": x.proof,
            "member_id": member_public_id(brand_id, account_of(x.subject)),
            "since": iso(x.at),
            "cause": x.cause,
        }
        for x in links
    ]
    devices = []
    for s in part:
        evidence = uow.risk.evidence(brand_id, s)
        for device in sorted({x.device for x in evidence.own if x.device is not None}):
            devices.append(
                {
                    "device": device.hex()[:8] + "…",
                    "member_id": member_public_id(brand_id, account_of(s)),
                    "shared": evidence.accounts_per_device.get(device, 0) > SHARED_DEVICE_MEMBERS,
                }
            )
    return {
        "identities": out,
        "devices": devices,
        "merged_into": member_public_id(brand_id, account_of(root)) if root != subject else None,
        "members": [member_public_id(brand_id, account_of(s)) for s in part],
        "merges": [
            {
                "id": int(m.id.removeprefix("log:")),
                "survivor": member_public_id(brand_id, account_of(m.survivor)),
                "merged": member_public_id(brand_id, account_of(m.merged)),
                "reason": m.reason,
                "at": iso(m.at),
                "undone_at": iso(m.undone_at),
            }
            for m in uow.identities.merges_of(brand_id, part)
        ],
        "subjects": part,
    }


class IdentitiesUseCases:
    def __init__(self, writes: AppliedWrites, refs: IdentityRefs) -> None:
        self.writes = writes
        self.uows = writes.uows
        self.refs = refs

    def _brand(self, actor: Actor, what: str) -> int:
        if actor.role is not Role.BRAND or actor.brand_id is None:
            raise PermissionDeniedError(f"Only the brand's integrations {what}.")
        return actor.brand_id

    @staticmethod
    def _identifier(kind: str, value: str) -> Identifier:
        if kind in (IdType.PHONE, IdType.EMAIL):
            try:
                found = normalise_destination(value)
            except InvalidDestinationError:
                found = None
            channel = "sms" if kind == IdType.PHONE else "email"
            if found is None or found.channel.value != channel:
                raise InvalidIdentityError(
                    "A phone is in E.164 (+8613800000000) or an 11-digit mainland mobile number; "
                    "an e-mail address is name@domain."
                )
            return Identifier(kind, found.value)
        return identifier(kind, value)

    def _member(self, uow: TouchpointsUnitOfWork, brand_id: int, member_id: str) -> Member:
        member = uow.members.by_public_id(member_id)
        if member is None or member.brand_id != brand_id or member.erased_at is not None:
            raise NotFoundError("Your brand has no member with this id.")
        return member

    def assert_identity(
        self,
        actor: Actor,
        member_id: str,
        kind: str,
        value: str,
        idempotency: Idempotency | None,
    ) -> dict[str, Any]:
        """The brand's integration says ``value`` is the member's ``kind`` of identifier (with
        the brand's key: an authenticated proof). If another member holds it, or signs in with
        it, the two are one person and merge (the older survives)."""
        brand_id = self._brand(actor, "assert members' identities")
        ident = self._identifier(kind, value)
        ref = self.refs(brand_id, ident.kind, ident.value)
        done: dict[str, Any] = {}

        def decide(uow: TouchpointsUnitOfWork) -> Sequence[Any]:
            member = self._member(uow, brand_id, member_id)
            if uow.identities.is_blocked(brand_id, ident.kind, ref):
                raise IdentityBlockedError()
            subject = member.subject
            holders = {
                h: "an identifier" for h in uow.identities.holders(brand_id, ident.kind, ref)
            }
            if ident.type in (IdType.PHONE, IdType.EMAIL):
                other = uow.feed.account_by_destination(ident.value)
                if other is not None and any(
                    m.brand_id == brand_id and m.erased_at is None
                    for m in uow.members.of_subject(account_subject(other))
                ):
                    holders.setdefault(account_subject(other), "the sign-in")
            if ident.type is IdType.WALLET:
                # A wallet an account holds (custodial, or bound with its signature).
                holder = uow.journeys.wallet_holders([ident.value]).get(ident.value)
                if holder is not None and any(
                    m.brand_id == brand_id and m.erased_at is None
                    for m in uow.members.of_subject(holder)
                ):
                    holders.setdefault(holder, "the signed wallet binding")
            graph = member_graph(uow, brand_id, [subject, *holders])
            events: list[Any] = []
            if subject not in holders:
                part = graph.part_of(graph.root(subject))
                same = {
                    (x.kind, x.ref)
                    for x in uow.identities.of_subjects(brand_id, part)
                    if x.kind == ident.kind
                }
                if len(same) >= LIMITS[ident.type] and (ident.kind, ref) not in same:
                    raise IdentityLimitError()
                events.append(
                    IdentityLinked(
                        brand_id,
                        account_of(subject),
                        ident.kind,
                        ref,
                        Proof.INTEGRATION.value,
                        actor.principal_id,
                    )
                )
            for n, (holder, how) in enumerate(sorted(holders.items())):
                reason = (
                    f"the brand's integration asserted a {ident.kind} that is {how} of the other"
                )
                merged = graph.merge(f"new:{n}", subject, holder, reason)
                if merged is not None:
                    events.append(
                        MembersMerged(
                            brand_id,
                            account_of(merged.survivor),
                            account_of(merged.merged),
                            reason,
                            actor.principal_id,
                        )
                    )
            done["subject"] = subject
            return events

        def work(uow: TouchpointsUnitOfWork, now: datetime) -> dict[str, Any] | None:
            index = self.writes.append(uow, decide, now)
            if index is None:
                return None
            uow.identities.put_value(brand_id, ident.kind, ref, ident.value)
            view = identities_view(uow, brand_id, done["subject"])
            view.pop("subjects")
            return {"member_id": member_id, "log_index": index, **view}

        return self.writes.run(actor, idempotency, work)

    def unmerge(
        self, actor: Actor, merge_index: int, note: str, idempotency: Idempotency | None
    ) -> dict[str, Any]:
        """The brand undoes a merge: both members stand alone again, each with its own
        identities, points and journey."""
        brand_id = self._brand(actor, "undo merges")
        merge_id = f"log:{merge_index}"
        found: dict[str, Any] = {}

        def decide(uow: TouchpointsUnitOfWork) -> Sequence[Any]:
            standing = {m.id: m for m in uow.identities.standing(brand_id)}
            if merge_id not in standing:
                raise UnknownMergeError()
            found["merge"] = standing[merge_id]
            return [MembersUnmerged(brand_id, merge_id, note, actor.principal_id)]

        def work(uow: TouchpointsUnitOfWork, now: datetime) -> dict[str, Any] | None:
            index = self.writes.append(uow, decide, now)
            if index is None:
                return None
            merge = found["merge"]
            return {
                "id": merge_index,
                "survivor": member_public_id(brand_id, account_of(merge.survivor)),
                "merged": member_public_id(brand_id, account_of(merge.merged)),
                "undone_at": iso(now),
                "log_index": index,
            }

        return self.writes.run(actor, idempotency, work)

    def block(
        self, actor: Actor, kind: str, value: str, idempotency: Idempotency | None
    ) -> dict[str, Any]:
        """Put a value on the brand's blocked list: it links nobody from now on (a store's own
        phone number, a test account's OpenID)."""
        brand_id = self._brand(actor, "block identifiers")
        ident = self._identifier(kind, value)
        ref = self.refs(brand_id, ident.kind, ident.value)

        def work(uow: TouchpointsUnitOfWork, now: datetime) -> dict[str, Any] | None:
            index = self.writes.append(
                uow, lambda _: [IdentityBlocked(brand_id, ident.kind, ref, actor.principal_id)], now
            )
            if index is None:
                return None
            return {"type": ident.kind, "value": mask(ident.kind, ident.value), "log_index": index}

        return self.writes.run(actor, idempotency, work)
