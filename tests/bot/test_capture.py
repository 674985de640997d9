"""Channel capture through Events API envelopes (docs/capture.md)."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot import capture
from tests.bot.commands.test_incident import open_incident
from tests.support import slack_requests as sr

PAYLOADS = Path(__file__).parent.parent / "fixtures" / "payloads"


def payload_event(name: str, channel: str) -> dict:
    """The event of one of Slack's example payloads, moved to our incident channel."""
    event = copy.deepcopy(json.loads((PAYLOADS / f"{name}.json").read_text())["event"])
    event["channel"] = channel
    if "item" in event:
        event["item"]["channel"] = channel
    return event


def messages(bot, number=1):
    return [i for i in bot.timeline(number) if i.kind == "message"]


@pytest.fixture
def channel(bot):
    return open_incident(bot)


def test_a_message_is_stored_with_slacks_time_and_author(bot, channel):
    event = payload_event("message", channel)
    assert bot.event(event).status == 200
    [item] = messages(bot)
    assert item.text == "db-primary is down" and item.author == "U0USER1"
    assert item.time == datetime(2023, 11, 14, 22, 13, 20, 100, tzinfo=UTC)
    assert not item.key


def test_redeliveries_and_repeats_never_duplicate(bot, channel):
    event = sr.message("one entry only", channel=channel)
    body, headers = sr.event_request(event, event_id="Ev0SAME")
    assert bot.post(body, headers).status == 200
    for retry in (1, 2, 3):
        body, headers = sr.event_request(event, event_id="Ev0SAME", retry_num=retry)
        assert bot.post(body, headers).status == 200
    assert bot.event(event).status == 200  # same message, another event_id
    assert [i.text for i in messages(bot)] == ["one entry only"]


def test_thread_replies_broadcasts_and_file_shares(bot, channel):
    for name in ("message", "message_thread_reply", "message_thread_broadcast", "message_file_share"):
        assert bot.event(payload_event(name, channel)).status == 200
    items = {i.text: i for i in messages(bot)}
    assert items["restarting replica"].thread_ts == "1700000000.000100"
    assert "Mitigated: failover complete" in items
    share = items["grafana screenshot"]
    assert share.files == ({"name": "latency.png",
                            "permalink": "https://acme.slack.com/files/U0USER1/F0FILE01/latency.png"},)


@pytest.mark.parametrize("name", ["message_bot_message_classic", "message_from_modern_bot_no_subtype",
                                  "message_channel_join"])
def test_bots_and_joins_are_acknowledged_not_captured(bot, channel, name):
    assert bot.event(payload_event(name, channel)).status == 200
    assert messages(bot) == []


def test_messages_outside_incident_channels_are_ignored(bot, channel):
    assert bot.event(sr.message("lunch?", channel="C0RANDOM")).status == 200
    assert messages(bot) == []


def test_unsubscribed_event_types_are_acknowledged(bot):
    assert bot.event({"type": "app_home_opened", "user": "U1", "channel": "D1", "event_ts": "1.2"}).status == 200


def test_edits_replace_the_text_and_are_marked(bot, channel):
    original = payload_event("message", channel)
    bot.event(original)
    edit = payload_event("message_changed", channel)
    assert bot.event(edit).status == 200
    [item] = messages(bot)
    assert item.text == "db-primary is DOWN (sev1)" and item.edited


def test_an_older_edit_than_stored_is_ignored(bot, channel):
    original = sr.message("v0", channel=channel)
    bot.event(original)
    bot.event(sr.message_changed(original, "v2", edited_ts="1800000002.000000"))
    bot.event(sr.message_changed(original, "v1", edited_ts="1800000001.000000"))
    assert [i.text for i in messages(bot)] == ["v2"]


def test_an_edit_arriving_before_its_message_is_kept(bot, channel):
    original = sr.message("first draft", channel=channel)
    bot.event(sr.message_changed(original, "final words"))
    bot.event(original)  # late
    [item] = messages(bot)
    assert item.text == "final words" and item.edited


def test_an_unfurl_changes_nothing(bot, channel):
    original = sr.message("see https://example.com", channel=channel)
    bot.event(original)
    bot.event(sr.message_changed(original, "see https://example.com (unfurled)", unfurl=True))
    [item] = messages(bot)
    assert item.text == "see https://example.com" and not item.edited


def test_deletion_leaves_a_tombstone_that_a_late_redelivery_cannot_revive(bot, channel):
    original = payload_event("message_thread_reply", channel)
    bot.event(original)
    assert bot.event(payload_event("message_deleted", channel)).status == 200
    [item] = messages(bot)
    assert item.deleted and item.text == ""
    bot.event(original, retry_num=1)
    bot.event(sr.message_changed(original, "edited after delete"))
    [item] = messages(bot)
    assert item.deleted and item.text == ""


def test_a_deletion_arriving_first_still_wins(bot, channel):
    original = sr.message("oops, wrong channel", channel=channel)
    bot.event(sr.message_deleted(original))
    bot.event(original)
    [item] = messages(bot)
    assert item.deleted


def test_a_thread_parent_deleted_with_replies_becomes_a_tombstone(bot, channel):
    parent = sr.message("parent", channel=channel)
    bot.event(parent)
    tombstone = sr.message_changed(parent, "This message was deleted.")
    tombstone["message"]["subtype"] = "tombstone"
    bot.event(tombstone)
    [item] = messages(bot)
    assert item.deleted


