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
