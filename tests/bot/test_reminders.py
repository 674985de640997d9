"""Reminders: who is reminded of what (pure), the digest's Block Kit, the sweep and the delivery of
what it queued against the database and the Web API stand-in, button presses, the scheduler, and
the postmortem nudge."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot import reminders
from bot import slack as slack_module
from bot.jobs import reminder_dms
from bot.jobs.reminder_dms import SweepResult
from bot.outbox import backoff
from bot.people import slack_zone
from bot.reminders import Digest, digest_messages, select_digests
from storage import action_items, incidents, outbox_jobs, profiles
from storage.db import DatabaseUnavailable
from storage.models import ActionItem, Incident, Milestone, PostmortemDraft
from storage.overdue import ReminderCandidate
from tests.bot.commands.test_incident import open_incident
from tests.support import slack_requests as sr

NOW = datetime(2026, 11, 23, 23, 30, tzinfo=UTC)  # Monday 23 Nov in UTC, Tuesday 24 Nov in Auckland
TODAY = date(2026, 11, 23)
DAY = timedelta(days=1)
REPEAT = timedelta(hours=24)
LIVE_TOKEN = re.compile(r"<!(channel|here|everyone|subteam)|<https?:|<@U0EVIL|<mailto:")


def cand(item_id=1, **kwargs) -> ReminderCandidate:
    values = {"item_id": item_id, "incident_id": 7, "text": f"item {item_id}", "owner_id": "U0OWNER",
              "due": TODAY - DAY, "snoozed_until": None, "reminded_at": None, "commander_id": "U0CMDR",
              "channel_id": "C0INC07", "incident_title": "Checkout errors", "recipient_tz": None}
    values.update(kwargs)
    return ReminderCandidate(**values)


def selected(candidates, now=NOW, zone=UTC, repeat=REPEAT) -> dict[str, list[int]]:
    return {d.recipient: d.item_ids for d in select_digests(candidates, now, zone, repeat)}


# --- selection (pure) -------------------------------------------------------------------------


def test_an_item_is_reminded_once_the_owners_date_is_past_its_due_date():
    assert selected([cand(1, due=TODAY - DAY)]) == {"U0OWNER": [1]}
    assert selected([cand(1, due=TODAY)]) == {}  # due today is not overdue yet
    assert selected([cand(1, due=TODAY + DAY)]) == {}


def test_overdue_is_decided_in_the_owners_zone():
    # 23:30 UTC on Monday is already Tuesday in Auckland and still Monday afternoon in Los Angeles
    due_monday = [cand(1, due=TODAY, recipient_tz="Pacific/Auckland"),
                  cand(2, due=TODAY, owner_id="U0LA", recipient_tz="America/Los_Angeles"),
                  cand(3, due=TODAY, owner_id="U0UTC", recipient_tz="UTC")]
    assert selected(due_monday) == {"U0OWNER": [1]}
    # a moment after midnight in Los Angeles, Monday's item is overdue there too
    assert selected(due_monday, now=datetime(2026, 11, 24, 8, 1, tzinfo=UTC))["U0LA"] == [2]


def test_an_owner_without_a_stored_zone_uses_the_default_zone():
    item = cand(1, due=TODAY, recipient_tz=None)
    assert selected([item], zone=UTC) == {}
    assert selected([item], zone=ZoneInfo("Pacific/Auckland")) == {"U0OWNER": [1]}
    assert selected([cand(1, due=TODAY, recipient_tz="Not/AZone")], zone=ZoneInfo("Asia/Tokyo")) == {"U0OWNER": [1]}


def test_snoozed_items_wait_until_the_snooze_ends():
    assert selected([cand(1, snoozed_until=NOW + timedelta(minutes=1))]) == {}
    assert selected([cand(1, snoozed_until=NOW)]) == {"U0OWNER": [1]}
    assert selected([cand(1, snoozed_until=NOW - DAY)]) == {"U0OWNER": [1]}


def test_an_item_reminded_recently_waits_for_the_repeat_interval():
    assert selected([cand(1, reminded_at=NOW - timedelta(hours=23, minutes=59))]) == {}
    assert selected([cand(1, reminded_at=NOW - timedelta(hours=24))]) == {"U0OWNER": [1]}
    assert selected([cand(1, reminded_at=NOW - timedelta(hours=2))], repeat=timedelta(hours=1)) == {"U0OWNER": [1]}


def test_repeat_hours_zero_selects_an_item_reminded_just_now():
    assert selected([cand(1, reminded_at=NOW)], repeat=timedelta(0)) == {"U0OWNER": [1]}


def test_items_without_owner_go_to_the_commander_and_without_either_nowhere():
    items = [cand(1, owner_id=None), cand(2, owner_id=None, commander_id=None), cand(3)]
    assert selected(items) == {"U0CMDR": [1], "U0OWNER": [3]}


def test_one_digest_per_person_oldest_due_first():
    items = [cand(1, due=TODAY - DAY), cand(2, owner_id="U0B"), cand(3, due=TODAY - 5 * DAY),
             cand(4, due=TODAY - DAY, incident_id=8)]
    assert selected(items) == {"U0OWNER": [3, 1, 4], "U0B": [2]}


def test_a_huge_digest_is_capped_and_says_how_many_more():
    items = [cand(n) for n in range(1, 71)]
    [digest] = select_digests(items, NOW, UTC, REPEAT)
    cap = reminders.ITEMS_PER_MESSAGE * reminders.MAX_MESSAGES_PER_DIGEST
    assert len(digest.items) == cap and digest.hidden == 70 - cap
    messages = digest_messages(digest, NOW)
    assert len(messages) == reminders.MAX_MESSAGES_PER_DIGEST
    assert all(len(m.blocks) <= 50 for m in messages)
    assert sorted(i for m in messages for i in m.item_ids) == list(range(1, cap + 1))
    assert f"and {70 - cap} more" in messages[-1].blocks[-1]["elements"][0]["text"]
    assert "(2 of 3)" in messages[1].text


# --- the digest (pure Block Kit) ------------------------------------------------------------


def test_the_digest_has_a_section_and_three_buttons_per_item():
    digest = Digest("U0OWNER", UTC, (cand(1, due=TODAY - 3 * DAY), cand(2, owner_id=None)))
    [message] = digest_messages(digest, NOW)
    assert message.item_ids == [1, 2] and message.text == "You have 2 overdue action items."
    assert len(message.blocks) <= 50
    section = next(b for b in message.blocks if b.get("block_id") == "reminder_item:1")
    text = section["text"]["text"]
    assert section["text"]["type"] == "mrkdwn"
    assert "*#1* item 1" in text and "Fri 2026-11-20 (3 days overdue)" in text
    assert "<#C0INC07> (INC-7): Checkout errors" in text
    buttons = next(b for b in message.blocks if b.get("block_id") == "reminder_buttons:1")["elements"]
    assert [(b["action_id"], b["value"], b["text"]["text"]) for b in buttons] == [
        ("action_done", "1", "Done"), ("action_snooze_1d", "1", "Snooze 1 day"),
        ("action_snooze_1w", "1", "Snooze 1 week")]
    ownerless = next(b for b in message.blocks if b.get("block_id") == "reminder_item:2")["text"]["text"]
    assert "you get this as the commander of INC-7" in ownerless


def test_the_digest_never_pings_from_item_text_or_titles():
    nasty = "tell <!channel> and <!here> <@U0EVIL|mallory> see <https://evil.example|docs> <!subteam^S1|@ops> &amp; &lt;b&gt;"  # as Slack encodes it
    digest = Digest("U0OWNER", UTC, (cand(1, text=nasty, incident_title="<!everyone> down <mailto:a@b|mail>"),))
    [message] = digest_messages(digest, NOW)
    rendered = json.dumps(message.blocks)
    assert not LIVE_TOKEN.search(rendered), rendered
    section = next(b for b in message.blocks if b.get("block_id") == "reminder_item:1")["text"]["text"]
    assert "@channel" in section and "@mallory" in section and "docs (https://evil.example)" in section
    assert "&amp; &lt;b&gt;" in section


def test_a_digest_message_cannot_grow_past_block_kit_section_limits():
    digest = Digest("U0OWNER", UTC, (cand(1, text="x" * 10_000, incident_title="t" * 5_000),))
    [message] = digest_messages(digest, NOW)
    assert all(len(b["text"]["text"]) <= 3000 for b in message.blocks if b["type"] == "section")


def test_a_cut_item_text_or_title_never_splits_an_escape():
    # as Slack encodes them: a cut in the escaped text would leave `&a…`, a broken entity
    digest = Digest("U0OWNER", UTC, (cand(1, text="a" * 597 + "&amp;&amp;" + "b" * 50,
                                          incident_title="t" * 118 + "&lt;x&gt;"),
                                     cand(2, text="&amp;" * 5_000, incident_title="&lt;" * 500)))
    [message] = digest_messages(digest, NOW)
    for item_id in (1, 2):
        text = next(b for b in message.blocks if b.get("block_id") == f"reminder_item:{item_id}")["text"]["text"]
        assert not re.search(r"&(?!amp;|lt;|gt;)", text), text
        assert len(text) <= 3000
    first = next(b for b in message.blocks if b.get("block_id") == "reminder_item:1")["text"]["text"]
    assert "*#1* " + "a" * 597 + "…\n" in first  # `&amp;` does not fit whole; never `&a…`


# --- the sweep, against the database and the Web API stand-in -------------------------------


class Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def add_item(bot, incident=1, owner="U0OWNER", due=TODAY - DAY, **kwargs) -> int:
    with bot.db.write() as session:
        item = action_items.add_action_item(session, ActionItem(
            incident_id=incident, text=kwargs.pop("text", "fix the retry storm"), owner_id=owner, due=due,
            status=kwargs.pop("status", "open"), created_at=NOW - 7 * DAY, **kwargs))
        return item.id


def item(bot, item_id) -> ActionItem:
    with bot.db.read() as session:
        return session.get(ActionItem, item_id)


def dms(standin) -> list:
    return [c for c in standin.calls_to("chat.postMessage") if str(c["channel"]).startswith("D")]


def dm_item_ids(call) -> list[int]:
    return [int(b["block_id"].split(":")[1]) for b in call["blocks"]
            if str(b.get("block_id", "")).startswith("reminder_item:")]


@pytest.fixture
def setup(make_bot, standin):
    """A bot on a frozen clock with one incident (commander U0USER1) and no Slack calls recorded yet."""
    return bots_on_a_frozen_clock(make_bot, standin)


def bots_on_a_frozen_clock(make_bot, standin):
    clock = Clock(NOW)

    def make(**settings):
        bot = make_bot(clock=clock, **settings)
        open_incident(bot)
        standin.reset()
        return bot

    make.clock = clock
    return make


def sweep(bot) -> SweepResult:
    """`incident-bot reminders sweep`, in process: queue what is due, deliver it here, say what was sent."""
    reminders.sweep(bot.services)
    return reminder_dms.deliver_now(bot.services)


def test_the_sweep_dms_each_person_one_digest_of_exactly_their_overdue_items(setup, standin):
    bot = setup()
    with bot.db.write() as session:
        profiles.put_user_profile(session, "U0KIWI", "Pacific/Auckland", "kiwi", NOW)
    overdue = add_item(bot)
    also_overdue = add_item(bot, due=TODAY - 10 * DAY)
    add_item(bot, due=TODAY)  # due today
    add_item(bot, due=None)
    add_item(bot, status="done")
    add_item(bot, snoozed_until=NOW + DAY)
    add_item(bot, reminded_at=NOW - timedelta(hours=3))
    kiwi = add_item(bot, owner="U0KIWI", due=TODAY)  # Tuesday already in Auckland
    ownerless = add_item(bot, owner=None)

    result = sweep(bot)

    assert (result.dms, result.items, result.failed) == (3, 4, 0)
    sent = {c["channel"]: dm_item_ids(c) for c in dms(standin)}
    opened = [c["users"] for c in standin.calls_to("conversations.open")]
    assert sorted(opened) == ["U0KIWI", "U0OWNER", "U0USER1"]
    assert sent == {"DU0OWNER": [also_overdue, overdue], "DU0KIWI": [kiwi], "DU0USER1": [ownerless]}
    for item_id in (overdue, also_overdue, kiwi, ownerless):
        assert item(bot, item_id).reminded_at == NOW
    assert all(c.get("unfurl_links") in (False, "false", "0", 0) for c in dms(standin))


def test_a_second_sweep_waits_for_the_repeat_interval(setup, standin):
    bot = setup()
    add_item(bot)
    assert sweep(bot).dms == 1
    setup.clock.now = NOW + timedelta(hours=23)
    assert sweep(bot).dms == 0
    setup.clock.now = NOW + timedelta(hours=24)
    assert sweep(bot).dms == 1
    assert len(dms(standin)) == 2


def test_repeat_hours_zero_reminds_at_every_sweep(setup, standin):
    bot = setup(reminder_repeat_hours=0)
    add_item(bot)
    assert [sweep(bot).dms for _ in range(3)] == [1, 1, 1]


def test_a_dm_slack_refuses_for_good_is_not_marked_reminded_and_the_next_sweep_retries_it(setup, standin):
    bot = setup()
    item_id = add_item(bot)
    standin.fail("chat.postMessage", "channel_not_found")
    result = sweep(bot)
    assert (result.dms, result.failed) == (0, 1)
    assert item(bot, item_id).reminded_at is None
    result = sweep(bot)
    assert (result.dms, result.items, result.failed) == (1, 1, 0)
    assert item(bot, item_id).reminded_at == NOW


def test_a_dm_that_failed_for_now_is_retried_after_a_backoff_without_waiting_for_a_sweep(setup, standin):
    bot = setup()
    item_id = add_item(bot)
    standin.fail("chat.postMessage", status=500, times=3)  # more than the client's own retries
    result = sweep(bot)
    assert (result.dms, result.failed) == (0, 1)
    assert item(bot, item_id).reminded_at is None
    assert sweep(bot).dms == 0, "its job waits for its retry; the sweep queues no second one"
    setup.clock.now = NOW + backoff(1)
    result = reminder_dms.deliver_now(bot.services)
    assert (result.dms, result.items, result.failed) == (1, 1, 0)
    assert item(bot, item_id).reminded_at == NOW + backoff(1)
    assert len(dms(standin)) == 3 + 1  # three refused (the client retries twice itself), then the one DM


def test_a_failed_conversations_open_is_retried_by_the_next_sweep(setup, standin):
    bot = setup()
    item_id = add_item(bot)
    standin.fail("conversations.open", "user_not_found")
    assert sweep(bot).failed == 1
    assert dms(standin) == [] and item(bot, item_id).reminded_at is None
    assert sweep(bot).dms == 1


def test_a_reminder_job_another_replica_is_running_is_left_alone_until_its_lease_runs_out(setup, standin):
    bot = setup()
    add_item(bot)
    reminders.sweep(bot.services)
    with bot.db.write() as session:  # another replica's drainer took it
        assert len(outbox_jobs.claim_jobs(session, "someone-else", NOW, timedelta(minutes=2), 10)) == 1
    assert sweep(bot).dms == 0
    setup.clock.now = NOW + timedelta(minutes=2, seconds=1)  # that replica died; its lease ran out
    assert sweep(bot).dms == 1
    assert len(dms(standin)) == 1


def test_a_reminder_job_is_not_started_on_a_lease_about_to_run_out(setup, standin, monkeypatch):
    # One drainer leased both people's jobs in one batch, and the first DM took longer than the lease.
    # Another replica then leases the second job and sends it. The first drainer must not send it too.
    bot = setup()
    first = add_item(bot, owner="U0A")
    second = add_item(bot, owner="U0B")
    reminders.sweep(bot.services)
    original, runs = reminder_dms.remind, []

    def slow_remind(services, payload, tally=None):
        runs.append(payload["recipient"])
        original(services, payload, tally)
        if len(runs) == 1:
            setup.clock.now += timedelta(minutes=2, seconds=1)  # the whole lease is gone
            assert reminder_dms.deliver_now(services, workers=1).dms == 1  # another replica's drain

    monkeypatch.setattr(reminder_dms, "remind", slow_remind)
    assert reminder_dms.deliver_now(bot.services, workers=1).dms == 1
    assert sorted(i for call in dms(standin) for i in dm_item_ids(call)) == sorted([first, second])  # each once
    # The other replica ran both jobs: U0A's again too, as its lease had run out, and found that DM
    # recorded as sent. The first drainer did not start U0B's job on its spent lease.
    assert runs == ["U0A", "U0A", "U0B"]


def test_a_digest_split_over_several_messages_records_each_message_as_it_is_sent(setup, standin):
    bot = setup()
    ids = [add_item(bot) for _ in range(25)]
    standin.fail("chat.postMessage", "msg_too_long")  # the first message fails, the second goes out
    result = sweep(bot)
    assert (result.dms, result.items, result.failed) == (1, 5, 1)
    reminded = [i for i in ids if item(bot, i).reminded_at is not None]
    assert reminded == ids[20:]
    assert sweep(bot).items == 20  # the rest, at the next sweep


def test_a_retried_digest_does_not_send_again_the_messages_that_went_out(setup, standin):
    bot = setup()
    ids = [add_item(bot) for _ in range(25)]
    standin.fail("chat.postMessage", "fatal_error")  # the first message fails for now, the second goes out
    assert sweep(bot).failed == 1
    setup.clock.now = NOW + backoff(1)
    assert reminder_dms.deliver_now(bot.services).items == 20
    sent = [i for call in dms(standin)[1:] for i in dm_item_ids(call)]
    assert sorted(sent) == sorted(ids)  # each item in one DM that went out


# --- buttons --------------------------------------------------------------------------------


def press(bot, call, action_id, item_id, *, user="U0OWNER", ts="1700000900.000100"):
    payload = sr.block_actions(action_id, str(item_id), user_id=user, channel_id=call["channel"], message_ts=ts,
                               block_id=f"reminder_buttons:{item_id}")
    payload["message"]["blocks"] = call["blocks"]
    payload["message"]["text"] = call["text"]
    response = bot.interact(payload)
    assert response.status == 200, response.body
    return response


def test_done_in_the_dm_closes_the_item_and_rewrites_the_dm(setup, standin):
    bot = setup()
    first, second = add_item(bot), add_item(bot)
    sweep(bot)
    [dm] = dms(standin)
    press(bot, dm, "action_done", first)
    done = item(bot, first)
    assert (done.status, done.closed_by, done.closed_at) == ("done", "U0OWNER", NOW)
    bot.drain()
    [update] = standin.calls_to("chat.update")
    assert update["channel"] == "DU0OWNER" and update["ts"] == "1700000900.000100"
    blocks = {b.get("block_id"): b for b in update["blocks"]}
    assert blocks[f"reminder_buttons:{first}"]["type"] == "context"
    assert "Done, marked by <@U0OWNER>" in blocks[f"reminder_buttons:{first}"]["elements"][0]["text"]
    assert blocks[f"reminder_buttons:{second}"]["type"] == "actions"  # the other item keeps its buttons
    assert item(bot, second).status == "open"
    timeline = [i for i in bot.timeline(1) if i.kind == "action"]
    assert timeline[-1].text == f"Action #{first} done: fix the retry storm"
    setup.clock.now = NOW + 2 * DAY
    sweep(bot)
    assert dm_item_ids(dms(standin)[-1]) == [second]  # a done item is never reminded again


@pytest.mark.parametrize("action_id, delta", [("action_snooze_1d", DAY), ("action_snooze_1w", 7 * DAY)])
def test_snooze_holds_the_reminder_and_rewrites_the_dm(setup, standin, action_id, delta):
    bot = setup(reminder_repeat_hours=0)
    item_id = add_item(bot)
    sweep(bot)
    [dm] = dms(standin)
    press(bot, dm, action_id, item_id)
    assert item(bot, item_id).snoozed_until == NOW + delta
    bot.drain()
    [update] = standin.calls_to("chat.update")
    note = next(b for b in update["blocks"] if b.get("block_id") == f"reminder_buttons:{item_id}")
    assert note["type"] == "context" and "Snoozed until" in note["elements"][0]["text"]
    assert f"<!date^{int((NOW + delta).timestamp())}^" in note["elements"][0]["text"]
    setup.clock.now = NOW + delta - timedelta(minutes=1)
    assert sweep(bot).dms == 0
    setup.clock.now = NOW + delta
    assert sweep(bot).dms == 1


def test_presses_on_one_dm_before_its_rewrite_lands_never_bring_back_pressed_buttons(setup, standin):
    # Both presses come from the DM as it was sent: the second payload still shows #1 with its buttons.
    # The rewrite reads every item's state when it runs, and the queued rewrites of the DM are one.
    bot = setup()
    first, second, third = add_item(bot), add_item(bot), add_item(bot)
    sweep(bot)
    [dm] = dms(standin)
    press(bot, dm, "action_done", first)
    press(bot, dm, "action_snooze_1d", second)
    bot.drain()
    [update] = standin.calls_to("chat.update")
    rows = {b["block_id"]: b for b in update["blocks"] if str(b.get("block_id", "")).startswith("reminder_buttons:")}
    assert rows[f"reminder_buttons:{first}"]["type"] == "context"
    assert "Done, marked by <@U0OWNER>" in rows[f"reminder_buttons:{first}"]["elements"][0]["text"]
    assert rows[f"reminder_buttons:{second}"]["type"] == "context"
    assert "Snoozed until" in rows[f"reminder_buttons:{second}"]["elements"][0]["text"]
    assert rows[f"reminder_buttons:{third}"]["type"] == "actions"
    assert dm_item_ids(update) == [first, second, third]  # the item texts stay as they were sent


def test_a_rewrite_after_an_earlier_one_landed_still_shows_every_item_as_it_is(setup, standin):
    bot = setup()
    first, second = add_item(bot), add_item(bot)
    sweep(bot)
    [dm] = dms(standin)
    press(bot, dm, "action_done", first)
    bot.drain()
    press(bot, dm, "action_snooze_1w", second)  # a payload from before the first rewrite
    bot.drain()
    last = standin.calls_to("chat.update")[-1]
    rows = {b["block_id"]: b["type"] for b in last["blocks"] if str(b.get("block_id", "")).startswith("reminder_b")}
    assert rows == {f"reminder_buttons:{first}": "context", f"reminder_buttons:{second}": "context"}


def test_pressing_done_twice_says_it_is_already_done(setup, standin):
    bot = setup()
    item_id = add_item(bot)
    sweep(bot)
    [dm] = dms(standin)
    press(bot, dm, "action_done", item_id)
    press(bot, dm, "action_done", item_id, user="U0OTHER")
    bot.drain()
    last = standin.calls_to("chat.update")[-1]
    note = next(b for b in last["blocks"] if b.get("block_id") == f"reminder_buttons:{item_id}")
    assert "Done, marked by <@U0OWNER>" in note["elements"][0]["text"]  # the first press counts
    assert item(bot, item_id).closed_by == "U0OWNER"


def test_done_in_the_actions_list_replaces_the_list_through_its_response_url(setup, standin):
    bot = setup()
    channel = bot.incident(1).channel_id
    first, second = add_item(bot), add_item(bot)
    listing = bot.command("actions", channel_id=channel)
    buttons = next(b for b in listing["blocks"] if b.get("block_id") == f"action_item_buttons:{first}")["elements"]
    button = next(b for b in buttons if b["action_id"] == "action_done")
    payload = sr.block_actions(button["action_id"], button["value"], user_id="U0USER1", channel_id=channel,
                               block_id=f"action_item_buttons:{first}", response_url=standin.response_url("list"))
    payload["container"]["is_ephemeral"] = True
    payload.pop("message")
    assert bot.interact(payload).status == 200
    assert item(bot, first).status == "done"
    bot.drain()
    [response] = [r for r in standin.responses if r["_key"] == "list"]
    assert response["replace_original"] is True
    blocks = {b["block_id"]: b for b in response["blocks"] if b.get("block_id")}
    assert f"action_item_buttons:{first}" not in blocks and "done by <@U0USER1>" in blocks[f"action_item:{first}"]["text"]["text"]
    assert [b["value"] for b in blocks[f"action_item_buttons:{second}"]["elements"]] == [str(second)] * 2
    assert standin.calls_to("chat.update") == []


def test_drop_in_the_actions_list_closes_the_item_as_dropped_and_it_is_never_reminded(setup, standin):
    bot = setup()
    channel = bot.incident(1).channel_id
    dropped, kept = add_item(bot, text="rewrite it in Rust"), add_item(bot)
    listing = bot.command("actions", channel_id=channel)
    buttons = next(b for b in listing["blocks"] if b.get("block_id") == f"action_item_buttons:{dropped}")["elements"]
    drop = next(b for b in buttons if b["action_id"] == "action_drop")
    payload = sr.block_actions(drop["action_id"], drop["value"], user_id="U0USER1", channel_id=channel,
                               block_id=f"action_item_buttons:{dropped}", response_url=standin.response_url("list"))
    payload["container"]["is_ephemeral"] = True
    payload.pop("message")
    assert bot.interact(payload).status == 200  # a signed request, through Bolt's dispatch
    closed = item(bot, dropped)
    assert (closed.status, closed.closed_by, closed.closed_at) == ("dropped", "U0USER1", NOW)
    assert [i.text for i in bot.timeline(1) if i.kind == "action"][-1] == f"Action #{dropped} dropped: rewrite it in Rust"
    bot.drain()
    [response] = [r for r in standin.responses if r["_key"] == "list"]
    blocks = {b["block_id"]: b for b in response["blocks"] if b.get("block_id")}
    assert f"action_item_buttons:{dropped}" not in blocks
    assert "Status: dropped by <@U0USER1>" in blocks[f"action_item:{dropped}"]["text"]["text"]
    assert bot.interact(payload).status == 200 and item(bot, dropped).closed_at == NOW  # twice changes nothing
    setup.clock.now = NOW + 2 * DAY
    sweep(bot)
    assert [dm_item_ids(c) for c in dms(standin)] == [[kept]]  # the dropped item is never reminded


def test_a_button_with_a_bad_value_changes_nothing(setup, standin):
    bot = setup()
    item_id = add_item(bot)
    payload = sr.block_actions("action_done", "not-a-number", channel_id="DU0OWNER")
    assert bot.interact(payload).status == 200
    payload = sr.block_actions("action_snooze_1d", "999999", channel_id="DU0OWNER",
                               block_id="reminder_buttons:999999")
    assert bot.interact(payload).status == 200
    assert item(bot, item_id).status == "open" and item(bot, item_id).snoozed_until is None
    bot.drain()
    [update] = standin.calls_to("chat.update")  # the missing item's message says so
    assert "no longer exists" in json.dumps(update["blocks"])


# --- the postmortem nudge -------------------------------------------------------------------


def resolve(bot, when):
    channel = bot.incident(1).channel_id
    bot.command("resolved", channel_id=channel)
    with bot.db.write() as session:
        for m in incidents.milestones(session, 1).values():
            if m.name == "resolved":
                m.at = when
                session.add(m)


def nudges(standin):
    return [c for c in dms(standin) if "no postmortem yet" in c["text"]]


def test_a_resolved_incident_without_a_draft_nudges_the_commander_once(setup, standin):
    bot = setup()
    resolve(bot, NOW - timedelta(days=1, hours=23))
    assert sweep(bot).nudges == 0  # not two days yet
    setup.clock.now = NOW + timedelta(hours=1)
    assert sweep(bot).nudges == 1
    [nudge] = nudges(standin)
    assert nudge["channel"] == "DU0USER1"
    assert f"<#{bot.incident(1).channel_id}>" in nudge["blocks"][0]["text"]["text"]
    assert "/postmortem draft" in nudge["blocks"][0]["text"]["text"]
    setup.clock.now = NOW + 30 * DAY
    assert sweep(bot).nudges == 0
    assert bot.incident(1).nudged_at == NOW + timedelta(hours=1)


def test_no_nudge_when_a_draft_exists_or_the_incident_is_open(setup, standin):
    bot = setup()
    setup.clock.now = NOW + 10 * DAY
    assert sweep(bot).nudges == 0  # open
    resolve(bot, NOW)
    with bot.db.write() as session:
        session.add(PostmortemDraft(incident_id=1, version=1, template="default", markdown="# x",
                                    created_at=NOW))
    assert sweep(bot).nudges == 0
    assert nudges(standin) == []


def test_a_failed_nudge_is_retried_after_a_backoff(setup, standin):
    bot = setup(postmortem_nudge_days=0)
    resolve(bot, NOW - timedelta(minutes=5))
    standin.fail("conversations.open", "fatal_error")
    assert sweep(bot).failed == 1
    assert bot.incident(1).nudged_at is None
    setup.clock.now = NOW + backoff(1)
    assert sweep(bot).nudges == 1
    assert len(nudges(standin)) == 1 and bot.incident(1).nudged_at == NOW + backoff(1)


def resolved_incident(bot, commander: str) -> int:
    """A resolved incident of `commander`, resolved long enough ago to be nudged, without a draft."""
    with bot.db.write() as session:
        incident = incidents.add_incident(session, Incident(title=f"Outage of {commander}", created_by=commander,
                                                          commander_id=commander, channel_id=f"C{commander}",
                                                          status="resolved", created_at=NOW - 10 * DAY))
        incidents.put_milestone(session, Milestone(incident_id=incident.id, name="resolved", at=NOW - 5 * DAY,
                                                 recorded_at=NOW - 5 * DAY))
        return incident.id


def test_a_nudge_sent_but_not_recorded_does_not_stop_the_other_nudges(setup, standin):
    bot = setup()
    first, second = resolved_incident(bot, "U0CMDRA"), resolved_incident(bot, "U0CMDRB")
    bot.db.inject_fault(r"UPDATE incident SET nudged_at")  # fails once, just after the first DM went out
    result = sweep(bot)
    assert (result.nudges, result.failed) == (2, 0)
    assert sorted(c["channel"] for c in nudges(standin)) == ["DU0CMDRA", "DU0CMDRB"]
    with bot.db.read() as session:
        unrecorded, recorded = session.get(Incident, first), session.get(Incident, second)
        # the first was sent but not recorded: the one case that may repeat; the second is done
        assert unrecorded.nudged_at is None
        assert recorded.nudged_at == NOW


def test_a_failed_nudge_whose_failure_cannot_be_recorded_does_not_stop_the_other_nudges(setup, standin):
    bot = setup()
    resolved_incident(bot, "U0CMDRA")
    second = resolved_incident(bot, "U0CMDRB")
    standin.fail("conversations.open", "user_not_found")  # the first commander's
    bot.db.inject_fault(r"UPDATE outbox SET .*\bfailed=")  # recording the give-up fails, once
    reminders.sweep(bot.services)
    with pytest.raises(DatabaseUnavailable):  # the CLI says so, and exits 1
        reminder_dms.deliver_now(bot.services, workers=1)
    setup.clock.now = NOW + timedelta(minutes=2, seconds=1)  # the leases of that drain run out
    result = sweep(bot)  # the other nudge goes out, and the failed one is tried again
    assert result.nudges == 2 and sorted(c["channel"] for c in nudges(standin)) == ["DU0CMDRA", "DU0CMDRB"]
    with bot.db.read() as session:
        assert session.get(Incident, second).nudged_at == setup.clock.now


def test_a_failed_nudge_forgets_the_remembered_dm_channel(setup, standin):
    bot = setup()
    resolved_incident(bot, "U0CMDRA")
    client = bot.services.background
    slack_module._dm_channels[(client.base_url, "U0CMDRA")] = "DGONE"  # remembered, but no longer usable
    standin.fail("chat.postMessage", "channel_not_found")
    assert sweep(bot).failed == 1
    assert (client.base_url, "U0CMDRA") not in slack_module._dm_channels
    assert sweep(bot).nudges == 1
    assert [c["users"] for c in standin.calls_to("conversations.open")] == ["U0CMDRA"]  # asked again
    assert [c["channel"] for c in nudges(standin)] == ["DGONE", "DU0CMDRA"]  # the failed try, then the DM


# --- the scheduler ----------------------------------------------------------------------------


def test_the_scheduler_sweeps_soon_after_start_without_waiting_an_interval(make_bot, standin, monkeypatch):
    monkeypatch.setattr(reminders, "FIRST_RUN_DELAY_S", 0.2)
    bot = make_bot(reminders_enabled=True, reminder_interval_minutes=60)
    open_incident(bot)
    add_item(bot, due=date(2020, 1, 1))
    standin.reset()
    bot.runtime.start_background()
    job = bot.runtime.scheduler.get_job("reminder_sweep")
    assert (job.misfire_grace_time, job.coalesce, job.max_instances) == (None, True, 1)
    assert job.trigger.interval == timedelta(minutes=60)
    [dm] = standin.wait_for("chat.postMessage", timeout=10)
    assert dm["channel"] == "DU0OWNER"


def test_reminders_disabled_starts_no_scheduler(make_bot):
    bot = make_bot(reminders_enabled=False)
    bot.runtime.start_background()
    assert bot.runtime.scheduler is None


def test_sweep_result_summary():
    assert SweepResult(2, 5, 1, 0).summary() == (
        "Sent 2 reminder DMs about 5 overdue action items and 1 postmortem nudge.")
    assert "1 DM failed" in replace(SweepResult(), failed=1).summary()


def test_a_press_that_cannot_be_saved_is_not_acknowledged_as_done(setup, standin):
    bot = setup()
    item_id = add_item(bot)
    bot.db.inject_fault("UPDATE action_item SET status")  # closing the item fails, once
    payload = sr.block_actions("action_done", str(item_id), channel_id="DU0OWNER",
                               block_id=f"reminder_buttons:{item_id}")
    assert bot.interact(payload).status != 200  # Slack marks the press as failed; pressing again works
    assert item(bot, item_id).status == "open"
    assert bot.interact(payload).status == 200
    assert item(bot, item_id).status == "done"


RECIPIENT_TZ = {"U0A": "Pacific/Auckland", "U0B": "America/Los_Angeles", "U0C": None, "U0CMDR": "Pacific/Kiritimati"}


@given(st.lists(st.builds(
    cand,
    item_id=st.integers(1, 10_000),
    owner_id=st.sampled_from([None, "U0A", "U0B", "U0C"]),
    commander_id=st.sampled_from([None, "U0CMDR", "U0A"]),
    due=st.dates(date(2026, 11, 15), date(2026, 11, 30)),
    snoozed_until=st.none() | st.datetimes(datetime(2026, 11, 20), datetime(2026, 11, 28), timezones=st.just(UTC)),
    reminded_at=st.none() | st.datetimes(datetime(2026, 11, 20), datetime(2026, 11, 24), timezones=st.just(UTC)),
), unique_by=lambda c: c.item_id, max_size=40), st.sampled_from([0, 1, 24]))
def test_digests_hold_each_remindable_item_once_and_nothing_else(items, repeat_hours):
    # as the database delivers them: the recipient's stored zone on each of their items
    items = [replace(i, recipient_tz=RECIPIENT_TZ.get(i.owner_id or i.commander_id)) for i in items]
    repeat = timedelta(hours=repeat_hours)
    digests = select_digests(items, NOW, UTC, repeat)
    assert len({d.recipient for d in digests}) == len(digests)  # one digest per person
    sent = {i.item_id: d.recipient for d in digests for i in d.items}
    assert len(sent) == sum(len(d.items) for d in digests)  # no item twice
    for i in items:
        recipient = i.owner_id or i.commander_id
        zone = slack_zone(i.recipient_tz) or UTC
        if recipient is not None and reminders.needs_reminder(i, NOW, zone, repeat):
            assert sent.get(i.item_id) == recipient
            assert NOW.astimezone(zone).date() > i.due  # the owner's own date is past the due date
        else:
            assert i.item_id not in sent
