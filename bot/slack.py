"""Slack Web API clients: a fast one for the acknowledgement path, a patient one for the background.

The fast client never sleeps on a 429 and gives up after about a second, because Slack wants the
command answered within 3 seconds. The background client (the outbox, reminders) retries rate limits
with Retry-After, 5xx answers and dropped connections, using slack-sdk's own retry handlers.
"""

from __future__ import annotations

import logging

from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

from bot.config import Settings

FAST_TIMEOUT_S = 1.2
BACKGROUND_TIMEOUT_S = 10


def fast_client(settings: Settings) -> WebClient:
    return WebClient(
        token=_token(settings),
        base_url=settings.slack_api_url,
        timeout=FAST_TIMEOUT_S,  # type: ignore[arg-type]  # urllib takes a float
        retry_handlers=[],
        logger=logging.getLogger("bot.slack.fast"),
    )


def background_client(settings: Settings) -> WebClient:
    return WebClient(
        token=_token(settings),
        base_url=settings.slack_api_url,
        timeout=BACKGROUND_TIMEOUT_S,
        retry_handlers=[
            ConnectionErrorRetryHandler(max_retry_count=2),
            RateLimitErrorRetryHandler(max_retry_count=3),
            ServerErrorRetryHandler(max_retry_count=2),
        ],
        logger=logging.getLogger("bot.slack.background"),
    )


def _token(settings: Settings) -> str | None:
    return settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None


# A person's DM channel with the bot never changes: remember it, and spare conversations.open
# (rate-limited at Tier 3, about 50 a minute) on every later sweep of this process.
_dm_channels: dict[tuple[str, str], str] = {}


def open_dm(client: WebClient, user_id: str) -> str:
    """The id of the bot's DM channel with a person (conversations.open, remembered)."""
    key = (client.base_url, user_id)
    channel = _dm_channels.get(key)
    if channel is None:
        channel = client.conversations_open(users=user_id)["channel"]["id"]
        if len(_dm_channels) > 50_000:
            _dm_channels.clear()
        _dm_channels[key] = channel
    return channel


def forget_dm(client: WebClient, user_id: str) -> None:
    """Forget a remembered DM channel (after a failed post, in case the channel is the problem)."""
    _dm_channels.pop((client.base_url, user_id), None)
