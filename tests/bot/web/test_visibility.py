"""Who sees what: an incident whose channel is private exists only for members of that channel, as
Slack says (conversations.list / users.conversations, kept briefly); to anyone else it is 404 and
absent from the list, search, action items and insights. When Slack cannot say, it stays hidden."""

from __future__ import annotations

import csv
import html as html_text
import io
import re
import threading
import time

import pytest
from slack_sdk.errors import SlackApiError

from bot import visibility
from tests.support.standin import BOT_USER_ID
from tests.support.web import sign_in


@pytest.fixture
def two_incidents(make_web, standin):
    """INC-1 in a public channel, INC-2 in a private one with U0MEMBER in it."""
    bot, client = make_web(incident_channel_mode="current")
    standin.add_channel("C0PUB", "war-room", members=(BOT_USER_ID,))
    standin.add_channel("C0PRIV", "secret-room", private=True, members=(BOT_USER_ID, "U0MEMBER"))
    bot.command("start Public outage sev2", channel_id="C0PUB", user_id="U0MEMBER")
    bot.command("start Secret breach sev1", channel_id="C0PRIV", user_id="U0MEMBER")
    bot.command("action rotate the keys <@U0MEMBER|m> due 2026-01-01", channel_id="C0PRIV", user_id="U0MEMBER")
    bot.command("resolved", channel_id="C0PRIV", user_id="U0MEMBER")
    bot.drain()
    return bot, client


def listed(client, query: str = "") -> set[str]:
    return set(re.findall(r">INC-(\d+)<", client.get("/incidents" + query).get_data(as_text=True)))


def test_a_non_member_cannot_find_a_private_incident_anywhere(two_incidents, standin):
    bot, client = two_incidents
    sign_in(client, standin, "U0OUTSIDER")
    assert listed(client) == {"1"}
    assert listed(client, "?q=breach") == set() and listed(client, "?severity=sev1") == set()
    for path in ("/incidents/2", "/incidents/2/draft.md", "/incidents/2/drafts/1"):
        assert client.get(path).status_code == 404, path
    assert "rotate the keys" not in client.get("/actions?owner=all").get_data(as_text=True)
    rows = list(csv.DictReader(io.StringIO(client.get("/insights.csv").get_data(as_text=True))))
    assert [r["count"] for r in rows if r["severity"] == "all"] == ["1"]
    assert not any(r["severity"] == "sev1" for r in rows)


def test_a_member_sees_it(two_incidents, standin):
    bot, client = two_incidents
    sign_in(client, standin, "U0MEMBER")
    assert listed(client) == {"1", "2"} and listed(client, "?q=breach") == {"2"}
    assert client.get("/incidents/2").status_code == 200
    assert "rotate the keys" in client.get("/actions").get_data(as_text=True)


def test_the_answers_are_kept_briefly_and_membership_is_asked_once_per_viewer(two_incidents, standin):
    bot, client = two_incidents
    sign_in(client, standin, "U0MEMBER")
    standin.reset()
    for _ in range(3):
        client.get("/incidents")
        client.get("/incidents/2")
    assert len(standin.calls_to("conversations.list")) <= 1
    assert [c["user"] for c in standin.calls_to("users.conversations")] in ([], ["U0MEMBER"])


def test_someone_removed_from_the_channel_loses_sight_of_it_within_a_minute():
    ticks = [0.0]
    standin_members = {"C0PRIV": ["U0MEMBER"]}

    class Client:
        def conversations_list(self, **_):
            return {"channels": [{"id": "C0PRIV", "is_private": True}], "response_metadata": {}}

        def users_conversations(self, user, **_):
            return {"channels": [{"id": c} for c, members in standin_members.items() if user in members],
                    "response_metadata": {}}

    seen = visibility.Visibility(Client(), clock=lambda: ticks[0])
    assert seen.can_see("U0MEMBER", "C0PRIV") and not seen.can_see("U0OTHER", "C0PRIV")
    standin_members["C0PRIV"] = []
    ticks[0] += visibility.MEMBERS_SECONDS - 1
    assert seen.can_see("U0MEMBER", "C0PRIV")  # kept briefly
    ticks[0] += 2
    assert not seen.can_see("U0MEMBER", "C0PRIV")


def test_when_slack_does_not_answer_private_incidents_stay_hidden(two_incidents, standin):
    bot, client = two_incidents
    sign_in(client, standin, "U0MEMBER")
    standin.fail("conversations.list", status=500, times=None)
    standin.fail("conversations.info", status=500, times=None)
    assert listed(client) == set()  # nothing is known to be public
    assert client.get("/incidents/2").status_code == 404
    standin.clear_faults()


def test_a_channel_slack_no_longer_lists_is_asked_about_once_and_hidden_if_unknown(two_incidents, standin):
    bot, client = two_incidents
    standin.channels["C0PRIV"].members.discard(BOT_USER_ID)  # the bot was removed from it
    sign_in(client, standin, "U0MEMBER")
    standin.reset()
    assert listed(client) == {"1"} and listed(client) == {"1"}
    assert [c["channel"] for c in standin.calls_to("conversations.info")] == ["C0PRIV"]


def test_nobody_is_a_member_without_sign_in(make_bot, standin):
    from tests.support.web import client_for

    bot = make_bot(web_auth="none", incident_channel_mode="current")
    standin.add_channel("C0PRIV", "secret-room", private=True, members=(BOT_USER_ID, "U0MEMBER"))
    bot.command("start Secret breach sev1", channel_id="C0PRIV", user_id="U0MEMBER")
    client = client_for(bot)
    assert listed(client) == set() and client.get("/incidents/1").status_code == 404


