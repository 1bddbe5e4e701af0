"""The chain is the truth, end to end on anvil (issue 10, item 1): ``tracecert run`` against a
node the test controls. A batch recalled on chain and set back to ``anchored`` in the database
(an insider's edit) is a ``mismatch`` on the JSON and on the scan page within the chain-read
TTL, with a ``chain_mismatch`` alert; once the node is killed and the read has expired, a scan
answers 503 ``chain_unavailable`` with ``Retry-After``, never a stale ``genuine``."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.service.conftest import GTIN, anchorable_batch, post_ok, put_prefixes, wait_for
from tests.e2e.service.test_faults import Service, fund, new_node, node_state, sender_key, service

__all__ = ["node_state", "sender_key", "service"]  # the fixtures this module borrows

pytestmark = [pytest.mark.anvil, pytest.mark.slow]
TTL_S = 1.0
JSON = {"Accept": "application/json"}


def brand_and_factory(svc: Service) -> tuple[dict[str, str], dict[str, str]]:
    """Over HTTP: a brand and its factory with a key each, and the product; their headers."""
    admin = {"Authorization": "Bearer " + svc.cli("admin", "create", "--name", "P").split()[-1]}
    brand = post_ok(f"{svc.base}/organisations", admin, {"name": "B", "kind": "brand"}, 201)
    put_prefixes(svc.base, admin, brand["id"])
    factory = post_ok(
        f"{svc.base}/organisations",
        admin,
        {"name": "F", "kind": "factory", "brand_id": brand["id"]},
        201,
    )
    post_ok(
        f"{svc.base}/products", admin, {"gtin": GTIN, "name": "P", "brand_id": brand["id"]}, 201
    )

    def key(org: int, role: str) -> dict[str, str]:
        body = post_ok(f"{svc.base}/organisations/{org}/api-keys", admin, {"role": role}, 201)
        return {"Authorization": f"Bearer {body['api_key']}"}

    return key(brand["id"], "brand"), key(factory["id"], "factory")


def test_a_recall_on_chain_beats_a_database_edit_and_a_stale_read_is_never_genuine(
    service: Service, node_state: tuple[int, Path], sender_key: str
) -> None:
    port, _ = node_state
    node = new_node(port, None)
    node.start()
    try:
        fund(node, sender_key)
        service.env["TRACECERT_CHAIN_READ_TTL_S"] = str(TTL_S)
        service.start()
        wait_for(lambda: httpx.get(f"{service.base}/health").status_code == 200, what="health")
        brand, factory = brand_and_factory(service)
        batch = anchorable_batch(service.base, factory, "T1", 4)
        post_ok(f"{service.base}/batches/{batch['id']}/anchor", factory, status=202)
        service.headers = factory
        wait_for(lambda: service.batch_status(batch["id"]) == "anchored", what="anchored")
        with service.db() as db:
            serial = db.execute("SELECT serial FROM items ORDER BY leaf_index").fetchone()[0]
        link = f"{service.base}/01/{GTIN}/10/T1/21/{serial}"
        assert httpx.get(link, headers=JSON).json()["verdict"] == "genuine"

        post_ok(f"{service.base}/batches/{batch['id']}/recall", brand, {"reason": "cork"})
        wait_for(
            lambda: (
                httpx.get(f"{service.base}/batches/{batch['id']}", headers=brand).json()["recall"][
                    "chain"
                ]["status"]
                == "confirmed"
            ),
            what="recall confirmed",
        )
        with service.db() as db:  # the insider's edit: back to anchored, recall fields cleared
            db.execute(
                "UPDATE batches SET status = 'anchored', recall_reason = NULL, "
                "recalled_at = NULL, recall_outbox_id = NULL WHERE public_id = ?",
                (batch["id"],),
            )
        time.sleep(TTL_S)
        body = httpx.get(link, headers=JSON).json()
        assert (body["verdict"], body["genuine"]) == ("mismatch", False)
        assert body["chain"]["differs"] == ["recalled"] and body["recall"] is None
        page = httpx.get(link, headers={"Accept": "text/html", "Accept-Language": "zh"})
        assert 'data-verdict="mismatch"' in page.text and "记录与区块链不符" in page.text
        assert '<p class="verdict-title">正品</p>' not in page.text
        alerts = httpx.get(f"{service.base}/alerts", headers=brand).json()
        assert [(a["kind"], a["detail"]["differs"]) for a in alerts] == [
            ("chain_mismatch", ["recalled"])
        ]

        node.kill()  # kill -9: the node is gone
        time.sleep(TTL_S)
        down = httpx.get(link, headers=JSON)
        assert down.status_code == 503, down.text
        assert down.json()["error"] == "chain_unavailable" and int(down.headers["Retry-After"]) > 0
    finally:
        service.stop()
        node.stop()
