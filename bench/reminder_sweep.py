"""Benchmark: one reminder sweep over many action items, few of them overdue.

Seeds a fresh database with `--items` action items (default 100,000): `--overdue` (1,000) open and
past due, spread over `--owners` people (100), the rest either done long ago or due in the future,
as a long-lived workspace looks. Then times one sweep as `incident-bot reminders sweep` runs it:
`bot.reminders.sweep` queues one outbox job per person, and `bot.jobs.reminder_dms.deliver_now` runs
them against the Web API stand-in (every DM is a real HTTP conversations.open + chat.postMessage).
A second sweep must find nothing to send.

    python bench/reminder_sweep.py [--database sqlite|postgres] [--items 100000] [--overdue 1000]
                                   [--owners 100] [--postgres-url postgresql://postgres@127.0.0.1:5432/test]

Target: the first sweep under 2 s on either database.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import sqlalchemy as sa

from bot import reminders
from bot.config import Settings
from bot.jobs import reminder_dms
from bot.services import build_services
from storage.db import Database, normalise_url
from storage.models import ActionItem, Incident
from tests.support.standin import SlackStandIn

CHUNK = 10_000


def seed(db: Database, items: int, overdue: int, owners: int, now: datetime) -> None:
    today = now.date()
    with db.write() as session:
        for n in range(1, 21):
            session.add(Incident(title=f"Incident {n}", created_by="U0CMDR", commander_id="U0CMDR",
                                 channel_id=f"C{n:08d}", created_at=now - timedelta(days=400), status="resolved"))
    rows = []
    for n in range(items):
        owner = f"U{n % owners:08d}"
        if n < overdue:
            status, due = "open", today - timedelta(days=1 + n % 30)
        elif n % 2:
            status, due = "done", today - timedelta(days=1 + n % 365)
        else:
            status, due = "open", today + timedelta(days=1 + n % 90)
        rows.append({"incident_id": 1 + n % 20, "text": f"action item {n}: make it not happen again",
                     "owner_id": owner, "due": due, "status": status, "created_by": "U0CMDR",
                     "created_at": now - timedelta(days=60), "source_key": None, "closed_at": None,
                     "closed_by": None, "snoozed_until": None, "reminded_at": None})
    table = ActionItem.__table__
    for start in range(0, len(rows), CHUNK):
        with db.write() as session:
            session.execute(sa.insert(table), rows[start:start + CHUNK])
    with db.engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")


def sweep(services) -> tuple[reminder_dms.SweepResult, float, float]:
    """One CLI sweep: (what it sent, seconds in all, seconds to select and queue)."""
    started = time.perf_counter()
    reminders.sweep(services)
    queued = time.perf_counter() - started
    result = reminder_dms.deliver_now(services)
    return result, time.perf_counter() - started, queued


def database_url(kind: str, postgres_url: str, workdir: Path) -> tuple[str, object]:
    if kind == "sqlite":
        return f"sqlite:///{workdir}/bench.db", lambda: None
    name = f"incident_bot_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(normalise_url(postgres_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')

    def drop():
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()

    return postgres_url.rsplit("/", 1)[0] + "/" + name, drop


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--overdue", type=int, default=1_000)
    parser.add_argument("--owners", type=int, default=100)
    parser.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    standin = SlackStandIn().start()
    with tempfile.TemporaryDirectory() as workdir:
        url, drop = database_url(args.database, args.postgres_url, Path(workdir))
        db = Database(url)
        try:
            db.upgrade()
            now = datetime.now(UTC)
            started = time.perf_counter()
            seed(db, args.items, args.overdue, args.owners, now)
            seeded = time.perf_counter() - started
            settings = Settings(_env_file=None, slack_bot_token="xoxb-bench-0000", slack_api_url=standin.api_url,
                                database_url=url, reminders_enabled=False)
            services = build_services(settings, db)

            first, first_s, queued_s = sweep(services)
            second, second_s, _ = sweep(services)
        finally:
            db.dispose()
            drop()
            standin.stop()

    calls = len(standin.calls)
    print(f"database        {args.database}")
    print(f"action items    {args.items:,} ({args.overdue:,} overdue, {args.owners} owners); seeded in {seeded:.1f} s")
    print(f"first sweep     {first_s:.3f} s: {first.dms} DMs about {first.items:,} items, {first.failed} failed, "
          f"{calls} Web API calls (queued in {queued_s:.3f} s)")
    print(f"second sweep    {second_s:.3f} s: {second.dms} DMs (nothing left to remind)")
    print(f"target          first sweep under 2 s: {'met' if first_s < 2 else 'MISSED'}")
    ok = first.items == args.overdue and second.dms == 0 and first.failed == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