def test_curating_never_tells_a_non_member_about_a_private_incident(two_incidents, standin):
    from sqlmodel import select

    from storage.models import ActionItem, Entry
    from tests.support.web import csrf

    bot, client = two_incidents
    bot.command("log outsider was here", channel_id="C0PUB", user_id="U0OUTSIDER")
    bot.drain()
    with bot.db.read() as session:
        private_entry = session.exec(select(Entry.id).where(Entry.incident_id == 2)).first()
        private_item = session.exec(select(ActionItem.id).where(ActionItem.incident_id == 2)).first()
    sign_in(client, standin, "U0OUTSIDER")
    token = csrf(client.get("/incidents/1").get_data(as_text=True))
    for path in (f"/incidents/1/entries/{private_entry}", f"/incidents/2/entries/{private_entry}",
                 "/incidents/1/entries/99999", f"/actions/{private_item}/done", "/actions/99999/done"):
        answer = client.post(path, data={"csrf_token": token, "change": "hide"})
        assert answer.status_code == 404, path
    page = client.get("/incidents/1").get_data(as_text=True)
    assert "INC-2" not in page and "Secret" not in page
    with bot.db.read() as session:
        assert not session.get(Entry, private_entry).hidden
        assert session.get(ActionItem, private_item).status == "open"


def _banner(html: str) -> str:
    found = re.search(r'<p class="banner warning slack-trouble" role="alert">(.*?)</p>', html, re.S)
    return html_text.unescape(found.group(1)) if found else ""


def test_while_slack_is_not_answering_public_incidents_stay_and_the_page_says_why(two_incidents, standin,
                                                                                    monkeypatch):
    bot, client = two_incidents
    sign_in(client, standin, "U0MEMBER")
    assert listed(client) == {"1", "2"} and _banner(client.get("/incidents").get_data(as_text=True)) == ""
    monkeypatch.setattr(visibility, "DIRECTORY_SECONDS", 0)  # the list Slack gave has expired ...
    monkeypatch.setattr(visibility, "RETRY_SECONDS", 0)
    standin.fail("conversations.list", "ratelimited", times=None)  # ... and Slack does not give another
    page = client.get("/incidents").get_data(as_text=True)
    assert set(re.findall(r">INC-(\d+)<", page)) == {"1"}
    assert _banner(page) == "Slack is not answering (ratelimited): incidents in private channels are hidden until it does."
    assert client.get("/incidents/1").status_code == 200 and client.get("/incidents/2").status_code == 404
    standin.clear_faults()
    page = client.get("/incidents").get_data(as_text=True)
    assert set(re.findall(r">INC-(\d+)<", page)) == {"1", "2"} and _banner(page) == ""


def test_a_missing_scope_says_which_scopes_to_add(make_web, standin):
    bot, client = make_web(incident_channel_mode="current")
    standin.fail("conversations.list", "missing_scope", times=None)
    standin.add_channel("C0PUB", "war-room", members=(BOT_USER_ID,))
    bot.command("start Public outage sev2", channel_id="C0PUB", user_id="U0MEMBER")
    sign_in(client, standin, "U0MEMBER")
    page = client.get("/incidents").get_data(as_text=True)
    assert listed(client) == set()  # Slack never said which channels are public
    assert _banner(page) == ("The bot's Slack app is missing a scope: add channels:read and groups:read under "
                             "OAuth & Permissions and reinstall the app to the workspace. Until then incidents "
                             "in Slack channels are hidden, public ones too.")
    standin.clear_faults()


class _SlowSlack:
    """conversations.list that takes a while and says C0PUB is public, C0PRIV private."""

    def __init__(self, fail=False):
        self.calls = 0
        self.fail = fail
        self.lock = threading.Lock()

    def conversations_list(self, **_):
        with self.lock:
            self.calls += 1
        time.sleep(0.2)
        if self.fail:
            raise SlackApiError("ratelimited", {"ok": False, "error": "ratelimited"})
        return {"channels": [{"id": "C0PUB", "is_private": False}, {"id": "C0PRIV", "is_private": True}],
                "response_metadata": {}}

    def users_conversations(self, user, **_):
        return {"channels": [{"id": "C0PRIV"}], "response_metadata": {}}


def test_requests_that_find_the_list_expired_together_ask_slack_once():
    slack = _SlowSlack()
    seen = visibility.Visibility(slack)
    answers = []
    threads = [threading.Thread(target=lambda: answers.append(seen.hidden(None, ["C0PUB", "C0PRIV"])))
               for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert slack.calls == 1 and answers == [{"C0PRIV"}] * 8


def test_the_last_list_keeps_public_channels_visible_for_an_hour_then_nothing_is():
    ticks = [0.0]
    slack = _SlowSlack()
    seen = visibility.Visibility(slack, clock=lambda: ticks[0])
    assert seen.hidden("U0MEMBER", ["C0PUB", "C0PRIV"]) == set() and seen.trouble("U0MEMBER") is None
    slack.fail = True
    ticks[0] += visibility.DIRECTORY_SECONDS + 1
    assert seen.hidden("U0MEMBER", ["C0PUB", "C0PRIV", "C0NEW"]) == {"C0PRIV", "C0NEW"}
    assert seen.trouble(None) == "Slack is not answering (ratelimited): incidents in private channels are hidden until it does."
    ticks[0] = visibility.STALE_SECONDS + 1
    assert seen.hidden("U0MEMBER", ["C0PUB", "C0PRIV"]) == {"C0PUB", "C0PRIV"}
    assert seen.trouble(None).endswith("incidents in Slack channels are hidden, public ones too until it does.")
