"""The incident list, read with two hand-written statements on a driver connection.

`incident-bot incidents` is run by people at a prompt: it must answer at once, so it reads through a
plain sqlite3/psycopg connection (storage.existing) instead of importing SQLAlchemy and the models.
tests/storage/test_existing.py checks that it reads the same rows as storage.incidents does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from storage.driver_sql import _for, read_time


@dataclass
class IncidentRow:
    id: int
    title: str
    severity: str | None
    status: str
    channel_id: str | None
    channel_name: str | None
    commander_id: str | None
    created_at: datetime
    display_tz: str | None
    milestones: dict[str, datetime] = field(default_factory=dict)  # name -> current time


_INCIDENTS = """
SELECT id, title, severity, status, channel_id, channel_name, commander_id, created_at, display_tz
FROM incident {where} ORDER BY id
"""
_MILESTONES = """
SELECT milestone.incident_id, milestone.name, milestone.at
FROM milestone JOIN incident ON incident.id = milestone.incident_id {where}
"""
_OPEN_ONLY = "WHERE incident.status <> :resolved"


def list_incidents(connection, dialect: str, *, open_only: bool = False) -> list[IncidentRow]:
    """Every incident (or those not resolved), oldest first, with its milestones' current times."""
    where = _OPEN_ONLY if open_only else ""
    params = {"resolved": "resolved"} if open_only else {}
    cursor = connection.cursor()
    try:
        cursor.execute(_for(dialect, _INCIDENTS.format(where=where.replace("incident.", ""))), params)
        incidents = {row[0]: IncidentRow(*row[:7], read_time(row[7]), row[8]) for row in cursor.fetchall()}
        cursor.execute(_for(dialect, _MILESTONES.format(where=where)), params)
        for incident_id, name, at in cursor.fetchall():
            if incident_id in incidents:  # not one created between the two statements
                incidents[incident_id].milestones[name] = read_time(at)
    finally:
        cursor.close()
    return list(incidents.values())
