"""`/incident`: open an incident and record what happens, with exact times (SPEC 3).

Each subcommand is a function `(ctx, rest) -> Reply`. It parses, writes in one transaction (with the
outbox jobs its change implies), and returns the reply that goes into the acknowledgement, so the
reply is only sent after the write is committed.
"""

from __future__ import annotations

import logging
import re
import secrets
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from slack_sdk.errors import SlackApiError, SlackClientError

from bot import actions, postmortem, views
from bot import text as T
from bot.commands.common import (
    NO_INCIDENT,
    Call,
    Reply,
    echo,
    first_word,
    mentioned_users,
    strip_mentions,
)
from bot.milestones import (
    MILESTONE_LABELS,
    MILESTONES,
    SEVERITIES,
    measure,
    order_warnings,
    severity_label,
    status_of,
)
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
from storage import fast, queries
from storage.fast import ChannelIncident
from storage.models import ActionItem, Entry, Incident, Milestone

log = logging.getLogger(__name__)

CHANNEL_NAME_LIMIT = 80


@dataclass
class Context:
    services: Services
    call: Call
    now: datetime

    @property
    def user(self) -> str:
        return self.call.user_id

    def caller_zone(self):
        return self.services.people.zone_of(self.user)


Subcommand = Callable[[Context, ChannelIncident, str], Reply]


# ---------------------------------------------------------------------------------------------
# entry point


def handle(services: Services, call: Call) -> Reply:
    """Answer one `/incident` command."""
    word, rest = first_word(call.text)
    name = word.lower()
    ctx = Context(services, call, services.now())
    emoji = services.settings.key_event_emoji
    if name in ("", "help"):
        return help_reply(emoji=emoji)
    if name == "start":
        return start(ctx, rest)
    subcommand = SUBCOMMANDS.get(name)
    if subcommand is None:
        return help_reply(f"`{T.escape_mrkdwn(T.truncate(T.plain(word), 40))}` is not an `/incident` subcommand.", emoji)
    with services.db.reading() as conn:
        incident = fast.channel_incident(conn, call.channel_id)
    if incident is None:
        return Reply(NO_INCIDENT)
    if name not in READ_ONLY and not incident.capturing(ctx.now, services.settings.capture_after_resolved_days):
        return Reply(
            f"{views.ref(incident.id)} was resolved more than {services.settings.capture_after_resolved_days} "
            "days ago and takes no more changes. Start a new incident with `/incident start <title>`."
        )
    try:
        return subcommand(ctx, incident, rest)
    except WhenError as exc:  # it quotes what was typed: no live tokens from it
        return Reply(f":warning: {T.mrkdwn(str(exc))}")


def _after_change(session, ctx: Context, incident_id: int, *, announce: str | None = None) -> None:
    """Queue what every visible change implies: refresh the header, and maybe tell the channel."""
    # If the header cannot be updated in the end, the person whose change it was hears so (their
    # response_url); what they recorded is stored either way.
    queries.enqueue(session, "sync_header",
                    {"incident_id": incident_id, "response_url": ctx.call.response_url,
                     "failure_text": f"The header of {views.ref(incident_id)} could not be updated"},
                    ctx.now, coalesce_key=f"header:{incident_id}")
    if announce:
        incident = session.get(Incident, incident_id)
        if incident and incident.channel_id:
            queries.enqueue(session, "announce", {"channel_id": incident.channel_id, "text": announce}, ctx.now)


# ---------------------------------------------------------------------------------------------
# start


_SEVERITY_WORD = re.compile(r"sev\d+", re.IGNORECASE)


def parse_title(rest: str) -> tuple[str, str | None]:
    """(`title`, `severity`) from `<title> [sevN]` (a leading `sevN` is accepted too)."""
    words = rest.split()
    severity = None
    for index in (-1, 0):
        if words and _SEVERITY_WORD.fullmatch(words[index]):
            candidate = words.pop(index).lower()
            if candidate not in SEVERITIES:
                raise WhenError(f"`{candidate}` is not a severity: use sev1 (most severe) to sev4.")
            severity = candidate
            break
    return " ".join(words), severity


def slug(title: str) -> str:
    ascii_title = unicodedata.normalize("NFKD", T.plain(title)).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")


