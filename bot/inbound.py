"""What Slack sends the app, read once at the listener into small frozen values (pure).

Each reader takes only the fields it needs and checks their types; a payload that lacks one, or has
one of the wrong shape, reads as None (or as a change to ignore), never as an exception. So a
listener never answers Slack 500 for a payload it cannot use: Slack would only send it again.
Unknown fields are ignored (Slack adds fields over time). Text stays in Slack's encoding for
messages and exactly as typed for modal input (bot/text.py); NUL becomes U+FFFD (`T.storable`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bot import text as T
from storage.messages import Message

# Slack ids are upper-case letters and digits (U0USER1, C0INC01, W0ENT…).
_SLACK_ID = re.compile(r"[A-Z0-9]{1,64}")
# A message `ts`: seconds (up to year 2286) and a fraction; anything else names no message.
_SLACK_TS = re.compile(r"\d{1,10}\.\d{1,6}")
MAX_NUMBER = 2**31 - 1  # the largest id the database holds: a bigger one is no row, never an error

CAPTURED_SUBTYPES = {None, "thread_broadcast", "file_share", "me_message"}


def _dict(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _slack_id(value: Any) -> str | None:
    return value if isinstance(value, str) and _SLACK_ID.fullmatch(value) else None


def _slack_ts(value: Any) -> str | None:
    return value if isinstance(value, str) and _SLACK_TS.fullmatch(value) else None


def number_in(value: Any) -> int | None:
    """A positive database id written as digits (`"12"`), or None."""
    if not isinstance(value, str) or not value.isascii() or not value.isdigit() or len(value) > 10:
        return None
    number = int(value)
    return number if 0 < number <= MAX_NUMBER else None


# ---------------------------------------------------------------------------------------------
# interactivity: button presses and modal submissions


@dataclass(frozen=True)
class ButtonPress:
    """A press on one of the bot's buttons (a `block_actions` payload, its first action)."""

    action_id: str
    user_id: str
    value: str = ""
    block_id: str = ""
    trigger_id: str | None = None
    response_url: str | None = None
    channel_id: str | None = None  # where the message with the button is
    message_ts: str | None = None
    ephemeral: bool = False
    message_text: str | None = None
    message_blocks: tuple[Mapping[str, Any], ...] = ()

    @classmethod
    def from_payload(cls, body: Any) -> ButtonPress | None:
        """None when the payload names no person or no action."""
        body = _dict(body)
        actions = body.get("actions")
        action = _dict(actions[0]) if isinstance(actions, list) and actions else {}
        action_id, user_id = _text(action.get("action_id")), _slack_id(_dict(body.get("user")).get("id"))
        if action_id is None or user_id is None:
            return None
        container, message = _dict(body.get("container")), _dict(body.get("message"))
        channel = _slack_id(container.get("channel_id")) or _slack_id(_dict(body.get("channel")).get("id"))
        blocks = message.get("blocks") if isinstance(message.get("blocks"), list) else []
        return cls(
            action_id=action_id,
            user_id=user_id,
            value=action.get("value") if isinstance(action.get("value"), str) else "",
            block_id=action.get("block_id") if isinstance(action.get("block_id"), str) else "",
            trigger_id=_text(body.get("trigger_id")),
            response_url=_text(body.get("response_url")),
            channel_id=channel,
            message_ts=_slack_ts(container.get("message_ts")) or _slack_ts(message.get("ts")),
            ephemeral=container.get("is_ephemeral") is True,
            message_text=_text(message.get("text")),
            message_blocks=tuple(b for b in blocks if isinstance(b, Mapping)),
        )

    @property
    def number(self) -> int | None:
        """The button's value as the id it carries (an incident's or an action item's), if it is one."""
        return number_in(self.value)


