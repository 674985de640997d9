"""The Jira Cloud client against the Jira stand-in: what a person sees in Jira, and what the bot is told
when Jira refuses, limits or does not answer."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import date
from pathlib import Path

import pytest

from bot.trackers.base import IssueStatus, NewIssue, TrackerAuthError, TrackerError, TrackerRetryLater
from bot.trackers.jira import SEARCH_SETTLE_SECONDS, JiraTracker
from tests.support.jira_standin import EMAIL, TOKEN, JiraStandIn

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "jira"
SECRET = "whsec-jira-0123456789"


@pytest.fixture
def jira():
    standin = JiraStandIn().start()
    standin.add_user("5b10ac8d82e05b22cc7d4ef5", "Alice Example", "alice@acme.example")
    standin.add_user("5b10a2844c20165700ede21g", "Alex Rivera", "alex@acme.example", email_visible=False)
    yield standin
    standin.stop()
    assert not standin.violations, f"requests that do not fit Jira's API: {standin.violations}"


def make(standin: JiraStandIn, **overrides) -> JiraTracker:
    settings = dict(base_url=standin.base_url, email=EMAIL, api_token=TOKEN, project="OPS",
                    webhook_secret=SECRET)
    settings.update(overrides)
    return JiraTracker(**settings)


@pytest.fixture
def tracker(jira):
    client = make(jira)
    yield client
    client.shutdown()


def item(marker: str = "incident-bot:item:42", **fields) -> NewIssue:
    values = dict(marker=marker, title="Add a circuit breaker to the payment call",
                  body="Add a circuit breaker to the payment call",
                  text="Add a circuit breaker to the payment call",
                  incident_ref="INC-42", incident_title="Checkout errors",
                  link="https://acme.slack.com/archives/C0INC01", due=date(2026, 12, 11),
                  owner_email="alice@acme.example", owner_name="Alice Example")
    values.update(fields)
    return NewIssue(**values)


def texts(doc: dict) -> list[str]:
    """Every text node's text, in order."""
    found = []

    def walk(node):
        if node.get("type") == "text":
            found.append(node["text"])
        for child in node.get("content") or []:
            walk(child)
    walk(doc)
    return found


def nodes(doc: dict) -> list[dict]:
    found = []

    def walk(node):
        found.append(node)
        for child in node.get("content") or []:
            walk(child)
    walk(doc)
    return found


def test_the_client_is_a_tracker(tracker):
    from bot.trackers import Tracker

    assert isinstance(tracker, Tracker) and tracker.name == "jira"


# -- creating -------------------------------------------------------------------------------------------


def test_an_item_becomes_an_issue_with_due_date_label_and_the_owner_found_by_email(jira, tracker):
    issue = tracker.create_issue(item())

    assert issue.key == "OPS-17" and issue.state == "open"
    assert issue.url == f"{jira.base_url}/browse/OPS-17"
    stored = jira.issues["OPS-17"].fields
    assert stored["summary"] == "Add a circuit breaker to the payment call"
    assert stored["duedate"] == "2026-12-11"
    assert "incident" in stored["labels"] and "incident-bot:item:42" in stored["labels"]
    assert stored["assignee"] == "5b10ac8d82e05b22cc7d4ef5"
    words = " ".join(texts(stored["description"]))
    assert "Add a circuit breaker" in words and "INC-42 Checkout errors" in words
    assert "Due: 2026-12-11" in words
    sent = jira.calls_to("POST", "/rest/api/3/issue")[0].body
    assert sent["fields"]["issuetype"] == {"id": "10001"} and sent["fields"]["project"] == {"key": "OPS"}


def test_an_owner_jira_does_not_know_leaves_the_issue_unassigned_and_named_in_it(jira, tracker):
    tracker.create_issue(item(owner_email="dana@elsewhere.example", owner_name="Dana Doe"))

    stored = jira.issues["OPS-17"].fields
    assert stored["assignee"] is None
    assert "Owner: Dana Doe" in " ".join(texts(stored["description"]))


