"""Status updates' Block Kit (pure): the update posted for everyone, the reminder DM with its
"Post update" button, and the modal that button opens (docs/commands.md, docs/reminders.md).

User text (Slack-encoded) goes through `text.mrkdwn_cut`: it never pings anyone or links anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo

from bot import text as T
from bot import views
from bot.milestones import STATUS_LABELS, severity_label
from bot.when import format_duration, format_time, slack_date

UPDATE_BUTTON = "post_status_update"  # the reminder DM's button (its value: the incident number)
UPDATE_VIEW = "status_update"  # the modal's callback_id (its private_metadata: the incident number)
UPDATE_TEXT_LIMIT = 2800  # the update's words in its section, with room for the bot's own
TITLE_LIMIT = 120


@dataclass(frozen=True)
class Since:
    """Where "time since start" counts from: the start of impact when recorded, else the declaration."""

    at: datetime
    impact: bool  # True: the `started` milestone; False: when the incident was declared

    @property
    def label(self) -> str:
        return "impact started" if self.impact else "declared"


def time_since(since: Since, now: datetime, zone: tzinfo) -> str:
    """`1 h 6 min (impact started 14:05 CET (UTC+01:00))`: the true elapsed time (UTC arithmetic, so a
    DST change in between neither adds nor loses an hour), and the start in `zone`, with its date when
    that is another day there than `now`."""
    same_day = since.at.astimezone(zone).date() == now.astimezone(zone).date()
    return f"{format_duration(now - since.at)} ({since.label} {format_time(since.at, zone, with_date=not same_day)})"


def update_message(*, number: int, title: str, status: str, severity: str | None, since: Since, now: datetime,
                   zone: tzinfo, text: str, author_id: str, channel_id: str | None) -> dict:
    """The update as posted in the incident channel and in ANNOUNCE_CHANNEL: status, severity, time
    since start, the words, who posted it. `text` and `title` are Slack-encoded user text."""
    status_label = STATUS_LABELS.get(status, status)
    started = (f"{format_duration(now - since.at)} ({since.label} "
               f"{slack_date(since.at, zone)})")
    where = f" · <#{channel_id}>" if channel_id else ""
    blocks = [
        {"type": "header", "text": views.plain_text(f"{views.ref(number)} update: {T.plain(title)}",
                                                    views.HEADER_LIMIT)},
        {"type": "section", "fields": [
            views.mrkdwn_text(f"*Status*\n{status_label}", views.FIELD_LIMIT),
            views.mrkdwn_text(f"*Severity*\n{severity_label(severity)}", views.FIELD_LIMIT),
            views.mrkdwn_text(f"*Since start*\n{started}", views.FIELD_LIMIT),
        ]},
        {"type": "section", "text": views.mrkdwn_text(T.mrkdwn_cut(text, UPDATE_TEXT_LIMIT))},
        {"type": "context", "elements": [views.mrkdwn_text(f"Posted by <@{author_id}>{where}")]},
    ]
    fallback = (f"{views.ref(number)} update ({status_label}, {severity_label(severity)}, "
                f"{time_since(since, now, zone)}): ")
    return {"text": fallback + T.mrkdwn_cut(text, views.ANNOUNCED_TEXT_LIMIT - len(fallback)), "blocks": blocks}


def reminder_message(*, number: int, title: str, channel_id: str | None, last: datetime, last_was_update: bool,
                     now: datetime, zone: tzinfo) -> dict:
    """The DM to the commander: no update for a while, and a button that opens the update modal."""
    where = f" in <#{channel_id}>" if channel_id else ""
    since = "the last update" if last_was_update else "it was declared"
    text = (f":loudspeaker: *{views.ref(number)}* ({T.mrkdwn_cut(title, TITLE_LIMIT)}) has had no status update "
            f"for {format_duration(now - last)}: nothing since {since}, {format_time(last, zone)}. "
            f"People are waiting to hear how it goes. Post one here, or with `/incident update &lt;text&gt;`{where}.")
    button = {"type": "button", "action_id": UPDATE_BUTTON, "value": str(number), "style": "primary",
              "text": views.plain_text("Post update", 75)}
    return {"text": f"{views.ref(number)} has had no status update for {format_duration(now - last)}.",
            "blocks": [{"type": "section", "text": views.mrkdwn_text(text)},
                       {"type": "actions", "block_id": f"update_reminder:{number}", "elements": [button]}]}


def update_modal(number: int, title: str) -> dict:
    """The modal the "Post update" button opens; submitting it posts exactly like `/incident update`."""
    return {
        "type": "modal",
        "callback_id": UPDATE_VIEW,
        "private_metadata": str(number),
        "title": views.plain_text(f"Update · {views.ref(number)}", 24),
        "submit": views.plain_text("Post", 24),
        "close": views.plain_text("Cancel", 24),
        "blocks": [
            {"type": "context", "elements": [views.plain_text(f"{views.ref(number)}: {T.plain(title)}", 2000)]},
            {"type": "input", "block_id": "text", "label": views.plain_text("What is the status now?"),
             "element": {"type": "plain_text_input", "action_id": "value", "multiline": True,
                         "max_length": UPDATE_TEXT_LIMIT,
                         "placeholder": views.plain_text("e.g. Rolled back; error rate back to normal, watching")}},
        ],
    }