@dataclass(frozen=True)
class ViewSubmission:
    """A submitted modal: who sent it and what its inputs hold (each input's element has action_id
    `value`, as bot/views.py builds them)."""

    callback_id: str
    view_id: str
    user_id: str
    private_metadata: str = ""
    inputs: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @classmethod
    def from_payload(cls, body: Any) -> ViewSubmission | None:
        """None when the payload names no person or no view."""
        body = _dict(body)
        view = _dict(body.get("view"))
        user_id, view_id = _slack_id(_dict(body.get("user")).get("id")), _slack_id(view.get("id"))
        if user_id is None or view_id is None:
            return None
        values = _dict(_dict(view.get("state")).get("values"))
        inputs = {block_id: _dict(_dict(elements).get("value")) for block_id, elements in values.items()}
        metadata = view.get("private_metadata")
        return cls(callback_id=_text(view.get("callback_id")) or "", view_id=view_id, user_id=user_id,
                   private_metadata=metadata if isinstance(metadata, str) else "", inputs=inputs)

    @property
    def number(self) -> int | None:
        """The incident the modal is about (its number is the private_metadata)."""
        return number_in(self.private_metadata.strip())

    def text(self, block_id: str) -> str:
        """What was typed into a plain-text input, trimmed ("" when empty or not text)."""
        value = self.inputs.get(block_id, {}).get("value")
        return T.storable(value).strip() if isinstance(value, str) else ""

    def selected_user(self, block_id: str) -> str | None:
        """What a users_select holds (None when empty), as text: the caller checks it is a user id."""
        return self._selected(block_id, "selected_user")

    def selected_date(self, block_id: str) -> str | None:
        """What a datepicker holds (None when empty), as text: the caller reads it as a date."""
        return self._selected(block_id, "selected_date")

    def _selected(self, block_id: str, key: str) -> str | None:
        value = self.inputs.get(block_id, {}).get(key)
        return str(value) if value else None

    def selected_option(self, block_id: str) -> str | None:
        """The value of a static_select's chosen option (None when none), as text."""
        option = _dict(self.inputs.get(block_id, {}).get("selected_option"))
        return _text(option.get("value"))

    def checked(self, block_id: str) -> set[str] | None:
        """The values of a checkboxes element's ticked options; None when the modal had no such input."""
        if block_id not in self.inputs:
            return None
        options = self.inputs[block_id].get("selected_options")
        return {o["value"] for o in options if isinstance(o, Mapping) and isinstance(o.get("value"), str)} \
            if isinstance(options, list) else set()


@dataclass(frozen=True)
class MessageShortcut:
    """A message shortcut (`message_action` payload): who pressed it on which message."""

    callback_id: str
    user_id: str
    channel_id: str
    message_ts: str
    trigger_id: str | None = None
    response_url: str | None = None
    author_id: str | None = None  # None for a bot's message
    text: str = ""  # in Slack's encoding
    thread_ts: str | None = None
    team_domain: str | None = None

    @classmethod
    def from_payload(cls, body: Any) -> MessageShortcut | None:
        """None when the payload names no person, channel or message."""
        body = _dict(body)
        message = _dict(body.get("message"))
        user_id = _slack_id(_dict(body.get("user")).get("id"))
        channel_id = _slack_id(_dict(body.get("channel")).get("id"))
        ts = _slack_ts(body.get("message_ts")) or _slack_ts(message.get("ts"))
        if user_id is None or channel_id is None or ts is None:
            return None
        text = message_text(message)
        return cls(callback_id=_text(body.get("callback_id")) or "", user_id=user_id, channel_id=channel_id,
                   message_ts=ts, trigger_id=_text(body.get("trigger_id")),
                   response_url=_text(body.get("response_url")),
                   author_id=None if is_from_bot(message) else _slack_id(message.get("user")),
                   text=T.storable(text),
                   thread_ts=_slack_ts(message.get("thread_ts")),
                   team_domain=_text(_dict(body.get("team")).get("domain")))


MESSAGE_TEXT_LIMIT = 40_000  # Slack's own limit for a message's text


def message_text(message: Mapping[str, Any]) -> str:
    """A message's text in Slack's encoding. Alerting bots (PagerDuty, Datadog, Grafana) post with an
    empty `text` and say everything in `attachments` (title, text, else fallback) or `blocks` (section,
    header and context text): their text is taken from there, one part a line."""
    text = message.get("text")
    if isinstance(text, str) and text.strip():
        return text
    parts: list[str] = []

    def add(value: Any) -> None:
        if isinstance(value, str) and value.strip() and value.strip() not in parts:
            parts.append(value.strip())

    def add_text_object(value: Any) -> None:
        add(_dict(value).get("text"))

    blocks = message.get("blocks")
    for block in blocks if isinstance(blocks, list) else []:
        block = _dict(block)
        if block.get("type") in ("section", "header"):
            add_text_object(block.get("text"))
            fields = block.get("fields")
            for item in fields if isinstance(fields, list) else []:
                add_text_object(item)
        elif block.get("type") == "context":
            elements = block.get("elements")
            for item in elements if isinstance(elements, list) else []:
                if _dict(item).get("type") in ("mrkdwn", "plain_text"):
                    add_text_object(item)
    attachments = message.get("attachments")
    for attachment in attachments if isinstance(attachments, list) else []:
        attachment = _dict(attachment)
        before = len(parts)
        add(attachment.get("pretext"))
        add(attachment.get("title"))
        add(attachment.get("text"))
        if len(parts) == before:
            add(attachment.get("fallback"))
    return "\n".join(parts)[:MESSAGE_TEXT_LIMIT]


@dataclass(frozen=True)
class HomeOpened:
    """Someone opened the bot's Home tab (`app_home_opened` with `tab: home`)."""

    user_id: str

    @classmethod
    def from_payload(cls, body: Any) -> HomeOpened | None:
        """None for the Messages tab, or an event that names no person."""
        event = _dict(_dict(body).get("event"))
        user_id = _slack_id(event.get("user"))
        if event.get("type") != "app_home_opened" or event.get("tab") != "home" or user_id is None:
            return None
        return cls(user_id)


