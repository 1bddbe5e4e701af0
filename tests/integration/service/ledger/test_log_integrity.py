"""An insider drops the append-only triggers and edits, deletes or moves log rows: the anchorer
anchors nothing, /health turns degraded with the first bad index, the brands' auditors get one
alert, GET /log flags the anchored root, and ``tracecert log verify`` names the problem.
SQLite and PostgreSQL, on py-evm."""

from __future__ import annotations

import pytest
from rich.console import Console
from sqlalchemy import text
from typer.testing import CliRunner

from service import cli
from service.ledger.storage.commitments import leaf_hash
from service.ledger.storage.log_inspector import ProcessLogInspector
from service.unit_of_work import open_factory
from tests.integration.service.conftest import auth, run_sender_until


def drop_triggers(container) -> None:
    """What an insider with database access can do: the triggers are no guarantee."""
    with container.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("DROP TRIGGER events_no_update_delete ON events"))
            conn.execute(text("DROP TRIGGER events_no_truncate ON events"))
        else:
            conn.execute(text("DROP TRIGGER events_no_update"))
            conn.execute(text("DROP TRIGGER events_no_delete"))


def sql(container, statement: str, **params) -> None:
    with container.engine.begin() as conn:
        conn.execute(text(statement), params)


def anchored(container, api, admin: str) -> int:
    """Anchor the log as it stands and wait until the chain holds it; the size."""
    anchor = container.anchor_log_step()
    assert anchor is not None
    run_sender_until(
        container,
        lambda: (
            (api.get("/log", headers=auth(admin)).json()["latest_anchored"] or {}).get("size")
            == anchor.size
        ),
    )
    return anchor.size


def new_event(api, keys, name: str) -> None:
    """One more state change (an organisation), so the log grows by one entry."""
    response = api.post(
        "/organisations",
        json={"name": name, "kind": "store", "brand_id": keys.brand_org},
        headers=auth(keys.admin),
    )
    assert response.status_code == 201, response.text


def anchor_rows(container) -> list[int]:
    with container.engine.connect() as conn:
        return list(conn.execute(text("SELECT size FROM log_anchors ORDER BY size")).scalars())


def log_verify(container, monkeypatch):
    """``tracecert log verify`` against this test's database and chain."""
    monkeypatch.setattr(cli, "_offline_container", lambda settings: container)
    # The command checks the schema of the database it is pointed at first: this test's.
    monkeypatch.setenv("TRACECERT_DATABASE_URL", container.settings.database_url)
    return CliRunner().invoke(cli.app, ["log", "verify"])


def log_alerts(api, key: str) -> list[dict]:
    alerts = api.get("/alerts", headers=auth(key)).json()
    return [a for a in alerts if a["kind"] == "log_integrity"]


# ----------------------------------------------------------------------------- a clean log
def test_a_clean_log_is_anchored_and_shown_matching_the_chain(api, container, keys, monkeypatch):
    size = anchored(container, api, keys.admin)
    new_event(api, keys, "Store A")
    assert anchored(container, api, keys.admin) == size + 1
    log = api.get("/log", headers=auth(keys.auditor)).json()
    shown = log["latest_anchored"]
    assert shown["matches"] is True and shown["problem"] is None
    assert shown["chain_root"] == shown["stored_root"] == shown["root"]
    assert log["integrity"]["log_integrity"] == "ok"
    assert log["integrity"]["chain_size"] == size
    health = api.get("/health")
    assert health.status_code == 200 and health.json()["log"]["log_integrity"] == "ok"
    result = log_verify(container, monkeypatch)
    assert result.exit_code == 0, result.output
    assert f"log verified: {size + 1} events, 2 anchors" in result.output


# ----------------------------------------------------------------------------- an edit
def test_an_entry_edited_with_its_leaf_hash_is_never_anchored_over_and_is_named(
    api, container, keys, monkeypatch
):
    size = anchored(container, api, keys.admin)
    drop_triggers(container)
    with container.engine.connect() as conn:
        payload = conn.execute(text("SELECT payload FROM events WHERE log_index = 3")).scalar_one()
    forged = bytes(payload).replace(b'"type":"', b'"type":"Forged')
    assert forged != bytes(payload)
    sql(
        container,
        "UPDATE events SET payload = :p, leaf_hash = :h WHERE log_index = 3",
        p=forged,
        h=leaf_hash(forged),
    )
    new_event(api, keys, "Store B")

    assert container.anchor_log_step() is None
    assert anchor_rows(container) == [size]  # nothing anchored over the edited history
    health = api.get("/health")
    assert health.status_code == 503 and health.json()["status"] == "degraded"
    assert health.json()["log"]["log_integrity"] == "failed"
    assert health.json()["log"]["first_bad_index"] == 3

    # One alert per finding for every brand; this auditor sees Brand One's.
    alerts = log_alerts(api, keys.auditor)
    assert {(a["detail"]["kind"], a["detail"]["index"]) for a in alerts} == {
        ("edited", 3),
        ("root", size),
    }
    container.anchor_log_step()  # the next interval finds the same: no new alert
    assert [a["count"] for a in log_alerts(api, keys.auditor)] == [1, 1]
    assert len(log_alerts(api, keys.admin)) == 4  # Brand One's and Brand Two's

    log = api.get("/log", headers=auth(keys.auditor)).json()
    assert log["latest_anchored"]["problem"] == "root_differs"
    assert log["latest_anchored"]["matches"] is False
    assert log["integrity"]["first_bad_index"] == 3

    result = log_verify(container, monkeypatch)
    assert result.exit_code == 1
    assert "EDITED at 3" in result.output and "entry 3 differs" in result.output
    assert f"size {size}:" in result.output and "ROOT DIFFERS" in result.output


