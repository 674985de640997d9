"""Action items (SPEC 6): `/incident action` parsing and due dates (pure), their Block Kit, and the
Done / Snooze buttons.

    fix the retry storm <@U123|bob> due friday   -> text "fix the retry storm", owner U123, due Friday
    rotate keys due 2026-12-01                    -> no owner (the commander is reminded), due 1 Dec

`due <date>` counts only as the final clause; the owner is the last `<@U…>` mention before it.
Dates are read in the caller's zone: `today` is their today.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from bot import text as T
from bot.when import WhenError

DUE_FORMS = (
    "Accepted due dates: `2026-12-01` (YYYY-MM-DD), `today`, `tomorrow`, `in 3 days`, "
    "or a weekday such as `friday` (its next occurrence)."
)
MAX_DAYS_AHEAD = 3650

WEEKDAYS = {
    "monday": 0, "mon": 0,
    "tuesday": 1, "tue": 1, "tues": 1,
    "wednesday": 2, "wed": 2,
    "thursday": 3, "thu": 3, "thur": 3, "thurs": 3,
    "friday": 4, "fri": 4,
    "saturday": 5, "sat": 5,
    "sunday": 6, "sun": 6,
}
# After a final `due`, words that show the user meant a date (so a bad one is refused, not kept as
# text): `due next week` is refused with the accepted forms, `due diligence review` is just text.
_DATE_LIKE = re.compile(
    r"\d.*|today|tomorrow|tmrw|tonight|in|on|by|next|this|end|eod|eow|eom|eoy|"
    r"jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec|"
    r"january|february|march|april|june|july|august|september|october|november|december|"
    + "|".join(WEEKDAYS),
    re.IGNORECASE,
)
_DUE_WORD = re.compile(r"(?:^|\s)due(?:\s+|$)", re.IGNORECASE)
_USER_TOKEN = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^<>]*)?>")
_ISO_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
_IN_DAYS = re.compile(r"in (\d{1,6}) days?")


class DueError(WhenError):
    """A due date that cannot be used; `str()` is the message to show."""


def parse_due(text: str, today: date) -> date:
    """The date `text` names, with `today` being the caller's local date."""
    words = " ".join(text.lower().split())
    if words == "today":
        return today
    if words == "tomorrow":
        return today + timedelta(days=1)
    m = _IN_DAYS.fullmatch(words)
    if m:
        days = int(m.group(1))
        if days > MAX_DAYS_AHEAD:
            raise DueError(f"`{text}` is more than ten years away. {DUE_FORMS}")
        return today + timedelta(days=days)
    if words in WEEKDAYS:
        ahead = (WEEKDAYS[words] - today.weekday()) % 7
        return today + timedelta(days=ahead or 7)  # `friday` on a Friday is next week's
    m = _ISO_DATE.fullmatch(words)
    if m:
        try:
            return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        except ValueError:
            raise DueError(f"`{text}` is not a date on the calendar. {DUE_FORMS}") from None
    raise DueError(f"`{text}` is not a due date I understand. {DUE_FORMS}")


@dataclass(frozen=True)
class ActionRequest:
    """What `/incident action` asked for. `text` stays in Slack's encoding."""

    text: str
    owner_id: str | None
    due: date | None
    owner_mention: str | None = None  # the token as typed (`<@U123|bob>`), its name for the timeline


def parse_action(encoded: str, today: date) -> ActionRequest:
    """Split `<text> [<@owner>] [due <date>]`. Raises DueError for a `due` clause that is no date."""
    body, due = encoded.strip(), None
    clause = _final_due_clause(body)
    if clause is not None:
        start, date_text = clause
        due = parse_due(date_text, today)
        body = body[:start].strip()
    mentions = list(_USER_TOKEN.finditer(body))
    owner = None
    if mentions:
        last = mentions[-1]
        owner = last.group(1)
        # A mention that opens or closes the text names the owner and is not part of the sentence;
        # one in the middle (`ask <@U1> to rotate keys`) stays, so the text still reads right.
        if last.end() == len(body):
            body = body[: last.start()].strip()
        elif last.start() == 0 and len(mentions) == 1:
            body = body[last.end():].strip()
    return ActionRequest(text=body, owner_id=owner, due=due, owner_mention=mentions[-1].group(0) if mentions else None)


