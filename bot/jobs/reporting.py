"""What happens when the outbox gives a job up: one place for every kind's failure report."""

from __future__ import annotations

import logging
from collections.abc import Callable

from slack_sdk.webhook import WebhookClient

from bot.services import Services

log = logging.getLogger("bot.jobs")


def report_give_up(services: Services) -> Callable[[str, dict, str], None]:
    """When a job is given up, log it, and tell the person who asked for it (through their
    response_url, when the job has one)."""

    def report(kind: str, payload: dict, error: str) -> None:
        log.error("outbox job %s given up: %s", kind, error)
        if kind == "tracker_create":  # the item says so where it is shown, with a Retry button
            from bot.jobs.trackers import gave_up

            gave_up(services, payload, error)
        response_url = payload.get("response_url")
        if response_url:
            WebhookClient(response_url, timeout=5).send(
                text=f":warning: {payload.get('failure_text') or 'A Slack update failed'} (`{error}`). "
                     "What you recorded is stored; nothing was lost.",
                response_type="ephemeral",
            )

    return report
