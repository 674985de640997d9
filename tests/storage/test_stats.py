"""What insights read (storage/stats.py), on SQLite and PostgreSQL: every incident's declaration and
milestone times in one statement, filtered by when it was declared and by its channel."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event

from storage.existing import connect_existing
from storage.models import Incident, Milestone
from storage.stats import TimesRow, incident_times, incident_times_on

T0 = datetime(2026, 3, 31, 21, 30, 15, 123456, tzinfo=UTC)


def add(db, number: int, declared: datetime, *, severity="sev2", channel: str | None = None, **milestones):
    with db.write() as session:
        session.add(Incident(id=number, title=f"incident {number}", severity=severity, created_by="U1",
                             created_at=declared,
                             channel_id=channel if channel is not None else f"C{number:04d}"))
        session.flush()
        for name, at in milestones.items():
            session.add(Milestone(incident_id=number, name=name, at=at, recorded_at=declared))


def read(db, **kwargs) -> list[TimesRow]:
    with db.read() as session:
        return incident_times(session, **kwargs)


def read_on_driver(database_url, **kwargs) -> list[TimesRow]:
    connection, dialect = connect_existing(database_url)
    try:
        return incident_times_on(connection, dialect, **kwargs)
    finally:
        connection.close()


def test_each_incident_with_its_milestones_as_stored(db, database_url):
    add(db, 1, T0, started=T0 - timedelta(minutes=20), detected=T0, acknowledged=T0 + timedelta(seconds=90),
        mitigated=T0 + timedelta(hours=1), resolved=T0 + timedelta(days=2, microseconds=7))
    add(db, 2, T0 + timedelta(hours=1), severity=None, detected=T0 + timedelta(hours=1))
    add(db, 3, T0 + timedelta(hours=2), severity="sev1")  # no milestone at all
    expected = [
        TimesRow(1, "sev2", T0, T0 - timedelta(minutes=20), T0, T0 + timedelta(seconds=90),
                 T0 + timedelta(hours=1), T0 + timedelta(days=2, microseconds=7)),
        TimesRow(2, None, T0 + timedelta(hours=1), None, T0 + timedelta(hours=1), None, None, None),
        TimesRow(3, "sev1", T0 + timedelta(hours=2), None, None, None, None, None),
    ]
    for rows in (read(db), read_on_driver(database_url)):
        assert rows == expected
        assert all(at.utcoffset() == timedelta(0) for row in rows for at in row[2:] if at)


def test_since_and_until_take_the_incidents_declared_in_between_until_excluded(db, database_url):
    for number in range(1, 6):
        add(db, number, T0 + timedelta(hours=number))
    since, until = T0 + timedelta(hours=2), T0 + timedelta(hours=4)
    for reader in (lambda **kw: read(db, **kw), lambda **kw: read_on_driver(database_url, **kw)):
        assert [r.number for r in reader(since=since, until=until)] == [2, 3]
        assert [r.number for r in reader(since=since)] == [2, 3, 4, 5]
        assert [r.number for r in reader(until=until)] == [1, 2, 3]
        # the same instants given in another zone, to the microsecond
        berlin = since.astimezone(ZoneInfo("Europe/Berlin"))
        assert [r.number for r in reader(since=berlin - timedelta(microseconds=1), until=until)] == [2, 3]
        assert [r.number for r in reader(since=berlin + timedelta(microseconds=1), until=until)] == [3]


def test_excluded_channels_hide_their_incidents_and_keep_those_without_a_channel(db, database_url):
    add(db, 1, T0, channel="CPRIVATE1")
    add(db, 2, T0, channel="CPUBLIC")
    add(db, 3, T0, channel="CPRIVATE2")
    add(db, 4, T0, channel="")  # never bound to a channel (channel_id NULL below)
    with db.write() as session:
        session.get(Incident, 4).channel_id = None
    for reader in (lambda **kw: read(db, **kw), lambda **kw: read_on_driver(database_url, **kw)):
        assert [r.number for r in reader(exclude_channels=["CPRIVATE1", "CPRIVATE2"])] == [2, 4]
        assert [r.number for r in reader(exclude_channels={"CPUBLIC"}, since=T0)] == [1, 3, 4]
        assert [r.number for r in reader(exclude_channels=[f"C{i}" for i in range(2000)])] == [1, 2, 3, 4]


def test_one_statement_however_many_incidents(db):
    for number in range(1, 41):
        add(db, number, T0 + timedelta(minutes=number), detected=T0, resolved=T0 + timedelta(hours=number))
    statements = []

    def count(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(db.read_engine, "before_cursor_execute", count)
    try:
        rows = read(db, exclude_channels=["C0001"])
    finally:
        event.remove(db.read_engine, "before_cursor_execute", count)
    assert len(rows) == 39 and rows[-1].resolved == T0 + timedelta(hours=40)
    assert len([s for s in statements if "milestone" in s]) == 1


def test_naive_bounds_are_refused(db):
    with pytest.raises(ValueError, match="timezone-aware"):
        read(db, since=datetime(2026, 1, 1))


POSTGRES_ONLY = [pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.mark.parametrize("database_url", POSTGRES_ONLY, indirect=True)
def test_times_come_back_in_utc_whatever_the_postgresql_sessions_zone(db, database_url):
    add(db, 1, T0, detected=T0, resolved=T0 + timedelta(hours=2))
    connection, dialect = connect_existing(database_url)
    try:
        connection.execute("SET TIME ZONE 'America/New_York'")
        [row] = incident_times_on(connection, dialect)
    finally:
        connection.close()
    assert row.declared_at == T0 and row.resolved - row.declared_at == timedelta(hours=2)
    assert all(at.utcoffset() == timedelta(0) for at in (row.declared_at, row.detected, row.resolved))