def test_an_owner_who_gets_a_jira_account_later_is_assigned_once_the_no_is_stale(jira, tracker, monkeypatch):
    import bot.trackers.jira as module

    tracker.create_issue(item(owner_email="new@acme.example", owner_name="New Person"))
    jira.add_user("5b10new", "New Person", "new@acme.example")
    tracker.create_issue(item(marker="m2", owner_email="new@acme.example"))
    assert jira.issues["OPS-18"].fields["assignee"] is None  # "no account" is remembered a while
    monkeypatch.setattr(module, "NO_ACCOUNT_TTL_SECONDS", 0)
    tracker.create_issue(item(marker="m3", owner_email="new@acme.example"))
    assert jira.issues["OPS-19"].fields["assignee"] == "5b10new"
    assert len(jira.calls_to("GET", "/rest/api/3/user/search")) == 2


def test_an_owner_who_hides_their_email_is_still_found_when_one_account_matches(jira, tracker):
    tracker.create_issue(item(owner_email="alex@acme.example", owner_name="Alex Rivera"))
    assert jira.issues["OPS-17"].fields["assignee"] == "5b10a2844c20165700ede21g"


def test_an_owner_lookup_matching_several_hidden_accounts_assigns_nobody(jira, tracker):
    jira.add_user("5b10dup1", "Sam One", "sam@acme.example", email_visible=False)
    jira.add_user("5b10dup2", "Sam Two", "sam@acme.example", email_visible=False)
    tracker.create_issue(item(owner_email="sam@acme.example", owner_name="Sam"))
    assert jira.issues["OPS-17"].fields["assignee"] is None


def test_an_owner_jira_will_not_assign_costs_the_assignee_not_the_issue(jira, tracker):
    jira.unassignable.add("5b10ac8d82e05b22cc7d4ef5")
    issue = tracker.create_issue(item())

    assert issue.key == "OPS-17" and len(jira.issues) == 1
    assert jira.issues["OPS-17"].fields["assignee"] is None
    assert len(jira.calls_to("POST", "/rest/api/3/issue")) == 2


def test_a_create_screen_without_due_date_puts_the_date_in_the_description(jira, tracker):
    del jira.create_screen["duedate"]
    tracker.create_issue(item())

    stored = jira.issues["OPS-17"].fields
    assert stored["duedate"] is None
    assert "Due: 2026-12-11" in " ".join(texts(stored["description"]))


def test_a_refused_create_says_why_in_one_line(jira, tracker):
    jira.required_extra.append("components")
    with pytest.raises(TrackerError) as failed:
        tracker.create_issue(item())
    assert "components" in str(failed.value) and "\n" not in str(failed.value)
    assert not isinstance(failed.value, TrackerRetryLater)
    assert not jira.issues


def test_an_unknown_issue_type_names_the_setting_and_the_types_there_are(jira):
    tracker = make(jira, issue_type="Incident Follow-up")
    with pytest.raises(TrackerError) as failed:
        tracker.create_issue(item())
    message = str(failed.value)
    assert "JIRA_ISSUE_TYPE" in message and "Task" in message and "Bug" in message
    tracker.shutdown()


# -- hostile text ---------------------------------------------------------------------------------------

HOSTILE = ("see https://evil.example/x and [click](https://evil.example) <https://evil.example> "
           "<a href=\"https://evil.example\">x</a> @channel <@U0USER1> [~accountid:5b10ac8d82e05b22cc7d4ef5] "
           "{{7*7}} ![img](https://evil.example/i.png)\nsecond line\u202e\x07")


def test_user_text_never_becomes_a_link_or_mention_in_the_document(jira, tracker):
    tracker.create_issue(item(title="fix it\nnow " + HOSTILE, text=HOSTILE, incident_title=HOSTILE,
                              owner_name="[x](https://evil.example) @here", owner_email=None))

    stored = jira.issues["OPS-17"].fields
    doc = stored["description"]
    assert {n["type"] for n in nodes(doc)} <= {"doc", "paragraph", "text", "hardBreak"}
    linked = [(n["text"], m) for n in nodes(doc) for m in n.get("marks", [])]
    assert linked == [("incident channel in Slack",
                       {"type": "link", "attrs": {"href": "https://acme.slack.com/archives/C0INC01"}})]
    words = "".join(texts(doc))
    assert "[click](https://evil.example)" in words and "<@U0USER1>" in words and "{{7*7}}" in words
    assert "\x07" not in words
    assert "\n" not in stored["summary"]
    assert stored["summary"].startswith("fix it now see https://evil.example")


