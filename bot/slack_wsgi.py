"""The WSGI application: `POST /slack/events` into Bolt, `GET /healthz` for load balancers, the
tracker webhooks under `/webhooks/` (bot/webhooks.py) when a tracker is configured, and every other
path to the web view (bot/web/, when one is given).

It is Bolt's own WSGI adapter with three things added, each for a reason:
- form bodies are parsed by `SlackRequest` (Bolt's "payload" substring bug, see below);
- a request whose `X-Slack-Request-Timestamp` is not a number is refused (401) before Bolt sees it:
  Bolt's signature check calls `int()` on it and the ValueError becomes a 500 with a traceback;
- the body is read with a size limit and decoded leniently (Bolt's adapter decodes strictly, so one
  stray byte would be a 500 too).
"""

from __future__ import annotations

import json
import logging
from http import HTTPStatus
from urllib.parse import parse_qsl

from slack_bolt import App, BoltRequest, BoltResponse
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_bolt.adapter.wsgi.http_request import WsgiHttpRequest
from slack_bolt.context import BoltContext
from slack_bolt.request.internals import build_context, parse_body

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1 << 20
EVENTS_PATH = "/slack/events"
HEALTH_PATH = "/healthz"
WEBHOOKS_PREFIX = "/webhooks/"


class SlackRequest(BoltRequest):
    """A BoltRequest that parses form bodies correctly.

    Bolt treats any form body containing the substring "payload" as an interactivity payload, so
    `/incident log payload service down` would dispatch as an empty request (404, "dispatch_failed").
    Here a form body is a payload only when it has a `payload` field.
    """

    def __init__(self, **kwargs):
        try:
            super().__init__(**kwargs)
        except (TypeError, AttributeError, KeyError):
            # Bolt reads ids for its context assuming Slack's shapes, and a field of another type
            # (`"message": {"user": false}`) raises there, before the signature is even checked. Read the
            # request with the body hidden from those readers: the context has no ids, the signature is
            # checked against the body as sent, and the listeners, which check what they use, see it.
            body = kwargs["body"]
            super().__init__(**{**kwargs, "body": "" if isinstance(body, str) else {}})
            self.raw_body = body if isinstance(body, str) else ""
            self.body = parse_body(body, self.content_type) if isinstance(body, str) else body
        if self.mode == "http" and "payload" in self.raw_body and not self.raw_body.lstrip().startswith("{"):
            fields = dict(parse_qsl(self.raw_body, keep_blank_values=True))
            if "payload" not in fields and self.body != fields:
                self.body = fields
                self.context = build_context(BoltContext(dict(kwargs.get("context") or {})), self.body)

    def to_copyable(self) -> BoltRequest:
        copy = super().to_copyable()
        copy.body, copy.context = self.body, self.context.to_copyable()
        return copy


def dispatch(app: App, body: str, headers: dict[str, str], query: str = "") -> BoltResponse:
    if not _numeric(headers.get("x-slack-request-timestamp")):
        log.info("refused a request whose X-Slack-Request-Timestamp is not a number")
        return BoltResponse(status=401, body={"error": "invalid request"})
    return app.dispatch(SlackRequest(body=body, query=query, headers=headers))


def _numeric(value: str | None) -> bool:
    """A missing timestamp is Bolt's to refuse (it does, with 401); a present one must be an integer."""
    if value is None:
        return True
    try:
        int(value)
    except ValueError:
        return False
    return True


class SlackWSGI(SlackRequestHandler):
    """Bolt's WSGI adapter, plus /healthz, 405 and 413, and the fixes listed at the top of this module.

    `web` (a WSGI app, bot.web.create_app) answers every path that is not Slack's or /healthz.
    `events=False` (Socket Mode, where events arrive over the WebSocket and there may be no signing
    secret to check a request with) leaves /slack/events to the web view, which answers 404.
    """

    def __init__(self, app: App, db, webhooks=None, web=None, events: bool = True):
        super().__init__(app, EVENTS_PATH)
        self.db = db
        self.webhooks = webhooks
        self.web = web
        self.events = events

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if self.webhooks is not None and path.startswith(WEBHOOKS_PREFIX):
            return self.webhooks(environ, start_response)
        if path == HEALTH_PATH:
            return self._health(start_response)
        if self.web is not None and (path != EVENTS_PATH or not self.events):
            return self.web(environ, start_response)
        if path == EVENTS_PATH and environ.get("REQUEST_METHOD") != "POST":
            return _plain(start_response, HTTPStatus.METHOD_NOT_ALLOWED, b"POST only")
        if _content_length(environ) > MAX_BODY_BYTES:
            return _plain(start_response, HTTPStatus.REQUEST_ENTITY_TOO_LARGE, b"too large")
        return super().__call__(environ, start_response)

    def dispatch(self, request: WsgiHttpRequest) -> BoltResponse:
        length = _content_length(request.environ)
        raw = request.environ["wsgi.input"].read(length) if length else b""
        return dispatch(self.app, raw.decode("utf-8", errors="replace"), request.get_headers(), request.query_string)

    def _health(self, start_response):
        healthy = self.db.ping()
        body = json.dumps({"ok": True} if healthy else {"ok": False, "error": "database not answering"},
                          separators=(",", ":")).encode()
        status = HTTPStatus.OK if healthy else HTTPStatus.SERVICE_UNAVAILABLE
        start_response(_status_line(status), [("Content-Type", "application/json"),
                                              ("Content-Length", str(len(body)))])
        return [body]


def wsgi_app(app: App, db, webhooks=None, web=None, events: bool = True) -> SlackWSGI:
    """The WSGI application for one Bolt app; `db` answers /healthz (anything with `ping()`), `webhooks`
    (bot.webhooks.Webhooks) /webhooks/github and /webhooks/jira, `web` the web view's paths, `events`
    whether /slack/events is served (not in Socket Mode)."""
    return SlackWSGI(app, db, webhooks, web, events)


def _content_length(environ) -> int:
    try:
        return max(0, int(environ.get("CONTENT_LENGTH") or 0))
    except ValueError:
        return 0


def _status_line(status: HTTPStatus) -> str:
    return f"{status.value} {status.phrase}"


def _plain(start_response, status: HTTPStatus, body: bytes):
    start_response(_status_line(status), [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
