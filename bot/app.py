"""The Bolt app: listeners registered on it, each one thin (parse, act, reply).

The app runs listeners before it answers Slack (`process_before_response=True`): a command is
acknowledged with its reply only after its write is committed, and an event is answered 200 only
once it is stored; if storing fails, the answer is 500 and Slack delivers the event again.
"""

from __future__ import annotations

import logging
import os
import re
import uuid
from concurrent.futures import ThreadPoolExecutor

from slack_bolt import App

import bot.actions
from bot import capture
from bot.commands import incident
from bot.commands.common import NOT_SAVED, Call, Reply
from bot.services import Services
from storage.db import DatabaseUnavailable

log = logging.getLogger(__name__)

COMMANDS = ("/incident",)
BOT_EVENTS = ("message.channels", "message.groups", "reaction_added", "reaction_removed")


def build_app(services: Services) -> App:
    settings = services.settings
    _ignore_oauth_environment()
    secret = settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else ""
    app = App(
        client=services.slack,
        signing_secret=secret,
        process_before_response=True,
        listener_executor=ThreadPoolExecutor(max_workers=settings.web_threads, thread_name_prefix="bolt"),
        logger=logging.getLogger("bot.bolt"),
    )
    register(app, services)
    return app


def _ignore_oauth_environment() -> None:
    """Bolt switches to OAuth with file stores when these are set; this bot runs on one token."""
    for name in ("SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET"):
        if os.environ.pop(name, None) is not None:
            log.warning("ignoring %s: this bot uses SLACK_BOT_TOKEN for a single workspace", name)


def answer(handler, services: Services, payload: dict) -> dict:
    """Run a command handler and turn any failure into a reply that says what to do."""
    try:
        return handler(services, Call.from_payload(payload)).body()
    except DatabaseUnavailable as exc:
        log.warning("command %s not saved, database unavailable: %s", payload.get("command"), exc)
        return Reply(NOT_SAVED).body()
    except Exception:
        reference = uuid.uuid4().hex[:8]
        log.exception("command %s failed (reference %s)", payload.get("command"), reference)
        return Reply(
            f":warning: Something went wrong on my side (reference `{reference}`). "
            "Check `/incident status` to see whether your change was saved before trying again."
        ).body()


def register(app: App, services: Services) -> None:
    bot.actions.register(app, services)  # Done / Snooze buttons (reminder DMs, `/incident actions`)
    @app.command("/incident")
    def incident_command(ack, command):
        ack(answer(incident.handle, services, command))

    @app.event("message")
    def channel_message(event, body):
        capture.apply_message_event(services, body.get("event_id"), event)

    @app.event("reaction_added")
    def key_event_marked(event, body):
        capture.apply_reaction_event(services, body.get("event_id"), event, present=True)

    @app.event("reaction_removed")
    def key_event_unmarked(event, body):
        capture.apply_reaction_event(services, body.get("event_id"), event, present=False)

    @app.event(re.compile(".*"))
    def other_event(event):
        """Anything else Slack sends is acknowledged, so it is not redelivered."""
        log.debug("ignoring %s event", event.get("type"))
