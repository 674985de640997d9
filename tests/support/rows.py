"""Reads that only tests need: what is waiting in the outbox, how many drafts are stored."""

from __future__ import annotations

from datetime import UTC

import sqlalchemy as sa
from sqlmodel import Session, select

from storage.models import OutboxJob, PostmortemDraft


def pending_jobs(session: Session, kind: str | None = None) -> list[OutboxJob]:
    stmt = select(OutboxJob).where(OutboxJob.done_at.is_(None)).order_by(OutboxJob.id)
    if kind:
        stmt = stmt.where(OutboxJob.kind == kind)
    return list(session.exec(stmt))


def retry_waits(bot, clock, kind: str, limit: int = 40) -> list[float]:
    """Drain until the one job of `kind` is finished or given up, moving `clock` (which has `.now`) to each
    retry: the seconds waited between its attempts."""
    waits: list[float] = []
    for _ in range(limit):
        bot.drain()
        with bot.db.read() as session:
            job = session.exec(select(OutboxJob).where(OutboxJob.kind == kind)).one()
        if job.done_at is not None or job.last_error is None:
            break
        at = job.next_attempt_at if job.next_attempt_at.tzinfo else job.next_attempt_at.replace(tzinfo=UTC)
        if at <= clock():
            break
        waits.append((at - clock()).total_seconds())
        clock.now = at
    return waits


def draft_count(session: Session, incident_id: int) -> int:
    return session.execute(
        select(sa.func.count()).select_from(PostmortemDraft).where(PostmortemDraft.incident_id == incident_id)
    ).scalar() or 0
