"""How a job's Slack error is judged: a few errors no retry will fix, the rest are retried."""

from __future__ import annotations

from slack_sdk.errors import SlackApiError

from bot.outbox import PermanentFailure

# Slack errors that no retry will fix.
PERMANENT_ERRORS = {
    "channel_not_found", "is_archived", "invalid_auth", "account_inactive", "token_revoked",
    "not_authed", "missing_scope", "user_not_found", "cant_update_message", "message_not_found",
    "msg_too_long", "invalid_blocks", "no_text", "restricted_action",
}


def slack_error(exc: SlackApiError) -> str:
    return str((exc.response or {}).get("error") or exc)


def raise_for(exc: SlackApiError, what: str):
    """Re-raise a Slack error as the outbox understands it: given up at once, or retried later."""
    error = slack_error(exc)
    if error in PERMANENT_ERRORS:
        raise PermanentFailure(f"{what}: {error}") from exc
    raise RuntimeError(f"{what}: {error}") from exc
