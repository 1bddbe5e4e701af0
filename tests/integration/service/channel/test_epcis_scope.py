"""EPCIS reads honour explicit scopes: a key whose brand resolves to nothing reads nothing."""

from __future__ import annotations

from tests.integration.service.channel.test_epcis_api import _partner_document, run_scenario
from tests.integration.service.conftest import auth


def _events(api, key) -> list[dict]:
    response = api.get("/epcis/events", params={"perPage": 1000}, headers=auth(key))
    assert response.status_code == 200, response.text
    return list(response.json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"])


def _brandless_auditor(api, keys) -> str:
    org = api.post(
        "/organisations", json={"name": "Audit Firm", "kind": "auditor"}, headers=auth(keys.admin)
    )
    assert org.status_code == 201, org.text
    key = api.post(
        f"/organisations/{org.json()['id']}/api-keys",
        json={"role": "auditor"},
        headers=auth(keys.admin),
    )
    assert key.status_code == 201, key.text
    return str(key.json()["api_key"])


def test_an_auditor_key_without_a_brand_reads_no_events(api, channel, keys):
    c = channel
    run_scenario(api, c)
    captured = api.post("/epcis/capture", json=_partner_document(c), headers=auth(c.a))
    assert captured.status_code == 202, captured.text
    # The scenario's events exist and are readable by those in scope ...
    assert len(_events(api, c.brand)) >= 17 and _events(api, keys.admin)
    # ... and a key of an organisation with no brand sees none of them.
    assert _events(api, _brandless_auditor(api, keys)) == []


def test_a_brand_auditor_still_reads_its_brands_events(api, channel, keys):
    run_scenario(api, channel)
    assert len(_events(api, keys.auditor)) == len(_events(api, channel.brand)) >= 17
