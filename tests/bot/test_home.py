"""The Home tab: published when opened (app_home_opened) and, throttled, when what it shows changes;
its lists page within Slack's 100 blocks; its buttons behave like the same buttons elsewhere."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot import home, home_tab
from storage import action_items, incidents
from storage.models import ActionItem, Incident, Milestone
from tests.bot.commands.test_incident import open_incident
from tests.bot.test_reminders import Clock
from tests.support import rows
from tests.support import slack_requests as sr
from tests.support.slack_limits import breaches
from tests.test_injection import ENCODED, assert_harmless

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # 10:00 in Berlin
BERLIN = ZoneInfo("Europe/Berlin")
ALICE, BOB = "U0USER1", "U0USER2"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "payloads"
AFTER_THROTTLE = home_tab.MIN_INTERVAL + timedelta(seconds=1)


def publications(standin, user_id: str | None = None) -> list[dict]:
    """The views published, oldest first (each with its `user_id`)."""
    found = []
    for call in standin.calls_to("views.publish"):
        view = call["view"]
        view = json.loads(view) if isinstance(view, str) else view
        if user_id is None or call["user_id"] == user_id:
            found.append({"user_id": call["user_id"], "view": view})
    return found


def last_view(standin, user_id: str = ALICE) -> dict:
    published = publications(standin, user_id)
    assert published, f"no Home view was published for {user_id}"
    return published[-1]["view"]


def texts(view: dict) -> str:
    return json.dumps(view["blocks"], ensure_ascii=False)


def buttons(view: dict) -> list[tuple[str, str, str]]:
    return [(e["action_id"], e["value"], e["text"]["text"]) for b in view["blocks"] if b["type"] == "actions"
            for e in b["elements"]]


@pytest.fixture
def clock():
    return Clock(NOW)


@pytest.fixture
def setup(make_bot, standin, clock):
    """A bot on a frozen clock with INC-1 open (commander Alice, in Berlin)."""
    def make(**settings):
        standin.add_user(ALICE, tz="Europe/Berlin", name="alice")
        bot = make_bot(clock=clock, **settings)
        channel = open_incident(bot)
        clock.now = NOW + AFTER_THROTTLE  # the refresh its start queued for every viewer (none yet) is done
        bot.drain()
        clock.now = NOW
        standin.reset()
        return bot, channel

    return make


def open_home(bot, user_id: str = ALICE, tab: str = "home"):
    response = bot.event(sr.app_home_opened(user_id, tab=tab))
    assert response.status == 200
    bot.drain()
    return response


# --- opening it ---------------------------------------------------------------------------------


def test_opening_the_home_tab_publishes_the_open_incidents_in_the_viewers_zone(setup, standin, clock):
    bot, channel = setup()
    clock.now = NOW + timedelta(hours=1, minutes=6)
    envelope = json.loads((FIXTURES / "app_home_opened.json").read_text())  # as Slack sends it, view included
    body = json.dumps(envelope)
    assert bot.post(body, sr.signed_headers(body, content_type="application/json")).status == 200
    bot.drain()

    [published] = publications(standin)
    view = published["view"]
    assert published["user_id"] == ALICE and view["type"] == "home" and view["callback_id"] == "incident_home"
    shown = texts(view)
    assert "*INC-1* · SEV2 · Investigating · Checkout errors" in shown
    assert f"Commander: <@{ALICE}> · open 1 h 6 min (declared 10:00 CET (UTC+01:00)) · <#{channel}>" in shown
    assert "Updated 2026-11-23 11:06 CET (UTC+01:00). Times are in your zone, Europe/Berlin." in shown
    assert breaches(view, surface="view") == []


def test_the_request_has_the_shape_of_slacks_example(setup, standin):
    bot, _ = setup()
    open_home(bot)
    example = json.loads((FIXTURES / "views_publish_request.json").read_text())
    [call] = standin.calls_to("views.publish")
    view = json.loads(call["view"]) if isinstance(call["view"], str) else call["view"]
    assert {"user_id", "view"} <= set(call.params) and set(view) <= set(example["view"])
    assert view["type"] == example["view"]["type"] and view["callback_id"] == example["view"]["callback_id"]


def test_the_messages_tab_publishes_nothing(setup, standin):
    bot, _ = setup()
    open_home(bot, tab="messages")
    assert standin.calls_to("views.publish") == []
    with bot.db.read() as session:
        assert rows.pending_jobs(session) == []


def test_opening_while_the_database_does_not_answer_fails_so_slack_delivers_it_again(setup, standin):
    bot, _ = setup()
    bot.db.inject_fault("home_viewer")
    event = sr.app_home_opened(ALICE)
    assert bot.event(event).status == 500
    assert standin.calls_to("views.publish") == []
    assert bot.event(event, retry_num=1).status == 200  # Slack's redelivery
    bot.drain()
    assert len(publications(standin, ALICE)) == 1


def test_nothing_open_says_how_to_start_and_a_new_incident_appears_for_viewers(setup, standin, clock):
    bot, channel = setup()
    bot.command("resolved", channel_id=channel)
    clock.now += AFTER_THROTTLE
    open_home(bot, BOB)
    assert "No open incidents. Start one with `/incident start &lt;title&gt;`" in texts(last_view(standin, BOB))
    assert "Recently resolved" in texts(last_view(standin, BOB))
    open_incident(bot, "Search is slow sev3")
    clock.now += AFTER_THROTTLE
    bot.drain()
    assert "*INC-2* · SEV3 · Investigating · Search is slow" in texts(last_view(standin, BOB))


# --- my action items: the same buttons as a reminder DM ----------------------------------------------


def test_my_open_items_show_with_done_and_snooze_and_a_press_updates_the_item_and_the_tab(setup, standin, clock):
    bot, channel = setup()
    bot.command(f"action Add retries <@{ALICE}|alice> due 2026-11-30", channel_id=channel)
    bot.command(f"action Someone else's <@{BOB}|bob>", channel_id=channel)
    open_home(bot)
    view = last_view(standin)
    assert "*#1* Add retries" in texts(view) and "Someone else" not in texts(view)
    assert buttons(view) == [("action_done", "1", "Done"), ("action_snooze_1d", "1", "Snooze 1 day"),
                             ("action_snooze_1w", "1", "Snooze 1 week")]

    response = bot.interact(sr.home_block_actions("action_done", "1", user_id=ALICE, block_id="reminder_buttons:1"))
    assert response.status == 200
    bot.drain()  # the presser's own tab is republished at once, not after the throttle
    with bot.db.read() as session:
        item = session.get(ActionItem, 1)
    assert (item.status, item.closed_by) == ("done", ALICE)
    assert "Action #1 done: Add retries" in [i.text for i in bot.timeline(1)]
    after = last_view(standin)
    assert "Add retries" not in texts(after) and "Nothing waiting on you." in texts(after)
    assert standin.calls_to("chat.update") == []  # no message to rewrite: the tab is the message


def test_snooze_from_the_home_tab_snoozes_like_the_dm(setup, standin, clock):
    bot, channel = setup()
    bot.command(f"action Add retries <@{ALICE}|alice>", channel_id=channel)
    open_home(bot)
    bot.interact(sr.home_block_actions("action_snooze_1w", "1", user_id=ALICE, block_id="reminder_buttons:1"))
    with bot.db.read() as session:
        assert session.get(ActionItem, 1).snoozed_until == NOW + timedelta(weeks=1)
    bot.drain()
    assert "reminders snoozed until 2026-11-30 10:00 CET (UTC+01:00)" in texts(last_view(standin))


# --- postmortem questions waiting on me -----------------------------------------------------------


def test_questions_waiting_on_me_show_their_buttons_until_answered(setup, standin, clock):
    bot, channel = setup()
    bot.command("log rolled back", channel_id=channel, user_id=BOB)
    open_home(bot, BOB)
    assert "Postmortem questions" not in texts(last_view(standin, BOB))
    bot.command("resolved", channel_id=channel)
    clock.now += AFTER_THROTTLE
    bot.drain()
    view = last_view(standin, BOB)
    assert "Postmortem questions waiting on you" in texts(view)
    assert [b[:2] for b in buttons(view)] == [("prompt_root_cause", "1"), ("prompt_went", "1"), ("prompt_action", "1")]

    answered = sr.view_submission("postmortem_root_cause", sr.view_state(root_cause="A bad deploy"), user_id=BOB,
                                  private_metadata="1")
    assert bot.interact(answered).status == 200
    bot.drain()
    assert [b[0] for b in buttons(last_view(standin, BOB))] == ["prompt_went", "prompt_action"]


# --- never more than 100 blocks ------------------------------------------------------------------


def seed(bot, open_count: int, items: int, owner: str = ALICE, standin=None) -> None:
    long_title = (ENCODED + " ") * 40  # far longer than any line shows
    for n in range(open_count if standin is not None else 0):  # public channels Slack knows
        standin.add_channel(f"C0SEED{n:05d}", f"inc-seed-{n}")
    with bot.db.write() as session:
        for n in range(open_count):
            incidents.add_incident(session, Incident(title=f"Outage {n + 2} {long_title}", severity="sev3",
                                                     created_by=BOB, commander_id="U0BOB", channel_id=f"C0SEED{n:05d}",
                                                     created_at=NOW - timedelta(minutes=n)))
        for n in range(items):
            action_items.add_action_item(session, ActionItem(incident_id=1, text=f"item {n} " + long_title,
                                                             owner_id=owner, due=date(2026, 12, 1), status="open",
                                                             created_at=NOW))
        for n in range(8):  # more resolved incidents than the tab shows
            resolved = incidents.add_incident(session, Incident(title=f"Old {n} {long_title}", status="resolved",
                                                                created_by=BOB, created_at=NOW - timedelta(days=9)))
            incidents.put_milestone(session, Milestone(incident_id=resolved.id, name="resolved",
                                                       at=NOW - timedelta(days=8, minutes=n), recorded_at=NOW))


def test_500_open_incidents_and_300_items_fit_in_100_blocks_and_page_with_more(setup, standin):
    bot, _ = setup()
    seed(bot, 500, 300, standin=standin)
    open_home(bot)
    view = last_view(standin)
    assert len(view["blocks"]) <= 100 and breaches(view, surface="view") == []
    assert len(json.dumps(view)) < 250_000  # views.publish refuses larger views (view_too_large)
    assert_harmless(view, "the Home tab")
    shown = texts(view)
    assert "Open incidents (501)" in shown and "Your open action items (300)" in shown
    assert shown.count("home_incident:") == home.INCIDENTS_PER_PAGE and shown.count("home_item:") == home.ITEMS_PER_PAGE
    assert "home_incident:501" in shown and "home_incident:481" not in shown  # newest first
    assert ("home_page_more_incidents", "incidents:1", "More (21–40 of 501 incidents)") in buttons(view)
    assert ("home_page_more_items", "items:1", "More (11–20 of 300 items)") in buttons(view)
    assert shown.count("home_resolved:") == home.RESOLVED_SHOWN

    bot.interact(sr.home_block_actions("home_page_more_incidents", "incidents:1", block_id="home_pages:incidents"))
    bot.drain()
    page = last_view(standin)
    assert "home_incident:481" in texts(page) and "home_incident:501" not in texts(page)
    assert "Showing incidents 21–40 of 501." in texts(page)
    assert ("home_page_previous_incidents", "incidents:0", "Previous") in buttons(page)
    assert len(page["blocks"]) <= 100 and breaches(page, surface="view") == []

    bot.interact(sr.home_block_actions("home_page_more_items", "items:29", block_id="home_pages:items"))
    bot.drain()
    last = last_view(standin)
    assert "Showing items 291–300 of 300." in texts(last) and "home_incident:481" in texts(last)  # pages kept
    assert not [b for b in buttons(last) if b[0] == "home_page_more_items"]

    open_home(bot)  # opening it again starts from the first pages
    assert "home_incident:501" in texts(last_view(standin))


def test_a_page_beyond_the_end_shows_the_last_one(setup, standin):
    bot, _ = setup()
    seed(bot, 30, 0, standin=standin)
    open_home(bot)
    bot.interact(sr.home_block_actions("home_page_more_incidents", "incidents:40", block_id="home_pages:incidents"))
    bot.drain()
    assert "Showing incidents 21–31 of 31." in texts(last_view(standin))


@pytest.mark.parametrize("value", ["incidents:-1", "nothing:1", "items:1; DROP TABLE", "", "incidents:9999999"])
def test_a_forged_page_button_changes_nothing(setup, standin, value):
    bot, _ = setup()
    open_home(bot)
    standin.reset()
    assert bot.interact(sr.home_block_actions("home_page_more_incidents", value)).status == 200
    bot.drain()
    assert standin.calls_to("views.publish") == []


# --- throttled refreshes, only for people who opened it ----------------------------------------


def test_a_burst_of_changes_gives_one_republish_per_viewer_not_one_each(setup, standin, clock):
    bot, channel = setup()
    for user in (ALICE, BOB, "U0CAROL"):
        open_home(bot, user)
    standin.reset()
    for n in range(20):
        bot.command(f"severity sev{1 + n % 2}", channel_id=channel)
    bot.command("role commander <@U0DANA|dana>", channel_id=channel)
    bot.drain()
    assert standin.calls_to("views.publish") == []  # not yet: throttled
    clock.now += AFTER_THROTTLE
    bot.drain()
    assert sorted(p["user_id"] for p in publications(standin)) == sorted([ALICE, BOB, "U0CAROL"])
    assert "Commander: <@U0DANA>" in texts(last_view(standin, BOB))

    bot.command("mitigated", channel_id=channel)  # the next change, after the interval: one more each
    clock.now += AFTER_THROTTLE
    bot.drain()
    assert len(publications(standin)) == 6 and "Mitigated" in texts(last_view(standin, BOB))


def test_changes_that_do_not_show_and_people_who_never_opened_it_publish_nothing(setup, standin, clock):
    bot, channel = setup()
    bot.command("log a line", channel_id=channel)
    bot.command("summary what happened", channel_id=channel)
    bot.command(f"action For Bob <@{BOB}|bob>", channel_id=channel)  # Bob never opened the tab
    clock.now += AFTER_THROTTLE
    bot.drain()
    assert standin.calls_to("views.publish") == []


def test_a_new_item_for_a_viewer_refreshes_only_their_tab(setup, standin, clock):
    bot, channel = setup()
    open_home(bot, ALICE)
    open_home(bot, BOB)
    standin.reset()
    bot.command(f"action For Bob <@{BOB}|bob>", channel_id=channel)
    clock.now += AFTER_THROTTLE
    bot.drain()
    assert [p["user_id"] for p in publications(standin)] == [BOB]
    assert "For Bob" in texts(last_view(standin, BOB))


# --- the view (pure): times in the viewer's zone, across midnight and DST ---------------------------


def view_at(now: datetime, declared: datetime, zone=BERLIN) -> str:
    data = home.Home(viewer=ALICE, zone=zone, now=now, incidents_total=1, incidents=(
        home.OpenIncident(7, "Checkout errors", "sev1", "open", ALICE, "C0INC07", declared),))
    return texts(home.home_view(data))


def test_time_open_across_midnight_shows_the_date_it_was_declared():
    shown = view_at(datetime(2026, 11, 22, 23, 10, tzinfo=UTC), datetime(2026, 11, 22, 22, 50, tzinfo=UTC))
    assert "open 20 min (declared 2026-11-22 23:50 CET (UTC+01:00))" in shown
    assert "Updated 2026-11-23 00:10 CET (UTC+01:00)" in shown


def test_time_open_across_a_dst_change_is_the_true_elapsed_time():
    shown = view_at(datetime(2026, 3, 29, 2, 30, tzinfo=UTC), datetime(2026, 3, 29, 0, 30, tzinfo=UTC))
    assert "open 2 h 0 min (declared 01:30 CET (UTC+01:00))" in shown
    assert "Updated 2026-03-29 04:30 CEST (UTC+02:00)" in shown
    in_tokyo = view_at(datetime(2026, 3, 29, 2, 30, tzinfo=UTC), datetime(2026, 3, 29, 0, 30, tzinfo=UTC),
                       ZoneInfo("Asia/Tokyo"))
    assert "(declared 09:30 JST (UTC+09:00))" in in_tokyo and "your zone, Asia/Tokyo" in in_tokyo


def test_an_incident_in_a_private_channel_shows_only_on_its_members_tabs(setup, standin, clock):
    """As on the web view: to someone outside a private incident channel, the incident does not exist."""
    bot, _ = setup()
    from tests.support.standin import BOT_USER_ID

    standin.add_channel("C0SECRET1", "inc-secret", private=True, members=(ALICE, BOT_USER_ID))
    with bot.db.write() as session:
        incidents.add_incident(session, Incident(title="Payroll data exposure", severity="sev1", created_by=ALICE,
                                                 commander_id=ALICE, channel_id="C0SECRET1", created_at=NOW))
    open_home(bot, ALICE)
    assert "Payroll data exposure" in texts(last_view(standin))
    open_home(bot, BOB)
    view = last_view(standin, BOB)
    assert "Payroll data exposure" not in texts(view) and "Open incidents (1)" in texts(view)

    standin.fail("conversations.list", "ratelimited", times=None)  # Slack cannot say: hidden, not shown
    standin.fail("users.conversations", "ratelimited", times=None)
    bot.services.visibility().__init__(bot.services.slack)  # forget what Slack said before
    open_home(bot, ALICE)
    assert "Payroll data exposure" not in texts(last_view(standin))
