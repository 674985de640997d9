"""Benchmark: how long the `incident-bot` command takes, as a whole process, start-up included.

    python bench/cli_start.py [--runs 15] [--entries 10000] [--database sqlite|postgres]

Runs each command --runs times (after one warm-up run) with subprocess and time.perf_counter, and
prints min / median / max wall seconds against its target:
  --help                         at most 0.15 s
  incidents                      at most 0.30 s (on an empty database)
  postmortem export INC-1        at most 0.80 s (an incident of --entries timeline entries, to a file)
The command is the `incident-bot` script next to this Python (the virtual environment's entry point).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

TARGETS = {"--help": 0.15, "incidents": 0.30, "postmortem export": 0.80}


def entry_point() -> list[str]:
    script = Path(sys.executable).with_name("incident-bot")
    if script.exists():
        return [str(script)]
    found = shutil.which("incident-bot")
    return [found] if found else [sys.executable, "-m", "bot.cli"]


def timed(command: list[str], env: dict[str, str], cwd: str, runs: int) -> list[float]:
    """Wall seconds of each run (one warm-up run first, not counted); stops at the first failure."""
    times = []
    for i in range(runs + 1):
        start = time.perf_counter()
        result = subprocess.run(command, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                check=False)
        elapsed = time.perf_counter() - start
        if result.returncode != 0:
            sys.exit(f"{' '.join(command)} failed ({result.returncode}): {result.stderr.decode()[-500:]}")
        if i:
            times.append(elapsed)
    return times


def prepared_databases(kind: str, workdir: str, entries: int) -> tuple[str, str]:
    """(an empty migrated database, one with an incident of `entries` entries)."""
    from draft_render import database_url, fill

    from storage.db import Database

    empty = f"sqlite:///{workdir}/empty.db" if kind == "sqlite" else database_url(kind, workdir)
    db = Database(empty)
    db.upgrade()
    db.dispose()
    if kind == "sqlite":
        full = f"sqlite:///{workdir}/bench.db"
    else:
        full = empty + "_full"
        _create_postgres(full)
    db = Database(full)
    db.upgrade()
    fill(db, entries)
    db.dispose()
    return empty, full


def _create_postgres(url: str) -> None:
    import sqlalchemy as sa

    from storage.db import normalise_url

    server, name = url.rsplit("/", 1)
    admin = sa.create_engine(normalise_url(server + "/postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    args = parser.parse_args()

    workdir = tempfile.mkdtemp(prefix="cli-start-")
    empty, full = prepared_databases(args.database, workdir, args.entries)
    base_env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp")}
    command = entry_point()
    cases = [
        ("--help", [*command, "--help"], empty),
        ("incidents", [*command, "incidents"], empty),
        ("postmortem export", [*command, "postmortem", "export", "INC-1", "--output", f"{workdir}/pm.md"], full),
    ]
    print(f"{' '.join(command)} on {args.database}, {args.runs} runs each (wall seconds)")
    print(f"{'command':<20} {'min':>7} {'median':>7} {'max':>7} {'target':>7}")
    for name, argv, url in cases:
        times = timed(argv, {**base_env, "DATABASE_URL": url}, workdir, args.runs)
        median = statistics.median(times)
        verdict = "ok" if median <= TARGETS[name] else "SLOW"
        print(f"{name:<20} {min(times):7.3f} {median:7.3f} {max(times):7.3f} {TARGETS[name]:7.2f}  {verdict}")
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
