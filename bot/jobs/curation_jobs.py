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
    """Post a log entry in its incident channel for everyone (`post`), or rewrite that post to show the
    entry as it is now (edited, re-timed, hidden). The post's channel and ts are stored on the entry.

    Only the first job posts: a rewrite queued before the post exists does nothing, and the first job,
    once it has stored the post, reads the entry again and rewrites the post if it changed meanwhile.
    """
    entry_id = payload["entry_id"]
    entry, message, channel_id = _current(services, entry_id)
    if entry is None:
        return
    try:
        if entry.post_ts:
            _rewrite(services, entry, message)
            return
        if not payload.get("post"):
            return  # not posted yet: the job that posts it shows the entry as it is then
        answer = services.background.chat_postMessage(channel=channel_id, unfurl_links=False, unfurl_media=False,
                                                      **message)
        with services.db.write() as session:
            entries.set_post(session, entry_id, answer["channel"], answer["ts"])
        entry, now_shown, _ = _current(services, entry_id)
        if entry is not None and now_shown != message:
            _rewrite(services, entry, now_shown)
    except SlackApiError as exc:
        raise_for(exc, "log post")


def _current(services: Services, entry_id: int):
    """(the entry, its post as it should read now, the incident channel)."""
    with services.db.read() as session:
        entry = entries.entry_by_id(session, entry_id)
        if entry is None:
            return None, None, None
        incident = session.get(Incident, entry.incident_id)
        if incident is None or not incident.channel_id:
            raise PermanentFailure(f"INC-{entry.incident_id} has no channel")
        return entry, curation_views.log_post(entry, services.zone_for(incident)), incident.channel_id


def _rewrite(services: Services, entry, message: dict) -> None:
    try:
        services.background.chat_update(channel=entry.post_channel_id, ts=entry.post_ts, **message)
    except SlackApiError as exc:
        if slack_error(exc) not in GONE:
            raise
        # someone deleted the post: the entry stays in the timeline, and is not posted again


def respond(services: Services, payload: dict) -> None:
    """An ephemeral answer through a shortcut's or a button's response_url."""
    response = WebhookClient(payload["response_url"], timeout=10).send(
        text=payload["text"], response_type="ephemeral", replace_original=False)
    if response.status_code != 200:
        raise RuntimeError(f"response_url answered {response.status_code}")
