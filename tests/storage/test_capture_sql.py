"""storage/capture_sql.py: the hand-written hot-path statements agree with the models, on both databases."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from storage import capture_sql, entries, incidents, messages
from storage.db import DatabaseUnavailable
from storage.models import Milestone
from tests.storage.test_storage import NOW, make_incident


def capture(db, channel_id, ts, text="hi", *, now=NOW, days=7, **kwargs) -> bool:
    cutoff = incidents.capture_cutoff(now, days)
    return db.hot_write(lambda c: capture_sql.capture_message(c, channel_id, ts, "U1", text, NOW, now, cutoff, **kwargs))


def test_a_captured_message_reads_back_through_the_models(db):
    number = make_incident(db, channel_id="C1")
    files = [{"name": "graph.png", "permalink": "https://acme.slack.com/files/U1/F1/graph.png"}]
    assert capture(db, "C1", "1700000000.000100", "db &lt;primary&gt; down", thread_ts="1699999999.000001",
                   files=files)
    with db.read() as session:
        [row] = entries.timeline(session, number, "pushpin")
        # recorded_at is not among the columns a timeline reads
        recorded_at = entries.entry_by_id(session, row.entry.id).recorded_at
    entry = row.entry
    assert (entry.kind, entry.text, entry.author_id, entry.channel_id, entry.ts) == (
        "message", "db &lt;primary&gt; down", "U1", "C1", "1700000000.000100")
    assert entry.at == NOW and entry.at.tzinfo is not None and recorded_at == NOW
    assert entry.thread_ts == "1699999999.000001" and not entry.deleted and not row.key
    with db.write() as session:  # the models' own edit path works on a row written here
        edited = messages.Message("C1", "1700000000.000100", "U1", "edited", edited_ts="1700000001.000000")
        assert messages.edit_message(session, number, edited, NOW, NOW) == "edited"


def test_a_message_is_stored_once_and_only_where_an_incident_captures(db):
    make_incident(db, channel_id="C1")
    assert capture(db, "C1", "1.000001")
    assert not capture(db, "C1", "1.000001")  # a redelivery
    assert not capture(db, "C0ELSEWHERE", "1.000002")  # no incident there


def test_a_resolved_incident_captures_for_the_configured_days(db):
    number = make_incident(db, channel_id="C1", status="resolved")
    with db.write() as session:
        incidents.put_milestone(session, Milestone(incident_id=number, name="resolved", at=NOW, recorded_at=NOW))
    assert capture(db, "C1", "1.000001", now=NOW + timedelta(days=6), days=7)
    assert not capture(db, "C1", "1.000002", now=NOW + timedelta(days=8), days=7)


@pytest.mark.parametrize("days_since_resolved, captures", [(None, True), (6, True), (8, False)])
def test_every_query_applies_the_same_capture_rule(db, days_since_resolved, captures):
    """The command check, the event path, the edit path and the catch-up all agree on one rule."""
    number = make_incident(db, channel_id="C1", status="open" if days_since_resolved is None else "resolved")
    now = NOW
    if days_since_resolved is not None:
        with db.write() as session:
            incidents.put_milestone(session, Milestone(incident_id=number, name="resolved", at=NOW, recorded_at=NOW))
        now = NOW + timedelta(days=days_since_resolved)
    cutoff = incidents.capture_cutoff(now, 7)
    with db.reading() as cursor:
        assert capture_sql.channel_incident(cursor, "C1", cutoff).captures is captures
    with db.read() as session:
        assert (incidents.capturing_incident(session, "C1", now, 7) == number) is captures
        assert (incidents.open_incident_channels(session, cutoff) == [(number, "C1")]) is captures
    assert capture(db, "C1", "1.000001", now=now, days=7) is captures
    logged = db.hot_write(lambda c: capture_sql.log_in_channel(c, "C1", "U2", "rolled back", now, now, cutoff))
    assert (logged is not None) is captures
    with db.read() as session:
        assert [r.entry.kind for r in entries.timeline(session, number, "pushpin")] == (
            ["message", "log"] if captures else [])


def test_a_log_entry_goes_to_the_channels_newest_incident_with_its_zone(db):
    """`/incident log`'s one statement finds the channel's incident, stores the entry in it, and says
    which incident and zone, for the reply; in a channel without an incident it stores nothing."""
    first = make_incident(db, channel_id="C1", status="resolved")
    second = make_incident(db, channel_id="C1", display_tz="Asia/Kolkata")
    at = datetime(2026, 11, 21, 23, 50, tzinfo=UTC)
    logged = db.hot_write(lambda c: capture_sql.log_in_channel(c, "C1", "U2", "rolled back", at, NOW, NOW))
    assert db.hot_write(lambda c: capture_sql.log_in_channel(c, "C0ELSEWHERE", "U2", "lost", at, NOW, NOW)) is None
    assert (logged.incident_id, logged.display_tz) == (second, "Asia/Kolkata")
    with db.read() as session:
        assert entries.timeline(session, first, "pushpin") == []
        [row] = entries.timeline(session, second, "pushpin")
        stored = entries.entry_by_id(session, logged.entry_id)
    assert (row.entry.id, row.entry.kind, row.entry.text, row.entry.author_id, row.entry.at, row.key) == (
        logged.entry_id, "log", "rolled back", "U2", at, True)
    assert stored.to_post and stored.recorded_at == NOW


def test_the_channels_newest_incident_gets_the_message(db):
    first = make_incident(db, channel_id="C1", status="resolved")
    second = make_incident(db, channel_id="C1")
    with db.reading() as cursor:
        found = capture_sql.channel_incident(cursor, "C1", NOW)
    assert found.id == second and found.id != first
    assert capture(db, "C1", "1.000001")
    with db.read() as session:
        assert len(entries.timeline(session, second, "pushpin")) == 1


def test_a_log_entry_reads_back_as_a_key_entry(db):
    number = make_incident(db, channel_id="C1")
    at = datetime(2026, 11, 21, 23, 50, tzinfo=UTC)
    db.hot_write(lambda c: capture_sql.insert_log(c, number, "U2", "rolled back", at, NOW))
    with db.read() as session:
        [row] = entries.timeline(session, number, "pushpin")
    assert (row.entry.kind, row.entry.text, row.entry.author_id, row.entry.at, row.key) == (
        "log", "rolled back", "U2", at, True)


def test_concurrent_hot_writes_lose_nothing(db):
    number = make_incident(db, channel_id="C1")
    errors = []

    def write(worker):
        try:
            for i in range(40):
                db.hot_write(lambda c, i=i: capture_sql.insert_log(c, number, "U1", f"{worker}-{i}", NOW, NOW))
                capture(db, "C1", f"1700000000.{worker:02d}{i:04d}")
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with db.read() as session:
        rows = entries.timeline(session, number, "pushpin")
    assert len([r for r in rows if r.entry.kind == "log"]) == 320
    assert len([r for r in rows if r.entry.kind == "message"]) == 320


def test_a_failing_write_among_concurrent_ones_fails_alone(db):
    """Hot writes share commits; one that fails must fail only for its own caller, and nobody else's
    acknowledged write may be lost with it."""
    number = make_incident(db, channel_id="C1")
    outcomes: dict[int, object] = {}
    barrier = threading.Barrier(12)

    def boom(cursor):  # a statement the database refuses: its incident does not exist
        capture_sql.insert_log(cursor, number + 1000, "U1", "a bad write", NOW, NOW)

    def write(worker):
        barrier.wait()
        try:
            for i in range(20):
                if worker == 0 and i == 10:
                    db.hot_write(boom)
                else:
                    db.hot_write(lambda c, i=i: capture_sql.insert_log(c, number, "U1", f"{worker}-{i}", NOW, NOW))
            outcomes[worker] = "ok"
        except Exception as exc:  # noqa: BLE001 - the test looks at what it was
            outcomes[worker] = exc

    threads = [threading.Thread(target=write, args=(w,)) for w in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    refused = outcomes.pop(0)
    assert "foreign key" in str(refused).lower(), refused
    assert set(outcomes.values()) == {"ok"}
    with db.read() as session:
        texts = [r.entry.text for r in entries.timeline(session, number, "pushpin") if r.entry.kind == "log"]
    assert "a bad write" not in texts
    assert sorted(texts) == sorted([f"0-{i}" for i in range(10)] + [f"{w}-{i}" for w in range(1, 12) for i in range(20)])


class _Recording:
    """A driver cursor that remembers the statements it is given."""

    def __init__(self, cursor, seen: list):
        self._cursor, self._seen = cursor, seen

    def execute(self, statement, *args):
        self._seen.append(statement)
        return self._cursor.execute(statement, *args)

    def __getattr__(self, name):
        return getattr(self._cursor, name)


def test_a_log_entry_is_one_statement_marked_to_post_and_wakes_the_outbox(db):
    """`/incident log` stores its entry in one hand-written statement, marked to be posted in the channel,
    and wakes the outbox after the commit; queueing the posts turns each mark into one job, once."""
    import json

    from sqlmodel import select

    from storage import post_sql
    from storage.db import Cursor
    from storage.models import OutboxJob

    number = make_incident(db, channel_id="C1")
    woken, seen = [], []
    db.on_jobs_committed = lambda: woken.append(True)

    def log(text):
        return db.hot_write(lambda c: capture_sql.log_in_channel(Cursor(_Recording(c.cursor, seen), c.dialect), "C1",
                                                                 "U2", text, NOW, NOW, NOW), queues_jobs=True).entry_id

    first, second = log("rolled back"), log("paged db")
    assert len(seen) == 2 and all(s.lstrip().startswith("INSERT INTO entry") for s in seen)
    assert woken == [True, True]
    with db.read() as session:
        assert session.exec(select(OutboxJob)).all() == []  # nothing queued on the acknowledgement path
    queued = db.hot_transaction(lambda c: post_sql.queue_posts(c, "log_post", NOW))
    again = db.hot_transaction(lambda c: post_sql.queue_posts(c, "log_post", NOW))
    with db.read() as session:
        jobs = session.exec(select(OutboxJob).order_by(OutboxJob.id)).all()
        [row1, row2] = entries.timeline(session, number, "pushpin")
        marks = [entries.entry_by_id(session, entry_id).to_post for entry_id in (first, second)]
    assert queued == [first, second] and again == []
    assert [json.loads(job.payload) for job in jobs] == [{"entry_id": first, "post": True},
                                                          {"entry_id": second, "post": True}]
    assert {(job.kind, job.attempts, job.failed, job.done_at, job.next_attempt_at) for job in jobs} == {
        ("log_post", 0, False, None, NOW)}
    assert (row1.entry.text, row2.entry.text) == ("rolled back", "paged db")
    assert marks == [False, False]


def test_posts_whose_jobs_cannot_be_queued_stay_marked_for_the_next_try(db):
    """Queueing is one transaction: when a job cannot be added, no mark is cleared, so no post is lost;
    the entry itself was stored and acknowledged before, and stays."""
    from sqlmodel import select

    from storage import post_sql
    from storage.models import OutboxJob

    number = make_incident(db, channel_id="C1")
    entry_id = db.hot_write(lambda c: capture_sql.insert_log(c, number, "U2", "rolled back", NOW, NOW))
    db.inject_fault("INSERT INTO outbox")
    with pytest.raises(DatabaseUnavailable):
        db.hot_transaction(lambda c: post_sql.queue_posts(c, "log_post", NOW))
    db.clear_faults()
    with db.read() as session:
        assert [r.entry.text for r in entries.timeline(session, number, "pushpin")] == ["rolled back"]
        assert session.exec(select(OutboxJob)).all() == []
    with db.reading() as conn:
        assert post_sql.any_to_post(conn)
    # and the connection is usable again afterwards
    assert db.hot_transaction(lambda c: post_sql.queue_posts(c, "log_post", NOW)) == [entry_id]
    with db.reading() as conn:
        assert not post_sql.any_to_post(conn)


def test_posts_queued_by_several_drainers_at_once_are_queued_once_each(db):
    """Replicas queue posts at the same moment while entries keep arriving: every entry gets exactly
    one job. (On PostgreSQL each drainer has its own connection, as separate processes would.)"""
    import json

    from sqlmodel import select

    from storage import post_sql
    from storage.models import OutboxJob

    number = make_incident(db, channel_id="C1")
    logged, queued, stop = [], [], threading.Event()

    def logger():
        for i in range(150):
            logged.append(db.hot_write(lambda c, i=i: capture_sql.insert_log(c, number, "U1", f"e{i}", NOW, NOW)))
        stop.set()

    def drainer():
        while True:
            done = stop.is_set()
            queued.extend(db.hot_transaction(lambda c: post_sql.queue_posts(c, "log_post", NOW)))
            if done:
                return

    threads = [threading.Thread(target=logger)] + [threading.Thread(target=drainer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with db.read() as session:
        jobs = [json.loads(job.payload)["entry_id"] for job in session.exec(select(OutboxJob))]
    assert sorted(queued) == sorted(jobs) == sorted(logged)
    assert len(set(jobs)) == 150


def test_going_back_to_the_revision_before_queues_the_posts_still_marked(database_url):
    """Downgrading below 0012 (a rollback of a deploy) must not lose the posts of entries acknowledged but
    not yet queued: the code before has no feeder, so they are queued as it queued them."""
    import json

    from storage.db import Database
    from tests.storage.test_reminder_queries import downgrade

    db = Database(database_url)
    try:
        number = make_incident(db, channel_id="C1")
        first = db.hot_write(lambda c: capture_sql.insert_log(c, number, "U1", "acknowledged", NOW, NOW))
        second = db.hot_write(lambda c: capture_sql.insert_log(c, number, "U1", "not yet posted", NOW, NOW))
        downgrade(db, "0011")
        with db.engine.connect() as conn:
            jobs = conn.exec_driver_sql("SELECT kind, payload, attempts, failed, done_at FROM outbox ORDER BY id").all()
        assert [(kind, json.loads(payload), attempts, bool(failed), done) for kind, payload, attempts, failed, done
                in jobs] == [("log_post", {"entry_id": first, "post": True}, 0, False, None),
                             ("log_post", {"entry_id": second, "post": True}, 0, False, None)]
        db.upgrade()
    finally:
        db.dispose()
