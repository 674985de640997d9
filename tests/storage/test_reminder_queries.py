"""The reminder queries on SQLite and PostgreSQL: candidates, records, nudges, and the outbox's
idempotency key that queues one reminder job per person however many sweeps run at once."""

from __future__ import annotations

import threading
import time
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa
from sqlmodel import select

from storage import action_items, incidents, outbox_jobs, overdue, profiles
from storage.db import Database, DatabaseUnavailable
from storage.models import ActionItem, Incident, Milestone, OutboxJob, PostmortemDraft
from tests.storage.test_storage import empty_database

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
BEFORE = NOW - timedelta(hours=24)


def incident(db: Database, **kwargs) -> int:
    values = {"title": "t", "created_by": "U0CMDR", "commander_id": "U0CMDR", "channel_id": "C1", "created_at": NOW}
    values.update(kwargs)
    with db.write() as session:
        return incidents.add_incident(session, Incident(**values)).id


def item(db: Database, incident_id: int, **kwargs) -> int:
    values = {"incident_id": incident_id, "text": "x", "owner_id": "U0OWNER", "due": date(2026, 11, 20),
              "created_at": NOW}
    values.update(kwargs)
    with db.write() as session:
        return action_items.add_action_item(session, ActionItem(**values)).id


def candidates(db: Database, latest_due=date(2026, 11, 23), reminded_before=BEFORE) -> dict[int, object]:
    with db.read() as session:
        return {c.item_id: c for c in overdue.reminder_candidates(session, NOW, latest_due, reminded_before)}


def test_candidates_are_open_due_unsnoozed_and_not_recently_reminded(db):
    number = incident(db)
    wanted = item(db, number)
    item(db, number, status="done")
    item(db, number, due=None)
    item(db, number, due=date(2026, 11, 24))
    item(db, number, snoozed_until=NOW + timedelta(seconds=1))
    snooze_over = item(db, number, snoozed_until=NOW)
    item(db, number, reminded_at=BEFORE + timedelta(seconds=1))
    long_ago = item(db, number, reminded_at=BEFORE)
    assert sorted(candidates(db)) == sorted([wanted, snooze_over, long_ago])


def test_candidates_of_given_items_are_read_again_as_they_are_now(db):
    number = incident(db)
    kept, done, snoozed, reminded, other = (item(db, number) for _ in range(5))
    with db.write() as session:
        action_items.close_action_item(session, done, "U1", NOW)
        action_items.snooze_action_item(session, snoozed, NOW + timedelta(days=1))
        overdue.record_reminded(session, [reminded], NOW)
    with db.read() as session:
        found = overdue.reminder_candidates(session, NOW, date(2026, 11, 23), BEFORE,
                                            item_ids=[kept, done, snoozed, reminded])
    assert [c.item_id for c in found] == [kept]  # and not `other`, which was not asked for
    assert other not in [c.item_id for c in found]


def test_candidates_carry_the_recipients_stored_zone(db):
    number = incident(db, channel_id="C9", title="Checkout")
    owned = item(db, number, owner_id="U0KIWI")
    ownerless = item(db, number, owner_id=None)
    with db.write() as session:
        profiles.put_user_profile(session, "U0KIWI", "Pacific/Auckland", "kiwi", NOW)
        profiles.put_user_profile(session, "U0CMDR", "Europe/Berlin", "cmdr", NOW)
    found = candidates(db)
    assert found[owned].recipient_tz == "Pacific/Auckland"
    assert found[ownerless].recipient_tz == "Europe/Berlin" and found[ownerless].commander_id == "U0CMDR"
    assert (found[owned].channel_id, found[owned].incident_title) == ("C9", "Checkout")


def test_a_recorded_reminder_waits_for_the_repeat_interval(db):
    number = incident(db)
    ids = [item(db, number) for _ in range(3)]
    with db.write() as session:
        assert overdue.record_reminded(session, ids[:2], NOW) == 2
    assert sorted(candidates(db)) == ids[2:]
    assert sorted(candidates(db, reminded_before=NOW)) == ids  # a day later, all of them again


