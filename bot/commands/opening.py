"""`/incident start`: open an incident, its channel (a new one, or this one), and its header.

The incident row, the commander and the default `detected` milestone are written first; the channel
is then created (or joined) with Slack, and what follows (header, invitation, profile, backfill) is
queued in the outbox. A channel that cannot be created abandons the incident, so no number points
at nothing.
"""

from __future__ import annotations

import logging
import re
import secrets
import unicodedata
from datetime import datetime, timedelta

from slack_sdk.errors import SlackApiError, SlackClientError

from bot import text as T
from bot import home_tab, views
from bot.commands.common import Reply, echo
from bot.commands.context import Context
from bot.milestones import SEVERITIES, severity_label
from bot.when import WhenError
from storage import capture_sql, incidents, outbox_jobs
from storage.models import Incident, Milestone

log = logging.getLogger(__name__)

CHANNEL_NAME_LIMIT = 80


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
        here = capture_sql.channel_incident(conn, call.channel_id, ctx.services.capture_cutoff(ctx.now))
    if here is not None and here.status != "resolved":
        return Reply(f"{views.ref(here.id)} is open here. Did you mean `/incident started`?")

    bind_here = services.settings.incident_channel_mode == "current" and not call.in_dm
    workspace_url = services.workspace_url(call.team_domain)  # asked of Slack once, not in the transaction
    # In `current` mode the bot joins first: the header and backfill jobs committed below run as soon
    # as the transaction commits, and must find the bot in the channel.
    joined, join_note = _join_here(ctx) if bind_here else (True, "")
    with services.db.write() as session:
        incident = incidents.add_incident(
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
        incidents.put_role(session, number, "commander", call.user_id, call.user_id, ctx.now)
        incidents.put_milestone(
            session,
            Milestone(incident_id=number, name="detected", at=ctx.now, author_id=call.user_id,
                      note=None, is_default=True, recorded_at=ctx.now),
        )
        if bind_here:
            if not joined:  # Slack did not answer: the outbox joins, before the jobs that need it
                outbox_jobs.enqueue(session, "join", {"channel_id": call.channel_id}, ctx.now)
            _queue_start_jobs(session, ctx, number, call.channel_id, backfill=True)
    assert number is not None
    if bind_here:
        return _bound_here(ctx, number, title, severity, join_note)
    return _create_channel(ctx, number, title, severity)


def _queue_start_jobs(session, ctx: Context, number: int, channel_id: str, *, backfill: bool) -> None:
    outbox_jobs.enqueue(session, "sync_header", {"incident_id": number}, ctx.now, coalesce_key=f"header:{number}")
    home_tab.everyone_changed(session, ctx.now)  # a new open incident on every Home tab
    outbox_jobs.enqueue(session, "profile", {"user_id": ctx.user}, ctx.now)
    minutes = ctx.services.settings.backfill_minutes
    if backfill and minutes:
        oldest = ctx.now - timedelta(minutes=minutes)
        outbox_jobs.enqueue(
            session, "backfill",
            {"incident_id": number, "channel_id": channel_id, "oldest": f"{oldest.timestamp():.6f}"},
            ctx.now,
        )


def _opened_text(ctx: Context, number: int, title: str, severity: str | None, where: str) -> str:
    return (
        f":rotating_light: *{views.ref(number)}* opened by <@{ctx.user}>: *{echo(title, 300)}* "
        f"({severity_label(severity)}) in {where}. <@{ctx.user}> is commander."
    )


def _join_here(ctx: Context) -> tuple[bool, str]:
    """Join the channel the command was typed in, so its messages are captured. Returns (whether
    Slack answered, a note for the reply when the bot could not join)."""
    try:
        ctx.services.slack.conversations_join(channel=ctx.call.channel_id)
    except SlackApiError as exc:
        error = (exc.response or {}).get("error")
        if error in {"method_not_supported_for_channel_type", "channel_not_found", "is_private"}:
            return True, ("\n:lock: This is a private channel: `/invite` me to it so I can capture messages "
                          "(the last hour will be imported once I am in).")
        return True, f"\n:warning: I could not join this channel (`{error}`); invite me with `/invite`."
    except (SlackClientError, OSError):
        return False, ""
    return True, ""


def _bound_here(ctx: Context, number: int, title: str, severity: str | None, note: str) -> Reply:
    """`current` mode: this channel is the incident channel."""
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
            incidents.abandon_incident(session, number)
        log.warning("conversations.create failed for INC-%s: %s", number, error)
        return Reply(
            f":warning: I could not create the incident channel (`{error}`), so no incident was opened. "
            "Try again; if it keeps failing, check that the app has the `channels:manage` scope, or set "
            "`INCIDENT_CHANNEL_MODE=current` and run `/incident start` in the channel you want to use."
        )
    with services.db.write() as session:
        incidents.bind_channel(session, number, channel_id, name)
        outbox_jobs.enqueue(session, "invite", {"channel_id": channel_id, "users": [ctx.user]}, ctx.now)
        _queue_start_jobs(session, ctx, number, channel_id, backfill=False)
    return Reply(_opened_text(ctx, number, title, severity, f"<#{channel_id}>"), public=True)
