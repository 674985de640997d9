"""Reading Slack's payloads into frozen values: Slack's own example payloads read as they should, and
a payload with any field missing or of another shape reads as "ignore" (None), never an exception."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.commands.common import Call
from bot.inbound import ButtonPress, MessageEvent, ReactionEvent, ViewSubmission, message_of, number_in
from tests.support import slack_requests as sr
from tests.support.damage import damaged, json_values

PAYLOADS = Path(__file__).parent.parent / "fixtures" / "payloads"


def payload(name: str) -> dict:
    return json.loads((PAYLOADS / f"{name}.json").read_text())


def test_a_button_press_reads_who_pressed_what_and_where():
    press = ButtonPress.from_payload(payload("block_actions"))
    assert press == ButtonPress(
        action_id="ack_incident", user_id="U0USER2", value="INC-42", block_id="inc_actions",
        trigger_id="13345224609.738474920.8088930838d88f008e1",
        response_url="https://hooks.slack.com/actions/T0001/1234567891/efghIJKLmnopQRST",
        channel_id="C0INC01", message_ts="1700000700.001000", ephemeral=False, message_text="INC-42 declared",
        message_blocks=tuple(payload("block_actions")["message"]["blocks"]),
    )
    assert press.number is None  # "INC-42" is no id


def test_a_press_in_an_ephemeral_message_without_a_container_channel_uses_the_channel():
    body = sr.block_actions("action_done", "12")
    body["container"] = {"type": "message", "message_ts": "1700000700.001000", "is_ephemeral": True}
    press = ButtonPress.from_payload(body)
    assert (press.number, press.channel_id, press.ephemeral) == (12, "C0INC01", True)


def test_a_view_submission_reads_its_inputs_as_typed():
    body = sr.view_submission("postmortem_action", sr.view_state(text="  fix <!channel> \x00 ", owner="U0BOB",
                                                                  due="2026-12-01"),
                              user_id="U0USER1", private_metadata="7", view_id="V0ONE")
    view = ViewSubmission.from_payload(body)
    assert (view.callback_id, view.view_id, view.user_id, view.number) == ("postmortem_action", "V0ONE", "U0USER1", 7)
    assert view.text("text") == "fix <!channel> \ufffd"  # raw, as typed; NUL made storable
    assert (view.selected_user("owner"), view.selected_date("due")) == ("U0BOB", "2026-12-01")
    assert view.text("missing") == "" and view.selected_user("missing") is None


def test_slacks_example_view_submission_reads_its_person_and_view():
    view = ViewSubmission.from_payload(payload("view_submission"))
    assert (view.user_id, view.view_id, view.callback_id) == ("U0USER1", "V0VIEW01", "incident_create")
    assert view.number is None  # its private_metadata is JSON, not an incident number


@pytest.mark.parametrize(("value", "number"), [
    ("1", 1), ("2147483647", 2**31 - 1), ("2147483648", None), ("0", None), ("-1", None), (" 1", None),
    ("１", None), ("1_0", None), ("9" * 5000, None), ("", None), (None, None), (7, None),
])
def test_only_digits_a_database_id_can_hold_are_a_number(value, number):
    assert number_in(value) == number


def test_slacks_example_messages_read_as_new_edit_delete_or_ignore():
    new = MessageEvent.from_payload(payload("message"))
    assert (new.action, new.channel_id, new.event_id) == ("new", "C0INC01", payload("message")["event_id"])
    assert (new.message.ts, new.message.author_id, new.message.text) == ("1700000000.000100", "U0USER1",
                                                                        "db-primary is down")
    edit = MessageEvent.from_payload(payload("message_changed"))
    assert (edit.action, edit.message.text, edit.message.edited_ts) == (
        "edit", "db-primary is DOWN (sev1)", "1700000120.000000")
    deleted = MessageEvent.from_payload(payload("message_deleted"))
    assert (deleted.action, deleted.ts) == ("delete", "1700000060.000200")
    reply = MessageEvent.from_payload(payload("message_thread_reply"))
    assert reply.message.thread_ts == "1700000000.000100"
    share = MessageEvent.from_payload(payload("message_file_share"))
    assert share.message.files == [{"name": "latency.png",
                                    "permalink": "https://acme.slack.com/files/U0USER1/F0FILE01/latency.png"}]
    for name in ("message_bot_message_classic", "message_from_modern_bot_no_subtype", "message_channel_join"):
        assert MessageEvent.from_payload(payload(name)).action == "ignore", name


def test_slacks_example_reaction_reads_who_reacted_to_which_message():
    reaction = ReactionEvent.from_payload(payload("reaction_added"))
    assert reaction == ReactionEvent(channel_id="C0INC01", ts="1700000000.000100", user_id="U0USER2",
                                     emoji="rotating_light", present=True, event_ts="1700000600.000900",
                                     event_id="Ev0RCT0001")
    removed = sr.envelope({**payload("reaction_added")["event"], "type": "reaction_removed"})
    assert ReactionEvent.from_payload(removed).present is False


@pytest.mark.parametrize(("field", "value"), [
    ("ts", "abc"), ("ts", 1700000000.0001), ("ts", "99999999999.000100"), ("user", {"id": "U1"}),
    ("user", "u0lower"), ("text", 5), ("text", ["a"]), ("subtype", "channel_topic"),
])
def test_a_message_with_a_field_of_another_shape_is_not_captured(field, value):
    raw = {**payload("message")["event"], field: value}
    assert message_of(raw, "C0INC01") is None


def test_odd_parts_of_a_message_are_left_out_not_fatal():
    raw = {**payload("message")["event"], "thread_ts": ["x"], "edited": "yes", "files": "x"}
    message = message_of(raw, "C0INC01")
    assert (message.thread_ts, message.edited_ts, message.files) == (None, None, None)
    files = [{"name": 5, "title": "plan.pdf", "permalink": None}, "junk", {}]
    assert message_of({**raw, "files": files}, "C0INC01").files == [
        {"name": "plan.pdf", "permalink": ""}, {"name": "file", "permalink": ""}]


# --- any payload, any damage ----------------------------------------------------------------------

PARSERS = [
    (ButtonPress, "block_actions"), (ViewSubmission, "view_submission"), (MessageEvent, "message"),
    (MessageEvent, "message_changed"), (MessageEvent, "message_deleted"), (MessageEvent, "message_file_share"),
    (MessageEvent, "message_thread_reply"), (ReactionEvent, "reaction_added"),
]


@pytest.mark.parametrize(("kind", "name"), PARSERS, ids=[name for _, name in PARSERS])
@given(data=st.data())
def test_a_damaged_payload_reads_as_a_value_or_none_never_an_exception(kind, name, data):
    body = damaged(payload(name), data)
    value = kind.from_payload(body)
    if value is None:
        return
    assert isinstance(value, kind)
    for f in dataclasses.fields(value):  # every id, ts and text read is a string (or absent)
        if f.name in ("action_id", "user_id", "channel_id", "ts", "message_ts", "event_ts", "emoji", "view_id"):
            assert getattr(value, f.name) is None or isinstance(getattr(value, f.name), str)
    if isinstance(value, MessageEvent) and value.message is not None:
        assert isinstance(value.message.text, str) and isinstance(value.message.ts, str)


@given(body=json_values)
def test_any_json_at_all_reads_as_none_or_ignore(body):
    assert ButtonPress.from_payload(body) is None
    assert ViewSubmission.from_payload(body) is None
    assert ReactionEvent.from_payload(body) is None
    assert MessageEvent.from_payload(body).action == "ignore"


def test_a_slash_command_with_fields_that_are_not_text_reads_them_as_empty():
    """Socket Mode delivers a command as JSON, where a field may be of any type."""
    call = Call.from_payload({"command": "/incident", "text": 5, "user_id": ["U0USER1"], "channel_id": None,
                              "response_url": {"url": "x"}})
    assert (call.command, call.text, call.user_id, call.channel_id, call.response_url) == ("/incident", "", "", "",
                                                                                             None)
    fields = payload("slash_command_form_fields")
    call = Call.from_payload(fields)
    assert (call.command, call.user_id, call.channel_id, call.text) == (
        fields["command"], fields["user_id"], fields["channel_id"], fields["text"])
