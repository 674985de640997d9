"""Action items (SPEC 6): `/incident action` parsing and due dates (pure), their Block Kit, and the
Done / Drop / Snooze buttons.

    fix the retry storm <@U123|bob> due friday   -> text "fix the retry storm", owner U123, due Friday
    rotate keys due 2026-12-01                    -> no owner (the commander is reminded), due 1 Dec

`due <date>` counts only as the final clause; the owner is the last `<@U…>` mention before it.
Dates are read in the caller's zone: `today` is their today.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from bot import text as T
from bot import views
from bot.when import WhenError, slack_date
from storage import action_items, entries, outbox_jobs
from storage.models import ActionItem, Entry

log = logging.getLogger(__name__)

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


def record_item(session, item: ActionItem, now: datetime, owner_label: str | None = None) -> ActionItem | None:
    """Store a new action item with its timeline line, and learn its owner's zone for reminders.

    Used by `/incident action` and the *Add action item* modal alike. None when `item.source_key`
    was used before (the same modal submitted twice): nothing is stored again.
    """
    stored = action_items.add_action_item(session, item)
    if stored is None:
        return None
    details = [f"owner {owner_label or f'<@{item.owner_id}>'}"] if item.owner_id else []
    if item.due:
        details.append(f"due {item.due.isoformat()}")
    entries.add_entry(session, Entry(
        incident_id=item.incident_id, kind="action", at=now, author_id=item.created_by, key=False, recorded_at=now,
        text=f"Action #{stored.id}: {item.text}" + (f" ({', '.join(details)})" if details else ""),
    ))
    if item.owner_id:
        outbox_jobs.enqueue(session, "profile", {"user_id": item.owner_id}, now)  # the sweep reads their zone
    return stored


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
DROP_ACTION = "action_drop"
SNOOZE_DAY_ACTION = "action_snooze_1d"
SNOOZE_WEEK_ACTION = "action_snooze_1w"
CLOSING = {DONE_ACTION: "done", DROP_ACTION: "dropped"}  # the buttons that close an item, and how
LIST_BLOCKS = 49  # header and items; with "and N more" the list stays within Block Kit's 50 blocks
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
    text = T.mrkdwn_cut(item.text, ITEM_TEXT_LIMIT)
    mark = {"done": ":white_check_mark: ", "dropped": ":heavy_minus_sign: "}.get(item.status, "")
    return f"{mark}*#{item.id}* {text}\nOwner: {owner} · Due: {due} · Status: {state}"


def list_buttons(item_id: int) -> dict:
    """Done and Drop under an open item of the `/incident actions` list."""
    def button(action_id: str, label: str, **extra) -> dict:
        return {"type": "button", "action_id": action_id, "value": str(item_id),
                "text": {"type": "plain_text", "text": label, "emoji": False}, **extra}

    confirm = {"title": {"type": "plain_text", "text": "Drop this action item?"},
               "text": {"type": "plain_text", "text": f"#{item_id} is closed as dropped and never reminded again."},
               "confirm": {"type": "plain_text", "text": "Drop"}, "deny": {"type": "plain_text", "text": "Cancel"},
               "style": "danger"}
    return {"type": "actions", "block_id": f"action_item_buttons:{item_id}", "elements": [
        button(DONE_ACTION, "Done", style="primary"),
        button(DROP_ACTION, "Drop", style="danger", confirm=confirm),
    ]}


def list_message(ref: str, items: list, today: date) -> tuple[str, list[dict]]:
    """(fallback text, blocks) of an incident's action items, with Done and Drop under each open item."""
    open_count = sum(1 for i in items if i.status == "open")
    if not items:
        text = (f"{ref} has no action items yet. Add one with "
                "`/incident action <text> [@owner] [due <date>]`.")
        return text, [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]
    text = f"{ref} has {len(items)} action item{'s' if len(items) != 1 else ''} ({open_count} open)."
    blocks: list[dict] = [{"type": "section", "text": {"type": "mrkdwn", "text": f"*Action items of {ref}* "
                                                       f"({open_count} open of {len(items)})"}}]
    ordered = sorted(items, key=lambda i: (i.status != "open", i.id))  # a cut hides closed ones first
    shown = 0
    for item in ordered:
        rows = [{"type": "section", "block_id": f"action_item:{item.id}",
                 "text": {"type": "mrkdwn", "text": item_line(item, today)}}]
        if item.status == "open":
            rows.append(list_buttons(item.id))
        if len(blocks) + len(rows) > LIST_BLOCKS:
            break
        blocks += rows
        shown += 1
    hidden = len(items) - shown
    if hidden > 0:
        blocks.append({"type": "context", "elements": [
            {"type": "mrkdwn", "text": f"…and {hidden} more, closed ones last (a Slack message holds at most 50 blocks)."}]})
    return text, blocks


