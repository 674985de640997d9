"""Benchmark: the insights of 5,000 incidents, as the web page and `incident-bot stats` compute them.

    python bench/insights.py [--incidents 5000] [--database sqlite|postgres] [--repeat 7]

Fills a fresh database with --incidents incidents over two years (severities mixed, a fifth without
`started`, some with milestones out of order, each in its own channel), then measures, in this
process:
  read      storage.stats.incident_times in a session (one statement)
  insights  bot.statistics.insights over those rows (Europe/Berlin months)
  total     both, plus to_csv; and the same with 200 channels excluded (private to the viewer)
and, as a whole process, `incident-bot stats` and `incident-bot stats --csv`.
Prints wall min / median and CPU median of --repeat runs (with the load average: on a busy machine
wall time is mostly waiting). Target: the whole /insights page in 300 ms, so this part
(read + insights) should leave most of that for the page: under 100 ms.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from fresh_db import drop_postgres, fresh_postgres

from bot.statistics import insights, times_from_rows, to_csv
from storage.db import Database
from storage.models import Incident, Milestone
from storage.stats import incident_times

ZONE = ZoneInfo("Europe/Berlin")


def database_url(kind: str, workdir: str) -> tuple[str, str | None]:
    """(url, the PostgreSQL database's name to drop afterwards)."""
    if kind == "sqlite":
        return f"sqlite:///{workdir}/insights.db", None
    return fresh_postgres("insights")


def fill(db: Database, count: int, seed: int = 12) -> None:
    rng = random.Random(seed)
    first = datetime(2025, 1, 1, tzinfo=UTC)
    incidents, milestones = [], []
    for number in range(1, count + 1):
        declared = first + timedelta(seconds=rng.randrange(2 * 365 * 86400))
        incidents.append({
            "id": number, "title": f"incident {number}",
            "severity": rng.choice(["sev1", "sev2", "sev3", "sev4", None]),
            "status": "resolved", "channel_id": f"C{number:07d}", "channel_name": f"inc-{number}",
            "created_by": "U0000", "created_at": declared,
        })
        started = declared - timedelta(minutes=rng.randrange(1, 90))
        times = {
            "started": started if rng.random() > 0.2 else None,
            "detected": declared,
            "acknowledged": declared + timedelta(minutes=rng.randrange(0, 30)),
            "mitigated": declared + timedelta(minutes=rng.randrange(5, 600)),
            "resolved": declared + timedelta(minutes=rng.randrange(600, 5000)),
        }
        if rng.random() < 0.03:  # typed wrong: mitigated before started
            times["mitigated"] = started - timedelta(minutes=5)
        for name, at in times.items():
            if at is not None:
                milestones.append({"incident_id": number, "name": name, "at": at, "recorded_at": at,
                                   "is_default": name == "detected"})
    with db.write() as session:
        session.execute(Incident.__table__.insert(), incidents)
        session.execute(Milestone.__table__.insert(), milestones)


def timed(fn, repeat: int) -> tuple[float, float, float, object]:
    """(min wall ms, median wall ms, median CPU ms of this process, the result). On a busy machine wall
    time is mostly waiting for a core; CPU time is the work (the database server's is not in it)."""
    runs, cpus, result = [], [], None
    for _ in range(repeat):
        started, cpu = time.perf_counter(), time.process_time()
        result = fn()
        runs.append((time.perf_counter() - started) * 1000)
        cpus.append((time.process_time() - cpu) * 1000)
    return min(runs), statistics.median(runs), statistics.median(cpus), result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--incidents", type=int, default=5000)
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()

    workdir = tempfile.mkdtemp(prefix="insights-bench-")
    url, pg_name = database_url(args.database, workdir)
    db = Database(url)
    try:
        db.upgrade()
        fill(db, args.incidents)
        private = [f"C{n:07d}" for n in range(1, args.incidents + 1, max(1, args.incidents // 200))]

        def read(exclude=()):
            with db.read() as session:
                return incident_times(session, exclude_channels=exclude)

        def whole(exclude=()):
            rows = insights(times_from_rows(read(exclude)), ZONE)
            to_csv(rows)
            return rows

        read()  # warm the pool and the statement cache
        figures = {}
        figures["read     incident_times (one statement)"] = timed(read, args.repeat)
        rows = figures["read     incident_times (one statement)"][3]
        figures["insights per month and severity"] = timed(lambda: insights(times_from_rows(rows), ZONE),
                                                          args.repeat)
        out = figures["insights per month and severity"][3]
        figures["total    read + insights + to_csv"] = timed(whole, args.repeat)
        figures[f"total    {len(private)} private channels excluded"] = timed(lambda: whole(private),
                                                                             args.repeat)
        env = {"PATH": os.environ["PATH"], "HOME": workdir, "DATABASE_URL": url, "PYTHONPATH": str(REPO),
               "DEFAULT_TIMEZONE": "Europe/Berlin"}
        processes = {}
        for extra in ([], ["--csv"]):
            runs = []
            for _ in range(3):
                started = time.perf_counter()
                subprocess.run([sys.executable, "-m", "bot.cli", "stats", *extra], env=env, cwd=workdir,
                               check=True, capture_output=True)
                runs.append((time.perf_counter() - started) * 1000)
            processes[" ".join(["stats", *extra])] = min(runs)
    finally:
        db.dispose()
        if pg_name:
            drop_postgres(pg_name)

    print(f"database: {args.database}, incidents: {len(rows):,}, insight rows: {len(out)}, "
          f"runs: {args.repeat}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"{'':<44} {'wall min':>9} {'median':>8} {'cpu median':>11}  (ms)")
    for name, (w_min, w_med, c_med, _) in figures.items():
        print(f"{name:<44} {w_min:9.1f} {w_med:8.1f} {c_med:11.1f}")
    for command, best in processes.items():
        print(f"incident-bot {command:<31} (whole process) {best:9.1f} best of 3")
    print("target: the whole /insights page in 300 ms; read + insights under 100 ms leaves the page 200 ms")


if __name__ == "__main__":
    main()
