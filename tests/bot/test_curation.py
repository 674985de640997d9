"""The curation use cases (bot/curation.py) on SQLite and PostgreSQL: what they store, what they refuse,
and the activity log they leave. Slack's side is in tests/bot/test_curation_slack.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot import curation
from bot.changes import Actor
from bot.curation import CurationRefused, ElsewhereMessage
from storage import activity, entries
from tests.bot.commands.test_incident import open_incident

ALICE, BOB, EVE = Actor("U0USER1"), Actor("U0USER2"), Actor("U0EVE")


def _entry(bot, entry_id):
    with bot.db.read() as session:
        return entries.entry_by_id(session, entry_id)


def _history(bot, number=1):
    with bot.db.read() as session:
        return activity.history(session, number)


def _log(bot, channel, text, **kwargs):
    bot.command(f"log {text}", channel_id=channel, **kwargs)
    with bot.db.read() as session:
        return max(e.id for e in entries.page(session, 1, 0, 10_000) if e.kind == "log")


def test_an_edit_changes_the_entry_and_logs_before_and_after(bot):
    channel = open_incident(bot)
    entry_id = _log(bot, channel, "rolled back deploy")
    was = _entry(bot, entry_id)
    new_at = was.at - timedelta(minutes=5)
    edit = curation.edit_entry(bot.services, ALICE, 1, entry_id, at=new_at, text="rolled back deploy 42")
    assert edit.action == "edit" and edit.before["at"] == was.at and edit.after["text"] == "rolled back deploy 42"
    now = _entry(bot, entry_id)
    assert now.at == new_at and now.text == "rolled back deploy 42" and now.text_edited_by == "U0USER1"
    [record] = [r for r in _history(bot) if r.entry_id == entry_id]
    assert record.actor == "U0USER1" and record.action == "edit"
    assert record.before == {"at": was.at.isoformat(), "text": "rolled back deploy"}


def test_unchanged_values_record_nothing(bot):
    channel = open_incident(bot)
    entry_id = _log(bot, channel, "a & b")
    was = _entry(bot, entry_id)
    edit = curation.edit_entry(bot.services, ALICE, 1, entry_id, at=was.at, text="a & b", key=True, hidden=False)
    assert not edit.changed
    assert [r for r in _history(bot) if r.entry_id == entry_id] == []


def test_refusals_change_nothing(bot):
    channel = open_incident(bot)
    entry_id = _log(bot, channel, "rolled back")
    bot.command("start Other incident", channel_id="C0ELSE")
    with pytest.raises(CurationRefused, match="belongs to INC-1, not INC-2"):
        curation.edit_entry(bot.services, ALICE, 2, entry_id, text="x")
    with pytest.raises(CurationRefused, match="in the future; give a time that has passed"):
        curation.edit_entry(bot.services, ALICE, 1, entry_id, at=datetime.now(UTC) + timedelta(hours=2))
    assert curation.may_curate(bot.services, 1, ALICE.user_id) and not curation.may_curate(bot.services, 1, "U0EVE")
    with pytest.raises(CurationRefused, match="Only people who took part in INC-1"):
        curation.set_hidden(bot.services, EVE, 1, entry_id, True)
    with pytest.raises(CurationRefused, match="no longer exists"):
        curation.set_hidden(bot.services, ALICE, 1, entry_id + 1000, True)
    assert _entry(bot, entry_id).text == "rolled back" and not _entry(bot, entry_id).hidden
    assert [r for r in _history(bot) if r.entry_id] == []


def test_a_message_added_twice_is_stored_once(bot):
    open_incident(bot)
    message = ElsewhereMessage("C0ALERTS", "1700000000.000100", "U0PAGER", "checkout 5xx &gt; 2%",
                               "https://acme.slack.com/archives/C0ALERTS/p1700000000000100")
    first = curation.add_from_elsewhere(bot.services, ALICE, 1, message)
    again = curation.add_from_elsewhere(bot.services, ALICE, 1, message)
    assert first.created and not again.created and first.entry_id == again.entry_id
    stored = _entry(bot, first.entry_id)
    assert stored.kind == "added" and stored.key and stored.at == datetime.fromtimestamp(1700000000.0001, UTC)
    assert [r.action for r in _history(bot) if r.entry_id == first.entry_id] == ["add"]


def test_undo_takes_back_own_changes_newest_first(bot):
    channel = open_incident(bot)
    entry_id = _log(bot, channel, "rolled back")
    bot.command("severity sev1", channel_id=channel)
    curation.edit_entry(bot.services, ALICE, 1, entry_id, text="rolled back v42")
    first = curation.undo(bot.services, ALICE, 1)
    assert "rolled back" in first and _entry(bot, entry_id).text == "rolled back"
    second = curation.undo(bot.services, ALICE, 1)
    assert "SEV2" in second and bot.incident(1).severity == "sev2"
    third = curation.undo(bot.services, ALICE, 1)
    assert "hidden" in third and _entry(bot, entry_id).hidden
    with pytest.raises(CurationRefused, match="Nothing of yours to undo in INC-1"):
        curation.undo(bot.services, BOB, 1)


def test_the_author_of_a_message_added_from_elsewhere_has_not_taken_part(bot):
    """Someone whose alert or message was added by another person cannot curate the incident by that."""
    open_incident(bot)
    curation.add_from_elsewhere(bot.services, Actor("U0USER1"), 1, ElsewhereMessage(
        "C0OTHER", "1700000000.000100", "U0OUTSIDER", "checkout 5xx"))
    assert curation.may_curate(bot.services, 1, "U0USER1")
    assert not curation.may_curate(bot.services, 1, "U0OUTSIDER")
