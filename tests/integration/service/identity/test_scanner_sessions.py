"""The scanner page's device session (issue 12 item 18a): an API key traded for a short-lived
token that only the scanning routes accept, ended by sign-out, expiry or the key's revocation."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import text

from tests.integration.service.api.conftest import scan
from tests.integration.service.conftest import auth


def _open(api, key: str) -> dict:
    response = api.post("/scanner/sessions", headers=auth(key))
    assert response.status_code == 201, response.text
    return dict(response.json())


def _observe(api, token: str, channel, site_id: int) -> int:
    response = scan(api, token, action="observe", code=channel.pallet, site_id=site_id)
    return int(response.status_code)


def test_a_session_scans_for_its_key_and_lasts_twelve_hours(api, channel, container):
    opened = _open(api, channel.a)
    token = opened["token"]
    assert token.startswith("tcs_") and channel.a not in token
    left = datetime.fromisoformat(opened["expires_at"]).timestamp() - datetime.now(UTC).timestamp()
    assert 12 * 3600 - 120 <= left <= 12 * 3600 + 5
    me = api.get("/me", headers=auth(token))
    assert me.status_code == 200, me.text
    assert me.json()["id"] == channel.a_org
    # Dispatch, receive and upload work with the session as with the key.
    dispatched = scan(
        api,
        channel.factory,
        action="dispatch",
        code=channel.pallet,
        site_id=channel.f_site,
        receiver_id=channel.a_org,
        shipment="F-SESSION",
    )
    assert dispatched.status_code == 200, dispatched.text
    received = scan(api, token, action="receive", code=channel.pallet, site_id=channel.a_site)
    assert received.status_code == 200, received.text
    assert received.json()["shipment_status"] == "received"
    uploaded = api.post(
        "/scans/upload",
        json={
            "device_id": "web-test",
            "scans": [
                {
                    "action": "observe",
                    "code": channel.cases[0],
                    "client_event_id": "c7d5a1f2-0000-4000-8000-000000000001",
                    "time": datetime.now(UTC).isoformat(),
                    "site_id": channel.a_site,
                }
            ],
        },
        headers=auth(token),
    )
    assert uploaded.status_code == 200, uploaded.text
    # Only its hash is stored.
    with container.uow_factory.sessions() as s:
        rows = s.execute(text("SELECT token_hash, key_id, ended_at FROM scanner_sessions")).all()
    assert len(rows) == 1 and rows[0][0] != token and token not in rows[0][0]
    assert rows[0][1] in channel.a and rows[0][2] is None


def test_every_other_route_refuses_a_session(api, channel):
    token = _open(api, channel.a)["token"]
    for method, path in (
        ("GET", "/stock"),
        ("GET", "/shipments"),
        ("GET", "/alerts"),
        ("POST", "/scanner/sessions"),
        ("GET", f"/organisations/{channel.a_org}"),
    ):
        response = api.request(method, path, headers=auth(token))
        assert response.status_code == 403, (path, response.text)
        assert response.json()["error"] == "scanner_session_scope"
    # A consumer-session route does not take it either.
    assert api.get("/account", headers=auth(token)).status_code == 401


def test_only_scanning_roles_open_a_session(api, channel, keys):
    for key in (keys.brand, keys.admin):
        response = api.post("/scanner/sessions", headers=auth(key))
        assert response.status_code == 403, response.text
        assert response.json()["error"] == "permission_denied"
    assert api.post("/scanner/sessions").status_code == 401
    assert _open(api, channel.factory)["token"].startswith("tcs_")
    assert _open(api, channel.s1)["token"].startswith("tcs_")


def test_sign_out_ends_the_session(api, channel):
    token = _open(api, channel.s1)["token"]
    other = _open(api, channel.s1)["token"]
    assert _observe(api, token, channel, channel.s1_site) == 200
    assert api.delete("/scanner/sessions/current", headers=auth(token)).status_code == 204
    ended = api.get("/me", headers=auth(token))
    assert ended.status_code == 401 and ended.json()["error"] == "invalid_scanner_session"
    assert _observe(api, token, channel, channel.s1_site) == 401
    assert api.delete("/scanner/sessions/current", headers=auth(token)).status_code == 401
    # Another device's session of the same key goes on; the key itself cannot be "signed out".
    assert api.get("/me", headers=auth(other)).status_code == 200
    assert api.delete("/scanner/sessions/current", headers=auth(channel.s1)).status_code == 401


def test_revoking_the_key_ends_its_sessions(api, channel, keys):
    token = _open(api, channel.a)["token"]
    assert _observe(api, token, channel, channel.a_site) == 200
    key_id = channel.a.split("_")[1]
    revoked = api.post(f"/api-keys/{key_id}/revoke", headers=auth(keys.admin))
    assert revoked.status_code == 200, revoked.text
    response = api.get("/me", headers=auth(token))
    assert response.status_code == 401 and response.json()["error"] == "invalid_scanner_session"
    assert _observe(api, token, channel, channel.a_site) == 401


def test_a_session_whose_key_was_revoked_is_refused_even_if_still_marked_live(
    api, channel, keys, container
):
    """Checked at use: the key's revocation counts even where the session row says live."""
    token = _open(api, channel.a)["token"]
    key_id = channel.a.split("_")[1]
    assert api.post(f"/api-keys/{key_id}/revoke", headers=auth(keys.admin)).status_code == 200
    with container.uow_factory.sessions() as s:
        s.execute(text("UPDATE scanner_sessions SET ended_at = NULL"))
        s.commit()
    assert api.get("/me", headers=auth(token)).status_code == 401


def test_an_expired_session_is_refused(api, channel, container):
    token = _open(api, channel.a)["token"]
    with container.uow_factory.sessions() as s:
        s.execute(
            text("UPDATE scanner_sessions SET expires_at = :t"),
            {"t": datetime(2020, 1, 1, tzinfo=UTC)},
        )
        s.commit()
    response = api.get("/me", headers=auth(token))
    assert response.status_code == 401 and response.json()["error"] == "invalid_scanner_session"
    assert _observe(api, token, channel, channel.a_site) == 401


def test_a_forged_or_tampered_token_is_refused(api, channel):
    token = _open(api, channel.a)["token"]
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
    for bad in (tampered, "tcs_0123456789abcdef_" + "x" * 43, "tcs_nonsense"):
        response = api.get("/me", headers=auth(bad))
        assert response.status_code == 401, bad
        assert response.json()["error"] == "invalid_scanner_session"


def test_the_session_paths_name_only_their_own_methods(api):
    """``/scanner/sessions`` is not taken for one of the scanner page's files."""
    response = api.get("/scanner/sessions")
    assert response.status_code == 405 and response.headers["allow"] == "POST"
    response = api.get("/scanner/sessions/current")
    assert response.status_code == 405 and response.headers["allow"] == "DELETE"
    assert api.get("/scanner/scanner.js").status_code == 200
    assert api.get("/scanner/other.js").json()["error"] == "not_found"
