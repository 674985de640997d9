"""The reminder digest and postmortem nudge jobs: DM what is still due when the job runs.

The sweep (bot/reminders.py) queued the job with the items it selected. The job reads them again:
an item closed, snoozed, reassigned or reminded since is left out, and the DM shows the rest as
they are now. Each DM is recorded (reminded_at, nudged_at) as soon as Slack accepted it, in its own
short transaction, not in the one that finishes the job: a digest can be three messages, and a retry
after the second failed must not send the first again. A crash between a send and its record can
repeat that one DM, once, when the job's lease expires: Slack calls cannot join a database
transaction. A failed DM fails the job, and the outbox retries it with backoff or gives it up and
reports it; a given-up person is queued again by the next sweep.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field, replace
from datetime import UTC, timedelta
from functools import partial

from slack_sdk.errors import SlackApiError, SlackClientError

from bot.jobs.errors import PERMANENT_ERRORS, slack_error
from bot.jobs.reporting import report_give_up
from bot.outbox import Outbox, PermanentFailure
from bot.reminders import (
    DIGEST_JOB,
    NUDGE_JOB,
    Digest,
    Message,
    digest_messages,
    nudge_message,
    select_digests,
)
from bot.services import Services
from bot.slack import forget_dm, open_dm
from storage import overdue
from storage.db import DatabaseUnavailable

log = logging.getLogger(__name__)

KINDS = frozenset({DIGEST_JOB, NUDGE_JOB})
# `incident-bot reminders sweep` sends digests to different people side by side: each DM is one or
# two Web API round trips, and hundreds of recipients should not take minutes. Rate limits are per
# method and workspace; the background client waits out a 429 (Retry-After) in its own thread.
SEND_WORKERS = 4


@dataclass
class SweepResult:
    """What the reminder jobs run by one process sent (for `incident-bot reminders sweep`)."""

    dms: int = 0  # reminder messages sent
    items: int = 0  # items reminded
    nudges: int = 0  # postmortem nudges sent
    failed: int = 0  # DMs that failed (retried by the outbox, or by the next sweep)
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


def remind(services: Services, payload: dict, tally: SweepResult | None = None) -> None:
    """The `reminder_digest` job: DM one person their items that still need a reminder."""
    tally = tally or SweepResult()
    recipient = payload["recipient"]
    digest = current_digest(services, recipient, payload["item_ids"], payload.get("more", 0))
    if digest is None:
        return  # done, dropped, snoozed, reassigned or reminded since the sweep
    failures = []
    for message in digest_messages(digest, services.now()):
        try:
            send_dm(services, recipient, message)
        except (SlackApiError, SlackClientError, OSError) as exc:
            failures.append(exc)
            tally.add(failed=1)
            continue
        _record(services, f"reminder DM to {recipient}",
                lambda session, ids=message.item_ids: overdue.record_reminded(session, ids, services.now()))
        tally.add(dms=1, items=len(message.item_ids))
    if failures:
        _fail(f"reminder DM to {recipient}", failures)


def current_digest(services: Services, recipient: str, item_ids: list[int], more: int) -> Digest | None:
    """The digest of these items as they are now: those that still need a reminder, for `recipient`."""
    settings = services.settings
    now = services.now()
    repeat = timedelta(hours=settings.reminder_repeat_hours)
    with services.db.read() as session:
        candidates = overdue.reminder_candidates(session, now, now.astimezone(UTC).date(), now - repeat,
                                                 item_ids=item_ids)
    mine = [d for d in select_digests(candidates, now, settings.zone, repeat) if d.recipient == recipient]
    return replace(mine[0], hidden=more) if mine else None


def nudge(services: Services, payload: dict, tally: SweepResult | None = None) -> None:
    """The `postmortem_nudge` job: DM the commander, unless a draft exists or they were nudged since."""
    tally = tally or SweepResult()
    incident_id = payload["incident_id"]
    now = services.now()
    resolved_before = now - timedelta(days=services.settings.postmortem_nudge_days)
    with services.db.read() as session:
        due = overdue.nudges_due(session, resolved_before, incident_id=incident_id)
    if not due:
        return
    what = f"postmortem nudge for INC-{incident_id}"
    try:
        send_dm(services, due[0].commander_id, nudge_message(due[0], now))
    except (SlackApiError, SlackClientError, OSError) as exc:
        tally.add(failed=1)
        _fail(what, [exc])
    _record(services, what, lambda session: overdue.record_nudged(session, incident_id, services.now()))
    tally.add(nudges=1)


def send_dm(services: Services, user_id: str, message: Message) -> None:
    """Post one message in a person's DM; on failure forget the remembered DM channel (it may be why)."""
    client = services.background
    try:
        channel = open_dm(client, user_id)
        client.chat_postMessage(channel=channel, text=message.text, blocks=message.blocks,
                                unfurl_links=False, unfurl_media=False)
    except (SlackApiError, SlackClientError, OSError):
        forget_dm(client, user_id)
        raise


def _record(services: Services, what: str, record) -> None:
    try:
        with services.db.write() as session:
            record(session)
    except DatabaseUnavailable as exc:
        # sent but not recorded: the one case that may repeat, at the next sweep
        log.error("%s sent but not recorded (%s); it may be sent again", what, exc)


def _fail(what: str, failures: list[Exception]) -> None:
    """Fail the job: given up at once when no retry can help any of its DMs, else retried."""
    errors = [slack_error(e) if isinstance(e, SlackApiError) else f"{type(e).__name__}: {e}" for e in failures]
    message = f"{what}: {', '.join(errors)}"
    if all(isinstance(e, SlackApiError) and slack_error(e) in PERMANENT_ERRORS for e in failures):
        raise PermanentFailure(message) from failures[0]
    raise RuntimeError(message) from failures[0]


def deliver_now(services: Services, workers: int = SEND_WORKERS) -> SweepResult:
    """Run the due reminder and nudge jobs here and now, `workers` at a time, and say what they sent.

    For `incident-bot reminders sweep`: a cron sweep delivers what it queued and reports it. It runs
    them through the outbox like any replica would, so a job another process runs meanwhile is not
    run twice (nor counted here).
    """
    result = SweepResult()
    handlers = {DIGEST_JOB: partial(remind, services, tally=result), NUDGE_JOB: partial(nudge, services, tally=result)}
    outbox = Outbox(services.db, handlers, services.clock, on_give_up=report_give_up(services), kinds=KINDS)
    outbox.drain(workers=workers)
    return result
