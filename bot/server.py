"""Runners: HTTP (gunicorn, one process with a thread pool) and Socket Mode, plus /healthz.

`Runtime` is one process's moving parts: the database, the Bolt app, the outbox drainer and the
reminder scheduler. Several processes are several replicas; nothing that matters lives only in one
of them.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import Callable
from datetime import datetime
from urllib.parse import parse_qsl

from slack_bolt import App, BoltRequest, BoltResponse
from slack_bolt.context import BoltContext
from slack_bolt.request.internals import build_context

from bot.config import Settings
from bot.services import Services, build_services, system_clock
from storage.db import Database, DatabaseUnavailable

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1 << 20
# Threads hand the GIL over after this long (CPython's default is 5 ms). A request thread that waits on
# the database gets the interpreter back sooner, so short requests are not queued behind long ones.
SWITCH_INTERVAL_S = 0.0005


# ---------------------------------------------------------------------------------------------
# requests into Bolt


class SlackRequest(BoltRequest):
    """A BoltRequest that parses form bodies correctly.

    Bolt treats any form body containing the substring "payload" as an interactivity payload, so
    `/incident log payload service down` would dispatch as an empty request (404, "dispatch_failed").
    Here a form body is a payload only when it has a `payload` field.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
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
    return app.dispatch(SlackRequest(body=body, query=query, headers=headers))


def wsgi_app(app: App, db: Database) -> Callable:
    """The WSGI application: POST /slack/events for Slack, GET /healthz for load balancers."""

    def application(environ, start_response):
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        if path == "/healthz":
            healthy = db.ping()
            status = "200 OK" if healthy else "503 Service Unavailable"
            body = b'{"ok":true}' if healthy else b'{"ok":false,"error":"database not answering"}'
            start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        if path != "/slack/events":
            return _plain(start_response, "404 Not Found", b"not found")
        if method != "POST":
            return _plain(start_response, "405 Method Not Allowed", b"POST only")
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > MAX_BODY_BYTES:
            return _plain(start_response, "413 Payload Too Large", b"too large")
        raw = environ["wsgi.input"].read(length) if length else b""
        headers = {key[5:].replace("_", "-").lower(): value for key, value in environ.items() if key.startswith("HTTP_")}
        if environ.get("CONTENT_TYPE"):
            headers["content-type"] = environ["CONTENT_TYPE"]
        response = dispatch(app, raw.decode("utf-8", errors="replace"), headers, environ.get("QUERY_STRING", ""))
        payload = (response.body or "").encode("utf-8")
        response_headers = [(name, value) for name, values in response.headers.items() for value in values
                            if name.lower() != "content-length"]
        response_headers.append(("Content-Length", str(len(payload))))
        start_response(f"{response.status} {_REASONS.get(response.status, 'Status')}", response_headers)
        return [payload]

    return application


_REASONS = {200: "OK", 302: "Found", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 500: "Internal Server Error"}


def _plain(start_response, status: str, body: bytes):
    start_response(status, [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


# ---------------------------------------------------------------------------------------------
# one process


class Runtime:
    def __init__(self, settings: Settings, clock: Callable[[], datetime] = system_clock):
        from bot import capture, jobs
        from bot.app import build_app
        from bot.outbox import Outbox

        self.settings = settings
        self.db = Database(settings.database_url, pool_size=min(settings.web_threads + 4, 40))
        self.services: Services = build_services(settings, self.db, clock)
        handlers = jobs.handlers(self.services)
        self.outbox = Outbox(self.db, handlers, clock, on_give_up=jobs.report_give_up(self.services),
                             outage=self.services.outage, after_outage=lambda: capture.after_outage(self.services),
                             lanes=jobs.LANES)
        self.db.on_jobs_committed = self.outbox.wake
        self.app = build_app(self.services)
        self.scheduler = None
        self._stopped = False

    def start_background(self) -> None:
        from bot import capture

        try:  # what was said while no process was serving (a restart, a deploy) comes from history
            capture.queue_catch_up(self.services)
        except DatabaseUnavailable:  # the outbox catches up once the database answers
            self.services.outage.began(self.services.now())
        self.outbox.start()
        if self.settings.reminders_enabled and self.scheduler is None:
            from bot import reminders

            self.scheduler = reminders.start_scheduler(self.services)

    def stop_background(self) -> None:
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=True)
            self.scheduler = None
        self.outbox.stop()

    def close(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self.stop_background()
        self.db.dispose()


# ---------------------------------------------------------------------------------------------
# HTTP mode


def run_http(settings: Settings, make_wsgi: Callable[[], Callable] | None = None, *, on_exit=None) -> None:
    """Serve with gunicorn: one worker process, `WEB_THREADS` threads, graceful SIGTERM."""
    from gunicorn.app.base import BaseApplication

    state: dict = {}

    def load():
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        if make_wsgi is not None:
            return make_wsgi()
        runtime = Runtime(settings)
        state["runtime"] = runtime
        return wsgi_app(runtime.app, runtime.db)

    def post_worker_init(worker):
        runtime = state.get("runtime")
        if runtime is not None:
            runtime.start_background()
            log.info("incident-bot listening on port %s (HTTP mode, %s threads)", settings.port, settings.web_threads)

    def worker_exit(server, worker):
        runtime = state.pop("runtime", None)
        if runtime is not None:
            runtime.close()
            log.info("incident-bot stopped cleanly")

    options = {
        "bind": f"0.0.0.0:{settings.port}",
        "workers": 1,
        "worker_class": "gthread",
        "threads": settings.web_threads,
        "timeout": 30,
        "graceful_timeout": 20,
        "keepalive": 75,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": settings.log_level.lower(),
        "post_worker_init": post_worker_init,
        "worker_exit": worker_exit,
        "proc_name": "incident-bot",
    }
    if "control_socket_disable" in _gunicorn_settings():
        options["control_socket_disable"] = True  # replicas on one host would share its path

    class Server(BaseApplication):
        def load_config(self):
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self):
            return load()

    Server().run()


def _gunicorn_settings() -> set[str]:
    from gunicorn.config import KNOWN_SETTINGS

    return {setting.name for setting in KNOWN_SETTINGS}


# ---------------------------------------------------------------------------------------------
# Socket Mode


def run_socket_mode(settings: Settings, stop: threading.Event | None = None) -> None:
    """Connect over Socket Mode and serve until SIGTERM/SIGINT (or `stop` is set)."""
    from slack_bolt.adapter.socket_mode import SocketModeHandler
    from slack_sdk import WebClient

    runtime = Runtime(settings)
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
    handler = SocketModeHandler(
        runtime.app,
        app_token=settings.slack_app_token.get_secret_value(),
        web_client=WebClient(base_url=settings.slack_api_url, timeout=10),
        concurrency=settings.web_threads,
        logger=logging.getLogger("bot.socket_mode"),
    )
    runtime.start_background()
    try:
        handler.connect()
        log.info("incident-bot connected (Socket Mode)")
        stop.wait()
    finally:
        log.info("incident-bot stopping")
        handler.close()
        runtime.close()
        log.info("incident-bot stopped cleanly")
