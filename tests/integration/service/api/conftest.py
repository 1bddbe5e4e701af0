"""Fixtures of the API tests: a brand's channel with a distributor, two stores and goods."""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest
from sqlalchemy import text

from tests.integration.service.conftest import auth, make_batch
from tests.integration.service.consumer.helpers import RecordingOtpSender

HANGZHOU, NANJING, ZHEJIANG, JIANGSU = "330106", "320102", "330000", "320000"


@dataclass
class Channel:
    brand: str
    factory: str
    a: str
    s1: str
    s2: str
    a_org: int
    s1_org: int
    s2_org: int
    f_site: int
    a_site: int
    s1_site: int
    s2_site: int
    batch: dict
    pallet: str
    cases: list[str]


def _org(api, keys, name: str, kind: str, parent: int | None = None) -> tuple[int, str]:
    org = api.post(
        "/organisations",
        json={"name": name, "kind": kind, "brand_id": keys.brand_org},
        headers=auth(keys.admin),
    ).json()
    if parent is not None:
        response = api.put(
            f"/organisations/{org['id']}/channel-parent",
            json={"channel_parent_id": parent},
            headers=auth(keys.brand),
        )
        assert response.status_code == 200, response.text
    key = api.post(
        f"/organisations/{org['id']}/api-keys", json={"role": kind}, headers=auth(keys.admin)
    ).json()["api_key"]
    return org["id"], key


def _site(api, key: str, org: int, name: str, kind: str, region: str) -> int:
    response = api.post(
        f"/organisations/{org}/sites",
        json={"name": name, "kind": kind, "region": region},
        headers=auth(key),
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


@pytest.fixture
def channel(api, container, keys) -> Channel:
    a, a_key = _org(api, keys, "Distributor A", "distributor")
    s1, s1_key = _org(api, keys, "Store S1", "store", parent=a)
    s2, s2_key = _org(api, keys, "Store S2", "store", parent=a)
    for org, region in ((a, ZHEJIANG), (s1, HANGZHOU), (s2, JIANGSU)):
        response = api.put(
            f"/organisations/{org}/territories",
            json={"regions": [region]},
            headers=auth(keys.brand),
        )
        assert response.status_code == 200, response.text
    batch = make_batch(api, keys.factory, "LOT-D", 24)  # 4 cases of 6 on 2 pallets of 2
    with container.uow_factory.sessions() as s:
        units = s.execute(
            text(
                "SELECT u.sscc, u.kind FROM logistic_units u JOIN batches b ON b.id = u.batch_id "
                "WHERE b.public_id = :p ORDER BY u.kind DESC, u.position"
            ),
            {"p": batch["id"]},
        ).all()
    pallets = [u for u, k in units if k == "pallet"]
    cases = [u for u, k in units if k == "case"]
    return Channel(
        brand=keys.brand,
        factory=keys.factory,
        a=a_key,
        s1=s1_key,
        s2=s2_key,
        a_org=a,
        s1_org=s1,
        s2_org=s2,
        f_site=_site(api, keys.admin, keys.factory_org, "Plant 1", "plant", "520382"),
        a_site=_site(api, a_key, a, "Hangzhou DC", "warehouse", HANGZHOU),
        s1_site=_site(api, s1_key, s1, "West Lake shop", "shop", HANGZHOU),
        s2_site=_site(api, s2_key, s2, "Nanjing shop", "shop", NANJING),
        batch=batch,
        pallet=pallets[0],
        cases=cases,
    )


def scan(api, key: str, **body):
    """POST /scans with ``body``."""
    return api.post("/scans", json=body, headers=auth(key))


def scan_ok(api, key: str, **body) -> dict:
    """POST /scans with ``body``, a step that must be applied; its answer."""
    response = scan(api, key, **body)
    assert response.status_code == 200, response.text
    return dict(response.json())


def case_to_s1(
    api, c: Channel, case: str, pallet_shipment: str = "F-1", case_shipment: str = "A-1"
) -> dict:
    """The factory ships the pallet to distributor A, A receives it and ships ``case`` to
    store S1: the answer of A's dispatch."""
    scan_ok(
        api,
        c.factory,
        action="dispatch",
        code=c.pallet,
        site_id=c.f_site,
        receiver_id=c.a_org,
        shipment=pallet_shipment,
    )
    scan_ok(api, c.a, action="receive", code=c.pallet, site_id=c.a_site)
    return scan_ok(
        api,
        c.a,
        action="dispatch",
        code=case,
        site_id=c.a_site,
        receiver_id=c.s1_org,
        shipment=case_shipment,
    )


@pytest.fixture
def otp(container) -> RecordingOtpSender:
    """One-time sign-in codes, recorded instead of sent (``otp.last(destination)``)."""
    sender = RecordingOtpSender()
    container.otp_sender = sender
    container.consumers = replace(container.consumers, otp_sender=sender)
    certificates = container.certificates
    container.certificates = replace(
        certificates, services=replace(certificates.services, notices=sender)
    )
    return sender
