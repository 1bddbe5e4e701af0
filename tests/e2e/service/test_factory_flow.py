"""The factory flow end to end on ``tracecert run`` with a managed anvil, over HTTP and JSON-RPC.

A product, a batch of 1,000 items in cases of 6: generate, export the code file and PDF
labels, activate, anchor, verify through the API and straight against the contract, attest,
recall, and see the recall on scan. Every QR decodes (zxing-cpp) to a valid GS1 Digital Link,
and no PIN appears anywhere but in the one code file: not in API responses, logs, events,
database rows or on chain.
"""

from __future__ import annotations

import csv
import io
import re
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pypdfium2
import pytest
import zxingcpp
from PIL import Image

from chain.artifacts import load_artifact
from chain.backends import RpcBackend
from chain.client import ChainClient
from chain.contracts.certificate_registry import CertificateRegistry
from service.kernel.gs1 import is_valid_gtin14, is_valid_sscc, parse_code
from tests.e2e.service.conftest import (
    GTIN,
    PROJECT_ROOT,
    set_up_factory,
    tracecert,
    wait_for,
)

pytestmark = [pytest.mark.anvil, pytest.mark.slow]

RESOLVER = "https://id.brand.example"
# A PIN as printed (7K3M-Q9XD) or as typed without the hyphen, anywhere in a text.
_PIN_WINDOW = re.compile(r"(?=([0-9A-Z]{4}-?[0-9A-Z]{4}))")


