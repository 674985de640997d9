"""Soak: many clients against one `incident-bot run` for a while; nothing lost, memory bounded.

One `incident-bot run` (HTTP mode, gunicorn, the Web API stand-in from tests/support/standin.py)
takes `--clients` concurrent clients (keep-alive connections, loopback only) for `--seconds`, each
mixing `/incident log` commands and channel messages with some `status`, milestones and 📌
reactions. Every loop stops by itself at the deadline.

    python bench/soak.py [--seconds 60] [--clients 30] [--database sqlite|postgres] [--seed 1]
                         [--tracemalloc FRAMES] [--warmup SECONDS] [--malloc-arena-max N]

It prints: errors (non-200 answers, connection failures, error replies), acknowledged vs stored
log entries and messages (read back with `incident-bot timeline 1 --json`; they must be equal),
p50/p99 ack latency in the first and the last 10 s, and the RSS of the gunicorn worker at the
start, at the end and at its peak (sampled every 0.5 s), then the curve as (minute, RSS) rows and
the growth after warm-up in its first and second half: a leak keeps growing, arena growth flattens.
Figures from inside the worker follow (bench/memory_probe.py, loaded through a generated
sitecustomize, so the bot has no hook for it), taken after `--warmup` and halfway through the rest
under load, and once the clients have stopped: resident memory by kind (malloc's main heap, its
per-thread arenas, other anonymous memory such as Python's object arenas, files), malloc's bytes in
use and held free, SQLite's own memory, SQLAlchemy's compiled statements, threads, gc objects,
pymalloc blocks. Exit status 1 when anything was lost or failed. It asserts nothing about time: the
figures are for reading.

With `--tracemalloc FRAMES` the worker runs under tracemalloc, and the allocation sites that grew
most between the first and the last of those snapshots are printed, with their growth at the
midpoint beside them: a leak grows in both halves. tracemalloc slows the worker and adds memory of
its own: read the RSS curve from a run without it. `--malloc-arena-max N` sets MALLOC_ARENA_MAX for
the bot (glibc's per-thread malloc arenas), to tell arena growth from a leak.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support import slack_requests as sr
from tests.support.process import BotProcess
from tests.support.standin import SlackStandIn

ERROR_REPLIES = ("Something went wrong", ":warning:", "Not saved", "No incident")
WINDOW = 10.0  # seconds: the first and last window compared
SNAPSHOT_TIMEOUT_S = 300.0
TOP_GROWERS = 15


@dataclass
class Tally:
    latencies: list[tuple[float, float, str]] = field(default_factory=list)  # (since start s, ms, kind)
    acked: dict[str, int] = field(default_factory=lambda: {"log": 0, "message": 0, "status": 0, "milestone": 0,
                                                           "reaction": 0})
    errors: list[str] = field(default_factory=list)


def children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except (FileNotFoundError, ProcessLookupError):
        return []


def rss_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def worker_pid(pid: int, timeout: float = 10.0) -> int:
    """gunicorn's worker: the started process's child (the process itself if it has none)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        kids = children(pid)
        if kids:
            return kids[0]
        time.sleep(0.1)
    return pid


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def client(number: int, port: int, channel: str, started: float, deadline: float, seed: int, tally: Tally,
           lock: threading.Lock) -> None:
    rng = random.Random(seed * 1000 + number)
    user = f"U0SOAK{number:03d}"
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    mine: list[tuple[float, float, str]] = []
    acked = dict.fromkeys(tally.acked, 0)
    errors: list[str] = []
    sent_messages: list[dict] = []
    n = 0
    try:
        while time.monotonic() < deadline:
            n += 1
            roll = rng.random()
            if roll < 0.45:
                kind = "log"
                body, headers = sr.slash_command(f"log soak c{number}-{n} checkout latency", channel_id=channel,
                                                 user_id=user)
            elif roll < 0.85:
                kind = "message"
                event = sr.message(f"soak-msg c{number}-{n} is it the cache?", user=user, channel=channel)
                sent_messages.append(event)
                body, headers = sr.event_request(event)
            elif roll < 0.90:
                kind = "status"
                body, headers = sr.slash_command("status", channel_id=channel, user_id=user)
            elif roll < 0.95:
                kind = "milestone"
                body, headers = sr.slash_command(f"{rng.choice(['acknowledged', 'mitigated'])} soak c{number}",
                                                 channel_id=channel, user_id=user)
            else:
                kind = "reaction"
                if not sent_messages:
                    continue
                target = rng.choice(sent_messages[-20:])
                body, headers = sr.event_request(sr.reaction("pushpin", target, user=user,
                                                             removed=rng.random() < 0.3))
            begun = time.perf_counter()
            try:
                conn.request("POST", "/slack/events", body=body.encode(), headers=headers)
                response = conn.getresponse()
                text = response.read().decode()
            except (OSError, http.client.HTTPException) as exc:
                errors.append(f"{kind}: {type(exc).__name__}: {exc}")
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                continue
            ms = (time.perf_counter() - begun) * 1000
            mine.append((time.monotonic() - started, ms, kind))
            if response.status != 200:
                errors.append(f"{kind}: HTTP {response.status} {text[:200]}")
                continue
            if kind in ("log", "status", "milestone"):
                reply = json.loads(text or "{}").get("text") or ""
                if not reply or reply.startswith(ERROR_REPLIES) or ("Logged" not in reply and kind == "log"):
                    errors.append(f"{kind}: error reply {reply[:200]!r}")
                    continue
            acked[kind] += 1
    finally:
        conn.close()
        with lock:
            tally.latencies.extend(mine)
            tally.errors.extend(errors)
            for kind, count in acked.items():
                tally.acked[kind] += count


