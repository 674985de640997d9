"""The web view's session (a signed cookie) and its CSRF token.

The session is Flask's: the cookie holds a few values (who signed in, the CSRF token, the UTC
switch, when they signed in) signed with HMAC under a key no browser sees; a changed cookie is
ignored. It is HttpOnly, SameSite=Lax and Secure when WEB_BASE_URL is https.

A session ends `LIFETIME` after sign-in, however often the cookie is written again since (a UTC
switch, a flashed line): every request checks the sign-in time the session holds (wall-clock
seconds, as the cookie's own signature). Signing out is real: the time is kept in the database
(storage/web_sessions.py), and every session of that person begun before it is over, a copied
cookie included (so signing out in one browser signs you out in all of them).

The key is WEB_SESSION_SECRET when it is set. Otherwise it is derived with HKDF-SHA256 from
SLACK_CLIENT_SECRET (which sign-in needs anyway), or with WEB_AUTH=none from SLACK_BOT_TOKEN: every
replica derives the same key, so a session works on any of them and survives a restart, and no
extra secret has to be distributed. HKDF with its own `info` label makes a key that reveals nothing
about the secret it came from. Rotating the client secret signs everyone out.

Every POST carries the session's CSRF token in a hidden field (`csrf_token`); one without it, or
with another, is refused before anything is read or changed.
"""

from __future__ import annotations

import hmac
import secrets
import time
from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import Flask, abort, request, session

from bot.config import Settings
from storage import web_sessions

LIFETIME = timedelta(hours=12)
COOKIE = "incident_bot_session"
CSRF_FIELD = "csrf_token"
HKDF_INFO = b"incident-bot web session key v1"


def session_key(settings: Settings) -> bytes:
    if settings.web_session_secret is not None:
        source = settings.web_session_secret.get_secret_value().encode()
    elif settings.slack_client_secret is not None:
        source = settings.slack_client_secret.get_secret_value().encode()
    elif settings.slack_bot_token is not None:
        source = settings.slack_bot_token.get_secret_value().encode()
    else:  # no secret at all (a test without tokens): sessions last as long as the process
        return secrets.token_bytes(32)
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=HKDF_INFO).derive(source)


def configure(app: Flask, settings: Settings) -> None:
    app.secret_key = session_key(settings)
    app.config.update(
        SESSION_COOKIE_NAME=COOKIE,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=bool(settings.web_base_url and settings.web_base_url.startswith("https://")),
        PERMANENT_SESSION_LIFETIME=LIFETIME,
        SESSION_REFRESH_EACH_REQUEST=False,  # the session ends LIFETIME after sign-in, however busy
    )


def csrf_token() -> str:
    token = session.get("csrf")
    if not token:
        token = session["csrf"] = secrets.token_urlsafe(32)
        session.permanent = True
    return token


def check_csrf() -> None:
    """Refuse (403) a state-changing request without the session's token."""
    expected = session.get("csrf")
    given = request.form.get(CSRF_FIELD, "")
    if not expected or not hmac.compare_digest(str(given), str(expected)):
        abort(403, description="This form has expired or did not come from this site: reload the page and try again.")


def start(user_id: str, team_id: str, name: str | None) -> None:
    """A fresh session for someone who just signed in (nothing of the one before is kept)."""
    utc = session.get("utc", False)
    session.clear()
    session.update({"uid": user_id, "team": team_id, "name": name or user_id, "utc": utc,
                    "csrf": secrets.token_urlsafe(32), "at": time.time()})
    session.permanent = True


def signed_in_user(db) -> str | None:
    """Who this session belongs to, while it lasts: None when nobody signed in, or when the session
    is older than LIFETIME or older than its person's last sign-out (then it is dropped)."""
    user_id, started = session.get("uid"), session.get("at")
    if user_id is None:
        return None
    if not isinstance(started, (int, float)) or not 0 <= time.time() - started < LIFETIME.total_seconds():
        _drop()
        return None
    with db.read() as s:
        out = web_sessions.last_sign_out(s, user_id)
    if out is not None and datetime.fromtimestamp(started, UTC) <= out:
        _drop()
        return None
    return user_id


def _drop() -> None:
    utc = session.get("utc", False)
    session.clear()
    if utc:
        session["utc"] = True


def end(db) -> None:
    """Sign out: this session and every other one the same person began before now."""
    user_id = session.get("uid")
    if user_id is not None:
        with db.write() as s:
            web_sessions.signed_out(s, user_id, datetime.fromtimestamp(time.time(), UTC))
    session.clear()
