"""Alerts for the brand's auditors; a flag to look at, never an automatic kill."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from service.kernel.actor import Actor
from service.kernel.roles import Role


class AlertKind(StrEnum):
    """Why an alert was raised."""

    #: A consumer scanned a code that was never activated (a leaked code file?).
    INACTIVE_CODE_SCANNED = "inactive_code_scanned"
    #: The chain refused a proof the database holds (the records were altered).
    CHAIN_MISMATCH = "chain_mismatch"
    #: Goods scanned outside the territory of their authorised holder (窜货).
    DIVERSION = "diversion"
    #: A genuine code scanned from too many regions or devices lately: perhaps on copies.
    SUSPECTED_CLONE = "suspected_clone"
    #: The stored event log does not prove against the roots anchored on chain (an entry
    #: edited, missing, doubled or moved): nothing more is anchored until it does.
    LOG_INTEGRITY = "log_integrity"


class AlertStatus(StrEnum):
    OPEN = "open"
    CONFIRMED = "confirmed"
    DISMISSED = "dismissed"


#: An open alert is confirmed (it was a real case) or dismissed (it was not); both are final.
ALERT_TRANSITIONS: dict[AlertStatus, frozenset[AlertStatus]] = {
    AlertStatus.OPEN: frozenset({AlertStatus.CONFIRMED, AlertStatus.DISMISSED}),
    AlertStatus.CONFIRMED: frozenset(),
    AlertStatus.DISMISSED: frozenset(),
}


def may_move(current: AlertStatus, to: AlertStatus) -> bool:
    """Return whether an alert in ``current`` may move to ``to``."""
    return to in ALERT_TRANSITIONS[current]


@dataclass
class Alert:
    """One alert; repeats of the same cause bump ``count`` instead of adding alerts."""

    kind: AlertKind
    dedupe_key: str
    brand_id: int | None
    batch_id: int | None
    serial: str | None
    detail: dict[str, Any] = field(default_factory=dict)
    status: AlertStatus = AlertStatus.OPEN
    count: int = 1
    first_seen_at: datetime | None = None
    last_seen_at: datetime | None = None
    responsible_id: int | None = None
    scanner_id: int | None = None
    shipment_id: int | None = None
    note: str | None = None
    id: int | None = None

    def visible_to(self, organisation_id: int | None) -> bool:
        """A partner sees the alerts it is responsible for or raised by its own scans."""
        return organisation_id is not None and organisation_id in (
            self.responsible_id,
            self.scanner_id,
        )


@dataclass(frozen=True)
class AlertScope:
    """Which alerts a reader sees: the one rule of ``GET /alerts`` and ``GET /alerts/{id}``.

    An admin sees every alert; a brand and its auditors those of the brand; a distributor or
    store those of its brand that it is responsible for or raised by its own scans. Anyone
    else, or a reader whose brand resolves to nothing, sees none (``of`` returns None).
    """

    everything: bool = False
    brand_id: int | None = None
    party_id: int | None = None

    @classmethod
    def of(cls, actor: Actor) -> AlertScope | None:
        if actor.role is Role.ADMIN:
            return cls(everything=True)
        if actor.brand_id is None:
            return None
        if actor.role in (Role.BRAND, Role.AUDITOR):
            return cls(brand_id=actor.brand_id)
        if actor.role in (Role.DISTRIBUTOR, Role.STORE) and actor.organisation_id is not None:
            return cls(brand_id=actor.brand_id, party_id=actor.organisation_id)
        return None

    def admits(self, alert: Alert) -> bool:
        if self.everything:
            return True
        if alert.brand_id is None or alert.brand_id != self.brand_id:
            return False
        return self.party_id is None or alert.visible_to(self.party_id)


def item_alert_key(kind: AlertKind, serial: str) -> str:
    """Return the de-duplication key of an alert about one item."""
    return f"{kind.value}:{serial}"
