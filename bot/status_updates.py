"""Status updates: `/incident update <text>` and the reminder DM's "Post update" modal post the same
update, through `post_update` (docs/commands.md).

The update is a timeline entry of kind `update` (a key event), recorded through bot/changes.py with
the posts it implies queued in the same transaction: one in the incident channel, one in
ANNOUNCE_CHANNEL when that is set. The message is built when the update is recorded, so it says how
long the incident had been going at that moment, whenever the outbox delivers it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from slack_sdk.errors import SlackApiError, SlackClientError

from bot import changes, update_blocks, views
from bot import text as T
from bot.changes import Actor, Change
from bot.inbound import ButtonPress, ViewSubmission
from bot.services import Services
from bot.update_blocks import Since
from storage import incidents, outbox_jobs
from storage.models import Incident

log = logging.getLogger(__name__)

USAGE = ("Usage: `/incident update <text>`, e.g. `/incident update Rolled back the deploy; error rate is "
         "back to normal, watching for 30 minutes`.")


@dataclass(frozen=True)
class Posted:
    """Where an update went: the incident channel and ANNOUNCE_CHANNEL (when set), in that order."""

    channels: tuple[str, ...]


def post_update(services: Services, actor: Actor, incident_id: int, text: str,
                now: datetime | None = None) -> Posted:
    """Record the update (`text` in Slack's encoding) and queue its posts, in one transaction."""
    now = now or services.now()
    posted: list[str] = []

    def put(session) -> Change:
        incident = session.get(Incident, incident_id)
        started = incidents.milestones(session, incident_id).get("started")
        since = Since(started.at, True) if started is not None else Since(incident.created_at, False)
        message = update_blocks.update_message(
            number=incident.id, title=incident.title, status=incident.status, severity=incident.severity,
            since=since, now=now, zone=services.zone_for(incident), text=text, author_id=actor.user_id,
            channel_id=incident.channel_id)
        for channel in dict.fromkeys(c for c in (incident.channel_id, services.settings.announce_channel) if c):
            outbox_jobs.enqueue(session, "announce", {
                "channel_id": channel, **message, "response_url": actor.response_url,
                "failure_text": f"The update of {views.ref(incident.id)} could not be posted in <#{channel}>"
                                " (is the bot a member there?)"}, now)
            posted.append(channel)
        return Change(kind="update", text=text, key=True)

    changes.record(services, actor, incident_id, put, now)
    return Posted(tuple(posted))


def posted_text(number: int, posted: Posted) -> str:
    where = " and ".join(f"<#{c}>" for c in posted.channels) or "the timeline only (the incident has no channel)"
    return f"Update for {views.ref(number)} posted in {where}."


# ---------------------------------------------------------------------------------------------
# the reminder DM's button and modal


def register(app, services: Services) -> None:
    """The "Post update" button of the reminder DM, and the modal it opens (bot/app.py calls this)."""

    @app.action(update_blocks.UPDATE_BUTTON)
    def open_update_modal(ack, body):
        ack()
        open_modal(services, ButtonPress.from_payload(body))

    @app.view(update_blocks.UPDATE_VIEW)
    def update_submitted(ack, body):
        ack(**submit(services, ViewSubmission.from_payload(body)))


def open_modal(services: Services, press: ButtonPress | None) -> None:
    if press is None or press.trigger_id is None or press.number is None:
        log.warning("a Post update press without a person, a trigger_id or an incident; no modal opened")
        return
    with services.db.read() as session:
        incident = session.get(Incident, press.number)
    if incident is None:
        log.warning("a Post update press for an unknown incident %r", press.value[:40])
        return
    try:
        services.slack.views_open(trigger_id=press.trigger_id, view=update_blocks.update_modal(incident.id, incident.title))
    except (SlackApiError, SlackClientError, OSError) as exc:
        log.warning("views.open failed for the update modal: %s", exc)


def _errors(message: str) -> dict:
    return {"response_action": "errors", "errors": {"text": message}}


def submit(services: Services, submitted: ViewSubmission | None) -> dict:
    """Post the modal's update exactly as `/incident update` would. Returns the ack's arguments."""
    if submitted is None:
        return _errors("This form could not be read. Press Cancel and use `/incident update <text>` instead.")
    text = submitted.text("text")
    if not text:
        return _errors("Write what the status is now, or press Cancel.")
    now = services.now()
    with services.db.read() as session:
        incident = session.get(Incident, submitted.number) if submitted.number else None
        resolved = incidents.milestones(session, incident.id).get("resolved") if incident else None
    if incident is None:
        return _errors("This incident no longer exists.")
    if incident.status == "resolved" and resolved is not None and resolved.at < services.capture_cutoff(now):
        return _errors(f"{views.ref(incident.id)} was resolved more than "
                       f"{services.settings.capture_after_resolved_days} days ago and takes no more updates.")
    post_update(services, Actor(submitted.user_id), incident.id, T.encode(text), now)
    return {}
