"""`incident-bot run` as a real process, the way an operator starts it."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.support import slack_requests as sr

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def incident_bot_command() -> list[str]:
    return [sys.executable, "-m", "bot.cli"]


class BotProcess:
    def __init__(self, env: dict[str, str], port: int | None = None, args: tuple[str, ...] = ("run",)):
        self.port = port or free_port()
        self.env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": os.environ.get("HOME", "/tmp"),
            "PYTHONPATH": str(REPO),
            "PORT": str(self.port),
            "SLACK_BOT_TOKEN": "xoxb-test-token-0000",
            "SLACK_SIGNING_SECRET": sr.SIGNING_SECRET,
            "REMINDERS_ENABLED": "false",
            "LOG_LEVEL": "INFO",
        }
        self.env.update(env)
        self.args = args
        self.log = tempfile.NamedTemporaryFile(prefix="incident-bot-", suffix=".log", delete=False)  # noqa: SIM115 - closed in close()
        self.proc: subprocess.Popen | None = None

    def start(self, wait: bool = True) -> BotProcess:
        self.proc = subprocess.Popen(
            incident_bot_command() + list(self.args),
            env=self.env,
            cwd=tempfile.gettempdir(),
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so kill -9 takes gunicorn's worker too
        )
        if wait:
            self.wait_healthy()
        return self

    def wait_healthy(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"incident-bot exited with {self.proc.returncode}:\n{self.output()}")
            try:
                status, _ = self.get("/healthz")
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"incident-bot did not become healthy:\n{self.output()}")

    def output(self) -> str:
        return Path(self.log.name).read_text(errors="replace")

    def connection(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)

    def get(self, path: str) -> tuple[int, str]:
        conn = self.connection()
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            return response.status, response.read().decode()
        finally:
            conn.close()

    def post(self, body: str, headers: dict, conn: http.client.HTTPConnection | None = None) -> tuple[int, str]:
        own = conn is None
        conn = conn or self.connection()
        try:
            conn.request("POST", "/slack/events", body=body.encode(), headers=headers)
            response = conn.getresponse()
            return response.status, response.read().decode()
        finally:
            if own:
                conn.close()

    def terminate(self, timeout: float = 30.0) -> int:
        """SIGTERM, as a service manager stops it; returns the exit status."""
        os.killpg(self.proc.pid, signal.SIGTERM)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        """kill -9 the whole process group: no chance to clean up."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def close(self) -> None:
        if self.proc and self.proc.poll() is None:
            try:
                self.kill()
            except ProcessLookupError:
                pass
        self.log.close()
        Path(self.log.name).unlink(missing_ok=True)
