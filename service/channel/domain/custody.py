"""Custody of goods in the channel, and the diversion rule.

Every case, pallet and loose item has a *holder* (who has it now), an *authorised holder* (the
last organisation that received it inside the territory of the one before) and, while it
travels, the shipment it is in. The factory that made it is its first holder and may ship it
anywhere: the factory's dispatch to a tier-1 distributor is where the goods' territory begins.

Diversion (窜货): goods scanned outside the territory of their authorised holder. The
authorised holder stays responsible (it let the goods leave its territory); the goods' new
holder does not become authorised. An organisation without territories is unrestricted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from service.alerts.interface import Alert, AlertKind
from service.channel.domain.errors import InvalidScanError, InvalidSiteError
from service.channel.domain.regions import RegionTree
from service.factory.interface import Batch
from service.kernel.text import printable

_REF_RE = re.compile(r"[A-Za-z0-9._:-]{1,64}", re.ASCII)
#: Scanner clocks drift; a scan may be this far in the future and still be taken.
CLOCK_SKEW = timedelta(minutes=5)
#: Offline scans older than this are refused (a device that was off for a year is suspect).
MAX_SCAN_AGE = timedelta(days=90)
MAX_SITE_NAME = 200


class ScanAction(StrEnum):
    """What a partner does with the goods it scans."""

    DISPATCH = "dispatch"  # ship to a receiver (EPCIS bizStep shipping)
    RECEIVE = "receive"  # take in a shipment (receiving)
    OBSERVE = "observe"  # look at goods where they are (inspecting); no custody change
    OPEN = "open"  # open a case: its items travel on their own (unpacking)


class SiteKind(StrEnum):
    WAREHOUSE = "warehouse"
    SHOP = "shop"
    PLANT = "plant"


class ScanOutcome(StrEnum):
    APPLIED = "applied"
    #: Waits for an earlier event not yet known (an offline upload out of order).
    PENDING = "pending"
    DUPLICATE = "duplicate"


def validate_site(name: str, kind: str) -> tuple[str, SiteKind]:
    """Return a site's clean name and kind."""
    clean = printable(name, MAX_SITE_NAME, InvalidSiteError, "A site name", one_message=True)
    try:
        return clean, SiteKind(kind)
    except ValueError:
        raise InvalidSiteError(
            "A site is one of: " + ", ".join(k.value for k in SiteKind) + "."
        ) from None


def validate_ref(ref: str, what: str) -> str:
    """Return a client reference (shipment ref, client event id) if well formed."""
    if not isinstance(ref, str) or _REF_RE.fullmatch(ref) is None:
        raise InvalidScanError(f"The {what} is 1-64 characters of A-Z a-z 0-9 . _ : -.")
    return ref


def validate_time(at: datetime, now: datetime) -> datetime:
    """Return a scan time if it is timezone-aware and neither in the future nor too old."""
    if at.tzinfo is None:
        raise InvalidScanError("A scan time carries its time zone, e.g. 2026-11-25T09:30:00+08:00.")
    if at > now + CLOCK_SKEW:
        raise InvalidScanError(
            f"The scan time {at.isoformat()} is in the future; check the scanner's clock."
        )
    if at < now - MAX_SCAN_AGE:
        raise InvalidScanError(
            f"The scan time {at.isoformat()} is more than {MAX_SCAN_AGE.days} days old."
        )
    return at


@dataclass(frozen=True)
class Custody:
    """Who has a case, pallet or loose item, and on whose authority."""

    holder_id: int | None
    authorised_id: int | None
    site_id: int | None
    since: datetime | None
    shipment_id: int | None
    alert_id: int | None = None

    @property
    def in_transit(self) -> bool:
        return self.shipment_id is not None

    def held_by(self, organisation_id: int) -> bool:
        """Return whether ``organisation_id`` has the goods at hand (not in transit)."""
        return self.holder_id == organisation_id and not self.in_transit


@dataclass(frozen=True)
class Diversion:
    """Goods found outside the territory of their authorised holder."""

    responsible_id: int
    expected: tuple[str, ...]
    actual: str


def find_diversion(
    tree: RegionTree,
    authorised_id: int | None,
    territory: Iterable[str] | None,
    region: str,
) -> Diversion | None:
    """Return the diversion if ``region`` lies outside the authorised holder's territory.

    ``territory`` None (or empty) means unrestricted: the brand and its factories, and
    organisations the brand has not given territories.
    """
    if authorised_id is None or not territory:
        return None
    codes = tuple(sorted(territory))
    if tree.within(region, codes):
        return None
    return Diversion(responsible_id=authorised_id, expected=codes, actual=region)


def diversion_key(target: str, shipment_public_id: str | None) -> str:
    """One alert per case (or pallet, or loose item) and shipment."""
    return f"diversion:{target}:{shipment_public_id or '-'}"


def diversion_alert(
    *,
    code: str,
    kind: str,
    items: int,
    batch_id: int | None,
    batch: Batch | None,
    expected_territory: list[dict[str, Any]],
    responsible_id: int,
    responsible: dict[str, Any] | None,
    actual_region: dict[str, Any],
    scanner_id: int | None,
    scanned_by: dict[str, Any] | None,
    shipment_id: int | None,
    shipment_public_id: str | None,
    at: datetime,
) -> Alert:
    """The diversion alert of goods (``code``: a case, pallet or loose item) seen out of place,
    raised by a partner's scan or a consumer's alike: what it rests on, as seen at the scan.

    The views (regions, parties) come rendered as the answers show them; ``scanned_by`` names
    the partner, or says a consumer scanned. The chain of custody is added when the alert is
    read (shipment lines are never deleted, so it is the same evidence).
    """
    return Alert(
        kind=AlertKind.DIVERSION,
        dedupe_key=diversion_key(code, shipment_public_id),
        brand_id=batch.brand_id if batch else None,
        batch_id=batch_id,
        serial=code if kind == "item" else None,
        detail={
            "code": code,
            "kind": kind,
            "items": items,
            "expected_territory": expected_territory,
            "responsible": responsible,
            "actual_region": actual_region,
            "scanned_by": scanned_by,
            "time": at.isoformat(),
            "batch_id": batch.public_id if batch else None,
        },
        responsible_id=responsible_id,
        scanner_id=scanner_id,
        shipment_id=shipment_id,
    )
