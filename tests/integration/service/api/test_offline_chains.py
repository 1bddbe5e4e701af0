"""Offline uploads whose scans wait on each other in a chain (a bottle's dispatch waits on its
case's opening, which waits on the pallet's receipt), and the property behind them: any
partition of a valid offline file, uploaded in any order, leaves the state the whole file does."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from tests.integration.service.api.conftest import NANJING, Channel, _site, scan_ok
from tests.integration.service.conftest import auth


def _bottles(container, case: str) -> list[str]:
    with container.uow_factory.sessions() as s:
        return list(
            s.scalars(
                text(
                    "SELECT i.serial FROM items i JOIN logistic_units u ON u.id = i.case_id "
                    "WHERE u.sscc = :c ORDER BY i.leaf_index"
                ),
                {"c": case},
            )
        )


def _upload(api, key: str, scans: list[dict]) -> dict:
    response = api.post(
        "/scans/upload", json={"device_id": "hh-9", "scans": scans}, headers=auth(key)
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def _ship_pallet_to_a(api, c: Channel) -> None:
    scan_ok(
        api,
        c.factory,
        action="dispatch",
        code=c.pallet,
        site_id=c.f_site,
        receiver_id=c.a_org,
        shipment="F-CHAIN",
    )


def test_a_bottle_waiting_on_its_case_applies_once_the_pallet_arrives(api, container, channel):
    c = channel
    _ship_pallet_to_a(api, c)
    t0 = datetime.now(UTC) - timedelta(hours=1)
    bottle = _bottles(container, c.cases[0])[0]
    receive = {
        "client_event_id": "ch-1",
        "action": "receive",
        "code": c.pallet,
        "site_id": c.a_site,
        "time": t0.isoformat(),
    }
    later = [
        {
            "client_event_id": "ch-2",
            "action": "open",
            "code": c.cases[0],
            "site_id": c.a_site,
            "time": (t0 + timedelta(minutes=5)).isoformat(),
        },
        {
            "client_event_id": "ch-3",
            "action": "dispatch",
            "code": bottle,
            "site_id": c.a_site,
            "receiver_id": c.s1_org,
            "shipment": "A-CHAIN-1",
            "time": (t0 + timedelta(minutes=6)).isoformat(),
        },
    ]
    first = _upload(api, c.a, later)
    assert first["counts"] == {"pending": 2}

    assert _upload(api, c.a, [receive])["counts"] == {"applied": 1}

    # The receipt unblocked the opening, and the opening the bottle's dispatch.
    with container.uow_factory.sessions() as s:
        outcomes = dict(
            s.execute(
                text(
                    "SELECT client_event_id, outcome FROM scan_events "
                    "WHERE client_event_id LIKE 'ch-%'"
                )
            ).all()
        )
    assert outcomes == {"ch-1": "applied", "ch-2": "applied", "ch-3": "applied"}
    shipments = api.get("/shipments", params={"direction": "out"}, headers=auth(c.a)).json()
    sent = next(s for s in shipments if s["ref"] == "A-CHAIN-1")
    view = api.get(f"/shipments/{sent['id']}", headers=auth(c.a)).json()
    assert view["items"]["dispatched"] == 1 and view["dispatched"][0]["code"] == bottle

    # Uploading the same scans again answers what they did, not what they waited for.
    again = _upload(api, c.a, later)
    assert again["counts"] == {"duplicate": 2}
    assert all("waiting_for" not in r for r in again["results"])
    assert again["results"][1]["shipment"] == sent["id"]
    # While they waited, each said what for: the receipt, then the opening before it.
    assert [r["waiting_for"] for r in first["results"]] == ["not_held", "earlier_scan"]


def test_a_bottle_dispatch_sent_before_its_case_is_opened_waits_offline(api, container, channel):
    c = channel
    _ship_pallet_to_a(api, c)
    scan_ok(api, c.a, action="receive", code=c.pallet, site_id=c.a_site)
    t0 = datetime.now(UTC) - timedelta(minutes=30)
    bottle = _bottles(container, c.cases[0])[0]
    dispatch = {
        "client_event_id": "sb-2",
        "action": "dispatch",
        "code": bottle,
        "site_id": c.a_site,
        "receiver_id": c.s1_org,
        "shipment": "A-SEALED",
        "time": (t0 + timedelta(minutes=2)).isoformat(),
    }
    opening = {
        "client_event_id": "sb-1",
        "action": "open",
        "code": c.cases[0],
        "site_id": c.a_site,
        "time": t0.isoformat(),
    }
    waiting = _upload(api, c.a, [dispatch])  # the opening is still on another device
    assert waiting["counts"] == {"pending": 1}
    assert waiting["results"][0]["waiting_for"] == "case_opened"
    assert _upload(api, c.a, [opening])["counts"] == {"applied": 1}
    again = _upload(api, c.a, [dispatch])
    assert again["counts"] == {"duplicate": 1} and again["results"][0]["shipment"]


# ----------------------------------------------------------------------------- the property
def _offline_file(c: Channel, bottles: list[str], nanjing_site: int) -> list[dict]:
    """A valid offline file of distributor A: receive the pallet, open a case, ship bottles
    and the other case to two stores, and look at goods at a depot outside its territory."""
    t0 = datetime.now(UTC) - timedelta(hours=3)

    def at(minutes: int) -> str:
        return (t0 + timedelta(minutes=minutes)).isoformat()

    def dispatch(n: int, code: str, receiver: int, ref: str, minute: int) -> dict:
        return {
            "client_event_id": f"pf-{n}",
            "action": "dispatch",
            "code": code,
            "site_id": c.a_site,
            "receiver_id": receiver,
            "shipment": ref,
            "time": at(minute),
        }

    return [
        {"client_event_id": "pf-0", "action": "receive", "code": c.pallet, "site_id": c.a_site,
         "time": at(0)},
        {"client_event_id": "pf-1", "action": "observe", "code": c.cases[1],
         "site_id": nanjing_site, "time": at(5)},
        {"client_event_id": "pf-2", "action": "open", "code": c.cases[0], "site_id": c.a_site,
         "time": at(10)},
        dispatch(3, bottles[0], c.s1_org, "PF-S1", 20),
        dispatch(4, bottles[1], c.s1_org, "PF-S1", 21),
        dispatch(5, c.cases[1], c.s2_org, "PF-S2", 30),
        dispatch(6, bottles[2], c.s2_org, "PF-S2", 31),
        {"client_event_id": "pf-7", "action": "observe", "code": bottles[3],
         "site_id": nanjing_site, "time": at(40)},
    ]  # fmt: skip


def _state(container) -> dict:
    """What the scans leave, without server clocks and random ids.

    Alerts are compared by what they say (kind, who is responsible, who saw it, how often),
    not by the goods they are filed under: a bottle seen before its case's opening is known
    files its alert under the case, and a sighting known first names the shipment of its time
    (docs/diversion.md, Offline scans)."""
    with container.uow_factory.sessions() as s:

        def rows(sql: str) -> list:
            return [tuple(str(v) for v in r) for r in s.execute(text(sql)).all()]

        return {
            "units": rows(
                "SELECT sscc, holder_id, authorised_id, holder_site_id, holder_since, "
                "shipment_id IS NOT NULL, opened_at "
                "FROM logistic_units ORDER BY sscc"
            ),
            "items": rows(
                "SELECT i.serial, i.holder_id, i.authorised_id, i.holder_site_id, "
                "i.holder_since, s.ref FROM items i "
                "LEFT JOIN shipments s ON s.id = i.shipment_id "
                "WHERE i.holder_id IS NOT NULL ORDER BY i.serial"
            ),
            "lines": rows(
                "SELECT s.ref, l.items, COALESCE(u.sscc, i.serial), l.dispatched, l.received_at "
                "FROM shipment_lines l JOIN shipments s ON s.id = l.shipment_id "
                "LEFT JOIN logistic_units u ON u.id = l.unit_id "
                "LEFT JOIN items i ON i.id = l.item_id ORDER BY 1, 3"
            ),
            "shipments": rows(
                "SELECT ref, sender_id, receiver_id, status, dispatched_at, received_at, "
                "dispatched_lines, received_lines, extra_lines FROM shipments ORDER BY ref"
            ),
            "scans": rows(
                "SELECT client_event_id, outcome FROM scan_events ORDER BY client_event_id"
            ),
            "alerts": rows(
                "SELECT kind, count, responsible_id, scanner_id, status FROM alerts "
                "ORDER BY kind, count, responsible_id, scanner_id"
            ),
            "events": rows("SELECT type, count(*) FROM events GROUP BY type ORDER BY type"),
        }


@pytest.mark.slow
def test_any_partition_of_an_offline_file_in_any_order_gives_the_whole_files_state(
    api, container, channel, database_url
):
    if not database_url.startswith("sqlite"):
        pytest.skip("the property restores a SQLite snapshot between examples")
    c = channel
    nanjing = _site(api, c.a, c.a_org, "Nanjing depot", "warehouse", NANJING)
    _ship_pallet_to_a(api, c)
    bottles = _bottles(container, c.cases[0])
    events = _offline_file(c, bottles, nanjing)
    path = database_url.removeprefix("sqlite:///")
    snapshot = sqlite3.connect(":memory:")
    with sqlite3.connect(path) as live:
        live.backup(snapshot)

    def restore() -> None:
        with sqlite3.connect(path) as live:
            snapshot.backup(live)

    whole = _upload(api, c.a, events)
    assert whole["counts"] == {"applied": len(events)}
    expected = _state(container)
    assert any(a[0] == "diversion" for a in expected["alerts"])  # the file does raise one

    @settings(
        max_examples=50,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
        database=None,
    )
    @given(
        parts=st.lists(st.integers(0, 3), min_size=len(events), max_size=len(events)),
        order=st.permutations(range(4)),
    )
    def uploads_in_any_order(parts: list[int], order: list[int]) -> None:
        restore()
        try:
            for part in order:
                chunk = [e for e, p in zip(events, parts, strict=True) if p == part]
                if chunk:
                    _upload(api, c.a, chunk)
            got = _state(container)
            for key, rows in expected.items():
                assert got[key] == rows, (key, set(got[key]) ^ set(rows))
        finally:
            restore()

    uploads_in_any_order()
