"""The real bot, in process: signed requests go through its WSGI app and Bolt's dispatch."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass

from bot.config import Settings
from bot.server import Runtime
from bot.slack_wsgi import wsgi_app
from tests.support import slack_requests as sr


@dataclass
class Response:
    status: int
    body: str
    headers: dict

    def json(self) -> dict:
        return json.loads(self.body) if self.body else {}


def call_wsgi(application, body: str, headers: dict, path: str = "/slack/events", method: str = "POST") -> Response:
    raw = body.encode("utf-8")
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "CONTENT_LENGTH": str(len(raw)),
        "CONTENT_TYPE": headers.get("content-type", ""),
        "wsgi.input": io.BytesIO(raw),
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80",
        "wsgi.url_scheme": "http",
        "SERVER_PROTOCOL": "HTTP/1.1",
    }
    for name, value in headers.items():
        if name.lower() != "content-type":
            environ["HTTP_" + name.upper().replace("-", "_")] = value
    captured: dict = {}

    def start_response(status, response_headers):
        captured["status"] = int(status.split()[0])
        captured["headers"] = {k.lower(): v for k, v in response_headers}

    chunks = application(environ, start_response)
    return Response(captured["status"], b"".join(chunks).decode("utf-8"), captured["headers"])


class Harness:
    def __init__(self, settings: Settings, standin, clock=None):
        self.settings = settings
        self.standin = standin
        self.runtime = Runtime(settings, clock) if clock else Runtime(settings)
        self.app = wsgi_app(self.runtime.app, self.runtime.db, self.runtime.webhooks, web=self.runtime.web)
        self.db = self.runtime.db
        self.services = self.runtime.services

    def post(self, body: str, headers: dict) -> Response:
        return call_wsgi(self.app, body, headers)

    def command(self, text: str, *, command: str = "/incident", **kwargs) -> dict:
        kwargs.setdefault("response_url", self.standin.response_url())
        body, headers = sr.slash_command(text, command=command, **kwargs)
        response = self.post(body, headers)
        assert response.status == 200, (response.status, response.body)
        return response.json()

    def text(self, text: str, **kwargs) -> str:
        return self.command(text, **kwargs)["text"]

    def event(self, event: dict, **kwargs) -> Response:
        body, headers = sr.event_request(event, **kwargs)
        return self.post(body, headers)

    def interact(self, payload: dict) -> Response:
        body, headers = sr.interactivity_request(payload)
        return self.post(body, headers)

    def drain(self) -> int:
        return self.runtime.outbox.drain()

    def timeline(self, number: int):
        from bot.timeline import load

        with self.db.read() as session:
            return load(session, number, self.settings.key_event_emoji)

    def incident(self, number: int):
        from storage import incidents

        with self.db.read() as session:
            return incidents.incident_by_number(session, number)

    def close(self) -> None:
        self.runtime.close()