def sample_memory(pid: int, stop: threading.Event, samples: list[tuple[float, int]], started: float) -> None:
    while not stop.is_set():
        value = rss_kib(pid)
        if value is not None:
            samples.append((time.monotonic() - started, value))
        stop.wait(0.5)


def request_snapshot(directory: Path, pid: int, label: str) -> None:
    (directory / f"{pid}.{label}.request").touch()


def load_snapshot(directory: Path, pid: int, label: str):
    """The probe's figures for `label` and its tracemalloc snapshot if any, waiting for them (None if
    they never came)."""
    import tracemalloc

    figures = directory / f"{pid}.{label}.json"
    deadline = time.monotonic() + SNAPSHOT_TIMEOUT_S
    while not figures.exists():
        if time.monotonic() > deadline:
            return None
        time.sleep(0.2)
    snapshot = directory / f"{pid}.{label}.snapshot"
    loaded = tracemalloc.Snapshot.load(str(snapshot)) if snapshot.exists() else None
    return loaded, json.loads(figures.read_text())


def short(filename: str) -> str:
    for marker in ("/site-packages/", "/lib/python3."):
        if marker in filename:
            tail = filename.split(marker, 1)[1]
            return tail if marker == "/site-packages/" else "python/" + tail.split("/", 1)[-1]
    try:
        return str(Path(filename).relative_to(REPO))
    except ValueError:
        return filename


FIGURES = (  # (name in the probe's answer, label, MiB?)
    ("rss_main_heap", "RSS main heap MiB", True),
    ("rss_thread_arenas", "RSS thread arenas MiB", True),
    ("rss_other_anon", "RSS other anon MiB", True),
    ("rss_file", "RSS files MiB", True),
    ("malloc_in_use", "malloc in use MiB", True),
    ("malloc_free", "malloc free MiB", True),
    ("sqlite_memory", "SQLite memory MiB", True),
    ("traced", "traced MiB", True),
    ("sqlalchemy_compiled", "SQLAlchemy compiled", False),
    ("threads", "threads", False),
    ("gc_objects", "gc objects", False),
    ("python_blocks", "pymalloc blocks", False),
)


def print_figures(snapshots: dict[str, tuple]) -> None:
    labels = [label for label in ("warm", "mid", "end") if label in snapshots]
    figures = {label: snapshots[label][1] for label in labels}
    print("inside the worker (after gc), at " + ", ".join(labels) + ":")
    for name, title, mib in FIGURES:
        if all(figures[label].get(name) is not None for label in labels):
            values = [figures[label][name] / 2**20 if mib else figures[label][name] for label in labels]
            print(f"  {title + ':':22} " + "  ".join(f"{v:10.1f}" if mib else f"{v:10d}" for v in values))


