"""A fresh, empty PostgreSQL database for one bench run, and dropping it afterwards.

The server is TEST_POSTGRES_URL (default: the local test server); the database is named after the
bench and the process (`incident_bot_<label>_bench_<pid>`), dropped first if a run before left it.
"""

from __future__ import annotations

import os

import sqlalchemy as sa

from storage.db import normalise_url


def _server() -> str:
    return os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def fresh_postgres(label: str) -> tuple[str, str]:
    """(the new database's URL, its name)."""
    base = _server()
    name = f"incident_bot_{label}_bench_{os.getpid()}"
    admin = sa.create_engine(normalise_url(base), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    return base.rsplit("/", 1)[0] + "/" + name, name


def drop_postgres(name: str, *, force: bool = False) -> None:
    """Drop the database; `force` ends the connections still open to it first."""
    admin = sa.create_engine(normalise_url(_server()), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"' + (" WITH (FORCE)" if force else ""))
    admin.dispose()
