"""The alerts' events: an alert raised (or repeated), its status changed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from service.kernel.events import Event


@dataclass(frozen=True)
class AlertRaised(Event):
    """An alert was opened for the brand's auditors."""

    type: ClassVar[str] = "AlertRaised"
    alert_id: int
    kind: str
    batch_id: str | None
    serial: str | None
    code: str | None = None
    responsible_id: int | None = None


@dataclass(frozen=True)
class AlertStatusChanged(Event):
    """An alert was confirmed or dismissed."""

    type: ClassVar[str] = "AlertStatusChanged"
    alert_id: int
    status: str
    by: str
