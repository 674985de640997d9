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

from bot import actions, capture, curation_slack, home_tab, interactions, rate_limited, status_updates
from bot.commands import incident, postmortem
from bot.commands.common import NOT_SAVED, Call, Reply
from bot.inbound import HomeOpened, MessageEvent, ReactionEvent
from bot.services import Services
from storage.db import DatabaseUnavailable

log = logging.getLogger(__name__)

COMMANDS = ("/incident", "/postmortem")
BOT_EVENTS = ("message.channels", "message.groups", "reaction_added", "reaction_removed", "app_home_opened")


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
    app.use(rate_limited.AppRateLimited(services))  # answered 200 before any listener is tried
    register(app, services)
    return app


def _ignore_oauth_environment() -> None:
    """Bolt switches to its OAuth installation flow, with file stores, when it sees these in the
    environment. They are for Sign in with Slack (the web view), read through Settings before this
    runs; Bolt stays on SLACK_BOT_TOKEN for a single workspace."""
    for name in ("SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET"):
        if os.environ.pop(name, None) is not None:
            log.debug("%s is for Sign in with Slack; Bolt keeps to SLACK_BOT_TOKEN", name)


def answer(handler, services: Services, payload: dict) -> dict:
    """Run a command handler and turn any failure into a reply that says what to do."""
    try:
        reply = handler(services, Call.from_payload(payload)).body()
    except DatabaseUnavailable as exc:
        services.outage.began(services.now())
        log.warning("command %s not saved, database unavailable: %s", payload.get("command"), exc)
        return Reply(NOT_SAVED).body()
    except Exception:
        reference = uuid.uuid4().hex[:8]
        log.exception("command %s failed (reference %s)", payload.get("command"), reference)
        return Reply(
            f":warning: Something went wrong on my side (reference `{reference}`). "
            "Check `/incident status` to see whether your change was saved before trying again."
        ).body()
    if services.outage.active:
        capture.after_outage(services)
    return reply


def stored(services: Services, apply, event: MessageEvent | ReactionEvent | HomeOpened | None) -> None:
    """Store an event's meaning. If the database does not answer, raise (Bolt answers 500 and Slack
    delivers the event again) and remember the outage, to catch up from history once it is over."""
    try:
        apply(services, event)
    except DatabaseUnavailable:
        services.outage.began(services.now())
        raise
    if services.outage.active:
        capture.after_outage(services)


def register(app: App, services: Services) -> None:
    """Listeners in the order Bolt tries them: the busiest first.

    Bolt evaluates each listener's matcher in turn until one matches, and each evaluation costs tens
    of microseconds; channel messages and `/incident` are most of the traffic, so they come first.
    The catch-all stays last (an event nobody handles would be answered 404 and redelivered).
    """

    @app.event("message")
    def channel_message(body):
        stored(services, capture.apply_message_event, MessageEvent.from_payload(body))

    @app.command("/incident")
    def incident_command(ack, command):
        ack(answer(incident.handle, services, command))

    @app.event("reaction_added")
    def key_event_marked(body):
        stored(services, capture.apply_reaction_event, ReactionEvent.from_payload(body))

    @app.event("reaction_removed")
    def key_event_unmarked(body):
        stored(services, capture.apply_reaction_event, ReactionEvent.from_payload(body))

    @app.command("/postmortem")
    def postmortem_command(ack, command):
        ack(answer(postmortem.handle, services, command))

    @app.event("app_home_opened")
    def home_opened(body):
        opening = HomeOpened.from_payload(body)
        if opening is not None:  # the Messages tab, or no person: nothing to publish
            stored(services, lambda services, opening: home_tab.opened(services, opening.user_id), opening)

    interactions.register(app, services)  # postmortem prompt buttons and modals
    actions.register(app, services)  # Done / Snooze buttons (reminder DMs, `/incident actions`, Home tab)
    status_updates.register(app, services)  # the update reminder's Post update button and modal
    home_tab.register(app, services)  # the Home tab's More / Previous buttons
    curation_slack.register(app, services)  # timeline shortcuts, their modals, `/incident timeline` buttons

    @app.event(re.compile(".*"))
    def other_event(event):
        """Anything else Slack sends is acknowledged, so it is not redelivered."""
        log.debug("ignoring %s event", event.get("type"))
