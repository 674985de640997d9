"""Benchmark: `/incident log` ack latency and channel-message capture throughput.

Four servers run side by side in the same run, each under the bot's own HTTP server (waitress, one
process, WEB_THREADS threads; bot/http_serving.py), against the Web API stand-in:
  bot      `incident-bot run`, storing every entry before it answers
  default  a bare Bolt app that only acks, with Bolt's defaults
  floor    a bare Bolt app that only acks, with process_before_response=True
  store    the floor plus one committed INSERT per command (bench/bare_app.py): the least an app
           that answers only once the entry is stored can do, on the same database kind
8 clients (threads with keep-alive connections) send pre-signed requests.

    python bench/ack_latency.py [--requests 3000] [--rounds 10] [--clients 8] [--database sqlite|postgres]

The servers take turns in rounds (rotating who goes first), so a busy moment of the machine falls on
all of them alike.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support import slack_requests as sr
from tests.support.process import BotProcess, free_port
from tests.support.standin import SlackStandIn


def run_clients(port: int, requests: list[tuple[str, dict]], clients: int) -> tuple[list[float], float, int]:
    """Send all requests over `clients` keep-alive connections. Returns (latencies ms, seconds, errors)."""
    chunks = [requests[i::clients] for i in range(clients)]
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    barrier = threading.Barrier(clients + 1)

    def worker(chunk):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine = []
        barrier.wait()
        for body, headers in chunk:
            started = time.perf_counter()
            conn.request("POST", "/slack/events", body=body.encode(), headers=headers)
            response = conn.getresponse()
            response.read()
            mine.append((time.perf_counter() - started) * 1000)
            if response.status != 200:
                with lock:
                    errors[0] += 1
        conn.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker, args=(c,)) for c in chunks]
    for t in threads:
        t.start()
    barrier.wait()
    started = time.perf_counter()
    for t in threads:
        t.join()
    return latencies, time.perf_counter() - started, errors[0]


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its children so far."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for p in [pid] + children(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total


def children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:
        return []


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def start_bare(mode: str, env: dict) -> tuple[subprocess.Popen, int]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(REPO / "bench" / "bare_app.py"), mode, str(port)],
                            env={**env, "PORT": str(port)}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                conn.close()
                return proc, port
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"bare app {mode} did not start")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=10, help="servers take turns, this many times")
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    args = parser.parse_args()

    standin = SlackStandIn().start()
    workdir = tempfile.mkdtemp(prefix="bench-")
    if args.database == "sqlite":
        database_url = f"sqlite:///{workdir}/bench.db"
    else:
        import sqlalchemy as sa

        base = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
        name = f"incident_bot_bench_{os.getpid()}"
        admin = sa.create_engine(base.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        database_url = base.rsplit("/", 1)[0] + "/" + name
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), "PYTHONPATH": str(REPO),
           "SLACK_API_URL": standin.api_url, "SLACK_BOT_TOKEN": "xoxb-bench", "SLACK_SIGNING_SECRET": sr.SIGNING_SECRET,
           "DATABASE_URL": database_url, "LOG_LEVEL": "WARNING", "REMINDERS_ENABLED": "false"}

    bot = BotProcess(env).start()
    body, headers = sr.slash_command("start Benchmark incident sev3")
    bot.post(body, headers)
    channel = next(iter(standin.channels))
    store_url = f"sqlite:///{workdir}/store.db" if args.database == "sqlite" else database_url
    bare = {mode: start_bare(mode, {**env, "STORE_URL": store_url}) for mode in ("default", "floor", "store")}
    ports = {"bot": bot.port, **{mode: port for mode, (_, port) in bare.items()}}
    pids = {"bot": bot.proc.pid, **{mode: proc.pid for mode, (proc, _) in bare.items()}}

    latencies: dict[str, list[float]] = {name: [] for name in ports}
    round_p50: dict[str, list[float]] = {name: [] for name in ports}  # per round: robust to a busy machine
    capture_seconds = dict.fromkeys(ports, 0.0)
    cpu = dict.fromkeys(ports, 0.0)
    errors = dict.fromkeys(ports, 0)
    per_round = max(1, args.requests // args.rounds)
    try:
        for name, port in ports.items():  # warm-up: connections, caches, imports
            run_clients(port, [sr.slash_command("log warm up", channel_id=channel) for _ in range(50)], args.clients)
        # Rounds, each server in turn (in a rotating order), so that all three see the same machine.
        order = list(ports)
        for round_number in range(args.rounds):
            first = round_number % len(order)
            for name in order[first:] + order[:first]:
                port = ports[name]
                commands = [sr.slash_command(f"log entry {round_number}-{i} from the benchmark", channel_id=channel)
                            for i in range(per_round)]
                round_latencies, _, round_errors = run_clients(port, commands, args.clients)
                latencies[name] += round_latencies
                round_p50[name].append(statistics.median(round_latencies))
                events = [sr.event_request(sr.message(f"message {round_number}-{i}", channel=channel,
                                                      user=f"U{i % 30:04d}"))
                          for i in range(per_round)]
                cpu_before = cpu_seconds(pids[name])
                _, seconds, event_errors = run_clients(port, events, args.clients)
                cpu[name] += cpu_seconds(pids[name]) - cpu_before
                capture_seconds[name] += seconds
                errors[name] += round_errors + event_errors
        total = per_round * args.rounds
        results = {
            name: {
                "p50_ms": statistics.median(latencies[name]),
                "p99_ms": percentile(latencies[name], 99),
                "capture_per_s": total / capture_seconds[name],
                "cpu_ms": cpu[name] / total * 1000,
                "errors": errors[name],
            }
            for name in ports
        }
        stored = json.loads(subprocess.run([sys.executable, "-m", "bot.cli", "timeline", "1", "--json"],
                                           env=env, capture_output=True, text=True, cwd="/tmp", check=True).stdout)
        bot_log = bot.output()
    finally:
        bot.close()
        for proc, _ in bare.values():
            proc.kill()
            proc.wait()
        standin.stop()

    floor = results["floor"]
    print(f"database: {args.database}, clients: {args.clients}, requests per server and test: {total} "
          f"in {args.rounds} interleaved rounds")
    print(f"{'server':<9} {'log p50 ms':>11} {'log p99 ms':>11} {'capture msg/s':>14} {'CPU ms/msg':>11} {'errors':>7}")
    for name, r in results.items():
        print(f"{name:<9} {r['p50_ms']:>11.2f} {r['p99_ms']:>11.2f} {r['capture_per_s']:>14.0f} "
              f"{r['cpu_ms']:>11.3f} {r['errors']:>7}")
    bot_r, default = results["bot"], results["default"]
    print()
    print(f"bot p50 {bot_r['p50_ms']:.2f} ms vs default bare app {default['p50_ms']:.2f} ms "
          f"({'below' if bot_r['p50_ms'] < default['p50_ms'] else 'NOT below'})")
    print(f"bot p50 / floor p50 = {bot_r['p50_ms'] / floor['p50_ms']:.2f}x (target <= 1.5x)")
    print(f"bot p99 / floor p99 = {bot_r['p99_ms'] / floor['p99_ms']:.2f}x (target <= 2x)")
    in_rounds = statistics.median(b / f for b, f in zip(round_p50["bot"], round_p50["floor"], strict=True))
    print(f"bot p50 / floor p50 within each round, median of {args.rounds} rounds = {in_rounds:.2f}x")
    store = results["store"]
    store_rounds = statistics.median(s / f for s, f in zip(round_p50["store"], round_p50["floor"], strict=True))
    print(f"store p50 / floor p50 = {store['p50_ms'] / floor['p50_ms']:.2f}x (in rounds {store_rounds:.2f}x): "
          f"what one committed INSERT costs; bot p50 / store p50 = {bot_r['p50_ms'] / store['p50_ms']:.2f}x")
    print(f"bot capture / floor capture = {bot_r['capture_per_s'] / floor['capture_per_s']:.2f}x (target >= 0.8x)")
    logs = sum(1 for i in stored if i["kind"] == "log" and i["text"].startswith("entry"))
    messages = sum(1 for i in stored if i["kind"] == "message")
    print(f"stored by the bot: {logs} log entries of {total}, {messages} messages of {total}")
    if results["bot"]["errors"] or logs < total:
        problems = [line for line in bot_log.splitlines() if " WARNING " in line or " ERROR " in line]
        print(f"the bot logged {len(problems)} warnings and errors; the last ones:")
        for line in problems[-10:]:
            print("  " + line[:300])


if __name__ == "__main__":
    main()
