"""Jobs on an incident channel: invite people, announce a change, join it, backfill its history."""

from __future__ import annotations

from slack_sdk.errors import SlackApiError

from bot import capture
from bot.jobs.errors import raise_for, slack_error
from bot.outbox import PermanentFailure
from bot.services import Services
from bot.when import from_slack_ts


def invite(services: Services, payload: dict) -> None:
    users = [u for u in payload.get("users", []) if u]
    if not users:
        return
    try:
        services.background.conversations_invite(channel=payload["channel_id"], users=",".join(users))
    except SlackApiError as exc:
        if slack_error(exc) in {"already_in_channel", "cant_invite_self"}:
            return
        raise_for(exc, "invite")


def announce(services: Services, payload: dict) -> None:
    try:
        services.background.chat_postMessage(
            channel=payload["channel_id"],
            text=payload["text"],
            blocks=payload.get("blocks"),
            unfurl_links=False,
            unfurl_media=False,
        )
    except SlackApiError as exc:
        raise_for(exc, "announce")


def join(services: Services, payload: dict) -> None:
    try:
        services.background.conversations_join(channel=payload["channel_id"])
    except SlackApiError as exc:
        if slack_error(exc) in {"already_in_channel"}:
            return
        if slack_error(exc) in {"method_not_supported_for_channel_type", "channel_not_found"}:
            raise PermanentFailure("private channel: someone must /invite the bot") from exc
        raise_for(exc, "join")


def backfill(services: Services, payload: dict) -> None:
    """Fetch what was said in the channel since `oldest` (after a restart or an outage)."""
    oldest = from_slack_ts(payload["oldest"])
    try:
        capture.backfill(services, services.background, payload["incident_id"], payload["channel_id"], oldest,
                         known_threads=bool(payload.get("threads")))
    except SlackApiError as exc:
        raise_for(exc, "backfill")
