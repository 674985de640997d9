"""`/incident`: record what happens during an incident, with exact times.

Each subcommand is a function `(ctx, incident, rest) -> Reply`, listed in SUBCOMMANDS at the end. It
parses what was typed, records it (a change goes through bot/changes.py, a log line through the
acknowledgement path's own statement), and returns the reply, which goes into the acknowledgement:
the reply is sent only after the write is committed. `/incident start` lives in
bot/commands/opening.py.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import datetime

from bot import action_blocks, action_request, actions, curation, curation_slack, due_dates, status_updates, views
from bot import text as T
from bot.changes import Actor, Change
from bot.commands import opening
from bot.commands.common import NO_INCIDENT, Call, Reply, echo, first_word, mentioned_users, strip_mentions
from bot.commands.context import Context
from bot.milestones import MILESTONE_LABELS, MILESTONES, SEVERITIES, measure, order_warnings, severity_label
from bot.services import Services
from bot.when import (
    DAY_NOTE_MARGIN,
    When,
    WhenError,
    as_utc,
    day_note,
    format_time,
    slack_date,
    split_when,
    zone_display_name,
    zone_named,
)
from storage import action_items, capture_sql, incidents, outbox_jobs
from storage.capture_sql import ChannelIncident
from storage.models import ActionItem, Incident, Milestone

log = logging.getLogger(__name__)

Subcommand = Callable[[Context, ChannelIncident, str], Reply]


def handle(services: Services, call: Call) -> Reply:
    """Answer one `/incident` command."""
    word, rest = first_word(call.text)
    name = word.lower()
    ctx = Context(services, call, services.now())
    emoji = services.settings.key_event_emoji
    if name in ("", "help"):
        return help_reply(emoji=emoji)
    if name == "start":
        return opening.start(ctx, rest)
    if name == "log":
        logged = log_in_channel(ctx, rest)
        if logged is not None:
            return logged
    subcommand = SUBCOMMANDS.get(name)
    if subcommand is None:
        return help_reply(f"`{T.escape_mrkdwn(T.truncate(T.plain(word), 40))}` is not an `/incident` subcommand.", emoji)
    with services.db.reading() as conn:
        incident = capture_sql.channel_incident(conn, call.channel_id, services.capture_cutoff(ctx.now))
    if incident is None:
        return Reply(NO_INCIDENT)
    if name not in READ_ONLY and not incident.captures:
        return Reply(
            f"{views.ref(incident.id)} was resolved more than {services.settings.capture_after_resolved_days} "
            "days ago and takes no more changes. Start a new incident with `/incident start <title>`."
        )
    try:
        return subcommand(ctx, incident, rest)
    except WhenError as exc:  # it quotes what was typed: no live tokens from it
        return Reply(f":warning: {T.mrkdwn(str(exc))}")


# ---------------------------------------------------------------------------------------------
# log and milestones


def log_entry(ctx: Context, incident: ChannelIncident, rest: str) -> Reply:
    parsed = _parse_log(ctx, rest)
    if isinstance(parsed, Reply):
        return parsed
    when, at, text = parsed
    curation.add_log(ctx.services, Actor(ctx.user, ctx.call.response_url), incident.id, text, at, ctx.now)
    return _logged(ctx, incident.id, incident.display_tz, rest, when, at, text)


def log_in_channel(ctx: Context, rest: str) -> Reply | None:
    """`/incident log` as the acknowledgement's one statement: the entry is stored in the channel's
    incident, found by that statement. None when that cannot be done (nothing to log, a time that does
    not read, no incident here that takes entries): `handle` then reads the incident and says why.
    Also None for a caller this process does not hold yet: reading their zone may ask Slack, which
    must not happen before it is known that there is an incident here to log in."""
    if not ctx.services.people.remembered(ctx.user):
        return None
    try:
        parsed = _parse_log(ctx, rest)
    except WhenError:
        return None
    if isinstance(parsed, Reply):
        return None
    when, at, text = parsed
    logged = curation.add_log_in_channel(ctx.services, Actor(ctx.user, ctx.call.response_url), ctx.call.channel_id,
                                         text, at, ctx.now)
    if logged is None:
        return None
    return _logged(ctx, logged.incident_id, logged.display_tz, rest, when, at, text)


def _parse_log(ctx: Context, rest: str) -> tuple[When | None, datetime, str] | Reply:
    """(the `<when>` typed, the entry's time, its text), or the reply that says what is missing."""
    if not rest.strip():
        return Reply("Nothing to log. Usage: `/incident log [<when>] <text>`, e.g. `/incident log 14:05 rolled back deploy`.")
    when, text = split_when(rest, ctx.now, ctx.caller_zone())
    if not text:
        return Reply("Add what happened after the time, e.g. `/incident log 14:05 rolled back deploy`.")
    return when, (when.at if when else ctx.now), text


def _logged(ctx: Context, incident_id: int, display_tz: str | None, typed: str, when: When | None, at: datetime,
            text: str) -> Reply:
    zone = ctx.services.settings.display_zone(display_tz)
    return Reply(
        f"Logged for {views.ref(incident_id)} at {views.confirmation_time(at, zone, ctx.caller_zone())}: {echo(text)}"
        + _day_note(ctx, incident_id, typed, when)
    )


def milestone(name: str) -> Subcommand:
    label = MILESTONE_LABELS[name]

    def record_milestone(ctx: Context, incident: ChannelIncident, rest: str) -> Reply:
        if rest.strip().lower() == "clear":
            return clear_milestone(ctx, incident, name)
        caller_zone, zone = ctx.caller_zone(), ctx.services.zone_for(incident)
        when, note = split_when(rest, ctx.now, caller_zone)
        at = when.at if when else ctx.now

        def put(session) -> Change:
            previous = incidents.put_milestone(session, Milestone(
                incident_id=incident.id, name=name, at=at, author_id=ctx.user, note=note or None, is_default=False,
                recorded_at=ctx.now))
            moved = None
            if previous is not None:  # a corrected time is kept in the timeline; a first one is the milestone
                was = format_time(previous.at, zone) + (" (the time of `start`)" if previous.is_default else "")
                moved = T.encode(f"{label} moved from {was} to {format_time(at, zone)}")
            return Change(kind="milestone", milestone=name, text=moved, before=_milestone_before(name, previous),
                          after={"name": name, "at": at, "note": note or None},
                          announce=f"*{views.ref(incident.id)} {label.lower()}* at {slack_date(at, zone)}, "
                                   f"recorded by <@{ctx.user}>" + (f": {T.mrkdwn_cut(note, views.ANNOUNCED_TEXT_LIMIT)}" if note else ""))

        change = ctx.record(incident.id, put)
        was = change.before["at"]
        reply = (f"{label} for {views.ref(incident.id)}: {views.confirmation_time(at, zone, caller_zone)}"
                 + (f" (was {format_time(was, zone)})." if was else "."))
        if note:
            reply += f" Note: {echo(note)}"
        return Reply(reply + _day_note(ctx, incident.id, rest, when, name) + _order_warnings(ctx, incident.id))

    record_milestone.__name__ = f"milestone_{name}"
    return record_milestone


def _day_note(ctx: Context, incident_id: int, typed: str, when: When | None,
              milestone: str | None = None) -> str:
    """Which day a bare clock time was taken as, when that lies over an hour before the incident began
    (its `started` time, else its declaration; for `started` itself, the declaration)."""
    if when is None or when.at >= ctx.now - DAY_NOTE_MARGIN:
        return ""  # it cannot lie an hour before the incident began: no need to read when that was
    with ctx.services.db.read() as session:
        started = None if milestone == "started" else incidents.milestones(session, incident_id).get("started")
        began = started.at if started is not None else session.get(Incident, incident_id).created_at
    return day_note(typed, when, as_utc(began), views.ref(incident_id))


def clear_milestone(ctx: Context, incident: ChannelIncident, name: str) -> Reply:
    zone, label = ctx.services.zone_for(incident), MILESTONE_LABELS[name]

    def remove(session) -> Change | None:
        removed = incidents.remove_milestone(session, incident.id, name)
        if removed is None:
            return None
        return Change(kind="milestone", milestone=name, before=_milestone_before(name, removed),
                      after={"name": name, "at": None},
                      text=T.encode(f"{label} cleared (was {format_time(removed.at, zone)})"))

    change = ctx.record(incident.id, remove)
    if change is None:
        return Reply(f"{label} is not recorded for {views.ref(incident.id)}; nothing to clear.")
    return Reply(f"{label} cleared for {views.ref(incident.id)} (was {format_time(change.before['at'], zone)}).")


def _milestone_before(name: str, previous: Milestone | None) -> dict:
    """What a milestone change replaced, enough for `/incident undo` to put it back."""
    if previous is None:
        return {"name": name, "at": None}
    return {"name": name, "at": previous.at, "note": previous.note, "author_id": previous.author_id,
            "is_default": previous.is_default}


def _order_warnings(ctx: Context, incident_id: int) -> str:
    with ctx.services.db.read() as session:
        times = {name: m.at for name, m in incidents.milestones(session, incident_id).items()}
    return "".join(f"\n:warning: {w}" for w in order_warnings(times))


# ---------------------------------------------------------------------------------------------
# severity, roles, fields, zone


def severity(ctx: Context, incident: ChannelIncident, rest: str) -> Reply:
    value, before = rest.strip().lower(), incident.severity
    if value not in SEVERITIES:
        return Reply("Usage: `/incident severity sev1` (most severe) to `sev4`.")
    if before == value:
        return Reply(f"{views.ref(incident.id)} is already {severity_label(value)}.")
    change = f"Severity {severity_label(before)} → {severity_label(value)}"
    ctx.record(incident.id, Change(
        kind="severity", text=T.encode(change), key=True, fields={"severity": value}, before={"severity": before},
        announce=f"*{views.ref(incident.id)}* {T.escape_mrkdwn(change)} (by <@{ctx.user}>)"))
    return Reply(f"{views.ref(incident.id)} is now {severity_label(value)} (was {severity_label(before)}).")


_ROLE_NAME = re.compile(r"[a-z][a-z0-9_-]{0,39}")
ROLE_USAGE = ("Usage: `/incident role <commander|postmortem|comms|scribe|ROLE> @person`, "
              "e.g. `/incident role comms @dana`.")


def role(ctx: Context, incident: ChannelIncident, rest: str) -> Reply:
    name, who = first_word(rest)
    name, users = name.lower(), mentioned_users(who)
    # exactly one person and nothing else: `role ping <@U1> <!channel> …` is not half-taken as a role
    if not _ROLE_NAME.fullmatch(name) or len(users) != 1 or strip_mentions(who).strip():
        return Reply(ROLE_USAGE)
    user_id = users[0]

    def put(session) -> Change:
        before = incidents.put_role(session, incident.id, name, user_id, ctx.user, ctx.now)
        outbox_jobs.enqueue(session, "profile", {"user_id": user_id}, ctx.now)  # their name and zone
        return Change(kind="role", text=f"{name}: <@{user_id}>", before={"role": name, "user_id": before},
                      after={"role": name, "user_id": user_id},
                      fields={"commander_id": user_id} if name == "commander" else {},
                      announce=f"*{views.ref(incident.id)}* {T.escape_mrkdwn(name)}: <@{user_id}> "
                               f"(set by <@{ctx.user}>)")

    before = ctx.record(incident.id, put).before["user_id"]
    was = f" (was <@{before}>)" if before and before != user_id else ""
    return Reply(f"{views.ref(incident.id)}: <@{user_id}> is {T.escape_mrkdwn(name)}{was}.")


def text_field(field: str) -> Subcommand:
    def set_field(ctx: Context, incident: ChannelIncident, rest: str) -> Reply:
        value = rest.strip()
        if not value:
            return Reply(f"Usage: `/incident {field} <text>`.")
        def put(session) -> Change:
            was = getattr(session.get(Incident, incident.id), field)
            return Change(kind=field, text=value, fields={field: value}, before={field: was})

        ctx.record(incident.id, put)
        return Reply(f"{field.capitalize()} of {views.ref(incident.id)} set: {echo(value)}")

    set_field.__name__ = f"set_{field}"
    return set_field


def timezone(ctx: Context, incident: ChannelIncident, rest: str) -> Reply:
    name = rest.strip()
    if not name:
        current = zone_display_name(ctx.services.zone_for(incident))
        return Reply(f"{views.ref(incident.id)} shows times in {current}. Change it with "
                     "`/incident timezone Europe/Berlin` (any IANA zone).")
    zone = zone_named(name)
    ctx.record(incident.id, Change(kind="timezone", text=T.encode(zone.key), fields={"display_tz": zone.key},
                                   before={"display_tz": incident.display_tz}))
    return Reply(f"{views.ref(incident.id)} now shows times in {zone.key}: it is {format_time(ctx.now, zone)}.")


# ---------------------------------------------------------------------------------------------
# action items

ACTION_USAGE = ("Usage: `/incident action <text> [@owner] [due <date>]`, e.g. "
                "`/incident action add retry backoff to the client @dana due friday`.")


def action(ctx: Context, incident: ChannelIncident, rest: str) -> Reply:
    if not rest.strip():
        return Reply(ACTION_USAGE)
    today = due_dates.local_today(ctx.now, ctx.caller_zone())
    try:
        request = action_request.parse_action(rest, today)
    except due_dates.DueError as exc:
        return Reply(f":warning: Nothing was stored: {exc}")
    if not request.text:
        return Reply(f"Say what needs doing before the owner and due date. {ACTION_USAGE}")
    with ctx.services.db.write() as session:
        item = actions.record_item(
            session,
            ActionItem(incident_id=incident.id, text=request.text, owner_id=request.owner_id, due=request.due,
                       status="open", created_by=ctx.user, created_at=ctx.now),
            ctx.now, owner_label=request.owner_mention,
        )
        number = item.id
    owner = f"<@{request.owner_id}>" if request.owner_id else "nobody yet, so reminders go to the commander"
    reply = (f"Action #{number} for {views.ref(incident.id)}: {echo(request.text)}\n"
             f"Owner: {owner} · Due: {due_dates.describe_due(request.due, today)}")
    if request.due is not None and request.due < today:
        reply += (f"\n:warning: {request.due.isoformat()} is already past, so the item is overdue now"
                  " and the reminder goes out with the next sweep.")
    return Reply(reply)


def list_actions(ctx: Context, incident: ChannelIncident, rest: str) -> Reply:
    with ctx.services.db.read() as session:
        items = action_items.action_items(session, incident.id)
    today = due_dates.local_today(ctx.now, ctx.caller_zone())
    text, blocks = action_blocks.list_message(views.ref(incident.id), items, today)
    return Reply(text, blocks=blocks)


# ---------------------------------------------------------------------------------------------
# status updates, status and help


def update(ctx: Context, incident: ChannelIncident, rest: str) -> Reply:
    text = rest.strip()
    if not text:
        return Reply(status_updates.USAGE)
    posted = status_updates.post_update(ctx.services, Actor(ctx.user, ctx.call.response_url), incident.id, text,
                                        ctx.now)
    return Reply(status_updates.posted_text(incident.id, posted) + f" It says: {echo(text)}")


def status(ctx: Context, incident: ChannelIncident, rest: str) -> Reply:
    with ctx.services.db.read() as session:
        row = session.get(Incident, incident.id)
        times = {name: m.at for name, m in incidents.milestones(session, incident.id).items()}
        message = views.header_message(
            number=row.id, title=row.title, severity=row.severity, status=row.status,
            commander_id=row.commander_id, milestones=times, roles=incidents.roles(session, row.id),
            zone=ctx.services.zone_for(row), summary=row.summary, impact=row.impact,
        )
    zone = ctx.services.zone_for(incident)
    lines = [f"*{m.metric.label}*: {m.text}" for m in measure(times, row.created_at)]
    lines += [f"*{MILESTONE_LABELS[n]}*: {format_time(times[n], zone)}" for n in MILESTONES if n in times]
    lines += [f":warning: {w}" for w in order_warnings(times)]
    message["blocks"].insert(-1, {"type": "section", "text": views.mrkdwn_text("\n".join(lines))})
    return Reply(message["text"], blocks=message["blocks"])


HELP = """*`/incident` commands* (times: `14:05`, `2:05pm`, `2026-11-22 14:05`, with an optional zone like `UTC` or `Europe/Berlin`)
• `/incident start <title> [sev1-4]`: open an incident
• `/incident log [<when>] <text>`: add to the timeline, e.g. `/incident log 14:05 rolled back deploy`
• `/incident started|detected|acknowledged|mitigated|resolved [<when>] [<note>]`: record a milestone (`… clear` removes it)
• `/incident severity sev2` · `/incident role comms @dana` · `/incident summary <text>` · `/incident impact <text>`
• `/incident timezone Europe/Berlin`: the zone the timeline is shown in
• `/incident action <text> [@owner] [due <date>]` · `/incident actions`: the items, with *Done* and *Drop*
• `/incident update <text>`: post a status update here (and in the announcements channel, if one is set)
• `/incident timeline [page]`: the entries, with *Edit* and *Hide* · `/incident undo`: your last change (30 min)
• `/incident status` · `/incident help`
React with :{emoji}: to a message to make it a key event in the postmortem. `/postmortem help` for drafts."""


def help_reply(prefix: str | None = None, emoji: str = "pushpin") -> Reply:
    text = HELP.replace("{emoji}", emoji)
    return Reply(f"{prefix}\n{text}" if prefix else text)


def timeline(ctx: Context, incident: ChannelIncident, rest: str) -> Reply:
    return curation_slack.timeline_command(ctx.services, incident.id, rest)


def undo(ctx: Context, incident: ChannelIncident, rest: str) -> Reply:
    return curation_slack.undo_command(ctx.services, Actor(ctx.user, ctx.call.response_url), incident.id, ctx.now)


SUBCOMMANDS: dict[str, Subcommand] = {
    "log": log_entry,
    "severity": severity,
    "role": role,
    "summary": text_field("summary"),
    "impact": text_field("impact"),
    "timezone": timezone,
    "status": status,
    "action": action,
    "actions": list_actions,
    "update": update,
    "timeline": timeline,
    "undo": undo,
}
SUBCOMMANDS.update({name: milestone(name) for name in MILESTONES})
READ_ONLY = {"status", "actions", "timeline"}
