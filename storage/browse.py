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

from storage.models import ActionItem, Entry, Incident, PostmortemDraft


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


def open_action_items(session: Session, hidden: Collection[str], owner_id: str | None = None) -> list[OpenItem]:
    """Open action items of the incidents the viewer may see, by owner (no owner last), then due date."""
    stmt = (sa.select(ActionItem.id, ActionItem.incident_id, Incident.title, ActionItem.text, ActionItem.owner_id,
                      ActionItem.due, ActionItem.created_at)
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
