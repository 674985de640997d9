"""The Home tab's view (pure: plain values in, the `views.publish` view out; docs/home.md).

What one person sees: the open incidents (newest first), their own open action items with the same
Done and Snooze buttons as a reminder DM, the postmortem questions still waiting on them with the
same buttons as the prompt DM, and the last incidents resolved. Times are in the viewer's zone and
say which zone that is. A Home view holds at most 100 blocks: each list shows one page, and a "More"
button pages through the rest, so 500 open incidents take as many blocks as 20.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, tzinfo

from bot import action_blocks, views
from bot import text as T
from bot.due_dates import describe_due
from bot.milestones import STATUS_LABELS, severity_label
from bot.update_blocks import Since, time_since
from bot.when import format_time, zone_display_name

HOME_VIEW = "incident_home"  # the view's callback_id
PAGE_ACTION = "home_page"  # the More / Previous buttons; value `incidents:2` or `items:0`
VIEW_BLOCKS = 100  # Slack's most for a Home view
INCIDENTS_PER_PAGE = 20  # a block each
ITEMS_PER_PAGE = 10  # two blocks each (the item, its buttons)
QUESTIONS_SHOWN = 5  # two blocks each
RESOLVED_SHOWN = 5  # a block each
TITLE_LIMIT = 150
ITEM_TEXT_LIMIT = 600
LISTS = {"incidents": INCIDENTS_PER_PAGE, "items": ITEMS_PER_PAGE}


@dataclass(frozen=True)
class OpenIncident:
    number: int
    title: str  # Slack-encoded
    severity: str | None
    status: str
    commander_id: str | None
    channel_id: str | None
    declared_at: datetime


@dataclass(frozen=True)
class MyItem:
    item_id: int
    incident_id: int
    text: str  # Slack-encoded
    due: date | None
    channel_id: str | None
    snoozed_until: datetime | None = None  # its reminders wait until then (Snooze)
    issue: str | None = None  # its tracker issue as a Slack link, or what went wrong (bot.tracker_items.slack_link)
    retry: bool = False  # the issue could not be created: a Retry button (bot.action_blocks.needs_retry)


@dataclass(frozen=True)
class Question:
    """A resolved incident whose postmortem still waits on the viewer for `prompts` (bot/postmortem.py)."""

    number: int
    title: str
    channel_id: str | None
    prompts: tuple[str, ...]


@dataclass(frozen=True)
class Resolved:
    number: int
    title: str
    severity: str | None
    channel_id: str | None
    resolved_at: datetime
    duration: str | None  # `1 h 6 min`, None when it cannot be told


@dataclass(frozen=True)
class Home:
    """Everything one person's Home tab shows, as of `now`, in their `zone`."""

    viewer: str
    zone: tzinfo
    now: datetime
    incidents: tuple[OpenIncident, ...] = ()
    incidents_total: int = 0
    incidents_page: int = 0
    items: tuple[MyItem, ...] = ()
    items_total: int = 0
    items_page: int = 0
    questions: tuple[Question, ...] = ()
    questions_total: int = 0
    resolved: tuple[Resolved, ...] = ()


