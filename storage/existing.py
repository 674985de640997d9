"""Opening a database that must already exist, for commands that only read.

`connect_existing(url)` never creates a file, a table or a migration: a mistyped SQLite path says there
is no database there, and a database behind this code's migrations says to run `incident-bot db upgrade`.
It returns a plain driver connection (sqlite3 or psycopg), so a command that only reads does not pay
for importing SQLAlchemy and Alembic; `storage.db.Database.open_existing` builds on it for sessions.

The head revision is read from the migration files' `revision = ...` lines, not through Alembic
(tests/storage/test_existing.py checks that the two agree).
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from importlib import resources

from storage.db_errors import DatabaseProblem, explain, redacted, sqlite_path

PG_CONNECT_TIMEOUT_S = 2
_REVISION = re.compile(r"""^(down_revision|revision)\s*(?::[^=]*)?=\s*['"]?([\w]+)['"]?""", re.MULTILINE)


@lru_cache(maxsize=1)
def revisions() -> tuple[str, ...]:
    """Every migration revision, oldest first."""
    parents: dict[str, str | None] = {}
    for item in resources.files("storage.migrations").joinpath("versions").iterdir():
        if not item.name.endswith(".py") or item.name.startswith("__"):
            continue
        found = dict(m.groups() for m in _REVISION.finditer(item.read_text(encoding="utf-8")))
        if "revision" in found:
            down = found.get("down_revision")
            parents[found["revision"]] = None if down in (None, "None") else down
    children = {parent: child for child, parent in parents.items()}
    order, current = [], children.get(None)
    while current is not None:
        order.append(current)
        current = children.get(current)
    return tuple(order)


def head_revision() -> str:
    return revisions()[-1]


def connect_existing(url: str):
    """(driver connection, dialect) for an existing database at this code's head revision.

    Raises DatabaseProblem (one line, what to do next) otherwise. The caller closes the connection.
    """
    if url.startswith("sqlite"):
        connection, dialect = _sqlite(url), "sqlite"
    elif url.startswith("postgres"):
        connection, dialect = _postgres(url), "postgresql"
    else:
        raise DatabaseProblem("DATABASE_URL must start with sqlite:/// or postgresql://", setting=True)
    try:
        _check_revision(connection, dialect, url)
    except BaseException:
        connection.close()
        raise
    return connection, dialect


def check_existing(url: str) -> None:
    """Raise DatabaseProblem unless `url` names an existing database at the head revision."""
    connection, _ = connect_existing(url)
    connection.close()


def _sqlite(url: str):
    import sqlite3
    from urllib.parse import quote

    path = sqlite_path(url)
    if path is None:
        raise DatabaseProblem("an in-memory SQLite database holds nothing to read: set DATABASE_URL to the "
                              "bot's database file (sqlite:///path/to/incident-bot.db)", setting=True)
    if not os.path.isfile(path):
        raise DatabaseProblem(f"there is no database at {os.path.abspath(path)}: check DATABASE_URL "
                              "(sqlite:///relative.db or sqlite:////absolute/path.db), or create one there with "
                              "`incident-bot db upgrade`", setting=True)
    mode = "rw" if os.access(path, os.W_OK) else "ro"
    try:
        connection = sqlite3.connect(f"file:{quote(os.path.abspath(path))}?mode={mode}", uri=True,
                                     timeout=1.5, isolation_level=None, check_same_thread=False)
        connection.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
    except sqlite3.Error as exc:
        raise (explain(exc, url) or DatabaseProblem(f"cannot read the SQLite database {path} ({exc}): "
                                                   "check DATABASE_URL", setting=True)) from None
    return connection


def _postgres(url: str):
    import psycopg

    plain = re.sub(r"^postgres(ql)?(\+\w+)?://", "postgresql://", url)
    try:
        return psycopg.connect(plain, connect_timeout=PG_CONNECT_TIMEOUT_S, application_name="incident-bot",
                               autocommit=True)
    except psycopg.Error as exc:
        raise (explain(exc, url) or DatabaseProblem(
            f"cannot connect to {redacted(url)}: {str(exc).splitlines()[0]}; check DATABASE_URL",
            setting=True)) from None


def _check_revision(connection, dialect: str, url: str) -> None:
    where = sqlite_path(url) if dialect == "sqlite" else redacted(url)
    current = _current_revision(connection, dialect)
    head = head_revision()
    if current == head:
        return
    if current is None:
        raise DatabaseProblem(f"{where} holds no incident-bot data (no migrations applied): check DATABASE_URL, "
                              "or run `incident-bot db upgrade` to set up a new database there", setting=True)
    if current in revisions():
        raise DatabaseProblem(f"the database {where} is at revision {current}, this incident-bot needs {head}: "
                              "run `incident-bot db upgrade`", setting=False)
    raise DatabaseProblem(f"the database {where} is at revision {current}, newer than this incident-bot "
                          f"knows ({head}): upgrade incident-bot", setting=False)


def _current_revision(connection, dialect: str) -> str | None:
    if dialect == "sqlite":
        exists = connection.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'").fetchone()
        if not exists:
            return None
        row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
        return row[0] if row else None
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('alembic_version') IS NOT NULL")
        if not cursor.fetchone()[0]:
            return None
        cursor.execute("SELECT version_num FROM alembic_version")
        row = cursor.fetchone()
        return row[0] if row else None
