"""Outbox jobs: each Slack side effect the bot performs in the background, by kind.

Every job is a module-level function taking (services, payload), registered in `JOBS` below under
its kind. The kind is stored with each queued job, so a kind's name never changes: jobs already
queued in a deployed database must still find their function. Jobs use the background Web API
client (it retries 429 and 5xx) and are written to be harmless if repeated, because a crash after
a Slack call and before the job is recorded as done makes the outbox run it again.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from bot import actions, curation, home_tab, reminders, tracking
from bot.jobs import (
    channel,
    curation_jobs,
    header,
    home,
    people,
    prompts,
    reminder_dms,
    rewrites,
    trackers,
    update_reminders,
)
from bot.jobs.reporting import report_give_up
from bot.outbox import Handler
from bot.services import Services

__all__ = ["JOBS", "LANES", "handlers", "report_give_up"]

Job = Callable[[Services, dict], None]

JOBS: dict[str, Job] = {
    "sync_header": header.sync_header,
    "invite": channel.invite,
    "announce": channel.announce,
    "join": channel.join,
    "backfill": channel.backfill,
    "profile": people.profile,
    "prompt_channel": prompts.prompt_channel,
    "prompt_dm": prompts.prompt_dm,
    "upload_draft": prompts.upload_draft,
    actions.REWRITE_JOB: rewrites.rewrite_message,
    reminders.DIGEST_JOB: reminder_dms.remind,
    reminders.NUDGE_JOB: reminder_dms.nudge,
    reminders.UPDATE_REMINDER_JOB: update_reminders.remind_update,
    home_tab.PUBLISH_JOB: home.publish_home,
    home_tab.REFRESH_ALL_JOB: home.refresh_homes,
    tracking.CREATE_JOB: trackers.create_issue,
    tracking.CLOSE_JOB: trackers.close_issue,
    tracking.POLL_JOB: trackers.poll,
    tracking.ALERT_JOB: trackers.alert,
    tracking.PUBLISH_JOB: trackers.publish,
    curation.LOG_POST_JOB: curation_jobs.log_post,
    curation.RESPOND_JOB: curation_jobs.respond,
}

# A reminder sweep queues a DM job per person at once: a lane of their own keeps them from holding
# up the jobs of live incidents (and those from holding up reminders).
# Home tab publications, one per viewer after a change everyone sees, have a lane of their own too.
# Tracker calls are slow and rate-limited by the tracker: one lane, one request at a time per process,
# as GitHub asks of content creation (and no tracker outage holds up a header).
LANES = [reminder_dms.KINDS | {reminders.UPDATE_REMINDER_JOB}, home_tab.KINDS, tracking.KINDS]


# Called by the main drainer before each claim, to turn work stored without a job into jobs: the log
# entries `/incident log` stored in one statement, marked to be posted (bot/curation.py).
FEEDERS = [curation.queue_log_posts]


def feeders(services: Services) -> list:
    return [partial(feed, services) for feed in FEEDERS]


def handlers(services: Services) -> dict[str, Handler]:
    """The job kinds this bot knows, bound to its services (what the outbox runs)."""
    return {kind: partial(job, services) for kind, job in JOBS.items()}
