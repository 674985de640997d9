"""What the reminder sweep looks at: open action items that may be overdue, and resolved incidents
whose commander is owed a postmortem nudge; and the record that a reminder or nudge went out."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Session

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
    # its tracker issue (bot/tracker_items.py shows it)
    tracker: str | None = None
    tracker_key: str | None = None
    tracker_url: str | None = None
    tracker_error: str | None = None


def _remindable(now: datetime, reminded_before: datetime):
    return (
        ActionItem.status == "open",
        ActionItem.due.is_not(None),
        sa.or_(ActionItem.snoozed_until.is_(None), ActionItem.snoozed_until <= now),
        sa.or_(ActionItem.reminded_at.is_(None), ActionItem.reminded_at <= reminded_before),
    )


def reminder_candidates(session: Session, now: datetime, latest_due: date, reminded_before: datetime,
                        item_ids: Collection[int] | None = None) -> list[ReminderCandidate]:
    """Open items due on or before `latest_due`, not snoozed at `now`, and not reminded after
    `reminded_before`, oldest due first; only those of `item_ids` when given. (The caller decides which
    are overdue where.)"""
    item, incident, profile = ActionItem.__table__, Incident.__table__, UserProfile.__table__
    recipient = sa.func.coalesce(item.c.owner_id, incident.c.commander_id)
    stmt = (
        sa.select(item.c.id, item.c.incident_id, item.c.text, item.c.owner_id, item.c.due, item.c.snoozed_until,
                  item.c.reminded_at, incident.c.commander_id, incident.c.channel_id, incident.c.title,
                  profile.c.tz, item.c.tracker, item.c.tracker_key, item.c.tracker_url, item.c.tracker_error)
        .select_from(item.join(incident, incident.c.id == item.c.incident_id)
                     .outerjoin(profile, profile.c.user_id == recipient))
        .where(item.c.due <= latest_due, *_remindable(now, reminded_before))
        .order_by(item.c.due, item.c.id)
    )
    if item_ids is not None:
        stmt = stmt.where(item.c.id.in_(list(item_ids)))
    return [ReminderCandidate(*row) for row in session.execute(stmt)]


def record_reminded(session: Session, item_ids: Collection[int], now: datetime) -> int:
    """The DM about these items was sent: the next reminder waits REMINDER_REPEAT_HOURS from `now`."""
    result = session.execute(
        sa.update(ActionItem).where(ActionItem.id.in_(list(item_ids))).values(reminded_at=now)
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


def nudges_due(session: Session, resolved_before: datetime, *, incident_id: int | None = None,
               limit: int = 100) -> list[Nudge]:
    """The postmortem nudges that are due: resolved at or before `resolved_before`, no draft, a
    commander, never nudged (only `incident_id`'s, when given)."""
    has_draft = sa.exists().where(PostmortemDraft.incident_id == Incident.id)
    stmt = (
        sa.select(Incident.id, Incident.commander_id, Incident.channel_id, Incident.title, Milestone.at)
        .join(Milestone, sa.and_(Milestone.incident_id == Incident.id, Milestone.name == "resolved"))
        .where(
            Incident.status == "resolved",
            Incident.nudged_at.is_(None),
            Incident.commander_id.is_not(None),
            Milestone.at <= resolved_before,
            ~has_draft,
        )
        .order_by(Incident.id)
        .limit(limit)
    )
    if incident_id is not None:
        stmt = stmt.where(Incident.id == incident_id)
    return [Nudge(*row) for row in session.execute(stmt)]


def record_nudged(session: Session, incident_id: int, now: datetime) -> int:
    """The commander was DMed: never again for this incident."""
    result = session.execute(
        sa.update(Incident).where(Incident.id == incident_id, Incident.nudged_at.is_(None)).values(nudged_at=now)
    )
    return result.rowcount or 0