def test_the_anchorer_proves_in_a_process_of_its_own_and_still_finds_the_edit(api, container, keys):
    """The running service's anchorer reads the log back in a child process (issue 11: in the
    API's process the pass held the interpreter lock against the scans): the same findings."""
    size = anchored(container, api, keys.admin)
    inspector = ProcessLogInspector(
        open_factory, container.settings.database_url, container.settings.database_busy_timeout_s
    )
    container.log_inspector = inspector
    try:
        new_event(api, keys, "Store A")
        assert anchored(container, api, keys.admin) == size + 1  # a clean log still anchors
        drop_triggers(container)
        sql(container, "UPDATE events SET leaf_hash = :h WHERE log_index = 2", h=bytes(32))
        new_event(api, keys, "Store B")
        assert container.anchor_log_step() is None
        assert anchor_rows(container) == [size, size + 1]
        health = api.get("/health").json()
        assert health["log"]["log_integrity"] == "failed"
        assert health["log"]["first_bad_index"] == 2
        assert inspector.passes_in_child >= 3 and inspector.fallbacks == 0
    finally:
        container.log_inspector = None
        inspector.close()


# ----------------------------------------------------------------------------- a gap
def test_the_last_entry_deleted_then_another_appended_is_a_named_gap(
    api, container, keys, monkeypatch
):
    size = anchored(container, api, keys.admin)
    new_event(api, keys, "Store C")  # index ``size``
    drop_triggers(container)
    sql(container, "DELETE FROM events WHERE log_index = :i", i=size)
    new_event(api, keys, "Store D")  # takes index size + 1: a gap at ``size``

    assert container.anchor_log_step() is None
    assert anchor_rows(container) == [size]
    body = api.get("/health").json()
    assert body["log"]["log_integrity"] == "failed" and body["log"]["first_bad_index"] == size
    result = log_verify(container, monkeypatch)
    assert result.exit_code == 1 and f"GAP at {size}: entry {size} is missing" in result.output


# ----------------------------------------------------------------------------- a move
def test_two_entries_swapped_are_named_as_reordered(api, container, keys, monkeypatch):
    size = anchored(container, api, keys.admin)
    for name in ("Store E", "Store F", "Store G"):
        new_event(api, keys, name)
    drop_triggers(container)
    first, second = size, size + 2
    sql(container, "UPDATE events SET log_index = -1 WHERE log_index = :i", i=first)
    sql(container, "UPDATE events SET log_index = :i WHERE log_index = :j", i=first, j=second)
    sql(container, "UPDATE events SET log_index = :j WHERE log_index = -1", j=second)

    assert container.anchor_log_step() is None
    assert api.get("/health").json()["log"]["first_bad_index"] == first
    result = log_verify(container, monkeypatch)
    assert result.exit_code == 1
    assert f"REORDERED at {first}: index {first} holds the entry written as {second}" in (
        result.output
    )
    assert f"REORDERED at {second}" in result.output


# ----------------------------------------------------------------------------- log_anchors vs chain
def test_verify_reports_a_size_log_anchors_calls_anchored_that_the_chain_lacks(
    api, container, keys, monkeypatch
):
    size = anchored(container, api, keys.admin)
    # As after a reorganisation that removed the write: the row still says anchored.
    sql(
        container,
        "INSERT INTO log_anchors (size, root, status, requested_at) "
        "VALUES (:s, :r, 'anchored', CURRENT_TIMESTAMP)",
        s=size + 100,
        r=b"\x11" * 32,
    )
    result = log_verify(container, monkeypatch)
    assert result.exit_code == 1
    assert f"size {size}: stored root" in result.output
    assert f"size {size + 100}: stored root none NOT ON CHAIN" in result.output
    assert "the chain holds no root for it" in result.output
    assert "MISMATCH" not in result.output


@pytest.fixture(autouse=True)
def _wide_console(monkeypatch):
    """The CLI's messages on one line each, whatever the terminal."""
    monkeypatch.setattr(cli, "console", Console(width=400))
    monkeypatch.setattr(cli, "err", Console(width=400, stderr=True))