# ---------------------------------------------------------------------------------------------
# events: channel messages and reactions


def is_from_bot(message: Mapping[str, Any]) -> bool:
    return bool(message.get("bot_id")) or message.get("subtype") == "bot_message"


def _subtype(message: Mapping[str, Any]) -> str | None:
    """The message's subtype (None for a plain message); one that is not text reads as unknown."""
    subtype = message.get("subtype")
    return subtype if subtype is None or isinstance(subtype, str) else "?"


def message_of(raw: Any, channel_id: str) -> Message | None:
    """A person's message worth capturing (from an event or from channel history), or None: bots,
    joins, topic changes, and anything without an author, a `ts` or text of the right shape."""
    raw = _dict(raw)
    if is_from_bot(raw) or _subtype(raw) not in CAPTURED_SUBTYPES:
        return None
    ts, author = _slack_ts(raw.get("ts")), _slack_id(raw.get("user"))
    text = raw.get("text") if raw.get("text") is not None else ""
    if ts is None or author is None or not isinstance(text, str):
        return None
    files = raw.get("files") if isinstance(raw.get("files"), list) else []
    thread_ts = _slack_ts(raw.get("thread_ts"))
    return Message(
        channel_id=channel_id,
        ts=ts,
        author_id=author,
        text=T.storable(text),
        thread_ts=thread_ts if thread_ts != ts else None,
        files=[_file(f) for f in files if isinstance(f, Mapping)] or None,
        edited_ts=_slack_ts(_dict(raw.get("edited")).get("ts")),
    )


def _file(file: Mapping[str, Any]) -> dict:
    name = _text(file.get("name")) or _text(file.get("title")) or "file"
    return {"name": T.storable(name), "permalink": _text(file.get("permalink")) or ""}


@dataclass(frozen=True)
class MessageEvent:
    """What a `message` event asks of an incident's timeline."""

    action: str  # "new", "edit", "delete", or "ignore"
    channel_id: str = ""
    event_id: str | None = None
    message: Message | None = None  # the message as it is now ("new", "edit")
    ts: str | None = None  # the message deleted ("delete")

    @classmethod
    def from_payload(cls, body: Any) -> MessageEvent:
        """Read an Events API envelope around a `message` event."""
        body = _dict(body)
        event = _dict(body.get("event"))
        channel_id, event_id = _slack_id(event.get("channel")), _text(body.get("event_id"))
        if channel_id is None:
            return cls("ignore")
        action, message, ts = _message_change(event, channel_id)
        return cls(action, channel_id, event_id, message, ts)


def _message_change(event: Mapping[str, Any], channel_id: str) -> tuple[str, Message | None, str | None]:
    subtype = event.get("subtype")
    if subtype == "message_changed":
        inner = _dict(event.get("message"))
        if inner.get("subtype") == "tombstone":  # a thread parent deleted while it has replies
            ts = _slack_ts(inner.get("ts"))
            return ("delete", None, ts) if ts else ("ignore", None, None)
        if "edited" not in inner or is_from_bot(inner):  # unfurls change nothing; bots are not captured
            return "ignore", None, None
        inner = {**inner, "subtype": None if _subtype(inner) in CAPTURED_SUBTYPES else _subtype(inner)}
        message = message_of(inner, channel_id)
        return ("edit", message, None) if message and message.edited_ts else ("ignore", None, None)
    if subtype == "message_deleted":
        previous = _dict(event.get("previous_message"))
        ts = _slack_ts(event.get("deleted_ts")) or _slack_ts(previous.get("ts"))
        if is_from_bot(previous) or ts is None:
            return "ignore", None, None
        return "delete", None, ts
    message = message_of(event, channel_id)
    return ("new", message, None) if message else ("ignore", None, None)


@dataclass(frozen=True)
class ReactionEvent:
    """A person adding (`present`) or removing an emoji reaction on a channel message."""

    channel_id: str
    ts: str
    user_id: str
    emoji: str
    present: bool
    event_ts: str  # Slack's time of the change: a later one wins over an earlier one
    event_id: str | None = None

    @classmethod
    def from_payload(cls, body: Any) -> ReactionEvent | None:
        """Read a `reaction_added` / `reaction_removed` envelope; None when it is not about a message
        or lacks what names the message, the person or the emoji."""
        body = _dict(body)
        event = _dict(body.get("event"))
        item = _dict(event.get("item"))
        channel_id, ts = _slack_id(item.get("channel")), _slack_ts(item.get("ts"))
        user_id, emoji = _slack_id(event.get("user")), _text(event.get("reaction"))
        kind = event.get("type")
        if item.get("type") != "message" or kind not in ("reaction_added", "reaction_removed"):
            return None
        if channel_id is None or ts is None or user_id is None or emoji is None:
            return None
        return cls(channel_id, ts, user_id, emoji, present=kind == "reaction_added",
                   event_ts=_slack_ts(event.get("event_ts")) or ts, event_id=_text(body.get("event_id")))
