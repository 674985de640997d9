"""Published postmortems: the branch, file and pull request of each incident's postmortem."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from storage import sql
from storage.models import PostmortemPublication


def publication(session: Session, incident_id: int) -> PostmortemPublication | None:
    return session.get(PostmortemPublication, incident_id)


def claim_publication(session: Session, incident_id: int, repo: str, path: str, branch: str) -> PostmortemPublication:
    """The incident's publication, created with this path and branch the first time (later publishes
    keep the first path and branch, even if the title changed)."""
    sql.insert_ignoring_conflict(session, PostmortemPublication,
                                 {"incident_id": incident_id, "repo": repo, "path": path, "branch": branch},
                                 ["incident_id"])
    return session.get(PostmortemPublication, incident_id)


def record_published(session: Session, incident_id: int, pr_number: int, pr_url: str, version: int,
                     by: str | None, now: datetime) -> None:
    row = session.get(PostmortemPublication, incident_id)
    row.pr_number, row.pr_url, row.draft_version, row.published_by, row.published_at = pr_number, pr_url, version, by, now
    session.add(row)