def test_pushpin_marks_a_key_event_and_removing_the_last_one_unmarks_it(bot, channel):
    message = payload_event("message", channel)
    bot.event(message)
    bot.event(sr.reaction("pushpin", message, user="U0USER2", event_ts="1800000001.000000"))
    bot.event(sr.reaction("pushpin", message, user="U0USER3", event_ts="1800000002.000000"))
    assert messages(bot)[0].key
    bot.event(sr.reaction("pushpin", message, user="U0USER2", removed=True, event_ts="1800000003.000000"))
    assert messages(bot)[0].key  # U0USER3's pin remains
    bot.event(sr.reaction("pushpin", message, user="U0USER3", removed=True, event_ts="1800000004.000000"))
    assert not messages(bot)[0].key


def test_other_reactions_do_nothing(bot, channel):
    message = payload_event("message", channel)
    bot.event(message)
    bot.event(payload_event("reaction_added", channel))  # rotating_light
    assert not messages(bot)[0].key


def test_an_older_reaction_event_than_stored_is_ignored(bot, channel):
    message = sr.message("key moment", channel=channel)
    bot.event(message)
    bot.event(sr.reaction("pushpin", message, removed=True, event_ts="1800000005.000000"))
    bot.event(sr.reaction("pushpin", message, event_ts="1800000004.000000"))  # arrives late
    assert not messages(bot)[0].key


def test_a_reaction_before_its_message_arrives_still_counts(bot, channel):
    message = sr.message("late message", channel=channel)
    bot.event(sr.reaction("pushpin", message))
    bot.event(message)
    assert messages(bot)[0].key


def test_configured_key_emoji(make_bot):
    bot = make_bot(key_event_emoji=":star:")
    channel = open_incident(bot)
    message = sr.message("starred", channel=channel)
    bot.event(message)
    bot.event(sr.reaction("pushpin", message, user="U2"))
    assert not messages(bot)[0].key
    bot.event(sr.reaction("star", message, user="U3"))
    assert messages(bot)[0].key


def test_resolved_incidents_capture_for_the_configured_days_only(make_bot):
    clock = {"now": datetime(2026, 11, 22, 12, 0, tzinfo=UTC)}
    bot = make_bot(clock=lambda: clock["now"], capture_after_resolved_days=7)
    channel = open_incident(bot)
    bot.command("resolved", channel_id=channel)
    bot.event(sr.message("after resolution", channel=channel))
    clock["now"] += timedelta(days=8)
    bot.event(sr.message("much later", channel=channel))
    assert [i.text for i in messages(bot)] == ["after resolution"]
    assert "takes no more changes" in bot.text("log too late", channel_id=channel)
    assert "INC-1" in bot.text("status", channel_id=channel)


def test_a_failed_store_answers_500_so_slack_redelivers(bot, channel):
    event = sr.message("arrives during an outage", channel=channel)
    bot.db.inject_fault("INSERT INTO entry")  # the database refuses the message's insert, once
    assert bot.event(event).status == 500
    assert bot.event(event, retry_num=1).status == 200
    assert [i.text for i in messages(bot)] == ["arrives during an outage"]


def _war_room_with_history(standin, messages: int, replies: int) -> list[str]:
    """A channel whose history has `messages` messages, the newest with `replies` thread replies."""
    standin.add_channel("C0WAR", "war-room")
    now = int(datetime.now(UTC).timestamp())
    texts = [f"message {n}" for n in range(messages)]
    history = [{"type": "message", "user": "U0USER2", "text": t, "ts": f"{now - 600 + n}.000100"}
               for n, t in enumerate(texts)]
    parent = history[-1]
    parent["reply_count"] = replies
    thread = [{"type": "message", "user": "U0USER3", "text": f"reply {n}", "ts": f"{now - 100 + n}.000200",
               "thread_ts": parent["ts"]} for n in range(replies)]
    standin.history["C0WAR"] = history
    standin.replies[("C0WAR", parent["ts"])] = [dict(parent), *thread]
    return texts + [r["text"] for r in thread]


def test_a_backfill_reads_every_page_of_history_and_of_threads(make_bot, standin, monkeypatch):
    monkeypatch.setattr(capture, "HISTORY_PAGE", 20)
    expected = _war_room_with_history(standin, messages=45, replies=30)
    bot = make_bot(incident_channel_mode="current", backfill_minutes=60)
    bot.command("start Payments down", channel_id="C0WAR", channel_name="war-room")
    bot.drain()
    assert sorted(i.text for i in messages(bot)) == sorted(expected)
    assert [c.params.get("cursor") for c in standin.calls_to("conversations.history")] == [None, "20", "40"]
    assert [c.params.get("cursor") for c in standin.calls_to("conversations.replies")] == [None, "20"]


def test_a_backfill_stops_after_its_page_limit(make_bot, standin, monkeypatch):
    monkeypatch.setattr(capture, "HISTORY_PAGE", 20)
    monkeypatch.setattr(capture, "MAX_BACKFILL_PAGES", 2)
    _war_room_with_history(standin, messages=45, replies=0)
    bot = make_bot(incident_channel_mode="current", backfill_minutes=60)
    bot.command("start Payments down", channel_id="C0WAR", channel_name="war-room")
    bot.drain()
    assert len(standin.calls_to("conversations.history")) == 2
    assert len(messages(bot)) == 40  # the newest 40: history comes newest first
