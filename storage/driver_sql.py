"""What hand-written SQL on a driver cursor needs: the parameter style of each dialect, and times
bound and read exactly as storage.models.UTCDateTime stores them. It imports no SQLAlchemy, so the
command line's read-only paths (storage/listing.py) stay quick to start."""

from __future__ import annotations

import re
from datetime import UTC, datetime


def _for(dialect: str, sql: str) -> str:
    """Our templates use :name parameters (sqlite3's named style); psycopg wants %(name)s."""
    return re.sub(r":(\w+)", r"%(\1)s", sql) if dialect == "postgresql" else sql


def bind_time(dialect: str, value: datetime):
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    if dialect == "postgresql":
        return value
    return value.replace(tzinfo=None).isoformat(" ", "microseconds")  # as SQLAlchemy's SQLite DATETIME


def read_time(value) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
