"""Slack's `app_rate_limited` notice: events past 30,000 an hour for a workspace are being dropped.

Slack sends the notice once for every minute in which it dropped events for this app. It is a bare
object (`type`, `team_id`, `minute_rate_limited`, `api_app_id`), not an `event_callback`, so no
`app.event(...)` listener ever matches it and Bolt would answer 404, a failed delivery. A global
middleware answers it 200, says in the log what it means, and queues a read of every open incident
channel's history for the limited minute, once that minute is over.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from slack_bolt import BoltRequest, BoltResponse
from slack_bolt.middleware import Middleware

from bot import capture
from bot.services import Services
from storage.db import DatabaseUnavailable

log = logging.getLogger(__name__)

MINUTE = timedelta(minutes=1)
# Slack may still deliver what it accepted just before the minute ended: read history a little later.
SETTLE = timedelta(seconds=15)


class AppRateLimited(Middleware):
    """Answers `app_rate_limited` itself; any other request goes on to the listeners untouched."""

    def __init__(self, services: Services):
        self.services = services

    def process(self, *, req: BoltRequest, resp: BoltResponse, next: Callable[[], BoltResponse]) -> BoltResponse:
        if req.body.get("type") != "app_rate_limited":
            next()
            return resp
        handle_notice(self.services, req.body)
        return BoltResponse(status=200, body="")


def handle_notice(services: Services, body: dict) -> int:
    """Log the notice and queue the catch-up; returns how many channels will be read back."""
    now = services.now()
    minute = limited_minute(body, now)
    log.warning(
        "Slack is dropping events for this app: workspace %s went past 30,000 events an hour, and the "
        "minute from %s UTC was limited. What was said in open incident channels then is read back "
        "from their history once that minute is over.",
        body.get("team_id") or "?", minute.strftime("%Y-%m-%d %H:%M"))
    try:
        return capture.queue_catch_up(services, minute, delay=max(minute + MINUTE + SETTLE - now, timedelta(0)),
                                      reason=f"rate-limited-{int(minute.timestamp())}")
    except DatabaseUnavailable:
        services.outage.began(minute)  # the catch-up after the outage reads back from this minute
        log.warning("the database is not answering: the rate-limited minute is read back once it answers")
        return 0


def limited_minute(body: dict, now: datetime) -> datetime:
    """The start of the limited minute, from `minute_rate_limited` (epoch seconds); this minute if absent."""
    try:
        at = datetime.fromtimestamp(int(body["minute_rate_limited"]), UTC)
    except (KeyError, TypeError, ValueError, OverflowError, OSError):
        at = now
    return at.replace(second=0, microsecond=0)
