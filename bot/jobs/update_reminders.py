"""The `update_reminder` job: DM the commander that their incident has had no status update for a while.

The sweep (bot/reminders.py) queued it once per incident (idempotency key). The job decides again
with the same pure rule, against the incident as it is now: an update posted, the incident resolved,
or a reminder sent by another replica meanwhile means nothing is sent. The DM is recorded
(`update_reminded_at`) as soon as Slack accepted it; only a crash between the two can repeat it, once.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from slack_sdk.errors import SlackApiError, SlackClientError

from bot import update_blocks
from bot.jobs.errors import PERMANENT_ERRORS, slack_error
from bot.jobs.reminder_dms import send_dm
from bot.outbox import PermanentFailure
from bot.reminders import Message, update_reminder_due
from bot.services import Services
from storage import overdue
from storage.db import DatabaseUnavailable

log = logging.getLogger(__name__)


def remind_update(services: Services, payload: dict) -> None:
    incident_id = payload["incident_id"]
    now = services.now()
    interval = timedelta(minutes=services.settings.update_reminder_minutes)
    with services.db.read() as session:
        candidates = overdue.update_candidates(session, incident_id=incident_id)
    due = update_reminder_due(candidates[0], now, interval) if candidates else None
    if due is None:
        return  # resolved, updated, or reminded since the sweep
    candidate = candidates[0]
    zone = services.people.zone_of(due.recipient)
    message = update_blocks.reminder_message(number=incident_id, title=candidate.title,
                                             channel_id=candidate.channel_id, last=due.last,
                                             last_was_update=due.last_was_update, now=now, zone=zone)
    try:
        send_dm(services, due.recipient, Message(message["text"], message["blocks"]))
    except SlackApiError as exc:
        error = slack_error(exc)
        if error in PERMANENT_ERRORS:
            raise PermanentFailure(f"update reminder for INC-{incident_id}: {error}") from exc
        raise RuntimeError(f"update reminder for INC-{incident_id}: {error}") from exc
    except (SlackClientError, OSError) as exc:
        raise RuntimeError(f"update reminder for INC-{incident_id}: {exc}") from exc
    try:
        with services.db.write() as session:
            overdue.record_update_reminded(session, incident_id, services.now())
    except DatabaseUnavailable as exc:
        log.error("update reminder for INC-%s sent but not recorded (%s); it may be sent again", incident_id, exc)
