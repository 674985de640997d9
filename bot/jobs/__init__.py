"""Outbox jobs: each Slack side effect the bot performs in the background, by kind.

Every job is a module-level function taking (services, payload), registered in `JOBS` below under
its kind. The kind is stored with each queued job, so a kind's name never changes: jobs already
queued in a deployed database must still find their function. Jobs use the background Web API
client (it retries 429 and 5xx) and are written to be harmless if repeated, because a crash after
a Slack call and before the job is recorded as done makes the outbox run it again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial

from slack_sdk.webhook import WebhookClient

from bot import actions
from bot.jobs import channel, header, people, prompts, rewrites
from bot.outbox import Handler
from bot.services import Services

log = logging.getLogger(__name__)

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
}


def handlers(services: Services) -> dict[str, Handler]:
    """The job kinds this bot knows, bound to its services (what the outbox runs)."""
    return {kind: partial(job, services) for kind, job in JOBS.items()}


def report_give_up(services: Services) -> Callable[[str, dict, str], None]:
    """When a job is given up, tell the person who asked for it (through their response_url)."""

    def report(kind: str, payload: dict, error: str) -> None:
        log.error("outbox job %s given up: %s", kind, error)
        response_url = payload.get("response_url")
        if response_url:
            WebhookClient(response_url, timeout=5).send(
                text=f":warning: {payload.get('failure_text') or 'A Slack update failed'} (`{error}`). "
                     "What you recorded is stored; nothing was lost.",
                response_type="ephemeral",
            )

    return report