def channel_name_for(prefix: str, day: datetime, number: int, title: str) -> str:
    """`<prefix><YYYYMMDD>-<n>-<slug>`, lowercase `[a-z0-9-]`, at most 80 characters."""
    head = f"{prefix}{day:%Y%m%d}-{number}-"
    room = CHANNEL_NAME_LIMIT - len(head)
    tail = slug(title)[:room].strip("-") or "incident"
    return (head + tail)[:CHANNEL_NAME_LIMIT]


def start(ctx: Context, rest: str) -> Reply:
    services, call = ctx.services, ctx.call
    try:
        title, severity = parse_title(rest)
    except WhenError as exc:  # it quotes what was typed: no live tokens from it
        return Reply(f":warning: {T.mrkdwn(str(exc))}")
    if not title:
        return Reply("Give the incident a title: `/incident start Checkout errors sev2`.")
    with services.db.reading() as conn:
        here = fast.channel_incident(conn, call.channel_id)
    if here is not None and here.status != "resolved":
        return Reply(f"{views.ref(here.id)} is open here. Did you mean `/incident started`?")

    bind_here = services.settings.incident_channel_mode == "current" and not call.in_dm
    workspace_url = services.workspace_url(call.team_domain)  # asked of Slack once, not in the transaction
    with services.db.write() as session:
        incident = queries.add_incident(
            session,
            Incident(
                title=title,
                severity=severity,
                status="open",
                channel_id=call.channel_id if bind_here else None,
                channel_name=call.channel_name if bind_here else None,
                commander_id=call.user_id,
                created_by=call.user_id,
                created_at=ctx.now,
                workspace_url=workspace_url,
            ),
        )
        number = incident.id
        queries.put_role(session, number, "commander", call.user_id, call.user_id, ctx.now)
        queries.put_milestone(
            session,
            Milestone(incident_id=number, name="detected", at=ctx.now, author_id=call.user_id,
                      note=None, is_default=True, recorded_at=ctx.now),
        )
        if bind_here:
            _queue_start_jobs(session, ctx, number, call.channel_id, backfill=True)
    assert number is not None
    if bind_here:
        return _bound_here(ctx, number, title, severity)
    return _create_channel(ctx, number, title, severity)


def _queue_start_jobs(session, ctx: Context, number: int, channel_id: str, *, backfill: bool) -> None:
    queries.enqueue(session, "sync_header", {"incident_id": number}, ctx.now, coalesce_key=f"header:{number}")
    queries.enqueue(session, "profile", {"user_id": ctx.user}, ctx.now)
    minutes = ctx.services.settings.backfill_minutes
    if backfill and minutes:
        oldest = ctx.now - timedelta(minutes=minutes)
        queries.enqueue(
            session, "backfill",
            {"incident_id": number, "channel_id": channel_id, "oldest": f"{oldest.timestamp():.6f}"},
            ctx.now,
        )


def _opened_text(ctx: Context, number: int, title: str, severity: str | None, where: str) -> str:
    return (
        f":rotating_light: *{views.ref(number)}* opened by <@{ctx.user}>: *{echo(title, 300)}* "
        f"({severity_label(severity)}) in {where}. <@{ctx.user}> is commander."
    )


def _bound_here(ctx: Context, number: int, title: str, severity: str | None) -> Reply:
    """`current` mode: this channel is the incident channel. Join it so messages are captured."""
    note = ""
    try:
        ctx.services.slack.conversations_join(channel=ctx.call.channel_id)
    except SlackApiError as exc:
        error = (exc.response or {}).get("error")
        if error in {"method_not_supported_for_channel_type", "channel_not_found", "is_private"}:
            note = (
                "\n:lock: This is a private channel: `/invite` me to it so I can capture messages "
                "(the last hour will be imported once I am in)."
            )
        else:
            note = f"\n:warning: I could not join this channel (`{error}`); invite me with `/invite`."
    except (SlackClientError, OSError):
        with ctx.services.db.write() as session:
            queries.enqueue(session, "join", {"channel_id": ctx.call.channel_id}, ctx.now)
    ctx.services.wake_outbox()
    text = _opened_text(ctx, number, title, severity, "this channel")
    text += "\nEverything said here is captured; log with `/incident log`, `/incident help` for more." + note
    return Reply(text, public=True)


