"""Runners: HTTP (waitress, one process with a thread pool, bot/http_serving.py) and Socket Mode.

`Runtime` is one process's moving parts: the database, the Bolt app, the outbox drainer and the
reminder scheduler. Several processes are several replicas; nothing that matters lives only in one
of them.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable
from datetime import datetime

from bot.config import ConfigError, Settings
from bot.services import Services, build_services, system_clock
from bot.slack_wsgi import MAX_BODY_BYTES, wsgi_app
from storage.db import Database, DatabaseUnavailable

log = logging.getLogger(__name__)

# Threads hand the GIL over after this long (CPython's default is 5 ms). A request thread that waits on
# the database gets the interpreter back sooner, so short requests are not queued behind long ones.
SWITCH_INTERVAL_S = 0.0005


# ---------------------------------------------------------------------------------------------
# one process


class Runtime:
    def __init__(self, settings: Settings, clock: Callable[[], datetime] = system_clock):
        from bot import capture, jobs
        from bot.app import build_app
        from bot.outbox import Outbox
        from bot.web import create_app

        self.settings = settings
        self.db = Database(settings.database_url, pool_size=min(settings.web_threads + 4, 40))
        self.services: Services = build_services(settings, self.db, clock)
        handlers = jobs.handlers(self.services)
        self.outbox = Outbox(self.db, handlers, clock, on_give_up=jobs.report_give_up(self.services),
                             outage=self.services.outage, after_outage=lambda: capture.after_outage(self.services),
                             lanes=jobs.LANES, feeders=jobs.feeders(self.services))
        self.db.on_jobs_committed = self.outbox.wake
        self.app = build_app(self.services)
        from bot.webhooks import Webhooks

        self.webhooks = Webhooks(self.services)
        self.web = create_app(self.services, settings)  # the web view (bot/web/), off until configured
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
        self.services.close_tracker()
        self.db.dispose()


# ---------------------------------------------------------------------------------------------
# HTTP mode


def http_server(application: Callable, settings: Settings):
    """A waitress server bound to PORT, or one line saying the port cannot be used."""
    from bot.http_serving import HttpServer

    try:
        return HttpServer(application, port=settings.port, threads=settings.web_threads, max_body=MAX_BODY_BYTES)
    except OSError as exc:
        raise ConfigError(f"PORT {settings.port} cannot be used ({exc.strerror or exc}): "
                          "choose a free port or stop what holds it") from None


def run_http(settings: Settings, make_wsgi: Callable[[], Callable] | None = None) -> None:
    """Serve HTTP on PORT until SIGTERM/SIGINT (bot/http_serving.py); `make_wsgi` replaces the bot
    with another WSGI application (the benchmark's bare apps)."""
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    runtime = Runtime(settings) if make_wsgi is None else None
    application = make_wsgi() if runtime is None else wsgi_app(runtime.app, runtime.db, runtime.webhooks, web=runtime.web)
    try:
        server = http_server(application, settings)
    except ConfigError:
        if runtime is not None:
            runtime.close()
        raise
    if threading.current_thread() is threading.main_thread():
        server.stop_on_signals()
    if runtime is not None:
        runtime.start_background()
    log.info("incident-bot listening on port %s (HTTP mode, %s threads)", server.port, settings.web_threads)
    try:
        server.serve()
    finally:
        log.info("incident-bot stopping")
        if runtime is not None:
            runtime.close()
        log.info("incident-bot stopped cleanly")
