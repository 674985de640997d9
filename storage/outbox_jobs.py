"""The outbox table: jobs queued in the caller's transaction, leased by one drainer at a time,
finished, retried or given up (bot/outbox.py runs them)."""

from __future__ import annotations

import json
from collections.abc import Collection
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, select

from storage import driver_sql, sql
from storage.db import JOBS_QUEUED
from storage.models import (
    OutboxJob,
    UTCDateTime,
)


def enqueue(
    session: Session,
    kind: str,
    payload: dict,
    now: datetime,
    *,
    coalesce_key: str | None = None,
    delay: timedelta = timedelta(0),
) -> None:
    """Add a Slack side effect to the outbox (in the caller's transaction, so it commits with it).

    With a `coalesce_key`, a job with the same key that is still waiting absorbs this one: a header
    refresh queued twice before it runs is done once, reading the state current when it runs.
    The outbox is woken when the transaction commits (storage.db.JOBS_QUEUED).
    """
    session.info[JOBS_QUEUED] = True
    if coalesce_key is not None:
        due = sa.literal(now + delay, UTCDateTime)
        waiting = session.execute(
            sa.update(OutboxJob)
            .where(
                OutboxJob.coalesce_key == coalesce_key,
                OutboxJob.done_at.is_(None),
                OutboxJob.lease_until.is_(None),
            )
            .values(next_attempt_at=sa.case((OutboxJob.next_attempt_at > due, due), else_=OutboxJob.next_attempt_at))
            .returning(OutboxJob.id)
        )
        if waiting.first() is not None:
            return
    session.add(
        OutboxJob(
            kind=kind,
            payload=json.dumps(payload),
            coalesce_key=coalesce_key,
            next_attempt_at=now + delay,
            created_at=now,
        )
    )
    session.flush()


def enqueue_once(session: Session, kind: str, payload: dict, now: datetime, key: str) -> bool:
    """Add a job unless an unfinished job with the same idempotency `key` exists. True when added.

    One INSERT … ON CONFLICT DO NOTHING against a unique index on the key of unfinished jobs: callers
    racing in several processes add one job between them. Once that job is done (or given up), the key
    is free again.
    """
    stmt = (
        sql.insert_for(session, OutboxJob)
        .values(kind=kind, payload=json.dumps(payload), idempotency_key=key, attempts=0, failed=False,
                next_attempt_at=now, created_at=now)
        .on_conflict_do_nothing(index_elements=["idempotency_key"], index_where=OutboxJob.done_at.is_(None))
        .returning(OutboxJob.id)
    )
    added = session.execute(stmt).first() is not None
    if added:
        session.info[JOBS_QUEUED] = True
    return added


def claim_jobs(session: Session, owner: str, now: datetime, lease: timedelta, limit: int, *,
               kinds: Collection[str] | None = None, exclude: Collection[str] = ()) -> list[sa.Row]:
    """Atomically lease due jobs for `owner`: of `kinds` (None: any) but not of `exclude`.
    Concurrent claimers never get the same job. Returns each job's id, kind, payload and attempts
    (counting this one), in the order they were queued."""
    due = (
        select(OutboxJob.id)
        .where(OutboxJob.done_at.is_(None))
        .where(OutboxJob.next_attempt_at <= now)
        .where(sa.or_(OutboxJob.lease_until.is_(None), OutboxJob.lease_until < now))
        .order_by(OutboxJob.next_attempt_at, OutboxJob.id)
        .limit(limit)
    )
    if kinds is not None:
        due = due.where(OutboxJob.kind.in_(list(kinds)))
    if exclude:
        due = due.where(OutboxJob.kind.not_in(list(exclude)))
    if sql.dialect(session) == "postgresql":
        # A CTE that is computed once. As `id IN (SELECT … LIMIT n FOR UPDATE SKIP LOCKED)`, PostgreSQL
        # may run the subquery again for each row it updates; each run skips the rows this statement
        # already updated and returns the next n, so one claim leased every due job, whatever `limit`.
        chosen = due.with_for_update(skip_locked=True).cte("due").prefix_with("MATERIALIZED")
        due = select(chosen.c.id)
    stmt = (
        sa.update(OutboxJob)
        .where(OutboxJob.id.in_(due.scalar_subquery()))
        .values(lease_until=now + lease, lease_owner=owner, attempts=OutboxJob.attempts + 1)
        .returning(OutboxJob.id, OutboxJob.kind, OutboxJob.payload, OutboxJob.attempts)
    )
    if sql.dialect(session) == "postgresql":
        # checked again on the rows themselves, after any wait for their locks. Not on SQLite, where the
        # statement runs in a write transaction nothing else can enter: there these conditions made the
        # planner walk every unfinished job (ix_outbox_due) instead of the ten it chose, so each claim
        # cost as much as the backlog was long (a Slack outage, a burst of posts)
        stmt = stmt.where(OutboxJob.done_at.is_(None)).where(
            sa.or_(OutboxJob.lease_until.is_(None), OutboxJob.lease_until < now))
    return sorted(session.execute(stmt).all(), key=lambda job: job.id)


# The one write every job makes: hand-written, on a driver cursor (storage.db.Database.hot_write), as
# it costs a SQLAlchemy session several times the statement, and a busy outbox finishes jobs as fast as
# `/incident log` entries arrive (each is posted in the channel).
_FINISH = "UPDATE outbox SET done_at = :now, lease_until = NULL, last_error = NULL WHERE id = :id AND lease_owner = :owner"
_FINISH_SQL = {dialect: driver_sql._for(dialect, _FINISH) for dialect in ("sqlite", "postgresql")}


def finish_job(conn, job_id: int, owner: str, now: datetime) -> None:
    """`conn` is a storage.db.Cursor: `db.hot_write(lambda conn: finish_job(conn, ...))`."""
    conn.cursor.execute(_FINISH_SQL[conn.dialect], {"id": job_id, "owner": owner,
                                                     "now": driver_sql.bind_time(conn.dialect, now)})


def retry_job(
    session: Session, job_id: int, owner: str, error: str, retry_at: datetime | None, now: datetime
) -> None:
    """Release a job after a failure: try again at `retry_at`, or give up when it is None."""
    values: dict = {"lease_until": None, "last_error": error[:2000]}
    if retry_at is None:
        values.update(done_at=now, failed=True)
    else:
        values.update(next_attempt_at=retry_at)
    session.execute(
        sa.update(OutboxJob).where(OutboxJob.id == job_id, OutboxJob.lease_owner == owner).values(**values)
    )


def postpone_job(session: Session, job_id: int, owner: str, retry_at: datetime) -> None:
    """Release a job to run again later without counting the attempt."""
    session.execute(
        sa.update(OutboxJob)
        .where(OutboxJob.id == job_id, OutboxJob.lease_owner == owner)
        .values(lease_until=None, next_attempt_at=retry_at, attempts=OutboxJob.attempts - 1)
    )


def give_back_jobs(session: Session, job_ids: Collection[int], owner: str) -> None:
    """Release leased jobs that were not started, without counting the attempt."""
    session.execute(
        sa.update(OutboxJob)
        .where(OutboxJob.id.in_(list(job_ids)), OutboxJob.lease_owner == owner, OutboxJob.done_at.is_(None))
        .values(lease_until=None, attempts=OutboxJob.attempts - 1)
    )


def forget_jobs_done_before(session: Session, cutoff: datetime) -> int:
    result = session.execute(
        sa.delete(OutboxJob).where(OutboxJob.done_at.is_not(None), OutboxJob.done_at < cutoff)
    )
    return result.rowcount or 0