class Recorder:
    """An HTTP client that keeps every response body, to search them for PINs later."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.bodies: list[str] = []

    def request(self, method: str, path: str, key: str | None = None, **kw: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        response = httpx.request(method, self.base + path, headers=headers, timeout=120, **kw)
        if "pdf" not in response.headers.get("content-type", ""):
            self.bodies.append(response.text)
        return response

    def ok(self, method: str, path: str, key: str | None = None, status: int = 200, **kw: Any):
        response = self.request(method, path, key, **kw)
        assert response.status_code == status, response.text
        return response.json()


def pins_in(text: str, pins: set[str]) -> set[str]:
    return {m.replace("-", "") for m in _PIN_WINDOW.findall(text)} & pins


def decode_all(image: Image.Image) -> list[str]:
    return [
        r.text for r in zxingcpp.read_barcodes(image) if r.format == zxingcpp.BarcodeFormat.QRCode
    ]


def assert_gs1_item_uri(uri: str, lot: str) -> str:
    assert uri.startswith(RESOLVER + "/01/"), uri
    link = parse_code(uri)
    assert link.gtin == GTIN and is_valid_gtin14(link.gtin) and link.lot == lot
    assert link.serial is not None and len(link.serial) == 20
    return link.serial


@pytest.fixture
def service(run_env, tmp_path):
    run_env["TRACECERT_RESOLVER_URL"] = RESOLVER
    log_path = tmp_path / "service.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "service.cli", "run"],
            env=run_env,
            cwd=PROJECT_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        base = f"http://127.0.0.1:{run_env['TRACECERT_PORT']}"
        try:
            wait_for(lambda: httpx.get(f"{base}/health").status_code == 200, what="healthy API")
            yield base, log_path
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)


def test_factory_flow_from_product_to_recall_on_anvil(service, run_env, artifacts):
    base, log_path = service
    http = Recorder(base)
    admin = tracecert(run_env, "admin", "create", "--name", "Platform").stdout.split()[-1]
    factory = set_up_factory(base, {"Authorization": f"Bearer {admin}"})["Authorization"][7:]
    orgs = http.ok("GET", "/organisations", admin)
    brand_id = next(o["id"] for o in orgs if o["kind"] == "brand")
    brand = http.ok(
        "POST", f"/organisations/{brand_id}/api-keys", admin, 201, json={"role": "brand"}
    )["api_key"]
    lab = http.ok("POST", "/organisations", admin, 201, json={"name": "Lab", "kind": "attestor"})
    attestor = http.ok(
        "POST", f"/organisations/{lab['id']}/api-keys", admin, 201, json={"role": "attestor"}
    )["api_key"]
    # The brand authorises the lab: an attestor reports only on batches of brands that asked.
    authorised = {"organisation_id": lab["id"], "roles": ["attestor"]}
    http.ok("PUT", "/brand/partners", brand, 200, json=authorised)

    # 1. a batch of 1,000 items in cases of 6, and its codes
    lot = "L2026-11-E2E"
    batch = http.ok(
        "POST",
        "/batches",
        factory,
        201,
        json={
            "gtin": GTIN,
            "lot": lot,
            "production_date": "2026-11-20",
            "line": "LINE-3",
            "planned_quantity": 1000,
            "case_size": 6,
            "cases_per_pallet": 40,
        },
    )
    assert batch["status"] == "draft"
    batch = http.ok("POST", f"/batches/{batch['id']}/codes", factory)
    assert (batch["status"], batch["item_count"], batch["cases"], batch["pallets"]) == (
        "generated",
        1000,
        167,
        5,
    )
    bid = batch["id"]

    # 2. the code file (once) and the PDF labels
    response = httpx.get(
        f"{base}/batches/{bid}/code-file", headers={"Authorization": f"Bearer {factory}"}
    )
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == 1000
    pins = {r["pin"].replace("-", "") for r in rows}
    assert len(pins) > 990 and all(re.fullmatch(r"[0-9A-Z]{4}-[0-9A-Z]{4}", r["pin"]) for r in rows)
    serials = [assert_gs1_item_uri(r["uri"], lot) for r in rows]
    assert serials == [r["serial"] for r in rows] and len(set(serials)) == 1000
    assert all(is_valid_sscc(r["case_sscc"]) and is_valid_sscc(r["pallet_sscc"]) for r in rows)
    assert {
        len([r for r in rows if r["case_sscc"] == c]) for c in {r["case_sscc"] for r in rows}
    } == {
        6,
        4,
    }
    second = http.request("GET", f"/batches/{bid}/code-file", factory)
    assert second.status_code == 403 and second.json()["error"] == "code_file_approval_required"

    pdf = http.request("GET", f"/batches/{bid}/labels.pdf", factory, params={"count": 1000})
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    document = pypdfium2.PdfDocument(pdf.content)
    assert len(document) == -(-1000 // 42)  # 6 x 7 labels of 30 x 36 mm on A4
    decoded = decode_all(document[0].render(scale=600 / 72).to_pil())
    assert len(decoded) == 42 and set(decoded) <= {r["uri"] for r in rows}
    case_pdf = http.request("GET", f"/batches/{bid}/labels.pdf", factory, params={"kind": "case"})
    case_uris = decode_all(
        pypdfium2.PdfDocument(case_pdf.content)[0].render(scale=600 / 72).to_pil()
    )
    assert case_uris and all(is_valid_sscc(parse_code(u).sscc or "") for u in case_uris)
    png = http.request("GET", f"/codes/{serials[0]}/qr.png", factory)
    assert decode_all(Image.open(io.BytesIO(png.content))) == [rows[0]["uri"]]

    # 3. an inert code scanned by a consumer raises an alert; then activation at the line
    scan = http.ok("GET", f"/items/{serials[0]}/verify")
    assert scan["verdict"] == "not_activated" and scan["alert"]["kind"] == "inactive_code_scanned"
    first_case = rows[0]["case_sscc"]
    activated = http.ok(
        "POST", "/activations", factory, json={"code": f"{RESOLVER}/00/{first_case}"}
    )
    assert (activated["activated_cases"], activated["activated_items"]) == (1, 6)
    rest = http.ok("POST", f"/batches/{bid}/activate", factory)
    assert (rest["activated_cases"], rest["activated_items"], rest["batch_status"]) == (
        166,
        994,
        "activated",
    )
    sealed = http.request("GET", f"/batches/{bid}/code-file", factory)
    assert sealed.status_code == 409 and sealed.json()["error"] == "code_file_sealed"

    # 4. anchored on chain
    assert http.request("POST", f"/batches/{bid}/anchor", factory).status_code == 202
    wait_for(
        lambda: http.ok("GET", f"/batches/{bid}", factory)["status"] == "anchored",
        what="batch anchored",
    )
    again = http.request("POST", f"/batches/{bid}/anchor", factory)
    assert again.status_code == 409 and again.json()["error"] == "batch_already_anchored"

    # 5. verified through the API (the QR's own URI) and straight against the contract
    path = rows[500]["uri"][len(RESOLVER) :]
    scan = http.ok("GET", path)
    assert scan["verdict"] == "genuine" and scan["chain"]["on_chain"] is True
    chain = http.ok("GET", "/chain")
    client = ChainClient(RpcBackend(f"http://127.0.0.1:{run_env['CHAIN_ANVIL_PORT']}", 5.0))
    client.register_revert_abi(load_artifact(artifacts, "CertificateRegistry").abi)
    registry = CertificateRegistry(
        client, chain["deployment"]["address"], load_artifact(artifacts, "CertificateRegistry")
    )
    raw = scan["chain"]
    chain_batch_id = bytes.fromhex(raw["chain_batch_id"][2:])
    proof = [bytes.fromhex(p[2:]) for p in raw["proof"]]
    item_hash = bytes.fromhex(raw["item_hash"][2:])
    assert registry.verify_item(chain_batch_id, int(raw["token_id"]), item_hash, proof)
    assert not registry.verify_item(chain_batch_id, int(raw["token_id"]) + 1, item_hash, proof)
    assert registry.batch(chain_batch_id).item_count == 1000

    # 6. a lab attests a quality report: on chain, shown with the batch
    report = "0x" + "5a" * 32
    http.ok(
        "POST",
        f"/batches/{bid}/attestations",
        attestor,
        202,
        json={"report_hash": report, "uri": "https://lab.example/r/42.pdf"},
    )
    wait_for(
        lambda: (
            (a := http.ok("GET", f"/batches/{bid}", brand)["attestations"])
            and a[0]["chain"]["status"] == "confirmed"
        ),
        what="attestation confirmed",
    )
    assert registry.attestation_count(chain_batch_id) == 1

    # 7. the brand recalls the batch; 8. scans show it, on chain too
    http.ok("POST", f"/batches/{bid}/recall", brand, json={"reason": "cap seal defect, line 3"})
    scan = http.ok("GET", path)
    assert scan["verdict"] == "recalled" and scan["recall"]["reason"] == "cap seal defect, line 3"
    wait_for(
        lambda: (
            http.ok("GET", f"/batches/{bid}", brand)["recall"]["chain"]["status"] == "confirmed"
        ),
        what="recall confirmed",
    )
    assert registry.batch(chain_batch_id).recalled is True
    recalled = http.ok("GET", f"/batches/{bid}/recalled-items", brand, params={"limit": 10})
    assert recalled["total"] == 1000 and len(recalled["items"]) == 10
    assert {i["last_holder"]["kind"] for i in recalled["items"]} == {"factory"}

    # No PIN anywhere but the code file: API responses, events, logs, database, chain.
    events = http.ok("GET", "/log/events", admin, params={"limit": 500})
    assert {
        "CodesGenerated",
        "ItemsAggregated",
        "CodesActivated",
        "BatchAnchored",
        "BatchRecalled",
        "BatchAttested",
        "CodeFileDownloaded",
    } <= {e["type"] for e in events}
    for body in http.bodies:
        assert not pins_in(body, pins)
    offset = 0
    while page := http.ok("GET", "/log/events", admin, params={"offset": offset, "limit": 500}):
        assert not pins_in("".join(e["payload"] for e in page), pins)
        offset += len(page)
    assert not pins_in(log_path.read_text(), pins)
    with sqlite3.connect(Path(run_env["TRACECERT_DATA_DIR"]) / "tracecert.db") as db:
        tables = [t for (t,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            for row in db.execute(f'SELECT * FROM "{table}"'):
                text = " ".join(
                    v.decode("latin-1") if isinstance(v, bytes) else str(v) for v in row
                )
                assert not pins_in(text, pins), table
    node = f"http://127.0.0.1:{run_env['CHAIN_ANVIL_PORT']}"

    def rpc(method: str, params: list[Any]) -> Any:
        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
        return httpx.post(node, json=body, timeout=30).json()["result"]

    head = client.block_number()
    calldata = 0
    for number in range(head + 1):
        block = rpc("eth_getBlockByNumber", [hex(number), True])
        for tx in block["transactions"]:
            calldata += 1
            assert not pins_in(bytes.fromhex(tx["input"][2:]).decode("latin-1"), pins)
    assert calldata >= 4  # deployment, grants, anchor, attestation, recall, log anchors
    logs = rpc("eth_getLogs", [{"fromBlock": "0x0", "toBlock": hex(head)}])
    for entry in logs:
        assert not pins_in(bytes.fromhex(entry["data"][2:]).decode("latin-1"), pins)
