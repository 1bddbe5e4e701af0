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

from service.touchpoints.domain.errors import InvalidJourneyRulesError


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
    other_batch: bool = True,
) -> bool:
    """A second certificate of the brand is loyalty when it is from another batch (if
    ``other_batch`` counts), or comes ``after`` (30 days) or more after the first."""
    return (other_batch and batch != first_batch) or at - first_at >= after


@dataclass(frozen=True)
class JourneyRules:
    """A brand's journey rules (issue 15: configurable per brand, with defaults). They apply to
    the event log's entries after the brand set them; a scan discovers the brand for its device
    under every brand's rules alike (the scan stream is read apart from the log)."""

    #: A second certificate this many days after the first is loyalty.
    loyal_after_days: int = LOYAL_AFTER.days
    #: A second certificate from another batch is loyalty at once.
    loyal_other_batch: bool = True
    #: Confirmed steps that count as using or sharing a certificate.
    use_share: frozenset[str] = USE_ACTIONS

    def settings(self) -> dict[str, object]:
        return {
            "loyal_after_days": self.loyal_after_days,
            "loyal_other_batch": self.loyal_other_batch,
            "use_share": sorted(self.use_share),
        }

    def is_loyal(self, first_batch: str, first_at: datetime, batch: str, at: datetime) -> bool:
        return is_loyal(
            first_batch,
            first_at,
            batch,
            at,
            after=timedelta(days=self.loyal_after_days),
            other_batch=self.loyal_other_batch,
        )


DEFAULT_RULES = JourneyRules()


def rules_from_settings(settings: dict[str, object]) -> JourneyRules:
    """Read and check a brand's journey rules; omitted ones keep the defaults."""
    days = settings.get("loyal_after_days", DEFAULT_RULES.loyal_after_days)
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 3650:
        raise InvalidJourneyRulesError("loyal_after_days must be a whole number from 1 to 3650.")
    other = settings.get("loyal_other_batch", DEFAULT_RULES.loyal_other_batch)
    if not isinstance(other, bool):
        raise InvalidJourneyRulesError("loyal_other_batch must be true or false.")
    use = settings.get("use_share", sorted(DEFAULT_RULES.use_share))
    if not isinstance(use, list) or not set(use) <= USE_ACTIONS:
        raise InvalidJourneyRulesError(
            "use_share lists steps from " + ", ".join(sorted(USE_ACTIONS)) + " (or none)."
        )
    return JourneyRules(days, other, frozenset(use))


#: Subjects: an account's public id, a wallet address nobody's account is known to hold, or an
#: anonymous device's keyed hash. Never a phone number or an e-mail address.
def account_subject(account_public_id: str) -> str:
    return f"account:{account_public_id}"


def wallet_subject(address: str) -> str:
    return f"wallet:{address.lower()}"


def device_subject(device_hash: bytes) -> str:
    return f"device:{device_hash.hex()}"