# ---------------------------------------------------------------------------------------------
# buttons: Done, Snooze 1 day, Snooze 1 week in reminder DMs; Done and Drop in the `/incident actions` list

SNOOZES = {SNOOZE_DAY_ACTION: timedelta(days=1), SNOOZE_WEEK_ACTION: timedelta(weeks=1)}
REWRITE_JOB = "rewrite_message"
MAX_DIGEST_ITEMS = 50  # a DM holds at most 50 blocks, so never more items than that
_DIGEST_BLOCK = re.compile(r"reminder_(?:item|buttons):(\d{1,18})")


def reminder_buttons(item_id: int) -> dict:
    """Done / Snooze 1 day / Snooze 1 week under an item of a reminder DM."""
    def button(action_id: str, label: str, **extra) -> dict:
        return {"type": "button", "action_id": action_id, "value": str(item_id),
                "text": {"type": "plain_text", "text": label, "emoji": False}, **extra}

    return {"type": "actions", "block_id": f"reminder_buttons:{item_id}", "elements": [
        button(DONE_ACTION, "Done", style="primary"),
        button(SNOOZE_DAY_ACTION, "Snooze 1 day"),
        button(SNOOZE_WEEK_ACTION, "Snooze 1 week"),
    ]}


def digest_item_ids(blocks: list | None) -> list[int]:
    """The items a reminder DM shows, from its block ids (`reminder_item:12`, `reminder_buttons:12`)."""
    ids: list[int] = []
    for block in blocks or []:
        m = _DIGEST_BLOCK.fullmatch(str(block.get("block_id", ""))) if isinstance(block, dict) else None
        if m and int(m.group(1)) not in ids:
            ids.append(int(m.group(1)))
    return ids[:MAX_DIGEST_ITEMS]


def state_row(item_id: int, item, now: datetime) -> dict:
    """The row under an item in a reminder DM, from the item as it is now: its buttons while it is
    open and not snoozed, else what became of it."""
    if item is None:
        note = ":grey_question: This action item no longer exists."
    elif item.status == "open":
        if item.snoozed_until is None or item.snoozed_until <= now:
            return reminder_buttons(item_id)
        until = slack_date(item.snoozed_until, UTC, "{date_short_pretty} {time}")
        note = f":zzz: Snoozed until {until}. The next reminder comes after that."
    else:
        by = f" by <@{item.closed_by}>" if item.closed_by else ""
        mark = ":white_check_mark:" if item.status == "done" else ":heavy_minus_sign:"
        verb = ", marked" + by if item.status == "done" and by else by
        note = f"{mark} {T.escape_mrkdwn(item.status.capitalize())}{verb}."
    return {"type": "context", "block_id": f"reminder_buttons:{item_id}",
            "elements": [{"type": "mrkdwn", "text": note}]}


