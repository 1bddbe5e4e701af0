"""What other areas may use of alerts: the alert as a value (its kinds, statuses and scope, the
key an item's alert is raised under), the port through which they raise one in their own
transaction, and the alerts' events.

Pure: re-exports from the alerts' domain and ports.
"""

from __future__ import annotations

from service.alerts.domain.alerts import Alert, AlertKind, AlertScope, AlertStatus, item_alert_key
from service.alerts.domain.errors import AlertNotFoundError
from service.alerts.domain.events import AlertRaised, AlertStatusChanged
from service.alerts.ports import AlertWriter

__all__ = [
    "Alert",
    "AlertKind",
    "AlertNotFoundError",
    "AlertRaised",
    "AlertScope",
    "AlertStatus",
    "AlertStatusChanged",
    "AlertWriter",
    "item_alert_key",
]
