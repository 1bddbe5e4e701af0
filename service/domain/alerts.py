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


class AlertStatus(StrEnum):
    OPEN = "open"
    CONFIRMED = "confirmed"
    DISMISSED = "dismissed"


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
    id: int | None = None


def item_alert_key(kind: AlertKind, serial: str) -> str:
    """Return the de-duplication key of an alert about one item."""
    return f"{kind.value}:{serial}"
