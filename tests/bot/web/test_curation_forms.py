"""Curation from the page goes through the same use cases as Slack (bot.curation.edit_entry,
bot.actions.close_item): each change is in the activity log with the signed-in person as its author;
every POST needs the session's CSRF token; a refusal is one line and changes nothing."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from storage import action_items, activity, entries
from tests.bot.commands.test_incident import open_incident
from tests.support import slack_requests as sr
from tests.support.web import csrf, sign_in


class Clock:
    def __init__(self, at: datetime):
        self.at = at

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture
def incident(make_web, standin):
    """INC-1 with one message from U0USER1 (in Berlin), seen on the page by U0USER1."""
    standin.add_user("U0USER1", tz="Europe/Berlin", name="alice")
    clock = Clock(datetime(2026, 3, 29, 0, 30, tzinfo=UTC))  # 01:30 CET; clocks go forward at 01:00 UTC
    bot, client = make_web(clock=clock)
    channel = open_incident(bot, "Checkout errors sev2")
    said = sr.message("rollback started", channel=channel, ts=f"{clock.at.timestamp() + 60:.6f}")
    bot.event(said)
    bot.command("action add retries <@U0USER1|alice>", channel_id=channel)
    clock.at = datetime(2026, 3, 29, 2, 0, tzinfo=UTC)
    sign_in(client, standin, "U0USER1")
    with bot.db.read() as session:
        entry_id = next(r.entry.id for r in entries.timeline(session, 1, "pushpin") if r.entry.kind == "message")
    return bot, client, clock, entry_id


def page(client) -> str:
    return client.get("/incidents/1").get_data(as_text=True)


def post(client, path: str, **fields):
    return client.post(path, data={"csrf_token": csrf(page(client)), "back": "/incidents/1", **fields})


def entry(bot, entry_id):
    with bot.db.read() as session:
        return entries.entry_by_id(session, entry_id)


def flashed(client) -> str:
    found = re.search(r'<p class="flash" role="status">(.*?)</p>', page(client))
    return found.group(1) if found else ""


def test_edit_the_text_and_the_time_in_the_viewers_zone(incident):
    bot, client, clock, entry_id = incident
    html = page(client)
    assert 'value="2026-03-29T01:31:00"' in html  # 00:31 UTC shown in Berlin (CET)
    done = post(client, f"/incidents/1/entries/{entry_id}", change="edit", at="2026-03-29T03:10",
                at_was="2026-03-29T01:31:00", text="rollback <started> & done")
    assert done.status_code == 303 and done.headers["Location"] == "/incidents/1"
    stored = entry(bot, entry_id)
    assert stored.at == datetime(2026, 3, 29, 1, 10, tzinfo=UTC)  # 03:10 CEST, after the change
    assert stored.text == "rollback &lt;started&gt; &amp; done"
    [record] = [r for r in _history(bot) if r.entry_id == entry_id]
    assert record.actor == "U0USER1" and record.action == "edit"
    seen = page(client)
    assert "rollback &lt;started&gt; &amp; done" in seen and "Saved." in seen


def _history(bot):
    with bot.db.read() as session:
        return activity.history(session, 1)


def test_an_unchanged_time_is_not_moved_to_the_minute(incident):
    bot, client, clock, entry_id = incident
    post(client, f"/incidents/1/entries/{entry_id}", change="edit", at="2026-03-29T01:31:00",
         at_was="2026-03-29T01:31:00", text="rollback started")
    assert flashed(client) == "Nothing changed."
    assert entry(bot, entry_id).at == datetime(2026, 3, 29, 0, 31, tzinfo=UTC)


def test_hide_show_and_key_event(incident):
    bot, client, clock, entry_id = incident
    post(client, f"/incidents/1/entries/{entry_id}", change="hide")
    assert entry(bot, entry_id).hidden and "hidden: no → yes" in page(client)  # the activity log
    post(client, f"/incidents/1/entries/{entry_id}", change="key")
    assert entry(bot, entry_id).key
    assert "rollback started" not in client.get("/incidents/1?key=1").get_data(as_text=True).split("Timeline")[1]
    post(client, f"/incidents/1/entries/{entry_id}", change="show")
    assert not entry(bot, entry_id).hidden
    assert "rollback started" in client.get("/incidents/1?key=1").get_data(as_text=True).split("Timeline")[1]
    assert [r.action for r in _history(bot) if r.entry_id == entry_id] == ["hide", "edit", "show"]


def test_a_refusal_is_one_line_and_changes_nothing(incident):
    bot, client, clock, entry_id = incident
    post(client, f"/incidents/1/entries/{entry_id}", change="edit", at="2026-03-30T09:00",
         at_was="2026-03-29T01:31:00", text="rollback started")
    assert "is in the future" in flashed(client)
    post(client, f"/incidents/1/entries/{entry_id}", change="edit", at="soon", at_was="x", text="y")
    assert flashed(client) == "“soon” is not a time: give it as 2026-03-29 14:05."
    assert entry(bot, entry_id).text == "rollback started"


@pytest.mark.parametrize("typed", ["0001-01-01T00:00", "1900-01-01T00:00", "1969-12-31T23:59"])
def test_a_time_the_calendar_cannot_show_everywhere_is_refused(incident, typed):
    bot, client, clock, entry_id = incident  # the viewer is in Berlin: 0001-01-01 00:00 is before year 1 in UTC
    post(client, f"/incidents/1/entries/{entry_id}", change="edit", at=typed, at_was="2026-03-29T01:31:00",
         text="rollback started")
    assert flashed(client) == (f"“{typed}” is out of range: give a time between 1970 and 9998, "
                               "such as 2026-03-29 14:05.")
    assert entry(bot, entry_id).at == datetime(2026, 3, 29, 0, 31, tzinfo=UTC)
    assert client.get("/incidents/1").status_code == 200


def test_a_time_the_clocks_skipped_is_refused_in_one_line(incident):
    bot, client, clock, entry_id = incident
    answer = post(client, f"/incidents/1/entries/{entry_id}", change="edit", at="2026-03-29T02:30",
                  at_was="2026-03-29T01:31:00", text="rollback started")
    assert answer.status_code == 303
    assert flashed(client) == ("2026-03-29 02:30 does not exist in Europe/Berlin: the clocks skipped it for "
                               "daylight saving time. Give a time just before or after it, or switch the page to UTC.")
    assert entry(bot, entry_id).at == datetime(2026, 3, 29, 0, 31, tzinfo=UTC)


def test_someone_who_took_no_part_is_refused(incident, standin):
    bot, client, clock, entry_id = incident
    sign_in(client, standin, "U0STRANGER")
    assert f"/entries/{entry_id}" not in page(client)  # no edit controls for them
    post(client, f"/incidents/1/entries/{entry_id}", change="hide")
    assert "Only people who took part" in flashed(client) and not entry(bot, entry_id).hidden


def test_mark_an_item_done(incident):
    bot, client, clock, entry_id = incident
    done = post(client, "/actions/1/done")
    assert done.status_code == 303
    with bot.db.read() as session:
        [item] = action_items.action_items(session, 1)
    assert item.status == "done" and item.closed_by == "U0USER1"
    assert "Action #1 is done." in flashed(client)
    assert "Action #1 done" in page(client)  # in the activity log
    assert post(client, "/actions/99/done").status_code == 404


def test_a_post_without_its_csrf_token_is_refused_and_changes_nothing(incident):
    bot, client, clock, entry_id = incident
    for data in ({}, {"csrf_token": "guessed"}):
        refused = client.post(f"/incidents/1/entries/{entry_id}", data={"change": "hide", **data})
        assert refused.status_code == 403 and "reload the page" in refused.get_data(as_text=True)
        assert client.post("/actions/1/done", data=data).status_code == 403
    assert not entry(bot, entry_id).hidden
    assert not [r for r in _history(bot) if r.entry_id == entry_id]


def test_without_sign_in_the_pages_are_read_only(make_bot, standin):
    from tests.support.web import client_for

    bot = make_bot(web_auth="none")
    open_incident(bot)
    client = client_for(bot)
    html = client.get("/incidents/1").get_data(as_text=True)
    assert "/entries/" not in html
    token = csrf(html)
    refused = client.post("/actions/1/done", data={"csrf_token": token})
    assert refused.status_code == 403 and "WEB_AUTH=none is read-only" in refused.get_data(as_text=True)


def test_the_utc_switch_needs_its_token_too(incident):
    bot, client, clock, entry_id = incident
    assert client.post("/zone", data={"zone": "utc"}).status_code == 403
    assert "Times in <strong>Europe/Berlin" in page(client)
    client.post("/zone", data={"zone": "utc", "csrf_token": csrf(page(client)), "back": "/incidents/1"})
    assert 'value="2026-03-29T00:31:00"' in page(client) and "Times in <strong>UTC" in page(client)


def _form_fields(html: str, entry_id: int) -> dict[str, str]:
    """The hidden fields of an entry's edit form as the page rendered them."""
    forms = [part.split("</form>", 1)[0] for part in html.split(f'action="/incidents/1/entries/{entry_id}"')[1:]]
    [edit] = [form for form in forms if 'name="at_was"' in form]
    return dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', edit))


