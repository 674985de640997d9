"""Action items: storing a new one, and the buttons that close or snooze one (Done and Drop in the
`/incident actions` list; Done, Snooze 1 day and Snooze 1 week in reminder DMs).

The pure parts live beside this module: due dates in bot/due_dates.py, the `/incident action` text in
bot/action_request.py, the Block Kit in bot/action_blocks.py. Each database call here sits in a
small function of its own.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta

from bot import home_tab, tracker_items, tracking, views
from bot.action_blocks import (
    DONE_ACTION,
    DROP_ACTION,
    RETRY_TRACKER_ACTION,
    SNOOZE_DAY_ACTION,
    SNOOZE_WEEK_ACTION,
    list_message,
)
from bot.due_dates import local_today
from bot.inbound import ButtonPress
from storage import action_items, entries, outbox_jobs
from storage.models import ActionItem, Entry

log = logging.getLogger(__name__)

CLOSING = {DONE_ACTION: "done", DROP_ACTION: "dropped"}  # the buttons that close an item, and how
SNOOZES = {SNOOZE_DAY_ACTION: timedelta(days=1), SNOOZE_WEEK_ACTION: timedelta(weeks=1)}
REWRITE_JOB = "rewrite_message"


def record_item(session, item: ActionItem, now: datetime, owner_label: str | None = None) -> ActionItem | None:
    """Store a new action item with its timeline line, and learn its owner's zone for reminders.

    Used by `/incident action` and the *Add action item* modal alike. None when `item.source_key`
    was used before (the same modal submitted twice): nothing is stored again. The item's tracker
    issue is queued in the same transaction (once per item; a no-op job with TRACKER=none).
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
        home_tab.people_changed(session, [item.owner_id], now)
    tracking.queue_create(session, stored.id, now)
    return stored


def register(app, services) -> None:
    """The button listeners (bot/app.py calls this). Each acknowledges once its write is committed:
    if the database fails, Slack shows the press as failed and the person can press again."""

    def item_button_pressed(ack, body):
        press = ButtonPress.from_payload(body)
        if press is None:
            log.warning("an action item button press without a person or an action; ignored")
        else:
            apply_press(services, press)
        ack()

    for action_id in (DONE_ACTION, DROP_ACTION, SNOOZE_DAY_ACTION, SNOOZE_WEEK_ACTION, RETRY_TRACKER_ACTION):
        app.action(action_id)(item_button_pressed)


def apply_press(services, press: ButtonPress) -> None:
    """Apply one button press: update the item, then queue the rewrite of the message it was in."""
    item_id = press.number
    if item_id is None:
        log.warning("button %s with a value that is no item id: %r", press.action_id, press.value[:40])
        return
    now = services.now()
    today = local_today(now, services.people.zone_of(press.user_id)) if _from_list(press) else None
    with services.db.write() as session:
        if press.action_id in CLOSING:
            item = close_item(session, item_id, press.user_id, now, CLOSING[press.action_id])
        elif press.action_id == RETRY_TRACKER_ACTION:
            tracking.retry_create(session, item_id, now)
            item = session.get(ActionItem, item_id)
        else:
            item = snooze_item(session, item_id, now + SNOOZES[press.action_id])
        listed = incident_items(session, item.incident_id) if today is not None and item is not None else None
        if item is not None:  # the owner's Home tab lists it; the presser sees their own press at once
            home_tab.people_changed(session, [press.user_id, item.owner_id], now, at_once=[press.user_id])
        job, coalesce_key = rewrite_job(press, item_id, item, listed, today)
        if job is not None:
            queue_rewrite(session, job, now, coalesce_key)


def _from_list(press: ButtonPress) -> bool:
    """Whether the button is in the `/incident actions` list (else it is in a reminder DM)."""
    return press.block_id.startswith(("action_item:", "action_item_buttons:"))