def rewrite_digest(blocks: list[dict] | None, items: dict, now: datetime, pressed: list[int] = ()) -> list[dict]:
    """A reminder DM's blocks with each item's row rebuilt from `items` (id -> the item as it is now,
    or None once it is gone) (pure). Everything else in the message stays as it was sent.

    The rows come from the database, not from the press payload: another press on the same DM may
    have changed an item since Slack sent this payload, and an older payload must not bring back
    buttons already pressed. `pressed` items the blocks do not show are added at the end.
    """
    shown = set()
    out = []
    for block in blocks or []:
        m = _DIGEST_BLOCK.fullmatch(str(block.get("block_id", ""))) if isinstance(block, dict) else None
        if m and block["block_id"].startswith("reminder_buttons:"):
            item_id = int(m.group(1))
            out.append(state_row(item_id, items.get(item_id), now))
            shown.add(item_id)
        else:
            out.append(block)
    for item_id in pressed:
        if item_id in shown:
            continue
        row = state_row(item_id, items.get(item_id), now)
        if row["type"] == "context":
            row = {"type": "section", "block_id": row["block_id"],
                   "text": {"type": "mrkdwn", "text": f"*#{item_id}*: {row['elements'][0]['text']}"}}
        else:
            out.append({"type": "section", "block_id": f"reminder_item:{item_id}",
                        "text": {"type": "mrkdwn", "text": f"*#{item_id}*"}})
        out.append(row)
        shown.add(item_id)
    return out


def register(app, services) -> None:
    """The button listeners (bot/app.py calls this). Each acknowledges once its write is committed:
    if the database fails, Slack shows the press as failed and the person can press again."""

    def listener(ack, body):
        press(services, body)
        ack()

    for action_id in (DONE_ACTION, DROP_ACTION, SNOOZE_DAY_ACTION, SNOOZE_WEEK_ACTION):
        app.action(action_id)(listener)


def press(services, body: dict) -> None:
    """Apply one button press: update the item, then queue the rewrite of the message it was in."""
    action = (body.get("actions") or [{}])[0]
    what = action.get("action_id")
    try:
        item_id = int(action.get("value") or "")
    except ValueError:
        log.warning("button %s with a value that is no item id: %r", what, action.get("value"))
        return
    user = (body.get("user") or {}).get("id") or ""
    now = services.now()
    from_list = str(action.get("block_id", "")).startswith(("action_item:", "action_item_buttons:"))
    today = local_today(now, services.people.zone_of(user)) if from_list else None
    until = now + SNOOZES[what] if what in SNOOZES else None
    with services.db.write() as session:
        if what in CLOSING:
            item, changed = action_items.close_action_item(session, item_id, user, now, CLOSING[what])
            if changed:
                entries.add_entry(session, Entry(
                    incident_id=item.incident_id, kind="action", at=now, author_id=user,
                    text=f"Action #{item.id} {item.status}: {item.text}", key=False, recorded_at=now))
        else:
            item, changed = action_items.snooze_action_item(session, item_id, until)
        job, coalesce_key = _rewrite_job(body, item_id, session, item, today)
        if job is not None:
            outbox_jobs.enqueue(session, REWRITE_JOB, job, now, coalesce_key=coalesce_key)


def _rewrite_job(body: dict, item_id: int, session, item, today: date | None) -> tuple[dict | None, str | None]:
    """(the outbox job that rewrites the pressed message, the key that collapses queued rewrites of it)."""
    container = body.get("container") or {}
    response_url = body.get("response_url")
    if today is not None and item is not None:
        # the `/incident actions` list is ephemeral: only its response_url can replace it
        text, blocks = list_message(views.ref(item.incident_id), action_items.action_items(session, item.incident_id), today)
        return ({"response_url": response_url, "text": text, "blocks": blocks,
                 "failure_text": "Updating the action item list failed"} if response_url else None), None
    # A reminder DM: the job rebuilds the item rows from the database when it runs (`digest`), so the
    # message's own blocks (header, item texts, footer) and which items it shows are all it needs.
    message = body.get("message") or {}
    blocks = message.get("blocks") if isinstance(message.get("blocks"), list) else []
    job = {"text": message.get("text") or "Overdue action items", "blocks": blocks, "digest": [item_id]}
    channel = container.get("channel_id") or (body.get("channel") or {}).get("id")
    ts = container.get("message_ts") or message.get("ts")
    if channel and ts and not container.get("is_ephemeral"):
        # one waiting rewrite per message: it reads every item's state when it runs
        return {"channel": channel, "ts": ts, **job}, f"rewrite:{channel}:{ts}"
    if response_url:
        return {"response_url": response_url, **job}, None
    return None, None

