"""Opening an existing database without Alembic, and the incident list read without SQLAlchemy."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory

from storage import incidents, listing
from storage.db import Database, alembic_config
from storage.db_errors import DatabaseProblem
from storage.existing import connect_existing, head_revision, revisions


def test_the_revisions_read_from_the_files_are_alembics():
    script = ScriptDirectory.from_config(alembic_config())
    assert head_revision() == script.get_current_head()
    assert list(revisions()) == [s.revision for s in reversed(list(script.walk_revisions()))]


def test_an_existing_database_opens_without_being_changed(database_url):
    connection, dialect = connect_existing(database_url)
    connection.close()
    assert dialect in ("sqlite", "postgresql")
    db = Database.open_existing(database_url)
    try:
        assert db.current_revision() == head_revision()
    finally:
        db.dispose()


def _set_revision(db, revision: str) -> None:
    with db.write() as session:
        session.exec(sa.text("UPDATE alembic_version SET version_num = :v").bindparams(v=revision))


def test_a_database_behind_or_ahead_is_refused_and_left_as_it_is(database_url, db):
    try:
        _set_revision(db, revisions()[0])
        with pytest.raises(DatabaseProblem, match="run `incident-bot db upgrade`") as raised:
            Database.open_existing(database_url)
        assert raised.value.exit_status == 1
        _set_revision(db, "ffff")
        with pytest.raises(DatabaseProblem, match="newer than this incident-bot knows"):
            connect_existing(database_url)
        assert db.current_revision() == "ffff"
    finally:
        _set_revision(db, head_revision())  # the PostgreSQL database is shared by the session's tests


def test_the_lean_incident_list_reads_what_the_queries_read(bot, database_url):
    bot.command("start Checkout errors sev2")
    bot.command("start Search is slow sev3")
    channel = [c for c in bot.standin.channels.values() if c.name.startswith(bot.settings.channel_prefix)][0].id
    bot.command("mitigated 2026-11-01 10:00 UTC", channel_id=channel)
    bot.command("resolved", channel_id=channel)
    for open_only in (False, True):
        with bot.db.read() as session:
            expected = incidents.list_incidents(session, open_only=open_only)
            times = incidents.milestones_for(session, [i.id for i in expected])
        connection, dialect = connect_existing(database_url)
        try:
            rows = listing.list_incidents(connection, dialect, open_only=open_only)
        finally:
            connection.close()
        assert [r.id for r in rows] == [i.id for i in expected] == ([2] if open_only else [1, 2])
        for row, inc in zip(rows, expected, strict=True):
            assert (row.title, row.status, row.severity, row.channel_id, row.channel_name, row.commander_id,
                    row.created_at, row.display_tz) == (inc.title, inc.status, inc.severity, inc.channel_id,
                                                        inc.channel_name, inc.commander_id, inc.created_at,
                                                        inc.display_tz)
            assert row.milestones == {name: m.at for name, m in times[inc.id].items()}
        if not open_only:
            assert {"detected", "mitigated", "resolved"} <= set(rows[0].milestones)
