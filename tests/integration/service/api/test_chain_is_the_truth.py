"""The chain is the truth (issue 10, item 1): whenever the database and the registry disagree
about a batch, a scan answers ``mismatch`` with a ``chain_mismatch`` alert naming what differs,
never ``genuine``; and what the chain said is kept no longer than ``chain_read_ttl_s``. Through
the API on both databases and py-evm; the rows are edited as an insider would."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import text

from chain.errors import ChainUnavailableError
from service.api.limits import ScanLimits
from service.api.rate_limits import Rate
from tests.integration.service.conftest import GTIN, auth, run_sender_until
from tests.integration.service.consumer.helpers import pinned_batch

JSON = {"Accept": "application/json"}
HTML = {"Accept": "text/html", "Accept-Language": "zh-CN"}
#: Short enough for a test to wait it out, long enough for scans in a row to share a read.
TTL_S = 0.6


@pytest.fixture
def settings(settings):
    return settings.model_copy(update={"chain_read_ttl_s": TTL_S})


def link(batch: dict, serial: str) -> str:
    return f"/01/{GTIN}/10/{batch['lot']}/21/{serial}"


def recall_on_chain(api, container, keys, batch: dict) -> None:
    """Recall through the API and step the sender until the registry holds the recall."""
    recalled = api.post(
        f"/batches/{batch['id']}/recall", json={"reason": "seal defect"}, headers=auth(keys.brand)
    )
    assert recalled.status_code == 200, recalled.text

    def confirmed() -> bool:
        body = api.get(f"/batches/{batch['id']}", headers=auth(keys.brand)).json()
        return body["recall"]["chain"]["status"] == "confirmed"

    run_sender_until(container, confirmed)
    record = container.runtime.registry.batch(bytes.fromhex(batch["chain_batch_id"][2:]))
    assert record is not None and record.recalled


def edit_batch(container, batch: dict, assignments: str, **values) -> None:
    """An insider's UPDATE of the batch row, committed."""
    with container.uow_factory.sessions.begin() as s:
        changed = s.execute(
            text(f"UPDATE batches SET {assignments} WHERE public_id = :p"),
            {"p": batch["id"], **values},
        ).rowcount
    assert changed == 1


def unrecall_in_the_database(container, batch: dict) -> None:
    edit_batch(
        container,
        batch,
        "status = 'anchored', recall_reason = NULL, recalled_at = NULL, recall_outbox_id = NULL",
    )


def chain_mismatch_alerts(api, keys) -> list[dict]:
    alerts = api.get("/alerts", headers=auth(keys.brand)).json()
    return [a for a in alerts if a["kind"] == "chain_mismatch"]


def assert_mismatch_everywhere(api, lot, serial: str, differs: list[str]) -> None:
    """The JSON of both routes and the scan page all say mismatch, never genuine."""
    for path in (f"/items/{serial}/verify", link(lot.batch, serial)):
        response = api.get(path, headers=JSON)
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["verdict"], body["genuine"]) == ("mismatch", False), path
        assert body["chain"]["differs"] == differs
        assert body["alert"]["kind"] == "chain_mismatch"
    page = api.get(link(lot.batch, serial), headers=HTML)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'data-verdict="mismatch"' in page.text and 'data-verdict="genuine"' not in page.text
    assert '<p class="verdict-title">正品</p>' not in page.text
    assert "记录与区块链不符" in page.text


# ----------------------------------------------------------------------------- the repro
def test_a_batch_recalled_on_chain_and_unrecalled_in_the_database_is_a_mismatch(
    api, container, keys
):
    lot = pinned_batch(api, container, keys.factory)
    serial = lot.serials[0]
    assert api.get(link(lot.batch, serial), headers=JSON).json()["verdict"] == "genuine"
    recall_on_chain(api, container, keys, lot.batch)
    unrecall_in_the_database(container, lot.batch)
    time.sleep(TTL_S)  # whatever this process read of the chain before the recall is stale

    assert_mismatch_everywhere(api, lot, serial, ["recalled"])
    body = api.get(link(lot.batch, serial), headers=JSON).json()
    assert body["chain"]["batch"]["recalled"] is True and body["recall"] is None
    (alert,) = chain_mismatch_alerts(api, keys)
    assert alert["serial"] == serial and alert["detail"]["differs"] == ["recalled"]
    assert alert["detail"]["chain"]["recalled"] is True
    assert alert["detail"]["database"]["recalled"] is False
    assert alert["detail"]["database"]["status"] == "anchored"


