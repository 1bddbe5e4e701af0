"""The alerts' errors: an alert that is not there (or not the caller's), a status it cannot
move to."""

from __future__ import annotations

from service.kernel.errors import (
    ErrorKind,
    NotFoundError,
    TracecertError,
)


class AlertNotFoundError(NotFoundError):
    """Raised when an alert is unknown or not visible to the caller."""

    code = "alert_not_found"
    default_detail = "No such alert for you; check the alert id."


class AlertStateError(TracecertError):
    """Raised when an alert cannot move to the asked status (e.g. reopening a dismissed one)."""

    code = "alert_state_conflict"
    kind = ErrorKind.CONFLICT
    default_detail = "The alert cannot move to that status; open alerts are confirmed or dismissed."
