"""Channel messages kept as timeline entries: capture, edits, deletions, key-event reactions, and
the Events API deliveries already seen.

Writes that Slack may repeat (redelivered events, backfill overlapping live capture) are idempotent by
construction: inserts that conflict on a unique key do nothing, and edits, deletions and reactions
carry Slack's version timestamps so an older one never wins."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session

from storage import activity, entries, sql
from storage.models import (
    Entry,
    KeyMark,
    ProcessedEvent,
)


def record_event(conn, event_id: str | None, now: datetime) -> bool:
    """Remember an Events API delivery. False when it was seen before (a redelivery)."""
    if not event_id:
        return True
    return sql.insert_ignoring_conflict(conn, ProcessedEvent, {"event_id": event_id, "received_at": now}, ["event_id"])


def forget_events_before(session: Session, cutoff: datetime) -> int:
    result = session.execute(sa.delete(ProcessedEvent).where(ProcessedEvent.received_at < cutoff))
    return result.rowcount or 0


@dataclass(frozen=True)
class Message:
    """A channel message as Slack describes it (text in Slack's encoding)."""

    channel_id: str
    ts: str
    author_id: str | None
    text: str
    thread_ts: str | None = None
    files: list[dict] | None = None
    edited_ts: str | None = None


def _message_values(incident_id: int, message: Message, at: datetime, now: datetime) -> dict:
    return entries.row(
        incident_id=incident_id, kind="message", at=at, author_id=message.author_id, text=message.text,
        channel_id=message.channel_id, ts=message.ts, thread_ts=message.thread_ts, edited_ts=message.edited_ts,
        files=json.dumps(message.files) if message.files else None, recorded_at=now,
    )


def capture_message(conn, incident_id: int, message: Message, at: datetime, now: datetime) -> bool:
    """Store a new message. False when it is already stored (a redelivery or a backfill overlap)."""
    values = _message_values(incident_id, message, at, now)
    return sql.insert_ignoring_conflict(conn, Entry, values, ["channel_id", "ts"])


_ENTRY = Entry.__table__


_KEY_MARK = KeyMark.__table__


def _stored_message(conn, channel_id: str, ts: str):
    stmt = sa.select(_ENTRY.c.id, _ENTRY.c.edited_ts, _ENTRY.c.deleted, _ENTRY.c.text_edited_by, _ENTRY.c.text,
                     _ENTRY.c.incident_id).where(
        _ENTRY.c.channel_id == channel_id, _ENTRY.c.ts == ts)
    return conn.execute(sql.locked(conn, stmt)).first()


def edit_message(conn, incident_id: int, message: Message, at: datetime, now: datetime) -> str:
    """Apply an edit. Returns "edited", "created" (edit arrived first), "stale" or "deleted"."""
    assert message.edited_ts, "an edit carries its edited.ts"
    if capture_message(conn, incident_id, message, at, now):
        return "created"
    stored = _stored_message(conn, message.channel_id, message.ts)
    if stored is None:  # pragma: no cover - the insert just conflicted on it
        return "stale"
    if stored.deleted:
        return "deleted"
    if not sql.newer(message.edited_ts, stored.edited_ts):
        return "stale"
    values = {"text": message.text, "edited_ts": message.edited_ts}
    if stored.text_edited_by is not None:
        # a person edited the text in the timeline: theirs wins; Slack's is kept in the activity log
        activity.add(conn, incident_id=stored.incident_id, entry_id=stored.id, actor=message.author_id or "",
                     action="slack_edit", before={"text": stored.text}, after={"text": message.text}, at=now)
        values = {"edited_ts": message.edited_ts}
        conn.execute(sa.update(_ENTRY).where(_ENTRY.c.id == stored.id).values(**values))
        return "kept the person's edit"
    if message.files is not None:
        values["files"] = json.dumps(message.files) if message.files else None
    conn.execute(sa.update(_ENTRY).where(_ENTRY.c.id == stored.id).values(**values))
    return "edited"


def delete_message(conn, incident_id: int, channel_id: str, ts: str, at: datetime, now: datetime) -> str:
    """Replace a message's text by a tombstone. A late redelivery of the message cannot revive it."""
    tombstone = Message(channel_id=channel_id, ts=ts, author_id=None, text="")
    values = _message_values(incident_id, tombstone, at, now)
    values["deleted"] = True
    if sql.insert_ignoring_conflict(conn, Entry, values, ["channel_id", "ts"]):
        return "tombstone"
    stored = _stored_message(conn, channel_id, ts)
    if stored is None or stored.deleted:
        return "already"
    conn.execute(sa.update(_ENTRY).where(_ENTRY.c.id == stored.id).values(deleted=True, text="", files=None))
    return "deleted"


def mark_key(conn, channel_id: str, ts: str, user_id: str, emoji: str, present: bool, event_ts: str) -> bool:
    """Record one person's key-event reaction (added or removed). Older events than stored lose."""
    values = {"channel_id": channel_id, "ts": ts, "user_id": user_id, "emoji": emoji, "present": present,
              "event_ts": event_ts}
    if sql.insert_ignoring_conflict(conn, KeyMark, values, ["channel_id", "ts", "user_id", "emoji"]):
        return True
    where = (_KEY_MARK.c.channel_id == channel_id, _KEY_MARK.c.ts == ts, _KEY_MARK.c.user_id == user_id,
             _KEY_MARK.c.emoji == emoji)
    current = conn.execute(sql.locked(conn, sa.select(_KEY_MARK.c.id, _KEY_MARK.c.event_ts).where(*where))).one()
    if not sql.newer(event_ts, current.event_ts):
        return False
    conn.execute(sa.update(_KEY_MARK).where(_KEY_MARK.c.id == current.id).values(present=present, event_ts=event_ts))
    return True

