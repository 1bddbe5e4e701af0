"""One-ID: a brand's member is one person, however many accounts and identifiers they show.

A member has **identities** of several types: phone (E.164), e-mail, device (the keyed hash its
scans are recorded under), wallet address, and the external ids a brand's integrations post
(a WeChat OpenID or UnionID, a mall's member id: ``external`` types, named by their
namespace). The log names an identity by an opaque reference (a keyed hash of its value), never
by the value.

**Two members become one only on authenticated proof**: an integration's assertion that an
identifier is the member's (with the brand's key), where that identifier is already another
member's, or is the phone or e-mail another member signed in with (a verified one-time code).
The **older member survives**; the merged one keeps its own identities and events, so
**undoing a merge** (``unmerge``) gives both back as they were. Merges form a forest: each
merged member points at the one that absorbed it, and a member's *root* is the member it is
part of now.

A **device** is an unauthenticated signal: it links an anonymous visitor to at most one member,
and a device seen with more than :data:`SHARED_DEVICE_MEMBERS` members (a store's tablet) is
*shared* and links nobody. **Limits per type** bound how many identifiers of a type one member
may carry, and a brand keeps a list of **blocked values** that never link anyone.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from service.touchpoints.domain.errors import InvalidIdentityError

#: A device seen with more members than this is shared: it links nobody.
SHARED_DEVICE_MEMBERS = 3


class IdType(StrEnum):
    PHONE = "phone"
    EMAIL = "email"
    DEVICE = "device"
    WALLET = "wallet"
    EXTERNAL = "external"


class Proof(StrEnum):
    """What links an identity to a member."""

    #: The member signed in with it (a verified one-time code).
    SIGN_IN = "sign_in"
    #: A signed wallet binding (or the custodial wallet the account was given).
    WALLET_BINDING = "wallet_binding"
    #: The brand's integration asserted it, with the brand's key.
    INTEGRATION = "integration"
    #: A device the member claimed from (unauthenticated: it never merges members).
    DEVICE = "device"


#: How many identifiers of a type one member may carry (external ids: per namespace).
LIMITS: Mapping[IdType, int] = {
    IdType.PHONE: 3,
    IdType.EMAIL: 3,
    IdType.DEVICE: 10,
    IdType.WALLET: 5,
    IdType.EXTERNAL: 1,
}

_NAMESPACE = re.compile(r"[a-z][a-z0-9_]{0,31}")
_EXTERNAL_VALUE = re.compile(r"[\x21-\x7e]{1,128}")
_WALLET = re.compile(r"0x[0-9a-fA-F]{40}")


@dataclass(frozen=True)
class Identifier:
    """An identifier as a brand's integration names it: its type (``external:<namespace>`` for
    an external id) and its normalised value."""

    kind: str
    value: str

    @property
    def type(self) -> IdType:
        return IdType.EXTERNAL if self.kind.startswith("external:") else IdType(self.kind)


def external_kind(namespace: str) -> str:
    if not _NAMESPACE.fullmatch(namespace):
        raise InvalidIdentityError(
            "An external id's namespace is lower-case letters, digits and _ (up to 32), "
            "starting with a letter: wechat_openid, wechat_unionid, mall_member."
        )
    return f"external:{namespace}"


def identifier(kind: str, value: str) -> Identifier:
    """Check and normalise an identifier an integration posts (phones and e-mails are
    normalised by the caller, as sign-in normalises them)."""
    if kind.startswith("external:"):
        kind = external_kind(kind.removeprefix("external:"))
        if not _EXTERNAL_VALUE.fullmatch(value):
            raise InvalidIdentityError(
                "An external id is 1 to 128 printable ASCII characters without spaces."
            )
        return Identifier(kind, value)
    if kind == IdType.WALLET:
        if not _WALLET.fullmatch(value):
            raise InvalidIdentityError("A wallet address is 0x and 40 hexadecimal digits.")
        return Identifier(kind, value.lower())
    if kind in (IdType.PHONE, IdType.EMAIL):
        return Identifier(kind, value)
    raise InvalidIdentityError(
        "An identity's type is phone, email, wallet or external:<namespace> (devices are "
        "linked from claims, never posted)."
    )


@dataclass(frozen=True)
class Merge:
    """``survivor`` absorbed ``merged`` (the older member survives), for ``reason``; ``id`` is
    the log entry that recorded it."""

    id: str
    survivor: str
    merged: str
    reason: str


@dataclass
class MemberGraph:
    """A brand's members and the merges between them (the undone ones left out): who each
    member is part of now. Pure; the projector and the property tests build it alike."""

    #: Members by subject, with the order they became members in (older first).
    since: dict[str, tuple[str, str]] = field(default_factory=dict)
    merges: dict[str, Merge] = field(default_factory=dict)
    #: The merge that absorbed each merged member.
    absorbed_by: dict[str, str] = field(default_factory=dict)

    def add(self, subject: str, since: tuple[str, str]) -> None:
        self.since.setdefault(subject, since)

    def root(self, subject: str) -> str:
        seen = set()
        while subject in self.absorbed_by and subject not in seen:
            seen.add(subject)
            subject = self.merges[self.absorbed_by[subject]].survivor
        return subject

    def older(self, a: str, b: str) -> tuple[str, str]:
        """(survivor, merged) of two roots: the older member survives."""
        ka, kb = self.since.get(a, ("~", a)), self.since.get(b, ("~", b))
        return (a, b) if (ka, a) <= (kb, b) else (b, a)

    def merge(self, merge_id: str, a: str, b: str, reason: str) -> Merge | None:
        """Merge the members ``a`` and ``b`` are part of; None if they are one already."""
        ra, rb = self.root(a), self.root(b)
        if ra == rb:
            return None
        survivor, merged = self.older(ra, rb)
        found = Merge(merge_id, survivor, merged, reason)
        self.merges[merge_id] = found
        self.absorbed_by[merged] = merge_id
        return found

    def unmerge(self, merge_id: str) -> Merge | None:
        """Undo a merge: the merged member (with whatever it had absorbed) stands alone again."""
        found = self.merges.pop(merge_id, None)
        if found is not None and self.absorbed_by.get(found.merged) == merge_id:
            del self.absorbed_by[found.merged]
        return found

    def part_of(self, root: str) -> list[str]:
        """Every member that is part of ``root`` now (itself first)."""
        return [root, *sorted(s for s in self.since if s != root and self.root(s) == root)]


def shared_devices(members_by_device: Mapping[str, Iterable[str]], limit: int) -> set[str]:
    """Devices seen with more than ``limit`` members: they link nobody."""
    return {device for device, seen in members_by_device.items() if len(set(seen)) > limit}
