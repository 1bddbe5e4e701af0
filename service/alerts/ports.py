"""What the alerts' use cases need of storage."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from service.alerts.domain.alerts import Alert, AlertStatus


class AlertWriter(Protocol):
    """Raising alerts: what the areas that raise them (the channel, consumer scans, the ledger's
    integrity pass) need of the alerts' storage, in their own transaction."""

    def raise_or_repeat(self, alert: Alert, at: datetime) -> tuple[Alert, bool]:
        """Open ``alert`` or, if one with its key exists, bump its count; True if new."""
        ...

    def repeat_many(self, alert_ids: Sequence[int], at: datetime) -> dict[int, Alert]:
        """Count a sighting per id given (an id may repeat); the alerts as they now are."""
        ...

    def raise_many(self, alerts: Sequence[Alert], at: datetime) -> dict[str, tuple[Alert, bool]]:
        """Open each alert or bump the one with its key (a key may repeat); per key the alert
        and whether this call opened it."""
        ...


class AlertRepository(AlertWriter, Protocol):
    """The alerts' desk: raising, listing, reading and moving them through their statuses."""

    def list(
        self,
        brand_id: int | None,
        status: AlertStatus | None,
        offset: int,
        limit: int,
        party_id: int | None = None,
    ) -> list[Alert]:
        """Alerts of a brand (all when None); with ``party_id``, only those it is responsible
        for or raised by its scans."""
        ...

    def get(self, alert_id: int) -> Alert | None: ...
    def set_status(
        self,
        alert_id: int,
        expected: AlertStatus,
        status: AlertStatus,
        note: str | None,
        at: datetime,
    ) -> bool: ...
