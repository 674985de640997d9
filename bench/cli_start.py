"""Benchmark: how long the `incident-bot` command takes, as a whole process, start-up included.

    python bench/cli_start.py [--runs 15] [--entries 10000] [--database sqlite|postgres]

Runs each command --runs times (after one warm-up run) with subprocess and time.perf_counter, and
prints min / median / max wall seconds (and the median CPU seconds of the child) against its target:
  --help                         at most 0.15 s
  incidents                      at most 0.30 s (on an empty database)
  stats                          at most 0.30 s (on an empty database; a read-only command like incidents)
  postmortem export INC-1        at most 0.80 s (an incident of --entries timeline entries, to a file)
The command is the `incident-bot` script next to this Python (the virtual environment's entry point).
"""

from __future__ import annotations

import argparse
import os
import resource
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

TARGETS = {"--help": 0.15, "incidents": 0.30, "stats": 0.30, "postmortem export": 0.80}


def entry_point() -> list[str]:
    script = Path(sys.executable).with_name("incident-bot")
    if script.exists():
        return [str(script)]
    found = shutil.which("incident-bot")
    return [found] if found else [sys.executable, "-m", "bot.cli"]


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(command: list[str], env: dict[str, str], cwd: str, runs: int) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds of each run (one warm-up run first, not counted); stops at the first failure."""
    walls, cpus = [], []
    for i in range(runs + 1):
        cpu, start = _children_cpu(), time.perf_counter()
        result = subprocess.run(command, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                check=False)
        elapsed = time.perf_counter() - start
        if result.returncode != 0:
            sys.exit(f"{' '.join(command)} failed ({result.returncode}): {result.stderr.decode()[-500:]}")
        if i:
            walls.append(elapsed)
            cpus.append(_children_cpu() - cpu)
    return walls, cpus


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


def _create_postgres(url: str, *, create: bool = True) -> None:
    import sqlalchemy as sa

    from storage.db import normalise_url

    server, name = url.rsplit("/", 1)
    admin = sa.create_engine(normalise_url(server + "/postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
        if create:
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
        ("stats", [*command, "stats"], empty),
        ("postmortem export", [*command, "postmortem", "export", "INC-1", "--output", f"{workdir}/pm.md"], full),
    ]
    print(f"{' '.join(command)} on {args.database}, {args.runs} runs each, seconds; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (on a busy machine wall exceeds CPU)")
    print(f"{'command':<20} {'wall min':>9} {'median':>7} {'max':>7} {'cpu median':>11} {'target':>7}")
    for name, argv, url in cases:
        walls, cpus = timed(argv, {**base_env, "DATABASE_URL": url}, workdir, args.runs)
        median = statistics.median(walls)
        verdict = "ok" if median <= TARGETS[name] else "SLOW"
        print(f"{name:<20} {min(walls):9.3f} {median:7.3f} {max(walls):7.3f} {statistics.median(cpus):11.3f} "
              f"{TARGETS[name]:7.2f}  {verdict}")
    shutil.rmtree(workdir, ignore_errors=True)
    if args.database == "postgres":
        for url in (empty, full):
            _create_postgres(url, create=False)


if __name__ == "__main__":
    main()
