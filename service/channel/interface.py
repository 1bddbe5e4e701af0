"""What other areas may use of the channel: custody and the diversion rule a consumer's scan is
judged by, the reads of custody and territories other areas' units of work carry (and
the unit of work a consumer's diversion is raised in), the region tree, the errors raised on
the channel's behalf, and the channel's events.

Pure: re-exports from the channel's domain and ports (``Target``: what a code names in custody).
"""

from __future__ import annotations

from service.channel.domain.custody import Custody, Diversion, diversion_alert, find_diversion
from service.channel.domain.errors import InvalidRegionError
from service.channel.domain.events import CaseOpened, GoodsDispatched, GoodsReceived
from service.channel.domain.regions import Region, RegionTree
from service.channel.ports import (
    CustodyReads,
    DiversionCustody,
    DiversionUnitOfWork,
    Target,
    TerritoryReads,
)

__all__ = [
    "CaseOpened",
    "Custody",
    "CustodyReads",
    "Diversion",
    "DiversionCustody",
    "DiversionUnitOfWork",
    "GoodsDispatched",
    "GoodsReceived",
    "InvalidRegionError",
    "Region",
    "RegionTree",
    "Target",
    "TerritoryReads",
    "diversion_alert",
    "find_diversion",
]