def test_markdown_body_alone_is_unescaped_into_plain_text(jira, tracker):
    tracker.create_issue(item(text="", body="fix \\*now\\* \\[x\\](y) &lt;b>\n\nnext", incident_ref="",
                              incident_title="", owner_name=None, due=None))
    doc = jira.issues["OPS-17"].fields["description"]
    assert texts(doc) == ["fix *now* [x](y) <b>", "next"]
    assert not any(n.get("marks") for n in nodes(doc))


def test_the_longest_item_fits_jiras_description_limit(jira, tracker):
    tracker.create_issue(item(text="line\n" * 20_000 + "x" * 40_000))
    doc = jira.issues["OPS-17"].fields["description"]
    assert 30_000 < len(json.dumps(doc, ensure_ascii=False)) <= 32_767
    assert "Due: 2026-12-11" in " ".join(texts(doc))  # the facts after the item survive the cut


def test_bidi_controls_cannot_reorder_what_jira_shows(jira, tracker):
    tracker.create_issue(item(text="pay \u202egnp.exe\u2066 x"))
    assert texts(jira.issues["OPS-17"].fields["description"])[0] == "pay  gnp.exe  x"


def test_a_title_longer_than_jira_allows_is_cut(jira, tracker):
    tracker.create_issue(item(title="x" * 400))
    assert len(jira.issues["OPS-17"].fields["summary"]) == 255


# -- exactly once: the marker ---------------------------------------------------------------------------


def test_after_a_create_whose_answer_was_lost_the_marker_finds_the_issue(jira, tracker):
    jira.fail("POST", r"/rest/api/3/issue$", effect=True, drop=True)
    with pytest.raises(TrackerRetryLater) as lost:
        tracker.create_issue(item())
    assert lost.value.ambiguous and lost.value.after_seconds >= SEARCH_SETTLE_SECONDS
    assert list(jira.issues) == ["OPS-17"]  # Jira did create it

    found = tracker.find_by_marker("incident-bot:item:42")
    assert found is not None and found.key == "OPS-17" and found.state == "open"
    assert tracker.find_by_marker("incident-bot:item:43") is None
    assert len(jira.calls_to("POST", "/rest/api/3/issue")) == 1


def test_the_marker_of_item_4_never_finds_item_42s_issue(jira, tracker):
    """Labels match whole in JQL and again in the answer: item 4 never adopts item 42's issue."""
    made = tracker.create_issue(item(marker="incident-bot:item:42"))
    assert tracker.find_by_marker("incident-bot:item:4") is None
    assert tracker.find_by_marker("incident-bot:item:42").key == made.key


def test_the_search_index_lags_which_is_why_the_search_waits(jira, tracker):
    """Jira's search is eventually consistent: a search right after the lost create may miss the issue;
    the same search once the index caught up finds it."""
    jira.search_lag = 0.5
    jira.fail("POST", r"/rest/api/3/issue$", status=504, effect=True)
    with pytest.raises(TrackerRetryLater) as lost:
        tracker.create_issue(item())
    assert lost.value.ambiguous and lost.value.after_seconds >= SEARCH_SETTLE_SECONDS
    assert tracker.find_by_marker("incident-bot:item:42") is None
    time.sleep(0.6)
    assert tracker.find_by_marker("incident-bot:item:42").key == "OPS-17"


def test_a_marker_with_spaces_and_quotes_is_still_found_exactly(jira, tracker):
    marker = 'item 7 "quoted" \\ x'
    tracker.create_issue(item(marker=marker))
    tracker.create_issue(item(marker="item 7"))
    assert tracker.find_by_marker(marker).key == "OPS-17"
    assert tracker.find_by_marker("item 7").key == "OPS-18"


def test_a_closed_issue_is_found_closed(jira, tracker):
    tracker.create_issue(item())
    jira.set_status("OPS-17", "10001")
    assert tracker.find_by_marker("incident-bot:item:42").state == "closed"


# -- closing and reopening ------------------------------------------------------------------------------


