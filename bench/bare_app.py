"""A bare Bolt app under the bot's own HTTP server, that only acknowledges: the comparison point.

    python bench/bare_app.py default 3001   # Bolt's defaults (polls for ack() every 10 ms)
    python bench/bare_app.py floor 3002     # process_before_response=True: HTTP, signature, routing
    python bench/bare_app.py store 3003     # the floor, plus one committed INSERT per command

`store` is the least any app can do that acknowledges a command only once it is stored: one row, one
autocommit INSERT into a table with no index, on the thread's own connection, in STORE_URL (a SQLite
file in WAL mode as the bot uses it, writes taken in turn under a lock as the bot takes them, since
SQLite's own busy handler sleeps; or PostgreSQL). It is not the bot: no incident lookup, no reply,
no post in the channel. It shows what committing costs on this machine.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from slack_bolt import App
from slack_sdk import WebClient

from bot.config import load_settings
from bot.server import run_http
from bot.slack_wsgi import wsgi_app


class Store:
    """One table, one autocommit INSERT per row, one connection per thread."""

    def __init__(self, url: str):
        self.url = url
        self.local = threading.local()
        self.turns = threading.Lock() if url.startswith("sqlite") else contextlib.nullcontext()
        conn = self.connection()
        conn.execute("CREATE TABLE IF NOT EXISTS stored (id INTEGER PRIMARY KEY, text TEXT NOT NULL, "
                     "at VARCHAR(32) NOT NULL)" if url.startswith("sqlite") else
                     "CREATE TABLE IF NOT EXISTS stored (id SERIAL PRIMARY KEY, text TEXT NOT NULL, "
                     "at VARCHAR(32) NOT NULL)")

    def connection(self):
        conn = getattr(self.local, "conn", None)
        if conn is None:
            if self.url.startswith("sqlite"):
                import sqlite3

                conn = sqlite3.connect(self.url.removeprefix("sqlite:///"), isolation_level=None,
                                       check_same_thread=False)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.execute("PRAGMA busy_timeout=5000")
                self.sql = "INSERT INTO stored (text, at) VALUES (?, ?)"
            else:
                import psycopg

                conn = psycopg.connect(self.url, autocommit=True)
                self.sql = "INSERT INTO stored (text, at) VALUES (%s, %s)"
            self.local.conn = conn
        return conn

    def insert(self, text: str) -> None:
        conn = self.connection()
        with self.turns:
            conn.execute(self.sql, (text, datetime.now(UTC).isoformat()))


def main() -> None:
    mode, port = sys.argv[1], int(sys.argv[2])
    settings = load_settings(port=port)

    def make_wsgi():
        client = WebClient(token=settings.slack_bot_token.get_secret_value(), base_url=settings.slack_api_url)
        app = App(client=client, signing_secret=settings.slack_signing_secret.get_secret_value(),
                  process_before_response=(mode != "default"))

        store = Store(os.environ["STORE_URL"]) if mode == "store" else None

        @app.command("/incident")
        def command(ack, command):
            if store is not None:
                store.insert(command["text"])
            ack()

        @app.event("message")
        def message():
            pass

        class NoDatabase:
            def ping(self):
                return True

        return wsgi_app(app, NoDatabase())

    run_http(settings, make_wsgi)


if __name__ == "__main__":
    main()
