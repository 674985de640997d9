"""Reminder DMs for overdue action items, and the postmortem nudge: what is due, and the sweep.

Selection is pure (plain values in, digests out): an open item is reminded when the date in its
owner's zone is past its due date, it is not snoozed, and it was not reminded within
REMINDER_REPEAT_HOURS. Each person gets one digest per sweep; an item without owner goes to the
incident's commander. A resolved incident without a postmortem draft after POSTMORTEM_NUDGE_DAYS
gets one DM to its commander, once.

The sweep selects and queues; it sends nothing. Each digest is an outbox job keyed by its recipient
(each nudge, by its incident), queued with storage.outbox_jobs.enqueue_once: while a person's job is
unfinished no other is queued for them, so replicas sweeping at once queue one job, and a person's
reminders are delivered one job at a time. The job (bot/jobs/reminder_dms.py) reads the items again
when it runs, so an item closed, snoozed or reminded meanwhile is left out, and records each DM as
soon as it is sent. Delivery shares the outbox's lease, backoff and failure reporting.

APScheduler only ticks (`start_scheduler`): every REMINDER_INTERVAL_MINUTES and once shortly after
start. All state lives in the database, so any number of replicas (and cron running
`incident-bot reminders sweep`) can sweep at once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo

from bot import action_blocks, due_dates, views
from bot import text as T
from bot.people import slack_zone
from bot.tracker_items import slack_link
from bot.services import Services
from bot.when import format_duration
from storage import outbox_jobs, overdue
from storage.db import DatabaseUnavailable
from storage.overdue import Nudge, ReminderCandidate

log = logging.getLogger(__name__)

# Seconds from start to the first sweep: a restart never waits a whole interval (tests lower it).
FIRST_RUN_DELAY_S = 5.0
ITEMS_PER_MESSAGE = 20  # 2 blocks an item + header + footer: 42 of Block Kit's 50
MAX_MESSAGES_PER_DIGEST = 3  # beyond 60 items a person gets "and N more", not a flood of DMs
ITEM_TEXT_LIMIT = 600
# The outbox job kinds of delivery (bot/jobs/reminder_dms.py); stored with queued jobs, never renamed.
DIGEST_JOB = "reminder_digest"
NUDGE_JOB = "postmortem_nudge"
TITLE_LIMIT = 120


# ---------------------------------------------------------------------------------------------
# selection (pure)


def is_overdue(due: date, now: datetime, zone: tzinfo) -> bool:
    """Overdue once the local date in `zone` is past the due date."""
    return now.astimezone(zone).date() > due


def needs_reminder(item: ReminderCandidate, now: datetime, zone: tzinfo, repeat: timedelta) -> bool:
    if item.due is None or not is_overdue(item.due, now, zone):
        return False
    if item.snoozed_until is not None and item.snoozed_until > now:
        return False
    recently = item.reminded_at is not None and now - item.reminded_at < repeat  # repeat 0: never recent
    return not recently


def recipient_of(item: ReminderCandidate) -> str | None:
    return item.owner_id or item.commander_id


@dataclass(frozen=True)
class Digest:
    """One DM's worth of overdue items for one person (`hidden` did not fit and wait their turn)."""

    recipient: str
    zone: tzinfo
    items: tuple[ReminderCandidate, ...]
    hidden: int = 0

    @property
    def item_ids(self) -> list[int]:
        return [i.item_id for i in self.items]


def select_digests(candidates: Iterable[ReminderCandidate], now: datetime, default_zone: tzinfo,
                   repeat: timedelta) -> list[Digest]:
    """The digests one sweep sends: per recipient, their overdue items, oldest due first.

    An item's overdue date is read in its recipient's stored Slack zone, else `default_zone`.
    An item with neither owner nor commander cannot be reminded and is skipped.
    """
    grouped: dict[str, list[ReminderCandidate]] = {}
    zones: dict[str, tzinfo] = {}
    for item in candidates:
        recipient = recipient_of(item)
        if recipient is None:
            continue
        zone = zones.setdefault(recipient, slack_zone(item.recipient_tz) or default_zone)
        if needs_reminder(item, now, zone, repeat):
            grouped.setdefault(recipient, []).append(item)
    cap = ITEMS_PER_MESSAGE * MAX_MESSAGES_PER_DIGEST
    digests = []
    for recipient in sorted(grouped):
        items = sorted(grouped[recipient], key=lambda i: (i.due, i.item_id))
        digests.append(Digest(recipient, zones[recipient], tuple(items[:cap]), max(0, len(items) - cap)))
    return digests


