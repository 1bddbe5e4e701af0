"""Where a claimed bottle stood in the channel, against the claim's region (what the
anti-farming's off-channel signal reads): a partner's territory covers the region or not, the
brand or factory still holds it (a leaked code), or nothing can be said."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from service.channel.domain.custody import Custody
from service.channel.domain.regions import Region, RegionTree
from service.channel.ports import Target
from service.consumer.app.claims import channel_at_claim
from service.identity.domain.organisations import Organisation
from service.kernel.roles import OrganisationKind

T0 = datetime(2026, 3, 1, tzinfo=UTC)
TREE = RegionTree(
    [
        Region("110000", "北京市", 1, None),
        Region("110101", "东城区", 2, "110000"),
        Region("440000", "广东省", 1, None),
        Region("440305", "南山区", 2, "440000"),
    ]
)
KINDS = {1: OrganisationKind.FACTORY, 2: OrganisationKind.STORE, 3: OrganisationKind.DISTRIBUTOR}
TERRITORIES = {2: ["110000"]}


def uow(holder: int | None, sealed_in: int | None = None):
    def custody(holder_id):
        return Custody(holder_id, holder_id, None, T0, None)

    item = Target("item", 7, "S1", 1, 1, custody(None if sealed_in else holder), sealed_in,
                  None, loose=sealed_in is None)  # fmt: skip
    case = Target("case", 70, "SSCC", 1, 6, custody(holder))
    return SimpleNamespace(
        custody=SimpleNamespace(
            target=lambda sscc, serial: item, units_by_id=lambda ids: [case] if ids else []
        ),
        organisations=SimpleNamespace(
            get=lambda i: Organisation(f"org {i}", KINDS[i], T0, id=i) if i in KINDS else None
        ),
        channel=SimpleNamespace(
            territories=lambda ids: {i: TERRITORIES[i] for i in ids if i in TERRITORIES}
        ),
    )


@pytest.mark.parametrize(
    ("holder", "sealed", "region", "expected"),
    [
        (2, None, "110101", "inside"),  # a Beijing store's bottle claimed in Beijing
        (2, 70, "110101", "inside"),  # in a sealed case the store holds
        (2, None, "440305", "outside"),  # claimed in Shenzhen
        (1, None, "110101", "factory"),  # never left the factory: a leaked code
        (1, 70, "440305", "factory"),
        (3, None, "110101", None),  # a distributor without a territory: cannot say
        (None, None, "110101", None),  # no custody known
        (2, None, None, None),  # no region given
        (9, None, "110101", None),  # a holder the directory no longer has
    ],
)
def test_where_the_bottle_stood_when_claimed(holder, sealed, region, expected):
    assert channel_at_claim(uow(holder, sealed), "S1", region, lambda: TREE) == expected  # type: ignore[arg-type]
