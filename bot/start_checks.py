"""Checks at start-up that talk to Slack: each ends in an answer or in one line that says what to do.

Exit status 2 for a setting (a token Slack rejects), 1 for a failure (Slack not answering). The
slack-sdk logs every failed attempt and every retry itself; here the attempts are quiet and the
outcome is said once.
"""

from __future__ import annotations

import logging

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler

from bot.config import ConfigError, Settings

_QUIET = logging.getLogger("bot.start_checks.sdk")
_QUIET.setLevel(logging.CRITICAL + 1)  # prints nothing, whatever LOG_LEVEL says


class StartFailure(SystemExit):
    """Start-up failed for a reason outside the settings: one line on stderr, exit status 1."""

    def __init__(self, message: str):
        super().__init__(f"incident-bot: {message}")


def quiet_client(settings: Settings, token: str | None) -> WebClient:
    """A Web API client for start-up checks: retries a dropped connection twice, logs nothing."""
    return WebClient(token=token, base_url=settings.slack_api_url, timeout=10, logger=_QUIET,
                     retry_handlers=[ConnectionErrorRetryHandler(max_retry_count=2)])


def check_bot_token(settings: Settings) -> dict:
    """auth.test with the bot token: Slack's answer (who the bot is, in which workspace)."""
    client = quiet_client(settings, settings.slack_bot_token.get_secret_value())
    try:
        return client.auth_test().data
    except SlackApiError as exc:
        error = (exc.response or {}).get("error")
        raise ConfigError(f"SLACK_BOT_TOKEN was rejected by Slack ({error}): copy the bot token again") from None
    except (SlackClientError, OSError) as exc:
        raise not_answering(settings, exc) from None


def not_answering(settings: Settings, exc: BaseException) -> StartFailure:
    return StartFailure(f"Slack at {settings.slack_api_url} did not answer ({reason(exc)}): "
                        "check the network or SLACK_API_URL, then start again")


def reason(exc: BaseException) -> str:
    """The useful part of a connection error (`[Errno 111] Connection refused`, not the wrapper)."""
    inner = getattr(exc, "reason", None) or exc
    return str(inner).strip() or type(exc).__name__