def print_growers(snapshots: dict[str, tuple], frames: int) -> None:
    if snapshots.get("warm", (None,))[0] is None or snapshots.get("end", (None,))[0] is None:
        print("tracemalloc: no snapshots")
        return
    print(f"tracemalloc ({frames} frames):")
    warm, end = snapshots["warm"][0], snapshots["end"][0]
    mid = snapshots["mid"][0] if "mid" in snapshots else None  # None also when there is no snapshot
    for key in ("lineno", "traceback"):
        diffs = sorted(end.compare_to(warm, key), key=lambda d: d.size_diff, reverse=True)
        at_mid = {d.traceback: d.size_diff for d in mid.compare_to(warm, key)} if mid is not None else {}
        total = sum(d.size_diff for d in diffs)
        print(f"  top growers warm -> end by {key} (all sites: {total / 1024:+.0f} KiB):")
        print("      KiB    mid KiB   blocks  site")
        for d in diffs[:TOP_GROWERS if key == "lineno" else 5]:
            innermost, *outers = reversed(d.traceback)  # a Traceback runs from the oldest frame
            print(f"    {d.size_diff / 1024:+7.1f}  {at_mid.get(d.traceback, 0) / 1024:+7.1f}  "
                  f"{d.count_diff:+7d}  {short(innermost.filename)}:{innermost.lineno}")
            if key == "traceback":
                for outer in outers:
                    print(f"{'':36}<- {short(outer.filename)}:{outer.lineno}")


def minutes(seconds: float) -> str:
    return f"{int(seconds) // 60}:{int(seconds) % 60:02d}"


