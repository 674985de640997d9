"""The action items' Block Kit (pure): the `/incident actions` list with Done and Drop under each
open item, and the rows of a reminder DM (Done, Snooze 1 day, Snooze 1 week) rebuilt after a press.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

from bot import text as T
from bot.due_dates import describe_due
from bot.tracker_items import slack_link
from bot.when import slack_date

DONE_ACTION = "action_done"
DROP_ACTION = "action_drop"
SNOOZE_DAY_ACTION = "action_snooze_1d"
SNOOZE_WEEK_ACTION = "action_snooze_1w"
RETRY_TRACKER_ACTION = "action_tracker_retry"  # create the item's tracker issue again after a failure
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
    link = slack_link(item)
    issue = f" · Issue: {link}" if link else ""
    return f"{mark}*#{item.id}* {text}\nOwner: {owner} · Due: {due} · Status: {state}{issue}"


def _button(action_id: str, label: str, item_id: int, **extra) -> dict:
    return {"type": "button", "action_id": action_id, "value": str(item_id),
            "text": {"type": "plain_text", "text": label, "emoji": False}, **extra}


def retry_button(item_id: int) -> dict:
    """Create the item's tracker issue again (shown while the last try failed)."""
    return _button(RETRY_TRACKER_ACTION, "Retry issue", item_id)


def needs_retry(item) -> bool:
    return bool(getattr(item, "tracker_error", None)) and not getattr(item, "tracker_key", None)


def list_buttons(item_id: int, retry: bool = False) -> dict:
    """Done and Drop under an open item of the `/incident actions` list (and Retry issue after a failed
    tracker create)."""
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
    ] + ([retry_button(item_id)] if retry else [])}


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
            rows.append(list_buttons(item.id, needs_retry(item)))
        elif needs_retry(item):
            rows.append({"type": "actions", "block_id": f"action_item_buttons:{item.id}",
                         "elements": [retry_button(item.id)]})
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
# reminder DMs

MAX_DIGEST_ITEMS = 50  # a DM holds at most 50 blocks, so never more items than that
_DIGEST_BLOCK = re.compile(r"reminder_(?:item|buttons):(\d{1,18})")


def reminder_buttons(item_id: int, retry: bool = False) -> dict:
    """Done / Snooze 1 day / Snooze 1 week under an item of a reminder DM (and Retry issue after a
    failed tracker create)."""
    def button(action_id: str, label: str, **extra) -> dict:
        return {"type": "button", "action_id": action_id, "value": str(item_id),
                "text": {"type": "plain_text", "text": label, "emoji": False}, **extra}

    return {"type": "actions", "block_id": f"reminder_buttons:{item_id}", "elements": [
        button(DONE_ACTION, "Done", style="primary"),
        button(SNOOZE_DAY_ACTION, "Snooze 1 day"),
        button(SNOOZE_WEEK_ACTION, "Snooze 1 week"),
    ] + ([retry_button(item_id)] if retry else [])}


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
            return reminder_buttons(item_id, needs_retry(item))
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
