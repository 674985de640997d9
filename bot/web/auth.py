"""Sign in with Slack: `GET /login`, `GET /auth/slack/callback`, `POST /logout`; and the UTC switch
(`POST /zone`), which lives in the same session."""

from __future__ import annotations

import hmac
import logging
import secrets
from urllib.parse import urlsplit

from flask import Blueprint, redirect, render_template, request, session, url_for

from bot.web import oidc, sessions

log = logging.getLogger(__name__)
blueprint = Blueprint("auth", __name__)


def _web():
    from bot.web import web_of

    return web_of()


def safe_next(target: str | None) -> str:
    """Where to go after sign-in (or a form): a path on this site only, never another site's URL.

    Browsers drop tabs and line breaks from a URL and read a backslash as a slash, so "/<tab>/evil.example/"
    would become `//evil.example/` (another site): a target with any control character, space or
    backslash is refused, as is anything with a scheme or a host, or not starting with a single "/"."""
    home = url_for("incidents.incident_list")
    if not target or any(ord(c) <= 0x20 or c == "\x7f" for c in target) or "\\" in target:
        return home
    try:
        parts = urlsplit(target)
    except ValueError:
        return home
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return home
    return target


@blueprint.get("/login")
def login():
    web = _web()
    if not web.settings.sign_in_enabled:
        return redirect(url_for("incidents.incident_list"))
    state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    session["oidc"] = {"state": state, "nonce": nonce, "next": safe_next(request.args.get("next"))}
    return redirect(oidc.authorize_url(web.settings, state, nonce))


GUESTS_REFUSED = ("The web view is for members of the workspace, not guests: it shows every incident in a public "
                  "channel, and Slack shows a guest only the channels they were invited to. Follow the incident in "
                  "its Slack channel instead.")


def is_guest(slack, user_id: str) -> bool | None:
    """Whether this person is a multi- or single-channel guest (users.info); None when Slack did not say."""
    from slack_sdk.errors import SlackApiError, SlackClientError

    try:
        user = slack.users_info(user=user_id).get("user") or {}
    except (SlackApiError, SlackClientError, OSError) as exc:
        log.warning("users.info for %s at sign-in failed: %s", user_id, type(exc).__name__)
        return None
    return bool(user.get("is_restricted") or user.get("is_ultra_restricted"))


def _failed(message: str, status: int = 400):
    return render_template("message.html", title="Sign-in failed", message=message, sign_in_again=True), status


@blueprint.get("/auth/slack/callback")
def callback():
    web = _web()
    if not web.settings.sign_in_enabled:
        return redirect(url_for("incidents.incident_list"))
    started = session.pop("oidc", None)
    if request.args.get("error"):
        return _failed(f"Slack did not sign you in ({request.args['error'][:60]}): sign in again to try once more.")
    code, state = request.args.get("code"), request.args.get("state", "")
    if not started or not code or not hmac.compare_digest(state, str(started.get("state"))):
        return _failed("This sign-in was not started in this browser, or it was used already: sign in again.")
    team_id = web.team_id()
    if team_id is None:
        return _failed("Slack did not say which workspace the bot is in: try signing in again in a minute.", 503)
    try:
        identity = oidc.verify(web.settings, web.signing_keys(), oidc.exchange(web.settings, code), started["nonce"], team_id)
    except oidc.SignInFailed as exc:
        log.info("sign-in refused: %s", exc)
        return _failed(str(exc))
    guest = is_guest(web.services.slack, identity.user_id)
    if guest is None:
        return _failed("Slack did not say whether you are a member of the workspace: sign in again in a minute.", 503)
    if guest:
        log.info("sign-in refused: %s is a guest of the workspace", identity.user_id)
        return render_template("message.html", title="Not for guests", message=GUESTS_REFUSED), 403
    sessions.start(identity.user_id, identity.team_id, identity.name)
    log.info("%s signed in to the web view", identity.user_id)
    return redirect(safe_next(started.get("next")))


@blueprint.post("/logout")
def logout():
    sessions.end(_web().services.db)
    return redirect(url_for("auth.signed_out"), code=303)


@blueprint.get("/signed-out")
def signed_out():
    return render_template("message.html", title="Signed out", message="You are signed out.", sign_in_again=True)


@blueprint.post("/zone")
def zone():
    session["utc"] = request.form.get("zone") == "utc"
    return redirect(safe_next(request.form.get("back")), code=303)