def rss_rows(samples: list[tuple[float, int]], elapsed: float, warm: float) -> None:
    step = 60.0 if elapsed >= 180 else WINDOW
    print(f"worker RSS over time (every {step:.0f} s):")
    print("     m:ss     MiB   change")
    previous = None
    for i in range(int(elapsed // step) + 1):
        value = next((v for at, v in samples if at >= i * step), samples[-1][1])
        change = f"{(value - previous) / 1024:+6.1f}" if previous is not None else ""
        print(f"    {minutes(i * step):>5}  {value / 1024:6.1f}   {change}")
        previous = value
    last = samples[-1][1]
    print(f"    {minutes(elapsed):>5}  {last / 1024:6.1f}   {(last - previous) / 1024:+6.1f}  (end)")
    after = [(at, v) for at, v in samples if at >= warm]
    if len(after) >= 3:
        half = warm + (after[-1][0] - warm) / 2
        middle = next(v for at, v in after if at >= half)
        print(f"growth after the {warm:.0f} s warm-up: first half {(middle - after[0][1]) / 1024:+.1f} MiB, "
              f"second half {(after[-1][1] - middle) / 1024:+.1f} MiB")


def database(kind: str, workdir: str) -> tuple[str, callable]:
    if kind == "sqlite":
        return f"sqlite:///{workdir}/soak.db", lambda: None
    import sqlalchemy as sa

    base = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
    name = f"incident_bot_soak_{os.getpid()}"
    admin = sa.create_engine(base.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}' "
                                 "AND pid <> pg_backend_pid()")
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
        admin.dispose()

    return base.rsplit("/", 1)[0] + "/" + name, drop


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--clients", type=int, default=30)
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--tracemalloc", type=int, default=0, metavar="FRAMES",
                        help="run the bot under tracemalloc, keeping FRAMES frames per allocation")
    parser.add_argument("--warmup", type=float, default=None,
                        help="seconds before the first snapshot (default: a quarter of the run, at most 60)")
    parser.add_argument("--malloc-arena-max", type=int, default=None, metavar="N")
    args = parser.parse_args()
    warm_at = args.warmup if args.warmup is not None else min(60.0, args.seconds / 4)

    standin = SlackStandIn().start()
    workdir = tempfile.mkdtemp(prefix="soak-")
    database_url, drop_database = database(args.database, workdir)
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), "PYTHONPATH": str(REPO),
           "SLACK_API_URL": standin.api_url, "SLACK_BOT_TOKEN": "xoxb-soak", "SLACK_SIGNING_SECRET": sr.SIGNING_SECRET,
           "DATABASE_URL": database_url, "LOG_LEVEL": "WARNING", "REMINDERS_ENABLED": "false"}
    probe_dir = Path(workdir) / "probe"  # figures from inside the worker (see bench/memory_probe.py)
    probe_dir.mkdir()
    (probe_dir / "sitecustomize.py").write_text(
        f"import sys\nsys.path.insert(0, {str(REPO / 'bench')!r})\n"
        f"import memory_probe\nmemory_probe.install({str(probe_dir)!r}, {args.tracemalloc})\n")
    bot_env = {**env, "PYTHONPATH": f"{probe_dir}{os.pathsep}{REPO}"}
    if args.malloc_arena_max is not None:
        bot_env["MALLOC_ARENA_MAX"] = str(args.malloc_arena_max)
    bot = BotProcess(bot_env)
    snapshots: dict[str, tuple] = {}
    tally, lock = Tally(), threading.Lock()
    samples: list[tuple[float, int]] = []
    try:
        bot.start()
        status, text = bot.post(*sr.slash_command("start Soak incident sev3"))
        if status != 200 or not standin.channels:
            raise SystemExit(f"could not start the incident: {status} {text[:300]}")
        channel = next(iter(standin.channels))
        worker = worker_pid(bot.proc.pid)

        stop = threading.Event()
        started = time.monotonic()
        deadline = started + args.seconds
        sampler = threading.Thread(target=sample_memory, args=(worker, stop, samples, started), daemon=True)
        sampler.start()
        threads = [threading.Thread(target=client, args=(i, bot.port, channel, started, deadline, args.seed, tally, lock))
                   for i in range(args.clients)]
        for t in threads:
            t.start()
        for label, at in (("warm", warm_at), ("mid", warm_at + (args.seconds - warm_at) / 2)):
            if started + at < deadline:  # under load: after warm-up, and halfway through the rest
                time.sleep(max(0.0, started + at - time.monotonic()))
                request_snapshot(probe_dir, worker, label)
        for t in threads:
            t.join(args.seconds + 60)  # a client finishes its last request after the deadline
        elapsed = time.monotonic() - started
        alive = sum(t.is_alive() for t in threads)
        stop.set()
        sampler.join(5)
        request_snapshot(probe_dir, worker, "end")  # once the load has stopped: what is left was kept
        for label in ("warm", "mid", "end"):
            if any((probe_dir / f"{worker}.{label}.{suffix}").exists() for suffix in ("request", "json")):
                loaded = load_snapshot(probe_dir, worker, label)
                if loaded is not None:
                    snapshots[label] = loaded

        timeline = subprocess.run([sys.executable, "-m", "bot.cli", "timeline", "1", "--json"], env=env,
                                  capture_output=True, text=True, cwd=tempfile.gettempdir(), timeout=300, check=False)
        if timeline.returncode != 0:
            raise SystemExit(f"incident-bot timeline failed: {timeline.stderr[-2000:]}")
        items = json.loads(timeline.stdout)
    finally:
        bot.close()
        standin.stop()
        drop_database()
        shutil.rmtree(workdir, ignore_errors=True)  # a 10-minute soak leaves a database of about 50 MB

    stored_logs = sum(1 for i in items if i["kind"] == "log" and i["text"].startswith("soak "))
    stored_messages = sum(1 for i in items if i["kind"] == "message" and i["text"].startswith("soak-msg "))
    first = [ms for at, ms, _ in tally.latencies if at < WINDOW]
    last = [ms for at, ms, _ in tally.latencies if at >= elapsed - WINDOW]
    total = len(tally.latencies)

    print(f"soak: database {args.database}, {args.clients} clients, {elapsed:.1f} s, {total} requests "
          f"({total / elapsed:.0f}/s), seed {args.seed}")
    print("acknowledged: " + ", ".join(f"{kind} {count}" for kind, count in tally.acked.items()))
    print(f"errors: {len(tally.errors)}" + (f" (clients still running: {alive})" if alive else ""))
    for error in tally.errors[:10]:
        print(f"  {error}")
    print(f"log entries:  acknowledged {tally.acked['log']}, stored {stored_logs}"
          f" -> {'equal' if stored_logs == tally.acked['log'] else 'DIFFERENT'}")
    print(f"messages:     acknowledged {tally.acked['message']}, stored {stored_messages}"
          f" -> {'equal' if stored_messages == tally.acked['message'] else 'DIFFERENT'}")
    print(f"ack latency first {WINDOW:.0f} s: p50 {percentile(first, 50):.1f} ms, p99 {percentile(first, 99):.1f} ms "
          f"({len(first)} requests)")
    print(f"ack latency last {WINDOW:.0f} s:  p50 {percentile(last, 50):.1f} ms, p99 {percentile(last, 99):.1f} ms "
          f"({len(last)} requests)")
    if samples:
        print(f"worker RSS: start {samples[0][1] / 1024:.1f} MiB, end {samples[-1][1] / 1024:.1f} MiB, "
              f"peak {max(v for _, v in samples) / 1024:.1f} MiB ({len(samples)} samples)")
        rss_rows(samples, elapsed, warm_at)
    print_figures(snapshots)
    if args.tracemalloc:
        print_growers(snapshots, args.tracemalloc)
    lost = stored_logs != tally.acked["log"] or stored_messages != tally.acked["message"]
    return 1 if lost or tally.errors or alive else 0


if __name__ == "__main__":
    sys.exit(main())
