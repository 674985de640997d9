"""Timeline entries: adding one (every column has one definition, `COLUMNS`),
reading an incident's timeline back, and who took part."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

import sqlalchemy as sa
from sqlmodel import Session, select

from storage import sql
from storage.models import (
    Entry,
    Incident,
    KeyMark,
    Role,
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
            "thread_ts": None, "edited_ts": None, "deleted": False, "files": None, "hidden": False,
            "text_edited_by": None, "post_channel_id": None, "post_ts": None, "source_channel_id": None,
            "source_ts": None, "permalink": None, "to_post": False}
COLUMNS = ("incident_id", "kind", "at", "author_id", "text", "key", "milestone", "channel_id", "ts", "thread_ts",
           "edited_ts", "deleted", "files", "recorded_at", "hidden", "text_edited_by", "post_channel_id", "post_ts",
           "source_channel_id", "source_ts", "permalink", "to_post")
assert set(COLUMNS) == {c.name for c in Entry.__table__.columns} - {"id"}, "COLUMNS lists every column of entry"


def row(**given) -> dict:
    """Every column of a new entry: `incident_id`, `kind`, `at` and `recorded_at` given, the rest defaulted."""
    unknown = set(given) - set(COLUMNS)
    if unknown:
        raise TypeError(f"entry has no column {sorted(unknown)}")
    return {**DEFAULTS, **given}


def add_entry(conn, entry: Entry) -> int:
    """Insert a timeline entry (a Core insert, not the ORM: it is on the path of every change). Returns its id."""
    stmt = sa.insert(Entry.__table__).values(**row(**entry.model_dump(exclude={"id"}, exclude_none=True)))
    return conn.execute(stmt.returning(Entry.__table__.c.id)).scalar_one()


class TimelineEntry(NamedTuple):
    """The columns of an entry that a timeline shows, as a plain tuple: reading an attribute of a
    SQLAlchemy Row costs several times more, and a long incident's timeline reads 15 of each of
    thousands of entries."""

    id: int
    kind: str
    at: datetime
    author_id: str | None
    text: str
    key: bool
    milestone: str | None
    channel_id: str | None
    ts: str | None
    thread_ts: str | None
    edited_ts: str | None
    text_edited_by: str | None
    deleted: bool
    files: str | None
    hidden: bool
    permalink: str | None


_TIMELINE_COLUMNS = [Entry.__table__.c[name] for name in TimelineEntry._fields]


@dataclass(frozen=True)
class TimelineRow:
    """An entry as read back (its columns as attributes, read-only), with its key-event status resolved."""

    entry: TimelineEntry
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
    # the columns the timeline shows, in one query, as plain tuples (not ORM objects, not Rows)
    stmt = (
        sa.select(*_TIMELINE_COLUMNS, marked.label("marked"))
        .where(Entry.incident_id == incident_id)
        .order_by(Entry.at, Entry.id)
    )
    rows = []
    for *columns, marked_by_someone in session.execute(stmt):
        entry = TimelineEntry(*columns)
        key = entry.key or (entry.kind == "message" and bool(marked_by_someone) and not entry.deleted)
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



# ---------------------------------------------------------------------------------------------
# curation (bot/curation.py): one entry read, changed, found by its Slack message, paged

_ENTRY = Entry.__table__


def entry_by_id(conn, entry_id: int, *, lock: bool = False):
    """One entry's columns as a row, or None. With `lock`, held for the caller's transaction."""
    stmt = sa.select(_ENTRY).where(_ENTRY.c.id == entry_id)
    return conn.execute(sql.locked(conn, stmt) if lock else stmt).first()


def update_entry(conn, entry_id: int, values: dict) -> None:
    unknown = set(values) - set(COLUMNS)
    if unknown:
        raise TypeError(f"entry has no column {sorted(unknown)}")
    conn.execute(sa.update(_ENTRY).where(_ENTRY.c.id == entry_id).values(**values))


def entry_of_message(conn, channel_id: str, ts: str):
    """The entry a Slack message stands for: the captured message itself, or the bot's post of a
    `/incident log` entry. None when the message is neither."""
    stmt = sa.select(_ENTRY).where(sa.or_(
        sa.and_(_ENTRY.c.channel_id == channel_id, _ENTRY.c.ts == ts),
        sa.and_(_ENTRY.c.post_channel_id == channel_id, _ENTRY.c.post_ts == ts))).order_by(_ENTRY.c.id).limit(1)
    return conn.execute(stmt).first()


def add_from_elsewhere(conn, incident_id: int, *, channel_id: str, ts: str, author_id: str | None, text: str,
                       permalink: str | None, at: datetime, now: datetime) -> int | None:
    """A message of another channel, as a key event of the incident. None when it is already there."""
    stmt = (sql.insert_for(conn, Entry)
            .values(**row(incident_id=incident_id, kind="added", at=at, author_id=author_id, text=text, key=True,
                          source_channel_id=channel_id, source_ts=ts, permalink=permalink, recorded_at=now))
            .on_conflict_do_nothing(index_elements=["incident_id", "source_channel_id", "source_ts"])
            .returning(_ENTRY.c.id))
    return conn.execute(stmt).scalar()


def entry_from_elsewhere(conn, incident_id: int, channel_id: str, ts: str):
    stmt = sa.select(_ENTRY).where(_ENTRY.c.incident_id == incident_id, _ENTRY.c.source_channel_id == channel_id,
                                   _ENTRY.c.source_ts == ts)
    return conn.execute(stmt).first()


def took_part(conn, incident_id: int, user_id: str) -> bool:
    """Whether someone wrote or logged in the incident, recorded a change, or holds one of its roles.
    The author of a message added from another channel (kind `added`) did not take part by that."""
    wrote = sa.exists().where(_ENTRY.c.incident_id == incident_id, _ENTRY.c.author_id == user_id,
                              _ENTRY.c.kind != "added")
    role = sa.exists().where(Role.__table__.c.incident_id == incident_id, Role.__table__.c.user_id == user_id)
    inc = Incident.__table__
    opened = sa.exists().where(inc.c.id == incident_id, sa.or_(inc.c.created_by == user_id,
                                                                inc.c.commander_id == user_id))
    return bool(conn.execute(sa.select(sa.or_(wrote, role, opened))).scalar())


def count_shown(conn, incident_id: int) -> int:
    """How many entries `/incident timeline` pages through (deleted messages are left out)."""
    stmt = sa.select(sa.func.count()).select_from(_ENTRY).where(_ENTRY.c.incident_id == incident_id,
                                                                _ENTRY.c.deleted.is_(False))
    return conn.execute(stmt).scalar_one()


def page(conn, incident_id: int, offset: int, limit: int) -> list:
    """Entries `offset`… of the incident, oldest first (deleted messages left out)."""
    stmt = (sa.select(_ENTRY).where(_ENTRY.c.incident_id == incident_id, _ENTRY.c.deleted.is_(False))
            .order_by(_ENTRY.c.at, _ENTRY.c.id).offset(offset).limit(limit))
    return list(conn.execute(stmt))


def marked_key(conn, entry, key_emoji: str) -> bool:
    """Whether someone's 📌 reaction makes a captured message a key event."""
    if entry.channel_id is None or entry.ts is None:
        return False
    k = KeyMark.__table__.c
    stmt = sa.select(sa.exists().where(k.channel_id == entry.channel_id, k.ts == entry.ts, k.emoji == key_emoji,
                                       k.present.is_(True)))
    return bool(conn.execute(stmt).scalar())
