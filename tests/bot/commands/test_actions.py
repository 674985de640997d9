"""`/incident action` and `/incident actions` through signed slash commands (docs/reminders.md)."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime

from bot import cli
from bot.commands.common import NO_INCIDENT
from bot.due_dates import DUE_FORMS
from storage import action_items
from storage.models import ActionItem
from tests.bot.commands.test_incident import open_incident

NOW = datetime(2026, 11, 23, 23, 30, tzinfo=UTC)  # a Monday in UTC; already Tuesday in Auckland
LIVE_TOKEN = re.compile(r"<!(channel|here|everyone)|<https?:|<@U0EVIL")


def items(bot, number=1):
    with bot.db.read() as session:
        return action_items.action_items(session, number)


def test_action_with_owner_and_due_is_stored_and_confirmed(make_bot):
    bot = make_bot(clock=lambda: NOW)
    channel = open_incident(bot)
    reply = bot.text("action add retry backoff to the client <@U0DANA|dana> due friday", channel_id=channel)
    [item] = items(bot)
    assert (item.text, item.owner_id, item.due, item.status) == (
        "add retry backoff to the client", "U0DANA", date(2026, 11, 27), "open")
    assert item.created_by == "U0USER1" and item.created_at == NOW
    assert reply.startswith(f"Action #{item.id} for INC-1: add retry backoff to the client")
    assert "Owner: <@U0DANA>" in reply and "Fri 2026-11-27" in reply
    assert ":warning:" not in reply


def test_action_shows_in_the_timeline_json(make_bot, database_url, monkeypatch, capsys):
    bot = make_bot(clock=lambda: NOW)
    channel = open_incident(bot)
    bot.text("action rotate the keys <@U0DANA|dana> due 2026-12-01", channel_id=channel)
    monkeypatch.setenv("DATABASE_URL", database_url)
    capsys.readouterr()
    assert cli.main(["timeline", "INC-1", "--json"]) == 0
    timeline = json.loads(capsys.readouterr().out)
    [entry] = [e for e in timeline if e["kind"] == "action"]
    assert entry["key"] is False and entry["author"] == "U0USER1"
    assert entry["text"] == f"Action #{items(bot)[0].id}: rotate the keys (owner @dana, due 2026-12-01)"
    assert entry["time"].startswith("2026-11-23T23:30:00")


def test_due_dates_are_read_in_the_callers_zone(make_bot, standin):
    standin.add_user("U0KIWI", tz="Pacific/Auckland")  # 12:30 on Tuesday 24 Nov there
    bot = make_bot(clock=lambda: NOW)
    channel = open_incident(bot)
    bot.text("action check the dashboards due today", channel_id=channel, user_id="U0KIWI")
    bot.text("action page the vendor due today", channel_id=channel)  # UTC caller: Monday
    assert [i.due for i in items(bot)] == [date(2026, 11, 24), date(2026, 11, 23)]


def test_a_past_due_date_is_accepted_with_a_warning(make_bot):
    bot = make_bot(clock=lambda: NOW)
    channel = open_incident(bot)
    reply = bot.text("action write the postmortem due 2026-11-20", channel_id=channel)
    assert items(bot)[0].due == date(2026, 11, 20)
    assert ":warning: 2026-11-20 is already past" in reply and "3 days overdue" in reply


def test_an_invalid_due_date_is_refused_and_nothing_is_stored(make_bot):
    bot = make_bot(clock=lambda: NOW)
    channel = open_incident(bot)
    for text in ("action fix it due 2026-02-30", "action fix it due next week", "action fix it due in a week"):
        reply = bot.text(text, channel_id=channel)
        assert reply.startswith(":warning: Nothing was stored") and DUE_FORMS in reply, (text, reply)
    assert items(bot) == []
    assert not [i for i in bot.timeline(1) if i.kind == "action"]


def test_action_needs_text(make_bot):
    bot = make_bot(clock=lambda: NOW)
    channel = open_incident(bot)
    assert bot.text("action", channel_id=channel).startswith("Usage: `/incident action &lt;text&gt;")
    assert "Say what needs doing" in bot.text("action <@U0DANA|dana> due friday", channel_id=channel)
    assert items(bot) == []


def test_an_ownerless_action_says_who_is_reminded(make_bot):
    bot = make_bot(clock=lambda: NOW)
    channel = open_incident(bot)
    reply = bot.text("action document the failover", channel_id=channel)
    assert "reminders go to the commander" in reply and "no due date" in reply
    assert items(bot)[0].owner_id is None and items(bot)[0].due is None


def test_action_text_cannot_ping_anyone(make_bot):
    bot = make_bot(clock=lambda: NOW)
    channel = open_incident(bot)
    reply = bot.text("action tell <!channel> about <https://evil.example|the fix> due tomorrow", channel_id=channel)
    assert not LIVE_TOKEN.search(reply)
    assert "@channel" in reply
    listing = bot.command("actions", channel_id=channel)
    assert not LIVE_TOKEN.search(json.dumps(listing))


def test_actions_outside_an_incident_channel(bot):
    assert bot.text("action fix it", channel_id="C0NOWHERE") == NO_INCIDENT
    assert bot.text("actions", channel_id="C0NOWHERE") == NO_INCIDENT


def test_actions_lists_items_with_done_and_drop_under_each_open_item(make_bot):
    bot = make_bot(clock=lambda: NOW)
    channel = open_incident(bot)
    bot.text("action first <@U0DANA|dana> due 2026-11-20", channel_id=channel)
    bot.text("action second", channel_id=channel)
    with bot.db.write() as session:
        second = action_items.action_items(session, 1)[1]
        second.status, second.closed_by = "done", "U0DANA"
        session.add(second)
    reply = bot.command("actions", channel_id=channel)
    assert reply["response_type"] == "ephemeral"
    assert reply["text"] == "INC-1 has 2 action items (1 open)."
    sections = [b for b in reply["blocks"] if b.get("block_id", "").startswith("action_item:")]
    assert len(sections) == 2
    first, done = sections
    assert "*#1* first" in first["text"]["text"] and "3 days overdue" in first["text"]["text"]
    buttons = {b.get("block_id"): b for b in reply["blocks"]}["action_item_buttons:1"]["elements"]
    assert [(b["action_id"], b["value"], b["text"]["text"]) for b in buttons] == [
        ("action_done", "1", "Done"), ("action_drop", "1", "Drop")]
    assert buttons[1]["confirm"]["style"] == "danger"
    assert "action_item_buttons:2" not in json.dumps(reply["blocks"])  # a closed item has none
    assert "done by <@U0DANA>" in done["text"]["text"]


def test_actions_with_none_says_how_to_add_one(make_bot):
    bot = make_bot(clock=lambda: NOW)
    channel = open_incident(bot)
    assert "has no action items yet" in bot.text("actions", channel_id=channel)


def test_a_long_list_stays_within_block_kit_limits(make_bot):
    bot = make_bot(clock=lambda: NOW)
    channel = open_incident(bot)
    with bot.db.write() as session:
        for n in range(60):
            action_items.add_action_item(session, ActionItem(
                incident_id=1, text=f"item {n}", status="open", created_at=NOW))
    reply = bot.command("actions", channel_id=channel)
    assert len(reply["blocks"]) <= 50
    assert "and 36 more" in reply["blocks"][-1]["elements"][0]["text"]  # 24 open items, 2 blocks each


def test_usage_placeholders_in_blocks_are_text_not_links(make_bot):
    """`<text>` in mrkdwn is a link token to Slack: the empty list's hint must show it escaped."""
    bot = make_bot(clock=lambda: NOW)
    channel = open_incident(bot)
    reply = bot.command("actions", channel_id=channel)
    hint = reply["blocks"][0]["text"]["text"]
    assert "&lt;text&gt;" in hint and "<text>" not in hint
