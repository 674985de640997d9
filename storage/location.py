"""Where the embedded SQLite database lives when DATABASE_URL is not set."""

from __future__ import annotations

import os
from pathlib import Path


def default_sqlite_path() -> Path:
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "incident-bot" / "incident-bot.db"