def test_done_takes_the_done_transition_and_a_second_close_changes_nothing(jira, tracker):
    tracker.create_issue(item())
    tracker.close("OPS-17", "completed")

    assert jira.issues["OPS-17"].fields["status"] == "10001"
    sent = jira.calls_to("POST", r"/rest/api/3/issue/OPS-17/transitions")
    assert sent[0].body == {"transition": {"id": "31"}}
    tracker.close("OPS-17", "completed")
    assert len(jira.calls_to("POST", r"/rest/api/3/issue/OPS-17/transitions")) == 1
    assert not jira.issues["OPS-17"].comments


def test_drop_closes_by_the_same_transition_and_says_not_planned(jira, tracker):
    tracker.create_issue(item())
    tracker.close("OPS-17", "not_planned")

    issue = jira.issues["OPS-17"]
    assert issue.fields["status"] == "10001"
    assert ["Dropped in incident-bot: not planned."] == [texts(c["body"])[0] for c in issue.comments]


def test_drop_sets_wont_do_where_the_done_screen_asks_for_a_resolution(jira, tracker):
    jira.done_screen_resolutions = True
    tracker.create_issue(item())
    tracker.close("OPS-17", "not_planned")
    assert jira.issues["OPS-17"].fields["resolution"] == "10001"  # Won't Do

    tracker.create_issue(item(marker="m2"))
    tracker.close("OPS-18", "completed")
    assert jira.issues["OPS-18"].fields["resolution"] == "10000"  # Done


def test_a_done_transition_the_workflow_lacks_names_the_setting_and_the_choices(jira):
    tracker = make(jira, done_transition="Close")
    tracker.create_issue(item())
    with pytest.raises(TrackerError) as failed:
        tracker.close("OPS-17", "completed")
    assert "JIRA_DONE_TRANSITION" in str(failed.value) and "'Done'" in str(failed.value)
    assert jira.issues["OPS-17"].fields["status"] == "10000"
    tracker.shutdown()


def test_the_done_transition_is_matched_by_name_whatever_its_id(jira):
    jira.transitions = {"5": ("To Do", "10000"), "701": ("Resolve", "10001")}
    tracker = make(jira, done_transition="resolve")
    tracker.create_issue(item())
    tracker.close("OPS-17", "completed")
    assert jira.issues["OPS-17"].fields["status"] == "10001"
    tracker.shutdown()


def test_reopen_moves_a_closed_issue_back_to_to_do_and_leaves_an_open_one(jira, tracker):
    tracker.create_issue(item())
    tracker.reopen("OPS-17")
    assert not jira.calls_to("POST", r"/rest/api/3/issue/OPS-17/transitions")

    jira.set_status("OPS-17", "10001")
    tracker.reopen("OPS-17")
    assert jira.issues["OPS-17"].fields["status"] == "10000"
    assert jira.issues["OPS-17"].fields["resolution"] is None


def test_closing_an_issue_that_is_gone_says_so(jira, tracker):
    with pytest.raises(TrackerError) as failed:
        tracker.close("OPS-999", "completed")
    assert "OPS-999" in str(failed.value) and not isinstance(failed.value, TrackerRetryLater)
    with pytest.raises(TrackerError):
        tracker.reopen("../../myself?x=")
    assert not jira.calls_to("GET", r".*myself.*")


# -- states ---------------------------------------------------------------------------------------------


def test_states_are_read_in_batches_of_fifty_keys(jira, tracker):
    keys = [jira.add_issue(f"item {n}") for n in range(120)]
    for key in keys[::3]:
        jira.set_status(key, "10001")

    states = tracker.states(keys)

    assert states == {k: (IssueStatus("closed", "completed") if i % 3 == 0 else IssueStatus("open"))
                      for i, k in enumerate(keys)}
    searches = jira.calls_to("POST", "/rest/api/3/search/jql")
    assert len(searches) == 3
    assert all(s.body["fields"] == ["status", "resolution"] for s in searches)


@pytest.mark.parametrize(("resolution", "reason"), [("10000", "completed"), ("10001", "not_planned"),
                                                    ("10002", "not_planned")])
def test_states_say_why_an_issue_was_closed_as_the_webhook_does(jira, tracker, resolution, reason):
    key = jira.add_issue("item")
    jira.set_status(key, "10001", resolution)  # Done, resolved Done / Won't Do / Duplicate
    assert tracker.states([key]) == {key: IssueStatus("closed", reason)}
    change = tracker.webhook_change({}, jira.webhook_issue_updated(key))
    assert (change.state, change.reason) == ("closed", reason)