def _create_channel(ctx: Context, number: int, title: str, severity: str | None) -> Reply:
    """`create` mode: a new channel for the incident, the caller invited, the header posted there."""
    services = ctx.services
    local_day = ctx.now.astimezone(services.settings.zone)
    name = channel_name_for(services.settings.channel_prefix, local_day, number, title)
    channel_id, error = None, None
    for attempt in (name, f"{name[:CHANNEL_NAME_LIMIT - 5]}-{secrets.token_hex(2)}"):
        try:
            response = services.slack.conversations_create(name=attempt)
            channel_id, name = response["channel"]["id"], response["channel"].get("name", attempt)
            break
        except SlackApiError as exc:
            error = (exc.response or {}).get("error") or str(exc)
            if error != "name_taken":
                break
        except (SlackClientError, OSError) as exc:
            error = f"Slack did not answer in time ({type(exc).__name__})"
            break
    if channel_id is None:
        with services.db.write() as session:
            queries.abandon_incident(session, number)
        log.warning("conversations.create failed for INC-%s: %s", number, error)
        return Reply(
            f":warning: I could not create the incident channel (`{error}`), so no incident was opened. "
            "Try again; if it keeps failing, check that the app has the `channels:manage` scope, or set "
            "`INCIDENT_CHANNEL_MODE=current` and run `/incident start` in the channel you want to use."
        )
    with services.db.write() as session:
        queries.bind_channel(session, number, channel_id, name)
        queries.enqueue(session, "invite", {"channel_id": channel_id, "users": [ctx.user]}, ctx.now)
        _queue_start_jobs(session, ctx, number, channel_id, backfill=False)
    services.wake_outbox()
    return Reply(_opened_text(ctx, number, title, severity, f"<#{channel_id}>"), public=True)


# ---------------------------------------------------------------------------------------------
# log and milestones


def log_entry(ctx: Context, incident: ChannelIncident, rest: str) -> Reply:
    if not rest.strip():
        return Reply("Nothing to log. Usage: `/incident log [<when>] <text>`, e.g. `/incident log 14:05 rolled back deploy`.")
    caller_zone = ctx.caller_zone()
    when, text = split_when(rest, ctx.now, caller_zone)
    if not text:
        return Reply("Add what happened after the time, e.g. `/incident log 14:05 rolled back deploy`.")
    at = when.at if when else ctx.now
    ctx.services.db.hot_write(lambda cursor: fast.insert_log(cursor, incident.id, ctx.user, text, at, ctx.now))
    zone = ctx.services.zone_for(incident)
    return Reply(
        f"Logged for {views.ref(incident.id)} at {views.confirmation_time(at, zone, caller_zone)}: {echo(text)}"
        + _day_note(ctx, incident, rest, when)
    )


def milestone(name: str) -> Subcommand:
    def record(ctx: Context, incident: ChannelIncident, rest: str) -> Reply:
        if rest.strip().lower() == "clear":
            return clear_milestone(ctx, incident, name)
        caller_zone = ctx.caller_zone()
        when, note = split_when(rest, ctx.now, caller_zone)
        at = when.at if when else ctx.now
        zone = ctx.services.zone_for(incident)
        label = MILESTONE_LABELS[name]
        with ctx.services.db.write() as session:
            previous = queries.put_milestone(
                session,
                Milestone(incident_id=incident.id, name=name, at=at, author_id=ctx.user,
                          note=note or None, is_default=False, recorded_at=ctx.now),
            )
            if previous is not None:
                was = format_time(previous.at, zone) + (" (the time of `start`)" if previous.is_default else "")
                queries.add_entry(
                    session,
                    Entry(incident_id=incident.id, kind="milestone", milestone=name, at=ctx.now,
                          author_id=ctx.user, text=T.encode(f"{label} moved from {was} to {format_time(at, zone)}"),
                          key=False, recorded_at=ctx.now),
                )
            _refresh_status(session, incident.id)
            if name == "resolved" and queries.mark_prompts_sent(session, incident.id, ctx.now):
                postmortem.queue_prompts(session, incident.id, ctx.services.settings, ctx.now)
            note_text = f": {T.mrkdwn_cut(note, views.ANNOUNCED_TEXT_LIMIT)}" if note else ""
            _after_change(
                session, ctx, incident.id,
                announce=f"*{views.ref(incident.id)} {label.lower()}* at {slack_date(at, zone)}, "
                         f"recorded by <@{ctx.user}>{note_text}",
            )
        ctx.services.wake_outbox()
        replaced = f" (was {format_time(previous.at, zone)})" if previous else ""
        reply = f"{label} for {views.ref(incident.id)}: {views.confirmation_time(at, zone, caller_zone)}{replaced}."
        if note:
            reply += f" Note: {echo(note)}"
        reply += _day_note(ctx, incident, rest, when, name)
        warnings = _order_warnings(ctx, incident.id)
        if warnings:
            reply += "\n:warning: " + "\n:warning: ".join(warnings)
        return Reply(reply)

    record.__name__ = f"milestone_{name}"
    return record


