"""The web view: browse, read, curate and compare incidents (docs/web.md).

`create_app(services, settings)` builds a Flask app that bot/slack_wsgi.py mounts beside
`/slack/events` and `/healthz`, in HTTP mode and in Socket Mode alike. Flask, because it is a plain
WSGI app (the same waitress server and thread pool as Bolt's adapter), renders with Jinja2 (already
how drafts are rendered) with HTML autoescaping on, and keeps a signed-cookie session without a
server-side store, so replicas need nothing shared but the database.

Modules: `sessions` (cookie and CSRF), `oidc` and `auth` (Sign in with Slack), `visibility` (private
channels), `viewing` (the viewer, times, names), `charts` (SVG drawn on the server), and the pages:
`incident_pages`, `action_pages`, `insight_pages`, `curation_forms`.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from flask import Flask, g, render_template, request
from werkzeug.exceptions import HTTPException
from werkzeug.routing import IntegerConverter

from bot.config import Settings
from bot.services import Services
from bot.web import sessions
from bot.visibility import Visibility
from storage.db import DatabaseUnavailable

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
OPEN_PATHS = ("/login", "/auth/slack/callback", "/logout", "/signed-out", "/static/")
CSP = ("default-src 'none'; script-src 'none'; style-src 'self'; img-src 'self' data:; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
HOW_TO_TURN_ON = ("The web view is off. To turn it on, set SLACK_CLIENT_ID, SLACK_CLIENT_SECRET and WEB_BASE_URL "
                  "for Sign in with Slack (docs/web.md), or WEB_AUTH=none to open it without sign-in on a "
                  "trusted network, and restart the bot.")
NO_AUTH_WARNING = ("WEB_AUTH=none: the web view is open to anyone who can reach this port, without sign-in; "
                   "use it only on a trusted network")


class BoundedInt(IntegerConverter):
    """`<int:...>` in a path: a number the database can hold (a larger one is no page: 404, never a 500)."""

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


MAX_ID = 2_147_483_647  # the largest INTEGER in PostgreSQL


@dataclass
class Web:
    """What every page shares: the bot's services and settings, and who-sees-what."""

    services: Services
    settings: Settings
    visibility: Visibility
    _team_id: str | None = field(default=None, repr=False)
    _keys: object | None = field(default=None, repr=False)

    def signing_keys(self):
        """Slack's published id-token keys (bot.web.oidc.Keys), fetched when first needed."""
        if self._keys is None:
            from bot.web import oidc

            self._keys = oidc.Keys(self.settings)
        return self._keys

    def team_id(self) -> str | None:
        """The bot's workspace (auth.test's team_id), asked once."""
        if self._team_id is None:
            from slack_sdk.errors import SlackApiError, SlackClientError

            try:
                self._team_id = self.services.slack.auth_test().get("team_id") or None
            except (SlackApiError, SlackClientError, OSError):
                return None
        return self._team_id


def create_app(services: Services, settings: Settings) -> Flask:
    from bot.web import action_pages, auth, curation_forms, incident_pages, insight_pages, viewing

    app = Flask(__name__, template_folder=str(HERE / "templates"), static_folder=str(HERE / "static"),
                static_url_path="/static")
    sessions.configure(app, settings)
    app.config["MAX_CONTENT_LENGTH"] = 1 << 20
    web = Web(services, settings, services.visibility())
    app.extensions["incident_bot"] = web
    if settings.web_auth == "none":
        log.warning(NO_AUTH_WARNING)

    @app.before_request
    def _gate():
        if request.path.startswith("/static/") or request.url_rule is None:
            return None  # (no route: 404)
        if not settings.web_enabled:
            return render_template("message.html", title="Web view off", message=HOW_TO_TURN_ON, viewer=None), 503
        if request.method == "POST":
            sessions.check_csrf()
        return viewing.load_viewer(web, open_path=request.path.startswith(OPEN_PATHS))

    @app.teardown_request
    def _learn(_exc):
        viewing.learn_names(web)

    @app.after_request
    def _headers(response):
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        if not request.path.startswith("/static/"):
            response.headers["Cache-Control"] = "no-store"
        return response

    @app.context_processor
    def _shared():
        viewer = g.get("viewer")
        return {"viewer": viewer, "csrf_token": sessions.csrf_token, "no_auth": settings.web_auth == "none",
                "slack_trouble": web.visibility.trouble(viewer.user_id if viewer else None),
                "no_auth_warning": NO_AUTH_WARNING, "sign_in": settings.sign_in_enabled}

    @app.errorhandler(DatabaseUnavailable)
    def _database(exc):
        log.warning("web page %s: database not answering: %s", request.path, exc)
        return render_template("message.html", title="Database not answering",
                               message="The database is not answering right now: reload the page in a moment."), 503

    @app.errorhandler(HTTPException)
    def _http(exc):
        messages = {404: "There is nothing here (or you may not see it).",
                    405: "This page cannot be used that way."}
        message = exc.description if exc.code in (400, 403) else messages.get(exc.code, exc.description)
        return render_template("message.html", title=f"{exc.code} {exc.name}", message=message), exc.code

    @app.errorhandler(Exception)
    def _crash(exc):
        reference = uuid.uuid4().hex[:8]
        log.exception("web page %s failed (reference %s)", request.path, reference)
        return render_template("message.html", title="Something went wrong",
                               message=f"Something went wrong on our side (reference {reference}). "
                                       "Reload the page; if it keeps failing, tell whoever runs the bot."), 500

    app.url_map.converters["int"] = BoundedInt  # before the routes: every <int:...> is one
    for blueprint in (auth.blueprint, incident_pages.blueprint, action_pages.blueprint, insight_pages.blueprint,
                      curation_forms.blueprint):
        app.register_blueprint(blueprint)
    viewing.register_filters(app)
    return app


def web_of(app: Flask | None = None) -> Web:
    from flask import current_app

    return (app or current_app).extensions["incident_bot"]
