"""What insights read: every incident's number, severity, declaration and milestone times, in one
statement (each milestone a column), however many incidents there are.

`incident_times(session, …)` runs it in a SQLAlchemy session (the web view); `incident_times_on
(connection, dialect, …)` on a plain driver connection from storage.existing (`incident-bot stats`,
which must start at once and never imports SQLAlchemy). Both return the same plain `TimesRow` tuples;
bot.statistics turns them into its values (storage never imports bot).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime
from typing import NamedTuple

from storage.driver_sql import _for, bind_time, read_time

MILESTONE_NAMES = ("started", "detected", "acknowledged", "mitigated", "resolved")


class TimesRow(NamedTuple):
    """One incident; times are aware datetimes in UTC (on PostgreSQL, the server's UTC zone object when
    its session zone is UTC), a milestone never set is None."""

    number: int
    severity: str | None
    declared_at: datetime
    started: datetime | None
    detected: datetime | None
    acknowledged: datetime | None
    mitigated: datetime | None
    resolved: datetime | None


# One current time per (incident, name) (uq_milestone_incident_name), so MAX picks that one. A LEFT JOIN
# and GROUP BY: on PostgreSQL a fifth of the time of a subquery per milestone, on SQLite about the same
# (bench/insights.py). Grouping by the primary key lets the incident's other columns be selected.
_PIVOT = ",\n  ".join(f"MAX(CASE WHEN milestone.name = '{name}' THEN milestone.at END) AS {name}"
                      for name in MILESTONE_NAMES)
_SQL = f"""
SELECT incident.id, incident.severity, incident.created_at,
  {_PIVOT}
FROM incident LEFT JOIN milestone ON milestone.incident_id = incident.id
{{where}}
GROUP BY incident.id
ORDER BY incident.id
"""


def _statement(dialect: str, since: datetime | None, until: datetime | None,
               exclude_channels: Collection[str]) -> tuple[str, dict]:
    conditions, params = [], {}
    if since is not None:
        conditions.append("incident.created_at >= :since")
        params["since"] = bind_time(dialect, _aware(since))
    if until is not None:
        conditions.append("incident.created_at < :until")
        params["until"] = bind_time(dialect, _aware(until))
    channels = sorted(set(exclude_channels))
    if channels:
        names = [f"c{i}" for i in range(len(channels))]
        params.update(zip(names, channels, strict=True))
        # An incident without a channel is never a private channel's: NOT IN alone would drop it (NULL).
        conditions.append("(incident.channel_id IS NULL OR incident.channel_id NOT IN ("
                          + ", ".join(f":{name}" for name in names) + "))")
    where = ("WHERE " + " AND ".join(conditions)) if conditions else ""
    return _SQL.format(where=where), params


def _aware(at: datetime) -> datetime:
    if at.tzinfo is None:
        raise ValueError("since/until must be timezone-aware")
    return at


def _time(value) -> datetime | None:
    """read_time, quicker: SQLite's naive UTC text, and PostgreSQL's times already in UTC, are most of the
    values read and took a third of the time."""
    if type(value) is str:
        try:
            return datetime.fromisoformat(value + "+00:00")
        except ValueError:
            pass
    elif value is not None and (value.tzinfo is UTC or getattr(value.tzinfo, "key", None) in _UTC_KEYS):
        return value  # psycopg gives times in the session's zone: on most servers that is UTC already
    return read_time(value)


_UTC_KEYS = frozenset({"UTC", "Etc/UTC", "Etc/UCT", "UCT", "Etc/Universal", "Universal", "Zulu", "Etc/Zulu"})


def _rows(raw) -> list[TimesRow]:
    t = _time
    return [TimesRow(r[0], r[1], t(r[2]), t(r[3]), t(r[4]), t(r[5]), t(r[6]), t(r[7])) for r in raw]


def incident_times(session, *, since: datetime | None = None, until: datetime | None = None,
                   exclude_channels: Collection[str] = ()) -> list[TimesRow]:
    """Every incident declared in [since, until) (either may be None: unbounded), oldest first, except
    those whose channel is one of `exclude_channels` (the web view's private channels the viewer is not in).
    """
    import sqlalchemy as sa

    dialect = session.get_bind().dialect.name
    sql, params = _statement(dialect, since, until, exclude_channels)
    return _rows(session.execute(sa.text(sql), params).all())


def incident_times_on(connection, dialect: str, *, since: datetime | None = None,
                      until: datetime | None = None,
                      exclude_channels: Collection[str] = ()) -> list[TimesRow]:
    """incident_times on a driver connection (sqlite3 or psycopg) and its dialect, as storage.existing
    gives them."""
    sql, params = _statement(dialect, since, until, exclude_channels)
    cursor = connection.cursor()
    try:
        cursor.execute(_for(dialect, sql), params)
        return _rows(cursor.fetchall())
    finally:
        cursor.close()