def test_states_follow_next_page_tokens(jira, tracker):
    jira.page_size = 7
    keys = [jira.add_issue(f"item {n}") for n in range(30)]
    assert set(tracker.states(keys)) == set(keys)
    tokens = [c.body.get("nextPageToken") for c in jira.calls_to("POST", "/rest/api/3/search/jql")]
    assert tokens[0] is None and all(tokens[1:]) and len(tokens) == 5


def test_a_deleted_issue_is_left_out_and_does_not_hide_the_others(jira, tracker):
    keys = [jira.add_issue("a"), jira.add_issue("b")]
    assert tracker.states([keys[0], "OPS-999", keys[1], "not a key"]) == {keys[0]: IssueStatus("open"),
                                                                          keys[1]: IssueStatus("open")}
    assert tracker.states([]) == {}


# -- when Jira refuses, limits or is away ---------------------------------------------------------------


def test_a_rate_limit_is_retried_at_the_time_jira_says(jira, tracker):
    jira.fail("POST", "/rest/api/3/search/jql", 429, retry_after=17)
    with pytest.raises(TrackerRetryLater) as limited:
        tracker.states(["OPS-1"])
    assert limited.value.after_seconds == 17 and not limited.value.ambiguous
    assert "jira-burst-based" in str(limited.value)


def test_a_5xx_is_retried_later_and_a_5xx_to_a_create_may_have_created(jira, tracker):
    jira.fail("GET", r"/issue/OPS-1$", 503, retry_after=5)
    with pytest.raises(TrackerRetryLater) as busy:
        tracker.close("OPS-1", "completed")
    assert busy.value.after_seconds == 5 and not busy.value.ambiguous

    jira.fail("POST", r"/rest/api/3/issue$", 502)
    with pytest.raises(TrackerRetryLater) as failed:
        tracker.create_issue(item())
    assert failed.value.ambiguous


def test_jira_down_is_a_retry_and_not_an_ambiguous_create(jira, tracker):
    tracker.issue_type_id()
    jira.down()
    with pytest.raises(TrackerRetryLater) as away:
        tracker.create_issue(item(owner_email=None))
    assert not away.value.ambiguous and away.value.after_seconds == 0  # no time of its own: the outbox backoff
    jira.up()
    assert tracker.create_issue(item(owner_email=None)).key == "OPS-17"


def test_wrong_credentials_say_what_to_fix_without_the_token(jira):
    tracker = make(jira, api_token="ATATT-wrong-token-value")
    with pytest.raises(TrackerAuthError) as refused:
        tracker.create_issue(item())
    message = str(refused.value)
    assert "JIRA_API_TOKEN" in message and "JIRA_EMAIL" in message and "401" in message
    assert "ATATT-wrong-token-value" not in message
    tracker.shutdown()


def test_a_missing_permission_names_it(jira, tracker):
    tracker.create_issue(item())
    jira.fail("POST", r"/transitions$", 403)
    with pytest.raises(TrackerAuthError) as refused:
        tracker.close("OPS-17", "completed")
    assert "Transition issues" in str(refused.value) and "OPS" in str(refused.value)


# -- check ----------------------------------------------------------------------------------------------


def test_check_passes_on_a_good_configuration(jira, tracker):
    jira.add_issue("an open task")
    lines = tracker.check()
    assert all(ok for ok, _ in lines), lines
    said = "\n".join(line for _, line in lines)
    assert "Incident Bot" in said and "Operations" in said and "Task" in said
    assert "'Done' is available" in said


def test_check_without_an_open_issue_says_the_transition_is_not_checked_yet(jira, tracker):
    lines = tracker.check()
    assert all(ok for ok, _ in lines)
    assert any("not checked yet" in line for _, line in lines)


