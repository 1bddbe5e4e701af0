"""Fake of the alert desk's repository."""

from __future__ import annotations

import copy
from dataclasses import replace
from datetime import datetime

from service.alerts.domain.alerts import Alert, AlertStatus
from tests.unit.service.fakes.state import Repo, next_id


class FakeAlerts(Repo):
    def raise_or_repeat(self, alert: Alert, at: datetime) -> tuple[Alert, bool]:
        existing = next(
            (a for a in self.st.alerts.values() if a.dedupe_key == alert.dedupe_key), None
        )
        if existing is not None:
            existing.count += 1
            existing.last_seen_at = at
            return copy.deepcopy(existing), False
        stored = replace(
            copy.deepcopy(alert),
            id=next_id(self.st.alerts),
            count=1,
            first_seen_at=at,
            last_seen_at=at,
        )
        assert stored.id is not None
        self.st.alerts[stored.id] = stored
        return copy.deepcopy(stored), True

    def list(
        self,
        brand_id: int | None,
        status: AlertStatus | None,
        offset: int,
        limit: int,
        party_id: int | None = None,
    ) -> list[Alert]:
        rows = sorted(self.st.alerts.values(), key=lambda a: a.id or 0, reverse=True)
        if brand_id is not None:
            rows = [a for a in rows if a.brand_id == brand_id]
        if status is not None:
            rows = [a for a in rows if a.status is status]
        if party_id is not None:
            rows = [a for a in rows if a.visible_to(party_id)]
        return [copy.deepcopy(a) for a in rows[offset : offset + limit]]

    def get(self, alert_id: int) -> Alert | None:
        found = self.st.alerts.get(alert_id)
        return copy.deepcopy(found) if found else None

    def set_status(
        self,
        alert_id: int,
        expected: AlertStatus,
        status: AlertStatus,
        note: str | None,
        at: datetime,
    ) -> bool:
        found = self.st.alerts.get(alert_id)
        if found is None or found.status is not expected:
            return False
        found.status, found.note = status, note
        return True
