"""The journey: five stages a subject (a member, a wallet, an anonymous device) reaches per brand,
each with the event that caused it.

Stages are reached, not left: a subject's stage is the highest it reached. Each stage keeps the
*earliest* event that reached it (by time, then source, then position), so the journey is the
same whichever order the two sources (the event log and the consumer-scan stream) are read in:
a rebuild from scratch gives the state the live projector built.

The default rules (a brand's own come later, over the same signals):

* **discover**: a consumer's scan of a genuine bottle (an anonymous device);
* **activate**: signed in and a member of the brand: the first claim request of its bottle;
* **convert**: a certificate of the brand held: a claim confirmed on chain, or a gift accepted;
* **use_share**: a gift, pledge, deposit or redemption confirmed on chain;
* **loyal**: a second certificate of the brand held, from another batch or 30 days after the
  first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class Stage(StrEnum):
    DISCOVER = "discover"
    ACTIVATE = "activate"
    CONVERT = "convert"
    USE_SHARE = "use_share"
    LOYAL = "loyal"


#: The stages in the playbook's order: a subject's stage is the last one it reached.
STAGES: tuple[Stage, ...] = tuple(Stage)


class Source(StrEnum):
    """Where a cause was read: the append-only event log (position = ``log_index``) or the
    consumer-scan stream (position = the scan's row id)."""

    LOG = "log"
    SCANS = "scans"


@dataclass(frozen=True, order=True)
class Cause:
    """The event that reached a stage; ordered by time, then source, then position."""

    at: datetime
    source: Source
    position: int

    def ref(self) -> str:
        """How answers name it: ``log:<index>`` or ``scans:<row id>``."""
        return f"{self.source.value}:{self.position}"


@dataclass(frozen=True)
class Reach:
    """A subject of a brand reaching a stage, because of ``cause``, where and for what product
    (the region and GTIN the funnel counts by)."""

    brand_id: int
    subject: str
    stage: Stage
    cause: Cause
    region_code: str | None = None
    gtin: str | None = None


def earlier(kept: Cause | None, new: Cause) -> bool:
    """Whether ``new`` should replace the cause kept for a stage: none kept, or ``new`` is
    earlier. Applying the same reach twice changes nothing."""
    return kept is None or new < kept


def current_stage(reached: dict[Stage, Cause]) -> Stage | None:
    """The subject's stage: the last of the playbook's stages it reached."""
    for stage in reversed(STAGES):
        if stage in reached:
            return stage
    return None


#: Certificate steps that put a held certificate to use or share it.
USE_ACTIONS = frozenset({"gift", "pledge", "deposit", "request_redemption"})
#: How long after a first certificate a second one of the same batch counts as loyalty.
LOYAL_AFTER = timedelta(days=30)


def is_loyal(
    first_batch: str,
    first_at: datetime,
    batch: str,
    at: datetime,
    *,
    after: timedelta = LOYAL_AFTER,
) -> bool:
    """A second certificate of the brand is loyalty when it is from another batch, or comes
    ``after`` (30 days) or more after the first."""
    return batch != first_batch or at - first_at >= after


#: Subjects: an account's public id, a wallet address nobody's account is known to hold, or an
#: anonymous device's keyed hash. Never a phone number or an e-mail address.
def account_subject(account_public_id: str) -> str:
    return f"account:{account_public_id}"


def wallet_subject(address: str) -> str:
    return f"wallet:{address.lower()}"


def device_subject(device_hash: bytes) -> str:
    return f"device:{device_hash.hex()}"
