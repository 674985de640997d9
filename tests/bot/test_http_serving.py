"""The HTTP server over real sockets: slow clients never keep Slack waiting; start-up failures are one line."""

from __future__ import annotations

import json
import socket
import threading
import time
from typing import Self

import pytest

from tests.bot.test_server import cli, start_incident
from tests.support import slack_requests as sr
from tests.support.process import BotProcess

pytestmark = pytest.mark.slow

SLOW_CONNECTIONS = 200
SLACK_DEADLINE_S = 3.0


class Trickle:
    """`count` connections that send request headers one byte at a time and never finish them."""

    def __init__(self, port: int, count: int, *, pause: float = 0.1, limit_s: float = 60.0):
        self.sockets = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(count)]
        self.pause, self.limit_s = pause, limit_s
        self.sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="trickle", daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(10)
        for sock in self.sockets:
            sock.close()

    def _run(self) -> None:
        header = b"POST /slack/events HTTP/1.1\r\nHost: bot\r\nX-Slow: "
        deadline = time.monotonic() + self.limit_s
        position = 0
        while not self._stop.is_set() and time.monotonic() < deadline:
            byte = header[position:position + 1] or b"a"
            for sock in self.sockets:
                try:
                    sock.send(byte)
                except OSError:
                    continue
            self.sent += 1
            position += 1
            self._stop.wait(self.pause)


def test_two_hundred_slow_clients_do_not_delay_a_command(tmp_path, standin):
    server = BotProcess({"SLACK_API_URL": standin.api_url, "DATABASE_URL": f"sqlite:///{tmp_path}/bot.db"}).start()
    try:
        channel = start_incident(server, standin)
        with Trickle(server.port, SLOW_CONNECTIONS) as trickle:
            deadline = time.monotonic() + 10
            while trickle.sent < 10 and time.monotonic() < deadline:  # every connection is mid-headers
                time.sleep(0.05)
            body, headers = sr.slash_command("log 12:00 UTC slow clients everywhere", channel_id=channel)
            conn = server.connection()
            conn.timeout = SLACK_DEADLINE_S
            started = time.monotonic()
            status, reply = server.post(body, headers, conn)
            elapsed = time.monotonic() - started
            conn.close()
            assert status == 200 and "slow clients everywhere" in json.loads(reply)["text"]
            assert elapsed < SLACK_DEADLINE_S
            assert server.get("/healthz")[0] == 200
            assert server.terminate(timeout=SLACK_DEADLINE_S * 3) == 0  # slow clients do not hold up a stop
    finally:
        server.close()
    items = json.loads(cli(f"sqlite:///{tmp_path}/bot.db", "timeline", "1", "--json").stdout)
    assert [i["text"] for i in items if i["kind"] == "log"] == ["slow clients everywhere"]


def test_a_port_in_use_stops_start_up_with_one_clear_line(tmp_path, standin):
    with socket.create_server(("0.0.0.0", 0)) as taken:
        port = taken.getsockname()[1]
        process = BotProcess({"SLACK_API_URL": standin.api_url, "DATABASE_URL": f"sqlite:///{tmp_path}/bot.db"},
                             port=port)
        try:
            process.start(wait=False)
            assert process.proc.wait(30) == 2
            output = process.output()
            assert output.strip().splitlines()[-1].startswith(f"incident-bot: PORT {port} cannot be used")
            assert "Traceback" not in output
        finally:
            process.close()
