"""Incidents and what hangs off one row: milestones, roles, the header lease, the prompts flag.
The rule "this incident still captures" is defined once, here (`STILL_CAPTURES`)."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, select

from storage import sql
from storage.models import (
    Activity,
    Entry,
    Incident,
    Milestone,
    Role,
    UTCDateTime,
)

# "This incident still captures": it takes new entries while it is not resolved, and for a number of
# days (CAPTURE_AFTER_RESOLVED_DAYS) after it was. The rule is written once, as SQL over `incident`
# joined to its `resolved` milestone, and every query that needs it (here and the acknowledgement
# path's hand-written statements in storage/capture_sql.py) uses these two strings.
WITH_RESOLVED = ("incident LEFT OUTER JOIN milestone AS resolved "
                 "ON resolved.incident_id = incident.id AND resolved.name = 'resolved'")
STILL_CAPTURES = "(incident.status <> 'resolved' OR resolved.at IS NULL OR resolved.at >= :capture_cutoff)"
# A channel can hold several incidents over time (`INCIDENT_CHANNEL_MODE=current`); only its newest
# one takes what is said there, which the per-channel statements get by `max(id)` for that channel.
NEWEST_IN_ITS_CHANNEL = ("incident.id = (SELECT max(newest.id) FROM incident AS newest "
                         "WHERE newest.channel_id = incident.channel_id)")


def capture_cutoff(now: datetime, days_after_resolved: int) -> datetime:
    """Incidents resolved before this moment no longer capture."""
    return now - timedelta(days=days_after_resolved)


def incident_by_number(session: Session, number: int) -> Incident | None:
    return session.get(Incident, number)


def capturing_incident(session, channel_id: str, now: datetime, days_after_resolved: int) -> int | None:
    """The channel's incident if it still takes entries, else None."""
    stmt = sa.text(
        f"SELECT incident.id FROM {WITH_RESOLVED} "
        "WHERE incident.id = (SELECT max(id) FROM incident WHERE channel_id = :channel_id) "
        f"AND {STILL_CAPTURES}"
    ).bindparams(sa.bindparam("capture_cutoff", type_=UTCDateTime))
    return session.execute(
        stmt, {"channel_id": channel_id, "capture_cutoff": capture_cutoff(now, days_after_resolved)}).scalar()


def list_incidents(session: Session, *, open_only: bool = False) -> list[Incident]:
    stmt = select(Incident).order_by(Incident.id)
    if open_only:
        stmt = stmt.where(Incident.status != "resolved")
    return list(session.exec(stmt))


def open_incident_channels(session: Session, capture_cutoff: datetime) -> list[tuple[int, str]]:
    """(incident, channel) for every channel whose newest incident still captures."""
    stmt = sa.text(
        f"SELECT incident.id, incident.channel_id FROM {WITH_RESOLVED} "
        f"WHERE incident.channel_id IS NOT NULL AND {NEWEST_IN_ITS_CHANNEL} AND {STILL_CAPTURES} "
        "ORDER BY incident.id"
    ).bindparams(sa.bindparam("capture_cutoff", type_=UTCDateTime))
    return [(row[0], row[1]) for row in session.execute(stmt, {"capture_cutoff": capture_cutoff})]


def add_incident(session: Session, incident: Incident) -> Incident:
    session.add(incident)
    session.flush()
    return incident


def bind_channel(session: Session, incident_id: int, channel_id: str, channel_name: str) -> None:
    session.execute(
        sa.update(Incident).where(Incident.id == incident_id).values(channel_id=channel_id, channel_name=channel_name)
    )


def abandon_incident(session: Session, incident_id: int) -> None:
    """Remove an incident that never got a channel (its number is not reused)."""
    for model in (Activity, Milestone, Role, Entry):
        session.execute(sa.delete(model).where(model.incident_id == incident_id))
    session.execute(sa.delete(Incident).where(Incident.id == incident_id))


def take_header_lease(session: Session, incident_id: int, owner: str, now: datetime, seconds: int) -> bool:
    """One header refresh at a time per incident: an atomic conditional update with an expiry."""
    result = session.execute(
        sa.update(Incident)
        .where(Incident.id == incident_id)
        .where(sa.or_(Incident.header_lease_until.is_(None), Incident.header_lease_until < now))
        .values(header_lease_until=now + timedelta(seconds=seconds), header_lease_owner=owner)
        .returning(Incident.id)
    )
    return result.first() is not None


def release_header_lease(session: Session, incident_id: int, owner: str) -> None:
    session.execute(
        sa.update(Incident)
        .where(Incident.id == incident_id, Incident.header_lease_owner == owner)
        .values(header_lease_until=None, header_lease_owner=None)
    )


def set_header_ts(session: Session, incident_id: int, ts: str) -> None:
    session.execute(sa.update(Incident).where(Incident.id == incident_id).values(header_ts=ts))


def milestones(session: Session, incident_id: int) -> dict[str, Milestone]:
    rows = session.exec(select(Milestone).where(Milestone.incident_id == incident_id))
    return {m.name: m for m in rows}


def milestones_for(session: Session, incident_ids: Iterable[int]) -> dict[int, dict[str, Milestone]]:
    ids = list(incident_ids)
    result: dict[int, dict[str, Milestone]] = {i: {} for i in ids}
    if ids:
        for m in session.exec(select(Milestone).where(Milestone.incident_id.in_(ids))):
            result[m.incident_id][m.name] = m
    return result