# ---------------------------------------------------------------------------------------------
# the digest (pure Block Kit)


@dataclass(frozen=True)
class Message:
    text: str
    blocks: list[dict]
    item_ids: list[int] = field(default_factory=list)


# an item's own words (due, channel, no owner, its tracker link) and buttons, besides its text and title
ITEM_OVERHEAD = 200 + 230


def item_section(item: ReminderCandidate, today: date, room: int = ITEM_TEXT_LIMIT + TITLE_LIMIT) -> dict:
    """An item of a reminder DM; its text and incident title share `room` characters."""
    ref = views.ref(item.incident_id)
    where = f"<#{item.channel_id}> ({ref})" if item.channel_id else ref
    title_room = min(TITLE_LIMIT, room // 4)
    title = T.mrkdwn_cut(item.incident_title, title_room)
    lines = [
        f"*#{item.item_id}* {T.mrkdwn_cut(item.text, min(ITEM_TEXT_LIMIT, room - title_room))}",
        f"Due {due_dates.describe_due(item.due, today)} · {where}: {title}",
    ]
    link = slack_link(item)
    if link:
        lines.append(f"Issue: {link}")
    if item.owner_id is None:
        lines.append(f"_No owner: you get this as the commander of {ref}._")
    return {"type": "section", "block_id": f"reminder_item:{item.item_id}",
            "text": {"type": "mrkdwn", "text": "\n".join(lines)}}


def digest_messages(digest: Digest, now: datetime) -> list[Message]:
    """The DMs of one digest: at most ITEMS_PER_MESSAGE items each (Block Kit allows 50 blocks)."""
    today = now.astimezone(digest.zone).date()
    total = len(digest.items)
    chunks = [digest.items[i:i + ITEMS_PER_MESSAGE] for i in range(0, total, ITEMS_PER_MESSAGE)]
    noun = "item" if total == 1 else "items"
    messages = []
    for index, chunk in enumerate(chunks):
        part = f" ({index + 1} of {len(chunks)})" if len(chunks) > 1 else ""
        heading = f":alarm_clock: *{total} overdue action {noun}*{part}. Done? Press *Done*. Need time? Snooze it."
        blocks: list[dict] = [{"type": "section", "text": {"type": "mrkdwn", "text": heading}}]
        # long items share what one posted message can hold (Slack refuses more, whatever each block holds)
        room = views.share_of(views.POSTED_BLOCKS_TEXT - 500 - ITEM_OVERHEAD * len(chunk), len(chunk),
                              ITEM_TEXT_LIMIT + TITLE_LIMIT)
        for item in chunk:
            blocks += [item_section(item, today, room),
                       action_blocks.reminder_buttons(item.item_id, action_blocks.needs_retry(item))]
        footer = "`/incident actions` in an incident channel lists all of its items."
        if index == len(chunks) - 1 and digest.hidden:
            footer = (f"…and {digest.hidden} more overdue item{'s' if digest.hidden != 1 else ''}: they come "
                      "in the next reminder. " + footer)
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": footer}]})
        messages.append(Message(f"You have {total} overdue action {noun}{part}.", blocks,
                                [i.item_id for i in chunk]))
    return messages


def nudge_message(nudge: Nudge, now: datetime) -> Message:
    ref = views.ref(nudge.incident_id)
    where = f"<#{nudge.channel_id}>" if nudge.channel_id else "its channel"
    title = T.mrkdwn_cut(nudge.title, TITLE_LIMIT)
    days = (now - nudge.resolved_at).days
    ago = f"{days} day{'s' if days != 1 else ''}" if days >= 1 else format_duration(now - nudge.resolved_at)
    text = (f":memo: *{ref}* ({title}) was resolved {ago} ago and has no postmortem yet. "
            f"Run `/postmortem draft` in {where} to get a draft built from the timeline, while people "
            "still remember.")
    return Message(f"{ref} has no postmortem yet.", [{"type": "section", "text": {"type": "mrkdwn", "text": text}}])


# ---------------------------------------------------------------------------------------------
# the sweep: select and queue


@dataclass(frozen=True)
class Queued:
    """What one sweep queued: digest jobs and nudge jobs (a person whose job is still unfinished
    gets none, and is not counted)."""

    digests: int = 0
    nudges: int = 0
    polls: int = 0  # tracker polls (TRACKER set: at most one per interval)

    def summary(self) -> str:
        return (f"queued {self.digests} reminder digest{'s' if self.digests != 1 else ''} and {self.nudges} "
                f"postmortem nudge{'s' if self.nudges != 1 else ''}")


def sweep(services: Services) -> Queued:
    """One sweep: queue a DM for every person with overdue items, and one for every commander owed a
    postmortem nudge. The outbox sends them (bot/jobs/reminder_dms.py)."""
    settings = services.settings
    now = services.now()
    repeat = timedelta(hours=settings.reminder_repeat_hours)
    # No zone is more than a day ahead of UTC, so nothing due after UTC's today is overdue anywhere.
    latest_due = now.astimezone(UTC).date()
    with services.db.read() as session:
        candidates = overdue.reminder_candidates(session, now, latest_due, now - repeat)
        nudges = overdue.nudges_due(session, now - timedelta(days=settings.postmortem_nudge_days))
    digests = select_digests(candidates, now, settings.zone, repeat)
    with services.db.write() as session:  # in one order, recipients then incidents: no deadlock
        queued = Queued(
            digests=sum(outbox_jobs.enqueue_once(session, DIGEST_JOB, digest_payload(d), now, digest_key(d.recipient))
                        for d in digests),
            nudges=sum(outbox_jobs.enqueue_once(session, NUDGE_JOB, {"incident_id": n.incident_id}, now,
                                                nudge_key(n.incident_id))
                       for n in nudges),
            polls=queue_tracker_poll(session, settings, now),
        )
    log.info("reminder sweep: %s", queued.summary())
    return queued


def queue_tracker_poll(session, settings, now: datetime) -> int:
    """With a tracker, one batched poll of the tracked items' issues per sweep interval (for
    installations that receive no webhooks; bot/jobs/trackers.py)."""
    if settings.tracker == "none":
        return 0
    from bot.tracking import POLL_JOB

    interval = int(now.timestamp() // (settings.reminder_interval_minutes * 60))
    return int(outbox_jobs.enqueue_once(session, POLL_JOB, {}, now, f"tracker:poll:{interval}"))


def digest_key(recipient: str) -> str:
    """One unfinished reminder job per person: a person's reminders are delivered one job at a time."""
    return f"reminder:{recipient}"


def nudge_key(incident_id: int) -> str:
    return f"nudge:{incident_id}"


def digest_payload(digest: Digest) -> dict:
    return {"recipient": digest.recipient, "item_ids": digest.item_ids, "more": digest.hidden}


# ---------------------------------------------------------------------------------------------
# the scheduler


def run_scheduled_sweep(services: Services) -> None:
    """The scheduler's job: a failed sweep is logged; the next tick tries again."""
    try:
        sweep(services)
    except DatabaseUnavailable as exc:
        log.warning("reminder sweep skipped, database unavailable: %s", exc)
    except Exception:
        log.exception("reminder sweep failed")


def start_scheduler(services: Services, first_run_delay: float | None = None):
    """A BackgroundScheduler ticking the sweep; in-memory job store (the state is in the database)."""
    from apscheduler.schedulers.background import BackgroundScheduler

    delay = FIRST_RUN_DELAY_S if first_run_delay is None else first_run_delay
    scheduler = BackgroundScheduler(timezone=UTC)
    scheduler.add_job(
        run_scheduled_sweep,
        "interval",
        minutes=services.settings.reminder_interval_minutes,
        args=[services],
        id="reminder_sweep",
        name="reminder sweep",
        next_run_time=datetime.now(UTC) + timedelta(seconds=delay),  # catch up at start
        misfire_grace_time=None,  # a run missed while busy or down still happens (APScheduler's 1 s drops it)
        coalesce=True,  # several missed runs are one sweep
        max_instances=1,
    )
    scheduler.start()
    log.info("reminder sweep every %s min, first in %.0f s", services.settings.reminder_interval_minutes, delay)
    return scheduler
