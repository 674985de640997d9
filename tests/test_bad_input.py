"""Bad input through the real app (signed requests into Bolt): arbitrary text, Unicode, very long
strings and odd times for every `/incident` and `/postmortem` subcommand and every modal.

What must hold for any input: an HTTP 200 with a reply (or a modal answer Slack accepts), never the
app's generic crash reply, and nothing half-parsed stored: a refused command leaves the database as
it was. The subcommands are read from the code, so ones added later are covered too.
"""

from __future__ import annotations

import json
import re

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from bot import views
from bot.commands import incident as incident_command
from tests.bot.commands.test_incident import open_incident
from tests.support import slack_requests as sr
from tests.support.damage import damaged

CRASH = "Something went wrong on my side"
ALICE = "U0USER1"

INCIDENT_SUBCOMMANDS = sorted({*incident_command.SUBCOMMANDS, "start", "help"})
POSTMORTEM_SUBCOMMANDS = ["draft", "prompt", "templates", "help"]

ODD_TIMES = [
    "25:99", "2026-02-30 10:00", "24:00", "23:59:60", "0000-01-01", "0000-01-01 10:00", "9999-12-31T23:59",
    "9999-12-31 23:59 -14:00", "0001-01-01 00:00", "0001-01-01T00:00+14:00", "0001-01-01 00:00 Asia/Tokyo",
    "13:00pm", "0:30am", "99:99:99", "2026-13-01 10:00", "2026-11-22T14:05+99:99", "2026-11-22T10:00+14",
    "12:00 PST", "12:00 Mars/Olympus", "12:00 +25:00", "12:00 UTC+15", "12:00 Europe/Nowhere", "2026-03-29 02:30 Europe/Berlin",
    "12:00 Z", "12:00 utc", "2:05 pm", "2026-11-22", "2026-11-22 pm", "1:1", "١٢:٣٠",
]
ZONES = ["PST", "Mars/Olympus", "+25:00", "-14:00", "+14:00", "UTC", "Z", "europe/berlin", "Etc/GMT+12",
         "America/St_Johns", "Asia/Kathmandu", "US/Pacific-New", "Europe/", "/", "Etc/../../passwd"]
