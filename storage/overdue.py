"""What the reminder sweep looks at: open action items that may be overdue, and resolved incidents
whose commander is owed a postmortem nudge."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Session, select

from storage import sql
from storage.models import (
    ActionItem,
    Incident,
    Milestone,
    PostmortemDraft,
    UserProfile,
)


@dataclass(frozen=True)
class ReminderCandidate:
    """An open, overdue-looking item with what its reminder needs (plain values)."""

    item_id: int
    incident_id: int
    text: str  # Slack-encoded
    owner_id: str | None
    due: date
    snoozed_until: datetime | None
    reminded_at: datetime | None
    commander_id: str | None
    channel_id: str | None
    incident_title: str
    recipient_tz: str | None  # the owner's stored Slack zone (the commander's for an ownerless item)


def _unclaimed(now: datetime):
    return sa.or_(ActionItem.reminder_lease_until.is_(None), ActionItem.reminder_lease_until < now)


def _remindable(now: datetime, reminded_before: datetime):
    return (
        ActionItem.status == "open",
        ActionItem.due.is_not(None),
        sa.or_(ActionItem.snoozed_until.is_(None), ActionItem.snoozed_until <= now),
        sa.or_(ActionItem.reminded_at.is_(None), ActionItem.reminded_at <= reminded_before),
        _unclaimed(now),
    )


def reminder_candidates(session: Session, now: datetime, latest_due: date, reminded_before: datetime,
                        ) -> list[ReminderCandidate]:
    """Unclaimed open items due on or before `latest_due`, not snoozed at `now`, and not reminded
    after `reminded_before`, oldest due first. (The caller decides which are overdue where.)"""
    item, incident, profile = ActionItem.__table__, Incident.__table__, UserProfile.__table__
    recipient = sa.func.coalesce(item.c.owner_id, incident.c.commander_id)
    stmt = (
        sa.select(item.c.id, item.c.incident_id, item.c.text, item.c.owner_id, item.c.due, item.c.snoozed_until,
                  item.c.reminded_at, incident.c.commander_id, incident.c.channel_id, incident.c.title,
                  profile.c.tz)
        .select_from(item.join(incident, incident.c.id == item.c.incident_id)
                     .outerjoin(profile, profile.c.user_id == recipient))
        .where(item.c.due <= latest_due, *_remindable(now, reminded_before))
        .order_by(item.c.due, item.c.id)
    )
    return [ReminderCandidate(*row) for row in session.execute(stmt)]


def claim_reminders(session: Session, item_ids: Sequence[int], owner: str, now: datetime, lease_until: datetime,
                    reminded_before: datetime) -> list[int]:
    """Lease these items for one reminder, if they still need one. Returns the ids this caller got."""
    if not item_ids:
        return []
    chosen = select(ActionItem.id).where(ActionItem.id.in_(list(item_ids)), *_remindable(now, reminded_before))
    if sql.dialect(session) == "postgresql":
        chosen = chosen.with_for_update(skip_locked=True)
    stmt = (
        sa.update(ActionItem)
        .where(ActionItem.id.in_(chosen.scalar_subquery()), *_remindable(now, reminded_before))
        .values(reminder_lease_until=lease_until, reminder_lease_owner=owner)
        .returning(ActionItem.id)
    )
    return sorted(row[0] for row in session.execute(stmt))


def record_reminded(session: Session, item_ids: Sequence[int], owner: str, now: datetime) -> int:
    """The DM about these items was sent: remember when, and let go of the lease."""
    result = session.execute(
        sa.update(ActionItem)
        .where(ActionItem.id.in_(list(item_ids)), ActionItem.reminder_lease_owner == owner)
        .values(reminded_at=now, reminder_lease_until=None, reminder_lease_owner=None)
    )
    return result.rowcount or 0


def release_reminders(session: Session, item_ids: Sequence[int], owner: str) -> int:
    """The DM failed: give the items back (reminded_at unchanged) so the next sweep tries again."""
    result = session.execute(
        sa.update(ActionItem)
        .where(ActionItem.id.in_(list(item_ids)), ActionItem.reminder_lease_owner == owner)
        .values(reminder_lease_until=None, reminder_lease_owner=None)
    )
    return result.rowcount or 0


@dataclass(frozen=True)
class Nudge:
    """A resolved incident whose commander is to be reminded that no postmortem draft exists."""

    incident_id: int
    commander_id: str
    channel_id: str | None
    title: str
    resolved_at: datetime


def claim_nudges(session: Session, owner: str, now: datetime, lease_until: datetime, resolved_before: datetime,
                 limit: int = 100) -> list[Nudge]:
    """Lease the postmortem nudges that are due: resolved at or before `resolved_before`, no draft,
    a commander, never nudged. Concurrent callers never get the same incident."""
    resolved = (
        select(Milestone.incident_id)
        .where(Milestone.name == "resolved", Milestone.at <= resolved_before)
    )
    has_draft = sa.exists().where(PostmortemDraft.incident_id == Incident.id)
    conditions = (
        Incident.status == "resolved",
        Incident.nudged_at.is_(None),
        Incident.commander_id.is_not(None),
        sa.or_(Incident.nudge_lease_until.is_(None), Incident.nudge_lease_until < now),
        Incident.id.in_(resolved),
        ~has_draft,
    )
    chosen = select(Incident.id).where(*conditions).order_by(Incident.id).limit(limit)
    if sql.dialect(session) == "postgresql":
        chosen = chosen.with_for_update(skip_locked=True)
    stmt = (
        sa.update(Incident)
        .where(Incident.id.in_(chosen.scalar_subquery()), *conditions)
        .values(nudge_lease_until=lease_until, nudge_lease_owner=owner)
        .returning(Incident.id)
    )
    ids = sorted(row[0] for row in session.execute(stmt))
    if not ids:
        return []
    rows = session.execute(
        sa.select(Incident.id, Incident.commander_id, Incident.channel_id, Incident.title, Milestone.at)
        .join(Milestone, sa.and_(Milestone.incident_id == Incident.id, Milestone.name == "resolved"))
        .where(Incident.id.in_(ids)).order_by(Incident.id)
    )
    return [Nudge(*row) for row in rows]


def record_nudged(session: Session, incident_id: int, owner: str, now: datetime) -> int:
    result = session.execute(
        sa.update(Incident).where(Incident.id == incident_id, Incident.nudge_lease_owner == owner)
        .values(nudged_at=now, nudge_lease_until=None, nudge_lease_owner=None)
    )
    return result.rowcount or 0


def release_nudge(session: Session, incident_id: int, owner: str) -> int:
    result = session.execute(
        sa.update(Incident).where(Incident.id == incident_id, Incident.nudge_lease_owner == owner)
        .values(nudge_lease_until=None, nudge_lease_owner=None)
    )
    return result.rowcount or 0