def test_a_recall_whose_chain_write_is_in_flight_is_recalled_and_raises_no_alert(
    api, container, keys
):
    lot = pinned_batch(api, container, keys.factory)
    recalled = api.post(
        f"/batches/{lot.batch['id']}/recall", json={"reason": "cork"}, headers=auth(keys.brand)
    )
    assert recalled.status_code == 200 and recalled.json()["recall"]["chain"]["status"] == "queued"
    body = api.get(link(lot.batch, lot.serials[0]), headers=JSON).json()
    assert (body["verdict"], body["genuine"]) == ("recalled", False)
    assert body["chain"]["differs"] == [] and body["chain"]["batch"]["recalled"] is False
    assert chain_mismatch_alerts(api, keys) == []


@pytest.mark.parametrize(
    ("assignments", "differs"),
    [
        ("item_count = item_count + 1", ["item_count"]),
        ("item_count = item_count - 1", ["item_count"]),
        ("root = :other", ["root"]),
        ("metadata_hash = :other", ["metadata_hash"]),
    ],
)
def test_an_edited_batch_row_is_a_mismatch_that_names_the_field(
    api, container, keys, assignments, differs
):
    lot = pinned_batch(api, container, keys.factory)
    serial = lot.serials[3]
    assert api.get(link(lot.batch, serial), headers=JSON).json()["verdict"] == "genuine"
    edit_batch(container, lot.batch, assignments, other=b"\x01" * 32)
    assert_mismatch_everywhere(api, lot, serial, differs)
    (alert,) = chain_mismatch_alerts(api, keys)
    assert alert["detail"]["differs"] == differs


# ----------------------------------------------------------------------------- the bound
def test_a_verdict_kept_before_a_recall_on_chain_turns_within_the_ttl(api, container, keys):
    # This test scans as fast as it can for a TTL and more: without the scan rate limits.
    api.app.state.scan_limits = ScanLimits(Rate(0, 0), Rate(0, 0))
    lot = pinned_batch(api, container, keys.factory)
    first, second = lot.serials[:2]
    assert api.get(link(lot.batch, first), headers=JSON).json()["verdict"] == "genuine"
    recall_on_chain(api, container, keys, lot.batch)
    unrecall_in_the_database(container, lot.batch)
    recalled_at = time.monotonic()
    verdicts = []
    while time.monotonic() - recalled_at < TTL_S + 0.5:
        verdicts.append(api.get(link(lot.batch, second), headers=JSON).json()["verdict"])
        time.sleep(0.05)
    # Genuine at most within the TTL, then mismatch for good.
    turned = verdicts.index("mismatch")
    assert set(verdicts[:turned]) <= {"genuine"} and set(verdicts[turned:]) == {"mismatch"}
    assert turned * 0.05 <= TTL_S + 0.1


def test_the_chain_is_read_once_per_batch_per_ttl_never_per_scan(api, container, keys, monkeypatch):
    lot = pinned_batch(api, container, keys.factory)
    calls = []
    read = container.ledger.batch_on_chain

    def counted(chain_batch_id):
        calls.append(chain_batch_id)
        return read(chain_batch_id)

    monkeypatch.setattr(container.ledger, "batch_on_chain", counted)
    for serial in lot.serials[:6]:
        assert api.get(link(lot.batch, serial), headers=JSON).json()["chain"]["on_chain"] is True
    assert len(calls) == 1
    time.sleep(TTL_S)
    for serial in lot.serials[6:]:
        assert api.get(link(lot.batch, serial), headers=JSON).json()["verdict"] == "genuine"
    assert len(calls) == 2


def test_an_expired_read_with_the_node_down_answers_503_never_a_stale_genuine(
    api, container, keys, monkeypatch
):
    lot = pinned_batch(api, container, keys.factory)
    serial = lot.serials[0]
    assert api.get(link(lot.batch, serial), headers=JSON).json()["verdict"] == "genuine"

    def down(_batch_id):
        raise ChainUnavailableError("connection refused")

    monkeypatch.setattr(container.runtime.registry, "batch", down)
    time.sleep(TTL_S)
    for path in (link(lot.batch, serial), f"/items/{serial}/verify"):
        response = api.get(path, headers=JSON)
        assert response.status_code == 503, response.text
        assert response.json()["error"] == "chain_unavailable"
        assert int(response.headers["Retry-After"]) > 0
    # A recall the database holds is still shown: it needs no chain.
    recalled = api.post(
        f"/batches/{lot.batch['id']}/recall", json={"reason": "cork"}, headers=auth(keys.brand)
    )
    assert recalled.status_code == 200
    body = api.get(link(lot.batch, serial), headers=JSON).json()
    assert body["verdict"] == "recalled" and body["chain"]["on_chain"] is None
