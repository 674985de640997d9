"""Block Kit builders (pure: plain values in, dicts out).

User text goes into `plain_text` objects where Block Kit allows it, and through `text.mrkdwn()`
where it must be mrkdwn, so nothing a user typed becomes a mention or a link.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, tzinfo

from bot import text as T
from bot.milestones import MILESTONE_LABELS, MILESTONES, STATUS_LABELS, severity_label
from bot.when import format_time, slack_date, zone_display_name, zone_label

HEADER_LIMIT = 150
SECTION_LIMIT = 3000


def ref(number: int) -> str:
    return f"INC-{number}"


def plain_text(value: str, limit: int = SECTION_LIMIT) -> dict:
    return {"type": "plain_text", "text": T.truncate(value, limit) or " ", "emoji": False}


def mrkdwn_text(value: str, limit: int = SECTION_LIMIT) -> dict:
    return {"type": "mrkdwn", "text": T.truncate(value, limit) or " "}


def header_message(
    *,
    number: int,
    title: str,
    severity: str | None,
    status: str,
    commander_id: str | None,
    milestones: Mapping[str, datetime],
    roles: Mapping[str, str],
    zone: tzinfo,
    summary: str | None = None,
    impact: str | None = None,
) -> dict:
    """The incident's header message: kept current with chat.update whenever any of this changes."""
    title_plain = T.plain(title)
    fields = [
        mrkdwn_text(f"*Severity*\n{severity_label(severity)}"),
        mrkdwn_text(f"*Status*\n{STATUS_LABELS.get(status, status)}"),
        mrkdwn_text(f"*Commander*\n{f'<@{commander_id}>' if commander_id else 'nobody yet'}"),
    ]
    other_roles = [f"{T.escape_mrkdwn(role)}: <@{user}>" for role, user in roles.items() if role != "commander"]
    if other_roles:
        fields.append(mrkdwn_text("*Roles*\n" + "\n".join(other_roles)))
    lines = []
    for name in MILESTONES:
        at = milestones.get(name)
        shown = slack_date(at, zone) if at else "—"
        lines.append(f"*{MILESTONE_LABELS[name]}*: {shown}")
    blocks: list[dict] = [
        {"type": "header", "text": plain_text(f"{ref(number)}: {title_plain}", HEADER_LIMIT)},
        {"type": "section", "fields": fields},
        {"type": "section", "text": mrkdwn_text("\n".join(lines))},
    ]
    for label, value in (("Summary", summary), ("Impact", impact)):
        if value:
            blocks.append({"type": "section", "text": mrkdwn_text(f"*{label}*\n{T.mrkdwn(value)}")})
    blocks.append(
        {
            "type": "context",
            "elements": [
                mrkdwn_text(
                    f"Times show in your own zone; the postmortem uses {zone_display_name(zone)}. "
                    "Log with `/incident log`, set milestones with `/incident mitigated` and "
                    "`/incident resolved`; `/incident help` for more."
                )
            ],
        }
    )
    fallback = (
        f"{ref(number)} · {severity_label(severity)} · {STATUS_LABELS.get(status, status)}: "
        f"{T.escape_mrkdwn(title_plain)}"
    )
    return {"text": T.truncate(fallback, 3000), "blocks": blocks}


def confirmation_time(at: datetime, zone: tzinfo, caller_zone: tzinfo | None) -> str:
    """`2026-11-22 14:05 CET (UTC+01:00)`, plus the caller's own time when their zone differs."""
    shown = format_time(at, zone)
    if caller_zone is not None and zone_label(at, caller_zone) != zone_label(at, zone):
        shown += f" (your time: {format_time(at, caller_zone)})"
    return shown
