"""Reminder DMs for overdue action items, and the postmortem nudge (SPEC 6).

Selection is pure (plain values in, digests out): an open item is reminded when the date in its
owner's zone is past its due date, it is not snoozed, and it was not reminded within
REMINDER_REPEAT_HOURS. Each person gets one digest per sweep; an item without owner goes to the
incident's commander.

Delivery is exactly once: the items of a digest are claimed with one atomic conditional update and a
lease (storage.overdue.claim_reminders), the DM is sent, and only then is the reminder recorded.
A failed DM releases the claim, so the next sweep tries again. Only a crash between sending and
recording can repeat a reminder, once the lease has expired.

APScheduler only ticks (`start_scheduler`): every REMINDER_INTERVAL_MINUTES and once shortly after
start. All state lives in the database, so any number of replicas (and cron running
`incident-bot reminders sweep`) can sweep at once.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo

from slack_sdk.errors import SlackApiError, SlackClientError

from bot import actions, views
from bot import text as T
from bot.people import slack_zone
from bot.services import Services
from bot.slack import forget_dm, open_dm
from bot.when import format_duration
from storage import overdue
from storage.db import DatabaseUnavailable
from storage.overdue import Nudge, ReminderCandidate

log = logging.getLogger(__name__)

# Seconds from start to the first sweep: a restart never waits a whole interval (tests lower it).
FIRST_RUN_DELAY_S = 5.0
# Longer than a digest takes to send, even through Slack's rate limits; a crashed sweep's claims
# come free after it.
LEASE = timedelta(minutes=10)
ITEMS_PER_MESSAGE = 20  # 2 blocks an item + header + footer: 42 of Block Kit's 50
MAX_MESSAGES_PER_DIGEST = 3  # beyond 60 items a person gets "and N more", not a flood of DMs
# Digests to different people are sent side by side: each DM is two Web API round trips, and a
# sweep with hundreds of recipients should not take minutes. Rate limits are per method and
# workspace; the background client waits out a 429 (Retry-After) in its own thread.
SEND_WORKERS = 4
ITEM_TEXT_LIMIT = 600
TITLE_LIMIT = 120


# ---------------------------------------------------------------------------------------------
# selection (pure)


def is_overdue(due: date, now: datetime, zone: tzinfo) -> bool:
    """Overdue once the local date in `zone` is past the due date (SPEC 6)."""
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


ITEM_OVERHEAD = 200  # an item's own words (due, channel, no owner) and buttons, besides its text and title


def item_section(item: ReminderCandidate, today: date, room: int = ITEM_TEXT_LIMIT + TITLE_LIMIT) -> dict:
    """An item of a reminder DM; its text and incident title share `room` characters."""
    ref = views.ref(item.incident_id)
    where = f"<#{item.channel_id}> ({ref})" if item.channel_id else ref
    title_room = min(TITLE_LIMIT, room // 4)
    title = T.mrkdwn_cut(item.incident_title, title_room)
    lines = [
        f"*#{item.item_id}* {T.mrkdwn_cut(item.text, min(ITEM_TEXT_LIMIT, room - title_room))}",
        f"Due {actions.describe_due(item.due, today)} · {where}: {title}",
    ]
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
            blocks += [item_section(item, today, room), actions.reminder_buttons(item.item_id)]
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
# the sweep


@dataclass
class SweepResult:
    dms: int = 0  # reminder messages sent
    items: int = 0  # items reminded
    nudges: int = 0  # postmortem nudges sent
    failed: int = 0  # DMs that failed (their items are released for the next sweep)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, *, dms: int = 0, items: int = 0, nudges: int = 0, failed: int = 0) -> None:
        with self._lock:
            self.dms += dms
            self.items += items
            self.nudges += nudges
            self.failed += failed

    def summary(self) -> str:
        text = (f"Sent {self.dms} reminder DM{'s' if self.dms != 1 else ''} about {self.items} overdue "
                f"action item{'s' if self.items != 1 else ''} and {self.nudges} postmortem "
                f"nudge{'s' if self.nudges != 1 else ''}.")
        if self.failed:
            text += f" {self.failed} DM{'s' if self.failed != 1 else ''} failed; the next sweep retries them."
        return text


def _lease_owner() -> str:
    return f"sweep-{os.getpid()}-{uuid.uuid4().hex[:12]}"


def sweep(services: Services) -> SweepResult:
    """One sweep: remind every overdue item once, and nudge commanders of draftless incidents."""
    result = SweepResult()
    owner = _lease_owner()
    _remind(services, owner, result)
    _nudge(services, owner, result)
    log.info("reminder sweep: %s", result.summary())
    return result


def _remind(services: Services, owner: str, result: SweepResult) -> None:
    settings = services.settings
    now = services.now()
    repeat = timedelta(hours=settings.reminder_repeat_hours)
    reminded_before = now - repeat
    # No zone is more than a day ahead of UTC, so nothing due after UTC's today is overdue anywhere.
    latest_due = now.astimezone(UTC).date()
    with services.db.read() as session:
        candidates = overdue.reminder_candidates(session, now, latest_due, reminded_before)
    digests = select_digests(candidates, now, settings.zone, repeat)

    def claim_and_send(digest: Digest) -> None:
        # The lease counts from the claim, not from the sweep's start: a digest claimed late in a slow
        # sweep would otherwise get a lease already run out, and another sweep could send it again.
        claimed_at = services.now()
        try:
            with services.db.write() as session:
                claimed = set(overdue.claim_reminders(session, digest.item_ids, owner, claimed_at,
                                                      claimed_at + LEASE, reminded_before))
        except DatabaseUnavailable as exc:
            log.warning("reminders for %s wait for the next sweep, database unavailable: %s", digest.recipient, exc)
            return
        if not claimed:
            return  # another sweep has them
        mine = Digest(digest.recipient, digest.zone, tuple(i for i in digest.items if i.item_id in claimed),
                      digest.hidden)
        _send_digest(services, owner, mine, now, result)

    if len(digests) <= 1:
        for digest in digests:
            claim_and_send(digest)
        return
    with ThreadPoolExecutor(max_workers=SEND_WORKERS, thread_name_prefix="reminders") as pool:
        for done in [pool.submit(claim_and_send, digest) for digest in digests]:
            done.result()  # re-raise the unexpected; what was sent is recorded already


def _send_digest(services: Services, owner: str, digest: Digest, now: datetime, result: SweepResult) -> None:
    for message in digest_messages(digest, now):
        if not _post_dm(services.background, digest.recipient, message, f"reminder DM to {digest.recipient}"):
            _release(services, message.item_ids, owner)
            result.add(failed=1)
            continue
        try:
            with services.db.write() as session:
                overdue.record_reminded(session, message.item_ids, owner, services.now())
        except DatabaseUnavailable as exc:
            # sent but not recorded: the only case SPEC 6 allows to repeat, once the lease expires
            log.error("reminder DM to %s sent but not recorded (%s); it may repeat after %s",
                      digest.recipient, exc, LEASE)
        result.add(dms=1, items=len(message.item_ids))


def _post_dm(client, user_id: str, message: Message, what: str) -> bool:
    """Send one message to a person's DM. False (logged) when Slack refused it or did not answer."""
    try:
        channel = open_dm(client, user_id)
        client.chat_postMessage(channel=channel, text=message.text, blocks=message.blocks,
                                unfurl_links=False, unfurl_media=False)
        return True
    except (SlackApiError, SlackClientError, OSError) as exc:
        log.warning("%s failed: %s", what, _error(exc))
        forget_dm(client, user_id)  # in case the remembered channel is the problem
        return False


