"""EPCIS capture takes strict JSON only, and reads survive whatever was stored before."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from tests.integration.service.channel.test_epcis_api import _partner_document
from tests.integration.service.conftest import auth


def _with_shelf(c, value: str) -> bytes:
    """A valid partner document whose first event's extension value is ``value`` (raw JSON)."""
    raw = json.dumps(_partner_document(c))
    assert raw.count('"B-1"') == 1
    return raw.replace('"B-1"', value).encode()


@pytest.mark.parametrize(
    "value",
    [
        "NaN",
        "Infinity",
        "1e999999",
        "12345678901234567890123",
        '"\\ud800"',
        "[" * 33 + "]" * 33,
        "[" * 20_000 + "]" * 20_000,
    ],
    ids=["nan", "infinity", "huge-float", "huge-int", "lone-surrogate", "depth-33", "depth-20000"],
)
def test_capture_of_unsupported_json_is_refused_and_nothing_is_stored(api, channel, counts, value):
    c = channel
    before = counts()
    response = api.post(
        "/epcis/capture",
        content=_with_shelf(c, value),
        headers={**auth(c.a), "Content-Type": "application/json"},
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "unsupported_json"
    assert "send" in response.json()["detail"]
    assert counts() == before


def test_a_document_within_the_bounds_is_captured(api, channel):
    c = channel
    response = api.post(
        "/epcis/capture",
        content=_with_shelf(c, '"B-\\u00e9"'),
        headers={**auth(c.a), "Content-Type": "application/json"},
    )
    assert response.status_code == 202, response.text
    assert response.json()["new"] == 2


def _poison(container, c, keys, n: int, body: str) -> None:
    with container.uow_factory.sessions() as s:
        value = "CAST(:body AS json)" if s.bind.dialect.name == "postgresql" else ":body"
        s.execute(
            text(
                "INSERT INTO epcis_events (scope_key, event_id, organisation_id, brand_id, "
                f"event_time, body, recorded_at) VALUES (:k, :e, :o, :b, :t, {value}, :t)"
            ),
            {
                "k": f"brand:{keys.brand_org}",
                "e": f"urn:uuid:00000000-0000-4000-8000-00000000000{n}",
                "o": c.a_org,
                "b": keys.brand_org,
                "t": datetime(2026, 11, 25, 1, n, tzinfo=UTC),
                "body": body,
            },
        )
        s.commit()


def test_poisoned_rows_already_stored_are_skipped_and_reads_answer(api, container, channel, keys):
    c = channel
    good = api.post("/epcis/capture", json=_partner_document(c), headers=auth(c.a))
    assert good.status_code == 202, good.text
    event = dict(_partner_document(c)["epcisBody"]["eventList"][0])
    _poison(container, c, keys, 1, json.dumps(event)[:-1] + ', "ex:x": 1e999999}')
    _poison(
        container, c, keys, 2, json.dumps(event)[:-1] + ', "ex:x": ' + "[" * 5000 + "]" * 5000 + "}"
    )
    for key in (c.brand, keys.admin, c.a):
        response = api.get("/epcis/events", params={"perPage": 1000}, headers=auth(key))
        assert response.status_code == 200, response.text
        events = response.json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
        shelves = sorted(e.get("ex:shelf") for e in events if "ex:shelf" in e)
        assert shelves == ["B-1", "B-2"]  # the two good ones; the poisoned two are skipped
