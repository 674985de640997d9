"""Channel capture (SPEC 3): messages, thread replies, file shares, edits, deletions, 📌 key events.

Listeners run before Bolt answers Slack (process_before_response), so a 200 means "committed". A
delivery that could not be stored raises, Bolt answers 500, and Slack redelivers it later. Every
write is idempotent on Slack's own keys (event_id; channel and ts), so redeliveries, late events
and a backfill that overlaps live capture never produce a second entry.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from slack_sdk import WebClient

from bot import text as T
from bot.services import Services
from bot.when import from_slack_ts
from storage import fast, queries
from storage.db import DatabaseUnavailable
from storage.queries import Message

log = logging.getLogger(__name__)

CAPTURED_SUBTYPES = {None, "thread_broadcast", "file_share", "me_message"}
HISTORY_PAGE = 200
MAX_BACKFILL_PAGES = 50


# ---------------------------------------------------------------------------------------------
# reading Slack's message shapes (pure)


def is_from_bot(message: dict) -> bool:
    return bool(message.get("bot_id")) or message.get("subtype") == "bot_message"


def message_of(raw: dict, channel_id: str) -> Message | None:
    """A human message worth capturing, or None (bots, joins, topic changes, …)."""
    if is_from_bot(raw) or raw.get("subtype") not in CAPTURED_SUBTYPES:
        return None
    if not raw.get("ts") or not raw.get("user"):
        return None
    files = [
        {"name": T.storable(f.get("name") or f.get("title") or "file"), "permalink": f.get("permalink") or ""}
        for f in raw.get("files") or []
        if isinstance(f, dict)
    ]
    thread_ts = raw.get("thread_ts")
    return Message(
        channel_id=channel_id,
        ts=raw["ts"],
        author_id=raw.get("user"),
        text=T.storable(raw.get("text") or ""),
        thread_ts=thread_ts if thread_ts and thread_ts != raw["ts"] else None,
        files=files or None,
        edited_ts=(raw.get("edited") or {}).get("ts"),
    )


@dataclass(frozen=True)
class Change:
    """What a message event asks us to do."""

    action: str  # "new", "edit", "delete", or "ignore"
    message: Message | None = None
    ts: str | None = None


def change_of(event: dict) -> Change:
    channel_id = event.get("channel") or ""
    subtype = event.get("subtype")
    if subtype == "message_changed":
        inner = event.get("message") or {}
        if inner.get("subtype") == "tombstone":  # a thread parent deleted while it has replies
            return Change("delete", ts=inner.get("ts"))
        if "edited" not in inner or is_from_bot(inner):  # unfurls change nothing; bots are not captured
            return Change("ignore")
        inner = {**inner, "subtype": None if inner.get("subtype") in CAPTURED_SUBTYPES else inner.get("subtype")}
        message = message_of(inner, channel_id)
        return Change("edit", message) if message and message.edited_ts else Change("ignore")
    if subtype == "message_deleted":
        previous = event.get("previous_message") or {}
        if is_from_bot(previous):
            return Change("ignore")
        return Change("delete", ts=event.get("deleted_ts") or previous.get("ts"))
    message = message_of(event, channel_id)
    return Change("new", message) if message else Change("ignore")


def key_emoji_matches(reaction: str, key_emoji: str) -> bool:
    return reaction.split("::", 1)[0] == key_emoji


# ---------------------------------------------------------------------------------------------
# storing (idempotent)


def apply_message_event(services: Services, event_id: str | None, event: dict) -> str:
    """Store what a message event means. Returns what happened (for logs and tests).

    A new message is keyed by (channel, ts), which absorbs redeliveries and backfill overlaps alike;
    edits and deletions are also remembered by event_id, and carry Slack's version timestamps.
    """
    change = change_of(event)
    if change.action == "ignore":
        return "ignored"
    channel_id = event.get("channel") or ""
    now = services.now()
    days = services.settings.capture_after_resolved_days
    if change.action == "new":
        m = change.message
        assert m is not None
        stored = services.db.hot_write(lambda cursor: fast.capture_message(
            cursor, m.channel_id, m.ts, m.author_id, m.text, from_slack_ts(m.ts), now, days,
            thread_ts=m.thread_ts, files=m.files))
        return "captured" if stored else "not stored (no incident here, or a repeat)"
    with services.db.write() as session:
        incident_id = queries.capturing_incident(session, channel_id, now, days)
        if incident_id is None:
            return "no incident"
        if not queries.record_event(session, event_id, now):
            return "duplicate"
        if change.action == "edit":
            assert change.message is not None
            return queries.edit_message(session, incident_id, change.message, from_slack_ts(change.message.ts), now)
        assert change.ts
        return queries.delete_message(session, incident_id, channel_id, change.ts, from_slack_ts(change.ts), now)


def apply_reaction_event(services: Services, event_id: str | None, event: dict, present: bool) -> str:
    item = event.get("item") or {}
    if item.get("type") != "message" or not key_emoji_matches(
        event.get("reaction", ""), services.settings.key_event_emoji
    ):
        return "ignored"
    channel_id, ts, user = item.get("channel"), item.get("ts"), event.get("user")
    if not (channel_id and ts and user):
        return "ignored"
    now = services.now()
    with services.db.write() as session:
        incident_id = queries.capturing_incident(session, channel_id, now, services.settings.capture_after_resolved_days)
        if incident_id is None:
            return "no incident"
        if not queries.record_event(session, event_id, now):
            return "duplicate"
        changed = queries.mark_key(
            session, channel_id, ts, user, services.settings.key_event_emoji, present, event.get("event_ts") or ts
        )
        return ("marked" if present else "unmarked") if changed else "stale"


# ---------------------------------------------------------------------------------------------
# backfill from channel history


def backfill(services: Services, client: WebClient, incident_id: int, channel_id: str, oldest: datetime,
             *, known_threads: bool = False) -> int:
    """Import messages (and their thread replies and 📌 reactions) since `oldest`. Returns how many
    were new. Safe to repeat: what is already stored is skipped. With `known_threads`, replies since
    `oldest` in threads already captured are fetched too, even when their parent is older."""
    stored = 0
    threads: list[str] = []
    for raw in _history(client, channel_id, oldest):
        stored += _store_history_message(services, incident_id, channel_id, raw)
        if raw.get("reply_count") and raw.get("ts"):
            threads.append(raw["ts"])
    if known_threads:
        with services.db.read() as session:
            threads += [ts for ts in queries.thread_parents(session, incident_id) if ts not in threads]
    for thread_ts in threads:
        for reply in _replies(client, channel_id, thread_ts, oldest):
            stored += _store_history_message(services, incident_id, channel_id, reply)
    log.info("backfill of %s for INC-%s: %s new messages", channel_id, incident_id, stored)
    return stored


def _paged(call, key: str, **kwargs):
    cursor = None
    for _ in range(MAX_BACKFILL_PAGES):
        response = call(limit=HISTORY_PAGE, cursor=cursor, **kwargs) if cursor else call(limit=HISTORY_PAGE, **kwargs)
        yield from response.get(key) or []
        cursor = (response.get("response_metadata") or {}).get("next_cursor")
        if not cursor or not response.get("has_more", True):
            break


def _history(client: WebClient, channel_id: str, oldest: datetime):
    return _paged(client.conversations_history, "messages", channel=channel_id, oldest=f"{oldest.timestamp():.6f}")


def _replies(client: WebClient, channel_id: str, thread_ts: str, oldest: datetime):
    for reply in _paged(client.conversations_replies, "messages", channel=channel_id, ts=thread_ts,
                        oldest=f"{oldest.timestamp():.6f}"):
        if reply.get("ts") != thread_ts:
            yield reply


def _store_history_message(services: Services, incident_id: int, channel_id: str, raw: dict) -> int:
    message = message_of(raw, channel_id)
    if message is None:
        return 0
    now = services.now()
    key_emoji = services.settings.key_event_emoji
    with services.db.write() as session:
        new = queries.capture_message(session, incident_id, message, from_slack_ts(message.ts), now)
        if not new and message.edited_ts:
            queries.edit_message(session, incident_id, message, from_slack_ts(message.ts), now)
        for reaction in raw.get("reactions") or []:
            if key_emoji_matches(reaction.get("name", ""), key_emoji):
                for user in reaction.get("users") or []:
                    # history has no event time for a reaction: any live event about it wins
                    queries.mark_key(session, channel_id, message.ts, user, key_emoji, True, "0")
    return 1 if new else 0


CATCH_UP_MARGIN = timedelta(minutes=1)


def queue_catch_up(services: Services, since: datetime | None = None, *, delay: timedelta = timedelta(0),
                   reason: str = "catch-up") -> int:
    """Queue a backfill of every capturing incident's channel, for what Slack will not deliver again.

    Each channel is read from its newest stored message (or the incident's start), however long ago
    that was, or from `since` (when a database outage began) if that is earlier. The backfill runs
    after `delay` (once the window to read back is over); a catch-up for the same `reason` that is
    still waiting absorbs this one. Returns how many channels were queued.
    """
    now = services.now()
    cutoff = now - timedelta(days=services.settings.capture_after_resolved_days)
    with services.db.write() as session:
        channels = queries.open_incident_channels(session, cutoff)
        newest = queries.newest_message_times(session, [incident_id for incident_id, _ in channels])
        for incident_id, channel_id in channels:
            start = newest.get(incident_id) or queries.incident_by_number(session, incident_id).created_at
            if since is not None:
                start = min(start, since)
            oldest = start - CATCH_UP_MARGIN
            queries.enqueue(session, "backfill", {"incident_id": incident_id, "channel_id": channel_id,
                                                  "oldest": f"{oldest.timestamp():.6f}", "threads": True},
                            now, coalesce_key=f"{reason}:{channel_id}", delay=delay)
    if channels:
        log.info("catching up %s incident channel(s) from history", len(channels))
        services.wake_outbox()
    return len(channels)


def after_outage(services: Services) -> None:
    """Once the database answers again, fetch back from history what Slack will not redeliver."""
    since = services.outage.ended()
    if since is None:
        return
    try:
        queue_catch_up(services, since)
    except DatabaseUnavailable:
        services.outage.began(since)  # not yet: the next success tries again


def backfill_window(now: datetime, minutes: int) -> datetime:
    return now - timedelta(minutes=minutes)
