"""After the incident: gather what was captured into a draft, and ask the people who were there.

The rendering itself is pure (bot/drafting.py); this module reads the database for it and decides
who is asked for what (docs/postmortem.md). Slack is never called here: messages go through the outbox.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from bot import drafting, tracker_items
from bot.timeline import load as load_timeline
from storage import action_items, activity, answers, drafts, entries, incidents, outbox_jobs, profiles
from storage.db import Database
from storage.models import Incident, PostmortemDraft

if TYPE_CHECKING:  # `incident-bot postmortem export` passes its lighter CommandSettings
    from bot.config import Settings

# topics each prompt button covers (a person who answered any of a button's topics is not asked again)
PROMPTS: dict[str, tuple[str, ...]] = {
    "root_cause": ("root_cause",),
    "went": ("went_well", "went_wrong"),
}
PROMPT_PACE = timedelta(seconds=1.1)  # one DM a second: within chat.postMessage's limits


# what the draft's "changes to the timeline" lists: the curation of entries, not the fields' history
TIMELINE_ACTIONS = ("edit", "retime", "hide", "show", "add", "undo", "slack_edit")


ENTRY_ACTIONS = ("edit", "retime", "hide", "show", "add")  # what an `undo` in the appendix may have undone


def timeline_changes(session, incident_id: int, items, key_only: bool = False) -> list[drafting.TimelineChange]:
    """The activity log's records about timeline entries, with each entry's time and hidden flag now.
    An `undo` is listed only when what it undid was about an entry (or it hid a log entry), not a
    severity or role put back; a key-only draft lists only the changes to key events."""
    by_entry = {i.entry_id: i for i in items if i.entry_id is not None}
    records = activity.history(session, incident_id)
    by_id = {r.id: r for r in records}
    changes = []
    for r in records:
        if r.action not in TIMELINE_ACTIONS or r.entry_id is None:
            continue
        if r.action == "undo" and r.undoes is not None \
                and getattr(by_id.get(r.undoes), "action", None) not in ENTRY_ACTIONS:
            continue
        item = by_entry.get(r.entry_id)
        if key_only and not (item is not None and item.key):
            continue
        changes.append(drafting.TimelineChange(
            at=r.at, actor=r.actor, action=r.action, entry_time=item.time if item else None,
            entry_hidden=item is None or item.hidden or item.deleted, before=r.before, after=r.after))
    return changes


def gather(session, incident: Incident, settings: Settings, now: datetime, *,
           version: int | None = None, workspace_url: str | None = None,
           key_only: bool = False) -> drafting.DraftInput:
    """Everything the draft shows about one incident, read in the caller's session."""
    items = load_timeline(session, incident.id, settings.key_event_emoji)
    milestones = {name: m.at for name, m in incidents.milestones(session, incident.id).items()}
    replies = [drafting.Answer(a.user_id, a.topic, a.text, a.answered_at) for a in answers.answers(session, incident.id)]
    actions = [drafting.Action(a.id, a.text, a.owner_id, a.due, a.status, tracker_items.markdown_link(a))
               for a in action_items.action_items(session, incident.id)]
    roles = incidents.roles(session, incident.id)
    people = participants(session, incident.id, roles)
    changes = timeline_changes(session, incident.id, items, key_only)
    mentioned = {i.author for i in items if i.author} | {c.actor for c in changes} | {a.owner_id for a in actions if a.owner_id} | set(people)
    if incident.commander_id:
        mentioned.add(incident.commander_id)
    return drafting.DraftInput(
        number=incident.id,
        title=incident.title,
        severity=incident.severity,
        status=incident.status,
        zone=settings.display_zone(incident.display_tz),
        milestones=milestones,
        timeline=items,
        created_at=incident.created_at,
        generated_at=now,
        commander_id=incident.commander_id,
        summary=incident.summary,
        impact=incident.impact,
        channel_id=incident.channel_id,
        channel_name=incident.channel_name,
        workspace_url=incident.workspace_url or workspace_url,
        roles=roles,
        answers=replies,
        actions=actions,
        participants=people,
        names=profiles.user_names(session, mentioned),
        version=version,
        changes=changes,
        key_only=key_only,
    )


def participants(session, incident_id: int, roles: dict[str, str] | None = None) -> list[str]:
    """Role holders (the commander first), then everyone who wrote or logged, in order of appearance.

    When PROMPT_MAX_PEOPLE cuts the list, the people who ran the incident are asked first.
    """
    roles = roles if roles is not None else incidents.roles(session, incident_id)
    people = sorted(set(roles.values()), key=lambda u: (roles.get("commander") != u, list(roles.values()).index(u)))
    for user_id in entries.participants(session, incident_id):
        if user_id not in people:
            people.append(user_id)
    return people


def save_draft(db: Database, incident_id: int, settings: Settings, template: str, by: str | None, now: datetime,
               *, workspace_url: str | None = None, upload: dict | None = None,
               key_only: bool = False) -> PostmortemDraft:
    """Render the incident's next draft version and store it, queueing its upload in the same commit.

    Rendering happens outside any write transaction (a long incident takes a while, and SQLite has one
    writer); the write is short. If a concurrent draft took the version meanwhile, render again as the
    next one. Raises drafting.DraftError (nothing stored) when the template is unknown or fails.
    """
    name = template.strip().lower()
    for _ in range(5):
        with db.read() as session:
            incident = session.get(Incident, incident_id)
            version = drafts.latest_draft_version(session, incident_id) + 1
            data = gather(session, incident, settings, now, version=version, workspace_url=workspace_url,
                          key_only=key_only)
        markdown = drafting.render(data, name, settings.templates_dir)
        with db.write() as session:
            stored = drafts.add_draft(session, incident_id, version, name, markdown, by, now)
            if stored is not None and upload is not None:
                outbox_jobs.enqueue(session, "upload_draft", {"draft_id": stored.id, **upload}, now)
        if stored is not None:
            return stored
    raise drafting.DraftError("Other drafts of this incident were being saved at the same moment; try again.")


def export(session, incident: Incident, settings: Settings, template: str, now: datetime, *,
           key_only: bool = False) -> str:
    """The same Markdown as a draft, without storing a version (for `incident-bot postmortem export`)."""
    data = gather(session, incident, settings, now, key_only=key_only)
    return drafting.render(data, template, settings.templates_dir)


def prompts_for(session, incident_id: int, user_id: str) -> list[str]:
    """The prompt buttons this person still needs: those they have not answered at all."""
    answered = answers.answered_topics(session, incident_id, user_id)
    return [prompt for prompt, topics in PROMPTS.items() if not set(topics) & answered]


def queue_prompts(session, incident_id: int, settings: Settings, now: datetime) -> int:
    """Queue the channel post and a DM to each participant who still owes an answer (capped at
    PROMPT_MAX_PEOPLE, paced). Returns how many people are asked by DM."""
    incident = session.get(Incident, incident_id)
    if incident is None:
        return 0
    if incident.channel_id:
        outbox_jobs.enqueue(session, "prompt_channel", {"incident_id": incident_id}, now,
                        coalesce_key=f"prompt-channel:{incident_id}")
    people = participants(session, incident_id)[: settings.prompt_max_people]
    asked = [user_id for user_id in people if prompts_for(session, incident_id, user_id)]
    for index, user_id in enumerate(asked):
        outbox_jobs.enqueue(session, "prompt_dm", {"incident_id": incident_id, "user_id": user_id}, now,
                        coalesce_key=f"prompt:{incident_id}:{user_id}", delay=PROMPT_PACE * index)
    return len(asked)
