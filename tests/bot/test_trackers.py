"""Action items in GitHub Issues, both ways, through the real app, the outbox and a GitHub stand-in
(docs/trackers.md). Every storage behaviour here runs on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime, timedelta

import pytest

from bot import cli, reminders
from bot.action_blocks import RETRY_TRACKER_ACTION
from bot.outbox import MAX_ATTEMPTS
from bot.trackers import github as github_client
from storage import action_items
from storage.models import ActionItem, Incident
from tests.bot.commands.test_incident import open_incident
from tests.support import rows, trackers
from tests.support import slack_requests as sr
from tests.support.github_standin import REPO, TOKEN, GitHubStandIn
from tests.support.harness import Harness, call_wsgi
from tests.support.trackers import Clock, drain_at_once, items

SECRET = "It's a Secret to Everybody"
NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def github():
    server = GitHubStandIn().start()
    yield server
    server.stop()
    assert server.violations == [], server.violations  # every request matched GitHub's description


@pytest.fixture(autouse=True)
def _no_spacing(monkeypatch):
    monkeypatch.setattr(github_client, "CREATE_SPACING_S", 0.0)


@pytest.fixture
def tracked(make_bot, github):
    def make(clock=None, **overrides) -> Harness:
        values = {"tracker": "github", "github_token": TOKEN, "github_repo": REPO, "github_api_url": github.api_url,
                  "github_webhook_secret": SECRET}
        values.update(overrides)
        return make_bot(clock=clock or Clock(NOW), **values)

    return make


def add_item(bot, channel, text="add retry backoff <@U0DANA|dana> due 2026-12-04") -> ActionItem:
    return trackers.add_item(bot, channel, text)


def creates(github):
    return github.calls_to("POST", f"/repos/{REPO}/issues")


def list_view(bot, channel) -> str:
    reply = bot.command("actions", channel_id=channel)
    return json.dumps(reply["blocks"])


# ---------------------------------------------------------------------------------------------
# created once


def test_an_action_item_gets_one_github_issue_with_its_text_incident_due_date_and_label(tracked, github, standin):
    standin.add_user("U0DANA", name="Dana")
    bot = tracked()
    channel = open_incident(bot, title="Checkout errors sev2")
    item = add_item(bot, channel, "fix the retry storm <@U0DANA|dana> due 2026-12-04")
    bot.drain()
    [call] = creates(github)
    assert call.body["labels"] == ["incident"]
    assert call.body["title"] == "fix the retry storm (INC-1)"
    body = call.body["body"]
    assert "fix the retry storm" in body and "INC-1: Checkout errors" in body
    assert "**Due:** 2026-12-04" in body and "Dana" in body
    assert f"/archives/{channel})" in body  # the link back to the incident channel
    assert f"incident-bot:item:{item.id}" in body
    [stored] = items(bot)
    assert (stored.tracker, stored.tracker_key, stored.tracker_state) == ("github", "1", "open")
    assert stored.tracker_url == f"https://github.com/{REPO}/issues/1"
    # the link is shown where the item is
    assert f"<https://github.com/{REPO}/issues/1|GitHub #1>" in list_view(bot, channel)


def test_user_text_never_becomes_a_mention_reference_or_link_on_github(tracked, github):
    bot = tracked()
    channel = open_incident(bot)
    add_item(bot, channel, "ping @octocat about #12 and <https://evil.example|click> <!channel> <b>x</b>")
    bot.drain()
    body = creates(github)[0].body["body"]
    first = body.split("\n")[0]
    assert "@octocat" not in first and "@&#8203;octocat" in first
    assert "#12" not in first and "#&#8203;12" in first
    assert "](https://evil" not in first and "<b>" not in first and "<https:" not in first


def test_cross_repository_and_gh_references_typed_in_slack_stay_dead_on_github(tracked, github):
    bot = tracked()
    channel = open_incident(bot, title="acme/web#3 broke after GH-12")
    add_item(bot, channel, "revert acme/web#3, see GH-12, gh-7, x#9, &#12; and \\#5 but keep a@b.example")
    bot.drain()
    body = creates(github)[0].body["body"]
    live = re.compile(r"(?<![&\w])[\w.-]+/[\w.-]+#\d|(?<!&)#\d|\bGH-\d|(?<![\w&])@\w", re.IGNORECASE)
    assert not live.findall(body.replace(f"incident-bot:item:1", "")), body
    first = body.split("\n")[0]
    assert "acme/web#&#8203;3" in first and "GH-&#8203;12" in first and "gh-&#8203;7" in first
    assert "x#&#8203;9" in first
    assert "acme/web#&#8203;3 broke after GH-&#8203;12" in body  # the incident's title too


def test_a_modal_submitted_twice_makes_one_item_and_one_issue(tracked, github):
    bot = tracked()
    channel = open_incident(bot)
    payload = sr.view_submission("postmortem_action", sr.view_state(text="rotate the keys", owner="U0DANA",
                                                                    due="2026-12-09"),
                                 private_metadata="1", view_id="V0SAME")
    for _ in range(3):  # Slack retries a slow answer; a person double-clicks
        assert bot.interact(payload).status == 200
    bot.drain()
    assert len(items(bot)) == 1
    assert len(creates(github)) == 1
    assert channel


def test_two_replicas_draining_at_once_create_the_issue_once(tracked, github):
    clock = Clock(NOW)
    first, second = tracked(clock), tracked(clock)
    channel = open_incident(first)
    for n in range(5):
        add_item(first, channel, f"item {n}")
    drain_at_once(first, second)
    assert len(creates(github)) == 5
    assert sorted(i.tracker_key for i in items(first)) == ["1", "2", "3", "4", "5"]


def test_a_create_whose_answer_was_lost_is_found_by_its_marker_not_made_again(tracked, github):
    clock = Clock(NOW)
    bot = tracked(clock)
    channel = open_incident(bot)
    github.fail("POST", f"/repos/{REPO}/issues", 502, after=True)  # made, but the bot hears 502
    item = add_item(bot, channel)
    bot.drain()
    assert items(bot)[0].tracker_key is None and len(github.issues) == 1
    clock.advance(minutes=1)
    bot.drain()
    assert len(creates(github)) == 1  # no second POST
    assert items(bot)[0].tracker_key == "1"
    assert github.calls_to("GET", f"/repos/{REPO}/issues")  # looked for it first
    assert item.id


def test_an_old_issue_beyond_the_newest_hundred_is_found_by_search(tracked, github):
    clock = Clock(NOW)
    bot = tracked(clock)
    channel = open_incident(bot)
    github.fail("POST", f"/repos/{REPO}/issues", 504, after=True)
    add_item(bot, channel)
    bot.drain()
    for n in range(120):  # the repository is busy meanwhile
        github.add_issue(f"other {n}")
    clock.advance(minutes=1)
    bot.drain()
    assert len(creates(github)) == 1
    assert items(bot)[0].tracker_key == "1"
    assert github.calls_to("GET", "/search/issues")


def test_a_timeout_is_retried_and_the_issue_found(tracked, github, monkeypatch):
    monkeypatch.setattr(github_client, "TIMEOUT_S", 0.3)
    clock = Clock(NOW)
    bot = tracked(clock)
    channel = open_incident(bot)
    github.fail("POST", f"/repos/{REPO}/issues", 201, after=True, delay=0.6)  # answered too late
    add_item(bot, channel)
    bot.drain()
    clock.advance(minutes=1)
    bot.drain()
    assert len(github.issues) == 1 and items(bot)[0].tracker_key == "1"


# ---------------------------------------------------------------------------------------------
# rate limits and outages


def test_secondary_rate_limit_waits_for_retry_after(tracked, github):
    clock = Clock(NOW)
    bot = tracked(clock)
    channel = open_incident(bot)
    github.fail("POST", f"/repos/{REPO}/issues", 403, secondary=True, retry_after=90)
    add_item(bot, channel)
    bot.drain()
    [job] = [j for j in pending(bot) if j.kind == "tracker_create"]
    assert job.next_attempt_at == NOW + timedelta(seconds=90)
    assert "secondary rate limit" in job.last_error
    clock.advance(seconds=89)
    bot.drain()
    assert len(creates(github)) == 1  # not yet
    clock.advance(seconds=1)
    bot.drain()
    assert items(bot)[0].tracker_key == "1"


def test_primary_rate_limit_waits_until_the_reset(tracked, github):
    clock = Clock(NOW)
    bot = tracked(clock)
    channel = open_incident(bot)
    github.fail("POST", f"/repos/{REPO}/issues", 403, message="API rate limit exceeded for user ID 1.", reset_in=600)
    add_item(bot, channel)
    bot.drain()
    [job] = [j for j in pending(bot) if j.kind == "tracker_create"]
    assert timedelta(seconds=590) <= job.next_attempt_at - NOW <= timedelta(seconds=601)


def test_github_down_for_a_minute_then_back(tracked, github):
    clock = Clock(NOW)
    bot = tracked(clock)
    channel = open_incident(bot)
    github.down(clock, NOW + timedelta(minutes=1))
    add_item(bot, channel)
    reply = bot.command("actions", channel_id=channel)  # Slack is answered meanwhile
    assert "GitHub" not in json.dumps(reply)
    for _ in range(12):
        bot.drain()
        clock.advance(seconds=10)
    bot.drain()
    [item] = items(bot)
    assert item.tracker_key == "1" and item.tracker_error is None
    assert len(github.issues) == 1


def test_github_failing_without_retry_after_is_retried_with_the_outbox_backoff_like_jira(tracked, github):
    clock = Clock(NOW)
    bot = tracked(clock)
    channel = open_incident(bot)
    github.fail("POST", f"/repos/{REPO}/issues", 502, times=None)
    github.fail("GET", f"/repos/{REPO}/issues", 502, times=None)
    add_item(bot, channel)
    waits = rows.retry_waits(bot, clock, "tracker_create")
    assert waits[:5] == [2, 4, 8, 16, 32] and max(waits) == 300
    assert len(waits) == MAX_ATTEMPTS - 1 and sum(waits) > 35 * 60


def test_a_short_retry_after_does_not_undercut_the_backoff(tracked, github):
    """GitHub asking for 1 s again and again: the outbox still slows down, never hammering every second."""
    clock = Clock(NOW)
    bot = tracked(clock)
    channel = open_incident(bot)
    github.fail("POST", f"/repos/{REPO}/issues", 503, times=None, retry_after=1)
    github.fail("GET", f"/repos/{REPO}/issues", 503, times=None, retry_after=1)
    add_item(bot, channel)
    waits = rows.retry_waits(bot, clock, "tracker_create")
    assert waits[:4] == [2, 4, 8, 16] and max(waits) == 300


def test_after_the_last_retry_the_item_says_so_with_a_retry_button(tracked, github, standin):
    clock = Clock(NOW)
    bot = tracked(clock)
    channel = open_incident(bot)
    github.fail("POST", f"/repos/{REPO}/issues", 500, times=None)
    github.fail("GET", f"/repos/{REPO}/issues", 500, times=None)
    add_item(bot, channel)
    for _ in range(MAX_ATTEMPTS + 1):
        bot.drain()
        clock.advance(minutes=6)
    [item] = items(bot)
    assert item.tracker_error.startswith("could not create the tracker issue")
    shown = list_view(bot, channel)
    assert "could not create the tracker issue" in shown and RETRY_TRACKER_ACTION in shown
    github.clear_faults()
    response = bot.interact(sr.block_actions(RETRY_TRACKER_ACTION, str(item.id), channel_id=channel,
                                             block_id=f"action_item_buttons:{item.id}",
                                             response_url=standin.response_url("list")))
    assert response.status == 200
    bot.drain()
    [item] = items(bot)
    assert item.tracker_key is not None and item.tracker_error is None
    assert len(github.issues) == 1  # the failed tries made none
    assert "could not create" not in json.dumps(standin.responses[-1])  # the pressed list: being tried again
    assert "GitHub #" in list_view(bot, channel)


def test_a_refused_token_is_told_to_the_commander_once(tracked, github, standin):
    bot = tracked(github_token="ghp_wrongToken00000000000000000000000")
    channel = open_incident(bot)
    for n in range(3):
        add_item(bot, channel, f"item {n}")
    bot.drain()
    dms = [c for c in standin.calls_to("chat.postMessage") if "GitHub refused" in c.get("text", "")]
    assert len(dms) == 1
    assert "GITHUB_TOKEN" in dms[0]["text"] and "Retry" in dms[0]["text"]
    assert all(i.tracker_error and "GITHUB_TOKEN" in i.tracker_error for i in items(bot))
    assert "ghp_wrongToken" not in json.dumps(standin.calls_to("chat.postMessage")[-1].params)


def test_tokens_never_reach_the_log(tracked, github, caplog):
    caplog.set_level(logging.DEBUG)
    bot = tracked()
    channel = open_incident(bot)
    github.fail("POST", f"/repos/{REPO}/issues", 401)
    add_item(bot, channel)
    bot.drain()
    text = caplog.text + "".join(r.getMessage() for r in caplog.records)
    assert TOKEN not in text and SECRET not in text
    from bot.logs import RedactSecrets

    assert TOKEN not in RedactSecrets().scrub(f"Authorization: Bearer {TOKEN} and {TOKEN}")
    assert "ATATT3xFfGF0abcdefghijklmnopqrstuvwxyz" not in RedactSecrets().scrub(
        "token ATATT3xFfGF0abcdefghijklmnopqrstuvwxyz")


# ---------------------------------------------------------------------------------------------
# both ways


def press(bot, action_id, item, channel, standin):
    response = bot.interact(sr.block_actions(action_id, str(item.id), channel_id=channel,
                                             block_id=f"action_item_buttons:{item.id}",
                                             response_url=standin.response_url("list")))
    assert response.status == 200


@pytest.mark.parametrize("button, reason", [("action_done", "completed"), ("action_drop", "not_planned")])
def test_done_or_drop_in_slack_closes_the_issue_with_its_reason(tracked, github, standin, button, reason):
    bot = tracked()
    channel = open_incident(bot)
    item = add_item(bot, channel)
    bot.drain()
    press(bot, button, item, channel, standin)
    bot.drain()
    issue = github.issues[1]
    assert (issue.state, issue.state_reason) == ("closed", reason)
    assert items(bot)[0].tracker_state == "closed"


def test_an_item_closed_before_its_issue_exists_gets_a_closed_issue(tracked, github, standin):
    clock = Clock(NOW)
    bot = tracked(clock)
    channel = open_incident(bot)
    github.fail("POST", f"/repos/{REPO}/issues", 429, retry_after=30)
    item = add_item(bot, channel)
    bot.drain()
    press(bot, "action_done", item, channel, standin)
    clock.advance(seconds=30)
    bot.drain()
    assert github.issues[1].state == "closed"


def webhook(bot, raw: bytes, headers: dict):
    return call_wsgi(bot.app, raw.decode("utf-8"), headers, path="/webhooks/github")


def test_closing_in_github_closes_the_item_without_closing_the_issue_again(tracked, github):
    bot = tracked()
    channel = open_incident(bot)
    add_item(bot, channel)
    bot.drain()
    github.set_state(1, "closed", "not_planned")
    raw, headers = github.delivery(1, "closed", SECRET, state_reason="not_planned")
    response = webhook(bot, raw, headers)
    assert response.status == 200, response.body
    [item] = items(bot)
    assert (item.status, item.tracker_state) == ("dropped", "closed")
    assert any("closed in GitHub #1" in i.text for i in bot.timeline(1) if i.kind == "action")
    bot.drain()
    assert not github.calls_to("PATCH", f"/repos/{REPO}/issues/1")
    # reopened there: open here again, and reminded again
    github.set_state(1, "open")
    raw, headers = github.delivery(1, "reopened", SECRET)
    assert webhook(bot, raw, headers).status == 200
    [item] = items(bot)
    assert (item.status, item.closed_at, item.tracker_state) == ("open", None, "open")
    bot.drain()
    assert not github.calls_to("PATCH", f"/repos/{REPO}/issues/1")


def test_a_replayed_delivery_changes_nothing(tracked, github):
    bot = tracked()
    channel = open_incident(bot)
    add_item(bot, channel)
    bot.drain()
    raw, headers = github.delivery(1, "closed", SECRET, delivery_id="72d3162e-cc78-11e3-81ab-4c9367dc0958")
    assert webhook(bot, raw, headers).status == 200
    with bot.db.write() as session:  # reopened in Slack's side meanwhile (as by a later reopen)
        action_items.reopen_action_item(session, items(bot)[0].id)
    response = webhook(bot, raw, headers)
    assert response.status == 200 and response.json()["result"] == "already applied"
    assert items(bot)[0].status == "open"


@pytest.mark.parametrize("forgery", ["wrong secret", "no signature", "body changed", "sha1 only"])
def test_a_forged_delivery_is_refused_and_changes_nothing(tracked, github, forgery):
    bot = tracked()
    channel = open_incident(bot)
    add_item(bot, channel)
    bot.drain()
    raw, headers = github.delivery(1, "closed", "not the secret" if forgery == "wrong secret" else SECRET)
    if forgery == "no signature":
        headers.pop("X-Hub-Signature-256")
    if forgery == "body changed":
        raw = raw.replace(b'"number": 1', b'"number": 1 ')
    if forgery == "sha1 only":
        headers["X-Hub-Signature"] = "sha1=" + headers.pop("X-Hub-Signature-256")[7:47]
    response = webhook(bot, raw, headers)
    assert response.status == 401
    assert items(bot)[0].status == "open"
    with bot.db.read() as session:
        assert session.exec(__import__("sqlmodel").select(__import__("storage.models").models.WebhookDelivery)).all() == []


@pytest.mark.parametrize("oddity", ["full_name is null", "repository is a list", "issue is a list",
                                    "number is text", "no number"])
def test_a_signed_delivery_of_an_odd_shape_is_refused_in_one_line_and_changes_nothing(tracked, github, caplog,
                                                                                        oddity):
    from tests.support.github_standin import signed_headers

    bot = tracked()
    channel = open_incident(bot)
    add_item(bot, channel)
    bot.drain()
    raw, _ = github.delivery(1, "closed", SECRET)
    body = json.loads(raw)
    if oddity == "full_name is null":
        body["repository"]["full_name"] = None
    elif oddity == "repository is a list":
        body["repository"] = [body["repository"]]
    elif oddity == "issue is a list":
        body["issue"] = [body["issue"]]
    elif oddity == "number is text":
        body["issue"]["number"] = "1; drop"
    else:
        del body["issue"]["number"]
    odd = json.dumps(body).encode()
    caplog.clear()
    response = webhook(bot, odd, signed_headers(odd, SECRET, delivery_id="odd-1"))
    assert response.status == 400 and "nothing was changed" in response.body
    assert items(bot)[0].status == "open"
    lines = [r for r in caplog.records if r.name == "bot.webhooks"]
    assert len(lines) == 1 and "shaped unlike an issue event" in lines[0].getMessage()
    assert "Traceback" not in caplog.text


def test_an_oversized_delivery_is_refused_before_it_is_read(tracked, github):
    bot = tracked()
    raw, headers = github.delivery(1, "closed", SECRET)
    big = raw[:-1] + b', "padding": "' + b"x" * (1 << 20) + b'"}'
    response = webhook(bot, big, headers)
    assert response.status == 413


def test_ping_is_answered_and_other_events_are_ignored(tracked, github):
    bot = tracked()
    raw = json.dumps({"zen": "Keep it logically awesome.", "hook_id": 424242}).encode()
    from tests.support.github_standin import signed_headers

    assert webhook(bot, raw, signed_headers(raw, SECRET, event="ping")).status == 200
    raw, headers = github.delivery(1, "labeled", SECRET)
    assert webhook(bot, raw, headers).status == 202
    raw, headers = github.delivery(99, "closed", SECRET)  # an issue the bot did not make
    response = webhook(bot, raw, headers)
    assert response.status == 200 and response.json()["result"] == "no such item"


def test_the_webhook_path_of_an_unconfigured_tracker_is_not_found(make_bot, github):
    bot = make_bot()
    raw, headers = github.delivery(1, "closed", SECRET)
    assert webhook(bot, raw, headers).status == 404
    assert call_wsgi(bot.app, raw.decode(), headers, path="/webhooks/jira").status == 404


def pending(bot):
    with bot.db.read() as session:
        return rows.pending_jobs(session)


def test_polling_applies_changes_made_in_github_when_no_webhook_comes(tracked, github):
    clock = Clock(NOW)
    bot = tracked(clock, github_webhook_secret=None)
    channel = open_incident(bot)
    for n in range(3):
        add_item(bot, channel, f"item {n}")
    bot.drain()
    github.set_state(2, "closed", "completed")
    reminders.sweep(bot.services)
    reminders.sweep(bot.services)  # a second replica sweeping in the same interval queues nothing
    assert len([j for j in pending(bot) if j.kind == "tracker_poll"]) == 1
    bot.drain()
    by_key = {i.tracker_key: i for i in items(bot)}
    assert by_key["2"].status == "done" and by_key["1"].status == "open" and by_key["3"].status == "open"
    assert not github.calls_to("PATCH", r"/repos/.*/issues/\d+")
    reads = github.calls_to("GET", f"/repos/{REPO}/issues")
    assert len(reads) == 1 and reads[0].query["per_page"] == "100"  # one request for all three
    github.set_state(2, "open")  # reopened there: open here after the next sweep
    clock.advance(hours=1)
    reminders.sweep(bot.services)
    bot.drain()
    assert {i.tracker_key: i.status for i in items(bot)} == {"1": "open", "2": "open", "3": "open"}
    assert not github.calls_to("PATCH", r"/repos/.*/issues/\d+")


@pytest.mark.parametrize(("state_reason", "status"), [("not_planned", "dropped"), ("duplicate", "dropped"),
                                                     ("completed", "done")])
def test_polling_keeps_githubs_close_reason_as_a_webhook_would(tracked, github, state_reason, status):
    clock = Clock(NOW)
    bot = tracked(clock, github_webhook_secret=None)
    channel = open_incident(bot)
    add_item(bot, channel)
    bot.drain()
    github.set_state(1, "closed", state_reason)
    reminders.sweep(bot.services)
    bot.drain()
    [item] = items(bot)
    assert (item.status, item.tracker_state) == (status, "closed")
    assert any(f"{status} (closed in GitHub #1)" in e.text for e in bot.timeline(1) if e.kind == "action")
    assert not github.calls_to("PATCH", r"/repos/.*/issues/\d+")


def test_polls_take_turns_through_more_tracked_items_than_one_poll_reads(tracked, github, monkeypatch):
    """With more tracked items than a poll asks about, the oldest are not left out for ever: each poll
    takes the items read least recently, so an old item closed in GitHub is seen within a few sweeps."""
    from bot.jobs import trackers as tracker_jobs

    monkeypatch.setattr(tracker_jobs, "POLL_BATCH", 2)
    clock = Clock(NOW)
    bot = tracked(clock, github_webhook_secret=None)
    channel = open_incident(bot)
    for n in range(5):
        add_item(bot, channel, f"item {n}")
    bot.drain()
    github.set_state(1, "closed", "completed")  # the oldest item's issue
    for sweep in range(3):
        clock.advance(hours=1)
        reminders.sweep(bot.services)
        bot.drain()
        if sweep == 0:
            assert items(bot)[0].status == "open"  # the newest two were read first
    assert items(bot)[0].status == "done"  # the third poll reached it
    assert [i.status for i in items(bot)[1:]] == ["open"] * 4
    with bot.db.read() as session:
        polled = [i.tracker_polled_at for i in action_items.action_items(session, 1)]
    assert all(polled)  # every item was read once


def test_poll_pushes_a_close_that_never_reached_github(tracked, github, standin):
    clock = Clock(NOW)
    bot = tracked(clock)
    channel = open_incident(bot)
    item = add_item(bot, channel)
    bot.drain()
    github.fail("PATCH", f"/repos/{REPO}/issues/1", 500, times=None)
    press(bot, "action_done", item, channel, standin)
    for _ in range(MAX_ATTEMPTS + 1):
        bot.drain()
        clock.advance(minutes=6)
    assert github.issues[1].state == "open"
    github.clear_faults()
    reminders.sweep(bot.services)
    bot.drain()
    assert github.issues[1].state == "closed" and items(bot)[0].status == "done"


def test_reminder_dms_show_the_issue_link(tracked, github, standin):
    clock = Clock(NOW)
    bot = tracked(clock)
    channel = open_incident(bot)
    add_item(bot, channel, "write the runbook <@U0DANA|dana> due 2026-11-30")
    bot.drain()
    reminders.sweep(bot.services)
    bot.drain()
    [dm] = [c for c in standin.calls_to("chat.postMessage") if "overdue" in c.get("text", "")]
    assert f"<https://github.com/{REPO}/issues/1|GitHub #1>" in json.dumps(dm["blocks"])


def test_the_draft_shows_the_issue_link(tracked, github, standin):
    bot = tracked()
    channel = open_incident(bot)
    add_item(bot, channel)
    bot.drain()
    with bot.db.read() as session:
        incident = session.get(Incident, 1)
        from bot import postmortem

        markdown = postmortem.export(session, incident, bot.settings, "default", NOW)
    assert f"[GitHub #1](<https://github.com/{REPO}/issues/1>)" in markdown


# ---------------------------------------------------------------------------------------------
# trackers check


def test_trackers_check_prints_one_line_per_check(github, monkeypatch, capsys, database_url):
    for name, value in {"TRACKER": "github", "GITHUB_TOKEN": TOKEN, "GITHUB_REPO": REPO,
                        "GITHUB_API_URL": github.api_url, "DATABASE_URL": database_url}.items():
        monkeypatch.setenv(name, value)
    assert cli.main(["trackers", "check"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("ok   auth: GITHUB_TOKEN accepted")
    assert any(line.startswith(f"ok   repository {REPO} (GITHUB_REPO): found") for line in out)
    assert any("issues: enabled" in line for line in out)
    github.repos[REPO]["has_issues"] = False
    assert cli.main(["trackers", "check"]) == 1
    assert "FAIL issues: disabled" in capsys.readouterr().out
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_wrongToken00000000000000000000000")
    assert cli.main(["trackers", "check"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("FAIL auth: GitHub refused GITHUB_TOKEN (401 Bad credentials)")
    assert "ghp_wrong" not in out


def test_a_missing_tracker_setting_stops_with_one_line(monkeypatch, capsys, database_url):
    monkeypatch.setenv("TRACKER", "github")
    monkeypatch.setenv("DATABASE_URL", database_url)
    assert cli.main(["trackers", "check"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("incident-bot: GITHUB_TOKEN is missing")
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    monkeypatch.setenv("GITHUB_REPO", "not a repo")
    assert cli.main(["trackers", "check"]) == 2
    assert capsys.readouterr().err.strip() == ("incident-bot: GITHUB_REPO is invalid: must be owner/name, such as "
                                               "acme/checkout-service (got 'not a repo')")


# ---------------------------------------------------------------------------------------------
# postmortems as code


def test_publish_opens_one_pull_request_and_publishing_again_updates_it(tracked, github, standin, monkeypatch,
                                                                         capsys, database_url):
    bot = tracked(postmortem_repo=REPO)
    channel = open_incident(bot, title="Checkout errors (EU) sev2")
    reply = bot.text("publish", command="/postmortem", channel_id=channel,
                     response_url=standin.response_url("publish1"))
    assert reply.startswith(f"Publishing draft v1 of INC-1 to `{REPO}`")
    bot.drain()
    path = "postmortems/2026-12-02-inc-1-checkout-errors-eu.md"
    branch = "postmortem/inc-1"
    with bot.db.read() as session:
        from storage import drafts

        first = drafts.latest_draft(session, 1)
    assert github.files[(branch, path)] == first.markdown
    [pull] = github.pulls.values()
    assert (pull["head"]["ref"], pull["base"]["ref"], pull["state"]) == (branch, "main", "open")
    [answer] = [r for r in standin.responses if r["_key"] == "publish1"]
    assert f"<{pull['html_url']}|pull request #{pull['number']}> opened" in answer["text"]

    add_item(bot, channel, "write the runbook")
    bot.text("publish brief", command="/postmortem", channel_id=channel, response_url=standin.response_url("publish2"))
    bot.drain()
    with bot.db.read() as session:
        second = drafts.latest_draft(session, 1)
    assert second.version == 2 and second.template == "brief"
    assert github.files[(branch, path)] == second.markdown
    assert len(github.pulls) == 1 and len(github.calls_to("POST", f"/repos/{REPO}/pulls")) == 1
    [answer] = [r for r in standin.responses if r["_key"] == "publish2"]
    assert "updated" in answer["text"]

    # the command line publishes the same way, into the same pull request
    for name, value in {"DATABASE_URL": database_url, "GITHUB_TOKEN": TOKEN, "POSTMORTEM_REPO": REPO,
                        "GITHUB_API_URL": github.api_url}.items():
        monkeypatch.setenv(name, value)
    capsys.readouterr()
    assert cli.main(["postmortem", "publish", "INC-1"]) == 0
    out = capsys.readouterr().out
    assert f"pull request #{pull['number']} updated" in out and "draft v2" in out
    assert len(github.pulls) == 1
    assert len(github.calls_to("PUT", f"/repos/{REPO}/contents/{path}")) == 2  # unchanged: not committed again


@pytest.mark.parametrize("delete_branch", [True, False])
def test_publishing_again_after_the_pull_request_was_merged(tracked, github, standin, delete_branch):
    """Merged (and its branch deleted, as most repositories do): an unchanged draft is already published,
    said with the merged pull request's link; a changed one is committed on the branch made again and
    proposed in a new pull request."""
    bot = tracked(postmortem_repo=REPO)
    channel = open_incident(bot, title="Checkout errors")
    bot.text("publish", command="/postmortem", channel_id=channel, response_url=standin.response_url("p1"))
    bot.drain()
    [first] = github.pulls.values()
    github.merge(first["number"], delete_branch=delete_branch)
    path = "postmortems/2026-12-02-inc-1-checkout-errors.md"
    assert ("main", path) in github.files

    bot.text("publish", command="/postmortem", channel_id=channel, response_url=standin.response_url("p2"))
    bot.drain()
    [answer] = [r for r in standin.responses if r["_key"] == "p2"]
    assert "already published" in answer["text"] and f"|pull request #{first['number']}> was merged" in answer["text"]
    assert len(github.pulls) == 1 and len(github.calls_to("POST", f"/repos/{REPO}/pulls")) == 1

    add_item(bot, channel, "write the runbook")
    bot.text("publish brief", command="/postmortem", channel_id=channel, response_url=standin.response_url("p3"))
    bot.drain()
    [answer] = [r for r in standin.responses if r["_key"] == "p3"]
    second = max(github.pulls.values(), key=lambda p: p["number"])
    assert second["number"] != first["number"] and second["state"] == "open"
    assert f"|pull request #{second['number']}> opened" in answer["text"]
    assert "write the runbook" in github.files[("postmortem/inc-1", path)]


def test_a_branch_github_refuses_to_create_is_a_clear_error_not_already_there(github):
    from bot.trackers.github import GitHubAPI, publish_file
    from bot.trackers import TrackerError

    github.fail("POST", f"/repos/{REPO}/git/refs", 422, message="Reference update failed")
    api = GitHubAPI(github.api_url, TOKEN)
    with pytest.raises(TrackerError, match="refused to create the branch postmortem/inc-9.*Reference update failed"):
        publish_file(api, REPO, branch="postmortem/inc-9", path="p.md", content="x", message="m", title="t", body="b")
    api.close()
    assert not github.calls_to("PUT", f"/repos/{REPO}/contents/p.md")


def test_publish_without_a_repository_says_what_to_set(make_bot, standin):
    bot = make_bot()
    channel = open_incident(bot)
    reply = bot.text("publish", command="/postmortem", channel_id=channel)
    assert "POSTMORTEM_REPO" in reply and reply.startswith(":warning:")


def test_publish_refused_by_github_is_told_to_the_person(tracked, github, standin):
    bot = tracked(postmortem_repo=REPO)
    channel = open_incident(bot)
    github.fail("PUT", r"/repos/.*/contents/.*", 403, times=None)
    bot.text("publish", command="/postmortem", channel_id=channel, response_url=standin.response_url("refused"))
    bot.drain()
    [answer] = [r for r in standin.responses if r["_key"] == "refused"]
    assert answer["text"].startswith(":warning: Publishing the postmortem failed")
    assert "Contents" in answer["text"] and not github.pulls


def test_a_signed_delivery_that_is_not_json_is_refused_in_one_line(tracked, github):
    from tests.support.github_standin import signed_headers

    bot = tracked()
    raw = b"{not json"
    response = webhook(bot, raw, signed_headers(raw, SECRET))
    assert response.status == 400 and response.json() == {"ok": False, "error": "the body is not a JSON object"}


def test_a_form_encoded_delivery_is_read_too(tracked, github):
    from urllib.parse import urlencode

    from tests.support.github_standin import signed_headers

    bot = tracked()
    channel = open_incident(bot)
    add_item(bot, channel)
    bot.drain()
    payload, _ = github.delivery(1, "closed", SECRET)
    raw = urlencode({"payload": payload.decode()}).encode()
    headers = signed_headers(raw, SECRET)
    headers["content-type"] = "application/x-www-form-urlencoded"
    assert webhook(bot, raw, headers).status == 200
    assert items(bot)[0].status == "done"


def test_jira_deliveries_go_to_the_jira_tracker(make_bot):
    """The route and its checks are the same for Jira; the tracker verifies and reads the delivery."""
    from bot.trackers import WebhookChange

    class Jira:
        name = "jira"

        def verify_webhook(self, headers, raw_body):
            return headers.get("x-hub-signature") == "sha256=good"

        def webhook_change(self, headers, body):
            return WebhookChange(headers["x-atlassian-webhook-identifier"], body["key"], body["state"])

    bot = make_bot(clock=Clock(NOW))
    bot.services._tracker = Jira()
    channel = open_incident(bot)
    add_item(bot, channel)
    with bot.db.write() as session:
        action_items.set_tracker_issue(session, items(bot)[0].id, "jira", "OPS-17", "https://acme.atlassian.net/browse/OPS-17",
                                       "open")
    body = json.dumps({"key": "OPS-17", "state": "closed"})
    headers = {"X-Atlassian-Webhook-Identifier": "j-1", "content-type": "application/json"}
    assert call_wsgi(bot.app, body, {**headers, "X-Hub-Signature": "sha256=bad"}, path="/webhooks/jira").status == 401
    assert items(bot)[0].status == "open"
    assert call_wsgi(bot.app, body, {**headers, "X-Hub-Signature": "sha256=good"}, path="/webhooks/jira").status == 200
    assert items(bot)[0].status == "done"
    assert "<https://acme.atlassian.net/browse/OPS-17|Jira OPS-17>" in list_view(bot, channel)
    assert call_wsgi(bot.app, body, {**headers, "X-Hub-Signature": "sha256=good"}, path="/webhooks/github").status == 404


# ---------------------------------------------------------------------------------------------
# the Home tab shows the item's issue, and its Retry button after the last retry


def _home_view(standin) -> str:
    return json.dumps(standin.calls_to("views.publish")[-1]["view"])


def test_the_home_tab_shows_the_items_issue_link(tracked, github, standin):
    standin.add_user("U0DANA", name="Dana")
    clock = Clock(NOW)
    bot = tracked(clock)
    channel = open_incident(bot)
    assert bot.event(sr.app_home_opened("U0DANA")).status == 200
    bot.drain()
    add_item(bot, channel, "fix the retry storm <@U0DANA|dana>")
    bot.drain()  # the issue is created, and the owner's tab is queued again (throttled)
    clock.advance(minutes=1)
    bot.drain()
    assert f"<https://github.com/{REPO}/issues/1|GitHub #1>" in _home_view(standin)


def test_the_home_tab_offers_retry_after_the_last_retry_and_the_press_creates_the_issue(tracked, github, standin):
    standin.add_user("U0DANA", name="Dana")
    clock = Clock(NOW)
    bot = tracked(clock)
    channel = open_incident(bot)
    assert bot.event(sr.app_home_opened("U0DANA")).status == 200
    github.fail("POST", f"/repos/{REPO}/issues", 500, times=None)
    github.fail("GET", f"/repos/{REPO}/issues", 500, times=None)
    item = add_item(bot, channel, "fix the retry storm <@U0DANA|dana>")
    for _ in range(MAX_ATTEMPTS + 1):
        bot.drain()
        clock.advance(minutes=6)
    bot.drain()
    shown = _home_view(standin)
    assert "could not create the tracker issue" in shown and RETRY_TRACKER_ACTION in shown
    github.clear_faults()
    response = bot.interact(sr.home_block_actions(RETRY_TRACKER_ACTION, str(item.id), user_id="U0DANA",
                                                  block_id=f"reminder_buttons:{item.id}"))
    assert response.status == 200
    bot.drain()
    clock.advance(minutes=1)
    bot.drain()
    [stored] = items(bot)
    assert stored.tracker_key == "1" and len(github.issues) == 1
    assert "GitHub #1" in _home_view(standin)


def test_the_home_tab_follows_an_item_closed_by_webhook_and_reopened_by_polling(tracked, github, standin):
    standin.add_user("U0DANA", name="Dana")
    clock = Clock(NOW)
    bot = tracked(clock)
    channel = open_incident(bot)
    assert bot.event(sr.app_home_opened("U0DANA")).status == 200
    add_item(bot, channel, "fix the retry storm <@U0DANA|dana>")
    bot.drain(); clock.advance(minutes=1); bot.drain()  # noqa: E702
    assert "fix the retry storm" in _home_view(standin)
    github.set_state(1, "closed")
    raw, headers = github.delivery(1, "closed", SECRET)
    assert webhook(bot, raw, headers).status == 200
    bot.drain(); clock.advance(minutes=1); bot.drain()  # noqa: E702
    assert "fix the retry storm" not in _home_view(standin)  # closed in GitHub: gone from Dana's tab
    github.set_state(1, "open")  # reopened there, with no webhook: the next sweep's poll brings it back
    clock.advance(hours=1)
    reminders.sweep(bot.services)
    bot.drain(); clock.advance(minutes=1); bot.drain()  # noqa: E702
    assert items(bot)[0].status == "open"
    assert "fix the retry storm" in _home_view(standin)
