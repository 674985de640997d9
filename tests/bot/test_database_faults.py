"""The database goes away and comes back: users are told, Slack redelivers, nothing is lost
(docs/operating.md, "When things fail").

PostgreSQL is cut with a TCP proxy in front of it (the server itself is untouched); SQLite is locked
by another connection holding a write transaction.
"""

from __future__ import annotations

import sqlite3
import time
from urllib.parse import urlsplit, urlunsplit

import pytest

from bot.commands.common import NOT_SAVED
from tests.bot.commands.test_incident import open_incident
from tests.support import slack_requests as sr
from tests.support.tcp_proxy import TcpProxy


@pytest.fixture
def proxied(database_url):
    """A PostgreSQL URL that goes through a proxy the test can cut."""
    if not database_url.startswith("postgres"):
        pytest.skip("the proxy stands in front of PostgreSQL")
    parts = urlsplit(database_url)
    proxy = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432).start()
    netloc = f"{parts.username}@127.0.0.1:{proxy.port}" if parts.username else f"127.0.0.1:{proxy.port}"
    yield proxy, urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    proxy.stop()


def stored_texts(bot, number=1, kind="message") -> list[str]:
    return [i.text for i in bot.timeline(number) if i.kind == kind]


def test_postgres_cut_and_restored(make_bot, standin, proxied, db):
    proxy, url = proxied
    bot = make_bot(database_url=url)
    channel = open_incident(bot)
    assert "Logged" in bot.text("log before the outage", channel_id=channel)

    proxy.cut()
    assert bot.text("log during the outage", channel_id=channel) == NOT_SAVED
    during = sr.message("said during the outage", channel=channel)
    assert bot.event(during).status >= 500, "Slack must redeliver it"
    unredelivered = sr.message("said during the outage, never redelivered", channel=channel)
    assert bot.event(unredelivered).status >= 500
    standin.history[channel] = [{"type": "message", **{k: unredelivered[k] for k in ("user", "text", "ts")}}]

    proxy.restore()
    assert bot.event(during, retry_num=1).status == 200  # the redelivery, and the pool reconnects by itself
    assert bot.event(during, retry_num=2).status == 200
    assert "Logged" in bot.text("log after the outage", channel_id=channel)
    bot.drain()  # the catch-up from channel history, queued when the database answered again
    assert sorted(stored_texts(bot)) == ["said during the outage", "said during the outage, never redelivered"]
    assert stored_texts(bot, kind="log") == ["before the outage", "after the outage"]
    assert standin.calls_to("conversations.history")


def test_a_hung_postgres_is_answered_not_waited_for(make_bot, proxied):
    proxy, url = proxied
    bot = make_bot(database_url=url)
    channel = open_incident(bot)
    proxy.hang()
    started = time.monotonic()
    reply = bot.text("log while the database hangs", channel_id=channel)
    elapsed = time.monotonic() - started
    print(f"answered in {elapsed:.2f} s while the database hung")
    assert reply == NOT_SAVED
    assert bot.event(sr.message("hung", channel=channel)).status >= 500
    proxy.restore()
    assert "Logged" in bot.text("log after", channel_id=channel)


@pytest.fixture
def sqlite_file(database_url):
    if not database_url.startswith("sqlite"):
        pytest.skip("locking the file is SQLite's outage")
    return database_url.removeprefix("sqlite:///")


def test_sqlite_locked_then_released(make_bot, standin, sqlite_file):
    bot = make_bot()
    channel = open_incident(bot)
    message = sr.message("said while the file was locked", channel=channel)
    blocker = sqlite3.connect(sqlite_file, isolation_level=None)
    try:
        blocker.execute("BEGIN EXCLUSIVE")
        assert bot.text("log while locked", channel_id=channel) == NOT_SAVED
        assert bot.event(message).status >= 500
        assert bot.event(sr.reaction("pushpin", message)).status >= 500
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert bot.event(message, retry_num=1).status == 200
    assert bot.event(message, retry_num=2).status == 200
    assert stored_texts(bot) == ["said while the file was locked"]
    assert stored_texts(bot, kind="log") == []  # the refused command left nothing half-written
    assert "Logged" in bot.text("log after", channel_id=channel)


def test_a_restart_catches_up_on_open_incidents(make_bot, standin):
    """What was said while no process served (a deploy, a crash) is fetched from history at start."""
    bot = make_bot()
    channel = open_incident(bot)
    missed = sr.message("said while the bot was down", channel=channel)
    standin.history[channel] = [{"type": "message", **{k: missed[k] for k in ("user", "text", "ts")}}]
    bot.close()
    again = make_bot()
    again.runtime.start_background()
    standin.wait_for("conversations.history")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not stored_texts(again):
        time.sleep(0.05)
    assert stored_texts(again) == ["said while the bot was down"]


def test_a_long_downtime_is_caught_up_from_the_newest_stored_message(make_bot, standin):
    """Down for hours, longer than BACKFILL_MINUTES: the start reads history from the last thing stored,
    and replies in threads that were already going are fetched even though their parent is older."""
    now = time.time()
    bot = make_bot(backfill_minutes=5)
    channel = open_incident(bot)
    parent = sr.message("is it the cache?", channel=channel, ts=f"{int(now) - 4 * 3600}.000100")
    bot.event(parent)
    reply = sr.message("first answer", channel=channel, ts=f"{int(now) - 4 * 3600 + 60}.000100",
                       thread_ts=parent["ts"])
    bot.event(reply)
    bot.close()
    missed = {"type": "message", "user": "U0BOB", "text": "said three hours later", "ts": f"{int(now) - 3 * 3600}.000100"}
    late_reply = {"type": "message", "user": "U0BOB", "text": "a late reply in the old thread",
                  "ts": f"{int(now) - 2 * 3600}.000100", "thread_ts": parent["ts"]}
    standin.history[channel] = [missed]
    standin.replies[(channel, parent["ts"])] = [late_reply]
    again = make_bot(backfill_minutes=5)
    again.runtime.start_background()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and len(stored_texts(again)) < 4:
        time.sleep(0.05)
    again.runtime.stop_background()
    assert sorted(stored_texts(again)) == sorted(["is it the cache?", "first answer", "said three hours later",
                                                  "a late reply in the old thread"])
