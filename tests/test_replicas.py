"""Two `incident-bot run` processes on one PostgreSQL database, as several replicas run (docs/operating.md).

Slack spreads events across connections at random and may redeliver an event to another replica:
no entry is lost or doubled, the header ends showing the last change, reminders go out once, and
the Home tab follows a change made through the other replica.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest

from storage.db import Database
from storage.models import Incident
from tests.bot.test_server import cli, start_incident
from tests.support import rows
from tests.support import slack_requests as sr
from tests.support.process import BotProcess

pytestmark = [pytest.mark.slow]


def header_texts(standin, channel: str) -> list[str]:
    return [c["text"] for c in standin.calls if c.method in ("chat.update", "chat.postMessage")
            and c.get("channel") == channel and str(c.get("text", "")).startswith("INC-")]


def reminder_dms(standin) -> list:
    return [c for c in standin.calls_to("chat.postMessage") if str(c["channel"]).startswith("D")
            and "overdue" in json.dumps(c.params).lower()]


def wait_until(condition, timeout: float) -> bool:
    """Poll `condition` until it holds (True) or `timeout` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def header_jobs_left(database_url: str) -> int:
    db = Database(database_url)
    try:
        with db.read() as session:
            return len(rows.pending_jobs(session, "sync_header"))
    finally:
        db.dispose()


def test_two_replicas_lose_nothing_double_nothing_and_remind_once(database_url, standin):
    if not database_url.startswith("postgres"):
        pytest.skip("replicas share a PostgreSQL database")
    env = {"SLACK_API_URL": standin.api_url, "DATABASE_URL": database_url}
    first = BotProcess(env).start()
    try:
        channel = start_incident(first, standin, "Search is down sev3")
        body, headers = sr.slash_command("action Reindex nightly <@U0OWNER|owner> due 2020-01-02", channel_id=channel)
        status, reply = first.post(body, headers)
        assert status == 200 and "Action #1" in json.loads(reply)["text"]
    finally:
        first.terminate()
        first.close()

    replicas = [BotProcess({**env, "REMINDERS_ENABLED": "true"}).start() for _ in range(2)]
    try:
        sent = 0
        for i in range(30):
            a, b = replicas[i % 2], replicas[(i + 1) % 2]
            body, headers = sr.slash_command(f"log step {i}", channel_id=channel, user_id=f"U0P{i % 5}")
            status, reply = a.post(body, headers)
            assert status == 200 and f"step {i}" in json.loads(reply)["text"]
            event = sr.message(f"chat {i}", channel=channel, user=f"U0P{i % 5}")
            event_id = sr.next_event_id()
            body, headers = sr.event_request(event, event_id=event_id)
            assert a.post(body, headers)[0] == 200
            body, headers = sr.event_request(event, event_id=event_id, retry_num=1)  # redelivered elsewhere
            assert b.post(body, headers)[0] == 200
            sent += 1
        for i, severity in enumerate(("sev2", "sev1", "sev2", "sev1")):
            body, headers = sr.slash_command(f"severity {severity}", channel_id=channel)
            assert replicas[i % 2].post(body, headers)[0] == 200

        # Settled: both replicas have swept (each logs its sweep when it is over) and no header refresh
        # is left in the outbox, so no header update or reminder DM is still on its way.
        settled = wait_until(lambda: all("reminder sweep:" in r.output() for r in replicas)
                             and not header_jobs_left(database_url), timeout=60)
        assert settled, "the replicas did not finish their work:\n" + "\n".join(r.output() for r in replicas)
        assert "SEV1" in header_texts(standin, channel)[-1], "the header ends showing the last change"
        assert len(reminder_dms(standin)) == 1, "both replicas swept at start; the owner got one DM"
    finally:
        for replica in replicas:
            assert replica.terminate() == 0
            replica.close()

    items = json.loads(cli(database_url, "timeline", "1", "--json").stdout)
    logs = sorted(i["text"] for i in items if i["kind"] == "log")
    chats = sorted(i["text"] for i in items if i["kind"] == "message")
    assert logs == sorted(f"step {i}" for i in range(30))
    assert chats == sorted(f"chat {i}" for i in range(sent))


def published_views(standin, user_id: str) -> list[str]:
    return [json.dumps(c["view"]) for c in standin.calls_to("views.publish") if c.get("user_id") == user_id]


def update_reminder_dms(standin) -> list:
    return [c for c in standin.calls_to("chat.postMessage") if str(c["channel"]).startswith("D")
            and "no status update" in str(c.get("text", ""))]


def test_two_replicas_remind_about_an_update_once_and_keep_the_home_tab_current(database_url, standin):
    if not database_url.startswith("postgres"):
        pytest.skip("replicas share a PostgreSQL database")
    env = {"SLACK_API_URL": standin.api_url, "DATABASE_URL": database_url}
    first = BotProcess(env).start()
    try:
        channel = start_incident(first, standin, "Payments failing sev2")
    finally:
        first.terminate()
        first.close()
    db = Database(database_url)
    try:
        with db.write() as session:  # declared two hours ago, and no update since
            incident = session.get(Incident, 1)
            incident.created_at = datetime.now(UTC) - timedelta(hours=2)
            session.add(incident)
    finally:
        db.dispose()

    replicas = [BotProcess({**env, "REMINDERS_ENABLED": "true"}).start() for _ in range(2)]
    try:
        body, headers = sr.event_request(sr.app_home_opened("U0USER1"))
        assert replicas[0].post(body, headers)[0] == 200
        assert wait_until(lambda: published_views(standin, "U0USER1"), timeout=30), "the Home tab was not published"
        assert "SEV2" in published_views(standin, "U0USER1")[-1]
        body, headers = sr.slash_command("severity sev1", channel_id=channel)
        assert replicas[1].post(body, headers)[0] == 200  # the other replica republishes it, throttled
        assert wait_until(lambda: "SEV1" in published_views(standin, "U0USER1")[-1], timeout=40), \
            "the Home tab did not follow the change:\n" + "\n".join(r.output() for r in replicas)

        settled = wait_until(lambda: all("reminder sweep:" in r.output() for r in replicas)
                             and update_reminder_dms(standin) and not update_jobs_left(database_url), timeout=60)
        assert settled, "the replicas did not finish their work:\n" + "\n".join(r.output() for r in replicas)
        assert len(update_reminder_dms(standin)) == 1, "both replicas swept at start; the commander got one DM"
    finally:
        for replica in replicas:
            assert replica.terminate() == 0
            replica.close()


def update_jobs_left(database_url: str) -> int:
    db = Database(database_url)
    try:
        with db.read() as session:
            return len(rows.pending_jobs(session, "update_reminder"))
    finally:
        db.dispose()
