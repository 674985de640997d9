"""Reminder DMs go through the outbox: the sweep queues one job per person, the job DMs what still
needs a reminder when it runs, and a person is reminded once however many replicas sweep at once."""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta

import pytest

from bot import reminders
from bot.jobs import reminder_dms
from storage import action_items
from storage.models import ActionItem
from tests.bot.test_reminders import (
    NOW,
    add_item,
    bots_on_a_frozen_clock,
    dm_item_ids,
    dms,
    item,
    nudges,
    resolve,
    sweep,
)
from tests.support import rows


@pytest.fixture
def setup(make_bot, standin):
    """A bot on a frozen clock with one incident (commander U0USER1) and no Slack calls recorded yet."""
    return bots_on_a_frozen_clock(make_bot, standin)


def waiting(bot, kind: str) -> list:
    with bot.db.read() as session:
        return rows.pending_jobs(session, kind)


def test_the_sweep_only_queues_and_the_outbox_sends(setup, standin):
    bot = setup(postmortem_nudge_days=0)
    first, second = add_item(bot), add_item(bot, owner="U0OTHER")
    resolve(bot, NOW - timedelta(minutes=5))
    standin.reset()

    queued = reminders.sweep(bot.services)

    assert (queued.digests, queued.nudges) == (2, 1)
    assert dms(standin) == [] and item(bot, first).reminded_at is None  # nothing sent yet
    assert [j.payload for j in waiting(bot, reminders.DIGEST_JOB)] == [
        f'{{"recipient": "U0OTHER", "item_ids": [{second}], "more": 0}}',
        f'{{"recipient": "U0OWNER", "item_ids": [{first}], "more": 0}}']
    bot.drain()
    assert {c["channel"]: dm_item_ids(c) for c in dms(standin) if "overdue" in c["text"]} == {
        "DU0OWNER": [first], "DU0OTHER": [second]}
    assert [c["channel"] for c in nudges(standin)] == ["DU0USER1"]
    assert item(bot, first).reminded_at == NOW and bot.incident(1).nudged_at == NOW
    assert reminders.sweep(bot.services) == reminders.Queued(0, 0)


def test_sweeps_of_several_replicas_at_once_queue_one_job_per_person(setup, make_bot, standin):
    bot = setup()
    owners = [f"U0OWNER{n}" for n in range(6)]
    ids = [add_item(bot, owner=owner) for owner in owners for _ in range(2)]
    replicas = [bot] + [make_bot(clock=setup.clock) for _ in range(2)]
    queued, barrier = [], threading.Barrier(len(replicas))

    def sweep_at_once(replica) -> None:
        barrier.wait()
        queued.append(reminders.sweep(replica.services).digests)

    threads = [threading.Thread(target=sweep_at_once, args=(r,)) for r in replicas]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sum(queued) == len(owners)
    for replica in replicas:
        replica.drain()
    assert sorted(c["channel"] for c in dms(standin)) == sorted(f"D{o}" for o in owners)
    assert sorted(i for c in dms(standin) for i in dm_item_ids(c)) == sorted(ids)


def test_an_item_closed_snoozed_or_reassigned_after_the_sweep_is_left_out_of_the_dm(setup, standin):
    bot = setup()
    kept, closed, snoozed, reassigned = (add_item(bot) for _ in range(4))
    reminders.sweep(bot.services)
    with bot.db.write() as session:
        action_items.close_action_item(session, closed, "U0OWNER", NOW)
        action_items.snooze_action_item(session, snoozed, NOW + timedelta(days=1))
        session.get(ActionItem, reassigned).owner_id = "U0NEWOWNER"
    bot.drain()
    [dm] = dms(standin)
    assert dm["channel"] == "DU0OWNER" and dm_item_ids(dm) == [kept]
    assert "You have 1 overdue action item." == dm["text"]
    assert [item(bot, i).reminded_at for i in (closed, snoozed, reassigned)] == [None, None, None]
    assert sweep(bot).dms == 1  # the new owner's, at the next sweep
    assert dms(standin)[-1]["channel"] == "DU0NEWOWNER" and dm_item_ids(dms(standin)[-1]) == [reassigned]


def test_a_job_whose_items_were_all_closed_sends_nothing(setup, standin):
    bot = setup()
    item_id = add_item(bot)
    reminders.sweep(bot.services)
    with bot.db.write() as session:
        action_items.close_action_item(session, item_id, "U0OWNER", NOW)
    bot.drain()
    assert dms(standin) == [] and standin.calls_to("conversations.open") == []
    assert waiting(bot, reminders.DIGEST_JOB) == []


def test_a_sweep_that_read_the_items_before_another_replica_sent_them_does_not_remind_again(
        setup, standin, monkeypatch):
    bot = setup()
    add_item(bot)
    select_digests = reminders.select_digests

    def another_replica_was_faster(*args, **kwargs):
        digests = select_digests(*args, **kwargs)  # what this sweep read
        monkeypatch.setattr(reminders, "select_digests", select_digests)
        assert sweep(bot).dms == 1  # meanwhile, another replica queued, sent and recorded the DM
        return digests

    monkeypatch.setattr(reminders, "select_digests", another_replica_was_faster)
    assert reminders.sweep(bot.services).digests == 1  # that job was done, so this one is queued
    assert reminder_dms.deliver_now(bot.services).dms == 0  # and finds the items reminded already
    assert len(dms(standin)) == 1


def test_a_reminder_given_up_is_reported_once_saying_who_and_why(setup, standin, caplog):
    bot = setup()
    add_item(bot)
    standin.fail("chat.postMessage", "channel_not_found")
    with caplog.at_level(logging.WARNING):
        assert sweep(bot).failed == 1
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == ["outbox job reminder_digest given up: reminder DM to U0OWNER: channel_not_found"]
    assert "xoxb-" not in caplog.text


def test_a_person_whose_job_waits_for_a_retry_gets_no_second_job(setup, standin):
    bot = setup()
    add_item(bot)
    standin.fail("conversations.open", "fatal_error")
    assert sweep(bot).failed == 1
    add_item(bot)  # a new overdue item meanwhile
    assert reminders.sweep(bot.services).digests == 0
    assert len(waiting(bot, reminders.DIGEST_JOB)) == 1


def test_a_slow_reminder_dm_does_not_hold_up_a_live_incidents_header(setup, standin):
    bot = setup()
    channel = bot.incident(1).channel_id
    add_item(bot)
    standin.fail("conversations.open", delay=5)  # Slack is slow to open this DM
    bot.runtime.start_background()
    reminders.sweep(bot.services)
    standin.wait_for("conversations.open")  # the reminder lane is waiting for Slack
    bot.command("severity sev1", channel_id=channel)
    [update] = standin.wait_for("chat.update", timeout=4)  # the main drainer is not stuck behind it
    assert "SEV1" in update["text"]
    assert dms(standin) == []
    deadline = time.monotonic() + 15
    while not dms(standin) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [c["channel"] for c in dms(standin)] == ["DU0OWNER"]  # and the DM follows