def put_milestone(session: Session, milestone: Milestone) -> Milestone | None:
    """Set a milestone's current time. Returns a copy of the one it replaced, if any."""
    where = (Milestone.incident_id == milestone.incident_id, Milestone.name == milestone.name)
    current = session.exec(select(Milestone).where(*where).with_for_update()).first()
    if current is None:
        values = milestone.model_dump(exclude={"id"})
        if sql.insert_ignoring_conflict(session, Milestone, values, ["incident_id", "name"]):
            return None
        current = session.exec(select(Milestone).where(*where).with_for_update()).one()  # lost a race
    previous = Milestone.model_validate(current.model_dump())
    for field in ("at", "author_id", "note", "is_default", "recorded_at"):
        setattr(current, field, getattr(milestone, field))
    session.add(current)
    session.flush()
    return previous


def remove_milestone(session: Session, incident_id: int, name: str) -> Milestone | None:
    current = session.exec(
        select(Milestone).where(Milestone.incident_id == incident_id, Milestone.name == name)
    ).first()
    if current is None:
        return None
    session.delete(current)
    session.flush()
    return current


def roles(session: Session, incident_id: int) -> dict[str, str]:
    rows = session.exec(select(Role).where(Role.incident_id == incident_id).order_by(Role.id))
    return {r.role: r.user_id for r in rows}


def put_role(session: Session, incident_id: int, role: str, user_id: str, by: str, now: datetime) -> str | None:
    """Give a role to someone. Returns who held it before, if anyone."""
    values = {"incident_id": incident_id, "role": role, "user_id": user_id, "assigned_by": by, "assigned_at": now}
    if sql.insert_ignoring_conflict(session, Role, values, ["incident_id", "role"]):
        return None
    current = session.exec(
        select(Role).where(Role.incident_id == incident_id, Role.role == role).with_for_update()
    ).one()
    before = current.user_id
    current.user_id, current.assigned_by, current.assigned_at = user_id, by, now
    session.add(current)
    session.flush()
    return before


def remove_role(session: Session, incident_id: int, role: str) -> str | None:
    """Take a role from whoever holds it. Returns who held it, if anyone."""
    current = session.exec(select(Role).where(Role.incident_id == incident_id, Role.role == role)).first()
    if current is None:
        return None
    holder = current.user_id
    session.delete(current)
    session.flush()
    return holder


def still_captures(session, incident_id: int, capture_cutoff: datetime) -> bool:
    """Whether an incident still takes new entries (the capture rule, `STILL_CAPTURES`)."""
    stmt = sa.text(f"SELECT 1 FROM {WITH_RESOLVED} WHERE incident.id = :incident_id AND {STILL_CAPTURES}"
                   ).bindparams(sa.bindparam("capture_cutoff", type_=UTCDateTime))
    return session.execute(stmt, {"incident_id": incident_id, "capture_cutoff": capture_cutoff}).first() is not None


def mark_prompts_sent(session: Session, incident_id: int, now: datetime) -> bool:
    """True only for the first caller: the automatic prompts go out once per incident."""
    result = session.execute(
        sa.update(Incident).where(Incident.id == incident_id, Incident.prompts_sent_at.is_(None))
        .values(prompts_sent_at=now)
    )
    return (result.rowcount or 0) == 1



# ---------------------------------------------------------------------------------------------
# the Home tab's lists (bot/home_tab.py)


def _outside(hidden: Collection[str]):
    """Incidents outside the hidden channels (an incident without a channel is in none of them)."""
    if not hidden:
        return sa.true()
    return sa.or_(Incident.channel_id.is_(None), Incident.channel_id.not_in(sorted(set(hidden))))


def open_incidents_page(session: Session, offset: int, limit: int, hidden: Collection[str] = ()
                        ) -> tuple[list[Incident], int]:
    """(a page of the incidents not resolved, outside the `hidden` channels, newest first; how many
    there are in all)."""
    unresolved = sa.and_(Incident.status != "resolved", _outside(hidden))
    total = session.execute(sa.select(sa.func.count()).select_from(Incident).where(unresolved)).scalar() or 0
    page = list(session.exec(select(Incident).where(unresolved).order_by(Incident.id.desc())
                             .offset(offset).limit(limit)))
    return page, total


def recently_resolved(session: Session, limit: int, hidden: Collection[str] = ()) -> list[tuple[Incident, datetime]]:
    """The last `limit` incidents resolved (outside the `hidden` channels), most recently resolved
    first, with when they were."""
    stmt = (select(Incident, Milestone.at)
            .join(Milestone, sa.and_(Milestone.incident_id == Incident.id, Milestone.name == "resolved"))
            .where(Incident.status == "resolved", _outside(hidden))
            .order_by(Milestone.at.desc(), Incident.id.desc()).limit(limit))
    return [(incident, at) for incident, at in session.exec(stmt)]


def prompted_since(session: Session, since: datetime) -> list[Incident]:
    """Incidents whose postmortem prompts went out at or after `since`, newest first."""
    return list(session.exec(select(Incident).where(Incident.prompts_sent_at.is_not(None),
                                                    Incident.prompts_sent_at >= since)
                             .order_by(Incident.id.desc())))
def claim_tracker_alert(session: Session, incident_id: int, now: datetime) -> bool:
    """Whether this caller is the one to tell the commander that the tracker refused the token (once
    per incident, however many items or replicas fail at once)."""
    result = session.execute(
        sa.update(Incident).where(Incident.id == incident_id, Incident.tracker_alert_at.is_(None))
        .values(tracker_alert_at=now).returning(Incident.id))
    return result.first() is not None
