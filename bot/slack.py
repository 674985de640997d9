"""Slack Web API clients: a fast one for the acknowledgement path, a patient one for the background.

The fast client never sleeps on a 429 and gives up after about a second, because Slack wants the
command answered within 3 seconds. The background client (the outbox, reminders) retries rate limits
with Retry-After, 5xx answers and dropped connections, using slack-sdk's own retry handlers.
"""

from __future__ import annotations

import logging
import threading

from cachetools import LRUCache, cached
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
# (rate-limited at Tier 3, about 50 a minute) on every later sweep of this process. Past the limit,
# the channels not used for longest are forgotten.
_dm_channels: LRUCache[tuple[str, str], str] = LRUCache(maxsize=50_000)
_dm_lock = threading.Lock()  # cachetools' caches are not thread-safe


@cached(_dm_channels, key=lambda client, user_id: (client.base_url, user_id), lock=_dm_lock)
def open_dm(client: WebClient, user_id: str) -> str:
    """The id of the bot's DM channel with a person (conversations.open, remembered)."""
    return client.conversations_open(users=user_id)["channel"]["id"]


def forget_dm(client: WebClient, user_id: str) -> None:
    """Forget a remembered DM channel (after a failed post, in case the channel is the problem)."""
    with _dm_lock:
        _dm_channels.pop((client.base_url, user_id), None)
