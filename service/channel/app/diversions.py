"""Diversion alerts of consumers' scans, raised by the scan log's writer, not by the scan.

A consumer's scan outside the territory of the goods' authorised holder raises (or joins) the
same diversion alert a partner's ``observe`` there would. The scan only judges it (on what it
read, without a write) and records itself with the bottle's serial
(``ConsumerScan.diversion_serial``); the scan log's background writer then calls
:class:`ConsumerDiversions` in the transaction that writes the scans. So a scan never waits
for a write, and the alert is committed together with the scan that raised it: exactly once,
also when the scans are written from the spill file after an outage (a replay skips the scans
already written, and with them their alerts).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime

from service.alerts.interface import AlertRaised
from service.channel.app.regions import region_view
from service.channel.app.scan_session import UNRESTRICTED_KINDS
from service.channel.domain.custody import diversion_alert, find_diversion
from service.channel.domain.regions import RegionTree
from service.channel.ports import DiversionUnitOfWork
from service.consumer.interface import ConsumerScan
from service.factory.interface import Batch
from service.identity.interface import party

#: How a consumer's scan names the scanning party in a diversion alert.
CONSUMER = {"organisation_id": None, "name": None, "kind": "consumer"}


def territory(uow: DiversionUnitOfWork, organisation_id: int) -> list[str] | None:
    """The organisation's territory; None where its goods are nowhere out of place."""
    org = uow.organisations.get(organisation_id)
    if org is None or org.kind in UNRESTRICTED_KINDS:
        return None
    return uow.channel.territories([organisation_id]).get(organisation_id)


def raise_diversion(
    uow: DiversionUnitOfWork, tree: RegionTree, serial: str, batch: Batch, region: str, at: datetime
) -> bool:
    """Raise (or join) the diversion alert of the goods a consumer scanned in ``region`` at
    ``at``, as a partner's observe would: the custody is read again in ``uow`` (the caller
    commits), and the alert is linked to what carries it (the sealed case, or the bottle) so
    later scans join it. Whether the goods were out of place."""
    target = uow.custody.target(None, serial)
    if target is None:
        return False
    carrier = target
    if not target.loose and target.parent_id is not None:
        cases = uow.custody.units_by_id([target.parent_id])
        if not cases:
            return False
        carrier = cases[0]
    custody = carrier.custody
    if custody.authorised_id is None:
        return False
    expected = territory(uow, custody.authorised_id)
    diversion = find_diversion(tree, custody.authorised_id, expected, region)
    if diversion is None:
        return False
    if custody.alert_id is not None:
        uow.alerts.repeat_many([custody.alert_id], at)
        return True
    shipment = uow.custody.last_shipment(carrier, at)
    responsible = uow.organisations.get(diversion.responsible_id)
    alert = diversion_alert(
        code=carrier.code,
        kind=carrier.kind,
        items=carrier.items,
        batch_id=batch.id,
        batch=batch,
        expected_territory=[region_view(tree, c) for c in diversion.expected if c in tree],
        responsible_id=diversion.responsible_id,
        responsible=party(responsible),
        actual_region=region_view(tree, region),
        scanner_id=None,
        scanned_by=dict(CONSUMER),
        shipment_id=shipment.id if shipment else None,
        shipment_public_id=shipment.public_id if shipment else None,
        at=at,
    )
    found, new = uow.alerts.raise_many([alert], at)[alert.dedupe_key]
    if found.id is None:
        return True
    if new:
        uow.events.append(
            AlertRaised(
                found.id,
                found.kind.value,
                batch.public_id,
                found.serial,
                carrier.code,
                found.responsible_id,
            ),
            at,
        )
    kind = "item" if carrier.kind == "item" else "unit"
    uow.custody.write_custody([(kind, carrier.id, replace(custody, alert_id=found.id))])
    return True


class ConsumerDiversions:
    """The consumer's ``DiversionAlerts`` port (the alerts of recorded scans seen out of
    territory, in the scan log's transaction, in the order the scans were made) and its
    ``DiversionDesk`` (a territory; one sighting's alert), which bootstrap gives the Verifier."""

    def __init__(self, regions: Callable[[], RegionTree] | None) -> None:
        self.regions = regions

    def territory(self, uow: DiversionUnitOfWork, organisation_id: int) -> list[str] | None:
        """The organisation's territory (the consumer's ``DiversionDesk``)."""
        return territory(uow, organisation_id)

    def raise_diversion(
        self,
        uow: DiversionUnitOfWork,
        tree: RegionTree,
        serial: str,
        batch: Batch,
        region: str,
        at: datetime,
    ) -> bool:
        """Raise or join the diversion alert of a consumer's sighting (``DiversionDesk``)."""
        return raise_diversion(uow, tree, serial, batch, region, at)

    def __call__(self, uow: DiversionUnitOfWork, scans: Sequence[ConsumerScan]) -> int:
        wanted = [s for s in scans if s.diversion_serial is not None and s.region_code]
        if not wanted or self.regions is None:
            return 0
        tree = self.regions()
        batches: dict[int, Batch | None] = {}
        raised = 0
        for scan in sorted(wanted, key=lambda s: s.at):
            if scan.batch_id not in batches:
                batches[scan.batch_id] = uow.batches.get_by_id(scan.batch_id)
            batch = batches[scan.batch_id]
            if batch is None or scan.diversion_serial is None or scan.region_code is None:
                continue
            if raise_diversion(uow, tree, scan.diversion_serial, batch, scan.region_code, scan.at):
                raised += 1
        return raised
