"""Storage on SQLite and PostgreSQL: migrations, UTC round trips, idempotent writes, the outbox lease."""

from __future__ import annotations

import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta, timezone

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

from storage import entries, incidents, messages, outbox_jobs
from storage.db import Database, normalise_url
from storage.models import Entry, Incident, Milestone, OutboxJob
from tests.support import rows

NOW = datetime(2026, 11, 22, 14, 5, 30, 123456, tzinfo=UTC)


def make_incident(db: Database, **kwargs) -> int:
    with db.write() as session:
        values = {"title": "t", "created_by": "U1", "created_at": NOW, "channel_id": "C1"}
        values.update(kwargs)
        return incidents.add_incident(session, Incident(**values)).id


def empty_database(database_url: str, tmp_path) -> str:
    """A database with no schema at all: a new SQLite file, or the PostgreSQL test database emptied
    (the test must leave it migrated to head again)."""
    if database_url.startswith("sqlite"):
        return f"sqlite:///{tmp_path}/empty.db"
    base = sa.create_engine(normalise_url(database_url))
    with base.begin() as conn:
        conn.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
    base.dispose()
    return database_url


def test_migrations_create_exactly_the_models_schema(db):
    assert db.current_revision() is not None
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), SQLModel.metadata)
    assert diff == []


def test_upgrade_is_idempotent(db):
    before = db.current_revision()
    db.upgrade()
    assert db.current_revision() == before


def test_concurrent_upgrades_from_several_processes_are_serialised(database_url, tmp_path):
    """Replicas starting together each run migrations; the lock makes that safe on an empty database."""
    url = empty_database(database_url, tmp_path)
    code = "import sys; from storage.db import Database; d = Database(sys.argv[1]); d.upgrade(); d.dispose()"
    procs = [subprocess.Popen([sys.executable, "-c", code, url], stderr=subprocess.PIPE) for _ in range(3)]
    errors = [p.communicate(timeout=60)[1].decode() for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], errors
    db = Database(url)
    try:
        assert db.current_revision() is not None
    finally:
        db.dispose()


def test_times_round_trip_in_utc_to_the_microsecond(db):
    berlin = timezone(timedelta(hours=1))
    number = make_incident(db, created_at=NOW.astimezone(berlin))
    with db.read() as session:
        incident = incidents.incident_by_number(session, number)
    assert incident.created_at == NOW and incident.created_at.tzinfo is not None
    assert incident.created_at.utcoffset() == timedelta(0)


def test_incident_numbers_are_never_reused(db):
    first = make_incident(db)
    with db.write() as session:
        incidents.abandon_incident(session, first)
    assert make_incident(db) == first + 1


def test_a_message_is_stored_once_per_channel_and_ts(db):
    number = make_incident(db)
    message = messages.Message(channel_id="C1", ts="1700000000.000100", author_id="U1", text="hi")
    with db.write() as session:
        assert messages.capture_message(session, number, message, NOW, NOW)
        assert not messages.capture_message(session, number, message, NOW, NOW)
    with db.write() as session:
        assert not messages.capture_message(session, number, message, NOW, NOW)
        assert messages.record_event(session, "Ev1", NOW)
        assert not messages.record_event(session, "Ev1", NOW)
    with db.read() as session:
        assert len(entries.timeline(session, number, "pushpin")) == 1


def test_concurrent_writers_store_every_message_once(db):
    """Eight threads deliver the same 50 messages: 50 entries, no errors (SQLite waits for its lock)."""
    number = make_incident(db)
    errors = []

    def deliver():
        try:
            for i in range(50):
                message = messages.Message(channel_id="C1", ts=f"1700000000.{i:06d}", author_id="U1", text=str(i))
                with db.write() as session:
                    messages.capture_message(session, number, message, NOW, NOW)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=deliver) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with db.read() as session:
        assert len(entries.timeline(session, number, "pushpin")) == 50


def test_milestones_have_one_current_time(db):
    number = make_incident(db)
    with db.write() as session:
        first = Milestone(incident_id=number, name="mitigated", at=NOW, is_default=False, recorded_at=NOW)
        assert incidents.put_milestone(session, first) is None
    with db.write() as session:
        later = Milestone(incident_id=number, name="mitigated", at=NOW + timedelta(minutes=5), is_default=False,
                          recorded_at=NOW)
        previous = incidents.put_milestone(session, later)
    assert previous.at == NOW
    with db.read() as session:
        assert incidents.milestones(session, number)["mitigated"].at == NOW + timedelta(minutes=5)


def test_key_marks_take_the_newest_event(db):
    with db.write() as session:
        assert messages.mark_key(session, "C1", "1.1", "U1", "pushpin", True, "100.000001")
        assert not messages.mark_key(session, "C1", "1.1", "U1", "pushpin", False, "099.000001")
        assert messages.mark_key(session, "C1", "1.1", "U1", "pushpin", False, "101.000001")


def test_open_incident_channels(db):
    open_one = make_incident(db, channel_id="C1")
    resolved_long_ago = make_incident(db, channel_id="C2", status="resolved")
    with db.write() as session:
        incidents.put_milestone(session, Milestone(incident_id=resolved_long_ago, name="resolved",
                                                 at=NOW - timedelta(days=30), is_default=False, recorded_at=NOW))
    with db.read() as session:
        assert incidents.open_incident_channels(session, NOW - timedelta(days=7)) == [(open_one, "C1")]


