"""Jobs of timeline curation (bot/curation.py): a `/incident log` entry's post in the incident channel,
and a short answer to the person who pressed a shortcut or a button."""

from __future__ import annotations

from slack_sdk.errors import SlackApiError
from slack_sdk.webhook import WebhookClient

from bot import curation_views
from bot.jobs.errors import raise_for, slack_error
from bot.outbox import PermanentFailure
from bot.services import Services
from storage import entries
from storage.models import Incident

GONE = {"message_not_found", "cant_update_message"}


def log_post(services: Services, payload: dict) -> None:
    """Post a log entry in its incident channel for everyone, or rewrite that post to show the entry as
    it is now (edited, re-timed, hidden). The post's channel and ts are stored on the entry."""
    entry_id = payload["entry_id"]
    with services.db.read() as session:
        entry = entries.entry_by_id(session, entry_id)
        if entry is None:
            return
        incident = session.get(Incident, entry.incident_id)
        if incident is None or not incident.channel_id:
            raise PermanentFailure(f"INC-{entry.incident_id} has no channel")
        message = curation_views.log_post(entry, services.zone_for(incident))
        channel_id = incident.channel_id
    client = services.background
    try:
        if entry.post_ts:
            try:
                client.chat_update(channel=entry.post_channel_id, ts=entry.post_ts, **message)
            except SlackApiError as exc:
                if slack_error(exc) not in GONE:
                    raise
            return  # someone deleted the post: the entry stays in the timeline, not posted again
        answer = client.chat_postMessage(channel=channel_id, unfurl_links=False, unfurl_media=False, **message)
    except SlackApiError as exc:
        raise_for(exc, "log post")
    with services.db.write() as session:
        entries.set_post(session, entry_id, answer["channel"], answer["ts"])


def respond(services: Services, payload: dict) -> None:
    """An ephemeral answer through a shortcut's or a button's response_url."""
    response = WebhookClient(payload["response_url"], timeout=10).send(
        text=payload["text"], response_type="ephemeral", replace_original=False)
    if response.status_code != 200:
        raise RuntimeError(f"response_url answered {response.status_code}")