def test_a_stale_page_never_undoes_someone_elses_edit(incident):
    """The page was opened before someone edited the text in Slack: saving only a new time from it
    keeps their text; saving a new text from it is refused, and nothing changes."""
    from bot import curation
    from bot.changes import Actor

    bot, client, clock, entry_id = incident
    fields = _form_fields(page(client), entry_id)
    curation.edit_entry(bot.services, Actor("U0USER1"), 1, entry_id, text="rollback started on db-2")
    moved = post(client, f"/incidents/1/entries/{entry_id}", change="edit", at="2026-03-29T01:40:00",
                 at_was=fields["at_was"], text="rollback started", text_seen=fields["text_seen"],
                 text_shown=fields["text_shown"])
    assert moved.status_code == 303
    stored = entry(bot, entry_id)
    assert stored.text == "rollback started on db-2" and stored.at == datetime(2026, 3, 29, 0, 40, tzinfo=UTC)

    post(client, f"/incidents/1/entries/{entry_id}", change="edit", at=fields["at_was"], at_was=fields["at_was"],
         text="rollback finished", text_seen=fields["text_seen"], text_shown=fields["text_shown"])
    assert "Someone edited this text since you opened it" in flashed(client)
    assert entry(bot, entry_id).text == "rollback started on db-2"
