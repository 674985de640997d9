"""The reminder queries on SQLite and PostgreSQL: candidates, claims with a lease, records, nudges."""

from __future__ import annotations

import threading
import time
from datetime import UTC, date, datetime, timedelta

from storage import action_items, incidents, outbox_jobs, overdue, profiles
from storage.db import Database, DatabaseUnavailable
from storage.models import ActionItem, Incident, Milestone, PostmortemDraft

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
LEASE = NOW + timedelta(minutes=10)
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


def test_candidates_are_open_unclaimed_due_unsnoozed_and_not_recently_reminded(db):
    number = incident(db)
    wanted = item(db, number)
    item(db, number, status="done")
    item(db, number, due=None)
    item(db, number, due=date(2026, 11, 24))
    item(db, number, snoozed_until=NOW + timedelta(seconds=1))
    snooze_over = item(db, number, snoozed_until=NOW)
    item(db, number, reminded_at=BEFORE + timedelta(seconds=1))
    long_ago = item(db, number, reminded_at=BEFORE)
    item(db, number, reminder_lease_until=NOW + timedelta(seconds=1), reminder_lease_owner="other")
    expired = item(db, number, reminder_lease_until=NOW - timedelta(seconds=1), reminder_lease_owner="crashed")
    assert sorted(candidates(db)) == sorted([wanted, snooze_over, long_ago, expired])


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


def test_a_claim_is_exclusive_until_recorded_or_released(db):
    number = incident(db)
    ids = [item(db, number) for _ in range(3)]
    with db.write() as session:
        assert overdue.claim_reminders(session, ids, "a", NOW, LEASE, BEFORE) == ids
    with db.write() as session:
        assert overdue.claim_reminders(session, ids, "b", NOW, LEASE, BEFORE) == []
        assert overdue.record_reminded(session, ids[:1], "b", NOW) == 0  # not b's to record
        assert overdue.release_reminders(session, ids, "b") == 0
    with db.write() as session:
        assert overdue.record_reminded(session, ids[:1], "a", NOW) == 1
        assert overdue.release_reminders(session, ids[1:], "a") == 2
    with db.write() as session:
        # the reminded one waits for the repeat interval; the released ones are free again
        assert overdue.claim_reminders(session, ids, "b", NOW, LEASE, BEFORE) == ids[1:]
    with db.read() as session:
        first, second = session.get(ActionItem, ids[0]), session.get(ActionItem, ids[1])
    assert first.reminded_at == NOW and first.reminder_lease_owner is None
    assert second.reminded_at is None and second.reminder_lease_owner == "b"


def test_a_claim_rechecks_that_the_item_still_needs_a_reminder(db):
    number = incident(db)
    done = item(db, number)
    snoozed = item(db, number)
    with db.write() as session:
        action_items.close_action_item(session, done, "U1", NOW)
        action_items.snooze_action_item(session, snoozed, NOW + timedelta(days=1))
        assert overdue.claim_reminders(session, [done, snoozed], "a", NOW, LEASE, BEFORE) == []


def test_an_expired_lease_can_be_claimed_again(db):
    number = incident(db)
    item_id = item(db, number)
    with db.write() as session:
        assert overdue.claim_reminders(session, [item_id], "crashed", NOW, LEASE, BEFORE) == [item_id]
    later = LEASE + timedelta(seconds=1)
    with db.write() as session:
        assert overdue.claim_reminders(session, [item_id], "b", later, later + timedelta(minutes=10),
                                       BEFORE) == [item_id]


def test_concurrent_claims_never_share_an_item(database_url):
    databases = [Database(database_url) for _ in range(4)]
    try:
        number = incident(databases[0])
        ids = [item(databases[0], number) for _ in range(40)]
        got: dict[str, list[int]] = {}
        barrier = threading.Barrier(len(databases))

        def claim(db: Database, owner: str) -> None:
            barrier.wait()
            mine = []
            for start in range(0, len(ids), 5):
                for _ in range(20):
                    try:
                        with db.write() as session:
                            mine += overdue.claim_reminders(session, ids[start:start + 5], owner, NOW, LEASE, BEFORE)
                        break
                    except DatabaseUnavailable:  # SQLite busy: retry, as the next sweep would
                        time.sleep(0.01)
            got[owner] = mine

        threads = [threading.Thread(target=claim, args=(db, f"owner{n}")) for n, db in enumerate(databases)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        claimed = [i for mine in got.values() for i in mine]
        assert sorted(claimed) == ids  # each item exactly once
    finally:
        for db in databases:
            db.dispose()


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


def test_nudges_are_claimed_once_for_resolved_incidents_without_a_draft(db):
    due = resolved_incident(db, NOW - timedelta(days=3))
    recent = resolved_incident(db, NOW - timedelta(hours=1))  # too recent
    with_draft = resolved_incident(db, NOW - timedelta(days=3))
    resolved_incident(db, NOW - timedelta(days=3), commander_id=None)  # nobody to nudge
    incident(db)  # open
    with db.write() as session:
        session.add(PostmortemDraft(incident_id=with_draft, version=1, template="default", markdown="#",
                                    created_at=NOW))
    cutoff = NOW - timedelta(days=2)
    with db.write() as session:
        [nudge] = overdue.claim_nudges(session, "a", NOW, LEASE, cutoff)
    assert (nudge.incident_id, nudge.commander_id, nudge.resolved_at) == (due, "U0CMDR", NOW - timedelta(days=3))
    with db.write() as session:
        assert overdue.claim_nudges(session, "b", NOW, LEASE, cutoff) == []  # leased to a
        assert overdue.release_nudge(session, due, "a") == 1
    with db.write() as session:
        assert [n.incident_id for n in overdue.claim_nudges(session, "b", NOW, LEASE, cutoff)] == [due]
        assert overdue.record_nudged(session, due, "b", NOW) == 1
    later = NOW + timedelta(days=30)
    with db.write() as session:
        # the nudged incident never again; the recent one now that its time has come
        assert [n.incident_id for n in overdue.claim_nudges(session, "c", later, later + timedelta(minutes=10),
                                                             later - timedelta(days=2))] == [recent]
