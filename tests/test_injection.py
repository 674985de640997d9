"""No injection: user text with Slack tokens, HTML and Markdown is shown literally and pings nobody,
wherever the bot echoes it (docs/commands.md).

Slack-side input arrives encoded (slash commands and message events: `&lt;` for a typed `<`, real
mentions and links as tokens); modal input arrives raw. Every Slack message the bot sends or
answers with is scanned: outside `plain_text` objects (which Slack never parses) each `<...>` must
be one the bot means (the people it knows, `<!date^…>`, its own channel links), and none of the
hostile tokens from the input may appear live.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from tests.bot.commands.test_incident import open_incident
from tests.bot.commands.test_postmortem import dms, settle, uploaded_markdown
from tests.support import slack_requests as sr
from tests.support.process import REPO

ALICE, BOB = "U0USER1", "U0BOB"

# As Slack delivers what a user typed in a slash command or a message.
ENCODED = ("ping <!channel> <!here> <!everyone> <!subteam^S123|@oncall> <@U0ALICE|alice> <#C0GENERAL|general> "
           "<https://evil.example|click> a &lt;b&gt; c &amp; d x|y *bold* _it_ `code` # [x](y) "
           "&lt;script&gt;alert(1)&lt;/script&gt;")
# As typed into a modal (Slack passes it on raw).
RAW = ("ping <!channel> <!here> <!everyone> <!subteam^S123|@oncall> <@U0ALICE> <#C0GENERAL|general> "
       "<https://evil.example|click> a <b> c & d x|y *bold* _it_ `code` # [x](y) <script>alert(1)</script>")

HOSTILE = ("<!channel>", "<!here>", "<!everyone>", "<!subteam^", "<@U0ALICE", "<#C0GENERAL", "<https://evil",
           "<b>", "<script>")
# The tokens the bot itself writes: people it knows by id, dates, its own channels and permalinks.
ALLOWED = re.compile(r"<(?:@(?:U0USER1|U0BOB|U0CAROL)|!date\^-?\d+\^[^|<>]*\|[^<>]*|#C0\w+|https://acme\.slack\.com/[^|<>]*)>")
TOKEN = re.compile(r"<[^<>]*>")


def live_tokens(message) -> list[str]:
    """Every `<...>` a Slack client would act on in `message` (any JSON: a reply, a call's params, a
    view) that the bot did not mean: mrkdwn strings and top-level `text`, not plain_text objects."""
    found: list[str] = []

    def walk(node, plain: bool = False) -> None:
        if isinstance(node, dict):
            is_plain = node.get("type") == "plain_text"
            for key, value in node.items():
                if key in ("blocks", "view", "attachments") and isinstance(value, str) and value[:1] in "[{":
                    value = json.loads(value)
                if key in ("channel", "ts", "users", "trigger_id", "response_url", "action_id", "value",
                           "block_id", "callback_id", "private_metadata", "initial_value"):
                    continue  # identifiers and input values, not text Slack renders
                walk(value, is_plain)
        elif isinstance(node, list):
            for value in node:
                walk(value, plain)
        elif isinstance(node, str) and not plain:
            found.extend(t for t in TOKEN.findall(node) if not ALLOWED.fullmatch(t))

    walk(message)
    return found


def assert_harmless(message, where: str) -> None:
    live = live_tokens(message)
    assert not live, f"{where}: live tokens {live} in {json.dumps(message)[:1500]}"


def sent_by_bot(standin) -> list:
    return [c.params for c in standin.calls if c.method in ("chat.postMessage", "chat.update", "views.open",
                                                           "views.update", "views.push")]


def test_the_scanner_finds_what_it_must():
    """The helper itself: live hostile tokens are found, escaped text and the bot's own are not."""
    assert live_tokens({"text": "hi <!channel>"}) == ["<!channel>"]
    assert live_tokens({"blocks": json.dumps([{"type": "section", "text": {"type": "mrkdwn", "text": "<@U0ALICE>"}}])})
    assert live_tokens({"text": "&lt;!channel&gt; <@U0USER1> <!date^1700000000^{time}|10:00>"}) == []
    assert live_tokens({"type": "plain_text", "text": "<!channel>"}) == []


# --- command replies --------------------------------------------------------------------------


@pytest.fixture
def channel(bot):
    bot.standin.add_user(ALICE, name="alice")
    bot.standin.add_user(BOB, name="bob")
    return open_incident(bot, "Checkout errors sev2")


@pytest.mark.parametrize("text", [
    f"log {ENCODED}",
    f"log 14:05 {ENCODED}",
    f"mitigated {ENCODED}",
    f"summary {ENCODED}",
    f"impact {ENCODED}",
    f"role comms <@U0BOB|bob> {ENCODED}",
    f"role {ENCODED}",
    f"severity {ENCODED}",
    f"timezone {ENCODED}",
    "timezone Europe/<!here>",
    "log 2026-11-22<!channel> deploy",
    "log 2026-11-22<@U0ALICE|alice> deploy",
    "log 12:00 Europe/<https://evil.example|click> deploy",
    "<!channel>",
    ENCODED,
    f"start {ENCODED}",
])
def test_incident_replies_show_user_text_literally(bot, channel, text):
    reply = bot.command(text, channel_id=channel)
    assert_harmless(reply, f"/incident {text[:30]}")


@pytest.mark.parametrize("text", [f"draft {ENCODED}", "draft <!channel>", "draft <https://evil.example|click>",
                                  ENCODED, "<!here>", f"prompt {ENCODED}", f"templates {ENCODED}"])
