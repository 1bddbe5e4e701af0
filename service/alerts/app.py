"""The alerts' desk: listing alerts by who may see them, each showing what its reader's rights
allow, one alert with the chain of custody of the goods it names, and the brand confirming or
dismissing one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from service.alerts.domain.alerts import Alert, AlertKind, AlertScope, AlertStatus, may_move
from service.alerts.domain.errors import AlertNotFoundError, AlertStateError
from service.alerts.domain.events import AlertStatusChanged
from service.alerts.ports import AlertsUnitOfWork, AlertsUnitOfWorkFactory
from service.kernel.actor import Actor
from service.kernel.errors import InvalidRequestError, PermissionDeniedError
from service.kernel.gs1 import parse_code
from service.kernel.ports import Clock
from service.kernel.roles import Permission, Role


def alert_views(
    actor: Actor, uow: AlertsUnitOfWork, status: str | None, offset: int, limit: int
) -> list[dict[str, Any]]:
    actor.require(Permission.READ_ALERTS)
    try:
        wanted = AlertStatus(status) if status is not None else None
    except ValueError:
        raise InvalidRequestError(
            "status is one of " + ", ".join(s.value for s in AlertStatus) + "."
        ) from None
    scope = AlertScope.of(actor)
    if scope is None:
        return []
    brand = None if scope.everything else scope.brand_id
    with uow:
        alerts = uow.alerts.list(brand, wanted, offset, limit, party_id=scope.party_id)
    return [alert_view(a) for a in alerts]


def alert_view(alert: Alert) -> dict[str, Any]:
    """The JSON-ready view of an alert."""
    return {
        "id": alert.id,
        "kind": alert.kind.value,
        "status": alert.status.value,
        "serial": alert.serial,
        "detail": alert.detail,
        "count": alert.count,
        "responsible_id": alert.responsible_id,
        "scanner_id": alert.scanner_id,
        "note": alert.note,
        "first_seen_at": alert.first_seen_at.isoformat() if alert.first_seen_at else None,
        "last_seen_at": alert.last_seen_at.isoformat() if alert.last_seen_at else None,
    }


# ----------------------------------------------------------------------------- alerts
def _visible_alert(uow: AlertsUnitOfWork, actor: Actor, alert_id: int) -> Alert:
    """The alert if ``GET /alerts`` would list it to this reader (one rule: AlertScope)."""
    scope = AlertScope.of(actor)
    alert = uow.alerts.get(alert_id)
    if alert is None or scope is None or not scope.admits(alert):
        raise AlertNotFoundError()
    return alert


#: What a reporting partner sees of an alert its scan raised: its own sighting.
_SIGHTING = ("code", "kind", "items", "actual_region", "scanned_by", "time")


#: What the responsible partner sees besides: the territory it was trusted with.
_RESPONSIBLE = ("code", "kind", "items", "actual_region", "time", "expected_territory")


def alert_for(actor: Actor, view: dict[str, Any]) -> dict[str, Any]:
    """What an alert reveals to its reader (RELIABILITY, privacy across parties).

    The brand, its auditors and admins see everything. A partner sees the outcome (status,
    counts, times) and, of the evidence, only what it may read elsewhere: the reporter its own
    sighting; the responsible organisation the goods, where they were seen, its territory and
    the shipments it sent or received (and whoever is a party of those). Nobody learns the
    holdings of a third party through an alert.
    """
    if actor.role in (Role.ADMIN, Role.BRAND, Role.AUDITOR):
        return view
    me = actor.organisation_id
    detail = view.get("detail") or {}
    responsible = me is not None and view.get("responsible_id") == me
    reporter = me is not None and view.get("scanner_id") == me
    shown: dict[str, Any] = {}
    if reporter:
        shown.update({k: detail[k] for k in _SIGHTING if k in detail})
    if responsible:
        shown.update({k: detail[k] for k in _RESPONSIBLE if k in detail})
        shown["responsible"] = detail.get("responsible")
        chain = [
            hop
            for hop in detail.get("chain_of_custody", [])
            if me in ((hop.get("from") or {}).get("organisation_id"),
                      (hop.get("to") or {}).get("organisation_id"))
        ]  # fmt: skip
        if "chain_of_custody" in detail:
            shown["chain_of_custody"] = chain
        counterparties = {
            (hop.get(end) or {}).get("organisation_id") for hop in chain for end in ("from", "to")
        }
        scanner = view.get("scanner_id")
        if scanner is not None and scanner in counterparties and "scanned_by" in detail:
            shown["scanned_by"] = detail["scanned_by"]  # a party of its own shipment
    return {
        **view,
        "detail": shown,
        "responsible_id": view.get("responsible_id") if responsible else None,
        "scanner_id": view.get("scanner_id") if reporter or "scanned_by" in shown else None,
        "note": None,  # the brand's working note; partners see the outcome (status)
    }


def list_alerts(
    actor: Actor, uow: AlertsUnitOfWork, status: str | None, offset: int, limit: int
) -> list[dict[str, Any]]:
    """Alerts the reader may see, each showing what its rights allow (see ``alert_for``)."""
    return [alert_for(actor, v) for v in alert_views(actor, uow, status, offset, limit)]


def get_alert(actor: Actor, alert_id: int, uow: AlertsUnitOfWork) -> dict[str, Any]:
    """One alert; a diversion comes with the chain of custody of the goods it names (as far
    as the reader may see it)."""
    with uow:
        alert = _visible_alert(uow, actor, alert_id)
        view = alert_view(alert)
        code = alert.detail.get("code") if alert.kind is AlertKind.DIVERSION else None
        if isinstance(code, str):
            link = parse_code(code)
            target = uow.custody.target(link.sscc, link.serial)
            if target is not None:
                view["detail"] = {**alert.detail, "chain_of_custody": uow.custody.history(target)}
    return alert_for(actor, view)


def set_alert_status(
    actor: Actor, alert_id: int, status: str, note: str | None, uow: AlertsUnitOfWork, clock: Clock
) -> dict[str, Any]:
    """The brand (or an auditor) confirms or dismisses an open alert, with a note."""
    if actor.role not in (Role.ADMIN, Role.BRAND, Role.AUDITOR):
        raise PermissionDeniedError("Only the brand, its auditors or an admin decide on alerts.")
    try:
        wanted = AlertStatus(status)
    except ValueError:
        raise InvalidRequestError("status is 'confirmed' or 'dismissed'.") from None
    if note is not None and (len(note) > 2000 or "\x00" in note):
        raise InvalidRequestError("A note has at most 2,000 characters.")
    with uow:
        alert = _visible_alert(uow, actor, alert_id)
        if not may_move(alert.status, wanted):
            raise AlertStateError(f"The alert is {alert.status}; it cannot become {wanted}.")
        now = clock.now()
        if not uow.alerts.set_status(alert_id, alert.status, wanted, note, now):
            raise AlertStateError("The alert changed meanwhile; read it again.")
        uow.events.append(AlertStatusChanged(alert_id, wanted.value, actor.principal_id), now)
        uow.commit()
        fresh = uow.alerts.get(alert_id)
    assert fresh is not None
    return alert_view(fresh)


@dataclass(frozen=True)
class AlertUseCases:
    """Listing alerts and confirming or dismissing one, with the unit-of-work factory and the
    clock bound once in bootstrap."""

    uows: AlertsUnitOfWorkFactory
    clock: Clock

    def list_alerts(
        self, actor: Actor, status: str | None, offset: int, limit: int
    ) -> list[dict[str, Any]]:
        return list_alerts(actor, self.uows.reader(), status, offset, limit)

    def get_alert(self, actor: Actor, alert_id: int) -> dict[str, Any]:
        return get_alert(actor, alert_id, self.uows.reader())

    def set_alert_status(
        self, actor: Actor, alert_id: int, status: str, note: str | None
    ) -> dict[str, Any]:
        return set_alert_status(actor, alert_id, status, note, self.uows(), self.clock)
