"""Benchmark: server time of the web view's heaviest pages (docs/web.md).

    python bench/web_pages.py [--incidents 5000] [--entries 10000] [--database sqlite|postgres] [--repeat 7]

Fills a fresh database with --incidents incidents over two years (five milestones each, a tenth in
private channels, two action items each) and gives one of them --entries timeline entries (log lines,
channel messages, one in ten a 📌 key event). A Slack stand-in answers auth.test, the channel list
and the viewer's private channels. A person signs in through the stand-in's OpenID provider; then each
page is requested through the bot's own WSGI app in this process, so the time measured is the
server's alone (no network, no browser):
  incident   /incidents/<n> of the 10,000-entry incident (page 1 of its timeline)   target 150 ms
  list       /incidents over all incidents (newest first, page 1)                  target 150 ms
  search     /incidents?q=… over titles and entry text                            (no target)
  insights   /insights over all incidents                                          target 300 ms
Prints min / median wall time of --repeat runs and the median CPU time of the request's thread
(SQLite runs in that thread; PostgreSQL's own work is in its server), after one warm-up request
(which fills the caches of Slack's answers: the first request of a viewer also asks Slack, and is
printed on its own). On a busy machine the wall time includes waiting for a CPU: see the load.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from fresh_db import fresh_postgres

from bot.config import Settings
from bot.server import Runtime
from bot.slack_wsgi import wsgi_app
from storage.db import Database
from storage.models import ActionItem, Entry, Incident, KeyMark, Milestone, UserProfile
from tests.support import slack_requests as sr
from tests.support.standin import BOT_USER_ID, Channel, SlackStandIn
from tests.support.web import client_for, sign_in, web_settings

VIEWER = "U0VIEWER"
TARGETS = {"incident": 150, "list": 150, "insights": 300}


def database_url(kind: str, workdir: str) -> str:
    if kind == "sqlite":
        return f"sqlite:///{workdir}/bench.db"
    return fresh_postgres("web")[0]


def fill(db: Database, standin: SlackStandIn, incidents: int, entries: int) -> int:
    """Returns the number of the incident with the long timeline."""
    t0 = datetime(2024, 12, 1, tzinfo=UTC)
    step = timedelta(days=730) / incidents
    severities = ("sev1", "sev2", "sev3", "sev4", None)
    with db.write() as session:
        rows, milestones, items = [], [], []
        for n in range(1, incidents + 1):
            at = t0 + step * n
            channel = f"C{n:08d}"
            private = n % 10 == 0
            standin.channels[channel] = Channel(channel, f"inc-{n}", private,
                                                {BOT_USER_ID} | ({VIEWER} if n % 20 == 0 else set()))
            rows.append({"id": n, "title": f"Checkout errors number {n}", "severity": severities[n % 5],
                         "status": "resolved", "channel_id": channel, "channel_name": f"inc-{n}",
                         "commander_id": f"U{n % 40:04d}", "created_by": f"U{n % 40:04d}", "created_at": at,
                         "workspace_url": "https://acme.slack.com/"})
            for i, name in enumerate(("started", "detected", "acknowledged", "mitigated", "resolved")):
                milestones.append({"incident_id": n, "name": name, "at": at + timedelta(minutes=7 * i * (1 + n % 5)),
                                   "author_id": "U0000", "is_default": False, "recorded_at": at})
            for k in range(2):
                items.append({"incident_id": n, "text": f"fix thing {k} of {n}", "owner_id": f"U{(n + k) % 40:04d}",
                              "due": (at + timedelta(days=14)).date(), "status": "open" if n % 3 else "done",
                              "created_by": "U0000", "created_at": at})
        session.execute(Incident.__table__.insert(), rows)
        session.execute(Milestone.__table__.insert(), milestones)
        session.execute(ActionItem.__table__.insert(), items)
        long_one = incidents - 1  # recent, public
        start = rows[long_one - 1]["created_at"]
        channel = rows[long_one - 1]["channel_id"]
        lines, marks = [], []
        for i in range(entries):
            at = start + timedelta(seconds=2 * i)
            if i % 3 == 0:
                lines.append({"incident_id": long_one, "kind": "log", "at": at, "author_id": f"U{i % 40:04d}",
                              "key": True, "text": f"log line {i}: restarted pod api-{i % 17} &lt;ok&gt;",
                              "recorded_at": at})
            else:
                ts = f"{int(at.timestamp())}.{i:06d}"
                lines.append({"incident_id": long_one, "kind": "message", "at": at, "author_id": f"U{i % 40:04d}",
                              "key": False, "text": f"message {i} from <@U{i % 40:04d}> about the cache",
                              "channel_id": channel, "ts": ts, "recorded_at": at})
                if i % 10 == 1:
                    marks.append({"channel_id": channel, "ts": ts, "user_id": "U0001", "emoji": "pushpin",
                                  "present": True, "event_ts": ts})
        from storage import entries as entry_rows

        session.execute(Entry.__table__.insert(), [entry_rows.row(**line) for line in lines])
        session.execute(KeyMark.__table__.insert(), marks)
        # the people, as the bot knows them once it has looked them up (the first views queue that)
        session.execute(UserProfile.__table__.insert(), [
            {"user_id": f"U{u:04d}", "tz": "Europe/Berlin", "name": f"person{u}", "fetched_at": t0}
            for u in range(40)] + [{"user_id": VIEWER, "tz": "Europe/Berlin", "name": "viewer", "fetched_at": t0}])
    if db.engine.dialect.name == "postgresql":
        with db.engine.begin() as conn:
            conn.exec_driver_sql("SELECT setval('incident_id_seq', (SELECT max(id) FROM incident))")
            conn.exec_driver_sql("ANALYZE")
    return long_one


def timed(client, path: str) -> tuple[float, float]:
    """(wall ms, this thread's CPU ms) of one request."""
    started, cpu = time.perf_counter(), time.thread_time()
    response = client.get(path)
    elapsed, used = (time.perf_counter() - started) * 1000, (time.thread_time() - cpu) * 1000
    assert response.status_code == 200, (path, response.status_code)
    response.close()
    return elapsed, used


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=5000)
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    for name in ("SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET", "WEB_BASE_URL", "WEB_AUTH"):
        os.environ.pop(name, None)
    standin = SlackStandIn().start()
    with tempfile.TemporaryDirectory() as workdir:
        url = database_url(args.database, workdir)
        db = Database(url)
        db.upgrade()
        started = time.perf_counter()
        long_one = fill(db, standin, args.incidents, args.entries)
        db.dispose()
        print(f"filled {args.incidents} incidents, {args.entries} entries in INC-{long_one} "
              f"({args.database}) in {time.perf_counter() - started:.1f} s")
        settings = Settings(_env_file=None, slack_bot_token="xoxb-bench-0000", slack_api_url=standin.api_url,
                            slack_signing_secret=sr.SIGNING_SECRET, database_url=url, reminders_enabled=False,
                            **web_settings(standin))
        runtime = Runtime(settings)
        try:
            client = client_for(type("Bot", (), {"app": wsgi_app(runtime.app, runtime.db, web=runtime.web)}))
            sign_in(client, standin, VIEWER)
            pages = {"incident": f"/incidents/{long_one}", "list": "/incidents", "search": "/incidents?q=pod+api-3",
                     "insights": "/insights"}
            first, _ = timed(client, "/incidents")
            print(f"first request of the viewer (asks Slack for the channels): {first:.0f} ms")
            print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (wall time includes waiting for one)")
            print(f"{'page':10} {'min ms':>8} {'median ms':>10} {'cpu ms':>8} {'target':>8}")
            for name, path in pages.items():
                timed(client, path)
                runs = [timed(client, path) for _ in range(args.repeat)]
                wall, cpu = [r[0] for r in runs], [r[1] for r in runs]
                target = TARGETS.get(name)
                verdict = "" if target is None else f"{target:>6} {'ok' if statistics.median(wall) <= target else 'OVER'}"
                print(f"{name:10} {min(wall):8.1f} {statistics.median(wall):10.1f} {statistics.median(cpu):8.1f} "
                      f"{verdict:>8}")
        finally:
            runtime.close()
            standin.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
