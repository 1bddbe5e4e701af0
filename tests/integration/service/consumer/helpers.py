"""Consumer test helpers: sign-in through the API with a recording code sender, and a batch
that is anchored with its PINs known (the code file is downloaded before activation)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import text

from service.bootstrap import Container
from service.consumer.domain.accounts import Destination
from tests.integration.service.conftest import auth, batch_body, run_sender_until


@dataclass
class RecordingOtpSender:
    """Keeps every code it is asked to send, by destination value."""

    sent: dict[str, list[str]] = field(default_factory=dict)
    notices: dict[str, list[tuple[str, str]]] = field(default_factory=dict)

    def send(self, destination: Destination, code: str) -> None:
        self.sent.setdefault(destination.value, []).append(code)

    def notify(self, destination: Destination, kind: str, message: str) -> None:
        self.notices.setdefault(destination.value, []).append((kind, message))

    def last(self, destination: str) -> str:
        return self.sent[destination][-1]


def sign_in(api: TestClient, otp: RecordingOtpSender, destination: str) -> dict[str, str]:
    """Sign in (or up) through the API; the Authorization header of the session."""
    sent = api.post("/accounts/codes", json={"destination": destination})
    assert sent.status_code == 202, sent.text
    normalised = destination.lower() if "@" in destination else destination
    session = api.post(
        "/accounts/sessions",
        json={"challenge_id": sent.json()["challenge_id"], "code": otp.last(normalised)},
    )
    assert session.status_code == 201, session.text
    return {"Authorization": f"Bearer {session.json()['token']}"}


@dataclass
class PinnedBatch:
    batch: dict[str, Any]
    pins: dict[str, str]  # serial -> PIN as printed

    @property
    def serials(self) -> list[str]:
        return list(self.pins)


def pinned_batch(
    api: TestClient,
    container: Container,
    factory_key: str,
    lot: str = "LOT-C",
    quantity: int = 12,
    *,
    anchor: bool = True,
) -> PinnedBatch:
    """A batch with codes, its code file read (PINs), activated and (by default) anchored."""
    created = api.post("/batches", json=batch_body(lot, quantity), headers=auth(factory_key))
    assert created.status_code == 201, created.text
    batch_id = created.json()["id"]
    assert api.post(f"/batches/{batch_id}/codes", headers=auth(factory_key)).status_code == 200
    code_file = api.get(f"/batches/{batch_id}/code-file", headers=auth(factory_key))
    assert code_file.status_code == 200, code_file.text
    pins = {row["serial"]: row["pin"] for row in csv.DictReader(io.StringIO(code_file.text))}
    assert api.post(f"/batches/{batch_id}/activate", headers=auth(factory_key)).status_code == 200
    if anchor:
        assert api.post(f"/batches/{batch_id}/anchor", headers=auth(factory_key)).status_code == 202
        run_sender_until(
            container,
            lambda: (
                api.get(f"/batches/{batch_id}", headers=auth(factory_key)).json()["status"]
                == "anchored"
            ),
        )
    batch = api.get(f"/batches/{batch_id}", headers=auth(factory_key)).json()
    return PinnedBatch(batch, pins)


def mint_claims(container: Container, done: Any) -> None:
    """Send waiting claims at once (no batching window) and step the sender until ``done()``."""
    container.claim_step(force=True)
    run_sender_until(container, done)


def settle(container: Container) -> None:
    """Step the sender until every queued chain write is confirmed (or failed)."""

    def idle() -> bool:
        with container.uow_factory.sessions() as s:
            return not s.execute(
                text("SELECT count(*) FROM outbox WHERE status NOT IN ('confirmed','failed')")
            ).scalar_one()

    run_sender_until(container, idle, steps=60)
