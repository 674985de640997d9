"""Every page of the web view, as a signed-in person reads it: the incident list (filters, search,
pages, newest first), one incident (metrics, phase chart, timeline pages, key events, links to Slack,
action items, answers, drafts, activity log), the action items, insights and their CSV; times in the
viewer's own zone across midnight and a DST change, and in UTC at the switch."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta

import pytest

from storage import incidents as incident_rows
from storage.models import Incident
from tests.bot.commands.test_incident import open_incident
from tests.support import slack_requests as sr
from tests.support.web import csrf, sign_in


class Clock:
    def __init__(self, at: datetime):
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def text_of(response) -> str:
    return response.get_data(as_text=True)


def visible_text(html: str) -> str:
    """What a reader sees: the markup taken out, entities read."""
    import html as h

    return re.sub(r"\s+", " ", h.unescape(re.sub(r"<[^>]+>", " ", html)))


# 2026-03-28 23:30 UTC is 00:30 on the 29th in Berlin, and Berlin moves to summer time at 01:00 UTC.
DECLARED = datetime(2026, 3, 28, 23, 30, tzinfo=UTC)


@pytest.fixture
def berlin(make_web, standin):
    standin.add_user("U0USER1", tz="Europe/Berlin", name="alice")
    standin.add_user("U0USER2", tz="America/New_York", name="bob")
    clock = Clock(DECLARED)
    bot, client = make_web(clock=clock)
    return bot, client, clock


def run_incident(bot, clock, standin):
    """INC-1: declared 00:30 Berlin time (CET), messages, a key event, mitigated and resolved after the
    clocks went forward (CEST), an action item, an answer and a draft."""
    channel = open_incident(bot, "Checkout errors sev2")
    clock.at += timedelta(minutes=10)
    bot.command("log 23:20 deploy 4411 went out", channel_id=channel)  # typed in Berlin time: 22:20 UTC
    bot.command("started 23:25", channel_id=channel)
    said = sr.message("rolling back &lt;now&gt;", channel=channel, ts=f"{clock.at.timestamp():.6f}")
    bot.event(said)
    bot.event(sr.reaction("pushpin", {"type": "message", "channel": channel, "ts": said["ts"]}))
    for minute in range(3):
        bot.event(sr.message(f"chatter {minute}", channel=channel, ts=f"{clock.at.timestamp() + minute + 1:.6f}",
                             user="U0USER2"))
    clock.at = datetime(2026, 3, 29, 1, 30, tzinfo=UTC)  # 03:30 CEST
    bot.command("mitigated", channel_id=channel)
    clock.at += timedelta(minutes=30)
    bot.command("resolved", channel_id=channel)
    bot.command("action add retries to the client &lt;b&gt; <@U0USER1|alice> due 2026-03-30", channel_id=channel)
    bot.command("draft", command="/postmortem", channel_id=channel)
    bot.drain()
    return channel


def test_root_redirects_to_the_list(client, standin):
    sign_in(client, standin)
    assert client.get("/").headers["Location"] == "/incidents"


def test_the_incident_page_in_the_viewers_zone_across_the_dst_change(berlin, standin):
    bot, client, clock = berlin
    channel = run_incident(bot, clock, standin)
    sign_in(client, standin, "U0USER1")
    page = client.get("/incidents/1")
    assert page.status_code == 200
    html = text_of(page)
    seen = visible_text(html)
    assert "Checkout errors" in seen and "SEV2" in seen and "Resolved" in seen
    assert "Times in Europe/Berlin" in seen
    assert "2026-03-29 00:30 CET (UTC+01:00)" in seen  # declared: past midnight in Berlin
    assert "2026-03-29 03:30 CEST (UTC+02:00)" in seen  # mitigated, after the clocks went forward
    # the metrics with their definitions (bot.milestones)
    assert "Time to mitigate" in seen and "from the start of impact until the impact was mitigated" in seen
    # the chart, drawn by the server, with the key event on it
    assert '<svg class="chart phase-chart"' in html and 'class="key-event"' in html
    # the timeline links each channel message, and each log entry as the bot posted it, to Slack
    assert f"https://acme.slack.com/archives/{channel}/p" in html
    [logged] = [li for li in html.split("<li ") if "deploy 4411 went out" in li]
    assert 'class="slack"' in logged
    # the message text is shown literally, never as markup
    assert "rolling back &lt;now&gt;" in html
    assert "#1 add retries to the client <b> @alice · due 2026-03-30 · open" in seen  # not overdue on the 29th
    assert "Version 1" in seen and "/incidents/1/draft.md?version=1" in html
    assert "Activity log" in seen and "Milestone" in seen

    client.post("/zone", data={"csrf_token": csrf(html), "zone": "utc", "back": "/incidents/1"})
    seen = visible_text(text_of(client.get("/incidents/1")))
    assert "Times in UTC" in seen and "2026-03-28 23:30 UTC" in seen and "2026-03-29 01:30 UTC" in seen
    assert "Show in Europe/Berlin" in seen


def test_the_timeline_pages_and_the_key_events_switch(berlin, standin):
    bot, client, clock = berlin
    channel = run_incident(bot, clock, standin)
    for n in range(120):
        bot.event(sr.message(f"line {n:03d}", channel=channel, ts=f"{clock.at.timestamp() + n + 100:.6f}"))
    sign_in(client, standin)
    first = visible_text(text_of(client.get("/incidents/1")))
    assert "Page 1 of 2" in first and "line 000" in first and "line 119" not in first
    second = visible_text(text_of(client.get("/incidents/1?page=2")))
    assert "line 119" in second and "line 000" not in second
    key = visible_text(text_of(client.get("/incidents/1?key=1")))
    assert "Showing key events only" in key and "rolling back <now>" in key
    assert "chatter" not in key and "line 000" not in key
    assert "deploy 4411 went out" in key  # a log entry is a key event


def test_drafts_are_pages_and_downloads(berlin, standin):
    bot, client, clock = berlin
    run_incident(bot, clock, standin)
    sign_in(client, standin)
    page = client.get("/incidents/1/drafts/1")
    assert page.status_code == 200 and "<pre class=\"draft\">" in text_of(page)
    download = client.get("/incidents/1/draft.md?version=1")
    assert download.status_code == 200 and download.mimetype == "text/markdown"
    assert 'filename="INC-1-postmortem-v1.md"' in download.headers["Content-Disposition"]
    assert download.get_data(as_text=True).startswith("#")
    assert client.get("/incidents/1/draft.md").status_code == 200  # the newest
    assert client.get("/incidents/1/draft.md?version=9").status_code == 404
    bad = client.get("/incidents/1/draft.md?version=latest")
    assert bad.status_code == 400 and "is not a draft version" in text_of(bad)
    assert client.get("/incidents/2/draft.md").status_code == 404


def _add_incidents(bot, count: int, start: datetime, **fields) -> None:
    with bot.db.write() as session:
        for n in range(count):
            incident_rows.add_incident(session, Incident(title=f"Generated {n:03d}", created_by="U0USER9",
                                                         created_at=start + timedelta(hours=n), **fields))


def test_the_list_is_newest_first_and_paged(client, bot, standin):
    _add_incidents(bot, 55, datetime(2026, 1, 1, tzinfo=UTC), severity="sev3")
    sign_in(client, standin)
    seen = visible_text(text_of(client.get("/incidents")))
    assert "55 incidents, page 1 of 2" in seen
    assert seen.index("Generated 054") < seen.index("Generated 053")
    assert "Generated 004" not in seen
    assert "Generated 004" in visible_text(text_of(client.get("/incidents?page=2")))


def test_the_list_filters_by_status_severity_and_declared_day_in_the_viewers_zone(berlin, standin):
    bot, client, clock = berlin
    run_incident(bot, clock, standin)
    _add_incidents(bot, 2, datetime(2026, 3, 28, 12, 0, tzinfo=UTC), severity="sev1")
    sign_in(client, standin, "U0USER1")

    def listed(query: str) -> set[str]:
        return set(re.findall(r">INC-(\d+)<", text_of(client.get("/incidents" + query))))

    assert listed("") == {"1", "2", "3"}
    assert listed("?status=resolved") == {"1"}
    assert listed("?status=open&severity=sev1") == {"2", "3"}
    assert listed("?severity=sev2&severity=sev4") == {"1"}
    # declared 23:30 UTC on the 28th is the 29th in Berlin
    assert listed("?from=2026-03-29&to=2026-03-29") == {"1"}
    assert listed("?to=2026-03-28") == {"2", "3"}
    bad = client.get("/incidents?from=29.03.2026")
    assert bad.status_code == 400 and "write the from date as YYYY-MM-DD" in visible_text(text_of(bad))


def test_search_finds_titles_and_timeline_text_in_any_case(berlin, standin):
    bot, client, clock = berlin
    run_incident(bot, clock, standin)
    _add_incidents(bot, 1, datetime(2026, 3, 1, tzinfo=UTC))
    sign_in(client, standin)

    def found(q: str) -> set[str]:
        return set(re.findall(r">INC-(\d+)<", text_of(client.get("/incidents", query_string={"q": q}))))

    assert found("checkout") == {"1"}
    assert found("DEPLOY 4411") == {"1"}  # a log entry
    assert found("<now>") == {"1"}  # typed as is, stored in Slack's encoding
    assert found("generated") == {"2"}
    assert found("100%_") == set()  # LIKE's wildcards are just characters


def test_actions_are_by_owner_with_mine_first(berlin, standin):
    bot, client, clock = berlin
    channel = run_incident(bot, clock, standin)
    bot.command("action page the on-call <@U0USER2|bob> due 2026-03-01", channel_id=channel)
    bot.command("action nobody's job", channel_id=channel)
    sign_in(client, standin, "U0USER1")
    mine = visible_text(text_of(client.get("/actions")))
    assert "Showing yours" in mine and "add retries" in mine and "page the on-call" not in mine
    everyone = visible_text(text_of(client.get("/actions?owner=all")))
    assert "@alice" in everyone and "No owner" in everyone and ("@bob" in everyone or "@U0USER2" in everyone)
    assert "page the on-call" in everyone and "overdue" in everyone  # due on 1 March, it is the 29th


def test_an_items_tracker_issue_is_linked_where_the_item_is_shown(berlin, standin):
    """Issue 13: the issue's link is shown wherever the item is, the web view included; a URL that is
    not http(s) is never made a link, and a create that failed says so."""
    from storage import action_items as item_rows

    bot, client, clock = berlin
    channel = run_incident(bot, clock, standin)
    bot.command("action page the on-call <@U0USER1|alice>", channel_id=channel)
    bot.command("action write the runbook <@U0USER1|alice>", channel_id=channel)
    with bot.db.write() as session:
        first, second, third = [i.id for i in item_rows.action_items(session, 1)][:3]
        item_rows.set_tracker_issue(session, first, "github", "118", "https://github.com/acme/ops/issues/118", "open")
        item_rows.set_tracker_issue(session, second, "jira", "OPS-7", "javascript:alert(1)", "open")
        item_rows.set_tracker_error(session, third, "could not create the tracker issue: GitHub answered 500")
    sign_in(client, standin, "U0USER1")
    for path in ("/actions", "/incidents/1"):
        html = text_of(client.get(path))
        assert '<a href="https://github.com/acme/ops/issues/118" rel="noopener noreferrer">GitHub #118</a>' in html
        assert "Jira OPS-7" in html and "javascript:" not in html
        assert "could not create the tracker issue" in visible_text(html)


def test_insights_and_their_csv(berlin, standin):
    bot, client, clock = berlin
    run_incident(bot, clock, standin)
    _add_incidents(bot, 3, datetime(2026, 1, 15, tzinfo=UTC), severity="sev1")
    sign_in(client, standin, "U0USER1")
    page = client.get("/insights")
    html = text_of(page)
    assert page.status_code == 200 and html.count('<svg class="chart bar-chart"') >= 2
    seen = visible_text(html)
    assert "Incidents per month, by severity" in seen and "Time to resolve per month" in seen
    rows = list(csv.DictReader(io.StringIO(client.get("/insights.csv").get_data(as_text=True))))
    totals = {r["month"]: r for r in rows if r["severity"] == "all"}
    assert totals["2026-01"]["count"] == "3" and totals["2026-02"]["count"] == "0"
    assert totals["2026-03"]["count"] == "1"  # declared on the 29th in Berlin; in March either way
    assert totals["2026-03"]["time_to_resolve_median_s"] == str(3 * 3600 + 35 * 60)  # 23:25 Berlin (22:25 UTC) to 02:00 UTC
    only = list(csv.DictReader(io.StringIO(client.get("/insights.csv?from=2026-03-01").get_data(as_text=True))))
    assert {r["month"] for r in only} == {"2026-03"}
    assert client.get("/insights.csv?to=soon").status_code == 400


def test_pages_allow_no_script_no_framing_and_no_caching(client, standin):
    sign_in(client, standin)
    page = client.get("/incidents")
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'none'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert page.headers["X-Frame-Options"] == "DENY" and page.headers["Cache-Control"] == "no-store"
    assert "<script" not in text_of(page) and "http" not in re.sub(r'xmlns="[^"]+"', "", text_of(page).split("<main")[0])
    style = client.get("/static/style.css")
    try:
        assert style.status_code == 200 and "@import" not in style.get_data(as_text=True)
    finally:
        style.close()


def test_an_unknown_incident_is_404_and_a_crash_is_one_line(client, standin):
    sign_in(client, standin)
    assert client.get("/incidents/99").status_code == 404
    assert client.get("/nowhere").status_code == 404


def test_the_next_page_keeps_every_chosen_filter(client, bot, standin):
    with bot.db.write() as session:
        for n in range(60):
            incident_rows.add_incident(session, Incident(title=f"Outage {n}", created_by="U0USER9", status="open",
                                                         created_at=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(hours=n)))
    sign_in(client, standin)
    first = text_of(client.get("/incidents?status=open&status=mitigated&q=Outage"))
    link = re.search(r'href="([^"]+)" rel="next"', first).group(1).replace("&amp;", "&")
    assert sorted(re.findall(r"status=(\w+)", link)) == ["mitigated", "open"] and "q=Outage" in link and "page=2" in link
    second = text_of(client.get(link))
    assert len(re.findall(r">INC-\d+<", second)) == 10


HUGE = "99999999999999999999"


@pytest.mark.parametrize("path", [f"/incidents/{HUGE}", f"/incidents/{HUGE}/draft.md", f"/incidents/{HUGE}/drafts/1",
                                  f"/incidents/1/drafts/{HUGE}", "/incidents/2147483648"])
def test_a_number_too_large_for_the_database_is_no_page(berlin, standin, path):
    bot, client, clock = berlin
    run_incident(bot, clock, standin)
    sign_in(client, standin)
    assert client.get(path).status_code == 404, path
    token = csrf(text_of(client.get("/incidents/1")))
    assert client.post(f"/actions/{HUGE}/done", data={"csrf_token": token}).status_code == 404
    assert client.post(f"/incidents/1/entries/{HUGE}", data={"csrf_token": token, "change": "hide"}).status_code == 404


@pytest.mark.parametrize("version", ["²", "٣", "-1", "1.0"])  # str.isdigit() accepts the first two
def test_a_draft_version_that_is_not_a_plain_number_is_one_line(berlin, standin, version):
    bot, client, clock = berlin
    run_incident(bot, clock, standin)
    sign_in(client, standin)
    answer = client.get("/incidents/1/draft.md", query_string={"version": version})
    assert answer.status_code == 400 and "is not a draft version: use a number such as ?version=2." in text_of(answer)


@pytest.mark.parametrize("days", [{"to": "9999-12-31"}, {"from": "0001-01-01"}, {"from": "9999-12-31"},
                                  {"to": "1969-12-31"}])
@pytest.mark.parametrize("page", ["/incidents", "/insights", "/insights.csv"])
def test_a_day_at_the_edge_of_the_calendar_is_a_bad_filter_not_a_crash(berlin, standin, page, days):
    bot, client, clock = berlin
    run_incident(bot, clock, standin)
    sign_in(client, standin, "U0USER2")  # New York: 9999-12-31 ends after the last instant a datetime holds
    answer = client.get(page, query_string=days)
    assert answer.status_code == 400, (page, days)
    typed = next(iter(days.values()))
    assert f"“{typed}” is too far off: choose days between the years 1970 and 9998." in text_of(answer)


def test_the_pages_of_the_timeline_are_the_whole_timeline_in_order(make_web, standin):
    """Milestones are placed among the entries page by page without reading the whole timeline: the
    pages, put together, are the timeline the drafts use (bot.timeline), in its order, both modes."""
    from bot.timeline import load
    from bot.web import incident_pages

    clock = Clock(datetime(2026, 5, 1, 10, 0, tzinfo=UTC))
    bot, client = make_web(clock=clock)
    channel = open_incident(bot, "Long one sev3")
    base = clock.at.timestamp()
    for n in range(230):
        said = sr.message(f"m{n:03d}", channel=channel, ts=f"{base + 10 * n:.6f}")
        bot.event(said)
        if n % 7 == 0:
            bot.event(sr.reaction("pushpin", {"type": "message", "channel": channel, "ts": said["ts"]}))
    clock.at += timedelta(seconds=10 * 230)
    for name, n in (("acknowledged", 40), ("mitigated", 100), ("resolved", 200)):
        moment = datetime.fromtimestamp(base + 10 * n, UTC)  # the same second as message n: milestone first
        bot.command(f"{name} {moment:%Y-%m-%d %H:%M:%S} UTC", channel_id=channel)
    sign_in(client, standin)

    def shown(key: bool) -> list[str]:
        out, page = [], 1
        while True:
            html = text_of(client.get(f"/incidents/1?page={page}" + ("&key=1" if key else "")))
            out += [visible_text(t).strip() for t in re.findall(r'<span class="text">(.*?)</span>', html, re.S)]
            if 'rel="next"' not in html:
                return out
            page += 1

    expected = [visible_text(i.text).strip() for i in load_items(bot, load)]
    assert len(expected) > incident_pages.TIMELINE_PAGE * 2
    assert expected.index("Mitigated") == expected.index("m100") - 1  # same second: the milestone first
    assert shown(False) == expected
    assert shown(True) == [visible_text(i.text).strip() for i in load_items(bot, load) if i.key]


def load_items(bot, load):
    with bot.db.read() as session:
        items = load(session, 1, "pushpin")
    return [i for i in items if i.kind in ("log", "message") or i.key]


def test_people_never_looked_up_are_named_after_a_background_look_up(client, bot, standin):
    channel = open_incident(bot, "Names sev3")
    standin.add_user("U0CAROL", name="carol")
    bot.event(sr.message("I can reproduce it", channel=channel, user="U0CAROL"))
    sign_in(client, standin)
    standin.reset()
    first = visible_text(text_of(client.get("/incidents/1")))
    assert "@U0CAROL" in first and not standin.calls_to("users.info")  # the page did not wait on Slack
    bot.drain()  # the outbox asks users.info
    assert [c["user"] for c in standin.calls_to("users.info")] == ["U0CAROL"]
    assert "@carol I can reproduce it" in visible_text(text_of(client.get("/incidents/1")))
