"""Slack's delivery rules at the door: malformed requests are refused cleanly, and `app_rate_limited`
(events dropped past 30,000 an hour) is answered 200 and read back from channel history."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.bot.commands.test_incident import open_incident
from tests.support import slack_requests as sr

PAYLOADS = Path(__file__).resolve().parents[1] / "fixtures" / "payloads"
LIMITED_MINUTE = datetime(2026, 11, 22, 12, 7, tzinfo=UTC)


def rate_limited_request(minute: datetime = LIMITED_MINUTE) -> tuple[str, dict]:
    notice = json.loads(PAYLOADS.joinpath("app_rate_limited.json").read_text())  # Slack's shape, our minute
    notice["minute_rate_limited"] = int(minute.timestamp())
    body = json.dumps(notice)
    return body, sr.signed_headers(body, content_type="application/json")


def history_message(text: str, at: datetime, user: str = "U0USER2") -> dict:
    return {"type": "message", "user": user, "text": text, "ts": f"{at.timestamp():.6f}"}


def test_a_non_numeric_timestamp_is_refused_without_a_traceback(bot, caplog):
    body, headers = sr.slash_command("log 12:00 UTC looks fine")
    headers["x-slack-request-timestamp"] = "yesterday"
    with caplog.at_level(logging.INFO):
        response = bot.post(body, headers)
    assert response.status == 401
    assert not any(r.exc_info for r in caplog.records), "no traceback in the log"
    assert bot.standin.calls_to("conversations.create") == []


def test_app_rate_limited_is_answered_and_the_dropped_minute_read_back(make_bot, standin, caplog):
    clock = {"now": LIMITED_MINUTE - timedelta(minutes=30)}
    bot = make_bot(clock=lambda: clock["now"])
    channel = open_incident(bot)
    standin.history[channel] = [history_message("dropped while rate limited", LIMITED_MINUTE + timedelta(seconds=40))]

    clock["now"] = LIMITED_MINUTE + timedelta(seconds=5)
    body, headers = rate_limited_request()
    with caplog.at_level(logging.WARNING):
        response = bot.post(body, headers)
        assert bot.post(body, headers).status == 200  # the same notice again queues nothing more
    assert response.status == 200
    warning = next(r for r in caplog.records if "30,000" in r.getMessage())
    assert warning.levelno == logging.WARNING and "dropping events" in warning.getMessage()
    assert "T0001" in warning.getMessage() and "12:07" in warning.getMessage()

    bot.drain()  # the minute is not over: what Slack drops later in it must be read too
    assert standin.calls_to("conversations.history") == []
    clock["now"] = LIMITED_MINUTE + timedelta(minutes=2)
    bot.drain()
    assert len(standin.calls_to("conversations.history")) == 1
    assert [i.text for i in bot.timeline(1) if i.kind == "message"] == ["dropped while rate limited"]


def test_app_rate_limited_while_the_database_is_down_is_read_back_once_it_answers(make_bot, standin):
    clock = {"now": LIMITED_MINUTE - timedelta(minutes=30)}
    bot = make_bot(clock=lambda: clock["now"])
    channel = open_incident(bot)
    standin.history[channel] = [history_message("dropped during both", LIMITED_MINUTE + timedelta(seconds=10))]
    clock["now"] = LIMITED_MINUTE + timedelta(minutes=5)

    from storage.db import DatabaseUnavailable

    real_write = bot.db.write

    def failing_write():
        raise DatabaseUnavailable("database is down")

    bot.db.write = failing_write
    try:
        body, headers = rate_limited_request()
        assert bot.post(body, headers).status == 200  # a non-2xx would only add a failed delivery
    finally:
        bot.db.write = real_write
    assert bot.services.outage.active
    assert "Logged" in bot.text("log the database is back", channel_id=channel)  # the first success
    bot.drain()
    assert "dropped during both" in [i.text for i in bot.timeline(1) if i.kind == "message"]