@pytest.mark.parametrize(("change", "settings", "expected"), [
    (None, {"api_token": "ATATT-wrong"}, "JIRA_API_TOKEN"),
    (None, {"project": "NOPE"}, "JIRA_PROJECT"),
    (None, {"issue_type": "Story"}, "JIRA_ISSUE_TYPE"),
    (None, {"done_transition": "Close"}, "JIRA_DONE_TRANSITION"),
    (lambda j: j.permissions.discard("TRANSITION_ISSUES"), {}, "Transition issues"),
    (lambda j: j.required_extra.append("components"), {}, "Components"),
    (lambda j: j.create_screen.pop("labels"), {}, "Labels"),
])
def test_check_names_what_to_fix(jira, change, settings, expected):
    jira.add_issue("an open task")
    if change:
        change(jira)
    tracker = make(jira, **settings)
    lines = tracker.check()
    failed = [line for ok, line in lines if not ok]
    assert len(failed) == 1 and expected in failed[0], lines
    assert "ATATT" not in "\n".join(line for _, line in lines)
    tracker.shutdown()


def test_check_warns_when_the_token_would_travel_in_clear(jira):
    tracker = make(jira, base_url=jira.base_url.replace("127.0.0.1", "[::1]"))  # no DNS, no internet
    lines = tracker.check()
    assert not lines[0][0] and "not https" in lines[0][1]
    tracker.shutdown()


def test_check_names_the_base_url_when_it_is_not_jira(jira):
    tracker = make(jira, base_url=jira.base_url + "/wiki")
    lines = tracker.check()
    assert len(lines) == 1 and not lines[0][0] and "JIRA_BASE_URL" in lines[0][1]
    tracker.shutdown()


def test_a_captcha_after_failed_sign_ins_says_how_to_clear_it(jira, tracker):
    jira.fail("GET", "/myself", 403, headers={"X-Authentication-Denied-Reason": "CAPTCHA_CHALLENGE; "
                                                                                "login-url=https://x"})
    [(ok, line)] = tracker.check()
    assert not ok and "CAPTCHA" in line and "browser" in line


# -- webhooks -------------------------------------------------------------------------------------------


