"""The activity log: every change to an incident's timeline (edit, re-time, hide, show, add from another
channel, undo, a Slack edit kept out by a person's edit) and every recorded change of its fields, with
who, when, and the changed fields before and after (JSON objects). `/incident undo` reads it back."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from storage.models import Activity, Entry

_ACTIVITY = Activity.__table__
_ENTRY = Entry.__table__


def _json_value(value: Any):
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not stored in the activity log")


def dumps(values: Mapping[str, Any]) -> str:
    return json.dumps(dict(values), default=_json_value, sort_keys=True)


@dataclass(frozen=True)
class Record:
    id: int
    incident_id: int
    entry_id: int | None
    actor: str
    action: str
    before: dict
    after: dict
    at: datetime
    undone_at: datetime | None
    undoes: int | None


def _record(row) -> Record:
    return Record(row.id, row.incident_id, row.entry_id, row.actor, row.action, json.loads(row.before or "{}"),
                  json.loads(row.after or "{}"), row.at, row.undone_at, row.undoes)


def add(conn, *, incident_id: int, actor: str, action: str, at: datetime, entry_id: int | None = None,
        before: Mapping[str, Any] | None = None, after: Mapping[str, Any] | None = None,
        undoes: int | None = None) -> int:
    """Append one record (in the caller's transaction). Returns its id."""
    stmt = sa.insert(_ACTIVITY).values(
        incident_id=incident_id, entry_id=entry_id, actor=actor, action=action, before=dumps(before or {}),
        after=dumps(after or {}), at=at, undoes=undoes).returning(_ACTIVITY.c.id)
    return conn.execute(stmt).scalar_one()


def history(conn, incident_id: int) -> list[Record]:
    """An incident's records, oldest first."""
    stmt = sa.select(_ACTIVITY).where(_ACTIVITY.c.incident_id == incident_id).order_by(_ACTIVITY.c.at, _ACTIVITY.c.id)
    return [_record(row) for row in conn.execute(stmt)]


def latest_undoable(conn, incident_id: int, actor: str, actions: tuple[str, ...], since: datetime) -> Record | None:
    """The actor's most recent record of one of `actions` since `since` that is not undone yet, nor
    passed over by an undo that could not put it back (`skip_undo`)."""
    stmt = (sa.select(_ACTIVITY)
            .where(_ACTIVITY.c.incident_id == incident_id, _ACTIVITY.c.actor == actor,
                   _ACTIVITY.c.action.in_(actions), _ACTIVITY.c.undone_at.is_(None),
                   _ACTIVITY.c.undo_skipped_at.is_(None), _ACTIVITY.c.at >= since)
            .order_by(_ACTIVITY.c.at.desc(), _ACTIVITY.c.id.desc()).limit(1))
    row = conn.execute(stmt).first()
    return _record(row) if row is not None else None


def latest_own_log(conn, incident_id: int, author: str, since: datetime):
    """The author's most recent `/incident log` entry since `since` that is shown and was never undone
    (an `undo` record without `undoes` names the log entry it hid). Returns (id, recorded_at) or None."""
    undone = sa.exists().where(_ACTIVITY.c.entry_id == _ENTRY.c.id, _ACTIVITY.c.action == "undo",
                               _ACTIVITY.c.undoes.is_(None))
    stmt = (sa.select(_ENTRY.c.id, _ENTRY.c.recorded_at)
            .where(_ENTRY.c.incident_id == incident_id, _ENTRY.c.author_id == author, _ENTRY.c.kind == "log",
                   _ENTRY.c.hidden.is_(False), _ENTRY.c.deleted.is_(False), _ENTRY.c.recorded_at >= since,
                   ~undone)
            .order_by(_ENTRY.c.recorded_at.desc(), _ENTRY.c.id.desc()).limit(1))
    return conn.execute(stmt).first()


def mark_undone(conn, record_id: int, at: datetime) -> bool:
    """True only for the first caller (two undo presses at once undo a change once)."""
    result = conn.execute(sa.update(_ACTIVITY).where(_ACTIVITY.c.id == record_id, _ACTIVITY.c.undone_at.is_(None))
                          .values(undone_at=at))
    return (result.rowcount or 0) == 1


def skip_undo(conn, record_id: int, at: datetime) -> None:
    """Mark a record `/incident undo` could not put back (it was changed again since): the next undo
    reaches the record before it."""
    conn.execute(sa.update(_ACTIVITY).where(_ACTIVITY.c.id == record_id, _ACTIVITY.c.undone_at.is_(None))
                 .values(undo_skipped_at=at))


UNDO_WINDOW = timedelta(minutes=30)
