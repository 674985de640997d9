"""Action items in Jira Cloud, both ways, through the real app, the outbox and the Jira stand-in
(docs/trackers.md, "Jira Cloud"). Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime

import pytest

from storage.models import ActionItem
from tests.bot.commands.test_incident import open_incident
from bot.outbox import MAX_ATTEMPTS
from tests.support import rows, trackers
from tests.support import slack_requests as sr
from tests.support.harness import call_wsgi
from tests.support.jira_standin import EMAIL, TOKEN, JiraStandIn
from tests.support.trackers import Clock, drain_at_once, items

SECRET = "jira-webhook-secret-0123456789"
NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def jira():
    server = JiraStandIn().start()
    server.add_user("5b10dana", "Dana Scully", "dana@acme.example")
    yield server
    server.stop()
    assert server.violations == [], server.violations


@pytest.fixture
def tracked(make_bot, jira, standin):
    standin.add_user("U0DANA", name="dana", email="dana@acme.example")
    bots = []

    def make(clock=None, **overrides):
        values = {"tracker": "jira", "jira_base_url": jira.base_url, "jira_email": EMAIL,
                  "jira_api_token": TOKEN, "jira_project": "OPS", "jira_webhook_secret": SECRET}
        values.update(overrides)
        bots.append(make_bot(clock=clock or Clock(NOW), **values))
        return bots[-1]

    yield make
    for bot in bots:
        bot.services.tracker().shutdown()


def add_item(bot, channel, text="fix the retry storm <@U0DANA|dana> due 2026-12-04") -> ActionItem:
    return trackers.add_item(bot, channel, text)


def creates(jira):
    return jira.calls_to("POST", "/rest/api/3/issue")


def delivery(jira, key: str, secret: str = SECRET, identifier: str = "d0c1e2f3", **kwargs):
    raw = json.dumps(jira.webhook_issue_updated(key, **kwargs)).encode()
    headers = {"content-type": "application/json", "X-Atlassian-Webhook-Identifier": identifier,
               "X-Hub-Signature": "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()}
    return raw, headers


def webhook(bot, raw: bytes, headers: dict):
    return call_wsgi(bot.app, raw.decode("utf-8"), headers, path="/webhooks/jira")


def test_an_action_item_becomes_one_jira_issue_assigned_by_the_owners_slack_email(tracked, jira):
    bot = tracked()
    channel = open_incident(bot, title="Checkout errors sev2")
    add_item(bot, channel)
    bot.drain()
    bot.drain()

    [call] = creates(jira)
    fields = call.body["fields"]
    assert fields["summary"] == "fix the retry storm (INC-1)"
    assert fields["duedate"] == "2026-12-04" and fields["assignee"] == {"id": "5b10dana"}
    assert "incident" in fields["labels"]
    [item] = items(bot)
    assert (item.tracker, item.tracker_key, item.tracker_state) == ("jira", "OPS-17", "open")
    assert item.tracker_url == f"{jira.base_url}/browse/OPS-17"
    shown = json.dumps(bot.command("actions", channel_id=channel)["blocks"])
    assert f"<{jira.base_url}/browse/OPS-17|Jira OPS-17>" in shown


def test_a_create_whose_answer_was_lost_is_found_by_its_marker_not_made_again(tracked, jira):
    clock = Clock(NOW)
    bot = tracked(clock)
    channel = open_incident(bot)
    jira.fail("POST", r"/rest/api/3/issue$", effect=True, drop=True)
    add_item(bot, channel)
    bot.drain()
    assert items(bot)[0].tracker_key is None and len(jira.issues) == 1
    clock.advance(seconds=30)
    bot.drain()
    assert not jira.calls_to("POST", "/rest/api/3/search/jql")  # waits for Jira's search index
    clock.advance(seconds=31)
    bot.drain()
    assert len(creates(jira)) == 1
    assert items(bot)[0].tracker_key == "OPS-17"
    assert jira.calls_to("POST", "/rest/api/3/search/jql")


def test_closed_in_jira_closes_the_item_once_and_not_the_issue_again(tracked, jira):
    bot = tracked()
    channel = open_incident(bot)
    add_item(bot, channel)
    bot.drain()
    jira.set_status("OPS-17", "10001")
    raw, headers = delivery(jira, "OPS-17")

    response = webhook(bot, raw, headers)
    assert response.status == 200, response.body
    [item] = items(bot)
    assert item.status == "done" and item.tracker_state == "closed"
    bot.drain()
    assert not jira.calls_to("POST", r"/rest/api/3/issue/OPS-17/transitions")

    jira.set_status("OPS-17", "10000")  # then reopened in Jira
    reopened, reopened_headers = delivery(jira, "OPS-17", identifier="later", from_status="10001")
    assert webhook(bot, reopened, reopened_headers).status == 200
    assert items(bot)[0].status == "open"

    again = webhook(bot, raw, headers)  # a replay of the first delivery changes nothing
    assert again.status == 200 and "already applied" in again.body
    assert items(bot)[0].status == "open"


def test_reopened_in_jira_reopens_the_item(tracked, jira):
    bot = tracked()
    channel = open_incident(bot)
    add_item(bot, channel)
    bot.drain()
    jira.set_status("OPS-17", "10001", "10001")  # Won't Do
    raw, headers = delivery(jira, "OPS-17", identifier="first")
    assert webhook(bot, raw, headers).status == 200
    assert items(bot)[0].status == "dropped"
    jira.set_status("OPS-17", "10000")
    raw, headers = delivery(jira, "OPS-17", identifier="second", from_status="10001")
    assert webhook(bot, raw, headers).status == 200
    assert items(bot)[0].status == "open"


def _signed(body: dict, identifier: str) -> tuple[bytes, dict]:
    raw = json.dumps(body).encode()
    return raw, {"content-type": "application/json", "X-Atlassian-Webhook-Identifier": identifier,
                 "X-Hub-Signature": "sha256=" + hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()}


@pytest.mark.parametrize("oddity", ["changelog is a list", "items is a string", "issue is a list",
                                    "fields is a list", "status is a string", "resolution is a string"])
def test_a_signed_delivery_of_an_odd_shape_is_refused_in_one_line_and_changes_nothing(tracked, jira, caplog,
                                                                                        oddity):
    bot = tracked()
    channel = open_incident(bot)
    add_item(bot, channel)
    bot.drain()
    jira.set_status("OPS-17", "10001")
    body = jira.webhook_issue_updated("OPS-17")
    if oddity == "changelog is a list":
        body["changelog"] = body["changelog"]["items"]
    elif oddity == "items is a string":
        body["changelog"]["items"] = "status"
    elif oddity == "issue is a list":
        body["issue"] = [body["issue"]]
    elif oddity == "fields is a list":
        body["issue"]["fields"] = [body["issue"]["fields"]]
    elif oddity == "status is a string":
        body["issue"]["fields"]["status"] = "Done"
    else:
        body["issue"]["fields"]["resolution"] = "Won't Do"
    caplog.clear()
    response = webhook(bot, *_signed(body, "odd-1"))
    assert response.status == 400 and "nothing was changed" in response.body
    assert items(bot)[0].status == "open"
    lines = [r for r in caplog.records if r.name == "bot.webhooks"]
    assert len(lines) == 1 and "shaped unlike an issue event" in lines[0].getMessage()
    assert "Traceback" not in caplog.text
    # the same delivery, well formed, is applied: the odd one was not remembered as seen
    assert webhook(bot, *_signed(jira.webhook_issue_updated("OPS-17"), "odd-1")).status == 200
    assert items(bot)[0].status == "done"


def test_a_forged_or_unsigned_delivery_is_refused_and_changes_nothing(tracked, jira):
    bot = tracked()
    channel = open_incident(bot)
    add_item(bot, channel)
    bot.drain()
    jira.set_status("OPS-17", "10001")
    raw, forged = delivery(jira, "OPS-17", secret="not-the-secret")
    assert webhook(bot, raw, forged).status == 401
    unsigned = {k: v for k, v in forged.items() if k != "X-Hub-Signature"}
    assert webhook(bot, raw, unsigned).status == 401
    assert items(bot)[0].status == "open"


@pytest.mark.parametrize(("button", "comments"), [("action_done", 0), ("action_drop", 1)])
def test_done_or_drop_in_slack_takes_the_done_transition(tracked, jira, standin, button, comments):
    bot = tracked()
    channel = open_incident(bot)
    item = add_item(bot, channel)
    bot.drain()
    response = bot.interact(sr.block_actions(button, str(item.id), channel_id=channel,
                                             block_id=f"action_item_buttons:{item.id}",
                                             response_url=standin.response_url("list")))
    assert response.status == 200
    bot.drain()
    issue = jira.issues["OPS-17"]
    assert issue.fields["status"] == "10001"
    assert len(issue.comments) == comments
    assert items(bot)[0].tracker_state == "closed"


def test_the_sweep_polls_what_changed_in_jira(tracked, jira):
    bot = tracked()
    channel = open_incident(bot)
    add_item(bot, channel)
    add_item(bot, channel, "second item")
    bot.drain()
    jira.set_status("OPS-18", "10001")
    from bot.jobs import trackers as tracker_jobs

    tracker_jobs.poll(bot.services, {})
    searches = jira.calls_to("POST", "/rest/api/3/search/jql")
    assert len(searches) == 1 and "key in" in searches[0].body["jql"]
    assert [i.status for i in items(bot)] == ["open", "done"]


def test_polling_an_issue_resolved_wont_do_drops_the_item_as_the_webhook_would(tracked, jira):
    bot = tracked()
    channel = open_incident(bot)
    add_item(bot, channel)
    bot.drain()
    jira.set_status("OPS-17", "10001", "10001")  # Done, resolution Won't Do
    from bot.jobs import trackers as tracker_jobs

    tracker_jobs.poll(bot.services, {})
    [item] = items(bot)
    assert (item.status, item.tracker_state) == ("dropped", "closed")


def test_a_refused_token_is_told_to_the_commander_once_naming_the_settings(tracked, jira, standin):
    bot = tracked(jira_api_token="ATATT3xFfGF0-wrong-token-value-000")
    channel = open_incident(bot)
    add_item(bot, channel, "one")
    add_item(bot, channel, "two")
    bot.drain()
    dms = [c for c in standin.calls_to("chat.postMessage")
           if "Jira refused the bot's change" in c.get("text", "")]
    assert len(dms) == 1
    assert "JIRA_API_TOKEN" in dms[0]["text"] and "wrong-token" not in dms[0]["text"]
    assert not jira.issues


def test_jira_down_for_a_minute_then_back_creates_the_issue_once(tracked, jira):
    clock = Clock(NOW)
    bot = tracked(clock)
    channel = open_incident(bot)
    bot.services.tracker().issue_type_id()  # a running bot has met Jira before
    jira.down()
    add_item(bot, channel)
    reply = bot.command("actions", channel_id=channel)  # Slack is answered meanwhile
    assert "fix the retry storm" in json.dumps(reply)
    for _ in range(6):
        bot.drain()
        clock.advance(seconds=10)
    jira.up()
    for _ in range(6):
        bot.drain()
        clock.advance(seconds=10)
    [item] = items(bot)
    assert item.tracker_key == "OPS-17" and item.tracker_error is None
    assert len(jira.issues) == 1


def test_two_replicas_draining_at_once_create_each_issue_once(tracked, jira):
    clock = Clock(NOW)
    first, second = tracked(clock), tracked(clock)
    channel = open_incident(first)
    for n in range(4):
        add_item(first, channel, f"item {n}")
    jira.latency = 0.05  # each create takes a while: the other replica has time to try the same
    drain_at_once(first, second)
    assert len(creates(jira)) == 4
    assert sorted(i.tracker_key for i in items(first)) == ["OPS-17", "OPS-18", "OPS-19", "OPS-20"]


def test_jira_failing_without_retry_after_is_retried_with_the_outbox_backoff_like_github(tracked, jira):
    """A 5xx naming no wait: retried ever more slowly (the outbox's backoff), not every 30 seconds, so the
    item is given up only after about forty minutes, as with GitHub."""
    clock = Clock(NOW)
    bot = tracked(clock)
    channel = open_incident(bot)
    bot.services.tracker().issue_type_id()
    jira.fail("POST", r"/rest/api/3/issue$", 503, times=None)
    jira.fail("POST", r"/rest/api/3/search/jql", 503, times=None)
    add_item(bot, channel)
    waits = rows.retry_waits(bot, clock, "tracker_create")
    assert waits[0] >= 60  # the create may have happened: the search index is given time to settle
    assert waits[1:5] == [4, 8, 16, 32]  # then growing, as nothing named a wait
    assert max(waits) == 300  # up to the outbox's cap
    assert len(waits) == MAX_ATTEMPTS - 1 and sum(waits) > 35 * 60  # about forty minutes
    assert items(bot)[0].tracker_error is not None  # given up at last, with the Retry button


def test_a_retry_after_longer_than_the_backoff_is_waited_for(tracked, jira):
    clock = Clock(NOW)
    bot = tracked(clock)
    channel = open_incident(bot)
    bot.services.tracker().issue_type_id()
    jira.fail("POST", r"/rest/api/3/issue$", 429, retry_after=170, times=1)
    add_item(bot, channel)
    bot.drain()
    assert not jira.issues
    clock.advance(seconds=160)
    bot.drain()
    assert not jira.issues  # not before Jira's time
    clock.advance(seconds=11)
    bot.drain()
    assert items(bot)[0].tracker_key == "OPS-17"
