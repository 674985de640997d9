"""Reads that only tests need: what is waiting in the outbox, how many drafts are stored."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import Session, select

from storage.models import OutboxJob, PostmortemDraft


def pending_jobs(session: Session, kind: str | None = None) -> list[OutboxJob]:
    stmt = select(OutboxJob).where(OutboxJob.done_at.is_(None)).order_by(OutboxJob.id)
    if kind:
        stmt = stmt.where(OutboxJob.kind == kind)
    return list(session.exec(stmt))


def draft_count(session: Session, incident_id: int) -> int:
    return session.execute(
        select(sa.func.count()).select_from(PostmortemDraft).where(PostmortemDraft.incident_id == incident_id)
    ).scalar() or 0
