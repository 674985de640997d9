"""Every message and view the bot builds stays within Slack's limits with the largest input it accepts
(40,000 characters of command text, 3,000 of modal text, any number of roles and action items), and
cuts user text before escaping it, so nobody reads half an entity (`&lt;b&…`).

The pure builders are checked directly; then the whole app is driven through signed requests with
the same inputs, and every reply, Web API call and response_url post it made is checked."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot import action_blocks, reminders, views
from bot import text as T
from bot.jobs import reminder_dms
from bot.milestones import MILESTONES
from tests.support.slack_limits import breaches

NOW = datetime(2026, 11, 22, 15, 0, tzinfo=UTC)
LONGEST = 40_000  # the longest command text the bot takes (and the most Slack delivers)
MODAL_LONGEST = 3_000  # the modals' max_length
# Slack-encoded text that grows about fivefold when escaped again for mrkdwn
GROWING = ("&lt;b&gt;&amp;" * LONGEST)[:LONGEST]
HOSTILE = ("<!channel> <@U0EVIL|evil> <https://evil.example|x> &lt;b&gt; *bold* " * 1000)[:LONGEST]
BROKEN_ENTITY = re.compile(r"&(?!amp;|lt;|gt;)|&(?:amp|lt|gt)(?!;)")
ROLES = {"commander": "U0CMD", **{f"r{i:02d}-" + "x" * 36: f"U0ROLE{i:04d}" for i in range(100)}}
TIMES = {name: NOW - timedelta(hours=5 - i) for i, name in enumerate(MILESTONES)}


def within(message: dict, surface: str = "message", *, posted: bool = False) -> None:
    found = breaches(message, surface=surface, posted=posted)
    assert not found, f"{found}: {json.dumps(message)[:600]}"


def mrkdwn_texts(node) -> list[str]:
    if isinstance(node, dict):
        own = [node["text"]] if node.get("type") == "mrkdwn" else []
        return own + [t for v in node.values() for t in mrkdwn_texts(v)]
    if isinstance(node, list):
        return [t for v in node for t in mrkdwn_texts(v)]
    return []


def no_half_entities(message: dict) -> None:
    for text in mrkdwn_texts(message.get("blocks") or []) + [message.get("text") or ""]:
        assert not BROKEN_ENTITY.search(text), text[-80:]


# --- the checker itself ----------------------------------------------------------------------------


def test_the_checker_finds_each_kind_of_breach():
    section = {"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}
    assert breaches({"text": "t", "blocks": [section]})
    assert breaches({"blocks": [{"type": "section", "fields": [{"type": "mrkdwn", "text": "x" * 2001}]}]})
    assert breaches({"blocks": [{"type": "header", "text": {"type": "plain_text", "text": "x" * 151}}]})
    assert breaches({"blocks": json.dumps([{"type": "divider"}] * 51)}), "blocks as JSON, as Web API calls send them"
    assert not breaches({"type": "modal", "title": {"type": "plain_text", "text": "t"},
                         "blocks": [{"type": "divider"}] * 100}, surface="view")
    assert breaches({"view": {"type": "modal", "title": {"type": "plain_text", "text": "t" * 25}, "blocks": []}})
    assert breaches({"text": "x" * 4001})
    assert not breaches({"text": "x" * 4000, "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "x"}}]})
    many = {"blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 2500}}] * 5}
    assert breaches(many, posted=True) and not breaches(many), "the total counts where Slack counts it"


# --- the builders, with the largest inputs ----------------------------------------------------------


def header(**changes) -> dict:
    values = dict(number=2_147_483_647, title=HOSTILE, severity="sev1", status="mitigated", commander_id="U0CMD",
                  milestones=TIMES, roles=ROLES, zone=UTC, summary=GROWING, impact=HOSTILE)
    values.update(changes)
    return views.header_message(**values)


def test_the_header_with_many_long_roles_stays_within_the_field_limit():
    message = header()
    within(message, posted=True)
    [fields] = [b["fields"] for b in message["blocks"] if b.get("fields")]
    roles = fields[-1]["text"]
    assert len(roles) <= 2000 and roles.startswith("*Roles*\n")
    shown = roles.count("<@U0ROLE")
    assert shown >= 30 and roles.endswith(f"\n…and {100 - shown} more"), "says how many are not shown"


def test_summary_and_impact_are_cut_before_escaping():
    message = header()
    sections = [b["text"]["text"] for b in message["blocks"] if b["type"] == "section" and "text" in b]
    summary = next(s for s in sections if s.startswith("*Summary*"))
    assert len(summary) <= 3000 and summary.endswith("…")
    assert T.plain(GROWING).startswith(T.decode(summary[len("*Summary*\n"):-1])), "cut in the text, not the escapes"
    no_half_entities(message)
    within(message, posted=True)
    assert not BROKEN_ENTITY.search(message["text"]) and len(message["text"]) <= 3000


@given(st.lists(st.sampled_from(["&lt;", "&gt;", "&amp;", "<", ">", "&", "a", " ", "<@U1>"]), max_size=2000)
       .map("".join))
def test_no_header_text_shows_half_an_entity(text):
    message = header(title=text * 3, summary=text * 3, impact=text)
    within(message, posted=True)
    no_half_entities(message)


def test_the_status_of_an_incident_with_every_field_full_fits_one_message():
    message = header()
    message["blocks"].insert(-1, {"type": "section", "text": views.mrkdwn_text("x" * 1000)})  # its metrics lines
    within(message)


@pytest.mark.parametrize("personal", [True, False])
def test_prompts_fit(personal):
    message = views.prompt_message(2_147_483_647, HOSTILE, ["root_cause", "went"], personal=personal)
    within(message, posted=True)
    no_half_entities(message)


def test_the_draft_summary_fits():
    message = views.draft_summary(number=2_147_483_647, version=9999, title=GROWING, severity="sev1",
                                  duration="9999 d 23 h 59 min (from declaration)",
                                  metrics=[("Time to resolve", "9999 d 23 h 59 min (from declaration)")] * 4,
                                  open_questions=["root cause", "what went well / wrong", "action items"] * 3,
                                  prompts=["root_cause", "went"])
    within(message, posted=True)
    no_half_entities(message)


def test_the_modals_fit_with_the_longest_title_and_answers():
    longest_answer = "<&>" * (MODAL_LONGEST // 3)
    current = {topic: longest_answer for topic in ("root_cause", "contributing_factors", "went_well", "went_wrong")}
    for view in (views.root_cause_modal(2_147_483_647, HOSTILE, current),
                 views.went_modal(2_147_483_647, HOSTILE, current),
                 views.action_modal(2_147_483_647, HOSTILE)):
        within(view, "view")


def item(number: int, status: str, text: str = GROWING):
    return type("Item", (), dict(id=number, text=text, owner_id="U0OWNER", due=date(2026, 11, 1), status=status,
                                 closed_by="U0CLOSER" if status != "open" else None))


def test_the_action_item_list_fits_with_hundreds_of_long_items():
    items = [item(i, ("open", "done", "dropped")[i % 3]) for i in range(1, 301)]
    text, blocks = action_blocks.list_message("INC-2147483647", items, date(2026, 11, 22))
    within({"text": text, "blocks": blocks})
    no_half_entities({"blocks": blocks})


def candidate(number: int) -> reminders.ReminderCandidate:
    return reminders.ReminderCandidate(
        item_id=number, incident_id=2_147_483_647, text=GROWING, owner_id=None, due=date(2026, 1, 1),
        snoozed_until=None, reminded_at=None, commander_id="U0CMD", channel_id="C0INC", incident_title=HOSTILE,
        recipient_tz="Pacific/Kiritimati")


def test_reminder_digests_and_nudges_fit():
    digests = reminders.select_digests([candidate(i) for i in range(1, 201)], NOW, UTC, timedelta(hours=24))
    messages = [m for d in digests for m in reminders.digest_messages(d, NOW)]
    assert len(messages) == 3
    for message in messages:
        within({"text": message.text, "blocks": message.blocks}, posted=True)
        no_half_entities({"blocks": message.blocks})
        gone = {i: None for i in message.item_ids}
        within({"text": message.text, "blocks": action_blocks.rewrite_digest(message.blocks, gone, NOW, [1])}, posted=True)
    nudge = reminders.Nudge(2_147_483_647, "U0CMD", "C0INC", HOSTILE, NOW - timedelta(days=400))
    message = reminders.nudge_message(nudge, NOW)
    within({"text": message.text, "blocks": message.blocks}, posted=True)


def test_a_short_digest_keeps_its_items_whole():
    short = reminders.ReminderCandidate(
        item_id=1, incident_id=7, text="x" * 590, owner_id="U0OWNER", due=date(2026, 1, 1), snoozed_until=None,
        reminded_at=None, commander_id="U0CMD", channel_id="C0INC", incident_title="y" * 110, recipient_tz=None)
    [digest] = reminders.select_digests([short], NOW, UTC, timedelta(hours=24))
    [message] = reminders.digest_messages(digest, NOW)
    assert "x" * 590 in json.dumps(message.blocks) and "y" * 110 in json.dumps(message.blocks)


# --- the whole app, with the largest inputs ----------------------------------------------------------

POSTED = ("chat.postMessage", "chat.update")
VIEWS = ("views.open", "views.update", "views.push")
OWNER = "U0OWNER1"


def everything_sent(standin) -> list[tuple[str, dict, bool]]:
    """(where, what, posted) for every message and view the bot sent Slack."""
    sent = [(c.method, c.params, c.method in POSTED) for c in standin.calls if c.method in POSTED + VIEWS]
    return sent + [("response_url", body, False) for body in standin.responses]


def test_every_message_and_view_fits_with_the_largest_inputs(make_bot, standin):
    from tests.bot.commands.test_postmortem import press, settle, submit
    from tests.support import slack_requests as sr

    clock = {"now": datetime(2026, 11, 22, 9, 0, tzinfo=UTC)}
    bot = make_bot(clock=lambda: clock["now"], prompt_max_people=25)
    standin.add_user("U0USER1", name="alice")
    standin.add_user(OWNER, name="owner")
    replies: list[dict] = []

    def command(text: str, **kwargs) -> dict:
        reply = bot.command(text, **kwargs)
        replies.append(reply)
        return reply

    command(f"start {HOSTILE} sev1")
    bot.drain()
    channel = [c for c in standin.channels.values() if c.name.startswith("inc-")][-1].id
    command(f"summary {GROWING}", channel_id=channel)
    command(f"impact {HOSTILE}", channel_id=channel)
    for i in range(60):
        command(f"role r{i:02d}-{'x' * 36} <@U0ROLE{i:04d}|someone-with-a-long-name-{i}>", channel_id=channel)
    command(f"log {GROWING}", channel_id=channel)
    command(f"log 08:05 {HOSTILE}", channel_id=channel)
    command(f"started 2026-11-21 20:00 {GROWING}", channel_id=channel)
    command(f"detected 07:00 {HOSTILE}", channel_id=channel)
    command(f"acknowledged 06:00 {GROWING}", channel_id=channel)  # out of order: a warning in the reply
    command(f"mitigated {GROWING}", channel_id=channel)
    command("severity sev2", channel_id=channel)
    for _ in range(30):
        command(f"action {GROWING} <@{OWNER}|owner> due 2026-11-01", channel_id=channel)
    command("actions", channel_id=channel)
    command("status", channel_id=channel)
    command(f"resolved {GROWING}", channel_id=channel)
    settle(bot)

    longest = "<&>" * (MODAL_LONGEST // 3)
    press(bot, "prompt_root_cause", 1, "U0USER1")
    submit(bot, "postmortem_root_cause", 1, "U0USER1", root_cause=longest, contributing_factors=longest)
    press(bot, "prompt_root_cause", 1, "U0USER1")  # opens with the answers to edit
    press(bot, "prompt_went", 1, "U0USER1")
    press(bot, "prompt_action", 1, "U0USER1")
    confirmation = submit(bot, "postmortem_action", 1, "U0USER1", view_id="V0LONG", text=longest, owner=OWNER,
                          due="2026-11-01")
    replies.append(confirmation)
    command("draft", command="/postmortem", channel_id=channel)
    command(f"draft {HOSTILE}", command="/postmortem", channel_id=channel)
    settle(bot)

    clock["now"] = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    reminders.sweep(bot.services)
    reminder_dms.deliver_now(bot.services)  # what `incident-bot reminders sweep` does after queueing
    digest = [c.params for c in standin.calls_to("chat.postMessage") if "overdue action" in str(c.params.get("text"))]
    assert digest, "the owner was reminded"
    blocks = json.loads(digest[0]["blocks"]) if isinstance(digest[0]["blocks"], str) else digest[0]["blocks"]
    item_id = next(int(b["block_id"].split(":")[1]) for b in blocks
                   if b.get("block_id", "").startswith("reminder_buttons:"))
    payload = sr.block_actions("action_done", str(item_id), user_id=OWNER, channel_id=digest[0]["channel"],
                               message_ts="1700000900.000100", block_id=f"reminder_buttons:{item_id}",
                               response_url=standin.response_url("digest"))
    payload["message"].update(blocks=blocks, text=digest[0]["text"])
    assert bot.interact(payload).status == 200
    listed = sr.block_actions("action_drop", str(item_id + 1), user_id=OWNER, channel_id=channel,
                              block_id=f"action_item_buttons:{item_id + 1}", response_url=standin.response_url("list"))
    assert bot.interact(listed).status == 200
    settle(bot)

    sent = everything_sent(standin)
    kinds = {where for where, _, _ in sent}
    assert {"chat.postMessage", "chat.update", "views.open", "response_url"} <= kinds, kinds
    assert len(sent) > 100
    for where, message, posted in sent:
        found = breaches(message, posted=posted)
        assert not found, f"{where}: {found}: {json.dumps(message)[:400]}"
        no_half_entities({k: (json.loads(v) if k == "blocks" and isinstance(v, str) else v)
                          for k, v in message.items() if k in ("text", "blocks")})
    for reply in replies:
        found = breaches(reply)
        assert not found, f"reply: {found}: {json.dumps(reply)[:400]}"
        if "view" not in reply:
            no_half_entities(reply)
    view_text = json.dumps(confirmation["view"])
    assert "Owner: <@U0OWNER1>" in view_text, "the confirmation keeps its owner and due date under a long text"
