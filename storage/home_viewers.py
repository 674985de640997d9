"""Who opened the bot's Home tab, and which page of each list they are looking at (bot/home_tab.py)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, select

from storage import sql
from storage.models import HomeViewer

PAGES = ("incidents_page", "items_page")


def remember_opened(session: Session, user_id: str, now: datetime) -> None:
    """They opened the Home tab: remember it, and show the first page of every list again."""
    values = {"user_id": user_id, "opened_at": now, "incidents_page": 0, "items_page": 0}
    stmt = sql.insert_for(session, HomeViewer).values(**values).on_conflict_do_update(
        index_elements=["user_id"], set_={"opened_at": now, "incidents_page": 0, "items_page": 0})
    session.execute(stmt)


def viewer(session: Session, user_id: str) -> HomeViewer | None:
    return session.get(HomeViewer, user_id)


def set_page(session: Session, user_id: str, which: str, page: int) -> bool:
    """Move one of a viewer's lists to `page`. False when they never opened the Home tab."""
    if which not in PAGES:
        raise ValueError(f"no such list: {which!r}")
    result = session.execute(
        sa.update(HomeViewer).where(HomeViewer.user_id == user_id).values({which: max(0, page)})
        .returning(HomeViewer.user_id))
    return result.first() is not None


def viewers_among(session: Session, user_ids: Iterable[str], opened_since: datetime) -> list[str]:
    """Those of `user_ids` who opened the Home tab at or after `opened_since`, in id order."""
    ids = sorted({u for u in user_ids if u})
    if not ids:
        return []
    return list(session.exec(select(HomeViewer.user_id).where(
        HomeViewer.user_id.in_(ids), HomeViewer.opened_at >= opened_since).order_by(HomeViewer.user_id)))


def any_since(session: Session, opened_since: datetime) -> bool:
    """Whether anyone opened the Home tab at or after `opened_since`."""
    return session.exec(select(HomeViewer.user_id).where(HomeViewer.opened_at >= opened_since).limit(1)).first() \
        is not None


def recent_viewers(session: Session, opened_since: datetime) -> list[str]:
    """Everyone who opened the Home tab at or after `opened_since`, in id order."""
    return list(session.exec(select(HomeViewer.user_id).where(HomeViewer.opened_at >= opened_since)
                             .order_by(HomeViewer.user_id)))