def _release(services: Services, item_ids: Sequence[int], owner: str) -> None:
    try:
        with services.db.write() as session:
            overdue.release_reminders(session, item_ids, owner)
    except DatabaseUnavailable:
        log.warning("could not release reminder claims; they expire in %s", LEASE)


def _nudge(services: Services, owner: str, result: SweepResult) -> None:
    now = services.now()
    resolved_before = now - timedelta(days=services.settings.postmortem_nudge_days)
    with services.db.write() as session:
        nudges = overdue.claim_nudges(session, owner, now, now + LEASE, resolved_before)
    for nudge in nudges:
        if not _post_dm(services.background, nudge.commander_id, nudge_message(nudge, now),
                        f"postmortem nudge for INC-{nudge.incident_id}"):
            _release_nudge(services, nudge.incident_id, owner)
            result.add(failed=1)
            continue
        try:
            with services.db.write() as session:
                overdue.record_nudged(session, nudge.incident_id, owner, services.now())
        except DatabaseUnavailable as exc:
            # sent but not recorded: the only case SPEC 6 allows to repeat, once the lease expires
            log.error("postmortem nudge for INC-%s sent but not recorded (%s); it may repeat after %s",
                      nudge.incident_id, exc, LEASE)
        result.add(nudges=1)


def _release_nudge(services: Services, incident_id: int, owner: str) -> None:
    try:
        with services.db.write() as session:
            overdue.release_nudge(session, incident_id, owner)
    except DatabaseUnavailable:
        log.warning("could not release the postmortem nudge claim of INC-%s; it expires in %s", incident_id, LEASE)


def _error(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    try:
        return str((response or {}).get("error") or exc)
    except AttributeError:
        return str(exc)


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