def test_postmortem_replies_show_user_text_literally(bot, channel, text):
    reply = bot.command(text, command="/postmortem", channel_id=channel)
    assert_harmless(reply, f"/postmortem {text[:30]}")


def test_echoes_are_readable_not_swallowed(bot, channel):
    """Literal, not stripped: the reader sees what was typed, as text."""
    reply = bot.text(f"log {ENCODED}", channel_id=channel)
    for shown in ("@channel", "@here", "@everyone", "@oncall", "@alice", "#general", "click (https://evil.example)",
                  "&lt;b&gt;", "&amp; d", "x|y", "&lt;script&gt;"):
        assert shown in reply, (shown, reply)


# --- what the bot posts: header, announcements, prompts, draft -----------------------------------


def test_header_announcements_prompts_and_draft_ping_nobody(bot, standin):
    standin.add_user(ALICE, name="alice")
    bot.command(f"start {ENCODED} sev2")
    bot.drain()
    channel = [c for c in standin.channels.values() if c.name.startswith("inc-")][-1].id
    for text in (f"summary {ENCODED}", f"impact {ENCODED}", "role comms <@U0BOB|bob>",
                 f"started 2026-11-01 10:00 UTC {ENCODED}", f"mitigated {ENCODED}", f"log {ENCODED}"):
        assert_harmless(bot.command(text, channel_id=channel), text[:20])
    assert bot.event(sr.message(ENCODED, user=BOB, channel=channel)).status == 200
    bot.command(f"resolved {ENCODED}", channel_id=channel)
    settle(bot)

    updates = standin.calls_to("chat.update")
    assert updates, "the header was updated"
    header = updates[-1].params
    assert "click (https://evil.example)" in json.dumps(header), "summary shown, its link as label (url)"
    assert dms(standin), "prompt DMs were sent"
    posted = sent_by_bot(standin)
    assert any("is resolved" in json.dumps(p) for p in posted if not str(p.get("channel")).startswith("D"))
    for params in posted:
        assert_harmless(params, f"chat call to {params.get('channel')}")

    bot.command("draft", command="/postmortem", channel_id=channel)
    standin.reset()
    settle(bot)
    markdown = uploaded_markdown(standin)
    for raw in (*HOSTILE, "[x](y)", "x|y", "*bold*", "_it_", "`code`"):
        assert raw not in markdown.replace("<br>", ""), f"{raw!r} unescaped in the draft"
    assert "click (https\\://evil.example)" in markdown and "&lt;script>" in markdown
    [summary] = [c.params for c in standin.calls_to("chat.postMessage") if "postmortem draft" in json.dumps(c.params)]
    assert_harmless(summary, "draft summary")


def test_modal_text_is_stored_encoded_and_echoed_literally(bot, channel, standin):
    from tests.bot.commands.test_postmortem import submit

    reply = submit(bot, "postmortem_action", 1, ALICE, view_id="V0INJ1", text=RAW, owner=BOB, due=None)
    assert reply["response_action"] == "update"
    assert_harmless(reply, "action item confirmation")
    assert "&lt;!channel&gt;" in json.dumps(reply["view"]), "shown as typed"
    assert submit(bot, "postmortem_root_cause", 1, BOB, root_cause=RAW, contributing_factors=RAW) == {}
    assert submit(bot, "postmortem_went", 1, BOB, went_well=RAW, went_wrong=RAW) == {}

    bot.command("draft", command="/postmortem", channel_id=channel)
    settle(bot)
    markdown = uploaded_markdown(standin)
    assert markdown.count("&lt;script>alert(1)&lt;/script>") >= 5, "action + four answers, escaped"
    for raw in (*HOSTILE, "[x](y)", "x|y"):
        assert raw not in markdown, f"{raw!r} unescaped in the draft"
    for params in sent_by_bot(standin):
        assert_harmless(params, "after the modals")


# --- the command line ------------------------------------------------------------------------------


def test_timeline_output_shows_text_literally_and_cannot_forge_rows(bot, channel):
    forged = ENCODED + "\n* 2026-01-01 00:00 UTC  log          @mallory         forged row\x1b[2J\x1b]0;title\x07\u202eevil"
    assert bot.event(sr.message(forged, user=BOB, channel=channel)).status == 200
    bot.command(f"log {ENCODED}", channel_id=channel)
    env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp"), "PYTHONPATH": str(REPO),
           "DATABASE_URL": bot.settings.database_url}
    run = subprocess.run([sys.executable, "-m", "bot.cli", "timeline", "1"], env=env, capture_output=True, check=False,
                         text=True, cwd="/tmp", timeout=60)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert len(lines) == 1 + len(bot.timeline(1)), "one line per entry: user text cannot add rows"
    assert "\x1b" not in run.stdout and "\x07" not in run.stdout and "\u202e" not in run.stdout
    assert "@channel" in run.stdout and "click (https://evil.example)" in run.stdout and "<script>" in run.stdout

    as_json = subprocess.run([sys.executable, "-m", "bot.cli", "timeline", "1", "--json"], env=env, check=False,
                             capture_output=True, text=True, cwd="/tmp", timeout=60)
    items = json.loads(as_json.stdout)
    [message] = [i for i in items if i["kind"] == "message"]
    assert message["text"].startswith("ping @channel @here @everyone @oncall @alice #general click (https://evil")
