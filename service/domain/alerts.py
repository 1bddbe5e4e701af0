"""Alerts for the brand's auditors; a flag to look at, never an automatic kill."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


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


def item_alert_key(kind: AlertKind, serial: str) -> str:
    """Return the de-duplication key of an alert about one item."""
    return f"{kind.value}:{serial}"
