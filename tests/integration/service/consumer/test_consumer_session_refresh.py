"""Consumer sessions: a short-lived access token, refreshed with a rotating refresh token whose
reuse ends the session."""

from __future__ import annotations

from datetime import UTC, datetime

import jwt


def _sign_in(api, otp, destination: str = "+8613800138000") -> dict:
    sent = api.post("/accounts/codes", json={"destination": destination})
    assert sent.status_code == 202, sent.text
    opened = api.post(
        "/accounts/sessions",
        json={"challenge_id": sent.json()["challenge_id"], "code": otp.last(destination)},
    )
    assert opened.status_code == 201, opened.text
    return dict(opened.json())


def _bearer(tokens: dict) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['token']}"}


def _refresh(api, refresh_token: str):
    return api.post("/accounts/sessions/refresh", json={"refresh_token": refresh_token})


def test_the_access_token_lives_an_hour_and_the_session_thirty_days(api, otp):
    opened = _sign_in(api, otp)
    claims = jwt.decode(opened["token"], options={"verify_signature": False})
    now = datetime.now(UTC).timestamp()
    assert 3600 - 120 <= claims["exp"] - now <= 3600 + 5
    access = datetime.fromisoformat(opened["expires_at"]).timestamp()
    assert abs(access - claims["exp"]) <= 1
    session = datetime.fromisoformat(opened["refresh_expires_at"]).timestamp()
    assert 30 * 86400 - 3600 <= session - now <= 30 * 86400 + 3600
    assert api.get("/account", headers=_bearer(opened)).status_code == 200


def test_a_refresh_rotates_both_tokens_and_the_new_ones_work(api, otp):
    opened = _sign_in(api, otp)
    renewed = _refresh(api, opened["refresh_token"])
    assert renewed.status_code == 200, renewed.text
    body = renewed.json()
    assert body["refresh_token"] != opened["refresh_token"]
    assert api.get("/account", headers=_bearer(body)).status_code == 200
    again = _refresh(api, body["refresh_token"])
    assert again.status_code == 200, again.text


def test_a_spent_refresh_token_sent_again_ends_the_session(api, otp):
    opened = _sign_in(api, otp)
    renewed = _refresh(api, opened["refresh_token"]).json()
    reused = _refresh(api, opened["refresh_token"])
    assert reused.status_code == 401
    assert (
        reused.json()["error"] == "invalid_session" and "Sign in again" in reused.json()["detail"]
    )
    # Both holders are out: the latest access token and the latest refresh token.
    assert api.get("/account", headers=_bearer(renewed)).status_code == 401
    assert _refresh(api, renewed["refresh_token"]).status_code == 401


def test_no_refresh_after_sign_out_or_with_a_forged_token(api, otp):
    opened = _sign_in(api, otp)
    assert api.delete("/accounts/sessions/current", headers=_bearer(opened)).status_code == 204
    assert _refresh(api, opened["refresh_token"]).status_code == 401
    other = _sign_in(api, otp, "+8613800138001")
    session_id = other["refresh_token"].split(".")[0]
    forged = _refresh(api, f"{session_id}.not-the-secret")
    assert forged.status_code == 401
    # A forged token counts as a reuse: the session it names is ended.
    assert api.get("/account", headers=_bearer(other)).status_code == 401
    assert _refresh(api, "no-dot").status_code == 401
