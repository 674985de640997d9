"""Action items and their tracker issues: the use cases the listeners, webhooks and jobs share.

Queueing the issue's creation and closing (outbox jobs run by bot/jobs/trackers.py), the Retry
button, and applying a change made in the tracker (a webhook or a poll) to the item, without
sending it back to the tracker. See docs/trackers.md.
"""

from __future__ import annotations

from storage import action_items, outbox_jobs

CREATE_JOB = "tracker_create"
CLOSE_JOB = "tracker_close"
POLL_JOB = "tracker_poll"
ALERT_JOB = "tracker_alert"
PUBLISH_JOB = "postmortem_publish"
KINDS = frozenset({CREATE_JOB, CLOSE_JOB, POLL_JOB, ALERT_JOB, PUBLISH_JOB})


def create_key(item_id: int) -> str:
    return f"tracker:create:{item_id}"


def close_key(item_id: int) -> str:
    return f"tracker:close:{item_id}"


def queue_create(session, item_id: int, now) -> bool:
    return outbox_jobs.enqueue_once(session, CREATE_JOB, {"item_id": item_id}, now, create_key(item_id))


def queue_close(session, item_id: int, now) -> bool:
    return outbox_jobs.enqueue_once(session, CLOSE_JOB, {"item_id": item_id}, now, close_key(item_id))


def retry_create(session, item_id: int, now) -> bool:
    """The Retry button: forget the failure and queue the create again (once)."""
    action_items.set_tracker_error(session, item_id, None)
    return queue_create(session, item_id, now)


def apply_change(session, tracker_name: str, key: str, state: str, reason: str | None, now) -> str:
    """Apply "issue `key` is now `state`" to its item, in the caller's transaction; the issue is not
    touched again. The owner's Home tab, which lists their open items, is published again when the
    item closed or reopened. Returns what happened (for logs and the webhook's answer)."""
    from bot import actions, home_tab, tracker_items  # bot.actions imports this module

    item = action_items.item_by_tracker_key(session, tracker_name, key)
    if item is None:
        return "no such item"
    label = tracker_items.tracker_label(tracker_name, key)
    if state == "closed" and item.status == "open":
        status = "dropped" if reason == "not_planned" else "done"
        actions.close_item(session, item.id, None, now, status, via=label)
        outcome = f"item #{item.id} {status}"
    elif state == "open" and item.status != "open":
        actions.reopen_item(session, item.id, now, via=label)
        outcome = f"item #{item.id} reopened"
    else:
        outcome = "no change"
    if outcome != "no change":
        home_tab.people_changed(session, [item.owner_id], now)
    action_items.set_tracker_state(session, item.id, state)
    return outcome
