"""Reads and writes. Every function takes an open session; the caller owns the transaction.

Writes that Slack may repeat (redelivered events, backfill overlapping live capture) are
idempotent by construction: inserts that conflict on a unique key do nothing, and edits,
deletions and reactions carry Slack's version timestamps so an older one never wins.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, select

from storage.models import (
    ActionItem,
    Entry,
    Incident,
    KeyMark,
    Milestone,
    OutboxJob,
    PostmortemDraft,
    ProcessedEvent,
    PromptAnswer,
    Role,
    UserProfile,
    UTCDateTime,
)

# ---------------------------------------------------------------------------------------------
# helpers


def _dialect(conn) -> str:
    """The dialect of a Session or a Core Connection (the hot paths use Connections)."""
    dialect = getattr(conn, "dialect", None)
    return (dialect or conn.get_bind().dialect).name


def _insert(session: Session, model):
    table = model.__table__
    if _dialect(session) == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def insert_ignoring_conflict(conn, model, values: dict, conflict: Sequence[str]) -> bool:
    """INSERT … ON CONFLICT DO NOTHING. True when the row was inserted.

    Decided by RETURNING, not rowcount: with RETURNING, SQLAlchemy reports rowcount -1 on PostgreSQL.
    """
    stmt = (
        _insert(conn, model)
        .values(**values)
        .on_conflict_do_nothing(index_elements=list(conflict))
        .returning(*model.__table__.primary_key.columns)
    )
    return conn.execute(stmt).first() is not None


def _ts_key(ts: str | None) -> tuple[int, int]:
    """Slack ts strings compare as numbers ("1700000000.000100")."""
    if not ts:
        return (-1, -1)
    whole, _, fraction = ts.partition(".")
    return (int(whole), int((fraction or "0").ljust(6, "0")[:6]))


def newer(ts: str | None, than: str | None) -> bool:
    return _ts_key(ts) > _ts_key(than)


# ---------------------------------------------------------------------------------------------
# incidents


def incident_by_number(session: Session, number: int) -> Incident | None:
    return session.get(Incident, number)


def capturing_incident(session, channel_id: str, now: datetime, days_after_resolved: int) -> int | None:
    """The channel's incident if it still takes entries, else None (storage/fast.py has the hot twin)."""
    row = session.execute(
        sa.select(Incident.__table__.c.id, Incident.__table__.c.status)
        .where(Incident.__table__.c.channel_id == channel_id)
        .order_by(Incident.__table__.c.id.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    if row.status != "resolved":
        return row.id
    resolved_at = session.execute(
        sa.select(Milestone.__table__.c.at).where(
            Milestone.__table__.c.incident_id == row.id, Milestone.__table__.c.name == "resolved")
    ).scalar()
    if resolved_at is None or resolved_at >= now - timedelta(days=days_after_resolved):
        return row.id
    return None


def list_incidents(session: Session, *, open_only: bool = False) -> list[Incident]:
    stmt = select(Incident).order_by(Incident.id)
    if open_only:
        stmt = stmt.where(Incident.status != "resolved")
    return list(session.exec(stmt))


def open_incident_channels(session: Session, resolved_after: datetime) -> list[tuple[int, str]]:
    """(incident, channel) for incidents still capturing: unresolved, or resolved after a cut-off."""
    resolved = (
        select(Milestone.incident_id, Milestone.at)
        .where(Milestone.name == "resolved")
        .subquery()
    )
    stmt = (
        select(Incident.id, Incident.channel_id)
        .join(resolved, resolved.c.incident_id == Incident.id, isouter=True)
        .where(Incident.channel_id.is_not(None))
        .where(sa.or_(resolved.c.at.is_(None), resolved.c.at >= resolved_after))
        .order_by(Incident.id)
    )
    return [(row[0], row[1]) for row in session.execute(stmt)]


def newest_message_times(session: Session, incident_ids: Iterable[int]) -> dict[int, datetime]:
    """For each incident, the time of the newest channel message stored (incidents with none are absent)."""
    ids = list(incident_ids)
    if not ids:
        return {}
    stmt = (select(Entry.incident_id, sa.func.max(Entry.at)).where(Entry.incident_id.in_(ids), Entry.kind == "message")
            .group_by(Entry.incident_id))
    return {incident_id: at for incident_id, at in session.execute(stmt)}  # max() keeps the column's UTC type


def thread_parents(session: Session, incident_id: int) -> list[str]:
    """The `ts` of every thread that has a reply stored for the incident."""
    stmt = (select(Entry.thread_ts).where(Entry.incident_id == incident_id, Entry.thread_ts.is_not(None))
            .distinct())
    return [row[0] for row in session.execute(stmt)]


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
    for model in (Milestone, Role, Entry):
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


# ---------------------------------------------------------------------------------------------
# milestones, roles, entries


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
        if insert_ignoring_conflict(session, Milestone, values, ["incident_id", "name"]):
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
    if insert_ignoring_conflict(session, Role, values, ["incident_id", "role"]):
        return None
    current = session.exec(
        select(Role).where(Role.incident_id == incident_id, Role.role == role).with_for_update()
    ).one()
    before = current.user_id
    current.user_id, current.assigned_by, current.assigned_at = user_id, by, now
    session.add(current)
    session.flush()
    return before


_ENTRY_DEFAULTS = {"author_id": None, "key": False, "milestone": None, "channel_id": None, "ts": None,
                   "thread_ts": None, "edited_ts": None, "deleted": False, "files": None}


def add_entry(conn, entry: Entry) -> None:
    """Insert a timeline entry (a Core insert: this is on the path of every `/incident log`)."""
    values = {**_ENTRY_DEFAULTS, **entry.model_dump(exclude={"id"}, exclude_none=True)}
    conn.execute(sa.insert(Entry.__table__).values(**values))


@dataclass(frozen=True)
class TimelineRow:
    """An entry as read back (its columns as attributes, read-only), with its key-event status resolved."""

    entry: sa.Row
    key: bool


def timeline(session: Session, incident_id: int, key_emoji: str) -> list[TimelineRow]:
    """All entries of an incident, oldest first. A message is key when someone 📌-marked it."""
    marked = (
        sa.exists()
        .where(KeyMark.channel_id == Entry.channel_id)
        .where(KeyMark.ts == Entry.ts)
        .where(KeyMark.emoji == key_emoji)
        .where(KeyMark.present.is_(True))
    )
    # plain rows, not ORM objects: a long incident's timeline is read in a fraction of the time
    stmt = (
        sa.select(*Entry.__table__.columns, marked.label("marked"))
        .where(Entry.incident_id == incident_id)
        .order_by(Entry.at, Entry.id)
    )
    rows = []
    for entry in session.execute(stmt):
        key = entry.key or (entry.kind == "message" and bool(entry.marked) and not entry.deleted)
        rows.append(TimelineRow(entry=entry, key=key))
    return rows


def participants(session: Session, incident_id: int) -> list[str]:
    """People who wrote or logged in the incident, in order of first appearance."""
    stmt = (
        select(Entry.author_id, sa.func.min(Entry.at).label("first"))
        .where(Entry.incident_id == incident_id, Entry.author_id.is_not(None))
        .where(Entry.kind.in_(["log", "message", "milestone"]))
        .group_by(Entry.author_id)
        .order_by(sa.text("first"))
    )
    return [row[0] for row in session.execute(stmt)]


# ---------------------------------------------------------------------------------------------
# channel capture


def record_event(conn, event_id: str | None, now: datetime) -> bool:
    """Remember an Events API delivery. False when it was seen before (a redelivery)."""
    if not event_id:
        return True
    return insert_ignoring_conflict(conn, ProcessedEvent, {"event_id": event_id, "received_at": now}, ["event_id"])


def forget_events_before(session: Session, cutoff: datetime) -> int:
    result = session.execute(sa.delete(ProcessedEvent).where(ProcessedEvent.received_at < cutoff))
    return result.rowcount or 0


@dataclass(frozen=True)
class Message:
    """A channel message as Slack describes it (text in Slack's encoding)."""

    channel_id: str
    ts: str
    author_id: str | None
    text: str
    thread_ts: str | None = None
    files: list[dict] | None = None
    edited_ts: str | None = None


def _message_values(incident_id: int, message: Message, at: datetime, now: datetime) -> dict:
    return {
        "incident_id": incident_id,
        "kind": "message",
        "at": at,
        "author_id": message.author_id,
        "text": message.text,
        "key": False,
        "channel_id": message.channel_id,
        "ts": message.ts,
        "thread_ts": message.thread_ts,
        "edited_ts": message.edited_ts,
        "deleted": False,
        "files": json.dumps(message.files) if message.files else None,
        "recorded_at": now,
    }


def capture_message(conn, incident_id: int, message: Message, at: datetime, now: datetime) -> bool:
    """Store a new message. False when it is already stored (a redelivery or a backfill overlap)."""
    values = _message_values(incident_id, message, at, now)
    return insert_ignoring_conflict(conn, Entry, values, ["channel_id", "ts"])


_ENTRY = Entry.__table__
_KEY_MARK = KeyMark.__table__


def _locked(conn, stmt):
    """SELECT … FOR UPDATE on PostgreSQL; SQLite's write transaction already excludes other writers."""
    return stmt.with_for_update() if _dialect(conn) == "postgresql" else stmt


def _stored_message(conn, channel_id: str, ts: str):
    stmt = sa.select(_ENTRY.c.id, _ENTRY.c.edited_ts, _ENTRY.c.deleted).where(
        _ENTRY.c.channel_id == channel_id, _ENTRY.c.ts == ts)
    return conn.execute(_locked(conn, stmt)).first()


def edit_message(conn, incident_id: int, message: Message, at: datetime, now: datetime) -> str:
    """Apply an edit. Returns "edited", "created" (edit arrived first), "stale" or "deleted"."""
    assert message.edited_ts, "an edit carries its edited.ts"
    if capture_message(conn, incident_id, message, at, now):
        return "created"
    stored = _stored_message(conn, message.channel_id, message.ts)
    if stored is None:  # pragma: no cover - the insert just conflicted on it
        return "stale"
    if stored.deleted:
        return "deleted"
    if not newer(message.edited_ts, stored.edited_ts):
        return "stale"
    values = {"text": message.text, "edited_ts": message.edited_ts}
    if message.files is not None:
        values["files"] = json.dumps(message.files) if message.files else None
    conn.execute(sa.update(_ENTRY).where(_ENTRY.c.id == stored.id).values(**values))
    return "edited"


def delete_message(conn, incident_id: int, channel_id: str, ts: str, at: datetime, now: datetime) -> str:
    """Replace a message's text by a tombstone. A late redelivery of the message cannot revive it."""
    tombstone = Message(channel_id=channel_id, ts=ts, author_id=None, text="")
    values = _message_values(incident_id, tombstone, at, now)
    values["deleted"] = True
    if insert_ignoring_conflict(conn, Entry, values, ["channel_id", "ts"]):
        return "tombstone"
    stored = _stored_message(conn, channel_id, ts)
    if stored is None or stored.deleted:
        return "already"
    conn.execute(sa.update(_ENTRY).where(_ENTRY.c.id == stored.id).values(deleted=True, text="", files=None))
    return "deleted"


def mark_key(conn, channel_id: str, ts: str, user_id: str, emoji: str, present: bool, event_ts: str) -> bool:
    """Record one person's key-event reaction (added or removed). Older events than stored lose."""
    values = {"channel_id": channel_id, "ts": ts, "user_id": user_id, "emoji": emoji, "present": present,
              "event_ts": event_ts}
    if insert_ignoring_conflict(conn, KeyMark, values, ["channel_id", "ts", "user_id", "emoji"]):
        return True
    where = (_KEY_MARK.c.channel_id == channel_id, _KEY_MARK.c.ts == ts, _KEY_MARK.c.user_id == user_id,
             _KEY_MARK.c.emoji == emoji)
    current = conn.execute(_locked(conn, sa.select(_KEY_MARK.c.id, _KEY_MARK.c.event_ts).where(*where))).one()
    if not newer(event_ts, current.event_ts):
        return False
    conn.execute(sa.update(_KEY_MARK).where(_KEY_MARK.c.id == current.id).values(present=present, event_ts=event_ts))
    return True


# ---------------------------------------------------------------------------------------------
# people


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
    stmt = _insert(session, UserProfile).values(**values)
    stmt = stmt.on_conflict_do_update(
        index_elements=["user_id"], set_={"tz": tz, "name": name, "fetched_at": now}
    )
    session.execute(stmt)


# ---------------------------------------------------------------------------------------------
# postmortem: drafts and participants' answers


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
    if not insert_ignoring_conflict(session, PostmortemDraft, values, ["incident_id", "version"]):
        return None
    return session.exec(select(PostmortemDraft).where(PostmortemDraft.incident_id == incident_id,
                                                      PostmortemDraft.version == version)).one()


def draft(session: Session, draft_id: int) -> PostmortemDraft | None:
    return session.get(PostmortemDraft, draft_id)


def set_draft_file(session: Session, draft_id: int, file_id: str) -> None:
    session.execute(sa.update(PostmortemDraft).where(PostmortemDraft.id == draft_id).values(file_id=file_id))


def draft_count(session: Session, incident_id: int) -> int:
    return session.execute(
        select(sa.func.count()).select_from(PostmortemDraft).where(PostmortemDraft.incident_id == incident_id)
    ).scalar() or 0


def put_answer(session: Session, incident_id: int, user_id: str, topic: str, text: str, now: datetime) -> None:
    """A participant's answer for one topic; answering again replaces the earlier words."""
    current = session.exec(
        select(PromptAnswer).where(PromptAnswer.incident_id == incident_id, PromptAnswer.user_id == user_id,
                                   PromptAnswer.topic == topic)
    ).first()
    if current is None:
        if insert_ignoring_conflict(session, PromptAnswer, {"incident_id": incident_id, "user_id": user_id,
                                                            "topic": topic, "text": text, "answered_at": now},
                                    ["incident_id", "user_id", "topic"]):
            return
        current = session.exec(
            select(PromptAnswer).where(PromptAnswer.incident_id == incident_id, PromptAnswer.user_id == user_id,
                                       PromptAnswer.topic == topic)
        ).one()
    current.text, current.answered_at = text, now
    session.add(current)
    session.flush()


def answers(session: Session, incident_id: int) -> list[PromptAnswer]:
    """Every answer of an incident, oldest first."""
    return list(session.exec(
        select(PromptAnswer).where(PromptAnswer.incident_id == incident_id)
        .order_by(PromptAnswer.answered_at, PromptAnswer.id)
    ))


def answered_topics(session: Session, incident_id: int, user_id: str) -> set[str]:
    return set(session.exec(
        select(PromptAnswer.topic).where(PromptAnswer.incident_id == incident_id, PromptAnswer.user_id == user_id)
    ))


def mark_prompts_sent(session: Session, incident_id: int, now: datetime) -> bool:
    """True only for the first caller: the automatic prompts go out once per incident."""
    result = session.execute(
        sa.update(Incident).where(Incident.id == incident_id, Incident.prompts_sent_at.is_(None))
        .values(prompts_sent_at=now)
    )
    return (result.rowcount or 0) == 1


# ---------------------------------------------------------------------------------------------
# action items


def add_action_item(session: Session, item: ActionItem) -> ActionItem | None:
    """Store a new item. With a `source_key` already used (a repeated submission), returns None."""
    if item.source_key is None:
        session.add(item)
        session.flush()
        return item
    values = item.model_dump(exclude={"id"})
    if not insert_ignoring_conflict(session, ActionItem, values, ["source_key"]):
        return None  # the same submission, again (or at the same moment, from another replica)
    return session.exec(select(ActionItem).where(ActionItem.source_key == item.source_key)).one()


def action_items(session: Session, incident_id: int) -> list[ActionItem]:
    """An incident's action items in the order they were created."""
    return list(session.exec(
        select(ActionItem).where(ActionItem.incident_id == incident_id).order_by(ActionItem.id)
    ))


# ---------------------------------------------------------------------------------------------
# outbox


def enqueue(
    session: Session,
    kind: str,
    payload: dict,
    now: datetime,
    *,
    coalesce_key: str | None = None,
    delay: timedelta = timedelta(0),
) -> None:
    """Add a Slack side effect to the outbox (in the caller's transaction, so it commits with it).

    With a `coalesce_key`, a job with the same key that is still waiting absorbs this one: a header
    refresh queued twice before it runs is done once, reading the state current when it runs.
    """
    if coalesce_key is not None:
        due = sa.literal(now + delay, UTCDateTime)
        waiting = session.execute(
            sa.update(OutboxJob)
            .where(
                OutboxJob.coalesce_key == coalesce_key,
                OutboxJob.done_at.is_(None),
                OutboxJob.lease_until.is_(None),
            )
            .values(next_attempt_at=sa.case((OutboxJob.next_attempt_at > due, due), else_=OutboxJob.next_attempt_at))
            .returning(OutboxJob.id)
        )
        if waiting.first() is not None:
            return
    session.add(
        OutboxJob(
            kind=kind,
            payload=json.dumps(payload),
            coalesce_key=coalesce_key,
            next_attempt_at=now + delay,
            created_at=now,
        )
    )
    session.flush()


def claim_jobs(session: Session, owner: str, now: datetime, lease: timedelta, limit: int) -> list[OutboxJob]:
    """Atomically lease due jobs for `owner`. Concurrent claimers never get the same job."""
    due = (
        select(OutboxJob.id)
        .where(OutboxJob.done_at.is_(None))
        .where(OutboxJob.next_attempt_at <= now)
        .where(sa.or_(OutboxJob.lease_until.is_(None), OutboxJob.lease_until < now))
        .order_by(OutboxJob.next_attempt_at, OutboxJob.id)
        .limit(limit)
    )
    if _dialect(session) == "postgresql":
        due = due.with_for_update(skip_locked=True)
    stmt = (
        sa.update(OutboxJob)
        .where(OutboxJob.id.in_(due.scalar_subquery()))
        .where(OutboxJob.done_at.is_(None))
        .where(sa.or_(OutboxJob.lease_until.is_(None), OutboxJob.lease_until < now))
        .values(lease_until=now + lease, lease_owner=owner, attempts=OutboxJob.attempts + 1)
        .returning(OutboxJob.id)
    )
    ids = [row[0] for row in session.execute(stmt)]
    if not ids:
        return []
    return list(session.exec(select(OutboxJob).where(OutboxJob.id.in_(ids)).order_by(OutboxJob.id)))


def finish_job(session: Session, job_id: int, owner: str, now: datetime) -> None:
    session.execute(
        sa.update(OutboxJob)
        .where(OutboxJob.id == job_id, OutboxJob.lease_owner == owner)
        .values(done_at=now, lease_until=None, last_error=None)
    )


def retry_job(
    session: Session, job_id: int, owner: str, error: str, retry_at: datetime | None, now: datetime
) -> None:
    """Release a job after a failure: try again at `retry_at`, or give up when it is None."""
    values: dict = {"lease_until": None, "last_error": error[:2000]}
    if retry_at is None:
        values.update(done_at=now, failed=True)
    else:
        values.update(next_attempt_at=retry_at)
    session.execute(
        sa.update(OutboxJob).where(OutboxJob.id == job_id, OutboxJob.lease_owner == owner).values(**values)
    )


def postpone_job(session: Session, job_id: int, owner: str, retry_at: datetime) -> None:
    """Release a job to run again later without counting the attempt."""
    session.execute(
        sa.update(OutboxJob)
        .where(OutboxJob.id == job_id, OutboxJob.lease_owner == owner)
        .values(lease_until=None, next_attempt_at=retry_at, attempts=OutboxJob.attempts - 1)
    )


def pending_jobs(session: Session, kind: str | None = None) -> list[OutboxJob]:
    stmt = select(OutboxJob).where(OutboxJob.done_at.is_(None)).order_by(OutboxJob.id)
    if kind:
        stmt = stmt.where(OutboxJob.kind == kind)
    return list(session.exec(stmt))


def forget_jobs_done_before(session: Session, cutoff: datetime) -> int:
    result = session.execute(
        sa.delete(OutboxJob).where(OutboxJob.done_at.is_not(None), OutboxJob.done_at < cutoff)
    )
    return result.rowcount or 0


# ---------------------------------------------------------------------------------------------
# reminders
#
# Who is reminded of what is decided by bot/reminders.py over plain values (the owner's local date
# matters, which SQL cannot know portably). What the database guarantees is that each item (and each
# postmortem nudge) is claimed by one sweep at a time: one atomic conditional UPDATE that re-checks
# every condition and sets a lease, with FOR UPDATE SKIP LOCKED in the selecting subquery on
# PostgreSQL (SQLite's write transaction already excludes other writers). A reminder is recorded only
# after its DM was sent; a failed DM releases the lease for the next sweep.


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
    if _dialect(session) == "postgresql":
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
    if _dialect(session) == "postgresql":
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
