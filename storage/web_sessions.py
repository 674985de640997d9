"""When each person last signed out of the web view (bot/web/sessions.py): a session that began
before then is over, wherever its cookie went."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from storage import sql
from storage.models import WebSignOut


def signed_out(session: Session, user_id: str, at: datetime) -> None:
    stmt = sql.insert_for(session, WebSignOut).values(user_id=user_id, signed_out_at=at).on_conflict_do_update(
        index_elements=["user_id"], set_={"signed_out_at": at})
    session.execute(stmt)


def last_sign_out(session: Session, user_id: str) -> datetime | None:
    row = session.get(WebSignOut, user_id)
    return row.signed_out_at if row is not None else None
