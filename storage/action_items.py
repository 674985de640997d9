"""Action items: adding, listing, closing and snoozing them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, select

from storage import sql
from storage.models import (
    ActionItem,
)


def add_action_item(session: Session, item: ActionItem) -> ActionItem | None:
    """Store a new item. With a `source_key` already used (a repeated submission), returns None."""
    if item.source_key is None:
        session.add(item)
        session.flush()
        return item
    values = item.model_dump(exclude={"id"})
    if not sql.insert_ignoring_conflict(session, ActionItem, values, ["source_key"]):
        return None  # the same submission, again (or at the same moment, from another replica)
    return session.exec(select(ActionItem).where(ActionItem.source_key == item.source_key)).one()


def action_items(session: Session, incident_id: int) -> list[ActionItem]:
    """An incident's action items in the order they were created."""
    return list(session.exec(
        select(ActionItem).where(ActionItem.incident_id == incident_id).order_by(ActionItem.id)
    ))


def action_items_by_id(session: Session, item_ids: Sequence[int]) -> dict[int, ActionItem]:
    """These items as they are now, by id (an id with no item is left out)."""
    if not item_ids:
        return {}
    rows = session.exec(select(ActionItem).where(ActionItem.id.in_(list(item_ids))))
    return {item.id: item for item in rows}


def close_action_item(session: Session, item_id: int, by: str, now: datetime, status: str = "done",
                      ) -> tuple[ActionItem | None, bool]:
    """Close an open item as `done` or `dropped` (neither is reminded again). Returns (the item as it
    now is, whether this call closed it)."""
    if status not in ("done", "dropped"):
        raise ValueError(f"an action item is closed as done or dropped, not {status!r}")
    result = session.execute(
        sa.update(ActionItem).where(ActionItem.id == item_id, ActionItem.status == "open")
        .values(status=status, closed_at=now, closed_by=by).returning(ActionItem.id)
    )
    changed = result.first() is not None
    session.expire_all()
    return session.get(ActionItem, item_id), changed


def snooze_action_item(session: Session, item_id: int, until: datetime) -> tuple[ActionItem | None, bool]:
    """Hold an open item's reminders until `until`. Returns (the item, whether it was snoozed)."""
    result = session.execute(
        sa.update(ActionItem).where(ActionItem.id == item_id, ActionItem.status == "open")
        .values(snoozed_until=until).returning(ActionItem.id)
    )
    changed = result.first() is not None
    session.expire_all()
    return session.get(ActionItem, item_id), changed



def open_items_of(session: Session, owner_id: str, offset: int, limit: int) -> tuple[list[ActionItem], int]:
    """(a page of the open items `owner_id` owns, soonest due first and undated last; how many in all)."""
    mine = (ActionItem.owner_id == owner_id, ActionItem.status == "open")
    total = session.execute(sa.select(sa.func.count()).select_from(ActionItem).where(*mine)).scalar() or 0
    page = list(session.exec(select(ActionItem).where(*mine)
                             .order_by(ActionItem.due.is_(None), ActionItem.due, ActionItem.id)
                             .offset(offset).limit(limit)))
    return page, total
# ---------------------------------------------------------------------------------------------
# the item's issue in the tracker (bot/jobs/trackers.py)


def mark_tracker_tried(session: Session, item_id: int, tracker: str, now: datetime) -> None:
    """A create is about to be sent: a later attempt must search for its issue before creating again."""
    session.execute(sa.update(ActionItem).where(ActionItem.id == item_id, ActionItem.tracker_key.is_(None))
                    .values(tracker=tracker, tracker_tried_at=now))


def set_tracker_issue(session: Session, item_id: int, tracker: str, key: str, url: str, state: str,
                      ) -> ActionItem | None:
    """The item's issue exists: remember it (and forget any earlier failure)."""
    session.execute(sa.update(ActionItem).where(ActionItem.id == item_id).values(
        tracker=tracker, tracker_key=key, tracker_url=url, tracker_state=state, tracker_error=None))
    session.expire_all()
    return session.get(ActionItem, item_id)


def set_tracker_error(session: Session, item_id: int, error: str | None) -> None:
    """The create failed for good (None: it is being tried again)."""
    session.execute(sa.update(ActionItem).where(ActionItem.id == item_id, ActionItem.tracker_key.is_(None))
                    .values(tracker_error=error[:500] if error else None))


def set_tracker_state(session: Session, item_id: int, state: str) -> None:
    session.execute(sa.update(ActionItem).where(ActionItem.id == item_id).values(tracker_state=state))


def item_by_tracker_key(session: Session, tracker: str, key: str) -> ActionItem | None:
    return session.exec(select(ActionItem).where(ActionItem.tracker == tracker, ActionItem.tracker_key == key)
                        .order_by(ActionItem.id)).first()


def tracked_items(session: Session, tracker: str, closed_since: datetime, limit: int = 1000) -> list[ActionItem]:
    """Items with an issue in `tracker` whose state may still change on either side: the open items,
    closed items whose issue was last seen open (the close has not got there), and items closed since
    `closed_since` (their issue may be reopened there). At most `limit`, the ones a poll read least
    recently first (never read first, then newest first): with `mark_polled`, successive polls take
    turns through all of them however many there are."""
    return list(session.exec(
        select(ActionItem).where(ActionItem.tracker == tracker, ActionItem.tracker_key.is_not(None),
                                 sa.or_(ActionItem.status == "open", ActionItem.tracker_state == "open",
                                        ActionItem.closed_at >= closed_since))
        .order_by(ActionItem.tracker_polled_at.asc().nulls_first(), ActionItem.id.desc()).limit(limit)))


def mark_polled(session: Session, item_ids: list[int], now: datetime) -> None:
    """A poll asked the tracker about these items' issues: they go to the back of the line."""
    for start in range(0, len(item_ids), 500):
        session.execute(sa.update(ActionItem).where(ActionItem.id.in_(item_ids[start:start + 500]))
                        .values(tracker_polled_at=now))


def reopen_action_item(session: Session, item_id: int) -> tuple[ActionItem | None, bool]:
    """Open a closed item again (its issue was reopened in the tracker). Returns (item, whether changed)."""
    result = session.execute(
        sa.update(ActionItem).where(ActionItem.id == item_id, ActionItem.status != "open")
        .values(status="open", closed_at=None, closed_by=None, reminded_at=None).returning(ActionItem.id)
    )
    changed = result.first() is not None
    session.expire_all()
    return session.get(ActionItem, item_id), changed
