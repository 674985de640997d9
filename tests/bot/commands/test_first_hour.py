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