def sign(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_a_webhook_signed_with_the_secret_is_accepted_and_anything_else_refused(jira, tracker):
    raw = (FIXTURES / "jira_webhook_issue_updated.json").read_bytes()
    assert tracker.verify_webhook({"x-hub-signature": sign(raw)}, raw)
    assert tracker.verify_webhook({"x-hub-signature": sign(raw).upper().replace("SHA256=", "sha256=")}, raw)
    assert not tracker.verify_webhook({"x-hub-signature": sign(raw, "another-secret")}, raw)
    assert not tracker.verify_webhook({"x-hub-signature": sign(raw)}, raw + b" ")
    assert not tracker.verify_webhook({}, raw)
    assert not tracker.verify_webhook({"x-hub-signature": sign(raw)[7:]}, raw)  # no method
    assert not tracker.verify_webhook({"x-hub-signature": "sha256=é"}, raw)
    unsigned = make(jira, webhook_secret=None)
    assert not unsigned.verify_webhook({"x-hub-signature": sign(raw)}, raw)
    unsigned.shutdown()


def test_the_websub_signature_is_hmac_sha256_of_the_raw_body(jira):
    """A known answer (the same algorithm as GitHub's documented example)."""
    tracker = make(jira, webhook_secret="It's a Secret to Everybody")
    assert tracker.verify_webhook(
        {"x-hub-signature": "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"},
        b"Hello, World!")
    tracker.shutdown()


def test_a_status_change_to_done_closes_and_one_back_reopens(jira, tracker):
    body = json.loads((FIXTURES / "jira_webhook_issue_updated.json").read_text())
    change = tracker.webhook_change({"x-atlassian-webhook-identifier": "d-1"}, body)
    said = (change.delivery_id, change.key, change.state, change.reason)
    assert said == ("d-1", "OPS-17", "closed", "completed")

    key = jira.add_issue("x")
    jira.set_status(key, "10001", "10001")
    change = tracker.webhook_change({}, jira.webhook_issue_updated(key))
    assert change.state == "closed" and change.reason == "not_planned"
    assert change.delivery_id.startswith("jira:")

    jira.set_status(key, "10000")
    assert tracker.webhook_change({}, jira.webhook_issue_updated(key, from_status="10001")).state == "open"


def test_other_deliveries_change_nothing(jira, tracker):
    body = json.loads((FIXTURES / "jira_webhook_issue_updated.json").read_text())
    no_status = json.loads(json.dumps(body))
    no_status["changelog"]["items"] = [i for i in body["changelog"]["items"] if i["field"] != "status"]
    other_project = json.loads(json.dumps(body))
    other_project["issue"]["key"] = "SALES-3"
    created = dict(body, webhookEvent="jira:issue_created")
    for delivery in (no_status, other_project, created, {}, {"webhookEvent": "jira:issue_updated"}):
        assert tracker.webhook_change({}, delivery) is None


# -- the command line -----------------------------------------------------------------------------------


def test_trackers_check_prints_one_line_per_check(jira, monkeypatch, capsys, tmp_path):
    from bot import cli

    jira.add_issue("an open task")
    monkeypatch.chdir(tmp_path)  # no .env here
    for name, value in {"TRACKER": "jira", "JIRA_BASE_URL": jira.base_url, "JIRA_EMAIL": EMAIL,
                        "JIRA_API_TOKEN": TOKEN, "JIRA_PROJECT": "OPS", "JIRA_DONE_TRANSITION": "Close",
                        "DATABASE_URL": f"sqlite:///{tmp_path / 'bot.db'}"}.items():
        monkeypatch.setenv(name, value)

    assert cli.main(["trackers", "check"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("ok   Jira: signed in") and len(out) == 7
    [failed] = [line for line in out if line.startswith("FAIL")]
    assert "JIRA_DONE_TRANSITION" in failed and TOKEN not in "\n".join(out)


# -- the stand-in answers like Jira ---------------------------------------------------------------------


def shape(value):
    """Keys and types, recursively (lists by their first element), not values."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return type(value).__name__


def covers(real, ours, path="") -> list[str]:
    """What the documented shape has that the stand-in's answer lacks or types differently."""
    if isinstance(real, dict):
        if not isinstance(ours, dict):
            return [f"{path}: not an object"]
        return [p for k, v in real.items() for p in
                ([f"{path}.{k}: missing"] if k not in ours else covers(v, ours[k], f"{path}.{k}"))]
    if isinstance(real, list):
        return covers(real[0], ours[0], path + "[0]") if real and ours else []
    return [] if real == ours or "NoneType" in (real, ours) else [f"{path}: {ours}, not {real}"]


def fixture(name: str):
    return json.loads((FIXTURES / name).read_text())


def test_the_documented_create_request_is_accepted_and_answered_in_the_documented_shape(jira):
    import httpx

    body = fixture("jira_issue_create_request.json")
    with httpx.Client(base_url=jira.base_url, auth=(EMAIL, TOKEN)) as http:
        created = http.post("/rest/api/3/issue", json=body)
        assert created.status_code == 201, created.text
        assert not covers(shape(fixture("jira_issue_create_response.json")), shape(created.json()))
        transitions = http.get(f"/rest/api/3/issue/{created.json()['key']}/transitions").json()
        assert not covers(shape(fixture("jira_transitions_response.json")), shape(transitions))
        users = http.get("/rest/api/3/user/search", params={"query": "alice@acme.example"}).json()
        documented = shape(fixture("jira_user_search_response.json"))
        documented[0].pop("avatarUrls")  # the stand-in leaves avatars out
        assert not covers(documented, shape(users))
    issue = jira.issues[created.json()["key"]]
    assert issue.fields["description"]["content"][0]["content"][1]["marks"][0]["type"] == "link"


def test_the_standin_refuses_what_jira_refuses(jira):
    import httpx

    with httpx.Client(base_url=jira.base_url, auth=(EMAIL, TOKEN)) as http:
        bad = {"fields": {"project": {"key": "OPS"}, "issuetype": {"id": "10001"}, "summary": "a\nb",
                          "description": "plain text is v2, not v3", "labels": ["two words"],
                          "duedate": "21/11/2026"}}
        answer = http.post("/rest/api/3/issue", json=bad)
        assert answer.status_code == 400
        assert set(answer.json()) == {"errorMessages", "errors"}
        assert set(answer.json()["errors"]) == {"summary", "description", "labels", "duedate"}
        assert http.get("/rest/api/3/myself", auth=(EMAIL, "wrong")).status_code == 401
        assert http.post("/rest/api/3/search/jql", json={"jql": "statusCategory != Done"}).status_code == 400
    jira.violations.clear()  # these were on purpose