def last_page(total: int, per_page: int) -> int:
    return max(0, (total - 1) // per_page)


def _header(text: str) -> dict:
    return {"type": "header", "text": views.plain_text(text, views.HEADER_LIMIT)}


def _note(text: str) -> dict:
    return {"type": "context", "elements": [views.mrkdwn_text(text)]}


def _channel(channel_id: str | None, number: int) -> str:
    return f"<#{channel_id}>" if channel_id else views.ref(number)


def _pager(which: str, page: int, total: int, noun: str) -> dict | None:
    """Previous / More under a list longer than a page (None when it fits in one)."""
    per_page = LISTS[which]
    last = last_page(total, per_page)
    if last == 0:
        return None
    elements = []
    if page > 0:
        elements.append({"type": "button", "action_id": f"{PAGE_ACTION}_previous_{which}", "value": f"{which}:{page - 1}",
                         "text": views.plain_text("Previous", 75)})
    if page < last:
        shown_to = min(total, (page + 2) * per_page)
        elements.append({"type": "button", "action_id": f"{PAGE_ACTION}_more_{which}", "value": f"{which}:{page + 1}",
                         "text": views.plain_text(f"More ({(page + 1) * per_page + 1}–{shown_to} of {total} {noun})", 75)})
    return {"type": "actions", "block_id": f"home_pages:{which}", "elements": elements}


def _page_note(page: int, per_page: int, shown: int, total: int, noun: str) -> dict | None:
    if total <= per_page:
        return None
    first = page * per_page + 1
    return _note(f"Showing {noun} {first}–{first + shown - 1} of {total}.")


def incident_line(incident: OpenIncident, now: datetime, zone: tzinfo) -> str:
    commander = f"<@{incident.commander_id}>" if incident.commander_id else "nobody yet"
    opened = time_since(Since(incident.declared_at, impact=False), now, zone)
    return (f"*{views.ref(incident.number)}* · {severity_label(incident.severity)} · "
            f"{STATUS_LABELS.get(incident.status, incident.status)} · {T.mrkdwn_cut(incident.title, TITLE_LIMIT)}\n"
            f"Commander: {commander} · open {opened} · {_channel(incident.channel_id, incident.number)}")


def item_line(item: MyItem, today: date, now: datetime, zone: tzinfo) -> str:
    snoozed = (f" · :zzz: reminders snoozed until {format_time(item.snoozed_until, zone)}"
               if item.snoozed_until is not None and item.snoozed_until > now else "")
    return (f"*#{item.item_id}* {T.mrkdwn_cut(item.text, ITEM_TEXT_LIMIT)}\n"
            f"Due {describe_due(item.due, today)} · {_channel(item.channel_id, item.incident_id)} "
            f"({views.ref(item.incident_id)}){snoozed}" + (f" · Issue: {item.issue}" if item.issue else ""))


def resolved_line(incident: Resolved, zone: tzinfo) -> str:
    lasted = f" after {incident.duration}" if incident.duration else ""
    return (f"*{views.ref(incident.number)}* · {severity_label(incident.severity)} · "
            f"{T.mrkdwn_cut(incident.title, TITLE_LIMIT)}\n"
            f"Resolved {format_time(incident.resolved_at, zone)}{lasted} · {_channel(incident.channel_id, incident.number)}")


def home_view(home: Home) -> dict:
    """The Home tab of `home.viewer`, within Slack's 100 blocks whatever the lists hold."""
    zone, now = home.zone, home.now
    blocks: list[dict] = [_header(f"Open incidents ({home.incidents_total})")]
    if not home.incidents:
        blocks.append({"type": "section", "text": views.mrkdwn_text(
            "No open incidents. Start one with `/incident start &lt;title&gt;` in any channel.")})
    for incident in home.incidents[:INCIDENTS_PER_PAGE]:
        blocks.append({"type": "section", "block_id": f"home_incident:{incident.number}",
                       "text": views.mrkdwn_text(incident_line(incident, now, zone))})
    blocks += [b for b in (_page_note(home.incidents_page, INCIDENTS_PER_PAGE, len(home.incidents[:INCIDENTS_PER_PAGE]),
                                      home.incidents_total, "incidents"),
                           _pager("incidents", home.incidents_page, home.incidents_total, "incidents")) if b]

    blocks += [{"type": "divider"}, _header(f"Your open action items ({home.items_total})")]
    today = now.astimezone(zone).date()
    if not home.items:
        blocks.append({"type": "section", "text": views.mrkdwn_text("Nothing waiting on you.")})
    for item in home.items[:ITEMS_PER_PAGE]:
        blocks += [{"type": "section", "block_id": f"home_item:{item.item_id}",
                    "text": views.mrkdwn_text(item_line(item, today, now, zone))},
                   action_blocks.reminder_buttons(item.item_id, retry=item.retry)]
    blocks += [b for b in (_page_note(home.items_page, ITEMS_PER_PAGE, len(home.items[:ITEMS_PER_PAGE]),
                                      home.items_total, "items"),
                           _pager("items", home.items_page, home.items_total, "items")) if b]

    if home.questions:
        blocks += [{"type": "divider"}, _header("Postmortem questions waiting on you")]
        for question in home.questions[:QUESTIONS_SHOWN]:
            blocks += [{"type": "section", "block_id": f"home_question:{question.number}", "text": views.mrkdwn_text(
                           f"*{views.ref(question.number)}* · {T.mrkdwn_cut(question.title, TITLE_LIMIT)} · "
                           f"{_channel(question.channel_id, question.number)}\nYou took part: add your part to "
                           "the postmortem.")},
                       views.prompt_buttons(question.number, list(question.prompts))]
        hidden = max(home.questions_total, len(home.questions)) - min(len(home.questions), QUESTIONS_SHOWN)
        if hidden > 0:
            blocks.append(_note(f"…and {hidden} more incident{'s' if hidden != 1 else ''} waiting on you: "
                                "answer these first, and the next ones show here."))

    if home.resolved:
        blocks += [{"type": "divider"}, _header("Recently resolved")]
        for incident in home.resolved[:RESOLVED_SHOWN]:
            blocks.append({"type": "section", "block_id": f"home_resolved:{incident.number}",
                           "text": views.mrkdwn_text(resolved_line(incident, zone))})

    blocks.append(_note(f"Updated {format_time(now, zone)}. Times are in your zone, {zone_display_name(zone)}."))
    return {"type": "home", "callback_id": HOME_VIEW, "blocks": blocks[:VIEW_BLOCKS]}