def close_item(session, item_id: int, user_id: str | None, now: datetime, status: str, *,
               via: str | None = None) -> ActionItem | None:
    """Close the item as `status` (once: a second press changes nothing) with its timeline line, and
    queue the closing of its tracker issue. `via` names the tracker issue the change came from
    (`GitHub #118`): that issue is closed already and is not touched again."""
    item, changed = action_items.close_action_item(session, item_id, user_id, now, status)
    if changed:
        where = f" (closed in {via})" if via else ""
        entries.add_entry(session, Entry(
            incident_id=item.incident_id, kind="action", at=now, author_id=user_id,
            text=f"Action #{item.id} {item.status}{where}: {item.text}", key=False, recorded_at=now))
        if via is None and item.tracker_key:
            tracking.queue_close(session, item_id, now)
    return item


def reopen_item(session, item_id: int, now: datetime, *, via: str) -> ActionItem | None:
    """Open a closed item again because its tracker issue (`via`) was reopened, with a timeline line."""
    item, changed = action_items.reopen_action_item(session, item_id)
    if changed:
        entries.add_entry(session, Entry(
            incident_id=item.incident_id, kind="action", at=now, author_id=None,
            text=f"Action #{item.id} reopened (in {via}): {item.text}", key=False, recorded_at=now))
    return item


def snooze_item(session, item_id: int, until: datetime) -> ActionItem | None:
    item, _ = action_items.snooze_action_item(session, item_id, until)
    return item


def incident_items(session, incident_id: int) -> list[ActionItem]:
    return action_items.action_items(session, incident_id)


def queue_rewrite(session, job: dict, now: datetime, coalesce_key: str | None) -> None:
    outbox_jobs.enqueue(session, REWRITE_JOB, job, now, coalesce_key=coalesce_key)


def rewrite_job(press: ButtonPress, item_id: int, item: ActionItem | None, listed: list[ActionItem] | None,
                today: date | None) -> tuple[dict | None, str | None]:
    """(the outbox job that rewrites the pressed message, the key that collapses queued rewrites of it).

    `listed` is the incident's items when the press came from the `/incident actions` list."""
    if listed is not None and item is not None and today is not None:
        # the `/incident actions` list is ephemeral: only its response_url can replace it
        text, blocks = list_message(views.ref(item.incident_id), listed, today)
        if not press.response_url:
            return None, None
        return {"response_url": press.response_url, "text": text, "blocks": blocks,
                "failure_text": "Updating the action item list failed"}, None
    # A reminder DM: the job rebuilds the item rows from the database when it runs (`digest`), so the
    # message's own blocks (header, item texts, footer) and which items it shows are all it needs.
    job = {"text": press.message_text or "Overdue action items",
           "blocks": [dict(b) for b in press.message_blocks], "digest": [item_id]}
    if press.channel_id and press.message_ts and not press.ephemeral:
        # one waiting rewrite per message: it reads every item's state when it runs
        return ({"channel": press.channel_id, "ts": press.message_ts, **job},
                f"rewrite:{press.channel_id}:{press.message_ts}")
    if press.response_url:
        return {"response_url": press.response_url, **job}, None
    return None, None


def apply_tracker_change(session, tracker_name: str, key: str, state: str, reason: str | None, now) -> str:
    """Apply "issue `key` is now `state`" to its item, in the caller's transaction; the issue is not
    touched again. The owner's Home tab, which lists their open items, is published again when the
    item closed or reopened. Returns what happened (for logs and the webhook's answer)."""
    item = action_items.item_by_tracker_key(session, tracker_name, key)
    if item is None:
        return "no such item"
    label = tracker_items.tracker_label(tracker_name, key)
    if state == "closed" and item.status == "open":
        status = "dropped" if reason == "not_planned" else "done"
        close_item(session, item.id, None, now, status, via=label)
        outcome = f"item #{item.id} {status}"
    elif state == "open" and item.status != "open":
        reopen_item(session, item.id, now, via=label)
        outcome = f"item #{item.id} reopened"
    else:
        outcome = "no change"
    if outcome != "no change":
        home_tab.people_changed(session, [item.owner_id], now)
    action_items.set_tracker_state(session, item.id, state)
    return outcome
