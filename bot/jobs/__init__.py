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

from bot import actions, curation, reminders
from bot.jobs import channel, curation_jobs, header, people, prompts, reminder_dms, rewrites
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
    curation.LOG_POST_JOB: curation_jobs.log_post,
    curation.RESPOND_JOB: curation_jobs.respond,
}

# A reminder sweep queues a DM job per person at once: a lane of their own keeps them from holding
# up the jobs of live incidents (and those from holding up reminders).
LANES = [reminder_dms.KINDS]


def handlers(services: Services) -> dict[str, Handler]:
    """The job kinds this bot knows, bound to its services (what the outbox runs)."""
    return {kind: partial(job, services) for kind, job in JOBS.items()}
