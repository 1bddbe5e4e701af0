"""What the alerts' use cases need of storage."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from service.alerts.domain.alerts import Alert, AlertStatus
from service.kernel.ports import UnitOfWork


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


class CustodyTrail(Protocol):
    """The chain of custody of the goods a diversion names: the channel's custody reads, which
    bootstrap's unit of work carries (its target type is the channel's own, opaque here)."""

    def target(self, sscc: str | None, serial: str | None) -> Any | None: ...
    def history(self, target: Any) -> list[dict[str, Any]]:
        """The shipments the target (or its case, pallet) travelled in."""
        ...


class AlertsUnitOfWork(UnitOfWork, Protocol):
    """One transaction over the alerts (and the kernel's event log), with the channel's custody
    reads for a diversion's evidence."""

    alerts: AlertRepository

    @property
    def custody(self) -> CustodyTrail: ...


class AlertsUnitOfWorkFactory(Protocol):
    def __call__(self) -> AlertsUnitOfWork: ...
    def reader(self) -> AlertsUnitOfWork:
        """A unit of work for use cases that only read (no write lock on SQLite)."""
        ...
