"""The first hour of an incident, as people actually type it: no `started` milestone, and clock
times typed without a date (signed slash commands into the real app)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from tests.bot.commands.test_incident import open_incident
from tests.bot.commands.test_postmortem import settle


class Clock:
    def __init__(self, at: datetime):
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def berlin_bot(make_bot, at: datetime):
    """The bot and its clock; the caller (and the incident's display) in Berlin."""
    clock = Clock(at)
    return make_bot(clock=clock, default_timezone="Europe/Berlin"), clock


@pytest.fixture(autouse=True)
def caller_in_berlin(standin):
    standin.add_user("U0USER1", tz="Europe/Berlin")


# --- metrics without `started` ------------------------------------------------------------------


def test_the_readme_flow_measures_from_the_declaration_and_says_so(make_bot, standin):
    bot, clock = berlin_bot(make_bot, datetime(2026, 11, 22, 13, 4, tzinfo=UTC))  # 14:04 in Berlin
    channel = open_incident(bot, "Checkout errors sev2")
    clock.at += timedelta(minutes=1)
    bot.command("log 14:05 rolled back deploy", channel_id=channel)
    clock.at = datetime(2026, 11, 22, 13, 30, tzinfo=UTC)
    bot.command("mitigated", channel_id=channel)
    clock.at = datetime(2026, 11, 22, 14, 6, tzinfo=UTC)
    bot.command("resolved", channel_id=channel)

    status = json.dumps(bot.command("status", channel_id=channel)["blocks"])
    assert "*Time to mitigate*: 26 min (from declaration)" in status
    assert "*Time to resolve*: 1 h 2 min (from declaration)" in status
    assert "*Time to detect*: not recorded" in status

    bot.command("draft", command="/postmortem", channel_id=channel)
    standin.reset()
    settle(bot)
    [summary] = [c.params for c in standin.calls_to("chat.postMessage") if "postmortem draft" in json.dumps(c.params)]
    shown = json.dumps(summary["blocks"])
    assert "*Duration*: 1 h 2 min (from declaration)" in shown
    assert "*Time to resolve*: 1 h 2 min (from declaration)" in shown


# --- a clock time that lands long before the incident --------------------------------------------


def test_a_clock_time_taken_as_yesterday_says_which_day_and_how_to_say_another(make_bot):
    # declared at 06:40 Berlin time; `14:05` typed at 06:47 can only be yesterday's 14:05
    bot, clock = berlin_bot(make_bot, datetime(2026, 12, 2, 5, 40, tzinfo=UTC))
    channel = open_incident(bot)
    clock.at = datetime(2026, 12, 2, 5, 47, tzinfo=UTC)
    reply = bot.text("log 14:05 rolled back deploy", channel_id=channel)
    assert reply == ("Logged for INC-1 at 2026-12-01 14:05 CET (UTC+01:00): rolled back deploy\n"
                     ":calendar: Taken as Tue 2026-12-01 14:05 CET (UTC+01:00), 16 h 35 min before INC-1 began. "
                     "To mean another day, write the date with the time, as in `2026-12-01 14:05`.")
    [entry] = [i for i in bot.timeline(1) if i.kind == "log"]
    assert entry.time == datetime(2026, 12, 1, 13, 5, tzinfo=UTC), "stored as taken"


def test_the_same_time_given_with_its_date_or_within_the_hour_says_nothing_more(make_bot):
    bot, clock = berlin_bot(make_bot, datetime(2026, 12, 2, 5, 40, tzinfo=UTC))
    channel = open_incident(bot)
    clock.at = datetime(2026, 12, 2, 5, 47, tzinfo=UTC)
    assert "Taken as" not in bot.text("log 2026-12-01 14:05 rolled back deploy", channel_id=channel)
    assert "Taken as" not in bot.text("log 05:50 paged the on-call", channel_id=channel)  # 50 min before
    assert "Taken as" in bot.text("log 05:35 first alert", channel_id=channel)  # 65 min before


def test_a_zone_typed_with_the_time_is_kept_in_the_suggestion(make_bot):
    bot, clock = berlin_bot(make_bot, datetime(2026, 12, 2, 5, 40, tzinfo=UTC))
    channel = open_incident(bot)
    reply = bot.text("log 14:05 UTC deploy", channel_id=channel)
    assert "Taken as Tue 2026-12-01 14:05 UTC, 15 h 35 min before INC-1 began" in reply
    assert "`2026-12-01 14:05 UTC`" in reply


@pytest.mark.parametrize("milestone", ["mitigated", "started"])
def test_milestones_say_which_day_a_clock_time_was_taken_as(make_bot, milestone):
    bot, clock = berlin_bot(make_bot, datetime(2026, 12, 2, 5, 40, tzinfo=UTC))
    channel = open_incident(bot)
    reply = bot.text(f"{milestone} 14:05 rolled back", channel_id=channel)
    assert ":calendar: Taken as Tue 2026-12-01 14:05 CET (UTC+01:00), 16 h 35 min before INC-1 began." in reply


def test_a_start_of_impact_the_evening_before_sets_when_the_incident_began(make_bot):
    bot, clock = berlin_bot(make_bot, datetime(2026, 12, 2, 5, 40, tzinfo=UTC))
    channel = open_incident(bot)
    bot.command("started 2026-12-01 13:30", channel_id=channel)  # impact began yesterday afternoon
    assert "Taken as" not in bot.text("log 14:05 first errors", channel_id=channel)
    assert "Taken as" in bot.text("log 11:00 the deploy", channel_id=channel)


def test_across_midnight_a_time_before_midnight_is_not_questioned(make_bot):
    bot, clock = berlin_bot(make_bot, datetime(2026, 12, 1, 23, 5, tzinfo=UTC))  # 00:05 in Berlin
    channel = open_incident(bot)
    clock.at = datetime(2026, 12, 1, 23, 10, tzinfo=UTC)
    reply = bot.text("log 23:40 errors began", channel_id=channel)
    assert "2026-12-01 23:40 CET" in reply and "Taken as" not in reply


def test_across_the_change_to_summer_time_the_day_and_offset_shown_are_the_ones_taken(make_bot):
    # 29 March 2026: Berlin moves from UTC+01:00 to UTC+02:00 at 01:00 UTC
    bot, clock = berlin_bot(make_bot, datetime(2026, 3, 29, 4, 40, tzinfo=UTC))  # 06:40 CEST
    channel = open_incident(bot)
    reply = bot.text("log 14:05 deploy", channel_id=channel)
    assert "Taken as Sat 2026-03-28 14:05 CET (UTC+01:00), 15 h 35 min before INC-1 began" in reply
