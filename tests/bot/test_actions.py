"""Action items, pure parts: due dates (bot/due_dates.py), `<text> [<@owner>] [due <date>]`
(bot/action_request.py), the list line (bot/action_blocks.py) and the job a button press queues."""

import re
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.action_blocks import item_line
from bot.action_request import parse_action
from bot.actions import rewrite_job
from bot.due_dates import DUE_FORMS, DueError, describe_due, parse_due
from bot.inbound import ButtonPress
from storage.models import ActionItem

MONDAY = date(2026, 11, 23)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("today", MONDAY),
        ("TODAY", MONDAY),
        ("tomorrow", date(2026, 11, 24)),
        ("in 3 days", date(2026, 11, 26)),
        ("in 1 day", date(2026, 11, 24)),
        ("in  10   days", date(2026, 12, 3)),  # across the month
        ("in 0 days", MONDAY),
        ("2026-12-01", date(2026, 12, 1)),
        ("2026-1-5", date(2026, 1, 5)),
        ("2026-11-01", date(2026, 11, 1)),  # in the past: accepted (the reply warns)
        ("tuesday", date(2026, 11, 24)),
        ("Friday", date(2026, 11, 27)),
        ("fri", date(2026, 11, 27)),
        ("sunday", date(2026, 11, 29)),
        ("monday", date(2026, 11, 30)),  # today is Monday: the next one is a week away
        ("mon", date(2026, 11, 30)),
    ],
)
def test_due_dates(text, expected):
    assert parse_due(text, MONDAY) == expected


def test_relative_dates_cross_the_year():
    new_years_eve = date(2026, 12, 31)  # a Thursday
    assert parse_due("tomorrow", new_years_eve) == date(2027, 1, 1)
    assert parse_due("friday", new_years_eve) == date(2027, 1, 1)
    assert parse_due("thursday", new_years_eve) == date(2027, 1, 7)
    assert parse_due("wednesday", date(2026, 12, 30)) == date(2027, 1, 6)
    assert parse_due("in 45 days", date(2026, 12, 20)) == date(2027, 2, 3)


def test_leap_days():
    assert parse_due("2028-02-29", MONDAY) == date(2028, 2, 29)
    assert parse_due("tomorrow", date(2028, 2, 28)) == date(2028, 2, 29)
    assert parse_due("tomorrow", date(2027, 2, 28)) == date(2027, 3, 1)


@pytest.mark.parametrize("text", ["2026-02-30", "2026-13-01", "next week", "someday", "friday afternoon",
                                  "in three days", "in 99999 days", "2026/12/01", ""])
def test_invalid_due_dates_are_refused_with_the_accepted_forms(text):
    with pytest.raises(DueError) as info:
        parse_due(text, MONDAY)
    assert DUE_FORMS in str(info.value)


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 1, 1)), st.sampled_from(
    ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]))
def test_a_weekday_is_its_next_occurrence_within_a_week(today, name):
    due = parse_due(name, today)
    assert 1 <= (due - today).days <= 7
    assert due.strftime("%A").lower() == name


def test_action_with_owner_and_due():
    request = parse_action("fix the retry storm <@U123|bob> due friday", MONDAY)
    assert request.text == "fix the retry storm"
    assert request.owner_id == "U123"
    assert request.due == date(2026, 11, 27)


def test_the_owner_is_the_last_mention_before_due():
    request = parse_action("ask <@U1|ann> to rotate keys <@U2|bob> due tomorrow", MONDAY)
    assert request.owner_id == "U2"
    assert request.text == "ask <@U1|ann> to rotate keys"


def test_a_mention_inside_the_sentence_owns_the_item_and_stays_in_the_text():
    request = parse_action("ask <@U1|ann> to rotate keys", MONDAY)
    assert request.owner_id == "U1"
    assert request.text == "ask <@U1|ann> to rotate keys"


def test_a_leading_mention_is_the_owner():
    request = parse_action("<@U1|ann> rotate keys due 2026-12-01", MONDAY)
    assert (request.text, request.owner_id, request.due) == ("rotate keys", "U1", date(2026, 12, 1))


