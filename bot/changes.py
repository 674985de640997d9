"""One way to change an incident: its row, its timeline entry, the header, any announcement.

Whatever the front door (a slash command today; modals, the Home tab and the web view later), a
change to an incident is described as a `Change` and handed to `record`, which writes it in one
transaction with everything it implies:

- the incident's own fields (severity, summary, commander, display zone, ...);
- a timeline entry saying what changed, by whom;
- the status, derived again from the milestones (and the postmortem prompts, the first time the
  incident is resolved);
- a header refresh, whose failure is told to the person who made the change;
- an announcement in the incident channel, when the change deserves one;
- a record in the activity log (storage/activity.py) with what the change replaced (`before`) and
  what it set (`after`), so `/incident undo` can put it back (bot/curation.py).

The outbox is woken by the database once the transaction commits (storage.db.JOBS_QUEUED).
docs/architecture.md shows where this sits on the path of a slash command.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session

from bot import postmortem, views
from bot.milestones import status_of
from bot.services import Services
from storage import activity, entries, incidents, outbox_jobs
from storage.models import Entry, Incident


@dataclass(frozen=True)
class Actor:
    """Who made a change, and where to tell them if the header cannot follow it."""

    user_id: str
    response_url: str | None = None


@dataclass(frozen=True)
class Change:
    """What one change does to an incident, as data."""

    kind: str  # the timeline entry's kind: severity, role, summary, impact, timezone, milestone
    text: str | None  # the entry's text in Slack's encoding; None records no entry
    fields: Mapping[str, Any] = field(default_factory=dict)  # the incident's columns to set
    before: Mapping[str, Any] = field(default_factory=dict)  # what the change replaced (enough to put it back)
    after: Mapping[str, Any] | None = None  # what it set, for the activity log (None: `fields`)
    key: bool = False  # the entry is a key event of the postmortem timeline
    milestone: str | None = None
    announce: str | None = None  # mrkdwn for the incident channel
    undoes: int | None = None  # the activity record this change puts back (`/incident undo`)


# The kinds of change `/incident undo` can put back: each is logged with what it replaced.
UNDOABLE = ("milestone", "severity", "role", "summary", "impact", "timezone")


# A change that must read or write other tables first (a milestone, a role) is a function of the
# transaction's session that returns the Change, or None when there turned out to be nothing to do.
Write = Callable[[Session], Change | None]


def record(services: Services, actor: Actor, incident_id: int, change: Change | Write,
           now: datetime | None = None) -> Change | None:
    """Apply `change` to the incident at `now` and queue what it implies, in one transaction.
    Returns the change as recorded (None when a Write found nothing to do)."""
    now = now or services.now()
    with services.db.write() as session:
        if callable(change):
            change = change(session)
            if change is None:
                return None
        incident = session.get(Incident, incident_id)
        for name, value in change.fields.items():
            setattr(incident, name, value)
        entry_id = None
        if change.text is not None:
            entry_id = entries.add_entry(session, Entry(
                incident_id=incident_id, kind=change.kind, milestone=change.milestone, at=now,
                author_id=actor.user_id, text=change.text, key=change.key, recorded_at=now))
        if change.undoes is not None or change.kind in UNDOABLE:
            activity.add(session, incident_id=incident_id, actor=actor.user_id, at=now, entry_id=entry_id,
                         action="undo" if change.undoes is not None else change.kind, undoes=change.undoes,
                         before=change.before, after=change.fields if change.after is None else change.after)
        if change.milestone is not None:  # the status follows the milestones, and nothing else
            _derive_status(session, services, incident, now)
        session.add(incident)
        refresh_header(session, actor, incident_id, now)
        if change.announce and incident.channel_id:
            outbox_jobs.enqueue(session, "announce", {"channel_id": incident.channel_id, "text": change.announce}, now)
    return change


def refresh_header(session: Session, actor: Actor, incident_id: int, now: datetime) -> None:
    """Queue the header's refresh; if it cannot be done in the end, the actor hears so."""
    outbox_jobs.enqueue(session, "sync_header",
                        {"incident_id": incident_id, "response_url": actor.response_url,
                         "failure_text": f"The header of {views.ref(incident_id)} could not be updated"},
                        now, coalesce_key=f"header:{incident_id}")


def _derive_status(session: Session, services: Services, incident: Incident, now: datetime) -> None:
    """The status follows the milestones; the first time it is resolved, the prompts go out."""
    incident.status = status_of(incidents.milestones(session, incident.id))
    if incident.status == "resolved" and incidents.mark_prompts_sent(session, incident.id, now):
        postmortem.queue_prompts(session, incident.id, services.settings, now)
