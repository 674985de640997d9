"""Small SQL helpers the aggregates share: dialect-aware inserts that ignore conflicts, row locks,
and the order of Slack timestamps."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session


def dialect(conn) -> str:
    """The dialect of a Session or a Core Connection (the hot paths use Connections)."""
    dialect = getattr(conn, "dialect", None)
    return (dialect or conn.get_bind().dialect).name


def insert_for(session: Session, model):
    table = model.__table__
    if dialect(session) == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def insert_ignoring_conflict(conn, model, values: dict, conflict: Sequence[str]) -> bool:
    """INSERT … ON CONFLICT DO NOTHING. True when the row was inserted.

    Decided by RETURNING, not rowcount: with RETURNING, SQLAlchemy reports rowcount -1 on PostgreSQL.
    """
    stmt = (
        insert_for(conn, model)
        .values(**values)
        .on_conflict_do_nothing(index_elements=list(conflict))
        .returning(*model.__table__.primary_key.columns)
    )
    return conn.execute(stmt).first() is not None


def _ts_key(ts: str | None) -> tuple[int, int]:
    """Slack ts strings compare as numbers ("1700000000.000100")."""
    if not ts:
        return (-1, -1)
    whole, _, fraction = ts.partition(".")
    return (int(whole), int((fraction or "0").ljust(6, "0")[:6]))


def newer(ts: str | None, than: str | None) -> bool:
    return _ts_key(ts) > _ts_key(than)


def locked(conn, stmt):
    """SELECT … FOR UPDATE on PostgreSQL; SQLite's write transaction already excludes other writers."""
    return stmt.with_for_update() if dialect(conn) == "postgresql" else stmt

