"""`incident-bot reminders sweep` as real processes: several at once still DM each item once."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from datetime import UTC, date, datetime

import pytest

from storage import action_items, incidents
from storage.db import Database
from storage.models import ActionItem, Incident, Milestone
from tests.support.process import REPO

pytestmark = pytest.mark.slow

OWNERS = [f"U0OWNER{n}" for n in range(5)]
LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)


def seed(database_url: str) -> list[int]:
    """An open incident with 3 overdue items per owner and 2 ownerless ones (for its commander), and a
    resolved incident without a postmortem (a nudge)."""
    db = Database(database_url)
    ids = []
    try:
        with db.write() as session:
            open_one = incidents.add_incident(session, Incident(title="Checkout errors", created_by="U0CMDR",
                                                              commander_id="U0CMDR", channel_id="C0INC01",
                                                              created_at=LONG_AGO))
            resolved = incidents.add_incident(session, Incident(title="DNS", created_by="U0CMDR2", status="resolved",
                                                              commander_id="U0CMDR2", channel_id="C0INC02",
                                                              created_at=LONG_AGO))
            incidents.put_milestone(session, Milestone(incident_id=resolved.id, name="resolved", at=LONG_AGO,
                                                     recorded_at=LONG_AGO))
            for owner in [*OWNERS, *OWNERS, *OWNERS, None, None]:
                item = action_items.add_action_item(session, ActionItem(
                    incident_id=open_one.id, text=f"item for {owner}", owner_id=owner, due=date(2020, 1, 2),
                    created_at=LONG_AGO))
                ids.append(item.id)
    finally:
        db.dispose()
    return ids


def sweep_process(database_url: str, api_url: str) -> subprocess.Popen:
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), "PYTHONPATH": str(REPO),
           "DATABASE_URL": database_url, "SLACK_API_URL": api_url, "SLACK_BOT_TOKEN": "xoxb-test-token-0000",
           "REMINDERS_ENABLED": "false", "LOG_LEVEL": "WARNING"}
    return subprocess.Popen([sys.executable, "-m", "bot.cli", "reminders", "sweep"], env=env, cwd="/tmp",
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_three_concurrent_sweeps_send_one_dm_per_person_and_remind_each_item_once(database_url, standin):
    ids = seed(database_url)
    # slow DMs down a little, so the three sweeps are all busy at the same time
    standin.fail("conversations.open", delay=0.05, times=None)
    processes = [sweep_process(database_url, standin.api_url) for _ in range(3)]
    outputs = [p.communicate(timeout=60) for p in processes]
    assert [p.returncode for p in processes] == [0, 0, 0], outputs

    dms = [c for c in standin.calls_to("chat.postMessage") if str(c["channel"]).startswith("D")]
    reminders = [c for c in dms if "overdue action" in c["text"]]
    nudges = [c for c in dms if "no postmortem yet" in c["text"]]
    per_person = Counter(c["channel"] for c in reminders)
    assert per_person == Counter({f"D{o}"[:11]: 1 for o in [*OWNERS, "U0CMDR"]})
    reminded = [int(b["block_id"].split(":")[1]) for c in reminders for b in c["blocks"]
                if str(b.get("block_id", "")).startswith("reminder_item:")]
    assert sorted(reminded) == sorted(ids)  # every item, each exactly once
    assert [c["channel"] for c in nudges] == ["DU0CMDR2"]

    printed = [out for out, _ in outputs]
    assert all(line.startswith("Sent ") for line in printed), printed
    assert sum(int(out.split()[1]) for out in printed) == len(reminders)

    db = Database(database_url)
    try:
        with db.read() as session:
            items = [session.get(ActionItem, i) for i in ids]
            assert all(i.reminded_at is not None for i in items)
            assert incidents.incident_by_number(session, 2).nudged_at is not None
    finally:
        db.dispose()

    # and a sweep right after finds nothing more to send
    again = sweep_process(database_url, standin.api_url)
    out, err = again.communicate(timeout=60)
    assert again.returncode == 0, err
    assert out.startswith("Sent 0 reminder DMs about 0 overdue action items and 0 postmortem nudges.")


def test_sweep_needs_the_bot_token(database_url):
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), "PYTHONPATH": str(REPO),
           "DATABASE_URL": database_url}
    result = subprocess.run([sys.executable, "-m", "bot.cli", "reminders", "sweep"], env=env, cwd="/tmp",
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2
    assert "SLACK_BOT_TOKEN is missing" in result.stderr


def test_a_failed_dm_makes_the_sweep_exit_nonzero(database_url, standin):
    seed(database_url)
    standin.fail("chat.postMessage", "channel_not_found", times=None)
    process = sweep_process(database_url, standin.api_url)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 1, (out, err)
    assert "failed; the next sweep retries them" in out
