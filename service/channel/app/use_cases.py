"""The channel's use cases with their adapters bound once in bootstrap."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from service.channel.app.network import (
    add_site,
    get_region,
    list_regions,
    load_regions,
    organisation_view,
    set_channel_parent,
    set_territories,
)
from service.channel.app.scanning import ScanRequest, record_scan, upload_scans
from service.channel.app.shipments import (
    list_shipments,
    shipment_view,
    stock_view,
)
from service.channel.ports import ChannelUnitOfWorkFactory, RegionDirectory
from service.kernel.actor import Actor
from service.kernel.ports import Clock


@dataclass(frozen=True)
class ChannelUseCases:
    """The channel's use cases (regions, organisations' territories and sites, scans,
    shipments, stock) with their adapters bound once in bootstrap: the routes and the
    CLI pass the request's data only. Each builds its own unit of work (a reader for those that
    only read)."""

    uows: ChannelUnitOfWorkFactory
    regions: RegionDirectory
    clock: Clock

    def list_regions(self, parent: str | None) -> list[dict[str, Any]]:
        return list_regions(self.regions, parent)

    def get_region(self, code: str) -> dict[str, Any]:
        return get_region(self.regions, code)

    def load_regions(self, actor: Actor, rows: Sequence[dict[str, object]], source: str) -> int:
        return load_regions(actor, rows, source, self.uows(), self.regions, self.clock)

    def organisation_view(self, actor: Actor, organisation_id: int) -> dict[str, Any]:
        return organisation_view(actor, organisation_id, self.uows.reader(), self.regions)

    def set_territories(
        self, actor: Actor, organisation_id: int, codes: Sequence[str]
    ) -> dict[str, Any]:
        return set_territories(actor, organisation_id, codes, self.uows(), self.regions, self.clock)

    def set_channel_parent(
        self, actor: Actor, organisation_id: int, parent_id: int | None
    ) -> dict[str, Any]:
        return set_channel_parent(actor, organisation_id, parent_id, self.uows(), self.clock)

    def add_site(
        self, actor: Actor, organisation_id: int, name: str, kind: str, region: str
    ) -> dict[str, Any]:
        return add_site(
            actor, organisation_id, name, kind, region, self.uows(), self.regions, self.clock
        )

    def record_scan(self, actor: Actor, request: ScanRequest) -> dict[str, Any]:
        """POST /scans: the route runs this bound method in its write lane, as it ran the
        function."""
        return record_scan(actor, request, self.uows, self.regions, self.clock)

    def upload_scans(
        self, actor: Actor, device_id: str, requests: Sequence[ScanRequest]
    ) -> dict[str, Any]:
        return upload_scans(actor, device_id, requests, self.uows, self.regions, self.clock)

    def list_shipments(
        self, actor: Actor, direction: str, offset: int, limit: int
    ) -> list[dict[str, Any]]:
        return list_shipments(actor, direction, self.uows.reader(), offset, limit)

    def shipment_view(self, actor: Actor, shipment_id: str) -> dict[str, Any]:
        return shipment_view(actor, shipment_id, self.uows.reader())

    def stock_view(
        self, actor: Actor, organisation_id: int | None, offset: int, limit: int
    ) -> dict[str, Any]:
        return stock_view(actor, organisation_id, self.uows.reader(), self.clock, offset, limit)
