"""`POST /webhooks/github` and `POST /webhooks/jira`: an issue closed or reopened in the tracker
updates its action item (docs/trackers.md).

A small WSGI application that bot/slack_wsgi.py mounts beside `/slack/events`. Each delivery is
checked in this order, and each failure changes nothing:

1. the path names the configured tracker (else 404), the method is POST (else 405), the body is at
   most MAX_BODY_BYTES (else 413, before it is read);
2. the signature over the raw bytes, by the tracker's `verify_webhook` (else 401);
3. GitHub's `ping` is answered 200;
4. the tracker's `webhook_change` says which issue is now open or closed (anything else: 202; an
   issue event whose fields have the wrong type, such as a null repository name or a changelog
   that is a list: 400 and one log line);
5. in one transaction, the delivery id is remembered (`webhook_delivery`; seen before: 200, nothing
   changes) and the change is applied to the item (bot.actions.apply_tracker_change), which never sends it
   back to the tracker.
"""

from __future__ import annotations

import hashlib
import json
import logging
from http import HTTPStatus
from urllib.parse import parse_qsl

from bot.services import Services
from bot.actions import apply_tracker_change
from storage import webhooks
from storage.db import DatabaseUnavailable

log = logging.getLogger(__name__)

PREFIX = "/webhooks/"
SOURCES = ("github", "jira")
# An `issues` delivery is a few tens of kilobytes (the issue, the repository, the sender); Jira's
# issue_updated carries every field of the issue. A megabyte is plenty, and bounds what is read.
MAX_BODY_BYTES = 1 << 20


class Webhooks:
    def __init__(self, services: Services):
        self.services = services

    def __call__(self, environ, start_response):
        status, answer = self.answer(environ)
        body = json.dumps(answer, separators=(",", ":")).encode()
        start_response(f"{status.value} {status.phrase}", [("Content-Type", "application/json"),
                                                            ("Content-Length", str(len(body)))])
        return [body]

    def answer(self, environ) -> tuple[HTTPStatus, dict]:
        source = environ.get("PATH_INFO", "")[len(PREFIX):].strip("/")
        tracker = self.services.tracker()
        if source not in SOURCES or tracker is None or tracker.name != source:
            return HTTPStatus.NOT_FOUND, {"ok": False, "error": f"no {source or 'such'} tracker is configured here"}
        if environ.get("REQUEST_METHOD") != "POST":
            return HTTPStatus.METHOD_NOT_ALLOWED, {"ok": False, "error": "POST only"}
        length = _content_length(environ)
        if length is None or length > MAX_BODY_BYTES:
            return HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"ok": False, "error": "body too large or of unknown length"}
        raw = environ["wsgi.input"].read(length) if length else b""
        headers = {key[5:].replace("_", "-").lower(): value for key, value in environ.items()
                   if key.startswith("HTTP_")}
        if environ.get("CONTENT_TYPE"):
            headers["content-type"] = environ["CONTENT_TYPE"]
        return self.handle(source, tracker, headers, raw)

    def handle(self, source: str, tracker, headers: dict[str, str], raw: bytes) -> tuple[HTTPStatus, dict]:
        if not tracker.verify_webhook(headers, raw):
            log.warning("refused a %s webhook delivery with a missing or wrong signature", source)
            return HTTPStatus.UNAUTHORIZED, {"ok": False, "error": "invalid signature"}
        body = _json_body(headers.get("content-type", ""), raw)
        if body is None:
            return HTTPStatus.BAD_REQUEST, {"ok": False, "error": "the body is not a JSON object"}
        if headers.get("x-github-event") == "ping":
            return HTTPStatus.OK, {"ok": True, "result": "pong"}
        try:
            change = tracker.webhook_change(headers, body)
        except (AttributeError, KeyError, TypeError, ValueError) as exc:  # signed, but oddly shaped
            log.warning("refused a signed %s webhook delivery shaped unlike an issue event: %s", source, exc)
            return HTTPStatus.BAD_REQUEST, {"ok": False, "error": f"not an issue event as {source} sends it: "
                                                                 "nothing was changed"}
        if change is None:
            return HTTPStatus.ACCEPTED, {"ok": True, "result": "ignored"}
        delivery = change.delivery_id or "sha256:" + hashlib.sha256(raw).hexdigest()
        now = self.services.now()
        try:
            with self.services.db.write() as session:
                if not webhooks.remember_delivery(session, source, delivery, now):
                    return HTTPStatus.OK, {"ok": True, "result": "already applied"}
                outcome = apply_tracker_change(session, tracker.name, change.key, change.state, change.reason, now)
        except DatabaseUnavailable as exc:
            log.warning("%s webhook not applied, database unavailable: %s", source, exc)
            return HTTPStatus.SERVICE_UNAVAILABLE, {"ok": False, "error": "database unavailable; redeliver later"}
        log.info("%s webhook: issue %s %s: %s", source, change.key, change.state, outcome)
        return HTTPStatus.OK, {"ok": True, "result": outcome}


def _content_length(environ) -> int | None:
    try:
        return max(0, int(environ.get("CONTENT_LENGTH") or 0))
    except ValueError:
        return None


def _json_body(content_type: str, raw: bytes) -> dict | None:
    """The delivery as a dict: a JSON body, or GitHub's form-encoded `payload=<json>`."""
    try:
        text = raw.decode("utf-8")
        if content_type.startswith("application/x-www-form-urlencoded"):
            text = dict(parse_qsl(text)).get("payload", "")
        data = json.loads(text)
    except (UnicodeDecodeError, ValueError):
        return None
    return data if isinstance(data, dict) else None
