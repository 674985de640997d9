"""Requests shaped like Slack's: signed slash commands, Events API envelopes, interactivity payloads.

Field names follow ../shared/slack/payloads/. Signatures come from slack-sdk's SignatureVerifier.
"""

from __future__ import annotations

import itertools
import json
import time
import uuid
from urllib.parse import urlencode

from slack_sdk.signature import SignatureVerifier

TEAM_ID = "T0001"
APP_ID = "A0001"
SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"

_event_ids = itertools.count(1)
_ts = itertools.count(1)


def signed_headers(body: str, secret: str = SIGNING_SECRET, *, timestamp: int | None = None,
                   content_type: str = "application/x-www-form-urlencoded", retry_num: int | None = None,
                   retry_reason: str = "http_timeout") -> dict[str, str]:
    timestamp = int(time.time()) if timestamp is None else timestamp
    signature = SignatureVerifier(secret).generate_signature(timestamp=str(timestamp), body=body)
    headers = {
        "content-type": content_type,
        "x-slack-request-timestamp": str(timestamp),
        "x-slack-signature": signature,
    }
    if retry_num is not None:
        headers["x-slack-retry-num"] = str(retry_num)
        headers["x-slack-retry-reason"] = retry_reason
    return headers


def slash_command_fields(text: str, *, command: str = "/incident", user_id: str = "U0USER1",
                         user_name: str = "alice", channel_id: str = "C0INC01",
                         channel_name: str = "incidents", response_url: str = "https://hooks.slack.com/commands/T0001/1/x",
                         trigger_id: str | None = None) -> dict[str, str]:
    return {
        "token": "gIkuvaNzQIHg97ATvDxqgjtO",
        "team_id": TEAM_ID,
        "team_domain": "acme",
        "channel_id": channel_id,
        "channel_name": channel_name,
        "user_id": user_id,
        "user_name": user_name,
        "command": command,
        "text": text,
        "api_app_id": APP_ID,
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": trigger_id or f"{uuid.uuid4().int % 10**11}.738474920.{uuid.uuid4().hex[:32]}",
    }


def slash_command(text: str, **kwargs) -> tuple[str, dict[str, str]]:
    """(form body, signed headers) of a slash command."""
    secret = kwargs.pop("secret", SIGNING_SECRET)
    timestamp = kwargs.pop("timestamp", None)
    body = urlencode(slash_command_fields(text, **kwargs))
    return body, signed_headers(body, secret, timestamp=timestamp)


def next_event_id() -> str:
    return f"Ev{next(_event_ids):010d}{uuid.uuid4().hex[:4].upper()}"


def next_ts(base: float | None = None) -> str:
    base = time.time() if base is None else base
    return f"{int(base)}.{next(_ts) % 1_000_000:06d}"


def envelope(event: dict, *, event_id: str | None = None, event_time: int | None = None) -> dict:
    return {
        "token": "XXYYZZ",
        "team_id": TEAM_ID,
        "context_team_id": TEAM_ID,
        "context_enterprise_id": None,
        "api_app_id": APP_ID,
        "event": event,
        "type": "event_callback",
        "event_id": event_id or next_event_id(),
        "event_time": event_time or int(time.time()),
        "authorizations": [{"enterprise_id": None, "team_id": TEAM_ID, "user_id": "UBOT0001",
                            "is_bot": True, "is_enterprise_install": False}],
        "is_ext_shared_channel": False,
    }


def event_request(event: dict, *, event_id: str | None = None, retry_num: int | None = None,
                  secret: str = SIGNING_SECRET, timestamp: int | None = None) -> tuple[str, dict[str, str]]:
    body = json.dumps(envelope(event, event_id=event_id))
    return body, signed_headers(body, secret, timestamp=timestamp, content_type="application/json",
                                retry_num=retry_num)


def message(text: str, *, user: str = "U0USER1", channel: str = "C0INC01", ts: str | None = None,
            thread_ts: str | None = None, **extra) -> dict:
    ts = ts or next_ts()
    event = {"type": "message", "client_msg_id": str(uuid.uuid4()), "text": text, "user": user, "ts": ts,
             "team": TEAM_ID, "channel": channel, "event_ts": ts, "channel_type": "channel"}
    if thread_ts:
        event["thread_ts"] = thread_ts
        event["parent_user_id"] = "U0USER1"
    event.update(extra)
    return event


def message_changed(original: dict, new_text: str, *, edited_ts: str | None = None, unfurl: bool = False) -> dict:
    edited_ts = edited_ts or next_ts()
    inner = {k: v for k, v in original.items() if k not in ("channel", "event_ts", "channel_type")}
    inner["text"] = new_text
    if not unfurl:
        inner["edited"] = {"user": original.get("user"), "ts": edited_ts}
    else:
        inner["attachments"] = [{"from_url": "https://example.com", "title": "Example"}]
    return {"type": "message", "subtype": "message_changed", "hidden": True, "channel": original["channel"],
            "ts": edited_ts, "event_ts": edited_ts, "channel_type": "channel", "message": inner,
            "previous_message": {k: v for k, v in original.items() if k not in ("channel", "event_ts", "channel_type")}}