ODD_PIECES = [
    "\x00", "\u202e", "\u200f", "\u2066", "\ufeff", "\u2028", "\x1b[31m", "\r\n", "\t", "🔥", "👩‍👩‍👧",
    "&amp;", "&lt;", "&gt;", "&", "<", ">", "<@U0BAD>", "<!channel>", "<#C0X|x>", "<https://x.example|y>",
    "|", "*", "_", "`", "%", "+", "=", "payload", "payload=1", "clear", "due", "sev1", "sev9", "sev0",
    "commander", "<@U0BOB|bob>", "\U0010ffff", "\ud7ff", "Ⅻ", "ß", "İ",
]
pieces = st.one_of(st.sampled_from(ODD_TIMES + ZONES + ODD_PIECES), st.text(max_size=12))
arbitrary = st.one_of(
    st.text(max_size=120),
    st.lists(pieces, max_size=8).map(" ".join),
    st.lists(pieces, min_size=1, max_size=4).map(lambda p: (" ".join(p) + " ") * (40_000 // (len(" ".join(p)) + 1) + 1))
    .map(lambda s: s[:40_000]),
)

# Tables a command may change; the outbox and caches are left out (they change without a command).
STATE_QUERIES = {
    "incident": "SELECT id, title, severity, status, channel_id, commander_id, display_tz, summary, impact, "
                "prompts_sent_at FROM incident ORDER BY id",
    "milestone": "SELECT * FROM milestone ORDER BY incident_id, name",
    "entry": "SELECT * FROM entry ORDER BY id",
    "role": "SELECT * FROM role ORDER BY 1, 2",
    "action_item": "SELECT * FROM action_item ORDER BY id",
    "prompt_answer": "SELECT * FROM prompt_answer ORDER BY 1",
    "postmortem_draft": "SELECT id, incident_id, version FROM postmortem_draft ORDER BY id",
}

REFUSALS = (":warning:", "Usage", "Nothing to log", "Add what happened", "Give the incident a title", "No incident")


def state(bot) -> dict:
    with bot.db.read() as session:
        return {name: [tuple(map(repr, row)) for row in session.execute(sa.text(sql))]
                for name, sql in STATE_QUERIES.items()}


def refused(text: str) -> bool:
    return text.startswith(REFUSALS) or "is not a" in text.split("\n", 1)[0][:200]


def check_reply(reply: dict) -> str:
    text = reply.get("text")
    assert isinstance(text, str) and text.strip(), reply
    assert CRASH not in text and "Traceback" not in text, text
    assert len(json.dumps(reply)) < 60_000, "a reply never carries a whole 40,000-character input back"
    return text


def sent(bot, command: str, text: str, channel: str) -> tuple[str, bool]:
    """Send one command; returns (reply text, whether the stored state changed)."""
    before = state(bot)
    reply = check_reply(bot.command(text, command=command, channel_id=channel))
    changed = state(bot) != before
    if refused(reply):
        assert not changed, f"refused but stored something: {text[:200]!r} -> {reply[:300]}"
    return reply, changed


@pytest.fixture
def channel(bot):
    bot.standin.add_user(ALICE, tz="America/Los_Angeles", name="alice")
    return open_incident(bot, "Bad input sev2")


@pytest.mark.parametrize("name", INCIDENT_SUBCOMMANDS)
@settings(max_examples=30, deadline=None)
@given(rest=arbitrary, upper=st.booleans())
def test_any_incident_subcommand_answers_and_never_stores_a_refusal(bot, channel, name, rest, upper):
    word = name.upper() if upper else name
    reply, changed = sent(bot, "/incident", f"{word} {rest}", channel)
    if name == "start":
        assert "is open here" in reply or refused(reply), "start in an open incident channel opens nothing"
        assert not changed


@pytest.mark.parametrize("name", sorted(set(incident_command.SUBCOMMANDS) - set(incident_command.READ_ONLY)))
@settings(max_examples=25, deadline=None)
@given(when=st.sampled_from(ODD_TIMES), zone=st.sampled_from(["", *ZONES]), text=st.sampled_from(["", "db failover"]))
def test_odd_times_are_refused_whole_or_stored_whole(bot, channel, name, when, zone, text):
    """A time that is not valid stores nothing; one that is (or is plain text) is stored whole."""
    typed = " ".join(p for p in (when, zone, text) if p)
    reply, _ = sent(bot, "/incident", f"{name} {typed}", channel)
    if name == "log" and not refused(reply):
        with bot.db.read() as session:
            stored = session.execute(sa.text("SELECT text FROM entry WHERE kind = 'log' ORDER BY id DESC")).first()
        assert stored is not None and text in stored[0]


@pytest.mark.parametrize("when", ["25:99", "2026-02-30 10:00", "24:00", "23:59:60", "0000-01-01 10:00",
                                  "9999-12-31T23:59", "9999-12-31 23:59 -14:00", "0001-01-01T00:00+14:00",
                                  "12:00 PST", "12:00 +25:00", "2026-03-29 02:30 Europe/Berlin"])
def test_a_time_that_is_not_valid_is_refused_with_the_accepted_forms(bot, channel, when):
    for subcommand in ("log", "mitigated"):
        reply, changed = sent(bot, "/incident", f"{subcommand} {when} db failover", channel)
        assert reply.startswith(":warning:") and not changed, reply
        assert "Accepted times" in reply or "future" in reply or "daylight saving" in reply or "earliest" in reply


def test_the_earliest_representable_time_is_stored_and_shown(bot, channel):
    """Backdating has no lower bound the user meets in practice, and a very old time never crashes a
    reply, the status or the header in any zone."""
    bot.command("timezone Pacific/Kiritimati", channel_id=channel)
    reply, changed = sent(bot, "/incident", "log 0001-01-02 00:00 UTC the dawn of time", channel)
    assert changed and reply.startswith("Logged"), reply
    check_reply(bot.command("started 0001-01-02 00:00 UTC", channel_id=channel))
    bot.command("timezone America/Adak", channel_id=channel)
    check_reply(bot.command("status", channel_id=channel))
    assert bot.drain() >= 0
    check_reply(bot.command("draft", command="/postmortem", channel_id=channel))


@pytest.mark.parametrize("name", POSTMORTEM_SUBCOMMANDS)
@settings(max_examples=25, deadline=None)
@given(rest=arbitrary)
def test_any_postmortem_subcommand_answers(bot, channel, name, rest):
    reply, _ = sent(bot, "/postmortem", f"{name} {rest}", channel)
    if name == "draft" and rest.strip() and rest.strip().lower() not in ("default", "detailed", "brief"):
        assert "No draft was made" in reply


@settings(max_examples=30, deadline=None)
@given(word=st.text(min_size=1, max_size=30).filter(lambda w: w.split() and w.split()[0].lower() not in
                                                      {*INCIDENT_SUBCOMMANDS, *POSTMORTEM_SUBCOMMANDS}),
       command=st.sampled_from(["/incident", "/postmortem"]))
def test_an_unknown_subcommand_gets_help_and_changes_nothing(bot, channel, word, command):
    reply, changed = sent(bot, command, word, channel)
    assert "is not a" in reply and not changed


# --- modals -------------------------------------------------------------------------------------

metadata = st.one_of(st.just("1"), st.sampled_from(["", "0", "-1", "2", " 1 ", "1.0", "99999999999999999999",
                                                    "9" * 5000, "INC-1", "\x00", "１"]), st.text(max_size=20))
field_text = st.one_of(st.none(), arbitrary, st.sampled_from(["", " ", "\n", "x" * 20_001, "\x00" * 3]))
owner = st.one_of(st.none(), st.sampled_from(["U0BOB", "", "W0ENT", "U" + "X" * 40, "<!channel>", "\x00"]),
                  st.text(max_size=40))
due = st.one_of(st.none(), st.sampled_from(["2026-12-01", "2026-02-30", "0000-01-01", "9999-12-31", "0001-01-01",
                                            "2026-12-01T10:00", "tomorrow", "", "20261201", "2026-W01-1"]),
                st.text(max_size=12))


modal_values = sr.view_state


_views = iter(range(10**9))


def submit_modal(bot, callback_id: str, meta: str, **fields) -> dict:
    payload = sr.view_submission(callback_id, modal_values(**fields), user_id="U0BOB", private_metadata=meta,
                                 view_id=f"V0FUZZ{next(_views)}")
    before = state(bot)
    response = bot.interact(payload)
    assert response.status == 200, (response.status, response.body[:500])
    answer = response.json()
    changed = state(bot) != before
    assert CRASH not in response.body
    if answer:
        assert answer.get("response_action") in ("errors", "update"), answer
    if answer.get("response_action") == "errors":
        assert answer["errors"] and all(isinstance(v, str) and v for v in answer["errors"].values())
        assert not changed, "a modal answered with errors stored something"
    return answer


@settings(max_examples=35, deadline=None)
@given(meta=metadata, first=field_text, second=field_text,
       callback=st.sampled_from([views.ROOT_CAUSE_VIEW, views.WENT_VIEW]))
def test_any_answer_modal_submission_is_stored_or_refused_with_errors(bot, channel, meta, first, second, callback):
    blocks = ("root_cause", "contributing_factors") if callback == views.ROOT_CAUSE_VIEW else ("went_well", "went_wrong")
    submit_modal(bot, callback, meta, **dict(zip(blocks, (first, second), strict=True)))


@settings(max_examples=35, deadline=None)
@given(meta=metadata, text=field_text, owner=owner, due=due)
def test_any_action_modal_submission_is_stored_or_refused_with_errors(bot, channel, meta, text, owner, due):
    answer = submit_modal(bot, views.ACTION_VIEW, meta, text=text, owner=owner, due=due)
    if answer.get("response_action") == "update":
        assert len(json.dumps(answer["view"], ensure_ascii=False)) < 20_000


# --- regressions ----------------------------------------------------------------------------------


def test_a_nul_character_is_stored_visibly_everywhere_text_enters(bot, channel):
    """PostgreSQL refuses NUL in text: a command, a message and a modal answer with one used to fail."""
    reply, changed = sent(bot, "/incident", "log db\x00failover", channel)
    assert changed and reply.startswith("Logged"), reply
    assert bot.event(sr.message("cache\x00flush", channel=channel)).status == 200
    submit_modal(bot, views.ROOT_CAUSE_VIEW, "1", root_cause="flag\x00on", contributing_factors=None)
    with bot.db.read() as session:
        texts = {row[0] for row in session.execute(sa.text("SELECT text FROM entry"))}
        answers = {row[0] for row in session.execute(sa.text("SELECT text FROM prompt_answer"))}
    assert {"db\ufffdfailover", "cache\ufffdflush"} <= texts
    assert answers == {"flag\ufffdon"}


@pytest.mark.parametrize(("command", "text"), [
    ("/incident", "timezone Europe/<!here>"),
    ("/incident", "log 2026-11-22<!channel> deploy"),
    ("/incident", "log 12:00 Europe/<https://evil.example|click> deploy"),
    ("/postmortem", "draft <!channel>"),
])
def test_an_error_quoting_the_input_quotes_it_as_text(bot, channel, command, text):
    """Errors that quote what was typed used to put a typed @channel or link back live."""
    reply = bot.text(text, command=command, channel_id=channel)
    assert "<!" not in reply and "<https" not in reply, reply
    assert "@here" in reply or "@channel" in reply or "click (https://evil.example)" in reply


@pytest.mark.parametrize("rest", ["comms <@U0BOB|bob> <!channel> is on it", "ping <!here> <@U0BOB|bob>",
                                  "comms <@U0BOB|bob> and <@U0CAROL|carol>"])
def test_a_role_with_anything_beside_one_person_is_refused_whole(bot, channel, rest):
    reply, changed = sent(bot, "/incident", f"role {rest}", channel)
    assert reply.startswith("Usage") and not changed, reply


@pytest.mark.parametrize(("command", "text"), [("/incident", "help"), ("/incident", "role"), ("/incident", "log"),
                                               ("/incident", "summary"), ("/postmortem", "help"),
                                               ("/postmortem", "templates"), ("/incident", "frobnicate")])
def test_usage_placeholders_are_text_not_slack_tokens(bot, channel, command, text):
    reply = bot.text(text, command=command, channel_id=channel)
    assert "&lt;" in reply and not re.search(r"<[a-zA-Z]", reply), reply


# --- start with any title, channel messages and prompt buttons with any content -------------------


@settings(max_examples=30, deadline=None)
@given(rest=arbitrary)
def test_start_with_any_title_opens_one_incident_with_a_valid_channel_or_refuses(bot, rest):
    channel = f"C0FRESH{next(_views)}"  # never an incident channel: every example may open one
    before = state(bot)
    reply = check_reply(bot.command(f"start {rest}", channel_id=channel))
    after = state(bot)
    if refused(reply):
        assert after == before, reply
        return
    assert len(after["incident"]) == len(before["incident"]) + 1 and reply.startswith(":rotating_light:"), reply
    name = bot.standin.calls_to("conversations.create")[-1]["name"]
    assert re.fullmatch(r"inc-\d{8}-\d+-[a-z0-9-]+", name) and len(name) <= 80, name
    bot.drain()
    header = bot.standin.calls_to("chat.postMessage")[-1].params
    assert header["blocks"][0]["text"]["text"].startswith("INC-") and len(json.dumps(header, ensure_ascii=False)) < 20_000


@settings(max_examples=30, deadline=None)
@given(text=arbitrary)
def test_any_channel_message_is_stored_once_as_sent(bot, channel, text):
    event = sr.message(text, user="U0BOB", channel=channel)
    before = len(state(bot)["entry"])
    for _ in range(2):  # and a redelivery stores nothing more
        response = bot.event(event)
        assert response.status == 200, response.body[:300]
    assert len(state(bot)["entry"]) == before + 1


@settings(max_examples=25, deadline=None)
@given(value=metadata, action=st.sampled_from(sorted(a for a, _ in views.PROMPT_ACTIONS.values())))
def test_any_prompt_button_value_is_acknowledged(bot, channel, value, action):
    response = bot.interact(sr.block_actions(action, value, user_id="U0BOB"))
    assert response.status == 200, response.body[:300]


# --- button presses, modals and events with fields of any shape ------------------------------------
# Slack's payloads are read once at the listener (bot/inbound.py); one that lacks a field, or has one
# of another shape, used to raise there, and Bolt answered 500: an event was then delivered again and
# again, a button press showed as failed.


def _press(action_id, change):
    def build(channel):
        payload = sr.block_actions(action_id, "1", channel_id=channel)
        change(payload)
        return "interact", payload
    return build


def _modal(callback_id, change, **fields):
    def build(channel):
        payload = sr.view_submission(callback_id, sr.view_state(**fields), private_metadata="1",
                                     view_id=f"V0SHAPE{next(_views)}")
        change(payload)
        return "interact", payload
    return build


def _message(change, kind=None):
    def build(channel):
        event = sr.message("shape", channel=channel)
        if kind == "changed":
            event = sr.message_changed(event, "reshaped")
        elif kind == "deleted":
            event = sr.message_deleted(event)
        elif kind == "reaction":
            event = sr.reaction("pushpin", event)
        change(event)
        return "event", event
    return build


def _set(path, value):
    def change(payload):
        target = payload
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = value
    return change


def _delete(key):
    return lambda payload: payload.pop(key)


WRONG_SHAPES = {
    "done: user is text": _press("action_done", _set(("user",), "U0BOB")),
    "done: container is text": _press("action_done", _set(("container",), "x")),
    "done: message is text": _press("action_done", _set(("message",), "x")),
    "done: an id no database holds": _press("action_done", _set(("actions", 0, "value"), "9" * 23)),
    "prompt: no trigger_id": _press(views.PROMPT_ACTIONS["root_cause"][0], _delete("trigger_id")),
    "prompt: no user": _press(views.PROMPT_ACTIONS["went"][0], _delete("user")),
    "modal: no user": _modal(views.ROOT_CAUSE_VIEW, _delete("user"), root_cause="cache"),
    "modal: a view id no Slack view has": _modal(views.ACTION_VIEW, _set(("view", "id"), "V" * 120), text="fix it"),
    "modal: state is a list": _modal(views.ROOT_CAUSE_VIEW, _set(("view", "state"), []), root_cause="cache"),
    "modal: value is a number": _modal(views.ROOT_CAUSE_VIEW, lambda p: None, root_cause=5),
    "modal: block is text": _modal(views.WENT_VIEW, _set(("view", "state", "values", "went_well"), "x"),
                                   went_well="ok"),
    "message: text is a number": _message(_set(("text",), 5)),
    "message: edited is text": _message(_set(("edited",), "x")),
    "message: ts is a number": _message(_set(("ts",), 5)),
    "message: ts is no ts": _message(_set(("ts",), "abc")),
    "message: thread_ts is a list": _message(_set(("thread_ts",), ["x"])),
    "message: user is an object": _message(_set(("user",), {"id": "U0BOB"})),
    "edit: message is text": _message(_set(("message",), "s"), kind="changed"),
    "edit: edited is text": _message(_set(("message", "edited"), "s"), kind="changed"),
    "delete: previous_message is text": _message(_set(("previous_message",), "s"), kind="deleted"),
    "delete: deleted_ts is a number": _message(_set(("deleted_ts",), 5), kind="deleted"),
    "reaction: reaction is null": _message(_set(("reaction",), None), kind="reaction"),
    "reaction: item is text": _message(_set(("item",), "x"), kind="reaction"),
    "reaction: user is a list": _message(_set(("user",), ["U0BOB"]), kind="reaction"),
}


# The rest of these payloads still says something usable: the message without its odd part, the
# deletion by the other field that names the message.
STILL_USABLE = {"message: edited is text", "message: thread_ts is a list", "delete: previous_message is text",
                "delete: deleted_ts is a number"}


@pytest.mark.parametrize("case", WRONG_SHAPES)
def test_a_payload_with_a_field_of_another_shape_is_answered_not_failed(bot, channel, case):
    how, payload = WRONG_SHAPES[case](channel)
    before = state(bot)
    for retry in (None, 1):  # and a redelivery changes nothing more
        response = bot.interact(payload) if how == "interact" else bot.event(payload, retry_num=retry)
        assert response.status == 200, (response.status, response.body[:300])
        assert CRASH not in response.body
        if response.body and response.json():
            assert response.json()["response_action"] == "errors"
        if retry is None:
            after_first = state(bot)
    assert state(bot) == after_first
    assert (after_first != before) == (case in STILL_USABLE)


ITEM_BUTTONS = ["action_done", "action_drop", "action_snooze_1d", "action_snooze_1w"]
# What Bolt reads to route a payload and build its context, before any listener of ours runs: these
# keep their place and shape (their contents are still damaged), so the damage reaches our readers.
BOLT_READS = (
    *((*where, key) for where in ((), ("event",)) for key in ("user", "team", "channel", "enterprise")),
    ("event", "message", "user"), ("event", "previous_message", "user"), ("event", "item", "channel"),
    ("authorizations",), ("authorizations", 0), ("is_ext_shared_channel",), ("response_urls",),
)
ROUTING = {"interact": (*BOLT_READS, ("type",), ("actions", 0, "action_id"), ("view", "callback_id"), ("view", "type")),
           "event": (*BOLT_READS, ("type",), ("event", "type"))}


@settings(max_examples=30, deadline=None)
@given(data=st.data(), action_id=st.sampled_from([*ITEM_BUTTONS, *(a for a, _ in views.PROMPT_ACTIONS.values())]))
def test_any_damaged_button_press_is_acknowledged(bot, channel, data, action_id):
    bot.command("action rotate the keys", channel_id=channel)
    payload = damaged(sr.block_actions(action_id, "1", channel_id=channel), data, keep=ROUTING["interact"])
    response = bot.interact(payload)
    assert response.status == 200, (response.status, response.body[:300])


@settings(max_examples=30, deadline=None)
@given(data=st.data(), callback=st.sampled_from([views.ROOT_CAUSE_VIEW, views.WENT_VIEW, views.ACTION_VIEW]))
def test_any_damaged_modal_submission_is_stored_or_refused_with_errors(bot, channel, data, callback):
    fields = {views.ROOT_CAUSE_VIEW: {"root_cause": "cache", "contributing_factors": "ttl"},
              views.WENT_VIEW: {"went_well": "paging", "went_wrong": "dashboards"},
              views.ACTION_VIEW: {"text": "fix it", "owner": "U0BOB", "due": "2026-12-01"}}[callback]
    payload = damaged(sr.view_submission(callback, sr.view_state(**fields), user_id="U0BOB", private_metadata="1",
                                         view_id=f"V0DMG{next(_views)}"), data, keep=ROUTING["interact"])
    before = state(bot)
    response = bot.interact(payload)
    assert response.status == 200, (response.status, response.body[:300])
    answer = response.json() if response.body else {}
    if answer.get("response_action") == "errors":
        assert answer["errors"] and state(bot) == before


@settings(max_examples=30, deadline=None)
@given(data=st.data(), kind=st.sampled_from(["new", "changed", "deleted", "reaction"]))
def test_any_damaged_event_is_acknowledged_and_a_redelivery_stores_nothing_more(bot, channel, data, kind):
    original = sr.message("the original", channel=channel)
    bot.event(original)
    event = {"new": sr.message("a new one", channel=channel), "changed": sr.message_changed(original, "edited"),
             "deleted": sr.message_deleted(original), "reaction": sr.reaction("pushpin", original)}[kind]
    body = damaged(sr.envelope(event), data, keep=ROUTING["event"])
    for retry in (None, 1):
        response = bot.post(json.dumps(body), sr.signed_headers(json.dumps(body), content_type="application/json",
                                                                retry_num=retry))
        assert response.status == 200, (response.status, response.body[:300])
        if retry is None:
            after_first = state(bot)
    assert state(bot) == after_first
