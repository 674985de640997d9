"""Stored postmortem drafts, one row per version."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, select

from storage import sql
from storage.models import (
    PostmortemDraft,
)


def latest_draft_version(session: Session, incident_id: int) -> int:
    """The newest stored version of an incident's draft (0 when there is none)."""
    return session.execute(
        select(sa.func.max(PostmortemDraft.version)).where(PostmortemDraft.incident_id == incident_id)
    ).scalar() or 0


def add_draft(session: Session, incident_id: int, version: int, template: str, markdown: str, by: str | None,
              now: datetime) -> PostmortemDraft | None:
    """Store a rendered draft as `version`; None when that version was taken meanwhile (a concurrent draft)."""
    values = {"incident_id": incident_id, "version": version, "template": template, "markdown": markdown,
              "created_by": by, "created_at": now}
    if not sql.insert_ignoring_conflict(session, PostmortemDraft, values, ["incident_id", "version"]):
        return None
    return session.exec(select(PostmortemDraft).where(PostmortemDraft.incident_id == incident_id,
                                                      PostmortemDraft.version == version)).one()


def draft(session: Session, draft_id: int) -> PostmortemDraft | None:
    return session.get(PostmortemDraft, draft_id)


def set_draft_file(session: Session, draft_id: int, file_id: str) -> None:
    session.execute(sa.update(PostmortemDraft).where(PostmortemDraft.id == draft_id).values(file_id=file_id))



def latest_draft(session: Session, incident_id: int) -> PostmortemDraft | None:
    """The newest stored draft of an incident (None when there is none)."""
    return session.exec(select(PostmortemDraft).where(PostmortemDraft.incident_id == incident_id)
                        .order_by(PostmortemDraft.version.desc()).limit(1)).first()
