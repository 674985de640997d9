"""Hand-written SQL for the acknowledgement path: a channel's incident, a captured message, a logged
entry (found in its channel's incident in the same statement). These run before Slack gets its answer,
for every channel message and every `/incident log`.

Building SQLAlchemy statements and objects costs several times what the database spends storing the
row (`python3 bench/capture_sql.py` prints both), so these statements are written once per
dialect and run on a driver cursor (storage.db.Database.hot_write/reading). Everything else goes
through SQLAlchemy. The columns come from storage.entries.COLUMNS and the capture rule from
storage.incidents.STILL_CAPTURES, so nothing here is a second definition; tests/storage/test_capture_sql.py
checks that rows written here read back through the models the same as rows written by the ORM.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from storage import entries
from storage.driver_sql import _for, bind_time, read_time
from storage.entries import COLUMNS
from storage.incidents import STILL_CAPTURES, WITH_RESOLVED

_CHANNEL_INCIDENT = f"""
SELECT incident.id, incident.status, incident.display_tz, incident.title, incident.channel_id, incident.severity,
       resolved.at, {STILL_CAPTURES} AS captures
FROM {WITH_RESOLVED}
WHERE incident.channel_id = :channel_id ORDER BY incident.id DESC LIMIT 1
"""

# An entry stored in its channel's incident, found by the same statement: the newest incident of the
# channel, if it still captures. (SQLite needs the WHERE before ON CONFLICT in INSERT ... SELECT.)
_INTO_CHANNEL_INCIDENT = f"""
INSERT INTO entry ({", ".join(COLUMNS)})
SELECT {", ".join("incident.id" if c == "incident_id" else ":" + c for c in COLUMNS)}
FROM {WITH_RESOLVED}
WHERE incident.id = (SELECT max(id) FROM incident WHERE channel_id = :channel_of_incident)
  AND {STILL_CAPTURES}
"""

# A message, unless its (channel, ts) is already stored. The channel is bound twice under two names:
# PostgreSQL deduces one type per parameter, and the two uses (a varchar column's value, a comparison)
# would deduce two.
_CAPTURE_MESSAGE = _INTO_CHANNEL_INCIDENT + "ON CONFLICT (channel_id, ts) DO NOTHING\n"

# A log entry, returning the entry, its incident and that incident's zone (for the reply).
_LOG_IN_CHANNEL = _INTO_CHANNEL_INCIDENT + (
    "RETURNING id, incident_id, (SELECT its.display_tz FROM incident AS its WHERE its.id = entry.incident_id)\n")

_INSERT_LOG = f"""
INSERT INTO entry ({", ".join(COLUMNS)}) VALUES ({", ".join(":" + c for c in COLUMNS)}) RETURNING id
"""

_SQL = {
    dialect: {name: _for(dialect, sql) for name, sql in
              {"channel_incident": _CHANNEL_INCIDENT, "capture_message": _CAPTURE_MESSAGE,
               "insert_log": _INSERT_LOG, "log_in_channel": _LOG_IN_CHANNEL}.items()}
    for dialect in ("sqlite", "postgresql")
}


@dataclass(frozen=True)
class ChannelIncident:
    """A channel's latest incident, as much as the hot paths need, and whether it still captures."""

    id: int
    status: str
    display_tz: str | None
    title: str
    channel_id: str
    severity: str | None
    resolved_at: datetime | None
    captures: bool


def channel_incident(conn, channel_id: str, capture_cutoff: datetime) -> ChannelIncident | None:
    """`conn` is a storage.db.Cursor."""
    conn.cursor.execute(_SQL[conn.dialect]["channel_incident"],
                        {"channel_id": channel_id, "capture_cutoff": bind_time(conn.dialect, capture_cutoff)})
    row = conn.cursor.fetchone()
    if row is None:
        return None
    return ChannelIncident(row[0], row[1], row[2], row[3], row[4], row[5], read_time(row[6]), bool(row[7]))


def capture_message(conn, channel_id: str, ts: str, author_id: str | None, text: str, at: datetime,
                    now: datetime, capture_cutoff: datetime, *, thread_ts: str | None = None,
                    files: list[dict] | None = None) -> bool:
    """Store a new message in its channel's incident, in one statement. False when nothing was stored:
    no incident captures in that channel, or (channel, ts) is already stored."""
    dialect = conn.dialect
    params = _bound(dialect, entries.row(
        incident_id=None, kind="message", at=at, author_id=author_id, text=text, channel_id=channel_id, ts=ts,
        thread_ts=thread_ts, files=json.dumps(files) if files else None, recorded_at=now))
    params.update(channel_of_incident=channel_id, capture_cutoff=bind_time(dialect, capture_cutoff))
    # rowcount, not RETURNING: the statement then completes in one call into the driver
    return conn.cursor.execute(_SQL[dialect]["capture_message"], params).rowcount == 1


def insert_log(conn, incident_id: int, author_id: str, text: str, at: datetime, now: datetime) -> int:
    """A `/incident log` entry (a key event), marked `to_post`: the outbox queues its post in the channel
    (storage/post_sql.py `queue_posts`), so the acknowledgement is this one statement. Returns its id."""
    dialect = conn.dialect
    row = entries.row(incident_id=incident_id, kind="log", at=at, author_id=author_id, text=text, key=True,
                      recorded_at=now, to_post=True)
    conn.cursor.execute(_SQL[dialect]["insert_log"], _bound(dialect, row))
    return conn.cursor.fetchone()[0]


@dataclass(frozen=True)
class Logged:
    """A log entry stored by `log_in_channel`: its id, its incident, and the incident's zone."""

    entry_id: int
    incident_id: int
    display_tz: str | None


def log_in_channel(conn, channel_id: str, author_id: str, text: str, at: datetime, now: datetime,
                   capture_cutoff: datetime) -> Logged | None:
    """`insert_log` into the channel's incident, found in the same statement: the acknowledgement of
    `/incident log` is this one statement. None when no incident in the channel takes entries (the
    caller then reads why)."""
    dialect = conn.dialect
    params = _bound(dialect, entries.row(incident_id=None, kind="log", at=at, author_id=author_id, text=text,
                                         key=True, recorded_at=now, to_post=True))
    params.update(channel_of_incident=channel_id, capture_cutoff=bind_time(dialect, capture_cutoff))
    conn.cursor.execute(_SQL[dialect]["log_in_channel"], params)
    row = conn.cursor.fetchone()
    return Logged(row[0], row[1], row[2]) if row is not None else None


def _bound(dialect: str, row: dict) -> dict:
    """A row's values as the driver takes them: times as storage.models.UTCDateTime stores them."""
    return {name: bind_time(dialect, value) if isinstance(value, datetime) else value
            for name, value in row.items()}
