"""Timeline entries: adding one (every column has one definition, `COLUMNS`),
reading an incident's timeline back, and who took part."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, select

from storage.models import (
    Entry,
    KeyMark,
)


def newest_message_times(session: Session, incident_ids: Iterable[int]) -> dict[int, datetime]:
    """For each incident, the time of the newest channel message stored (incidents with none are absent)."""
    ids = list(incident_ids)
    if not ids:
        return {}
    stmt = (select(Entry.incident_id, sa.func.max(Entry.at)).where(Entry.incident_id.in_(ids), Entry.kind == "message")
            .group_by(Entry.incident_id))
    return {incident_id: at for incident_id, at in session.execute(stmt)}  # max() keeps the column's UTC type


def thread_parents(session: Session, incident_id: int) -> list[str]:
    """The `ts` of every thread that has a reply stored for the incident."""
    stmt = (select(Entry.thread_ts).where(Entry.incident_id == incident_id, Entry.thread_ts.is_not(None))
            .distinct())
    return [row[0] for row in session.execute(stmt)]


# An entry's columns, in one place: the Core inserts here and in storage/messages.py and the
# hand-written statements of storage/capture_sql.py all fill a row with `row()`.
DEFAULTS = {"author_id": None, "text": "", "key": False, "milestone": None, "channel_id": None, "ts": None,
            "thread_ts": None, "edited_ts": None, "deleted": False, "files": None}
COLUMNS = ("incident_id", "kind", "at", "author_id", "text", "key", "milestone", "channel_id", "ts", "thread_ts",
           "edited_ts", "deleted", "files", "recorded_at")
assert set(COLUMNS) == {c.name for c in Entry.__table__.columns} - {"id"}, "COLUMNS lists every column of entry"


def row(**given) -> dict:
    """Every column of a new entry: `incident_id`, `kind`, `at` and `recorded_at` given, the rest defaulted."""
    unknown = set(given) - set(COLUMNS)
    if unknown:
        raise TypeError(f"entry has no column {sorted(unknown)}")
    return {**DEFAULTS, **given}


def add_entry(conn, entry: Entry) -> None:
    """Insert a timeline entry (a Core insert, not the ORM: it is on the path of every change)."""
    conn.execute(sa.insert(Entry.__table__).values(**row(**entry.model_dump(exclude={"id"}, exclude_none=True))))


@dataclass(frozen=True)
class TimelineRow:
    """An entry as read back (its columns as attributes, read-only), with its key-event status resolved."""

    entry: sa.Row
    key: bool


def timeline(session: Session, incident_id: int, key_emoji: str) -> list[TimelineRow]:
    """All entries of an incident, oldest first. A message is key when someone 📌-marked it."""
    marked = (
        sa.exists()
        .where(KeyMark.channel_id == Entry.channel_id)
        .where(KeyMark.ts == Entry.ts)
        .where(KeyMark.emoji == key_emoji)
        .where(KeyMark.present.is_(True))
    )
    # plain rows, not ORM objects: a long incident's timeline is read in a fraction of the time
    stmt = (
        sa.select(*Entry.__table__.columns, marked.label("marked"))
        .where(Entry.incident_id == incident_id)
        .order_by(Entry.at, Entry.id)
    )
    rows = []
    for entry in session.execute(stmt):
        key = entry.key or (entry.kind == "message" and bool(entry.marked) and not entry.deleted)
        rows.append(TimelineRow(entry=entry, key=key))
    return rows


def participants(session: Session, incident_id: int) -> list[str]:
    """People who wrote or logged in the incident, in order of first appearance."""
    stmt = (
        select(Entry.author_id, sa.func.min(Entry.at).label("first"))
        .where(Entry.incident_id == incident_id, Entry.author_id.is_not(None))
        .where(Entry.kind.in_(["log", "message", "milestone"]))
        .group_by(Entry.author_id)
        .order_by(sa.text("first"))
    )
    return [row[0] for row in session.execute(stmt)]

