"""Socket Mode: connect with the app-level token, serve until SIGTERM/SIGINT.

The log says "connected" only once Slack has accepted the connection: Slack's `hello` message, not
the end of the WebSocket handshake (slack-sdk's `connect()` returns even when the connection
failed; it logs the error and retries in the background). A start that cannot connect ends with
one line that says what to do, and exit status 2 for a setting (the app-level token) or 1 for a
failure (Slack not answering).
"""

from __future__ import annotations

import logging
import signal
import threading

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.config import ConfigError, Settings
from bot.start_checks import StartFailure, not_answering, quiet_client, reason

log = logging.getLogger("bot.server")
sdk_log = logging.getLogger("bot.socket_mode")

HELLO_TIMEOUT_S = 15
TOKEN_ERRORS = {"invalid_auth", "not_authed", "not_allowed_token_type", "token_revoked", "token_expired",
                "account_inactive", "missing_scope"}


def connection_url(settings: Settings) -> str:
    """A Socket Mode URL from apps.connections.open, or one line saying what to do."""
    client = quiet_client(settings, settings.slack_app_token.get_secret_value())
    try:
        return client.apps_connections_open(app_token=client.token)["url"]
    except SlackApiError as exc:
        error = (exc.response or {}).get("error")
        if error in TOKEN_ERRORS:
            raise ConfigError(
                f"SLACK_APP_TOKEN was rejected by Slack ({error}): under Basic Information → App-Level Tokens, "
                "create a token with the connections:write scope and set SLACK_APP_TOKEN to it") from None
        raise StartFailure(f"Slack refused a Socket Mode connection ({error}): try again in a minute") from None
    except (SlackClientError, OSError) as exc:
        raise not_answering(settings, exc) from None


def run_socket_mode(settings: Settings, stop: threading.Event | None = None) -> None:
    """Connect over Socket Mode and serve until SIGTERM/SIGINT (or `stop` is set).

    PORT serves HTTP too, for `/healthz` and the web view (no `/slack/events`: Slack's requests come
    over the WebSocket)."""
    from bot.server import Runtime, http_server
    from bot.slack_wsgi import wsgi_app

    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
    runtime = Runtime(settings)
    try:
        server = http_server(wsgi_app(runtime.app, runtime.db, runtime.webhooks, web=runtime.web, events=False), settings)
    except BaseException:
        runtime.close()
        raise
    handler = _handler(settings, runtime)
    try:
        _connect(handler, settings)
    except BaseException:
        server.stop()
        server.serve()  # closes the listening socket at once
        runtime.close()
        raise
    log.info("incident-bot connected (Socket Mode)")
    serving = threading.Thread(target=server.serve, name="http", daemon=True)
    serving.start()
    log.info("incident-bot listening on port %s (/healthz and the web view)", server.port)
    runtime.start_background()
    try:
        stop.wait()
    finally:
        log.info("incident-bot stopping")
        handler.close()
        server.stop()
        serving.join(timeout=30)
        runtime.close()
        log.info("incident-bot stopped cleanly")


def _handler(settings: Settings, runtime):
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    return SocketModeHandler(
        runtime.app,
        app_token=settings.slack_app_token.get_secret_value(),
        web_client=WebClient(base_url=settings.slack_api_url, timeout=10),
        concurrency=settings.web_threads,
        logger=sdk_log,
    )


def _connect(handler, settings: Settings) -> None:
    """Open the connection and wait for Slack's `hello`; raise ConfigError or StartFailure if not.

    Until then the SDK's own log lines are held back (it logs each failed attempt and reconnects in
    the background); on success they are dropped, on failure the last one becomes the reason given,
    and they stay held while the process stops.
    """
    hello, failed = threading.Event(), []
    handler.client.message_listeners.append(lambda _c, message, _r: message.get("type") == "hello" and hello.set())
    handler.client.on_error_listeners.append(lambda error: (failed.append(error), hello.set()))
    held = _Held()
    sdk_log.addFilter(held)
    try:
        handler.client.wss_uri = connection_url(settings)
        handler.connect()
        hello.wait(HELLO_TIMEOUT_S)
    except BaseException:
        handler.close()
        raise
    if failed or not hello.is_set():
        handler.close()
        why = reason(failed[0]) if failed else held.last or f"no hello within {HELLO_TIMEOUT_S} s"
        raise StartFailure(f"Slack did not accept the Socket Mode connection ({why}): "
                           "check the network (outbound WebSocket to wss-primary.slack.com), then start again")
    sdk_log.removeFilter(held)


class _Held(logging.Filter):
    """Drops every record, remembering the last warning or error."""

    last: str | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING:
            self.last = record.getMessage()
        return False
