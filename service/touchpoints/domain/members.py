"""Members and their consents (PIPL): who a brand's member is, and what the person agreed to.

A member is an account that has something to do with a brand (it reached a stage of the
brand's journey, or recorded a consent with it); its public id is stable (derived from the
brand and the account, so a rebuild gives the same one) and says nothing about the person.

Consent is per brand and per purpose, each with the time it was given or withdrawn, the version
of the text the person saw and the channel it was given through. Nothing is used for a purpose
without its consent:

* **marketing**: contacting the person (the brand's contact list holds only members who agreed);
* **profiling**: the person's own journey and timeline in the brand's member view;
* **store_sharing**: a store's staff see the person's phone or e-mail in full (masked without).
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Purpose(StrEnum):
    MARKETING = "marketing"
    PROFILING = "profiling"
    STORE_SHARING = "store_sharing"


PURPOSES: tuple[Purpose, ...] = tuple(Purpose)

#: Channels a consent may be given through.
CHANNELS = ("web", "app", "wechat", "store", "phone")


@dataclass(frozen=True)
class Consent:
    """A purpose's current state for a member, as last recorded."""

    purpose: Purpose
    granted: bool
    at: datetime
    text_version: str
    channel: str
    #: The log entry that recorded it (``log:<index>``).
    cause: str


def member_public_id(brand_id: int, account_id: str) -> str:
    """A member's stable public id: the same for the same brand and account, on every rebuild;
    it reveals neither (account ids are random)."""
    digest = hashlib.blake2s(f"tracecert:member:{brand_id}:{account_id}".encode(), digest_size=12)
    return "mem_" + base64.urlsafe_b64encode(digest.digest()).decode("ascii").rstrip("=")


def mask_contact(channel: str, value: str) -> str:
    """A phone number or e-mail address as shown without consent: ``+86138****0000``,
    ``a***@example.com``."""
    if channel == "sms":
        return value[:6] + "****" + value[-4:]
    local, _, domain = value.partition("@")
    return local[:1] + "***@" + domain