def _day_note(ctx: Context, incident: ChannelIncident, typed: str, when: When | None,
              milestone: str | None = None) -> str:
    """Which day a bare clock time was taken as, when that lies over an hour before the incident began
    (its `started` time, else its declaration; for `started` itself, the declaration)."""
    if when is None or when.at >= ctx.now - DAY_NOTE_MARGIN:
        return ""  # it cannot lie an hour before the incident began: no need to read when that was
    with ctx.services.db.read() as session:
        started = None if milestone == "started" else queries.milestones(session, incident.id).get("started")
        began = started.at if started is not None else session.get(Incident, incident.id).created_at
    return day_note(typed, when, as_utc(began), views.ref(incident.id))


def clear_milestone(ctx: Context, incident: Incident, name: str) -> Reply:
    zone = ctx.services.zone_for(incident)
    label = MILESTONE_LABELS[name]
    with ctx.services.db.write() as session:
        removed = queries.remove_milestone(session, incident.id, name)
        if removed is None:
            return Reply(f"{label} is not recorded for {views.ref(incident.id)}; nothing to clear.")
        queries.add_entry(
            session,
            Entry(incident_id=incident.id, kind="milestone", milestone=name, at=ctx.now, author_id=ctx.user,
                  text=T.encode(f"{label} cleared (was {format_time(removed.at, zone)})"), key=False,
                  recorded_at=ctx.now),
        )
        _refresh_status(session, incident.id)
        _after_change(session, ctx, incident.id)
    ctx.services.wake_outbox()
    return Reply(f"{label} cleared for {views.ref(incident.id)} (was {format_time(removed.at, zone)}).")


def _refresh_status(session, incident_id: int) -> str:
    """Derive the status from the milestones; returns it. Stored so listings need no join."""
    incident = session.get(Incident, incident_id)
    status = status_of(queries.milestones(session, incident_id))
    if incident.status != status:
        incident.status = status
        session.add(incident)
    return status


def _order_warnings(ctx: Context, incident_id: int) -> list[str]:
    with ctx.services.db.read() as session:
        times = {name: m.at for name, m in queries.milestones(session, incident_id).items()}
    return order_warnings(times)


# ---------------------------------------------------------------------------------------------
# severity, roles, fields, zone


def severity(ctx: Context, incident: ChannelIncident, rest: str) -> Reply:
    value = rest.strip().lower()
    if value not in SEVERITIES:
        return Reply("Usage: `/incident severity sev1` (most severe) to `sev4`.")
    before = incident.severity
    if before == value:
        return Reply(f"{views.ref(incident.id)} is already {severity_label(value)}.")
    with ctx.services.db.write() as session:
        row = session.get(Incident, incident.id)
        row.severity = value
        session.add(row)
        change = f"Severity {severity_label(before)} → {severity_label(value)}"
        queries.add_entry(
            session,
            Entry(incident_id=incident.id, kind="severity", at=ctx.now, author_id=ctx.user,
                  text=T.encode(change), key=True, recorded_at=ctx.now),
        )
        _after_change(session, ctx, incident.id,
                      announce=f"*{views.ref(incident.id)}* {T.escape_mrkdwn(change)} (by <@{ctx.user}>)")
    ctx.services.wake_outbox()
    return Reply(f"{views.ref(incident.id)} is now {severity_label(value)} (was {severity_label(before)}).")


_ROLE_NAME = re.compile(r"[a-z][a-z0-9_-]{0,39}")


def role(ctx: Context, incident: ChannelIncident, rest: str) -> Reply:
    usage = ("Usage: `/incident role <commander|postmortem|comms|scribe|ROLE> @person`, "
             "e.g. `/incident role comms @dana`.")
    name, who = first_word(rest)
    name = name.lower()
    users = mentioned_users(who)
    # exactly one person and nothing else: `role ping <@U1> <!channel> …` is not half-taken as a role
    if not _ROLE_NAME.fullmatch(name) or len(users) != 1 or strip_mentions(who).strip():
        return Reply(usage)
    user_id = users[0]
    with ctx.services.db.write() as session:
        before = queries.put_role(session, incident.id, name, user_id, ctx.user, ctx.now)
        if name == "commander":
            row = session.get(Incident, incident.id)
            row.commander_id = user_id
            session.add(row)
        queries.add_entry(
            session,
            Entry(incident_id=incident.id, kind="role", at=ctx.now, author_id=ctx.user,
                  text=f"{name}: <@{user_id}>", key=False,
                  recorded_at=ctx.now),
        )
        _after_change(session, ctx, incident.id,
                      announce=f"*{views.ref(incident.id)}* {T.escape_mrkdwn(name)}: <@{user_id}> (set by <@{ctx.user}>)")
        queries.enqueue(session, "profile", {"user_id": user_id}, ctx.now)
    ctx.services.wake_outbox()
    was = f" (was <@{before}>)" if before and before != user_id else ""
    return Reply(f"{views.ref(incident.id)}: <@{user_id}> is {T.escape_mrkdwn(name)}{was}.")


