"""Action items and their tracker issues: the use cases the listeners, webhooks and jobs share.

Queueing the issue's creation and closing (outbox jobs run by bot/jobs/trackers.py) and the Retry
button. A change made in the tracker (a webhook or a poll) is applied to the item by
`bot.actions.apply_tracker_change`, without sending it back to the tracker. See docs/trackers.md.
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
