"""Benchmark: render and export the postmortem of an incident with 10,000 timeline entries.

    python bench/draft_render.py [--entries 10000] [--database sqlite|postgres] [--template default]

Fills a fresh database with one incident (milestones, log entries, channel messages of which one in
ten is a 📌 key event, answers and action items), then measures, in this process:
  render   reading the incident and rendering the draft (what `/postmortem draft` does before storing)
  export   `incident-bot postmortem export` as a subprocess, wall time including Python start-up
and the peak memory of each (tracemalloc for render, the child's max RSS for export).
Targets: under 1 s, peak memory under 200 MB.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from fresh_db import fresh_postgres

from bot.config import Settings
from storage.db import Database
from storage.models import ActionItem, Entry, Incident, KeyMark, Milestone, PromptAnswer


def database_url(kind: str, workdir: str) -> str:
    if kind == "sqlite":
        return f"sqlite:///{workdir}/bench.db"
    return fresh_postgres("draft")[0]


def fill(db: Database, entries: int) -> None:
    t0 = datetime(2026, 11, 20, 22, 0, tzinfo=UTC)
    with db.write() as session:
        session.add(Incident(id=1, title="Checkout errors | under load", severity="sev1", status="resolved",
                             channel_id="C0BENCH", channel_name="inc-bench", commander_id="U0000",
                             created_by="U0000", created_at=t0, workspace_url="https://acme.slack.com/",
                             summary="Checkout failed for some users", impact="8% of orders"))
        session.flush()
        for i, name in enumerate(("started", "detected", "acknowledged", "mitigated", "resolved")):
            session.add(Milestone(incident_id=1, name=name, at=t0 + timedelta(hours=6 * i), author_id="U0000",
                                  recorded_at=t0))
        rows, marks = [], []
        for i in range(entries):
            at = t0 + timedelta(seconds=i * 8)
            if i % 3 == 0:
                rows.append({"incident_id": 1, "kind": "log", "at": at, "author_id": f"U{i % 40:04d}", "key": True,
                                 "text": f"log line {i}: restarted pod api-{i % 17} &lt;ok&gt; | step {i}",
                                 "recorded_at": at})
            else:
                ts = f"{int(at.timestamp())}.{i:06d}"
                rows.append({"incident_id": 1, "kind": "message", "at": at, "author_id": f"U{i % 40:04d}", "key": False,
                                 "text": f"message {i} from <@U{i % 40:04d}> about *the* cache", "channel_id": "C0BENCH",
                                 "ts": ts, "recorded_at": at})
                if i % 10 == 1:
                    marks.append({"channel_id": "C0BENCH", "ts": ts, "user_id": "U0001", "emoji": "pushpin", "present": True,
                                      "event_ts": ts})
        session.execute(Entry.__table__.insert(), rows)
        if marks:
            session.execute(KeyMark.__table__.insert(), marks)
        for u in range(40):
            session.add(PromptAnswer(incident_id=1, user_id=f"U{u:04d}", topic="went_wrong",
                                     text=f"answer {u}", answered_at=t0))
            session.add(ActionItem(incident_id=1, text=f"action {u}", owner_id=f"U{u:04d}", status="open",
                                   created_by="U0000", created_at=t0))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--template", default="default")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    workdir = tempfile.mkdtemp(prefix="draft-bench-")
    url = database_url(args.database, workdir)
    db = Database(url)
    db.upgrade()
    fill(db, args.entries)
    settings = Settings(_env_file=None, database_url=url)

    from bot import postmortem

    def draft() -> str:
        with db.read() as session:
            return postmortem.export(session, session.get(Incident, 1), settings, args.template, datetime.now(UTC))

    timings = []
    for _ in range(args.repeat):  # timed without tracing: tracemalloc slows Python down severalfold
        started = time.perf_counter()
        markdown = draft()
        timings.append(time.perf_counter() - started)
    size = len(markdown)
    tracemalloc.start()
    draft()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    db.dispose()

    out = Path(workdir) / "pm.md"
    env = {"PATH": os.environ["PATH"], "HOME": workdir, "DATABASE_URL": url, "PYTHONPATH": str(REPO)}
    export_times = []
    for _ in range(3):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "bot.cli", "postmortem", "export", "1", "--template", args.template,
                        "--output", str(out)], env=env, cwd=workdir, check=True, capture_output=True)
        export_times.append(time.perf_counter() - started)
    child_rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024

    print(f"database: {args.database}, entries: {args.entries}, template: {args.template}, "
          f"draft: {size:,} characters")
    print(f"render (read + render, in process): first {timings[0] * 1000:.0f} ms (compiles the template), "
          f"median {sorted(timings)[len(timings) // 2] * 1000:.0f} ms, peak traced memory {peak / 2**20:.1f} MB")
    print(f"export (incident-bot postmortem export, whole process): best {min(export_times) * 1000:.0f} ms, "
          f"peak RSS {child_rss_mb:.0f} MB")
    print("targets: under 1000 ms, under 200 MB")


if __name__ == "__main__":
    main()