def job_ids(db: Database, key: str) -> list[int]:
    with db.read() as session:
        return [j.id for j in session.exec(select(OutboxJob).where(OutboxJob.idempotency_key == key))]


def test_a_key_queues_one_unfinished_job_and_is_free_again_once_it_is_done_or_given_up(db):
    def enqueue() -> bool:
        with db.write() as session:
            return outbox_jobs.enqueue_once(session, "reminder_digest", {"recipient": "U1"}, NOW, "reminder:U1")

    assert enqueue() is True
    assert enqueue() is False  # waiting
    with db.write() as session:
        [job] = outbox_jobs.claim_jobs(session, "a", NOW, timedelta(minutes=2), 10)
    assert enqueue() is False  # running
    db.hot_write(lambda conn: outbox_jobs.finish_job(conn, job.id, "a", NOW))
    assert enqueue() is True  # done: the next sweep may queue another
    with db.write() as session:
        [job] = outbox_jobs.claim_jobs(session, "b", NOW, timedelta(minutes=2), 10)
        outbox_jobs.retry_job(session, job.id, "b", "user_not_found", None, NOW)  # given up
    assert enqueue() is True
    with db.write() as session:  # other keys, and jobs without a key, are not affected
        assert outbox_jobs.enqueue_once(session, "reminder_digest", {"recipient": "U2"}, NOW, "reminder:U2")
        outbox_jobs.enqueue(session, "announce", {}, NOW)
        outbox_jobs.enqueue(session, "announce", {}, NOW)
    assert len(job_ids(db, "reminder:U1")) == 3 and len(job_ids(db, "reminder:U2")) == 1


def test_one_claim_leases_at_most_a_batch_so_several_drainers_share_a_sweeps_dms(db):
    with db.write() as session:
        for n in range(30):
            outbox_jobs.enqueue(session, "reminder_digest", {"recipient": f"U{n}"}, NOW)
    claimed = []
    for owner in ("a", "b", "c", "d"):
        with db.write() as session:
            claimed.append([j.id for j in outbox_jobs.claim_jobs(session, owner, NOW, timedelta(minutes=2), 10)])
    assert [len(ids) for ids in claimed] == [10, 10, 10, 0]
    assert len({i for ids in claimed for i in ids}) == 30


def test_concurrent_enqueues_with_one_key_queue_one_job(database_url):
    databases = [Database(database_url) for _ in range(4)]
    try:
        added: list[bool] = []
        barrier = threading.Barrier(len(databases))

        def enqueue(db: Database) -> None:
            barrier.wait()
            for _ in range(20):
                try:
                    with db.write() as session:
                        added.append(outbox_jobs.enqueue_once(session, "postmortem_nudge", {"incident_id": 7}, NOW,
                                                              "nudge:7"))
                    return
                except DatabaseUnavailable:  # SQLite busy: retry, as the next sweep would
                    time.sleep(0.01)

        threads = [threading.Thread(target=enqueue, args=(db,)) for db in databases]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert sorted(added) == [False, False, False, True]
        assert len(job_ids(databases[0], "nudge:7")) == 1
    finally:
        for db in databases:
            db.dispose()


def test_close_and_snooze_only_touch_open_items(db):
    number = incident(db)
    item_id = item(db, number)
    with db.write() as session:
        closed, changed = action_items.close_action_item(session, item_id, "U1", NOW)
        assert changed and closed.status == "done" and closed.closed_by == "U1" and closed.closed_at == NOW
        again, changed = action_items.close_action_item(session, item_id, "U2", NOW + timedelta(hours=1))
        assert not changed and again.closed_by == "U1"
        snoozed, changed = action_items.snooze_action_item(session, item_id, NOW + timedelta(days=1))
        assert not changed and snoozed.snoozed_until is None
        missing, changed = action_items.close_action_item(session, 999_999, "U1", NOW)
        assert missing is None and not changed


