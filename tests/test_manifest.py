"""manifest.yml: valid for Slack, and it declares exactly what the code uses (docs/operating.md,
"The Slack app")."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from bot import app as bot_app
from tests.support import slack_requests as sr

REPO = Path(__file__).resolve().parents[1]
# Slack's own JSON schema for version-1 app manifests, kept in the repo (tests/fixtures/README.md).
SCHEMA = json.loads((REPO / "tests" / "fixtures" / "slack_manifest.schema.json").read_text())
MANIFEST = yaml.safe_load((REPO / "manifest.yml").read_text())

# Web API method (as slack-sdk names it) -> the bot scope it needs.
METHOD_SCOPES = {
    "chat_postMessage": "chat:write",
    "chat_update": "chat:write",
    "conversations_create": "channels:manage",
    "conversations_invite": "channels:manage",
    "conversations_join": "channels:join",
    "conversations_history": "channels:history",
    "conversations_replies": "channels:history",
    "conversations_open": "im:write",
    "users_info": "users:read",
    "files_upload_v2": "files:write",
    "views_open": None,  # interactivity, no scope
    "views_update": None,
    "views_push": None,
    "views_publish": None,  # the Home tab: no scope, only the bot user
    "auth_test": None,
    "apps_connections_open": None,  # Socket Mode: the app-level token's connections:write, no bot scope
    # the web view's visibility (bot/visibility.py): public channels need the first, private the second
    "conversations_list": ("channels:read", "groups:read"),
    "conversations_info": ("channels:read", "groups:read"),
    "users_conversations": ("channels:read", "groups:read"),
}
EVENT_SCOPES = {
    "message.channels": "channels:history",
    "message.groups": "groups:history",
    "reaction_added": "reactions:read",
    "reaction_removed": "reactions:read",
    "app_home_opened": None,  # no scope: it comes to every app with a bot user
}


# What the code reads from an answer that needs a scope of its own.
FIELD_SCOPES = {
    r'\.get\("email"\)': "users:read.email",  # users.info's profile.email: a Jira owner found by e-mail
}


def fields_read_by_the_code() -> set[str]:
    code = "\n".join(path.read_text() for path in (REPO / "bot").rglob("*.py"))
    return {scope for pattern, scope in FIELD_SCOPES.items() if re.search(pattern, code)}


def methods_called_by_the_code() -> set[str]:
    calls = set()
    for path in (REPO / "bot").rglob("*.py"):
        calls |= set(re.findall(r"\.((?:chat|conversations|users|files|views|auth|reactions|pins|apps)_\w+)\(",
                                path.read_text()))
    return calls


def test_manifest_matches_slacks_schema():
    jsonschema.validate(MANIFEST, SCHEMA)


@pytest.mark.parametrize("broken", [
    {"features": {"slash_commands": [{"command": "incident", "description": "no leading slash"}]}},
    {"settings": {"socket_mode_enabled": "yes"}},
    {"unknown_section": {}},
])
def test_the_schema_refuses_what_slack_would_refuse(broken):
    """The check above means something: a manifest Slack would reject fails it."""
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**MANIFEST, **broken}, SCHEMA)


def test_commands_are_exactly_the_ones_the_app_handles():
    commands = MANIFEST["features"]["slash_commands"]
    assert sorted(c["command"] for c in commands) == sorted(bot_app.COMMANDS)
    assert all(c["should_escape"] is True for c in commands)


def test_events_are_exactly_the_ones_the_app_handles():
    assert sorted(MANIFEST["settings"]["event_subscriptions"]["bot_events"]) == sorted(bot_app.BOT_EVENTS)


def test_scopes_are_exactly_the_ones_the_code_needs():
    called = methods_called_by_the_code()
    unknown = called - METHOD_SCOPES.keys()
    assert not unknown, f"add these Web API methods to METHOD_SCOPES: {unknown}"
    needed = {EVENT_SCOPES[e] for e in bot_app.BOT_EVENTS} | {"commands"}
    for method in called:
        scopes = METHOD_SCOPES[method]
        needed |= set(scopes) if isinstance(scopes, tuple) else {scopes}
    needed |= fields_read_by_the_code()
    needed.discard(None)
    assert sorted(MANIFEST["oauth_config"]["scopes"]["bot"]) == sorted(needed)


def test_the_home_tab_is_on_and_the_messages_tab_only_shows_the_bots_dms():
    """views.publish answers not_enabled unless the manifest turns the Home tab on; the bot reads no DMs."""
    assert MANIFEST["features"]["app_home"] == {"home_tab_enabled": True, "messages_tab_enabled": True,
                                                "messages_tab_read_only_enabled": True}


def test_socket_mode_is_the_default():
    assert MANIFEST["settings"]["socket_mode_enabled"] is True


@pytest.mark.parametrize("event_type", bot_app.BOT_EVENTS)
def test_every_subscribed_event_is_answered_200(bot, event_type):
    """An event no listener handles would be answered 404, and Slack would keep redelivering it."""
    if event_type == "app_home_opened":
        event = {"type": "app_home_opened", "user": "U0USER1", "channel": "D0DMBOT01", "tab": "home",
                 "event_ts": "1700001300.000400"}
    elif event_type.startswith("message."):
        event = sr.message("hello", channel="C0ANY", channel_type="group" if event_type.endswith("groups") else "channel")
    else:
        event = sr.reaction("pushpin", {"channel": "C0ANY", "ts": "1.000001", "user": "U1"},
                            removed=event_type == "reaction_removed")
    assert bot.event(event).status == 200


def test_sign_in_with_slack_is_declared():
    """The web view's sign-in (docs/web.md): the OpenID scopes as user scopes, and where Slack may
    send people back (the example origin; each installation adds its own WEB_BASE_URL's)."""
    from bot.web import oidc

    oauth = MANIFEST["oauth_config"]
    assert sorted(oauth["scopes"]["user"]) == sorted(oidc.SCOPES.split())
    assert all(url.endswith(oidc.CALLBACK_PATH) for url in oauth["redirect_urls"])
