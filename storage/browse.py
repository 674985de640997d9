"""What the web view reads (bot/web/): incidents filtered and paged, open action items across
incidents, the channels incidents live in. Read-only; every query takes the channels the viewer may
not see (`hidden`), so a private incident is left out in SQL, before counting and paging.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Session

from storage.models import ActionItem, Entry, Incident, KeyMark, PostmortemDraft, UserProfile


def incident_channels(session: Session) -> list[str]:
    """Every channel an incident lives in (each once)."""
    stmt = sa.select(Incident.channel_id).where(Incident.channel_id.is_not(None)).distinct()
    return [row[0] for row in session.execute(stmt)]


def _visible(hidden: Collection[str]):
    """Incidents outside the hidden channels (an incident without a channel is in none of them)."""
    if not hidden:
        return sa.true()
    return sa.or_(Incident.channel_id.is_(None), Incident.channel_id.not_in(sorted(set(hidden))))


@dataclass(frozen=True)
class IncidentQuery:
    statuses: tuple[str, ...] = ()
    severities: tuple[str, ...] = ()
    since: datetime | None = None  # declared at or after (aware)
    until: datetime | None = None  # declared before (aware)
    text: str | None = None  # in Slack's encoding; matched in titles and entry text, any case


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _conditions(query: IncidentQuery, hidden: Collection[str]) -> list:
    conditions = [_visible(hidden)]
    if query.statuses:
        conditions.append(Incident.status.in_(query.statuses))
    if query.severities:
        conditions.append(Incident.severity.in_(query.severities))
    if query.since is not None:
        conditions.append(Incident.created_at >= query.since)
    if query.until is not None:
        conditions.append(Incident.created_at < query.until)
    if query.text:
        pattern = _like(query.text)
        in_entries = (sa.exists().where(Entry.incident_id == Incident.id)
                      .where(Entry.text.ilike(pattern, escape="\\")))
        conditions.append(sa.or_(Incident.title.ilike(pattern, escape="\\"), in_entries))
    return conditions


def find_incidents(session: Session, query: IncidentQuery, hidden: Collection[str], *, offset: int, limit: int,
                   ) -> tuple[list[sa.Row], int]:
    """(one page of incidents, newest first, as rows of incident's columns; how many match in all)."""
    conditions = _conditions(query, hidden)
    total = session.execute(sa.select(sa.func.count()).select_from(Incident).where(*conditions)).scalar() or 0
    columns = [Incident.id, Incident.title, Incident.severity, Incident.status, Incident.channel_id,
               Incident.channel_name, Incident.commander_id, Incident.created_at]
    stmt = (sa.select(*columns).where(*conditions).order_by(Incident.created_at.desc(), Incident.id.desc())
            .offset(offset).limit(limit))
    return list(session.execute(stmt)), total


@dataclass(frozen=True)
class OpenItem:
    id: int
    incident_id: int
    incident_title: str
    text: str
    owner_id: str | None
    due: date | None
    created_at: datetime
    tracker: str | None = None  # its issue in the tracker, when it has one (bot/tracker_items.py)
    tracker_key: str | None = None
    tracker_url: str | None = None
    tracker_error: str | None = None


def open_action_items(session: Session, hidden: Collection[str], owner_id: str | None = None) -> list[OpenItem]:
    """Open action items of the incidents the viewer may see, by owner (no owner last), then due date."""
    stmt = (sa.select(ActionItem.id, ActionItem.incident_id, Incident.title, ActionItem.text, ActionItem.owner_id,
                      ActionItem.due, ActionItem.created_at, ActionItem.tracker, ActionItem.tracker_key,
                      ActionItem.tracker_url, ActionItem.tracker_error)
            .join(Incident, Incident.id == ActionItem.incident_id)
            .where(ActionItem.status == "open", _visible(hidden)))
    if owner_id is not None:
        stmt = stmt.where(ActionItem.owner_id == owner_id)
    stmt = stmt.order_by(ActionItem.owner_id.is_(None), ActionItem.owner_id, ActionItem.due.is_(None),
                         ActionItem.due, ActionItem.id)
    return [OpenItem(*row) for row in session.execute(stmt)]


def incident_channel(session: Session, incident_id: int) -> tuple[bool, str | None]:
    """(whether the incident exists, its channel)."""
    row = session.execute(sa.select(Incident.channel_id).where(Incident.id == incident_id)).first()
    return (row is not None, row[0] if row is not None else None)


def item_incident(session: Session, item_id: int) -> int | None:
    """The incident an action item belongs to (None: no such item)."""
    return session.execute(sa.select(ActionItem.incident_id).where(ActionItem.id == item_id)).scalar()


def entry_incident(session: Session, entry_id: int) -> int | None:
    """The incident a timeline entry belongs to (None: no such entry)."""
    return session.execute(sa.select(Entry.incident_id).where(Entry.id == entry_id)).scalar()


@dataclass(frozen=True)
class DraftVersion:
    version: int
    template: str
    created_by: str | None
    created_at: datetime


def draft_versions(session: Session, incident_id: int) -> list[DraftVersion]:
    """The stored versions of an incident's postmortem draft, newest first (without their text)."""
    stmt = (sa.select(PostmortemDraft.version, PostmortemDraft.template, PostmortemDraft.created_by,
                      PostmortemDraft.created_at)
            .where(PostmortemDraft.incident_id == incident_id).order_by(PostmortemDraft.version.desc()))
    return [DraftVersion(*row) for row in session.execute(stmt)]


def draft_markdown(session: Session, incident_id: int, version: int | None) -> tuple[int, str] | None:
    """(version, Markdown) of one stored draft, the newest when `version` is None; None when there is none."""
    stmt = sa.select(PostmortemDraft.version, PostmortemDraft.markdown).where(PostmortemDraft.incident_id == incident_id)
    if version is None:
        stmt = stmt.order_by(PostmortemDraft.version.desc()).limit(1)
    else:
        stmt = stmt.where(PostmortemDraft.version == version)
    row = session.execute(stmt).first()
    return (row[0], row[1]) if row is not None else None


# ---------------------------------------------------------------------------------------------
# one incident's timeline, for a page of it: an index of every line (no text), then the lines shown

TIMELINE_KINDS = ("log", "message", "added", "update")  # said, logged or added; other kinds record changes


def _timeline_where(incident_id: int, key_emoji: str, key_only: bool):
    """(the conditions of an incident's timeline lines, the expression of their key-event status)."""
    e, k = Entry.__table__.c, KeyMark.__table__.c
    marked = sa.exists().where(k.channel_id == e.channel_id, k.ts == e.ts, k.emoji == key_emoji, k.present.is_(True))
    key = sa.or_(e.key.is_(True), sa.and_(e.kind == "message", e.deleted.is_(False), marked))
    conditions = [e.incident_id == incident_id, sa.or_(e.kind.in_(TIMELINE_KINDS), e.key.is_(True))]
    if key_only:
        conditions += [key, e.hidden.is_(False), e.deleted.is_(False)]
    return conditions, key


def timeline_counts(session: Session, incident_id: int, key_emoji: str, *, key_only: bool,
                    befores: Collection[datetime] = ()) -> tuple[int, int, list[int]]:
    """In one statement: how many timeline lines an incident has (what people said, logged or added,
    and changes marked key), how many of them are key events that are shown, and for each time in
    `befores` how many lines come before it (counting only shown key events with `key_only`)."""
    conditions, key = _timeline_where(incident_id, key_emoji, False)
    e = Entry.__table__.c
    shown_key = sa.and_(key, e.hidden.is_(False), e.deleted.is_(False))
    columns = [sa.func.count(), sa.func.coalesce(sa.func.sum(sa.case((shown_key, 1), else_=0)), 0)]
    for at in befores:
        before = sa.and_(shown_key, e.at < at) if key_only else e.at < at
        columns.append(sa.func.coalesce(sa.func.sum(sa.case((before, 1), else_=0)), 0))
    row = session.connection().execute(sa.select(*columns).select_from(Entry.__table__).where(*conditions)).one()
    return int(row[0]), int(row[1]), [int(n) for n in row[2:]]


def lines(session: Session, incident_id: int, key_emoji: str, *, key_only: bool, offset: int, limit: int) -> list:
    """Timeline lines `offset`… of the incident, oldest first: every column, and `is_key` (a message is
    key when someone 📌-marked it and it is not deleted)."""
    conditions, key = _timeline_where(incident_id, key_emoji, key_only)
    e = Entry.__table__.c
    stmt = (sa.select(Entry.__table__, key.label("is_key")).where(*conditions).order_by(e.at, e.id)
            .offset(offset).limit(limit))
    return list(session.connection().execute(stmt))


def key_sample(session: Session, incident_id: int, key_emoji: str, most: int, total: int) -> list:
    """At most `most` of the incident's `total` shown key events, evenly spread, as (at, text) rows,
    for drawing them on a chart."""
    if total == 0:
        return []
    step = -(-total // most)
    conditions, _ = _timeline_where(incident_id, key_emoji, True)
    e = Entry.__table__.c
    numbered = (sa.select(e.at, e.text, sa.func.row_number().over(order_by=(e.at, e.id)).label("n"))
                .where(*conditions, e.kind.not_in(("milestone",))).subquery())
    stmt = sa.select(numbered.c.at, numbered.c.text).where((numbered.c.n - 1) % step == 0).order_by(numbered.c.n)
    return list(session.connection().execute(stmt))


def change_entries(session: Session, incident_id: int) -> list[sa.Row]:
    """The entries that record a change (severity, role, an action item closed, …), oldest first."""
    stmt = (sa.select(Entry.id, Entry.at, Entry.kind, Entry.author_id, Entry.text)
            .where(Entry.incident_id == incident_id, Entry.kind.not_in(TIMELINE_KINDS)).order_by(Entry.at, Entry.id))
    return list(session.execute(stmt))


def people_never_looked_up(session: Session, user_ids: Collection[str]) -> list[str]:
    """Of these people, those the bot has no profile of at all (never asked Slack about)."""
    ids = sorted({u for u in user_ids if u})
    if not ids:
        return []
    known = set(session.execute(sa.select(UserProfile.user_id).where(UserProfile.user_id.in_(ids))).scalars())
    return [u for u in ids if u not in known]
