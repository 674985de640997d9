"""What every slash command shares: the call, the reply, and the words they are made of."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bot import text as T

NO_INCIDENT = "No incident in this channel. Start one with `/incident start &lt;title&gt;`."
NOT_SAVED = (
    ":warning: Not saved: the database is not answering right now. Nothing was recorded; "
    "please try the same command again in a moment."
)
ECHO_LIMIT = 2500

_USER_TOKEN = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^<>]*)?>")


@dataclass(frozen=True)
class Call:
    """One slash command invocation, from Slack's form fields."""

    command: str
    user_id: str
    channel_id: str
    channel_name: str
    text: str
    response_url: str | None = None
    trigger_id: str | None = None
    team_domain: str | None = None

    @classmethod
    def from_payload(cls, payload: dict) -> Call:
        """Read a slash command's fields; one missing or not text reads as empty."""
        def field(name: str) -> str:
            value = payload.get(name)
            return value if isinstance(value, str) else ""

        return cls(
            command=field("command"),
            user_id=field("user_id"),
            channel_id=field("channel_id"),
            channel_name=field("channel_name"),
            text=T.storable(field("text")),
            response_url=field("response_url") or None,
            trigger_id=field("trigger_id") or None,
            team_domain=field("team_domain") or None,
        )

    @property
    def in_dm(self) -> bool:
        return self.channel_id.startswith("D") or self.channel_name == "directmessage"


@dataclass
class Reply:
    """What the command answers in its acknowledgement (ephemeral unless `public`)."""

    text: str
    blocks: list[dict] | None = None
    public: bool = False
    extra: dict = field(default_factory=dict)

    def body(self) -> dict:
        text = escape_placeholders(self.text)
        body = {"response_type": "in_channel" if self.public else "ephemeral", "text": text}
        if self.blocks:
            body["blocks"] = _escape_block_placeholders(self.blocks)
        body.update(self.extra)
        return body


# Usage lines write placeholders as `<title>`, but Slack reads every <...> in mrkdwn as a token (a
# link to "title"), code span or not. A real token starts with @, # or ! or has a scheme (`https:`,
# `mailto:`), so a <...> that starts with a letter and has no colon is always a placeholder.
_PLACEHOLDER = re.compile(r"<([A-Za-z][^<>:]*)>")


def escape_placeholders(text: str) -> str:
    """The bot's own `<placeholder>` words shown as text; real tokens are left alone."""
    return _PLACEHOLDER.sub(r"&lt;\1&gt;", text)


def _escape_block_placeholders(value):
    """The same for every mrkdwn text object inside Block Kit blocks."""
    if isinstance(value, list):
        return [_escape_block_placeholders(v) for v in value]
    if isinstance(value, dict):
        if value.get("type") == "mrkdwn" and isinstance(value.get("text"), str):
            return {**value, "text": escape_placeholders(value["text"])}
        return {k: _escape_block_placeholders(v) for k, v in value.items()}
    return value


def first_word(text: str) -> tuple[str, str]:
    """(`word`, `rest`) with the rest's own spacing kept."""
    stripped = text.strip()
    if not stripped:
        return "", ""
    parts = stripped.split(None, 1)
    return parts[0], parts[1] if len(parts) > 1 else ""


def echo(encoded: str, limit: int = ECHO_LIMIT) -> str:
    """User text as it may appear in a reply: no live mentions or links, bounded in length."""
    shown = T.plain(encoded)
    cut = T.escape_mrkdwn_cut(shown, limit)  # the limit counts escapes: `<` takes four characters
    if cut != T.escape_mrkdwn(shown):
        cut += f" (stored in full: {len(shown):,} characters)"
    return cut


def mentioned_users(encoded: str) -> list[str]:
    return _USER_TOKEN.findall(encoded)


def strip_mentions(encoded: str) -> str:
    return _USER_TOKEN.sub("", encoded)
