"""Benchmark: why the acknowledgement path keeps hand-written SQL (storage/capture_sql.py).

    python bench/capture_sql.py [--database sqlite|postgres] [--rows 2000] [--rounds 5]

For each write that runs before Slack gets its answer, it times the hand-written statement against
the same write through SQLAlchemy (the Core insert and session every other write uses), one row per
transaction as in production, on a fresh database:
  capture   a channel message: find the channel's incident, check it still captures, insert
  log       an `/incident log` entry
and prints the median time per row over several rounds, and the ratio. What the hand SQL saves is
the statement building and session bookkeeping, not database time, so the ratio is the point.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from fresh_db import drop_postgres, fresh_postgres

from storage import capture_sql, entries, incidents, messages
from storage.db import Database
from storage.models import Entry, Incident

NOW = datetime(2026, 11, 22, 14, 5, tzinfo=UTC)
DAYS = 7


def fresh_database(kind: str, workdir: str) -> tuple[str, callable]:
    if kind == "sqlite":
        return f"sqlite:///{workdir}/bench.db", lambda: None
    url, name = fresh_postgres("capture")
    return url, lambda: drop_postgres(name, force=True)


def per_row(write, rows: int) -> float:
    start = time.perf_counter()
    for i in range(rows):
        write(i)
    return (time.perf_counter() - start) / rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        url, drop = fresh_database(args.database, workdir)
        db = Database(url)
        try:
            db.upgrade()
            with db.write() as session:
                number = incidents.add_incident(session, Incident(title="bench", created_by="U1", created_at=NOW,
                                                                  channel_id="C1")).id
            cutoff = incidents.capture_cutoff(NOW, DAYS)
            counter = iter(range(10**9))

            def hand_capture(i):
                n = next(counter)
                db.hot_write(lambda c: capture_sql.capture_message(c, "C1", f"1.{n:09d}", "U1", "hello", NOW, NOW,
                                                                   cutoff))

            def orm_capture(i):
                n = next(counter)
                with db.write() as session:
                    incident_id = incidents.capturing_incident(session, "C1", NOW, DAYS)
                    messages.capture_message(session, incident_id, messages.Message("C1", f"1.{n:09d}", "U1", "hello"),
                                             NOW, NOW)

            def hand_log(i):
                db.hot_write(lambda c: capture_sql.insert_log(c, number, "U1", "rolled back", NOW, NOW))

            def orm_log(i):
                with db.write() as session:
                    entries.add_entry(session, Entry(incident_id=number, kind="log", at=NOW, author_id="U1",
                                                     text="rolled back", key=True, recorded_at=NOW))

            print(f"database {args.database}, {args.rows} rows a round, {args.rounds} rounds, one row a transaction")
            print(f"{'write':<8} {'hand SQL':>12} {'SQLAlchemy':>12} {'ratio':>7}")
            for name, hand, orm in (("capture", hand_capture, orm_capture), ("log", hand_log, orm_log)):
                per_row(hand, 200), per_row(orm, 200)  # warm-up: connections, statement caches
                hands, orms = [], []
                for _ in range(args.rounds):
                    hands.append(per_row(hand, args.rows))
                    orms.append(per_row(orm, args.rows))
                h, o = statistics.median(hands), statistics.median(orms)
                print(f"{name:<8} {h * 1e6:>9.0f} µs {o * 1e6:>9.0f} µs {o / h:>6.2f}x")
        finally:
            db.dispose()
            drop()


if __name__ == "__main__":
    main()