def text_field(field: str) -> Subcommand:
    def set_field(ctx: Context, incident: ChannelIncident, rest: str) -> Reply:
        value = rest.strip()
        if not value:
            return Reply(f"Usage: `/incident {field} <text>`.")
        with ctx.services.db.write() as session:
            row = session.get(Incident, incident.id)
            setattr(row, field, value)
            session.add(row)
            queries.add_entry(
                session,
                Entry(incident_id=incident.id, kind=field, at=ctx.now, author_id=ctx.user, text=value,
                      key=False, recorded_at=ctx.now),
            )
            _after_change(session, ctx, incident.id)
        ctx.services.wake_outbox()
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
    with ctx.services.db.write() as session:
        row = session.get(Incident, incident.id)
        row.display_tz = zone.key
        session.add(row)
        queries.add_entry(
            session,
            Entry(incident_id=incident.id, kind="timezone", at=ctx.now, author_id=ctx.user,
                  text=T.encode(zone.key), key=False, recorded_at=ctx.now),
        )
        _after_change(session, ctx, incident.id)
    ctx.services.wake_outbox()
    return Reply(f"{views.ref(incident.id)} now shows times in {zone.key}: it is {format_time(ctx.now, zone)}.")


# ---------------------------------------------------------------------------------------------
# action items (SPEC 6)

ACTION_USAGE = ("Usage: `/incident action <text> [@owner] [due <date>]`, e.g. "
                "`/incident action add retry backoff to the client @dana due friday`.")


def action(ctx: Context, incident: ChannelIncident, rest: str) -> Reply:
    if not rest.strip():
        return Reply(ACTION_USAGE)
    today = actions.local_today(ctx.now, ctx.caller_zone())
    try:
        request = actions.parse_action(rest, today)
    except actions.DueError as exc:
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
    ctx.services.wake_outbox()
    owner = f"<@{request.owner_id}>" if request.owner_id else "nobody yet, so reminders go to the commander"
    reply = (f"Action #{number} for {views.ref(incident.id)}: {echo(request.text)}\n"
             f"Owner: {owner} · Due: {actions.describe_due(request.due, today)}")
    if request.due is not None and request.due < today:
        reply += (f"\n:warning: {request.due.isoformat()} is already past, so the item is overdue now"
                  " and the reminder goes out with the next sweep.")
    return Reply(reply)


def list_actions(ctx: Context, incident: ChannelIncident, rest: str) -> Reply:
    with ctx.services.db.read() as session:
        items = queries.action_items(session, incident.id)
    today = actions.local_today(ctx.now, ctx.caller_zone())
    text, blocks = actions.list_message(views.ref(incident.id), items, today)
    return Reply(text, blocks=blocks)


# ---------------------------------------------------------------------------------------------
# status and help


def status(ctx: Context, incident: ChannelIncident, rest: str) -> Reply:
    with ctx.services.db.read() as session:
        row = session.get(Incident, incident.id)
        times = {name: m.at for name, m in queries.milestones(session, incident.id).items()}
        message = views.header_message(
            number=row.id, title=row.title, severity=row.severity, status=row.status,
            commander_id=row.commander_id, milestones=times, roles=queries.roles(session, row.id),
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
• `/incident status` · `/incident help`
React with :{emoji}: to a message to make it a key event in the postmortem. `/postmortem help` for drafts."""


def help_reply(prefix: str | None = None, emoji: str = "pushpin") -> Reply:
    text = HELP.replace("{emoji}", emoji)
    return Reply(f"{prefix}\n{text}" if prefix else text)


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
}
SUBCOMMANDS.update({name: milestone(name) for name in MILESTONES})
READ_ONLY = {"status", "actions"}
