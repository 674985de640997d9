"""What went wrong with a database, said in one line that tells the operator what to do next.

`explain(exc, url)` turns a driver error (sqlite3, psycopg, or one SQLAlchemy wrapped) into a
`DatabaseProblem`; the command line and the server print its message instead of a traceback.
`setting` tells a wrong setting (DATABASE_URL names something that is not there) from a database that
is down or busy, so callers can exit 2 for the first and 1 for the second.

This module imports neither SQLAlchemy nor psycopg: the fast read-only commands use it too.
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit, urlunsplit


class DatabaseProblem(RuntimeError):
    """A database that cannot be used as it is; `str()` is one line saying what to do."""

    def __init__(self, message: str, *, setting: bool):
        super().__init__(message)
        self.setting = setting

    @property
    def exit_status(self) -> int:
        return 2 if self.setting else 1


def redacted(url: str) -> str:
    """The URL with any password replaced by ***."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        netloc = parts.netloc.rsplit("@", 1)
        user = netloc[0].split(":", 1)[0]
        return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[1]}"))
    except ValueError:
        return "<database url>"


def sqlite_path(url: str) -> str | None:
    """The file a sqlite URL names (as given, relative or absolute); None for an in-memory one."""
    rest = url.split("://", 1)[1] if "://" in url else ""
    path = unquote(rest[1:] if rest.startswith("/") else rest).split("?", 1)[0]
    return None if path in ("", ":memory:") else path


def _where(url: str) -> tuple[str, str, str]:
    """(host:port, database, user) of a PostgreSQL URL, for messages."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "localhost"
        port = parts.port or 5432
        user = unquote(parts.username or "")
    except ValueError:
        return "the server", "", ""
    return f"{host}:{port}", unquote(parts.path.lstrip("/")), user


def _driver_error(exc: BaseException) -> BaseException:
    """The driver's own exception inside a SQLAlchemy wrapper or our DatabaseUnavailable."""
    seen = exc
    for _ in range(5):
        inner = getattr(seen, "orig", None) or seen.__cause__
        if inner is None:
            break
        seen = inner
    return seen


def _first_line(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else text
    line = re.sub(r"^connection failed: ", "", line)
    line = re.sub(r'^connection to server at "[^"]*", port \d+ failed: ', "", line)
    return re.sub(r"^FATAL:\s+", "", line).strip()


def explain(exc: BaseException, url: str) -> DatabaseProblem | None:
    """A one-line DatabaseProblem for `exc`, or None when it is not a database problem we know."""
    if isinstance(exc, DatabaseProblem):
        return exc
    driver = _driver_error(exc)
    message = _first_line(str(driver))
    lower = message.lower()
    if url.startswith("sqlite"):
        return _explain_sqlite(driver, lower, url)
    if url.startswith("postgres"):
        return _explain_postgres(driver, message, lower, url)
    return None


def _explain_sqlite(driver: BaseException, lower: str, url: str) -> DatabaseProblem | None:
    path = sqlite_path(url) or ":memory:"
    if "database is locked" in lower or "database is busy" in lower:
        return DatabaseProblem(f"the SQLite database {path} is locked by another process: try again in a moment",
                               setting=False)
    if "unable to open database" in lower or isinstance(driver, OSError):
        reason = f" ({driver.strerror})" if isinstance(driver, OSError) and driver.strerror else ""
        return DatabaseProblem(
            f"cannot open or create the SQLite database {path}{reason}: check that its folder exists and that you "
            "may write there, or point DATABASE_URL at another file (sqlite:///path/to/incident-bot.db)",
            setting=True)
    if "file is not a database" in lower:
        return DatabaseProblem(f"{path} is not a SQLite database: check DATABASE_URL", setting=True)
    if "readonly database" in lower or "read-only" in lower:
        return DatabaseProblem(f"the SQLite database {path} is read-only: make it writable for this user, "
                               "or use a copy", setting=True)
    if "disk i/o error" in lower or "database or disk is full" in lower:
        return DatabaseProblem(f"the SQLite database {path} cannot be written ({lower}): free some disk space "
                               "or check the disk, then try again", setting=False)
    return None


def _explain_postgres(driver: BaseException, message: str, lower: str, url: str) -> DatabaseProblem | None:
    where, database, user = _where(url)
    host = where.rsplit(":", 1)[0]
    if m := re.search(r'database "([^"]+)" does not exist', message):
        return DatabaseProblem(f"PostgreSQL at {where} has no database {m.group(1)!r}: create it "
                               f"(createdb {m.group(1)}) or fix the name in DATABASE_URL", setting=True)
    if m := re.search(r'role "([^"]+)" does not exist', message):
        return DatabaseProblem(f"PostgreSQL at {where} has no role {m.group(1)!r}: create it "
                               f"(createuser {m.group(1)}) or fix the user in DATABASE_URL", setting=True)
    if "password authentication failed" in lower or "no password supplied" in lower:
        return DatabaseProblem(f"PostgreSQL at {where} refused the password for {user!r}: fix the password in "
                               "DATABASE_URL", setting=True)
    if ("failed to resolve host" in lower or "could not translate host name" in lower
            or "name or service not known" in lower or "nodename nor servname" in lower):
        return DatabaseProblem(f"the database host {host!r} in DATABASE_URL is unknown: check its spelling "
                               "(or this machine's DNS)", setting=True)
    if "connection refused" in lower:
        return DatabaseProblem(f"PostgreSQL at {where} refused the connection: start the server, or fix the "
                               "host and port in DATABASE_URL", setting=False)
    if "does not exist" in lower or "permission denied" in lower or "no pg_hba.conf entry" in lower:
        return DatabaseProblem(f"PostgreSQL at {where} refused {database!r}: {message}; fix DATABASE_URL or "
                               "the server's permissions", setting=True)
    if any(hint in lower for hint in ("timeout", "timed out", "no route", "unreachable", "server closed",
                                      "terminating connection", "could not connect", "connection")):
        return DatabaseProblem(f"PostgreSQL at {where} did not answer ({message}): check that it is running and "
                               "reachable from this machine, then try again", setting=False)
    return None
