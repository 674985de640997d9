"""Jobs of timeline curation (bot/curation.py): a `/incident log` entry's post in the incident channel,
and a short answer to the person who pressed a shortcut or a button."""

from __future__ import annotations

from datetime import UTC

from slack_sdk.errors import SlackApiError
from slack_sdk.webhook import WebhookClient

from bot import curation_views
from bot.jobs.errors import raise_for, slack_error
from bot.outbox import PermanentFailure
from bot.services import Services
from storage import post_sql
from storage.post_sql import EntryToPost

GONE = {"message_not_found", "cant_update_message"}


def log_post(services: Services, payload: dict) -> None:
    """Post a log entry in its incident channel for everyone (`post`), or rewrite that post to show the
    entry as it is now (edited, re-timed, hidden). The post's channel and ts are stored on the entry.

    Only the first job posts: a rewrite queued before the post exists does nothing, and the first job,
    once it has stored the post, reads the entry again and rewrites the post if it changed meanwhile.
    A post carries the entry's id in its message metadata; the entry notes the channel before posting,
    so a retry after a post whose ts could not be stored finds that post in the channel's history
    (`_earlier_post`) instead of posting the entry twice.
    """
    entry_id = payload["entry_id"]
    entry, message = _current(services, entry_id)
    if entry is None:
        return
    try:
        if entry.post_ts:
            _rewrite(services, entry, message)
            return
        if not payload.get("post"):
            return  # not posted yet: the job that posts it shows the entry as it is then
        posted = _earlier_post(services, entry) if entry.post_channel_id else None
        if posted is None:
            services.db.hot_write(lambda conn: post_sql.mark_posting(conn, entry_id, entry.channel_id))
            answer = services.background.chat_postMessage(
                channel=entry.channel_id, unfurl_links=False, unfurl_media=False,
                metadata={"event_type": POST_EVENT, "event_payload": {"entry_id": entry_id}}, **message)
            posted = (answer["channel"], answer["ts"])
        services.db.hot_write(lambda conn: post_sql.set_post(conn, entry_id, *posted))
        entry, now_shown = _current(services, entry_id)
        if entry is not None and now_shown != message:
            _rewrite(services, entry, now_shown)
    except SlackApiError as exc:
        raise_for(exc, "log post")


POST_EVENT = "incident_log_entry"  # the message metadata event type of a log entry's post
SEARCH_PAGES = 5  # conversations.history pages of 200 read back for an earlier post (1,000 messages)


def _earlier_post(services: Services, entry) -> tuple[str, str] | None:
    """The entry's post made by an earlier attempt whose ts was not stored: (channel, ts), or None.
    It is looked for from the entry's time on, by its metadata; a post further back than 1,000
    messages is not found, and the entry is posted again (a busy channel and an outage of hours)."""
    since = entry.recorded_at if entry.recorded_at.tzinfo else entry.recorded_at.replace(tzinfo=UTC)
    oldest = f"{since.timestamp() - 60:.6f}"
    cursor = None
    for _ in range(SEARCH_PAGES):
        answer = services.background.conversations_history(
            channel=entry.post_channel_id, oldest=oldest, limit=200, include_all_metadata=True,
            **({"cursor": cursor} if cursor else {}))
        for found in answer.get("messages") or []:
            metadata = found.get("metadata") if isinstance(found, dict) else None
            if isinstance(metadata, dict) and metadata.get("event_type") == POST_EVENT \
                    and (metadata.get("event_payload") or {}).get("entry_id") == entry.id:
                return entry.post_channel_id, found["ts"]
        cursor = (answer.get("response_metadata") or {}).get("next_cursor")
        if not answer.get("has_more") or not cursor:
            break
    return None


def _current(services: Services, entry_id: int) -> tuple[EntryToPost | None, dict | None]:
    """(the entry with its incident's channel, its post as it should read now)."""
    with services.db.reading() as conn:
        entry = post_sql.entry_to_post(conn, entry_id)
    if entry is None:
        return None, None
    if not entry.channel_id:
        raise PermanentFailure(f"INC-{entry.incident_id} has no channel")
    return entry, curation_views.log_post(entry, services.settings.display_zone(entry.display_tz))


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
