"""Curating an incident's timeline: edit, re-time, hide and show an entry, add a message from another
channel, and undo one's own recent changes (docs/capture.md, "Curating the timeline").

These are the use cases every front door calls (the message shortcuts and `/incident timeline` buttons
in bot/curation_slack.py, `/incident undo`, the web view): plain functions of the services, the person
acting and plain values. Each one checks what it is given, writes the entry and its activity record
(storage/activity.py, who and when, the changed fields before → after) in ONE transaction, and queues
what must follow in Slack through the outbox. Bad input raises `CurationRefused`, whose text is one
line for the person, and changes nothing.

Who may curate: anyone who took part in the incident (wrote or logged in it, recorded a change, holds
a role, opened it or commands it) may edit, hide, show and add to any entry of it; `undo` puts back
only the caller's own changes. Curation stays open after the incident is resolved: the timeline is
curated for the postmortem.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session

from bot import changes, views
from bot import text as T
from bot.changes import Actor, Change
from bot.milestones import MILESTONE_LABELS, severity_label
from bot.services import Services
from bot.when import FUTURE_SLACK, format_time, from_slack_ts
from storage import activity, capture_sql, entries, incidents, outbox_jobs, post_sql
from storage.activity import UNDO_WINDOW
from storage.models import Incident, Milestone

TEXT_LIMIT = 3000  # the edit modal's input holds at most this many characters
# entry kinds whose time and text a person may change; the others record a change (severity, role, …)
# and are changed by the command that made them, but can still be hidden, shown and marked key
EDITABLE_KINDS = ("log", "message", "added", "update")
# what `/incident undo` puts back: the activity log's actions on entries, and bot/changes.py's kinds
ENTRY_ACTIONS = ("edit", "retime", "hide", "show", "add")
UNDOABLE_ACTIONS = ENTRY_ACTIONS + changes.UNDOABLE
LOG_POST_JOB = "log_post"  # bot/jobs/curation_jobs.py
RESPOND_JOB = "answer_ephemeral"  # a short answer through a response_url
UNDO_QUOTE = 200  # characters of a restored summary or impact quoted by `/incident undo`


def add_log(services: Services, actor: Actor, incident_id: int, text: str, at: datetime,
            now: datetime | None = None) -> int:
    """A `/incident log` entry (text in Slack's encoding), stored marked to be posted in the incident
    channel: the outbox queues that post (`queue_log_posts`). Returns the entry's id."""
    now = now or services.now()
    # the busiest write of an incident, before Slack gets its answer: one hand-written statement
    # (storage/capture_sql.py; `python3 bench/ack_latency.py` shows why)
    return services.db.hot_write(
        lambda conn: capture_sql.insert_log(conn, incident_id, actor.user_id, text, at, now), queues_jobs=True)


def add_log_in_channel(services: Services, actor: Actor, channel_id: str, text: str, at: datetime,
                       now: datetime | None = None) -> capture_sql.Logged | None:
    """`add_log` into the channel's incident, found by the same statement (`/incident log`'s one
    statement before Slack gets its answer). None when no incident there takes entries."""
    now = now or services.now()
    return services.db.hot_write(
        lambda conn: capture_sql.log_in_channel(conn, channel_id, actor.user_id, text, at, now,
                                                services.capture_cutoff(now)), queues_jobs=True)


def queue_log_posts(services: Services) -> int:
    """Turn log entries stored `to_post` into their `log_post` jobs, in one transaction; the outbox's
    drainer calls this before each claim (bot/jobs/__init__.py FEEDERS). Returns how many."""
    with services.db.reading() as conn:
        if not post_sql.any_to_post(conn):
            return 0
    return len(services.db.hot_transaction(lambda conn: post_sql.queue_posts(conn, LOG_POST_JOB, services.now())))


def tell(services: Services, response_url: str | None, text: str, now: datetime | None = None) -> None:
    """An ephemeral answer to someone through their response_url, sent by the outbox."""
    if not response_url:
        return
    with services.db.write() as session:
        outbox_jobs.enqueue(session, RESPOND_JOB, {"response_url": response_url, "text": text}, now or services.now())


class CurationRefused(Exception):
    """A curation that cannot be done; str() is one line telling the person why, and how to go on."""


class EditConflict(CurationRefused):
    """Someone changed a field of the entry since the editor opened it, and the editor changed it too.
    `field` is the field (at, text, key, hidden)."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def digest(text: str) -> str:
    """A short fingerprint of a text (what an edit modal showed, carried in its private_metadata)."""
    return hashlib.sha256(text.strip().encode()).hexdigest()[:20]


_MENTION = re.compile(r"<@([UW][A-Z0-9]{2,})(?:\|([^<>|]*))?>")


def mentioned(encoded: str) -> list[str]:
    """The ids of the people mentioned in a text in Slack's encoding, in order, once each."""
    return list(dict.fromkeys(m.group(1) for m in _MENTION.finditer(encoded)))


def editable_text(encoded: str, names: T.NameLookup | None = None) -> str:
    """A stored text as the editor shows it: plain, mentions as `@name` (or `@U…` when the name is
    not known)."""
    return T.plain(encoded, names)


def restore_mentions(typed_encoded: str, original: str, names: T.NameLookup | None = None) -> str:
    """Turn `@name` back into `<@ID>` in an edited text (in Slack's encoding), for the people mentioned
    in the original only: whatever else someone types stays text, never a new mention."""
    forms: dict[str, str] = {}
    for match in _MENTION.finditer(original):
        user_id, label = match.group(1), match.group(2)
        name = names(user_id) if names else None
        for shown in (label, T.encode(name) if name else None, user_id):
            if shown and shown.strip():
                forms.setdefault("@" + shown, f"<@{user_id}>")
    if not forms:
        return typed_encoded
    pattern = re.compile(r"(?<![\w@<|])(" + "|".join(re.escape(f) for f in sorted(forms, key=len, reverse=True))
                         + r")(?!\w)")
    return pattern.sub(lambda m: forms[m.group(1)], typed_encoded)


@dataclass(frozen=True)
class Seen:
    """What an editor showed when it was opened: an edit applies only the fields the person changed
    from these, and is refused for a field someone else changed meanwhile (None: not known)."""

    at: datetime | None = None
    text: str | None = None  # digest of the stored text
    shown: str | None = None  # digest of the text as the editor showed it
    key: bool | None = None
    hidden: bool | None = None


@dataclass(frozen=True)
class ElsewhereMessage:
    """A Slack message from any channel, to add to an incident (text in Slack's encoding)."""

    channel_id: str
    ts: str
    user_id: str | None
    text: str
    permalink: str | None = None


@dataclass(frozen=True)
class EntryEdit:
    """What an edit did: the changed fields before and after (empty when nothing changed)."""

    incident_id: int
    entry_id: int
    action: str | None  # edit, retime, hide, show; None when nothing changed
    before: Mapping[str, Any]
    after: Mapping[str, Any]

    @property
    def changed(self) -> bool:
        return self.action is not None


@dataclass(frozen=True)
class EntryAdd:
    incident_id: int
    entry_id: int
    created: bool  # False: the message was already in the incident (nothing stored twice)


# ---------------------------------------------------------------------------------------------
# checks


def _incident(session: Session, incident_id: int) -> Incident:
    incident = session.get(Incident, incident_id)
    if incident is None:
        raise CurationRefused(f"{views.ref(incident_id)} does not exist.")
    return incident


def check_may_curate(session: Session, incident_id: int, user_id: str) -> None:
    """Refuse someone who has not taken part in the incident (see the module's docstring)."""
    if not entries.took_part(session, incident_id, user_id):
        raise CurationRefused(
            f"Only people who took part in {views.ref(incident_id)} can change its timeline: say something in "
            "its channel (or be given a role) first.")


def may_curate(services: Services, incident_id: int, user_id: str) -> bool:
    """Whether someone may edit, hide, show and add to the incident's timeline (for a view that offers
    the buttons only to them; the use cases check it again)."""
    with services.db.read() as session:
        return entries.took_part(session, incident_id, user_id)


def _entry(session: Session, incident_id: int, entry_id: int):
    entry = entries.entry_by_id(session, entry_id, lock=True)
    if entry is None:
        raise CurationRefused("That entry no longer exists; open the timeline again with `/incident timeline`.")
    if entry.incident_id != incident_id:
        raise CurationRefused(f"That entry belongs to {views.ref(entry.incident_id)}, not {views.ref(incident_id)}.")
    if entry.deleted:
        raise CurationRefused("That message was deleted in Slack, so it is no longer in the timeline.")
    return entry


def check_time(at: datetime, now: datetime, zone) -> None:
    if at.tzinfo is None:
        raise ValueError("naive datetime given for an entry's time")
    if at > now + FUTURE_SLACK:
        raise CurationRefused(f"{format_time(at, zone)} is in the future; give a time that has passed.")


# ---------------------------------------------------------------------------------------------
# edit, hide, show


def edit_entry(services: Services, actor: Actor, incident_id: int, entry_id: int, *, at: datetime | None = None,
               text: str | None = None, key: bool | None = None, hidden: bool | None = None,
               now: datetime | None = None, seen: Seen | None = None,
               names: T.NameLookup | None = None) -> EntryEdit:
    """Change an entry's time, text (as typed, raw: stored in Slack's encoding, so a typed `<@U…>` or
    `<!channel>` stays text and never becomes a mention), key-event mark or hidden flag. None leaves a
    value as it is, and so does a value equal to the stored one: an edit that changes nothing records
    nothing. With `seen` (what the editor showed), a value equal to the one shown is left as it is now
    (a stale editor never undoes someone else's change), and a changed one is refused with
    `EditConflict` when someone else changed that field since. `names` (id → name) reads back the
    `@name` the editor showed for each person mentioned in the stored text as that mention."""
    now = now or services.now()
    seen = seen or Seen()
    with services.db.write() as session:
        incident = _incident(session, incident_id)
        check_may_curate(session, incident_id, actor.user_id)
        entry = _entry(session, incident_id, entry_id)
        zone = services.zone_for(incident)
        before: dict[str, Any] = {}
        after: dict[str, Any] = {}
        if at is not None and at != entry.at:
            _check_editable(entry, "time")
            if seen.at is not None and entry.at != seen.at:
                raise EditConflict("at", f"Someone changed the time to {format_time(entry.at, zone)} since you "
                                         "opened this; press Cancel and open the entry again.")
            check_time(at, now, zone)
            before["at"], after["at"] = entry.at, at
        if text is not None:
            typed = T.storable(text).strip()
            if seen.shown is not None:
                untouched = digest(typed) == seen.shown
            else:  # the text as an editor shows it, readable (`@bob`) or decoded (`<@U0BOB>`)
                untouched = typed in (T.plain(entry.text).strip(), T.decode(entry.text).strip(),
                                      editable_text(entry.text, names).strip())
            if not untouched:
                _check_editable(entry, "text")
                if not typed:
                    raise CurationRefused("The text cannot be empty; hide the entry to leave it out instead.")
                if len(typed) > TEXT_LIMIT:
                    raise CurationRefused(f"The text is {len(typed):,} characters long; keep it to {TEXT_LIMIT:,}.")
                if seen.text is not None and digest(entry.text) != seen.text:
                    raise EditConflict("text", "Someone edited this text since you opened it; copy your "
                                               "version, press Cancel and open the entry again.")
                encoded = restore_mentions(T.encode(typed), entry.text, names)
                if encoded != entry.text:
                    before["text"], after["text"] = entry.text, encoded
        if key is not None:
            marked = entries.marked_key(session, entry, services.settings.key_event_emoji)
            current = bool(entry.key) or marked
            if seen.key is not None and key == seen.key:
                pass  # left as shown: whatever it is now stays
            elif key != current:
                if seen.key is not None and current != seen.key:
                    raise EditConflict("key", "Someone changed “key event” since you opened this; press Cancel "
                                              "and open the entry again.")
                if not key and marked:
                    raise CurationRefused(
                        f"Someone marked that message with :{services.settings.key_event_emoji}:; remove the "
                        "reaction in Slack to make it an ordinary message again.")
                before["key"], after["key"] = bool(entry.key), key
        if hidden is not None and not (seen.hidden is not None and hidden == seen.hidden) \
                and hidden != entry.hidden:
            if seen.hidden is not None and entry.hidden != seen.hidden:
                raise EditConflict("hidden", "Someone hid or showed this entry since you opened it; press Cancel "
                                             "and open it again.")
            before["hidden"], after["hidden"] = entry.hidden, hidden
        if not after:
            return EntryEdit(incident_id, entry_id, None, {}, {})
        action = _action(after)
        values = dict(after)
        if "text" in after:
            values["text_edited_by"] = actor.user_id  # a later Slack edit of the message no longer wins
        entries.update_entry(session, entry_id, values)
        activity.add(session, incident_id=incident_id, entry_id=entry_id, actor=actor.user_id, action=action,
                     before=before, after=after, at=now)
        _follow_in_slack(session, entry, now)
    return EntryEdit(incident_id, entry_id, action, before, after)


def set_hidden(services: Services, actor: Actor, incident_id: int, entry_id: int, hidden: bool,
               now: datetime | None = None) -> EntryEdit:
    """Leave an entry out of drafts and exports (hidden), or put it back."""
    return edit_entry(services, actor, incident_id, entry_id, hidden=hidden, now=now)


def _check_editable(entry, what: str) -> None:
    if entry.kind not in EDITABLE_KINDS:
        raise CurationRefused(f"That entry records a change of {entry.kind}; its {what} cannot be edited. "
                              f"Use `/incident {entry.kind if entry.kind != 'milestone' else entry.milestone or 'help'}` "
                              "to change it, or hide the entry.")


def _action(after: Mapping[str, Any]) -> str:
    if set(after) == {"at"}:
        return "retime"
    if set(after) == {"hidden"}:
        return "show" if not after["hidden"] else "hide"
    return "edit"


def _follow_in_slack(session: Session, entry, now: datetime) -> None:
    """A `/incident log` entry's post in the channel shows the entry as it is now."""
    if entry.kind == "log":
        queue_log_post(session, entry.id, now)


def queue_log_post(session: Session, entry_id: int, now: datetime) -> None:
    """Rewrite a log entry's post in the incident channel to show it as it is now
    (bot/jobs/curation_jobs.py; the first post is queued from the entry's `to_post` mark by
    `queue_log_posts`)."""
    outbox_jobs.enqueue(session, LOG_POST_JOB, {"entry_id": entry_id}, now, coalesce_key=f"log_post:{entry_id}")


# ---------------------------------------------------------------------------------------------
# add a message from another channel


def add_from_elsewhere(services: Services, actor: Actor, incident_id: int, message: ElsewhereMessage,
                       now: datetime | None = None) -> EntryAdd:
    """Store a message (of any channel) as a key event of the incident, with its own time, author, text
    and link. The same message is stored once per incident, however often it is added."""
    now = now or services.now()
    at = from_slack_ts(message.ts)
    with services.db.write() as session:
        incident = _incident(session, incident_id)
        check_may_curate(session, incident_id, actor.user_id)
        if not incidents.still_captures(session, incident_id, services.capture_cutoff(now)):
            raise CurationRefused(f"{views.ref(incident_id)} was resolved more than "
                                  f"{services.settings.capture_after_resolved_days} days ago and takes no more entries.")
        check_time(at, now, services.zone_for(incident))
        captured = entries.entry_of_message(session, message.channel_id, message.ts)
        if captured is not None and captured.incident_id == incident_id:
            # said in the incident's own channel: it is there already; adding it makes it a key event
            if not captured.deleted and not captured.key:
                entries.update_entry(session, captured.id, {"key": True})
                activity.add(session, incident_id=incident_id, entry_id=captured.id, actor=actor.user_id,
                             action="edit", before={"key": False}, after={"key": True}, at=now)
            return EntryAdd(incident_id, captured.id, False)
        text = T.storable(message.text)
        entry_id = entries.add_from_elsewhere(session, incident_id, channel_id=message.channel_id, ts=message.ts,
                                              author_id=message.user_id, text=text, permalink=message.permalink,
                                              at=at, now=now)
        if entry_id is None:
            existing = entries.entry_from_elsewhere(session, incident_id, message.channel_id, message.ts)
            return EntryAdd(incident_id, existing.id, False)
        activity.add(session, incident_id=incident_id, entry_id=entry_id, actor=actor.user_id, action="add",
                     before={}, after={"at": at, "text": text, "channel": message.channel_id, "ts": message.ts,
                                       "permalink": message.permalink}, at=now)
    return EntryAdd(incident_id, entry_id, True)


# ---------------------------------------------------------------------------------------------
# undo


def undo(services: Services, actor: Actor, incident_id: int, now: datetime | None = None) -> str:
    """Undo the caller's most recent change to the incident from the last 30 minutes (a log entry is
    hidden; an edit, a field or a milestone goes back to what it was). Returns what was undone, as one
    line of mrkdwn. A second call undoes the change before that one."""
    now = now or services.now()
    since = now - UNDO_WINDOW
    with services.db.read() as session:
        zone = services.zone_for(_incident(session, incident_id))
        record = activity.latest_undoable(session, incident_id, actor.user_id, UNDOABLE_ACTIONS, since)
        log = activity.latest_own_log(session, incident_id, actor.user_id, since)
    if record is None and log is None:
        raise CurationRefused(f"Nothing of yours to undo in {views.ref(incident_id)} from the last 30 minutes.")
    if log is not None and (record is None or log.recorded_at > record.at):
        return _undo_log(services, actor, incident_id, log.id, now)
    try:
        if record.action in ENTRY_ACTIONS:
            return _undo_entry_change(services, actor, incident_id, record, now, zone)
        return _undo_incident_change(services, actor, incident_id, record, now, zone)
    except ChangedSince as exc:
        # passed over from now on: undo is not stuck on it, the next one reaches the change before
        with services.db.write() as session:
            activity.skip_undo(session, record.id, now)
        raise CurationRefused(f"{exc} Nothing was undone; your next `/incident undo` goes to the change "
                              "before it.") from None


class ChangedSince(CurationRefused):
    """The change to undo was changed again by someone since: it cannot be put back."""


def _undo_log(services: Services, actor: Actor, incident_id: int, entry_id: int, now: datetime) -> str:
    with services.db.write() as session:
        entry = entries.entry_by_id(session, entry_id, lock=True)
        if entry is None or entry.hidden:
            raise CurationRefused("That log entry was hidden meanwhile; nothing was undone.")
        entries.update_entry(session, entry_id, {"hidden": True})
        activity.add(session, incident_id=incident_id, entry_id=entry_id, actor=actor.user_id, action="undo",
                     before={"hidden": False}, after={"hidden": True}, at=now)
        queue_log_post(session, entry_id, now)
    return f"Undone: your log entry “{T.mrkdwn_cut(entry.text, 200)}” is hidden from the timeline."


def _undo_entry_change(services: Services, actor: Actor, incident_id: int, record: activity.Record,
                       now: datetime, zone) -> str:
    restore = {name: _stored(name, value) for name, value in record.before.items()}
    if record.action == "add":
        restore = {"hidden": True}  # an added message is hidden, so adding it again stays a no-op
    with services.db.write() as session:
        entry = entries.entry_by_id(session, record.entry_id, lock=True) if record.entry_id else None
        if entry is None or entry.deleted:
            raise CurationRefused("The entry you changed is gone (its message was deleted); nothing was undone.")
        current = {name: getattr(entry, name) for name in restore if name != "key"}
        expected = {name: _stored(name, value) for name, value in record.after.items() if name in current}
        if record.action != "add" and current != expected:
            raise ChangedSince("Someone changed that entry again since; open it with Edit in timeline instead.")
        if not activity.mark_undone(session, record.id, now):
            raise CurationRefused("That change was just undone.")
        entries.update_entry(session, entry.id, restore)
        activity.add(session, incident_id=incident_id, entry_id=entry.id, actor=actor.user_id, action="undo",
                     before={name: getattr(entry, name) for name in restore} if record.action == "add"
                     else record.after, after=restore, at=now, undoes=record.id)
        _follow_in_slack(session, entry, now)
    what = {"add": "added message", "hide": "hiding", "show": "showing", "retime": "new time",
            "edit": "edit"}[record.action]
    return f"Undone: your {what} of the entry “{T.mrkdwn_cut(entry.text, 200)}”" + _put_back(restore, zone) + "."


def _put_back(restore: Mapping[str, Any], zone) -> str:
    parts = []
    if "at" in restore:
        parts.append(f"its time is {format_time(restore['at'], zone)} again")
    if "text" in restore:
        parts.append(f"its text is “{T.mrkdwn_cut(restore['text'], 200)}” again")
    if "hidden" in restore:
        parts.append("it is hidden" if restore["hidden"] else "it is shown again")
    if "key" in restore:
        parts.append("it is a key event again" if restore["key"] else "it is no longer a key event")
    return (": " + ", ".join(parts)) if parts else ""


def _stored(name: str, value: Any) -> Any:
    """A value from the activity log as the entry or incident holds it (times come back as datetimes)."""
    if name == "at" and isinstance(value, str):
        return datetime.fromisoformat(value)
    return value


def _undo_incident_change(services: Services, actor: Actor, incident_id: int, record: activity.Record,
                          now: datetime, zone) -> str:
    kind, before, after = record.action, record.before, record.after
    said: list[str] = []

    def put_back(session: Session) -> Change | None:
        incident = session.get(Incident, incident_id)
        if kind == "milestone":
            name = before["name"]
            current = incidents.milestones(session, incident_id).get(name)
            if (current.at if current else None) != _stored("at", after.get("at")):
                raise ChangedSince(f"{MILESTONE_LABELS[name]} was changed again since; set it with "
                                      f"`/incident {name}` instead.")
        elif kind == "role":
            if incidents.roles(session, incident_id).get(before["role"]) != after.get("user_id"):
                raise ChangedSince(f"The {before['role']} role was given again since; set it with `/incident role`.")
        elif any(getattr(incident, field) != value for field, value in after.items()):
            raise ChangedSince(f"The {kind} was changed again since; set it with `/incident {kind}` instead.")
        if not activity.mark_undone(session, record.id, now):
            raise CurationRefused("That change was just undone.")
        change = _restoring_change(session, incident, kind, before, zone, actor, now)
        said.append(T.mrkdwn(change.text) if change.text else "")
        return Change(kind=change.kind, text=change.text, fields=change.fields, before=after, after=before,
                      milestone=change.milestone, undoes=record.id, announce=change.announce)

    changes.record(services, actor, incident_id, put_back, now)
    return said[0] if said else "Undone."


def _restoring_change(session: Session, incident: Incident, kind: str, before: Mapping[str, Any], zone,
                      actor: Actor, now: datetime) -> Change:
    """The change that puts `before` back (its timeline entry says what was undone)."""
    ref = views.ref(incident.id)
    if kind == "milestone":
        name, at = before["name"], _stored("at", before.get("at"))
        label = MILESTONE_LABELS[name]
        if at is None:
            incidents.remove_milestone(session, incident.id, name)
            text = f"Undone: {label} is not recorded"
        else:
            incidents.put_milestone(session, Milestone(
                incident_id=incident.id, name=name, at=at, author_id=before.get("author_id"), note=before.get("note"),
                is_default=bool(before.get("is_default")), recorded_at=now))
            text = f"Undone: {label} is {format_time(at, zone)} again"
        return Change(kind="milestone", milestone=name, text=T.encode(text))
    if kind == "role":
        role, user = before["role"], before.get("user_id")
        if user is None:
            incidents.remove_role(session, incident.id, role)
            text = T.encode(f"Undone: nobody is {role} of {ref}")
        else:
            incidents.put_role(session, incident.id, role, user, actor.user_id, now)
            text = f"Undone: {T.encode(role)} is <@{user}> again"  # role names are [a-z0-9_-]
        fields = {"commander_id": user} if role == "commander" else {}
        return Change(kind="role", text=text, fields=fields)
    if kind == "severity":
        value = before.get("severity")
        return Change(kind="severity", text=T.encode(f"Undone: severity is {severity_label(value)} again"),
                      fields={"severity": value}, key=True)
    if kind == "timezone":
        value = before.get("display_tz")
        return Change(kind="timezone", text=T.encode(f"Undone: times are shown in {value or 'the default zone'} again"),
                      fields={"display_tz": value})
    value = before.get(kind)  # summary, impact (in Slack's encoding): quoted plain, cut, never a live token
    restored = f"“{T.truncate(T.one_line(T.plain(value)), UNDO_QUOTE)}” again" if value else "empty again"
    return Change(kind=kind, text=T.encode(f"Undone: the {kind} is {restored}"), fields={kind: value})
