"""People's Slack profiles as the bot last saw them: display name and time zone."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlmodel import Session, select

from storage import sql
from storage.models import (
    UserProfile,
)


def user_profile(session: Session, user_id: str) -> UserProfile | None:
    return session.get(UserProfile, user_id)


def user_names(session: Session, user_ids: Iterable[str]) -> dict[str, str]:
    ids = sorted(set(user_ids))
    if not ids:
        return {}
    rows = session.exec(select(UserProfile).where(UserProfile.user_id.in_(ids)))
    return {p.user_id: p.name for p in rows if p.name}


def put_user_profile(session: Session, user_id: str, tz: str | None, name: str | None, now: datetime) -> None:
    values = {"user_id": user_id, "tz": tz, "name": name, "fetched_at": now}
    stmt = sql.insert_for(session, UserProfile).values(**values)
    stmt = stmt.on_conflict_do_update(
        index_elements=["user_id"], set_={"tz": tz, "name": name, "fetched_at": now}
    )
    session.execute(stmt)