def resolved_incident(db: Database, at: datetime, **kwargs) -> int:
    number = incident(db, status="resolved", **kwargs)
    with db.write() as session:
        incidents.put_milestone(session, Milestone(incident_id=number, name="resolved", at=at, recorded_at=at))
    return number


def test_nudges_are_due_once_for_resolved_incidents_without_a_draft(db):
    due = resolved_incident(db, NOW - timedelta(days=3))
    recent = resolved_incident(db, NOW - timedelta(hours=1))  # too recent
    with_draft = resolved_incident(db, NOW - timedelta(days=3))
    resolved_incident(db, NOW - timedelta(days=3), commander_id=None)  # nobody to nudge
    incident(db)  # open
    with db.write() as session:
        session.add(PostmortemDraft(incident_id=with_draft, version=1, template="default", markdown="#",
                                    created_at=NOW))
    cutoff = NOW - timedelta(days=2)
    with db.read() as session:
        [nudge] = overdue.nudges_due(session, cutoff)
        assert overdue.nudges_due(session, cutoff, incident_id=recent) == []
        assert overdue.nudges_due(session, cutoff, incident_id=due) == [nudge]
    assert (nudge.incident_id, nudge.commander_id, nudge.resolved_at) == (due, "U0CMDR", NOW - timedelta(days=3))
    with db.write() as session:
        assert overdue.record_nudged(session, due, NOW) == 1
        assert overdue.record_nudged(session, due, NOW + timedelta(hours=1)) == 0  # the first time stays
    later = NOW + timedelta(days=30)
    with db.read() as session:
        # the nudged incident never again; the recent one now that its time has come
        assert [n.incident_id for n in overdue.nudges_due(session, later - timedelta(days=2))] == [recent]
        assert session.get(Incident, due).nudged_at == NOW


def test_the_migration_to_outbox_reminders_keeps_every_reminder_and_can_be_undone(database_url, tmp_path):
    """0004 drops the reminder and nudge leases and adds the outbox's idempotency key; what the
    sweep reads (due dates, reminders sent, nudges sent) survives it, both ways."""
    url = empty_database(database_url, tmp_path)
    db = Database(url)
    try:
        db.upgrade("0003")
        with db.engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO incident (id, title, status, created_by, created_at, nudged_at, "
                                 "nudge_lease_owner) VALUES (1, 't', 'resolved', 'U1', :at, :at, 'old-sweep')"),
                         {"at": NOW.replace(tzinfo=None)})
            conn.execute(sa.text("INSERT INTO action_item (id, incident_id, text, owner_id, due, status, created_at, "
                                 "reminded_at, reminder_lease_owner) VALUES (5, 1, 'fix it', 'U2', :due, 'open', "
                                 ":at, :at, 'old-sweep')"), {"at": NOW.replace(tzinfo=None), "due": date(2026, 11, 1)})
        db.upgrade()
        assert_reminders_kept(db)
        with db.write() as session:
            assert outbox_jobs.enqueue_once(session, "reminder_digest", {}, NOW, "reminder:U2")
        downgrade(db, "0003")
        with db.engine.connect() as conn:
            row = conn.execute(sa.text("SELECT reminded_at, reminder_lease_owner FROM action_item")).one()
        assert row[0] is not None and row[1] is None  # the leases come back empty
        db.upgrade()
        assert_reminders_kept(db)
    finally:
        db.dispose()


def assert_reminders_kept(db: Database) -> None:
    with db.read() as session:
        kept, resolved = session.get(ActionItem, 5), session.get(Incident, 1)
    assert (kept.text, kept.due, kept.reminded_at) == ("fix it", date(2026, 11, 1), NOW)
    assert resolved.nudged_at == NOW


def downgrade(db: Database, revision: str) -> None:
    from alembic import command

    from storage.db import alembic_config

    config = alembic_config()
    with db.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, revision)
