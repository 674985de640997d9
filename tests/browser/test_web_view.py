"""The web view in a real browser (headless Chromium): sign in through the stand-in's OpenID provider,
walk list → incident → timeline pages, see the chart, switch to key events, edit an entry, mark an
item done; hostile text stays text; a private incident is 404 to a non-member; a POST without its
CSRF token is refused. A screenshot of each page is kept in test-artifacts/browser/."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import screenshot
from tests.support import slack_requests as sr
from tests.support.standin import BOT_USER_ID

HOSTILE = "<img src=x onerror=alert(1)><script>alert(2)</script>{{7*7}} <b>bold?</b>"


def start_incident(site, title: str, **kwargs) -> str:
    site.bot.command(f"start {title}", **kwargs)
    site.bot.drain()
    return [c for c in site.standin.channels.values() if c.name.startswith("inc-")][-1].id


def sign_in(page, site, user_id: str = "U0USER1", path: str = "/incidents"):
    site.standin.sign_in_as(user_id, name=user_id.lower())
    page.goto(site.url + path)  # → /login → Slack's authorize (the stand-in) → callback → the page
    page.wait_for_url(re.compile(re.escape(site.url + path) + "$"))


@pytest.fixture
def incident(site):
    """INC-1 with 130 messages (one 📌-marked), a log entry, milestones, an action item and a draft."""
    channel = start_incident(site, "Checkout errors sev2")
    site.standin.add_user("U0USER1", tz="Europe/Berlin", name="alice")
    bot = site.bot
    bot.command("log database failover begun", channel_id=channel)
    first = None
    for n in range(130):
        said = sr.message(f"chat line {n:03d}", channel=channel)
        first = first or said
        bot.event(said)
    bot.event(sr.reaction("pushpin", {"type": "message", "channel": channel, "ts": first["ts"]}))
    bot.command("mitigated", channel_id=channel)
    bot.command("resolved", channel_id=channel)
    bot.command("action add retries <@U0USER1|alice> due 2030-01-01", channel_id=channel)
    bot.command("draft", command="/postmortem", channel_id=channel)
    bot.drain()
    return channel


def test_sign_in_and_walk_the_pages(page, site, incident):
    sign_in(page, site)
    expect(page.get_by_text("Signed in as u0user1")).to_be_visible()
    screenshot(page, "01-incidents")

    page.get_by_role("link", name="INC-1").click()
    page.wait_for_url(site.url + "/incidents/1")
    chart = page.locator("svg.phase-chart")
    assert chart.is_visible() and chart.locator("circle.key-event").count() >= 1
    expect(page.get_by_role("heading", name="Timeline")).to_be_visible()
    screenshot(page, "02-incident")

    page.get_by_role("link", name="Next →").click()
    page.wait_for_url(re.compile(r"page=2"))
    expect(page.locator("ol.timeline .text", has_text="chat line 129")).to_be_visible()
    screenshot(page, "03-timeline-page-2")

    page.get_by_role("link", name="Key events only").click()
    page.wait_for_url(re.compile(r"key=1"))
    expect(page.get_by_text("Showing key events only")).to_be_visible()
    texts = page.locator("ol.timeline .text").all_inner_texts()
    assert "chat line 000" in texts and "chat line 001" not in texts
    screenshot(page, "04-key-events")

    page.goto(site.url + "/incidents/1/drafts/1")
    expect(page.locator("pre.draft")).to_be_visible()
    screenshot(page, "05-draft")
    page.goto(site.url + "/actions")
    expect(page.get_by_text("add retries")).to_be_visible()
    screenshot(page, "06-actions")
    page.goto(site.url + "/insights")
    expect(page.locator("svg.bar-chart").first).to_be_visible()
    screenshot(page, "07-insights")

    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    for path, name in (("/incidents", "12-phone-incidents"), ("/incidents/1", "13-phone-incident")):
        page.goto(site.url + path)
        screenshot(page, name)
        wide = page.evaluate("""() => [...document.querySelectorAll('body *')]
            .filter(e => e.getBoundingClientRect().right > 392 && !e.closest('.scroll'))
            .map(e => e.tagName + '.' + e.className).slice(0, 5)""")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, f"{path} scrolls sideways: {wide}"
    assert page.problems == []


def test_the_pages_work_by_keyboard(page, site, incident):
    sign_in(page, site)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    for _ in range(30):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent") == "INC-1":
            break
    page.keyboard.press("Enter")
    page.wait_for_url(site.url + "/incidents/1")
    assert page.problems == []


def test_edit_an_entry_and_mark_an_item_done(page, site, incident):
    sign_in(page, site, path="/incidents/1?key=1")  # a log entry is a key event
    entry = page.locator("li.entry", has_text="database failover begun")
    entry.get_by_text("Edit").click()
    entry.get_by_label("Text").fill("database failover begun <primary>")
    entry.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Saved.")).to_be_visible()
    expect(page.locator("li.entry", has_text="database failover begun <primary>")).to_be_visible()

    page.get_by_role("button", name="Mark action #1 done").click()
    expect(page.get_by_text("Action #1 is done.")).to_be_visible()
    expect(page.get_by_role("button", name="Mark action #1 done")).to_have_count(0)
    expect(page.get_by_text("Action #1 done")).to_be_visible()  # the activity log
    screenshot(page, "08-after-curation")
    assert page.problems == []


def test_hostile_text_is_shown_literally(page, site):
    channel = start_incident(site, "Hostile sev3")
    site.bot.event(sr.message(HOSTILE.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"),
                              channel=channel))
    sign_in(page, site, path="/incidents/1")
    expect(page.locator("li.entry .text", has_text="<img src=x onerror=alert(1)>")).to_be_visible()
    shown = page.locator("ol.timeline .text", has_text="{{7*7}}")
    assert shown.count() == 1 and "49" not in shown.inner_text()
    assert page.locator("ol.timeline textarea").first.input_value() == HOSTILE  # the edit box holds it as typed
    assert page.locator("main img").count() == 0 and page.locator("main b").count() == 0
    screenshot(page, "09-hostile-text")
    assert page.problems == []  # no dialog, no console error


def test_a_private_incident_is_404_to_a_non_member(page, site):
    site.standin.add_channel("C0PRIV", "secret-room", private=True, members=(BOT_USER_ID, "U0MEMBER"))
    site.bot.settings.incident_channel_mode = "current"
    site.bot.command("start Secret breach sev1", channel_id="C0PRIV", user_id="U0MEMBER")
    sign_in(page, site, "U0OUTSIDER")
    assert page.get_by_text("Secret breach").count() == 0
    response = page.goto(site.url + "/incidents/1")
    assert response.status == 404
    expect(page.get_by_role("heading", name="404 Not Found")).to_be_visible()
    screenshot(page, "10-private-404")


def test_a_post_without_its_csrf_token_is_refused(page, site, incident):
    sign_in(page, site, path="/incidents/1")
    form = page.locator("form", has=page.get_by_role("button", name="Mark action #1 done"))
    form.locator("input[name=csrf_token]").evaluate("input => input.remove()")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        form.get_by_role("button").click()
    assert answer.value.status == 403
    expect(page.get_by_text("reload the page and try again")).to_be_visible()
    screenshot(page, "11-csrf-refused")
    page.goto(site.url + "/incidents/1")
    expect(page.get_by_role("button", name="Mark action #1 done")).to_be_visible()  # still open
