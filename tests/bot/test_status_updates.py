"""Status updates: `/incident update`, the message it posts (pure), ANNOUNCE_CHANNEL, and the update
reminder: who is owed one when (pure), one DM per interval across replicas, and its Post update modal."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot import reminders, update_blocks
from bot.config import ConfigError, load_settings
from bot.reminders import select_update_reminders, update_reminder_due
from bot.update_blocks import Since
from storage import overdue
from storage.models import Incident
from storage.overdue import UpdateCandidate
from tests.bot.commands.test_incident import open_incident
from tests.bot.test_reminders import Clock
from tests.support import rows
from tests.support import slack_requests as sr
from tests.support.slack_limits import breaches
from tests.test_injection import ENCODED, HOSTILE, RAW, assert_harmless

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)
BERLIN = ZoneInfo("Europe/Berlin")
ANNOUNCE = "C0ANNOUNCE1"


def posts(standin, channel: str) -> list:
    return [c for c in standin.calls_to("chat.postMessage") if c["channel"] == channel]


def updates_posted(standin, channel: str) -> list:
    return [c for c in posts(standin, channel) if " update (" in str(c.get("text", ""))]


def update_entries(bot, number: int = 1) -> list:
    return [i for i in bot.timeline(number) if i.kind == "update"]


@pytest.fixture
def clock():
    return Clock(NOW)


@pytest.fixture
def incident_bot(make_bot, standin, clock):
    """A bot on a frozen clock with INC-1 open (commander U0USER1) and its channel; Slack calls forgotten."""
    def make(**settings):
        bot = make_bot(clock=clock, **settings)
        channel = open_incident(bot)
        standin.reset()
        return bot, channel

    return make


# --- /incident update ---------------------------------------------------------------------------


def test_an_update_is_posted_in_the_channel_with_status_severity_time_since_start_and_who(incident_bot, standin,
                                                                                          clock):
    bot, channel = incident_bot()
    clock.now = NOW + timedelta(hours=1, minutes=6)
    reply = bot.command("update Rolled back the deploy; errors are falling", channel_id=channel)

    assert reply["response_type"] == "ephemeral"
    assert reply["text"].startswith(f"Update for INC-1 posted in <#{channel}>.")
    assert standin.calls_to("chat.postMessage") == []  # through the outbox, not before the reply
    bot.drain()
    [post] = updates_posted(standin, channel)
    shown = json.dumps(post["blocks"])
    assert "INC-1 update: Checkout errors" in shown
    assert "Investigating" in shown and "SEV2" in shown
    assert "1 h 6 min (declared <!date^" in shown
    assert "Rolled back the deploy; errors are falling" in shown
    assert "Posted by <@U0USER1>" in shown
    assert breaches(post.params, posted=True) == []
    [entry] = update_entries(bot)
    assert (entry.text, entry.author, entry.key, entry.time) == (
        "Rolled back the deploy; errors are falling", "U0USER1", True, clock.now)


def test_time_since_start_counts_from_the_start_of_impact_when_it_is_recorded(incident_bot, standin, clock):
    bot, channel = incident_bot()
    bot.command("started 08:15 UTC", channel_id=channel)
    clock.now = NOW + timedelta(minutes=30)
    bot.command("mitigated", channel_id=channel)
    bot.command("update Mitigated, watching", channel_id=channel)
    bot.drain()
    [post] = updates_posted(standin, channel)
    assert "1 h 15 min (impact started <!date^" in json.dumps(post["blocks"])
    assert "Mitigated" in post["text"] and "(Mitigated, SEV2, 1 h 15 min (impact started 08:15 UTC))" in post["text"]


def test_with_announce_channel_the_update_goes_there_too(incident_bot, standin):
    bot, channel = incident_bot(announce_channel=ANNOUNCE)
    reply = bot.command("update All good now", channel_id=channel)
    assert f"posted in <#{channel}> and <#{ANNOUNCE}>" in reply["text"]
    bot.drain()
    [here], [there] = updates_posted(standin, channel), updates_posted(standin, ANNOUNCE)
    assert here["blocks"] == there["blocks"]
    assert f"<#{channel}>" in json.dumps(there["blocks"])  # readers elsewhere find the incident channel
    assert len(update_entries(bot)) == 1


def test_an_announce_channel_that_refuses_the_post_is_reported_to_who_posted(incident_bot, standin):
    bot, channel = incident_bot(announce_channel=ANNOUNCE)
    standin.fail("chat.postMessage", error="channel_not_found")
    bot.command("update All good now", channel_id=channel, response_url=standin.response_url("upd"))
    bot.drain()
    [report] = [r for r in standin.responses if r["_key"] == "upd"]
    assert "could not be posted in <#" in report["text"] and "channel_not_found" in report["text"]
    assert len(update_entries(bot)) == 1  # the update is stored whatever Slack said


@pytest.mark.parametrize("value", ["#incidents", "incidents", "c0123abcd", "U0123ABCD", "C0123 ABCD"])
def test_an_announce_channel_that_is_no_channel_id_stops_start_up_with_one_line(value):
    with pytest.raises(ConfigError) as caught:
        load_settings(_env_file=None, announce_channel=value)
    message = str(caught.value)
    assert message.startswith("ANNOUNCE_CHANNEL is invalid: must be a channel ID such as C0123ABCDEF")
    assert "\n" not in message


def test_announce_channel_unset_or_empty_means_no_second_post():
    assert load_settings(_env_file=None).announce_channel is None
    assert load_settings(_env_file=None, announce_channel="").announce_channel is None
    assert load_settings(_env_file=None, announce_channel=" G0PRIVATE12 ").announce_channel == "G0PRIVATE12"


def test_an_empty_update_says_how_and_records_nothing(incident_bot, standin):
    bot, channel = incident_bot()
    reply = bot.command("update   ", channel_id=channel)
    assert reply["text"].startswith("Usage: `/incident update &lt;text&gt;`")
    bot.drain()
    assert update_entries(bot) == [] and standin.calls_to("chat.postMessage") == []


def test_an_update_outside_an_incident_channel_names_the_way_to_start_one(incident_bot):
    bot, _ = incident_bot()
    assert bot.text("update hello", channel_id="C0ELSEWHERE").startswith("No incident in this channel.")


def test_hostile_text_in_an_update_pings_nobody(incident_bot, standin):
    bot, channel = incident_bot(announce_channel=ANNOUNCE)
    reply = bot.command(f"update {ENCODED}", channel_id=channel)
    assert_harmless(reply, "the reply")
    bot.drain()
    for post in updates_posted(standin, channel) + updates_posted(standin, ANNOUNCE):
        assert_harmless(post.params, "the posted update")
        assert "@channel" in json.dumps(post["blocks"])


def test_the_longest_update_stays_within_slacks_limits(incident_bot, standin):
    bot, channel = incident_bot()
    with bot.db.write() as session:
        session.get(Incident, 1).title = "T" * 5000
    bot.command("update " + "&lt;" * 40_000, channel_id=channel)
    bot.drain()
    [post] = updates_posted(standin, channel)
    assert breaches(post.params, posted=True) == []


# --- the update message (pure): DST and midnight --------------------------------------------------


def message(since: Since, now: datetime, zone=BERLIN) -> dict:
    return update_blocks.update_message(number=7, title="Checkout errors", status="open", severity="sev1",
                                        since=since, now=now, zone=zone, text="ok", author_id="U0USER1",
                                        channel_id="C0INC07")


def test_time_since_start_is_the_true_elapsed_time_across_a_dst_change():
    # 01:30 CET on 29 March 2026, an hour before the clocks go forward; 04:30 CEST is two hours later
    since = Since(datetime(2026, 3, 29, 0, 30, tzinfo=UTC), impact=True)
    now = datetime(2026, 3, 29, 2, 30, tzinfo=UTC)
    text = message(since, now)["text"]
    assert "2 h 0 min (impact started 01:30 CET (UTC+01:00))" in text
    # and in autumn, 02:30 CEST to 02:30 CET is an hour, though the clock reads the same
    autumn = Since(datetime(2026, 10, 25, 0, 30, tzinfo=UTC), impact=True)
    text = message(autumn, datetime(2026, 10, 25, 1, 30, tzinfo=UTC))["text"]
    assert "1 h 0 min (impact started 02:30 CEST (UTC+02:00))" in text


def test_a_start_before_midnight_shows_its_date():
    since = Since(datetime(2026, 11, 22, 22, 50, tzinfo=UTC), impact=False)  # 23:50 in Berlin
    text = message(since, datetime(2026, 11, 22, 23, 10, tzinfo=UTC))["text"]  # 00:10 the next day
    assert "20 min (declared 2026-11-22 23:50 CET (UTC+01:00))" in text
    same_day = message(since, datetime(2026, 11, 22, 22, 55, tzinfo=UTC))["text"]
    assert "5 min (declared 23:50 CET (UTC+01:00))" in same_day


# --- who is owed an update reminder (pure) --------------------------------------------------------

INTERVAL = timedelta(minutes=30)


def cand(incident_id=1, **kwargs) -> UpdateCandidate:
    values = {"incident_id": incident_id, "title": "Checkout errors", "channel_id": "C0INC01",
              "commander_id": "U0CMDR", "created_by": "U0STARTER", "created_at": NOW, "last_update_at": None,
              "update_reminded_at": None}
    values.update(kwargs)
    return UpdateCandidate(**values)


def test_a_reminder_is_due_once_an_interval_passes_without_an_update():
    assert update_reminder_due(cand(), NOW + INTERVAL - MIN, INTERVAL) is None
    due = update_reminder_due(cand(), NOW + INTERVAL, INTERVAL)
    assert (due.recipient, due.last, due.last_was_update) == ("U0CMDR", NOW, False)


def test_an_update_restarts_the_count():
    updated = cand(last_update_at=NOW + timedelta(minutes=20))
    assert update_reminder_due(updated, NOW + timedelta(minutes=49), INTERVAL) is None
    due = update_reminder_due(updated, NOW + timedelta(minutes=50), INTERVAL)
    assert due.last == NOW + timedelta(minutes=20) and due.last_was_update


def test_one_reminder_per_interval():
    reminded = cand(update_reminded_at=NOW + INTERVAL + MIN)
    assert update_reminder_due(reminded, NOW + INTERVAL + 2 * MIN, INTERVAL) is None
    assert update_reminder_due(reminded, NOW + 2 * INTERVAL, INTERVAL) is None
    assert update_reminder_due(reminded, NOW + 2 * INTERVAL + MIN, INTERVAL) is not None
    # a reminder from before the last update does not count against the next one
    after_update = cand(update_reminded_at=NOW + INTERVAL, last_update_at=NOW + INTERVAL + MIN)
    assert update_reminder_due(after_update, NOW + 2 * INTERVAL + MIN, INTERVAL) is not None


def test_without_a_commander_the_person_who_started_it_is_reminded_and_zero_turns_it_off():
    assert update_reminder_due(cand(commander_id=None), NOW + INTERVAL, INTERVAL).recipient == "U0STARTER"
    assert update_reminder_due(cand(), NOW + 10 * INTERVAL, timedelta(0)) is None
    assert [r.incident_id for r in select_update_reminders(
        [cand(1), cand(2, created_at=NOW + MIN), cand(3, created_at=NOW - INTERVAL)], NOW + INTERVAL, INTERVAL)] == [1, 3]


# --- the reminder, delivered: once across replicas ------------------------------------------------


def update_dms(standin) -> list:
    return [c for c in standin.calls_to("chat.postMessage") if str(c["channel"]).startswith("D")
            and "no status update" in str(c.get("text", ""))]


def test_several_replicas_sweeping_at_once_send_one_reminder_per_interval(incident_bot, make_bot, standin, clock):
    bot, channel = incident_bot()
    replicas = [bot] + [make_bot(clock=clock) for _ in range(2)]
    clock.now = NOW + timedelta(minutes=29)
    assert reminders.sweep_updates(bot.services) == 0  # not yet

    def all_at_once(work) -> list:
        results, barrier = [], threading.Barrier(len(replicas))

        def run(replica):
            barrier.wait()
            results.append(work(replica))

        threads = [threading.Thread(target=run, args=(r,)) for r in replicas]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        return results

    clock.now = NOW + timedelta(minutes=31)
    assert sum(all_at_once(lambda r: reminders.sweep(r.services).updates)) == 1
    all_at_once(lambda r: r.drain())
    [dm] = update_dms(standin)
    assert dm["channel"] == "DU0USER1"
    assert "INC-1" in dm["text"] and "31 min" in dm["text"]
    [button] = [e for b in dm["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert (button["action_id"], button["value"], button["text"]["text"]) == ("post_status_update", "1", "Post update")
    assert breaches(dm.params, posted=True) == []

    clock.now = NOW + timedelta(minutes=45)  # the same interval: no second reminder, however often they sweep
    assert sum(all_at_once(lambda r: reminders.sweep(r.services).updates)) == 0
    clock.now = NOW + timedelta(minutes=62)  # another interval since the reminder
    assert sum(all_at_once(lambda r: reminders.sweep(r.services).updates)) == 1
    all_at_once(lambda r: r.drain())
    assert len(update_dms(standin)) == 2

    bot.command("update Still looking", channel_id=channel)  # an update restarts the count
    clock.now = NOW + timedelta(minutes=62 + 29)
    assert reminders.sweep_updates(bot.services) == 0
    clock.now = NOW + timedelta(minutes=62 + 30)
    assert reminders.sweep_updates(bot.services) == 1


def test_an_update_posted_after_the_sweep_cancels_the_queued_reminder(incident_bot, standin, clock):
    bot, channel = incident_bot()
    clock.now = NOW + timedelta(minutes=40)
    assert reminders.sweep_updates(bot.services) == 1
    bot.command("update Found it", channel_id=channel)
    bot.drain()
    assert update_dms(standin) == []
    with bot.db.read() as session:
        assert rows.pending_jobs(session, reminders.UPDATE_REMINDER_JOB) == []


def test_resolved_incidents_and_reminders_turned_off_get_none(incident_bot, standin, clock):
    bot, channel = incident_bot(update_reminder_minutes=0)
    clock.now = NOW + timedelta(hours=5)
    assert reminders.sweep(bot.services).updates == 0
    other, channel2 = incident_bot()
    other.command("resolved", channel_id=channel2)
    with other.db.read() as session:
        assert [c.incident_id for c in overdue.update_candidates(session)] == [1]  # INC-2 is resolved
    assert reminders.sweep_updates(other.services) == 1


# --- the Post update button and its modal ---------------------------------------------------------


def test_the_button_opens_the_modal_and_submitting_it_posts_like_the_command(incident_bot, standin, clock):
    bot, channel = incident_bot(announce_channel=ANNOUNCE)
    press = sr.block_actions("post_status_update", "1", user_id="U0USER1", channel_id="D0DM01",
                             block_id="update_reminder:1")
    assert bot.interact(press).status == 200
    [opened] = standin.calls_to("views.open")
    view = json.loads(opened["view"]) if isinstance(opened["view"], str) else opened["view"]
    assert (view["callback_id"], view["private_metadata"]) == ("status_update", "1")
    assert breaches({"view": view}) == []

    clock.now = NOW + timedelta(minutes=10)
    submitted = sr.view_submission("status_update", sr.view_state(text=RAW), user_id="U0USER1",
                                   private_metadata="1")
    response = bot.interact(submitted)
    assert response.status == 200 and response.body in ("", "{}")
    bot.drain()
    for where in (channel, ANNOUNCE):
        [post] = updates_posted(standin, where)
        assert_harmless(post.params, f"the update from the modal in {where}")
        assert "Posted by <@U0USER1>" in json.dumps(post["blocks"]) and "10 min" in post["text"]
    [entry] = update_entries(bot)
    assert entry.kind == "update" and entry.key and "&lt;!channel&gt;" in entry.text  # stored in Slack's encoding


@pytest.mark.parametrize("metadata, text, error", [
    ("1", "   ", "Write what the status is now"),
    ("99", "hello", "This incident no longer exists."),
    ("not-a-number", "hello", "This incident no longer exists."),
])
def test_a_modal_that_cannot_be_posted_says_why_inline_and_posts_nothing(incident_bot, standin, metadata, text,
                                                                          error):
    bot, _ = incident_bot()
    response = bot.interact(sr.view_submission("status_update", sr.view_state(text=text), private_metadata=metadata))
    assert response.status == 200
    assert response.json() == {"response_action": "errors", "errors": {"text": response.json()["errors"]["text"]}}
    assert response.json()["errors"]["text"].startswith(error)
    bot.drain()
    assert update_entries(bot) == [] and standin.calls_to("chat.postMessage") == []


def test_hostile_tokens_are_never_live_in_the_reminder_dm(incident_bot, standin, clock):
    bot, _ = incident_bot()
    with bot.db.write() as session:
        session.get(Incident, 1).title = ENCODED
    clock.now = NOW + timedelta(hours=1)
    reminders.sweep_updates(bot.services)
    bot.drain()
    [dm] = update_dms(standin)
    assert_harmless(dm.params, "the update reminder")
    assert not any(h in json.dumps(dm["blocks"]) for h in HOSTILE if h.startswith("<!"))



def test_the_scheduler_sweeps_for_update_reminders_every_minute_without_waiting_for_the_hourly_sweep(
        make_bot, standin, monkeypatch):
    monkeypatch.setattr(reminders, "FIRST_RUN_DELAY_S", 3600.0)  # the full sweep would come too late here
    monkeypatch.setattr(reminders, "UPDATE_SWEEP_EVERY", timedelta(seconds=0.2))
    bot = make_bot(reminders_enabled=True, reminder_interval_minutes=60)
    open_incident(bot)
    with bot.db.write() as session:
        session.get(Incident, 1).created_at = datetime.now(UTC) - timedelta(minutes=45)
    standin.reset()
    bot.runtime.start_background()
    job = bot.runtime.scheduler.get_job("update_reminder_sweep")
    assert (job.misfire_grace_time, job.coalesce, job.max_instances) == (None, True, 1)
    [dm] = standin.wait_for("chat.postMessage", timeout=10)
    assert dm["channel"] == "DU0USER1" and "no status update for 45 min" in dm["text"]


def test_update_reminders_turned_off_add_no_sweep_to_the_scheduler(make_bot):
    bot = make_bot(reminders_enabled=True, update_reminder_minutes=0)
    bot.runtime.start_background()
    assert bot.runtime.scheduler.get_job("update_reminder_sweep") is None
    assert bot.runtime.scheduler.get_job("reminder_sweep") is not None


def test_a_modal_for_an_incident_resolved_long_ago_is_refused_inline(incident_bot, standin, clock):
    bot, channel = incident_bot()
    bot.command("resolved", channel_id=channel)
    clock.now = NOW + timedelta(days=8)  # CAPTURE_AFTER_RESOLVED_DAYS is 7
    response = bot.interact(sr.view_submission("status_update", sr.view_state(text="late"), private_metadata="1"))
    assert response.json()["errors"]["text"] == "INC-1 was resolved more than 7 days ago and takes no more updates."
    clock.now = NOW + timedelta(days=1)  # within the week, a closing update is welcome
    assert bot.interact(sr.view_submission("status_update", sr.view_state(text="root cause found"),
                                           private_metadata="1")).body in ("", "{}")
    assert [e.text for e in update_entries(bot)] == ["root cause found"]
