"""Engine, sessions and migrations.

SQLite (the embedded default) runs in WAL mode with a short busy timeout, and write transactions
start with BEGIN IMMEDIATE so that concurrent writers queue for the lock instead of failing halfway.
PostgreSQL is reached through psycopg 3 with a short connect timeout and pre-ping, so a database
that went away and came back is used again without a restart.
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

T = TypeVar("T")

log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 1500
PG_CONNECT_TIMEOUT_S = 2
MIGRATION_LOCK_KEY = 0x1C1DE27  # pg_advisory_xact_lock key that serialises migrations


WRITE_LOCK_WAIT_S = 2.0
_SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",  # durable across a process crash; fsync at checkpoints
    f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}",
    "PRAGMA foreign_keys=ON",
)


class DatabaseUnavailable(RuntimeError):
    """The database did not answer (down, unreachable, or locked past the busy timeout)."""


def default_sqlite_path() -> Path:
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "incident-bot" / "incident-bot.db"


def normalise_url(url: str) -> str:
    """Accept the URLs people write: `postgresql://…` and `postgres://…` use psycopg 3."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


def redacted(url: str) -> str:
    """The URL with any password hidden, for logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - never let logging a URL fail
        return "<database url>"


class Cursor:
    """A DB-API cursor and its dialect, for the hand-written statements of storage/fast.py."""

    __slots__ = ("cursor", "dialect", "__weakref__")

    def __init__(self, cursor, dialect: str):
        self.cursor = cursor
        self.dialect = dialect


def _driver_unavailable_errors() -> tuple[type[BaseException], ...]:
    import sqlite3

    errors: list[type[BaseException]] = [sqlite3.OperationalError]
    try:
        import psycopg

        errors += [psycopg.OperationalError, psycopg.InterfaceError]
    except ImportError:  # pragma: no cover - psycopg is a dependency
        pass
    return tuple(errors)


_DRIVER_UNAVAILABLE = _driver_unavailable_errors()


class Database:
    """One database: an engine for writes, one for reads, and sessions over them."""

    def __init__(self, url: str, *, pool_size: int = 10):
        self.url = normalise_url(url)
        parsed = make_url(self.url)
        self.dialect = parsed.get_backend_name()
        # SQLite has one writer at a time. Threads of this process queue here, on a lock that wakes
        # the next one at once, instead of in SQLite's busy handler, which sleeps up to 100 ms a turn.
        self._write_lock = threading.Lock() if self.dialect == "sqlite" else None
        self._local = threading.local()
        self._own_connections: list = []  # SQLite connections outside the pool (hot paths)
        self._connections_lock = threading.Lock()
        if self.dialect == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            self.engine = self._sqlite_engine(immediate=True, pool_size=pool_size)
            self.read_engine = self._sqlite_engine(immediate=False, pool_size=pool_size)
        elif self.dialect == "postgresql":
            self.engine = sa.create_engine(
                self.url,
                pool_pre_ping=True,
                pool_size=pool_size,
                max_overflow=pool_size,
                pool_timeout=2,
                connect_args={
                    "connect_timeout": PG_CONNECT_TIMEOUT_S,
                    "application_name": "incident-bot",
                    "keepalives": 1,
                    "keepalives_idle": 10,
                    "keepalives_interval": 2,
                    "keepalives_count": 3,
                    "tcp_user_timeout": 5000,
                },
            )
            self.read_engine = self.engine
        else:
            raise ValueError(f"unsupported database {self.dialect!r}: use sqlite:/// or postgresql://")

    def _sqlite_engine(self, *, immediate: bool, pool_size: int) -> Engine:
        engine = sa.create_engine(
            self.url,
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_timeout=2,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
        )

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection, _record):
            dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
            cursor = dbapi_connection.cursor()
            for pragma in _SQLITE_PRAGMAS:
                cursor.execute(pragma)
            cursor.close()

        begin = "BEGIN IMMEDIATE" if immediate else "BEGIN"

        @event.listens_for(engine, "begin")
        def _on_begin(conn):
            conn.exec_driver_sql(begin)

        return engine

    # -- sessions -------------------------------------------------------------------------------

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A session in one transaction, committed on success. Raises DatabaseUnavailable."""
        with self._serialised(), self._session(self.engine) as session:
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only session (on SQLite it does not take the write lock)."""
        with self._session(self.read_engine) as session:
            yield session

    def hot_write(self, fn: Callable[[Cursor], T]) -> T:
        """Run `fn(cursor)`, which issues ONE statement, and commit it: the lean path for the hottest
        writes (storage/fast.py). Raises DatabaseUnavailable when the database does not answer.

        On SQLite the statement runs in autocommit mode (a single statement is its own transaction) on
        the thread's own connection, under the process's write lock. On PostgreSQL it runs in a short
        transaction on a pooled connection.
        """
        if self.dialect == "sqlite":
            with self._serialised(), _translated_driver_errors():
                return fn(self._thread_sqlite_cursor())
        with self._raw(self.engine) as raw:
            cursor = raw.cursor()
            try:
                result = fn(Cursor(cursor, self.dialect))
                raw.commit()
                return result
            except BaseException:
                raw.rollback()
                raise
            finally:
                cursor.close()

    @contextmanager
    def reading(self) -> Iterator[Cursor]:
        """A driver cursor for one hot-path read (a single statement needs no snapshot). On SQLite
        each thread keeps its own connection for these, so there is no pool checkout per read."""
        if self.dialect == "sqlite":
            with _translated_driver_errors():
                yield self._thread_sqlite_cursor()
            return
        with self._raw(self.read_engine) as raw:
            cursor = raw.cursor()
            try:
                yield Cursor(cursor, self.dialect)
            finally:
                cursor.close()
                raw.rollback()

    def _thread_sqlite_cursor(self) -> Cursor:
        cursor = getattr(self._local, "cursor", None)
        if cursor is None:
            connection = self._sqlite_connection()
            cursor = Cursor(connection.cursor(), "sqlite")
            self._local.cursor = cursor
            # The connection lasts as long as its thread: when the thread ends, its locals (this
            # cursor) go, and so does the connection, so threads that come and go leave nothing open.
            weakref.finalize(cursor, _close_own_connection, connection, self._own_connections,
                             self._connections_lock).atexit = False
        return cursor

    def _sqlite_connection(self):
        import sqlite3

        connection = sqlite3.connect(make_url(self.url).database, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000,
                                     isolation_level=None, check_same_thread=False)
        for pragma in _SQLITE_PRAGMAS:
            connection.execute(pragma)
        with self._connections_lock:
            self._own_connections.append(connection)
        return connection

    @contextmanager
    def _raw(self, engine: Engine):
        try:
            raw = engine.raw_connection()
        except DBAPIError as exc:
            raise DatabaseUnavailable(str(exc.orig or exc)) from exc
        except _DRIVER_UNAVAILABLE as exc:  # a failed reconnect after pre-ping surfaces unwrapped
            raise DatabaseUnavailable(str(exc)) from exc
        try:
            yield raw
        except _DRIVER_UNAVAILABLE as exc:
            raw.invalidate()
            raise DatabaseUnavailable(str(exc)) from exc
        finally:
            raw.close()

    @contextmanager
    def _serialised(self) -> Iterator[None]:
        if self._write_lock is None:
            yield
            return
        if not self._write_lock.acquire(timeout=WRITE_LOCK_WAIT_S):
            raise DatabaseUnavailable("the database is busy (waited for the write lock)")
        try:
            yield
        finally:
            self._write_lock.release()

    @contextmanager
    def _session(self, engine: Engine) -> Iterator[Session]:
        with (_translated_errors(), Session(engine, expire_on_commit=False, autoflush=False) as session,
              session.begin()):
            yield session

    def ping(self) -> bool:
        """True when the database answers a trivial query."""
        try:
            with self.read_engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
            return True
        except Exception:  # noqa: BLE001 - any failure means "not answering"
            return False

    def dispose(self) -> None:
        with self._connections_lock:
            connections, self._own_connections = self._own_connections, []
        for connection in connections:
            connection.close()
        self._local = threading.local()
        self.engine.dispose()
        if self.read_engine is not self.engine:
            self.read_engine.dispose()

    # -- migrations -----------------------------------------------------------------------------

    def upgrade(self, revision: str = "head") -> None:
        """Apply Alembic migrations, serialised between processes (advisory lock / BEGIN IMMEDIATE)."""
        from alembic import command

        config = alembic_config()
        with _MIGRATION_THREAD_LOCK, self.engine.begin() as conn:
            if self.dialect == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            config.attributes["connection"] = conn
            command.upgrade(config, revision)

    def current_revision(self) -> str | None:
        from alembic.runtime.migration import MigrationContext

        with self.read_engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()


_MIGRATION_THREAD_LOCK = threading.Lock()


def _close_own_connection(connection, connections: list, lock: threading.Lock) -> None:
    with lock:
        if connection in connections:
            connections.remove(connection)
    connection.close()


def alembic_config():
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(resources.files("storage") / "migrations"))
    return config


_UNAVAILABLE_HINTS = (
    "database is locked",
    "unable to open database",
    "connection",
    "could not connect",
    "server closed",
    "terminating connection",
    "timeout",
    "timed out",
    "no route",
    "refused",
    "network",
    "ssl syscall",
    "eof detected",
)


@contextmanager
def _translated_driver_errors() -> Iterator[None]:
    try:
        yield
    except _DRIVER_UNAVAILABLE as exc:
        raise DatabaseUnavailable(str(exc)) from exc


@contextmanager
def _translated_errors() -> Iterator[None]:
    """A database that does not answer becomes DatabaseUnavailable; other errors pass unchanged."""
    try:
        yield
    except DBAPIError as exc:
        if _is_unavailable(exc):
            raise DatabaseUnavailable(str(exc.orig or exc)) from exc
        raise
    except _DRIVER_UNAVAILABLE as exc:  # the driver's own error, where SQLAlchemy did not wrap it
        raise DatabaseUnavailable(str(exc)) from exc


def _is_unavailable(exc: DBAPIError) -> bool:
    if exc.connection_invalidated:
        return True
    message = str(exc.orig or exc).lower()
    return isinstance(exc, sa.exc.OperationalError) or any(h in message for h in _UNAVAILABLE_HINTS)
