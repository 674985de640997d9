"""Engine, sessions and migrations.

SQLite (the embedded default) runs in WAL mode with a short busy timeout, and write transactions
start with BEGIN IMMEDIATE so that concurrent writers queue for the lock instead of failing halfway.
PostgreSQL is reached through psycopg 3 with a short connect timeout and pre-ping, so a database
that went away and came back is used again without a restart.
"""

from __future__ import annotations

import logging
import sys
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

from storage.db_errors import DatabaseProblem, explain
from storage.faults import Faults
from storage.location import default_sqlite_path  # noqa: F401 - where callers have always found it

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


# Set in a session's `info` by storage.outbox_jobs.enqueue: when that transaction commits, the
# database calls `Database.on_jobs_committed` (the outbox's wake-up), so no caller has to remember to.
JOBS_QUEUED = "outbox_jobs_queued"


class DatabaseUnavailable(RuntimeError):
    """The database did not answer (down, unreachable, or locked past the busy timeout)."""


def normalise_url(url: str) -> str:
    """Accept the URLs people write: `postgresql://…` and `postgres://…` use psycopg 3."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url




class Cursor:
    """A DB-API cursor and its dialect, for the hand-written statements of storage/capture_sql.py."""

    __slots__ = ("cursor", "dialect", "__weakref__")

    def __init__(self, cursor, dialect: str):
        self.cursor = cursor
        self.dialect = dialect


def _driver_unavailable_errors() -> tuple[type[BaseException], ...]:
    """The drivers' "not answering" errors. psycopg is not imported for this (it costs a SQLite-only
    command a tenth of a second): until something imported it, none of its errors can be raised."""
    import sqlite3

    errors: list[type[BaseException]] = [sqlite3.OperationalError]
    psycopg = sys.modules.get("psycopg")
    if psycopg is not None:
        errors += [psycopg.OperationalError, psycopg.InterfaceError]
    return tuple(errors)


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
        self.on_jobs_committed: Callable[[], None] | None = None  # see JOBS_QUEUED
        self._faults = Faults(self.dialect)  # see inject_fault()
        if self.dialect == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                _make_folder(Path(parsed.database).expanduser().parent, self.url)
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

    @classmethod
    def open_existing(cls, url: str, **kwargs) -> Database:
        """The database at `url` for reading, which must exist and be at the head revision: nothing is
        created or migrated. Raises DatabaseProblem (one line saying what to do) otherwise."""
        from storage.existing import check_existing

        check_existing(normalise_url(url))
        return cls(url, **kwargs)

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
        """A session in one transaction, committed on success. Raises DatabaseUnavailable.

        When the transaction queued outbox jobs, `on_jobs_committed` is called after the commit."""
        with self._serialised(), self._session(self.engine) as session:
            yield session
        if session.info.get(JOBS_QUEUED) and self.on_jobs_committed is not None:
            self.on_jobs_committed()

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only session (on SQLite it does not take the write lock)."""
        with self._session(self.read_engine) as session:
            yield session

    def hot_write(self, fn: Callable[[Cursor], T], *, queues_jobs: bool = False) -> T:
        """Run `fn(cursor)`, which issues ONE statement, and commit it: the lean path for the hottest
        writes (storage/capture_sql.py). Raises DatabaseUnavailable when the database does not answer.

        On SQLite the statement runs in autocommit mode (a single statement is its own transaction) on
        the thread's own connection, under the process's write lock. On PostgreSQL it runs in a short
        transaction on a pooled connection. With `queues_jobs` (the statement left work for the outbox:
        a log entry `to_post`), the outbox is woken after the commit, as `write()` does (JOBS_QUEUED).
        """
        if self.dialect == "sqlite":
            with self._serialised(), _translated_driver_errors():
                result = fn(self._faults.wrap(self._thread_sqlite_cursor()))
        else:
            with self._raw(self.engine) as raw:
                cursor = raw.cursor()
                try:
                    result = fn(self._faults.wrap(Cursor(cursor, self.dialect)))
                    raw.commit()
                except BaseException:
                    raw.rollback()
                    raise
                finally:
                    cursor.close()
        if queues_jobs and self.on_jobs_committed is not None:
            self.on_jobs_committed()
        return result

    def hot_transaction(self, fn: Callable[[Cursor], T]) -> T:
        """Like `hot_write`, for the few hand-written statements of one transaction (log entries' posts
        queued as jobs by the outbox's drainer itself, which claims them next: storage/post_sql.py
        `queue_posts`)."""
        if self.dialect == "sqlite":
            with self._serialised(), _translated_driver_errors():
                conn = self._faults.wrap(self._thread_sqlite_cursor())
                conn.cursor.execute("BEGIN IMMEDIATE")
                try:
                    result = fn(conn)
                    conn.cursor.execute("COMMIT")
                except BaseException:
                    if conn.cursor.connection.in_transaction:
                        conn.cursor.connection.rollback()
                    raise
            return result
        return self.hot_write(fn)  # on PostgreSQL hot_write is already one transaction

    @contextmanager
    def reading(self) -> Iterator[Cursor]:
        """A driver cursor for one hot-path read (a single statement needs no snapshot). On SQLite
        each thread keeps its own connection for these, so there is no pool checkout per read."""
        if self.dialect == "sqlite":
            with _translated_driver_errors():
                yield self._faults.wrap(self._thread_sqlite_cursor())
            return
        with self._raw(self.read_engine) as raw:
            cursor = raw.cursor()
            try:
                yield self._faults.wrap(Cursor(cursor, self.dialect))
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
        except _driver_unavailable_errors() as exc:  # a failed reconnect after pre-ping surfaces unwrapped
            raise DatabaseUnavailable(str(exc)) from exc
        try:
            yield raw
        except _driver_unavailable_errors() as exc:
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

    # -- faults, for tests ----------------------------------------------------------------------

    def inject_fault(self, matching: str = "", *, times: int | None = 1,
                     error: Exception | None = None) -> None:
        """Make the next `times` statements whose SQL matches the regular expression `matching` (any
        statement by default) fail with `error`, as if the database had stopped answering there.

        For tests: the failure is raised where the driver would raise it, so it takes the real path
        (SQLAlchemy's wrapping, DatabaseUnavailable, a rolled-back transaction) and no function has
        to be replaced. `error` defaults to the driver's OperationalError; `times=None` keeps failing
        until `clear_faults()`. Nothing is checked until a fault is first injected.
        """
        if not self._faults.rules:
            for engine in {self.engine, self.read_engine}:
                if not event.contains(engine, "before_cursor_execute", self._faults.before_execute):
                    event.listen(engine, "before_cursor_execute", self._faults.before_execute)
        self._faults.add(matching, times, error)

    def clear_faults(self) -> None:
        self._faults.rules.clear()

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


def _make_folder(folder: Path, url: str) -> None:
    """The SQLite file's folder, created if missing; DatabaseProblem when that is not possible."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise explain(exc, url) or DatabaseProblem(str(exc), setting=True) from None


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
    except _driver_unavailable_errors() as exc:
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
    except _driver_unavailable_errors() as exc:  # the driver's own error, where SQLAlchemy did not wrap it
        raise DatabaseUnavailable(str(exc)) from exc


def _is_unavailable(exc: DBAPIError) -> bool:
    if exc.connection_invalidated:
        return True
    message = str(exc.orig or exc).lower()
    return isinstance(exc, sa.exc.OperationalError) or any(h in message for h in _UNAVAILABLE_HINTS)
