"""Channel capture (docs/capture.md): messages, thread replies, file shares, edits, deletions, 📌 key events.

Listeners run before Bolt answers Slack (process_before_response), so a 200 means "committed". A
delivery that could not be stored raises, Bolt answers 500, and Slack redelivers it later. Every
write is idempotent on Slack's own keys (event_id; channel and ts), so redeliveries, late events
and a backfill that overlaps live capture never produce a second entry.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from itertools import islice

from slack_sdk import WebClient

from bot.inbound import MessageEvent, ReactionEvent, message_of
from bot.services import Services
from bot.when import from_slack_ts
from storage import capture_sql, entries, incidents, messages, outbox_jobs
from storage.db import DatabaseUnavailable

log = logging.getLogger(__name__)

HISTORY_PAGE = 200
MAX_BACKFILL_PAGES = 50


def key_emoji_matches(reaction: str, key_emoji: str) -> bool:
    return reaction.split("::", 1)[0] == key_emoji  # `pushpin::skin-tone-2` is still a pushpin


# ---------------------------------------------------------------------------------------------
# storing (idempotent)


def apply_message_event(services: Services, event: MessageEvent) -> str:
    """Store what a message event means. Returns what happened (for logs and tests).

    A new message is keyed by (channel, ts), which absorbs redeliveries and backfill overlaps alike;
    edits and deletions are also remembered by event_id, and carry Slack's version timestamps.
    """
    if event.action == "ignore":
        return "ignored"
    now = services.now()
    days = services.settings.capture_after_resolved_days
    if event.action == "new":
        m = event.message
        assert m is not None
        stored = services.db.hot_write(lambda cursor: capture_sql.capture_message(
            cursor, m.channel_id, m.ts, m.author_id, m.text, from_slack_ts(m.ts), now,
            incidents.capture_cutoff(now, days),
            thread_ts=m.thread_ts, files=m.files))
        return "captured" if stored else "not stored (no incident here, or a repeat)"
    with services.db.write() as session:
        incident_id = incidents.capturing_incident(session, event.channel_id, now, days)
        if incident_id is None:
            return "no incident"
        if not messages.record_event(session, event.event_id, now):
            return "duplicate"
        if event.action == "edit":
            assert event.message is not None
            return messages.edit_message(session, incident_id, event.message, from_slack_ts(event.message.ts), now)
        assert event.ts
        return messages.delete_message(session, incident_id, event.channel_id, event.ts, from_slack_ts(event.ts), now)


def apply_reaction_event(services: Services, reaction: ReactionEvent | None) -> str:
    """Mark or unmark a message as a key event when the reaction is the key emoji."""
    key_emoji = services.settings.key_event_emoji
    if reaction is None or not key_emoji_matches(reaction.emoji, key_emoji):
        return "ignored"
    now = services.now()
    with services.db.write() as session:
        incident_id = incidents.capturing_incident(session, reaction.channel_id, now,
                                                  services.settings.capture_after_resolved_days)
        if incident_id is None:
            return "no incident"
        if not messages.record_event(session, reaction.event_id, now):
            return "duplicate"
        changed = messages.mark_key(session, reaction.channel_id, reaction.ts, reaction.user_id, key_emoji,
                                   reaction.present, reaction.event_ts)
        return ("marked" if reaction.present else "unmarked") if changed else "stale"


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
            threads += [ts for ts in entries.thread_parents(session, incident_id) if ts not in threads]
    for thread_ts in threads:
        for reply in _replies(client, channel_id, thread_ts, oldest):
            stored += _store_history_message(services, incident_id, channel_id, reply)
    log.info("backfill of %s for INC-%s: %s new messages", channel_id, incident_id, stored)
    return stored


def _messages(first_page):
    """The messages of a conversations.history / .replies answer and of the pages after it (at most
    MAX_BACKFILL_PAGES): the SDK's response iterates over pages, asking for each next cursor itself."""
    for page in islice(first_page, MAX_BACKFILL_PAGES):
        yield from page.get("messages") or []


def _history(client: WebClient, channel_id: str, oldest: datetime):
    return _messages(client.conversations_history(channel=channel_id, oldest=f"{oldest.timestamp():.6f}",
                                                  limit=HISTORY_PAGE))


def _replies(client: WebClient, channel_id: str, thread_ts: str, oldest: datetime):
    first_page = client.conversations_replies(channel=channel_id, ts=thread_ts,
                                              oldest=f"{oldest.timestamp():.6f}", limit=HISTORY_PAGE)
    for reply in _messages(first_page):
        if reply.get("ts") != thread_ts:
            yield reply


def _store_history_message(services: Services, incident_id: int, channel_id: str, raw: dict) -> int:
    message = message_of(raw, channel_id)
    if message is None:
        return 0
    now = services.now()
    key_emoji = services.settings.key_event_emoji
    with services.db.write() as session:
        new = messages.capture_message(session, incident_id, message, from_slack_ts(message.ts), now)
        if not new and message.edited_ts:
            messages.edit_message(session, incident_id, message, from_slack_ts(message.ts), now)
        for reaction in raw.get("reactions") or []:
            if key_emoji_matches(reaction.get("name", ""), key_emoji):
                for user in reaction.get("users") or []:
                    # history has no event time for a reaction: any live event about it wins
                    messages.mark_key(session, channel_id, message.ts, user, key_emoji, True, "0")
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
    cutoff = incidents.capture_cutoff(now, services.settings.capture_after_resolved_days)
    with services.db.write() as session:
        channels = incidents.open_incident_channels(session, cutoff)
        newest = entries.newest_message_times(session, [incident_id for incident_id, _ in channels])
        for incident_id, channel_id in channels:
            start = newest.get(incident_id) or incidents.incident_by_number(session, incident_id).created_at
            if since is not None:
                start = min(start, since)
            oldest = start - CATCH_UP_MARGIN
            outbox_jobs.enqueue(session, "backfill", {"incident_id": incident_id, "channel_id": channel_id,
                                                  "oldest": f"{oldest.timestamp():.6f}", "threads": True},
                            now, coalesce_key=f"{reason}:{channel_id}", delay=delay)
    if channels:
        log.info("catching up %s incident channel(s) from history", len(channels))
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