def test_a_reused_channel_is_caught_up_for_its_newest_incident_only(db):
    """INC-1 resolved yesterday and INC-2 opened in the same channel: what was said there while the
    bot was away belongs to INC-2, so only INC-2 is caught up (a backfill files under its incident)."""
    first = make_incident(db, channel_id="C1", status="resolved")
    with db.write() as session:
        incidents.put_milestone(session, Milestone(incident_id=first, name="resolved", at=NOW - timedelta(days=1),
                                                 is_default=False, recorded_at=NOW))
    second = make_incident(db, channel_id="C1")
    with db.read() as session:
        assert incidents.open_incident_channels(session, NOW - timedelta(days=7)) == [(second, "C1")]


# --- the outbox ---------------------------------------------------------------------------------


def test_enqueued_jobs_commit_with_the_change_or_not_at_all(db):
    number = make_incident(db)
    try:
        with db.write() as session:
            entries.add_entry(session, Entry(incident_id=number, kind="log", at=NOW, text="x", recorded_at=NOW))
            outbox_jobs.enqueue(session, "announce", {"text": "x"}, NOW)
            raise RuntimeError("the change fails")
    except RuntimeError:
        pass
    with db.read() as session:
        assert rows.pending_jobs(session) == []
        assert entries.timeline(session, number, "pushpin") == []


def test_the_outbox_is_woken_after_a_commit_that_queued_jobs_and_only_then(db):
    woken = []

    def wake():
        with db.read() as session:  # what the drainer would find
            woken.append([job.kind for job in rows.pending_jobs(session)])

    db.on_jobs_committed = wake
    number = make_incident(db)
    assert woken == [], "a transaction without jobs wakes nobody"
    try:
        with db.write() as session:
            outbox_jobs.enqueue(session, "announce", {"text": "x"}, NOW)
            raise RuntimeError("the change fails")
    except RuntimeError:
        pass
    assert woken == [], "a rolled-back transaction wakes nobody"
    with db.write() as session:
        entries.add_entry(session, Entry(incident_id=number, kind="log", at=NOW, text="x", recorded_at=NOW))
        outbox_jobs.enqueue(session, "announce", {"text": "x"}, NOW)
        assert woken == [], "not before the commit"
    assert woken == [["announce"]], "woken once, with the job visible to the drainer"


def test_a_waiting_job_absorbs_one_with_the_same_key(db):
    with db.write() as session:
        outbox_jobs.enqueue(session, "sync_header", {"incident_id": 1}, NOW + timedelta(seconds=10), coalesce_key="h:1")
        outbox_jobs.enqueue(session, "sync_header", {"incident_id": 1}, NOW, coalesce_key="h:1")
        outbox_jobs.enqueue(session, "sync_header", {"incident_id": 2}, NOW, coalesce_key="h:2")
    with db.read() as session:
        jobs = rows.pending_jobs(session)
    assert len(jobs) == 2
    assert jobs[0].next_attempt_at == NOW  # moved earlier, never later


def test_concurrent_claims_never_share_a_job(db):
    with db.write() as session:
        for i in range(60):
            outbox_jobs.enqueue(session, "announce", {"i": i}, NOW)
    claimed: list[list[int]] = []
    lock = threading.Lock()

    def claim(owner: str):
        mine = []
        while True:
            with db.write() as session:
                jobs = outbox_jobs.claim_jobs(session, owner, NOW, timedelta(minutes=1), 5)
            if not jobs:
                break
            mine += [j.id for j in jobs]
        with lock:
            claimed.append(mine)

    threads = [threading.Thread(target=claim, args=(f"w{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    every = [job for mine in claimed for job in mine]
    assert len(every) == 60 and len(set(every)) == 60


def test_an_expired_lease_is_claimed_again(db):
    with db.write() as session:
        outbox_jobs.enqueue(session, "announce", {}, NOW)
    with db.write() as session:
        [job] = outbox_jobs.claim_jobs(session, "crashed", NOW, timedelta(minutes=1), 10)
    with db.write() as session:
        assert outbox_jobs.claim_jobs(session, "other", NOW + timedelta(seconds=30), timedelta(minutes=1), 10) == []
    with db.write() as session:
        [again] = outbox_jobs.claim_jobs(session, "other", NOW + timedelta(minutes=2), timedelta(minutes=1), 10)
    assert again.id == job.id and again.attempts == 2


def test_finished_and_given_up_jobs_are_not_claimed(db):
    with db.write() as session:
        outbox_jobs.enqueue(session, "a", {}, NOW)
        outbox_jobs.enqueue(session, "b", {}, NOW)
    with db.write() as session:
        a, b = outbox_jobs.claim_jobs(session, "w", NOW, timedelta(minutes=1), 10)
        outbox_jobs.retry_job(session, b.id, "w", "boom", None, NOW)
    db.hot_write(lambda conn: outbox_jobs.finish_job(conn, a.id, "w", NOW))
    with db.read() as session:
        assert rows.pending_jobs(session) == []
        assert session.get(OutboxJob, b.id).failed



def test_upgrading_does_not_prompt_or_nudge_about_incidents_resolved_before(database_url, tmp_path):
    """An operator upgrades a bot that already has resolved incidents: nobody is DMed about old ones."""
    url = empty_database(database_url, tmp_path)
    db = Database(url)
    try:
        db.upgrade("0001")  # the schema as the first release left it
        with db.engine.begin() as conn:
            for number, status in ((1, "resolved"), (2, "open")):
                conn.execute(sa.text("INSERT INTO incident (id, title, status, created_by, created_at) "
                                     "VALUES (:id, 'old', :status, 'U1', :at)"),
                             {"id": number, "status": status, "at": NOW.replace(tzinfo=None)})
        db.upgrade()
        with db.read() as session:
            old, still_open = session.get(Incident, 1), session.get(Incident, 2)
        assert old.prompts_sent_at is not None and old.nudged_at is not None
        assert still_open.prompts_sent_at is None and still_open.nudged_at is None
    finally:
        db.dispose()