def _final_due_clause(text: str) -> tuple[int, str] | None:
    """(where the clause starts, its date text) when the text ends with `due <date>`."""
    found = list(_DUE_WORD.finditer(text))
    if not found:
        return None
    last = found[-1]
    rest = text[last.end():].strip()
    if not rest:
        return None  # `… payment due` is text
    words = rest.split()
    if len(words) > 4 or "<" in rest or not _DATE_LIKE.fullmatch(words[0]):
        return None
    return last.start(), rest


def local_today(now: datetime, zone) -> date:
    return now.astimezone(zone).date()


def describe_due(due: date | None, today: date) -> str:
    """`Fri 2026-11-27`, with how it relates to today: `(today)`, `(3 days overdue)`."""
    if due is None:
        return "no due date"
    shown = f"{due:%a %Y-%m-%d}"
    days = (today - due).days
    if days == 0:
        return shown + " (today)"
    if days == 1:
        return shown + " (1 day overdue)"
    if days > 1:
        return shown + f" ({days} days overdue)"
    return shown


# ---------------------------------------------------------------------------------------------
# Block Kit (pure): the `/incident actions` list

DONE_ACTION = "action_done"
SNOOZE_DAY_ACTION = "action_snooze_1d"
SNOOZE_WEEK_ACTION = "action_snooze_1w"
LIST_ITEMS_SHOWN = 45  # header + 45 items + "and N more" stays under Block Kit's 50 blocks
ITEM_TEXT_LIMIT = 600


def item_line(item, today: date) -> str:
    """`*#12* fix the retry storm` and its owner, due date and status, as safe mrkdwn."""
    owner = f"<@{item.owner_id}>" if item.owner_id else "no owner (the commander is reminded)"
    if item.status == "open":
        state = "open"
        due = describe_due(item.due, today)
    else:
        state = item.status + (f" by <@{item.closed_by}>" if item.closed_by else "")
        due = f"{item.due:%a %Y-%m-%d}" if item.due else "no due date"
    text = T.truncate(T.mrkdwn(item.text), ITEM_TEXT_LIMIT)
    mark = ":white_check_mark: " if item.status == "done" else ""
    return f"{mark}*#{item.id}* {text}\nOwner: {owner} · Due: {due} · Status: {state}"


def done_button(item_id: int) -> dict:
    return {"type": "button", "action_id": DONE_ACTION, "style": "primary", "value": str(item_id),
            "text": {"type": "plain_text", "text": "Done", "emoji": False}}


def list_message(ref: str, items: list, today: date) -> tuple[str, list[dict]]:
    """(fallback text, blocks) of an incident's action items, with a Done button per open item."""
    open_count = sum(1 for i in items if i.status == "open")
    if not items:
        text = (f"{ref} has no action items yet. Add one with "
                "`/incident action <text> [@owner] [due <date>]`.")
        return text, [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]
    text = f"{ref} has {len(items)} action item{'s' if len(items) != 1 else ''} ({open_count} open)."
    blocks: list[dict] = [{"type": "section", "text": {"type": "mrkdwn", "text": f"*Action items of {ref}* "
                                                       f"({open_count} open of {len(items)})"}}]
    ordered = sorted(items, key=lambda i: (i.status != "open", i.id))  # a cut hides closed ones first
    for item in ordered[:LIST_ITEMS_SHOWN]:
        block = {"type": "section", "block_id": f"action_item:{item.id}",
                 "text": {"type": "mrkdwn", "text": item_line(item, today)}}
        if item.status == "open":
            block["accessory"] = done_button(item.id)
        blocks.append(block)
    hidden = len(items) - LIST_ITEMS_SHOWN
    if hidden > 0:
        blocks.append({"type": "context", "elements": [
            {"type": "mrkdwn", "text": f"…and {hidden} more (`incident-bot timeline` lists every item)."}]})
    return text, blocks