def message_deleted(original: dict, *, ts: str | None = None) -> dict:
    ts = ts or next_ts()
    return {"type": "message", "subtype": "message_deleted", "hidden": True, "channel": original["channel"],
            "ts": ts, "deleted_ts": original["ts"], "event_ts": ts, "channel_type": "channel",
            "previous_message": {k: v for k, v in original.items() if k not in ("channel", "event_ts", "channel_type")}}


def reaction(name: str, item: dict, *, user: str = "U0USER2", removed: bool = False, event_ts: str | None = None) -> dict:
    return {"type": "reaction_removed" if removed else "reaction_added", "user": user, "reaction": name,
            "item_user": item.get("user"), "item": {"type": "message", "channel": item["channel"], "ts": item["ts"]},
            "event_ts": event_ts or next_ts()}


def interactivity_request(payload: dict, *, secret: str = SIGNING_SECRET) -> tuple[str, dict[str, str]]:
    body = urlencode({"payload": json.dumps(payload)})
    return body, signed_headers(body, secret)


def block_actions(action_id: str, value: str, *, user_id: str = "U0USER2", channel_id: str | None = "C0INC01",
                  message_ts: str = "1700000700.001000", response_url: str = "https://hooks.slack.com/actions/T0001/1/x",
                  block_id: str = "actions", container_type: str = "message") -> dict:
    payload = {
        "type": "block_actions",
        "user": {"id": user_id, "username": user_id.lower(), "name": user_id.lower(), "team_id": TEAM_ID},
        "api_app_id": APP_ID,
        "token": "XXYYZZ",
        "container": {"type": container_type, "message_ts": message_ts, "channel_id": channel_id, "is_ephemeral": False},
        "trigger_id": f"{uuid.uuid4().int % 10**11}.738474920.{uuid.uuid4().hex[:32]}",
        "team": {"id": TEAM_ID, "domain": "acme"},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel_id, "name": "incidents"} if channel_id else None,
        "message": {"type": "message", "subtype": "bot_message", "text": "", "ts": message_ts, "bot_id": "B0BOT01"},
        "state": {"values": {}},
        "response_url": response_url,
        "actions": [{"action_id": action_id, "block_id": block_id, "text": {"type": "plain_text", "text": "x"},
                     "value": value, "type": "button", "action_ts": next_ts()}],
    }
    if channel_id is None:
        payload.pop("channel")
    return payload


def view_state(**fields) -> dict:
    """view.state.values for the bot's modals, where each input block has one element, action_id `value`:
    `owner` is a users_select, `due` a datepicker, anything else a plain_text_input."""
    values = {}
    for block, value in fields.items():
        if block == "owner":
            values[block] = {"value": {"type": "users_select", "selected_user": value}}
        elif block == "due":
            values[block] = {"value": {"type": "datepicker", "selected_date": value}}
        else:
            values[block] = {"value": {"type": "plain_text_input", "value": value}}
    return values


def view_submission(callback_id: str, values: dict, *, user_id: str = "U0USER1", private_metadata: str = "",
                    blocks: list | None = None, view_id: str = "V0VIEW01") -> dict:
    """`values` is view.state.values: {block_id: {action_id: {type, value | selected_…}}}."""
    return {
        "type": "view_submission",
        "team": {"id": TEAM_ID, "domain": "acme"},
        "user": {"id": user_id, "username": user_id.lower(), "name": user_id.lower(), "team_id": TEAM_ID},
        "api_app_id": APP_ID,
        "token": "XXYYZZ",
        "trigger_id": f"{uuid.uuid4().int % 10**11}.738474920.{uuid.uuid4().hex[:32]}",
        "enterprise": None,
        "is_enterprise_install": False,
        "view": {
            "id": view_id, "team_id": TEAM_ID, "type": "modal", "callback_id": callback_id,
            "private_metadata": private_metadata, "title": {"type": "plain_text", "text": "Modal"},
            "blocks": blocks or [], "state": {"values": values}, "hash": "1700000800.AbCdEfGh",
            "clear_on_close": False, "notify_on_close": False, "previous_view_id": None,
            "root_view_id": view_id, "app_id": APP_ID, "external_id": "", "app_installed_team_id": TEAM_ID,
            "bot_id": "B0BOT01",
        },
        "response_urls": [],
    }


def app_home_opened(user_id: str = "U0USER1", *, tab: str = "home") -> dict:
    """The `app_home_opened` event (tests/fixtures/payloads/app_home_opened.json, without the `view`
    Slack adds only once a Home view was published)."""
    return {"type": "app_home_opened", "user": user_id, "channel": "D0DMBOT01", "tab": tab, "event_ts": next_ts()}


def home_block_actions(action_id: str, value: str, *, user_id: str = "U0USER1", block_id: str = "actions") -> dict:
    """A button press in the Home tab: the container is the view; no message, channel or response_url."""
    payload = block_actions(action_id, value, user_id=user_id, channel_id=None, block_id=block_id)
    for key in ("message", "response_url"):
        payload.pop(key)
    payload["container"] = {"type": "view", "view_id": "V0HOME01"}
    payload["view"] = {"id": "V0HOME01", "team_id": TEAM_ID, "type": "home", "callback_id": "incident_home",
                       "private_metadata": "", "blocks": [], "state": {"values": {}}, "hash": "1700001200.AbCdEfGh",
                       "root_view_id": "V0HOME01", "app_id": APP_ID, "bot_id": "B0BOT01"}
    return payload