def test_no_owner_and_no_due():
    assert parse_action("write the runbook", MONDAY) == parse_action("  write the runbook ", MONDAY)
    request = parse_action("write the runbook", MONDAY)
    assert (request.text, request.owner_id, request.due) == ("write the runbook", None, None)


def test_due_counts_only_as_the_final_clause():
    request = parse_action("review due diligence checklist <@U1|ann>", MONDAY)
    assert request.due is None and request.text == "review due diligence checklist"
    request = parse_action("payment due", MONDAY)
    assert request.due is None and request.text == "payment due"
    request = parse_action("fix what is due <@U1|ann> due in 2 days", MONDAY)
    assert request.due == date(2026, 11, 25) and request.text == "fix what is due"
    # a mention after `due` means the clause is not final
    request = parse_action("due by <@U1|ann>", MONDAY)
    assert request.due is None and request.owner_id == "U1"


def test_a_final_due_clause_that_is_no_date_is_refused():
    for text in ("rotate keys due next week", "rotate keys due 2026-02-30", "rotate keys due fri at noon"):
        with pytest.raises(DueError):
            parse_action(text, MONDAY)


def test_describe_due():
    assert describe_due(MONDAY, MONDAY) == "Mon 2026-11-23 (today)"
    assert describe_due(MONDAY - timedelta(days=1), MONDAY) == "Sun 2026-11-22 (1 day overdue)"
    assert describe_due(MONDAY - timedelta(days=3), MONDAY) == "Fri 2026-11-20 (3 days overdue)"
    assert describe_due(MONDAY + timedelta(days=4), MONDAY) == "Fri 2026-11-27"
    assert describe_due(None, MONDAY) == "no due date"


def test_a_long_item_in_the_list_is_cut_before_it_is_escaped():
    item = ActionItem(id=3, incident_id=1, text="a" * 596 + "&amp;&lt;b&gt;" + "c" * 40, owner_id=None, due=None)
    first_line = item_line(item, MONDAY).split("\n")[0]
    assert first_line == "*#3* " + "a" * 596 + "…"  # `&amp;` does not fit whole; never `&am…`
    many = ActionItem(id=4, incident_id=1, text="&amp;" * 5_000, owner_id=None, due=None)
    line = item_line(many, MONDAY).split("\n")[0]
    assert not re.search(r"&(?!amp;|lt;|gt;)", line) and len(line) <= 700


# --- which message a button press rewrites --------------------------------------------------------

DM_BLOCKS = ({"type": "section", "block_id": "reminder_item:7", "text": {"type": "mrkdwn", "text": "*#7* x"}},)


def test_a_press_in_a_reminder_dm_rewrites_that_message_once_however_often_pressed():
    press = ButtonPress("action_done", "U0BOB", "7", "reminder_buttons:7", channel_id="D0BOB",
                        message_ts="1700000700.001000", message_text="Overdue", message_blocks=DM_BLOCKS)
    job, key = rewrite_job(press, 7, None, None, None)
    assert (job["channel"], job["ts"], job["digest"], job["blocks"]) == ("D0BOB", "1700000700.001000", [7],
                                                                         list(DM_BLOCKS))
    assert key == "rewrite:D0BOB:1700000700.001000"  # queued rewrites of one message collapse into one


def test_a_press_in_an_ephemeral_message_is_rewritten_through_its_response_url_or_not_at_all():
    press = ButtonPress("action_done", "U0BOB", "7", "reminder_buttons:7", channel_id="C0INC01",
                        message_ts="1700000700.001000", ephemeral=True, response_url="https://hooks.example/1")
    job, key = rewrite_job(press, 7, None, None, None)
    assert (job["response_url"], job["text"], key) == ("https://hooks.example/1", "Overdue action items", None)
    no_url = ButtonPress("action_done", "U0BOB", "7", "action_item_buttons:7")
    item = ActionItem(id=7, incident_id=1, text="x", status="done")
    assert rewrite_job(no_url, 7, item, [item], MONDAY) == (None, None)
