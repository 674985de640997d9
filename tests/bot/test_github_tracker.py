"""The GitHub client's own rules (bot/trackers/github.py) against the stand-in, and the pure pieces:
signatures, the issue's text (bot/tracker_items.py), the publish path (bot/publishing.py)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot import publishing, tracker_items
from bot.trackers import IssueStatus, TrackerAuthError, TrackerError, TrackerRetryLater
from bot.trackers import github as gh
from tests.support.github_standin import REPO, TOKEN, GitHubStandIn

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "github"


@pytest.fixture
def github():
    server = GitHubStandIn().start()
    yield server
    server.stop()
    assert server.violations == []


@pytest.fixture
def tracker(github, monkeypatch):
    monkeypatch.setattr(gh, "CREATE_SPACING_S", 0.0)
    made = gh.GitHubTracker(gh.GitHubAPI(github.api_url, TOKEN), REPO, "s3cret")
    yield made
    made.shutdown()


def new(n=1):
    return tracker_items.new_issue(item_id=n, text=f"item {n}", due=date(2026, 12, 4), incident_ref="INC-7",
                                   incident_title="Checkout errors", channel_url=None, owner_name=None, owner_email=None)


def test_githubs_own_signature_test_vector():
    assert gh.verify_signature("It's a Secret to Everybody",
                               "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
                               b"Hello, World!")
    assert not gh.verify_signature("It's a Secret to Everybody", "sha256=757107ea0eb2509fc2", b"Hello, World!")
    assert not gh.verify_signature(None, "sha256=757107ea", b"Hello, World!")  # no secret: nothing verifies
    assert not gh.verify_signature("x", "sha256=\u00e9\u00e9", b"Hello")


def test_a_closed_delivery_reads_as_a_change(tracker):
    body = json.loads((FIXTURES / "github_webhook_issues_closed.json").read_text())
    headers = {"x-github-event": "issues", "x-github-delivery": "d-1"}
    tracker.repo = "acme/checkout-service"
    change = tracker.webhook_change(headers, body)
    assert (change.delivery_id, change.key, change.state, change.reason) == ("d-1", "118", "closed", "completed")
    body["repository"]["full_name"] = "someone/else"  # another repository's hook
    assert tracker.webhook_change(headers, body) is None
    assert tracker.webhook_change({"x-github-event": "issue_comment"}, body) is None


def test_errors_become_the_three_tracker_errors(tracker, github):
    github.fail("POST", f"/repos/{REPO}/issues", 422, message="Validation Failed")
    with pytest.raises(TrackerError) as info:
        tracker.create_issue(new())
    assert type(info.value) is TrackerError and "422" in str(info.value)
    github.fail("POST", f"/repos/{REPO}/issues", 403)
    with pytest.raises(TrackerAuthError) as info:
        tracker.create_issue(new())
    assert "issues=write" in str(info.value)  # X-Accepted-GitHub-Permissions named
    github.fail("POST", f"/repos/{REPO}/issues", 410)
    with pytest.raises(TrackerAuthError, match="enable Issues"):
        tracker.create_issue(new())
    github.fail("POST", f"/repos/{REPO}/issues", 429, retry_after=7)
    with pytest.raises(TrackerRetryLater) as info:
        tracker.create_issue(new())
    assert info.value.after_seconds == 7 and not info.value.ambiguous
    github.fail("POST", f"/repos/{REPO}/issues", 403, secondary=True)  # no retry-after: a minute
    with pytest.raises(TrackerRetryLater) as info:
        tracker.create_issue(new())
    assert info.value.after_seconds == 60
    github.fail("POST", f"/repos/{REPO}/issues", 502)
    with pytest.raises(TrackerRetryLater) as info:
        tracker.create_issue(new())
    assert info.value.ambiguous and info.value.after_seconds == 0
    assert not github.issues


def test_a_wrong_repository_is_a_setting_to_fix(github, monkeypatch):
    tracker = gh.GitHubTracker(gh.GitHubAPI(github.api_url, TOKEN), "acme/nope")
    with pytest.raises(TrackerAuthError, match="GITHUB_TOKEN may see that repository"):
        tracker.create_issue(new())
    tracker.shutdown()


def test_nothing_answering_is_retried_later():
    tracker = gh.GitHubTracker(gh.GitHubAPI("http://127.0.0.1:9", TOKEN), REPO)
    with pytest.raises(TrackerRetryLater, match="did not answer") as info:
        tracker.find_by_marker("incident-bot:item:1")
    assert not info.value.ambiguous
    tracker.shutdown()


def test_the_marker_of_item_4_never_finds_item_42s_issue(tracker, github, monkeypatch):
    """A create of item 4 retried after a lost answer must not adopt item 42's issue: the marker is
    matched whole, in the newest issues and in the search API alike."""
    made = tracker.create_issue(new(42))
    assert tracker.find_by_marker(tracker_items.marker(4)) is None
    assert tracker.find_by_marker(tracker_items.marker(42)).key == made.key
    tracker.create_issue(new(7))
    monkeypatch.setattr(gh, "FIND_RECENT", 1)  # item 42's issue is only found by the search API now
    assert tracker.find_by_marker(tracker_items.marker(4)) is None
    assert tracker.find_by_marker(tracker_items.marker(42)).key == made.key
    assert github.calls_to("GET", "/search/issues")


def test_has_marker_matches_the_whole_marker_only():
    assert gh.has_marker("x\n<sub>incident-bot:item:4</sub>", "incident-bot:item:4")
    assert gh.has_marker("incident-bot:item:4", "incident-bot:item:4")
    for other in ("incident-bot:item:42", "incident-bot:item:4-b", "xincident-bot:item:4:1", "my-incident-bot:item:4"):
        assert not gh.has_marker(other, "incident-bot:item:4"), other
    assert not gh.has_marker(None, "incident-bot:item:4")


def test_states_reads_pages_following_link_headers(tracker, github):
    for n in range(250):
        github.add_issue(f"i{n}", state="closed" if n % 2 else "open")
    github.add_issue("a pull request", pull_request=True)
    states = tracker.states(["1", "2", "250", "251", "999"])
    # a pull request and a missing one left out
    assert states == {"1": IssueStatus("open"), "2": IssueStatus("closed", "completed"),
                      "250": IssueStatus("closed", "completed")}
    pages = github.calls_to("GET", f"/repos/{REPO}/issues")
    assert len(pages) == 3 and all(c.query.get("per_page", "100") == "100" for c in pages)
    assert github.calls_to("GET", f"/repos/{REPO}/issues/999")


def test_close_and_reopen_send_the_reason(tracker, github):
    issue = tracker.create_issue(new())
    tracker.close(issue.key, "not_planned")
    assert (github.issues[1].state, github.issues[1].state_reason) == ("closed", "not_planned")
    tracker.reopen(issue.key)
    assert github.issues[1].state == "open"
    assert tracker.states([issue.key]) == {"1": IssueStatus("open")}


@pytest.mark.parametrize(("state_reason", "reason"), [("completed", "completed"), ("not_planned", "not_planned"),
                                                      ("duplicate", "not_planned"), (None, "completed")])
def test_states_say_why_an_issue_was_closed(tracker, github, state_reason, reason):
    tracker.create_issue(new(1))
    tracker.create_issue(new(2))
    github.set_state(1, "closed", state_reason)
    assert tracker.states(["1", "2"]) == {"1": IssueStatus("closed", reason), "2": IssueStatus("open")}


def test_retry_after_and_reset_headers():
    assert gh.retry_after_seconds({"retry-after": "12"}) == 12
    assert gh.retry_after_seconds({"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1100"}, now=1000) == 100
    assert gh.retry_after_seconds({"x-ratelimit-remaining": "5", "x-ratelimit-reset": "1100"}, now=1000) is None


# -- the issue's text ---------------------------------------------------------------------------


def test_issue_title_and_body_are_safe_and_bounded():
    made = tracker_items.new_issue(
        item_id=42, text="x" * 5000 + " &lt;script&gt; <@U1|dana> {{ 7*7 }}", due=None, incident_ref="INC-7",
        incident_title="<!here> *big* outage", channel_url="https://acme.slack.com/archives/C1",
        owner_name="@dana", owner_email="dana@example.com")
    assert len(made.title) <= tracker_items.TITLE_LIMIT and made.title.endswith("(INC-7)")
    assert "<script>" not in made.body and "{{" not in made.body and "<!here>" not in made.body
    assert "@&#8203;dana" in made.body and "**Due:** no due date" in made.body
    assert made.marker == "incident-bot:item:42" and made.body.endswith("<sub>incident-bot:item:42</sub>")
    assert (made.owner_email, made.incident_ref, made.link) == ("dana@example.com", "INC-7",
                                                                "https://acme.slack.com/archives/C1")


def test_the_slack_link_cannot_be_broken_by_the_url():
    class Item:
        tracker, tracker_key, tracker_url, tracker_error = "github", "7", "https://x.example/a|b>c", None

    assert tracker_items.slack_link(Item()) == "<https://x.example/a%7Cb%3Ec|GitHub #7>"
    Item.tracker_url = "https://x.example/" + "a" * 300
    assert tracker_items.slack_link(Item()) == "GitHub #7"


# -- publish paths --------------------------------------------------------------------------------


@pytest.mark.parametrize("title, slug", [("Checkout errors (EU) – 5xx", "checkout-errors-eu-5xx"),
                                         ("Zürich DC down", "zurich-dc-down"), ("🔥🔥", "incident"),
                                         ("../../etc/passwd", "etc-passwd")])
def test_slugs(title, slug):
    assert publishing.slug(title) == slug


def test_the_path_is_dated_in_the_incidents_zone_across_midnight():
    late = datetime(2026, 12, 2, 23, 30, tzinfo=UTC)
    assert publishing.postmortem_path(7, "DB down", late, ZoneInfo("UTC")) == "postmortems/2026-12-02-inc-7-db-down.md"
    assert publishing.postmortem_path(7, "DB down", late, ZoneInfo("Europe/Berlin")) == \
        "postmortems/2026-12-03-inc-7-db-down.md"


# -- Slack's limits, with the longest links and failures ------------------------------------------


def test_lists_and_digests_with_issue_links_and_failures_fit_slacks_limits():
    from datetime import timedelta

    from bot import action_blocks, reminders
    from tests.bot.test_slack_limits import GROWING, HOSTILE, NOW, no_half_entities, within

    url = "https://github.com/" + "a" * (tracker_items.LINK_URL_LIMIT - 19)

    def listed(number):
        failed = number % 2 == 0
        return type("Item", (), dict(
            id=number, text=GROWING, owner_id="U0OWNER", due=date(2026, 11, 1), status=("open", "done")[number % 3 == 0],
            closed_by=None, tracker="github", tracker_key=None if failed else str(10**9 + number),
            tracker_url=None if failed else url, tracker_error="could not create the tracker issue: " + "e" * 480
            if failed else None))

    text, blocks = action_blocks.list_message("INC-2147483647", [listed(i) for i in range(1, 301)], date(2026, 11, 22))
    within({"text": text, "blocks": blocks})
    assert action_blocks.RETRY_TRACKER_ACTION in json.dumps(blocks) and "GitHub #" in json.dumps(blocks)

    def candidate(number):
        return reminders.ReminderCandidate(
            item_id=number, incident_id=2_147_483_647, text=GROWING, owner_id=None, due=date(2026, 1, 1),
            snoozed_until=None, reminded_at=None, commander_id="U0CMD", channel_id="C0INC", incident_title=HOSTILE,
            recipient_tz="Pacific/Kiritimati", tracker="jira", tracker_key="OPS-" + "9" * 20,
            tracker_url=url if number % 2 else None, tracker_error=None if number % 2 else "x" * 500)

    digests = reminders.select_digests([candidate(i) for i in range(1, 201)], NOW, UTC, timedelta(hours=24))
    for digest in digests:
        for message in reminders.digest_messages(digest, NOW):
            within({"text": message.text, "blocks": message.blocks}, posted=True)
            no_half_entities({"blocks": message.blocks})


def test_a_spent_budget_is_waited_out_without_asking_github(tracker, github):
    github.remaining = 1  # the next answer says x-ratelimit-remaining: 0
    tracker.create_issue(new(1))
    before = len(github.calls)
    with pytest.raises(TrackerRetryLater, match="rate limit spent") as info:
        tracker.create_issue(new(2))
    assert 3500 < info.value.after_seconds <= 3600
    assert len(github.calls) == before and len(github.issues) == 1
