"""The fault switch tests use to make the database fail where the driver would
(storage.db.Database.inject_fault): statements matching a pattern fail with the driver's own error,
on the SQLAlchemy paths and on the hand-written hot paths alike. It costs nothing until a fault is
injected."""

from __future__ import annotations

import re
import threading


class Faults:
    """The statements Database.inject_fault() made fail, and the checks that fail them."""

    def __init__(self, dialect: str):
        self.dialect = dialect
        self.rules: list[list] = []  # [compiled pattern, times left or None, error or None]
        self._lock = threading.Lock()

    def add(self, matching: str, times: int | None, error: Exception | None) -> None:
        with self._lock:
            self.rules.append([re.compile(matching, re.IGNORECASE | re.DOTALL), times, error])

    def check(self, statement: str) -> None:
        with self._lock:
            for rule in self.rules:
                pattern, times, error = rule
                if pattern.search(statement):
                    if times is not None:
                        rule[1] = times - 1
                        if rule[1] <= 0:
                            self.rules.remove(rule)
                    break
            else:
                return
        raise error if error is not None else self._driver_error()

    def _driver_error(self) -> Exception:
        if self.dialect == "postgresql":
            import psycopg

            return psycopg.OperationalError("the database stopped answering (injected fault)")
        import sqlite3

        return sqlite3.OperationalError("database is locked (injected fault)")

    def before_execute(self, conn, cursor, statement, parameters, context, executemany):
        if self.rules:
            self.check(statement)

    def wrap(self, cursor):
        """The hot paths' driver cursor, checked too while a fault is injected."""
        return type(cursor)(_CheckedCursor(cursor.cursor, self), cursor.dialect) if self.rules else cursor


class _CheckedCursor:
    def __init__(self, cursor, faults: Faults):
        self._cursor, self._faults = cursor, faults

    def execute(self, statement, *args, **kwargs):
        self._faults.check(statement)
        return self._cursor.execute(statement, *args, **kwargs)

    def executemany(self, statement, *args, **kwargs):
        self._faults.check(statement)
        return self._cursor.executemany(statement, *args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._cursor, name)
