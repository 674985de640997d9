"""Curating the timeline from Slack, through signed payloads into the real app (docs/capture.md,
"Curating the timeline"): `/incident log` posted in the channel, the `edit_timeline_entry` and
`add_to_timeline` message shortcuts and their modals, `/incident timeline`, `/incident undo`."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta

import yaml
from sqlmodel import select

from bot import curation_views
from storage import activity, entries, incidents, post_sql
from storage.models import PostmortemDraft
from tests.bot.commands.test_incident import open_incident
from tests.support import slack_limits
from tests.support import slack_requests as sr

LIVE = re.compile(r"<!(channel|here|everyone)|<@U0VICTIM|<https?:")
HOSTILE = "<!channel> ping <@U0VICTIM> see <https://evil.example|docs> & *bold*"


def message_action(callback_id: str, message: dict, *, user_id: str = "U0USER1", channel_id: str | None = None,
                   response_key: str = "shortcut", standin=None) -> dict:
    """A `message_action` payload as Slack sends it (shared/slack/payloads/message_action.json)."""
    return {
        "type": "message_action", "token": "XXYYZZ", "action_ts": sr.next_ts(),
        "team": {"id": sr.TEAM_ID, "domain": "acme"}, "user": {"id": user_id, "name": user_id.lower()},
        "channel": {"id": channel_id or message["channel"], "name": "incidents"},
        "is_enterprise_install": False, "enterprise": None, "callback_id": callback_id,
        "trigger_id": f"{uuid.uuid4().int % 10**11}.738474920.{uuid.uuid4().hex[:32]}",
        "message_ts": message["ts"],
        "message": {k: v for k, v in message.items() if k not in ("channel", "event_ts", "channel_type")},
        "response_url": standin.response_url(response_key),
    }


def _entries(bot, number=1):
    with bot.db.read() as session:
        return entries.page(session, number, 0, 100_000)


def _history(bot, number=1):
    with bot.db.read() as session:
        return activity.history(session, number)


def _opened_view(standin) -> dict:
    view = standin.calls_to("views.open")[-1]["view"]
    view = json.loads(view) if isinstance(view, str) else view
    assert slack_limits.breaches(view, surface="view") == []
    return view


def _told(bot, standin, key="shortcut") -> list[str]:
    bot.drain()
    return [r["text"] for r in standin.responses if r["_key"] == key]


def _log_and_post(bot, standin, channel, text, **kwargs):
    bot.command(f"log {text}", channel_id=channel, **kwargs)
    bot.drain()
    entry = [e for e in _entries(bot) if e.kind == "log"][-1]
    assert entry.post_ts, "the entry remembers its post"
    return entry


def _submit(bot, standin, values: dict, *, user_id="U0USER1", metadata=None, callback=curation_views.EDIT_VIEW,
            view_id="V0VIEW01"):
    meta = metadata if metadata is not None else _opened_view(standin)["private_metadata"]
    response = bot.interact(sr.view_submission(callback, values, user_id=user_id, private_metadata=meta,
                                               view_id=view_id))
    assert response.status == 200, response.body
    return response.json()


def _edit_values(when: str | None = None, text: str | None = None, flags: tuple[str, ...] | None = None) -> dict:
    values = {}
    if when is not None:
        values["when"] = {"value": {"type": "plain_text_input", "value": when}}
    if text is not None:
        values["text"] = {"value": {"type": "plain_text_input", "value": text}}
    if flags is not None:
        values["flags"] = {"value": {"type": "checkboxes", "selected_options": [{"value": f} for f in flags]}}
    return values


def _modal_state(view: dict) -> dict:
    """What Slack submits for a modal left untouched: each input's initial value."""
    values = {}
    for block in view["blocks"]:
        if block["type"] != "input":
            continue
        element = block["element"]
        if element["type"] == "plain_text_input":
            values[block["block_id"]] = {"value": {"type": "plain_text_input", "value": element.get("initial_value")}}
        elif element["type"] == "checkboxes":
            values[block["block_id"]] = {"value": {"type": "checkboxes",
                                                   "selected_options": element.get("initial_options", [])}}
        elif element["type"] == "static_select":
            values[block["block_id"]] = {"value": {"type": "static_select",
                                                   "selected_option": element.get("initial_option")}}
    return values


# --- item 0: a log entry is posted in the channel ------------------------------------------------


def test_a_log_entry_is_posted_in_the_channel_with_a_date_token_and_its_author(bot, standin):
    channel = open_incident(bot)
    standin.reset()
    reply = bot.text(f"log {HOSTILE}", channel_id=channel, user_id="U0USER1")
    assert reply.startswith("Logged for INC-1")
    assert standin.calls_to("chat.postMessage") == []  # through the outbox, after the reply
    bot.drain()
    [post] = standin.calls_to("chat.postMessage")
    assert post["channel"] == channel
    assert re.search(r"<!date\^\d+\^\{date_short_pretty\} \{time\}\|[^>]+>", post["text"])
    assert "logged by <@U0USER1>" in post["text"]
    assert not LIVE.search(post["text"]) and slack_limits.breaches(post.params, posted=True) == []
    [entry] = [e for e in _entries(bot) if e.kind == "log"]
    assert (entry.post_channel_id, entry.post_ts) == (channel, post.get("ts") or entry.post_ts)


# --- item 1: edit from the message ----------------------------------------------------------------


def test_edit_the_bots_post_of_a_log_entry_in_the_editors_zone_across_midnight(make_bot, standin):
    standin.add_user("U0USER1", tz="Asia/Tokyo")  # UTC+9: 14:30 UTC is 23:30 in Tokyo
    clock = [datetime(2026, 11, 22, 15, 10, tzinfo=UTC)]
    bot = make_bot(lambda: clock[0])
    channel = open_incident(bot)
    entry = _log_and_post(bot, standin, channel, "2026-11-22 14:30 UTC rolled back deploy")
    bot.interact(message_action("edit_timeline_entry", {"channel": channel, "ts": entry.post_ts, "text": "x",
                                                        "bot_id": "B0BOT01", "type": "message"}, standin=standin))
    view = _opened_view(standin)
    [when] = [b for b in view["blocks"] if b.get("block_id") == "when"]
    assert when["element"]["initial_value"] == "2026-11-22 23:30 Asia/Tokyo"  # the editor's zone, named
    # 00:10 the next day in Tokyo is 15:10 UTC: past midnight for the editor, the same day in UTC
    assert _submit(bot, standin, _edit_values("2026-11-23 00:05", "rolled back deploy 42")) == {}
    [stored] = [e for e in _entries(bot) if e.kind == "log"]
    assert stored.at == datetime(2026, 11, 22, 15, 5, tzinfo=UTC) and stored.text == "rolled back deploy 42"
    [record] = [r for r in _history(bot) if r.entry_id == entry.id]
    assert record.action == "edit" and record.after["at"] == "2026-11-22T15:05:00+00:00"
    bot.drain()
    rewrite = standin.calls_to("chat.update")[-1]
    assert rewrite["ts"] == entry.post_ts and "rolled back deploy 42" in rewrite["text"]


def test_an_untouched_modal_saves_nothing_even_in_a_dst_fold(make_bot, standin):
    standin.add_user("U0USER1", tz="Europe/Berlin")
    clock = [datetime(2026, 10, 25, 3, 0, tzinfo=UTC)]
    bot = make_bot(lambda: clock[0])
    channel = open_incident(bot)
    # 01:30 UTC is 02:30 CET, the second 02:30 of the night the clocks go back
    said = sr.message("deploy finished", channel=channel, ts=f"{datetime(2026, 10, 25, 1, 30, 17, tzinfo=UTC).timestamp():.6f}")
    bot.event(said)
    bot.interact(message_action("edit_timeline_entry", said, standin=standin))
    view = _opened_view(standin)
    values = _modal_state(view)
    assert values["when"]["value"]["value"] == "2026-10-25T02:30:17+01:00"  # the fold: the offset says which
    assert _submit(bot, standin, values) == {}
    [stored] = [e for e in _entries(bot) if e.kind == "message"]
    assert stored.at == datetime(2026, 10, 25, 1, 30, 17, tzinfo=UTC) and stored.text_edited_by is None
    assert [r for r in _history(bot) if r.entry_id == stored.id] == []
    # typed across the spring-forward gap's neighbour: 2026-03-29 03:30 in Berlin is CEST, 01:30 UTC
    assert _submit(bot, standin, _edit_values("2026-03-29 03:30")) == {}
    [stored] = [e for e in _entries(bot) if e.kind == "message"]
    assert stored.at == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)


def test_a_bad_or_future_time_is_refused_inline_and_changes_nothing(make_bot, standin):
    clock = [datetime(2026, 11, 22, 15, 0, tzinfo=UTC)]
    bot = make_bot(lambda: clock[0])
    channel = open_incident(bot)
    entry = _log_and_post(bot, standin, channel, "rolled back")
    bot.interact(message_action("edit_timeline_entry", {"channel": channel, "ts": entry.post_ts, "text": "x",
                                                        "bot_id": "B0BOT01"}, standin=standin))
    meta = _opened_view(standin)["private_metadata"]
    future = _submit(bot, standin, _edit_values("2026-11-23 14:05", "rolled back"), metadata=meta)
    assert future["response_action"] == "errors"
    assert "in the future; give a time that has passed" in future["errors"]["when"]
    unreadable = _submit(bot, standin, _edit_values("25:99", "rolled back"), metadata=meta)
    assert unreadable["response_action"] == "errors" and "Accepted times" in unreadable["errors"]["when"]
    not_a_time = _submit(bot, standin, _edit_values("soon", "rolled back"), metadata=meta)
    assert "is not a time" in not_a_time["errors"]["when"]
    assert [e.at for e in _entries(bot) if e.kind == "log"] == [entry.at]
    assert [r for r in _history(bot) if r.entry_id == entry.id] == []


def test_a_message_that_is_not_an_entry_gets_a_short_answer_not_a_modal(bot, standin):
    channel = open_incident(bot)
    header_ts = bot.incident(1).header_ts
    bot.interact(message_action("edit_timeline_entry", {"channel": channel, "ts": header_ts, "text": "INC-1",
                                                        "bot_id": "B0BOT01"}, standin=standin))
    assert standin.calls_to("views.open") == []
    [told] = _told(bot, standin)
    assert "not in an incident's timeline" in told


def test_someone_who_took_no_part_is_refused(bot, standin):
    channel = open_incident(bot)
    said = sr.message("checkout is down", channel=channel)
    bot.event(said)
    bot.interact(message_action("edit_timeline_entry", said, user_id="U0EVE", standin=standin))
    assert standin.calls_to("views.open") == []
    [told] = _told(bot, standin)
    assert "Only people who took part in INC-1" in told
    # a submission crafted for the entry is refused too, and changes nothing
    [entry] = [e for e in _entries(bot) if e.kind == "message"]
    meta = curation_views.edit_metadata(1, entry.id, None)
    answer = _submit(bot, standin, _edit_values(text="rewritten"), user_id="U0EVE", metadata=meta)
    assert answer["response_action"] == "update"
    assert "Only people who took part" in json.dumps(answer["view"])
    assert [e.text for e in _entries(bot) if e.kind == "message"] == ["checkout is down"]


def test_a_stale_modal_for_a_deleted_message_and_an_entry_of_another_incident(bot, standin):
    channel = open_incident(bot)
    said = sr.message("checkout is down", channel=channel)
    bot.event(said)
    bot.interact(message_action("edit_timeline_entry", said, standin=standin))
    meta = _opened_view(standin)["private_metadata"]
    bot.event(sr.message_deleted(said))
    stale = _submit(bot, standin, _edit_values(text="rewritten"), metadata=meta)
    assert stale["response_action"] == "update" and "deleted in Slack" in json.dumps(stale["view"])
    other = open_incident(bot, "Second incident")
    bot.command("log in the second one", channel_id=other)
    [entry] = [e for e in _entries(bot, 2) if e.kind == "log"]
    crossed = _submit(bot, standin, _edit_values(text="moved"), metadata=curation_views.edit_metadata(1, entry.id, None))
    assert "That entry belongs to INC-2, not INC-1." in json.dumps(crossed["view"])
    assert [e.text for e in _entries(bot, 2) if e.kind == "log"] == ["in the second one"]


def test_hostile_text_typed_into_the_editor_never_becomes_a_live_mention(bot, standin):
    channel = open_incident(bot)
    entry = _log_and_post(bot, standin, channel, "rolled back")
    meta = curation_views.edit_metadata(1, entry.id, None)
    assert _submit(bot, standin, _edit_values(text=HOSTILE), metadata=meta) == {}
    bot.drain()
    rewrite = standin.calls_to("chat.update")[-1]
    assert not LIVE.search(rewrite["text"])
    reply = bot.command("timeline", channel_id=channel)
    assert not LIVE.search(json.dumps(reply))


# --- item 2: add a message from another channel ----------------------------------------------------


def test_add_a_message_from_another_channel_once(bot, standin):
    open_incident(bot, "First")
    open_incident(bot, "Second")
    alert = sr.message("checkout 5xx &gt; 2% <!channel>", user="U0PAGER", channel="C0ALERTS",
                       ts="1700000000.000100")
    bot.interact(message_action("add_to_timeline", alert, standin=standin))
    view = _opened_view(standin)
    [select] = [b for b in view["blocks"] if b.get("block_id") == "incident"]
    assert [o["value"] for o in select["element"]["options"]] == ["2", "1"]  # most recent first
    values = _modal_state(view)
    values["incident"]["value"]["selected_option"] = select["element"]["options"][1]
    first = _submit(bot, standin, values, callback=curation_views.ADD_VIEW, metadata=view["private_metadata"])
    again = _submit(bot, standin, values, callback=curation_views.ADD_VIEW, metadata=view["private_metadata"])
    assert "Added to the timeline of INC-1" in json.dumps(first["view"])
    assert "already in the timeline of INC-1" in json.dumps(again["view"])
    [added] = [e for e in _entries(bot) if e.kind == "added"]
    assert added.key and added.author_id == "U0PAGER" and added.source_channel_id == "C0ALERTS"
    assert added.at == datetime.fromtimestamp(1700000000.0001, UTC)
    assert added.permalink == "https://acme.slack.com/archives/C0ALERTS/p1700000000000100"
    assert [r.action for r in _history(bot) if r.entry_id == added.id] == ["add"]


# --- item 3: `/incident timeline` ---------------------------------------------------------------------


def test_the_timeline_of_ten_thousand_entries_pages_within_slacks_limits(bot, standin):
    channel = open_incident(bot)
    now = datetime.now(UTC)
    long_text = ("x" * 10 + " <!here> & ") * 400
    with bot.db.write() as session:
        session.execute(entries.Entry.__table__.insert(), [entries.row(
            incident_id=1, kind="message", at=now - timedelta(seconds=10_000 - i), author_id="U0USER2",
            text=long_text, channel_id=channel, ts=f"1700000000.{i:06d}", recorded_at=now) for i in range(10_000)])
    for text in ("timeline", "timeline 1", "timeline 250"):
        reply = bot.command(text, channel_id=channel)
        assert slack_limits.breaches(reply) == [] and slack_limits.breaches(reply, posted=True) == []
        assert not LIVE.search(json.dumps(reply))
    last = bot.command("timeline", channel_id=channel)
    assert "page 500 of 500" in last["text"]  # 20 a page, newest last
    buttons = [e for b in last["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert {"timeline_edit", "timeline_hide", "timeline_page"} <= {b["action_id"] for b in buttons}


def test_hide_and_show_from_the_timeline(bot, standin):
    channel = open_incident(bot)
    entry = _log_and_post(bot, standin, channel, "rolled back")
    reply = bot.command("timeline", channel_id=channel)
    [hide] = [e for b in reply["blocks"] if b.get("block_id") == f"buttons-{entry.id}" for e in b["elements"]
              if e["action_id"] == "timeline_hide"]
    bot.interact(sr.block_actions("timeline_hide", hide["value"], user_id="U0USER1", channel_id=channel,
                                  response_url=standin.response_url("timeline")))
    assert [e.hidden for e in _entries(bot) if e.kind == "log"] == [True]
    bot.drain()
    [page] = [r for r in standin.responses if r["_key"] == "timeline"]
    assert page["replace_original"] and "timeline_show" in json.dumps(page["blocks"])
    bot.interact(sr.block_actions("timeline_show", hide["value"], user_id="U0USER1", channel_id=channel))
    assert [e.hidden for e in _entries(bot) if e.kind == "log"] == [False]
    assert [r.action for r in _history(bot) if r.entry_id == entry.id] == ["hide", "show"]


# --- item 4: `/incident undo` -----------------------------------------------------------------------


def test_undo_twice_then_nothing_to_undo(bot, standin):
    channel = open_incident(bot)
    bot.command("log rolled back", channel_id=channel)
    bot.command("severity sev1", channel_id=channel)
    first = bot.text("undo", channel_id=channel)
    assert "severity is SEV2 again" in first and bot.incident(1).severity == "sev2"
    second = bot.text("undo", channel_id=channel)
    assert "rolled back" in second and "hidden" in second
    assert [e.hidden for e in _entries(bot) if e.kind == "log"] == [True]
    assert bot.text("undo", channel_id=channel) == "Nothing of yours to undo in INC-1 from the last 30 minutes."
    assert "Nothing of yours" in bot.text("undo", channel_id=channel, user_id="U0USER2")


def test_undo_only_reaches_back_thirty_minutes(make_bot, standin):
    clock = [datetime(2026, 11, 22, 15, 0, tzinfo=UTC)]
    bot = make_bot(lambda: clock[0])
    channel = open_incident(bot)
    bot.command("mitigated", channel_id=channel)
    clock[0] += timedelta(minutes=31)
    assert "Nothing of yours to undo" in bot.text("undo", channel_id=channel)
    assert bot.incident(1).status == "mitigated"


def test_undo_a_milestone_and_a_role(bot, standin):
    channel = open_incident(bot)
    bot.command("mitigated", channel_id=channel)
    bot.command("role comms <@U0USER2|bob>", channel_id=channel)
    assert "nobody is comms" in bot.text("undo", channel_id=channel)
    assert "Mitigated is not recorded" in bot.text("undo", channel_id=channel)
    assert bot.incident(1).status != "mitigated"


# --- item 5: a person's edit wins over a later Slack edit; deletion still removes ------------------


def test_a_persons_edit_wins_over_a_later_slack_edit_and_a_deletion_still_removes(bot, standin):
    channel = open_incident(bot)
    said = sr.message("db is donw", channel=channel)
    bot.event(said)
    [entry] = [e for e in _entries(bot) if e.kind == "message"]
    assert _submit(bot, standin, _edit_values(text="db is down (primary)"),
                   metadata=curation_views.edit_metadata(1, entry.id, None)) == {}
    bot.event(sr.message_changed(said, "db is down"))
    [entry] = [e for e in _entries(bot) if e.kind == "message"]
    assert entry.text == "db is down (primary)"
    kept = [r for r in _history(bot) if r.action == "slack_edit"]
    assert [r.after["text"] for r in kept] == ["db is down"]
    bot.event(sr.message_deleted(said))
    assert [e for e in _entries(bot) if e.kind == "message"] == []


# --- item 9 (ours): the manifest declares both shortcuts ------------------------------------------


def test_the_manifest_declares_both_shortcuts():
    with open("manifest.yml") as f:
        manifest = yaml.safe_load(f)
    shortcuts = {s["callback_id"]: s for s in manifest["features"]["shortcuts"]}
    assert shortcuts["edit_timeline_entry"]["name"] == "Edit in timeline"
    assert shortcuts["add_to_timeline"]["name"] == "Add to incident timeline"
    assert all(s["type"] == "message" for s in shortcuts.values())


# --- items 5 and 6: the history, `timeline --json`, drafts and exports ------------------------------


def _curated_incident(bot, standin):
    """INC-1 with a log entry edited, one hidden, a chat message, and a message added from elsewhere."""
    channel = open_incident(bot)
    kept = _log_and_post(bot, standin, channel, "rolled back deploy")
    gone = _log_and_post(bot, standin, channel, "SECRET wrong incident")
    bot.event(sr.message("anyone seen the dashboards?", user="U0USER2", channel=channel))
    meta = curation_views.edit_metadata(1, kept.id, None)
    assert _submit(bot, standin, _edit_values(text="rolled back deploy 42"), metadata=meta) == {}
    bot.command("timeline", channel_id=channel)
    bot.interact(sr.block_actions("timeline_hide", f"1:{gone.id}:1", user_id="U0USER1", channel_id=channel))
    return channel, kept, gone


def test_history_and_timeline_json_from_the_command_line(bot, standin):
    from tests.bot.test_cli import cli

    _, kept, gone = _curated_incident(bot, standin)
    env = {"DATABASE_URL": bot.settings.database_url}
    records = json.loads(cli("timeline", "1", "--history", "--json", env=env).stdout)
    edits = [r for r in records if r["entry"] == kept.id]
    assert [set(r) for r in records] == [{"at", "actor", "action", "entry", "before", "after"}] * len(records)
    assert edits == [{"at": edits[0]["at"], "actor": "U0USER1", "action": "edit", "entry": kept.id,
                      "before": {"text": "rolled back deploy"}, "after": {"text": "rolled back deploy 42"}}]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", edits[0]["at"])
    assert [r["action"] for r in records if r["entry"] == gone.id] == ["hide"]
    printed = cli("timeline", "1", "--history", env=env)
    assert printed.returncode == 0 and "hide" in printed.stdout
    items = json.loads(cli("timeline", "1", "--json", env=env).stdout)
    assert [i["hidden"] for i in items if i["kind"] == "log"] == [False, True]


def test_drafts_leave_hidden_entries_out_and_list_the_changes(bot, standin):
    from tests.bot.test_cli import cli

    channel, _, _ = _curated_incident(bot, standin)
    env = {"DATABASE_URL": bot.settings.database_url}
    full = cli("postmortem", "export", "1", env=env).stdout
    assert "rolled back deploy 42" in full and "SECRET" not in full
    assert "anyone seen the dashboards?" in full  # the chat appendix
    assert "## Appendix: changes to the timeline" in full and "left out of the postmortem" in full
    key_only = cli("postmortem", "export", "1", "--key-only", env=env).stdout
    assert "rolled back deploy 42" in key_only and "Detected" in key_only  # key events and milestones
    assert "anyone seen the dashboards?" not in key_only and "SECRET" not in key_only
    reply = bot.text("draft default key", command="/postmortem", channel_id=channel)
    assert "key events only" in reply
    with bot.db.read() as session:
        [stored] = session.exec(select(PostmortemDraft)).all()
    assert "rolled back deploy 42" in stored.markdown and "anyone seen the dashboards?" not in stored.markdown


def test_edit_from_the_timeline_opens_the_modal_and_a_pinned_message_stays_key(bot, standin):
    channel = open_incident(bot)
    said = sr.message("checkout is down", channel=channel)
    bot.event(said)
    bot.event(sr.reaction("pushpin", said))
    [entry] = [e for e in _entries(bot) if e.kind == "message"]
    bot.interact(sr.block_actions("timeline_edit", f"1:{entry.id}:1", user_id="U0USER1", channel_id=channel))
    view = _opened_view(standin)
    values = _modal_state(view)
    assert [o["value"] for o in values["flags"]["value"]["selected_options"]] == ["key"]
    values["flags"]["value"]["selected_options"] = []
    answer = _submit(bot, standin, values, metadata=view["private_metadata"])
    assert "remove the reaction in Slack" in json.dumps(answer["view"])
    assert [r for r in _history(bot) if r.entry_id == entry.id] == []


def test_a_mention_shows_readable_in_the_editor_and_survives_an_untouched_save(bot, standin):
    channel = open_incident(bot)
    said = sr.message("<@U0USER2|bob> can you look? &lt;3", channel=channel)
    bot.event(said)
    bot.interact(message_action("edit_timeline_entry", said, standin=standin))
    view = _opened_view(standin)
    values = _modal_state(view)
    assert values["text"]["value"]["value"] == "@bob can you look? <3"
    values["flags"]["value"]["selected_options"] = [{"value": "key"}]
    assert _submit(bot, standin, values, metadata=view["private_metadata"]) == {}
    [entry] = [e for e in _entries(bot) if e.kind == "message"]
    assert entry.text == "<@U0USER2|bob> can you look? &lt;3" and entry.key and entry.text_edited_by is None
    [record] = [r for r in _history(bot) if r.entry_id == entry.id]
    assert (record.action, record.before, record.after) == ("edit", {"key": False}, {"key": True})


def test_the_add_modal_stays_within_slacks_limits_for_the_largest_message(bot, standin):
    with bot.db.write() as session:
        from storage.models import Incident

        now = datetime.now(UTC)
        for n in range(150):
            standin.add_channel(f"C{n:08d}", f"inc-{n}")  # public: listed to everyone
            session.add(Incident(title=f"Incident {n} " + "t" * 300, created_by="U0USER1", created_at=now,
                                 commander_id="U0USER1", channel_id=f"C{n:08d}"))
    huge = ('"&lt;&amp;\\' + "é<!channel>") * 3000  # 45,000 characters that JSON and escaping make longer
    alert = sr.message(huge, user="U0PAGER", channel="C0ALERTS", ts="1700000000.000200")
    bot.interact(message_action("add_to_timeline", alert, standin=standin))
    view = _opened_view(standin)  # within limits: 100 options at most, metadata under 3,000
    [select] = [b for b in view["blocks"] if b.get("block_id") == "incident"]
    assert len(select["element"]["options"]) == 100 and select["element"]["options"][0]["value"] == "150"
    assert not LIVE.search(json.dumps(view["blocks"]))
    values = _modal_state(view)
    answer = _submit(bot, standin, values, callback=curation_views.ADD_VIEW, metadata=view["private_metadata"])
    assert "Added to the timeline of INC-150" in json.dumps(answer["view"])
    [added] = [e for e in _entries(bot, 150) if e.kind == "added"]
    assert added.text and huge.startswith(added.text.rstrip("…"))


# --- damaged payloads: answered, never a failure Slack would show or redeliver -------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from tests.support.damage import damaged  # noqa: E402
from tests.test_bad_input import CRASH, ROUTING  # noqa: E402

_damaged_views = iter(range(10**9))


@settings(max_examples=30, deadline=None)
@given(data=st.data(), kind=st.sampled_from(["edit_shortcut", "add_shortcut", "edit_view", "add_view",
                                             "timeline_edit", "timeline_hide", "timeline_page"]))
def test_any_damaged_curation_payload_is_answered(bot, standin, data, kind):
    if not bot.incident(1):
        open_incident(bot)
    channel = bot.incident(1).channel_id
    said = sr.message("checkout is down", channel=channel, ts="1700000000.000100")
    bot.event(said)
    entry_id = [e.id for e in _entries(bot) if e.kind == "message"][0]
    if kind.endswith("shortcut"):
        callback = "edit_timeline_entry" if kind == "edit_shortcut" else "add_to_timeline"
        payload = message_action(callback, said, standin=standin)
    elif kind == "edit_view":
        payload = sr.view_submission(curation_views.EDIT_VIEW, _edit_values("12:00", "text", ("key",)),
                                     private_metadata=curation_views.edit_metadata(1, entry_id, "x"),
                                     view_id=f"V0CUR{next(_damaged_views)}")
    elif kind == "add_view":
        payload = sr.view_submission(curation_views.ADD_VIEW, {"incident": {"value": {
            "type": "static_select", "selected_option": {"value": "1"}}}},
            private_metadata=curation_views.add_metadata("C0ALERTS", "1700000000.000300", "U0PAGER", "x", None),
            view_id=f"V0CUR{next(_damaged_views)}")
    else:
        payload = sr.block_actions(kind, f"1:{entry_id}:1", user_id="U0USER1", channel_id=channel)
    response = bot.interact(damaged(payload, data, keep=(*ROUTING["interact"], ("callback_id",))))
    assert response.status == 200, (response.status, response.body[:300])
    assert CRASH not in response.body
    bot.drain()
    assert not any(CRASH in r.get("text", "") for r in standin.responses)


def test_a_shortcut_whose_user_fields_have_odd_types_is_answered_not_a_500(bot, standin):
    """Bolt reads the user id for its context assuming Slack's shapes: `"user": false` in the message
    made it raise before any listener ran (a 500 with a traceback). Found by the test above."""
    channel = open_incident(bot)
    said = sr.message("checkout is down", channel=channel, ts="1700000000.000100")
    bot.event(said)
    payload = message_action("edit_timeline_entry", said, standin=standin)
    del payload["user"]["id"]
    payload["message"]["user"] = False
    response = bot.interact(payload)
    assert response.status == 200, (response.status, response.body[:300])
    assert CRASH not in response.body
    forged = sr.interactivity_request(payload)  # still refused when it is not signed by Slack
    forged[1]["x-slack-signature"] = "v0=" + "0" * 64
    assert bot.post(*forged).status == 401


def test_timeline_pages_turn_in_place_and_a_bad_page_says_how(bot, standin):
    channel = open_incident(bot)
    for n in range(45):
        bot.event(sr.message(f"message {n}", channel=channel, ts=f"1700000000.{n:06d}"))
    assert "Usage: `/incident timeline [page]`" in bot.text("timeline soon", channel_id=channel)
    assert "page 3 of 3" in bot.text("timeline 99", channel_id=channel)  # past the end: the newest
    newest = bot.command("timeline", channel_id=channel)
    assert "message 44" in json.dumps(newest["blocks"]) and "message 24" not in json.dumps(newest["blocks"])
    [older] = [e for b in newest["blocks"] if b.get("block_id") == "pages" for e in b["elements"]]
    bot.interact(sr.block_actions(older["action_id"], older["value"], user_id="U0USER1", channel_id=channel,
                                  response_url=standin.response_url("pages")))
    bot.drain()
    [page] = [r for r in standin.responses if r["_key"] == "pages"]
    assert "page 2 of 3" in page["text"] and "message 24" in json.dumps(page["blocks"])
    assert slack_limits.breaches(page) == []


def test_an_edit_made_before_the_entry_is_posted_is_shown_once_it_is(bot, standin):
    channel = open_incident(bot)
    bot.command("log rolled back", channel_id=channel)
    [entry] = [e for e in _entries(bot) if e.kind == "log"]
    standin.reset()

    def edit_meanwhile(call):  # the edit lands while the first post is on its way to Slack
        if not standin.calls_to("chat.update"):
            from bot import curation
            from bot.changes import Actor

            if curation.edit_entry(bot.services, Actor("U0USER1"), 1, entry.id, text="rolled back v41").changed:
                bot.drain()  # and its rewrite runs at once, on another replica, before the post is stored

    standin.while_answering("chat.postMessage", edit_meanwhile)
    bot.drain()
    bot.drain()
    assert len(standin.calls_to("chat.postMessage")) == 1
    assert "rolled back v41" in standin.calls_to("chat.update")[-1]["text"]


# --- review of issue 11 -------------------------------------------------------------------------------

def test_an_alert_posted_with_attachments_or_blocks_only_is_added_with_its_text(bot, standin):
    """PagerDuty, Datadog and Grafana post with an empty `text`: the modal shows, and stores, what the
    attachments and blocks say."""
    open_incident(bot)
    pager = {"type": "message", "subtype": "bot_message", "bot_id": "B0PAGER", "username": "PagerDuty",
             "text": "", "ts": "1700000000.000100", "channel": "C0ALERTS",
             "attachments": [{"fallback": "Triggered: checkout 5xx > 2%", "title": "checkout 5xx > 2%",
                              "text": "p99 latency 4s"}]}
    bot.interact(message_action("add_to_timeline", pager, standin=standin))
    view = _opened_view(standin)
    assert "checkout 5xx" in json.dumps(view["blocks"][0])
    _submit(bot, standin, _modal_state(view), callback=curation_views.ADD_VIEW, metadata=view["private_metadata"])
    grafana = {"type": "message", "subtype": "bot_message", "bot_id": "B0GRAF", "text": "",
               "ts": "1700000000.000200", "channel": "C0ALERTS",
               "blocks": [{"type": "header", "text": {"type": "plain_text", "text": "[FIRING] disk full"}},
                          {"type": "section", "text": {"type": "mrkdwn", "text": "db-3 at 99%"}}]}
    bot.interact(message_action("add_to_timeline", grafana, standin=standin))
    view = _opened_view(standin)
    _submit(bot, standin, _modal_state(view), callback=curation_views.ADD_VIEW, metadata=view["private_metadata"])
    texts = sorted(e.text for e in _entries(bot) if e.kind == "added")
    assert texts == ["[FIRING] disk full\ndb-3 at 99%", "checkout 5xx > 2%\np99 latency 4s"]


def test_a_message_without_any_text_opens_a_valid_modal_and_a_refused_modal_is_told(bot, standin):
    open_incident(bot)
    empty = {"type": "message", "subtype": "bot_message", "bot_id": "B0PAGER", "text": "",
             "ts": "1700000000.000100", "channel": "C0ALERTS", "attachments": [{"image_url": "https://x/y.png"}]}
    bot.interact(message_action("add_to_timeline", empty, standin=standin))
    view = _opened_view(standin)  # within Slack's limits: no empty section
    assert "_(no text)_" in json.dumps(view["blocks"][0])
    standin.fail("views.open", "invalid_blocks")
    bot.interact(message_action("add_to_timeline", empty, standin=standin))
    [said] = _told(bot, standin)
    assert "did not open the form" in said and "invalid_blocks" in said


def _open_editor(bot, standin, channel, entry):
    bot.interact(message_action("edit_timeline_entry", {"channel": channel, "ts": entry.post_ts, "text": "x",
                                                        "bot_id": "B0BOT01"}, standin=standin))
    return _opened_view(standin)


def test_a_stale_editor_saves_only_what_its_user_changed(bot, standin):
    """Alice opens the editor; Bob hides the entry and edits its text meanwhile; Alice unticks "key event"
    only: Bob's changes stay, Alice's is saved."""
    from bot import curation
    from bot.changes import Actor

    channel = open_incident(bot)
    bot.command("log bob was here", channel_id=channel, user_id="U0USER2")
    entry = _log_and_post(bot, standin, channel, "rolled back")
    curation.edit_entry(bot.services, Actor("U0USER1"), 1, entry.id, key=True)
    view = _open_editor(bot, standin, channel, entry)
    curation.set_hidden(bot.services, Actor("U0USER2"), 1, entry.id, True)
    curation.edit_entry(bot.services, Actor("U0USER2"), 1, entry.id, text="rolled back deploy 42")
    values = _modal_state(view)
    values["flags"]["value"]["selected_options"] = []  # unticks "key event" (and the shown "hidden" was off)
    assert _submit(bot, standin, values, metadata=view["private_metadata"]) == {}
    [now] = [e for e in _entries(bot) if e.id == entry.id]
    assert (now.hidden, now.text, now.key) == (True, "rolled back deploy 42", False)


def test_a_stale_editor_changing_what_someone_else_changed_is_refused_inline(bot, standin):
    from bot import curation
    from bot.changes import Actor

    channel = open_incident(bot)
    bot.command("log bob was here", channel_id=channel, user_id="U0USER2")
    entry = _log_and_post(bot, standin, channel, "rolled back")
    view = _open_editor(bot, standin, channel, entry)
    curation.edit_entry(bot.services, Actor("U0USER2"), 1, entry.id, text="rolled back deploy 42")
    values = _modal_state(view)
    values["text"]["value"]["value"] = "rolled back deploy 41"
    answer = _submit(bot, standin, values, metadata=view["private_metadata"])
    assert answer["response_action"] == "errors" and "Someone edited this text" in answer["errors"]["text"]
    curation.set_hidden(bot.services, Actor("U0USER2"), 1, entry.id, True)
    values = _modal_state(view)
    values["flags"]["value"]["selected_options"] = [{"value": "hidden"}]  # hides it too: already done
    assert _submit(bot, standin, values, metadata=view["private_metadata"]) == {}
    curation.edit_entry(bot.services, Actor("U0USER2"), 1, entry.id, key=False)
    values = _modal_state(view)  # "key event" still ticked as shown: Bob's unmarking stays
    values["flags"]["value"]["selected_options"] = values["flags"]["value"]["selected_options"] + [{"value": "hidden"}]
    assert _submit(bot, standin, values, metadata=view["private_metadata"]) == {}
    values["flags"]["value"]["selected_options"] = [{"value": "hidden"}]  # unticks the key Bob took away
    assert _submit(bot, standin, values, metadata=view["private_metadata"]) == {}
    [now] = [e for e in _entries(bot) if e.id == entry.id]
    assert (now.text, now.hidden, bool(now.key)) == ("rolled back deploy 42", True, False)
    values["flags"]["value"]["selected_options"] = []  # as shown (not hidden): Bob's hiding stays
    assert _submit(bot, standin, values, metadata=view["private_metadata"]) == {}
    assert [e for e in _entries(bot) if e.id == entry.id][0].hidden


def test_undo_passes_over_a_change_someone_changed_again(bot, standin):
    channel = open_incident(bot)
    bot.command("log rolled back", channel_id=channel)
    bot.command("severity sev1", channel_id=channel)
    bot.command("severity sev3", channel_id=channel, user_id="U0USER2")
    first = bot.text("undo", channel_id=channel)
    assert "changed again since" in first and "next `/incident undo` goes to the change before" in first
    second = bot.text("undo", channel_id=channel)
    assert "rolled back" in second and "hidden" in second
    assert "Nothing of yours to undo" in bot.text("undo", channel_id=channel)
    assert [r.action for r in _history(bot) if r.action in ("severity", "undo")][-1] == "undo"
    [skipped] = [r for r in _history(bot) if r.action == "severity" and r.actor == "U0USER1"]
    with bot.db.read() as session:
        from storage.models import Activity
        assert session.get(Activity, skipped.id).undo_skipped_at is not None


def test_the_changes_appendix_never_prints_an_edits_text_nor_non_key_changes_in_key_only(bot, standin):
    """Someone removes a pasted password: the draft must not publish it again in its appendix."""
    from bot import curation
    from bot.changes import Actor
    from tests.bot.test_cli import cli

    channel = open_incident(bot)
    bot.event(sr.message("db password is hunter2 oops", channel=channel))
    [chat] = [e for e in _entries(bot) if e.kind == "message"]
    curation.edit_entry(bot.services, Actor("U0USER1"), 1, chat.id, text="db password is <redacted> oops")
    kept = _log_and_post(bot, standin, channel, "rolled back deploy")
    curation.edit_entry(bot.services, Actor("U0USER1"), 1, kept.id, text="rolled back deploy 42")
    bot.command("severity sev1", channel_id=channel)
    bot.text("undo", channel_id=channel)  # puts the severity back: not a change to the timeline
    env = {"DATABASE_URL": bot.settings.database_url}
    full = cli("postmortem", "export", "1", env=env).stdout
    appendix = full.split("## Appendix: changes to the timeline")[1]
    assert "hunter2" not in full and "text edited" in appendix
    assert "rolled back deploy\n" not in appendix and "rolled back deploy |" not in appendix
    assert "undid" not in appendix
    key_only = cli("postmortem", "export", "1", "--key-only", env=env).stdout
    changes = key_only.split("## Appendix: changes to the timeline")[1]
    assert "redacted" not in key_only and "hunter2" not in key_only
    assert len([line for line in changes.splitlines() if "text edited" in line]) == 1  # the log entry's only


def test_history_never_prints_a_live_token_in_any_value(bot, standin):
    from tests.bot.test_cli import cli

    channel = open_incident(bot)
    bot.command("summary <!channel> call <@U0VICTIM> see <https://evil.example|docs>", channel_id=channel)
    bot.command("impact <!here> everyone down", channel_id=channel)
    bot.command("mitigated 1 min ago <!everyone> note", channel_id=channel)
    env = {"DATABASE_URL": bot.settings.database_url}
    as_json = cli("timeline", "1", "--history", "--json", env=env).stdout
    printed = cli("timeline", "1", "--history", env=env).stdout
    for out in (as_json, printed):
        assert not LIVE.search(out), out
    records = json.loads(as_json)
    [summary] = [r for r in records if r["action"] == "summary"]
    assert summary["after"]["summary"] == "@channel call @U0VICTIM see docs (https://evil.example)"


def test_an_edited_message_keeps_its_mentions_and_gains_none(bot, standin):
    """The editor shows each mention by name (`@U…` when the name is not known yet); saving reads those
    back as the mentions, and only those: a typed `@someone` or `<@U0VICTIM>` stays text."""
    standin.add_user("U0USER3", name="Dana Scully")
    bot.services.people.fetch("U0USER3")
    channel = open_incident(bot)
    said = sr.message("<@U0USER2> and <@U0USER3> are restarting the db", channel=channel)
    bot.event(said)
    bot.interact(message_action("edit_timeline_entry", said, standin=standin))
    view = _opened_view(standin)
    values = _modal_state(view)
    shown = values["text"]["value"]["value"]
    assert shown == "@U0USER2 and @Dana Scully are restarting the db"
    values["text"]["value"]["value"] = shown.replace("restarting", "restarted") + ", ask @U0VICTIM <@U0VICTIM>"
    assert _submit(bot, standin, values, metadata=view["private_metadata"]) == {}
    [entry] = [e for e in _entries(bot) if e.kind == "message"]
    assert entry.text == "<@U0USER2> and <@U0USER3> are restarted the db, ask @U0VICTIM &lt;@U0VICTIM&gt;"


def test_a_long_message_is_added_whole_or_says_it_was_cut(bot, standin):
    """The modal can carry only 2,000 characters; the submission reads the message again from Slack."""
    open_incident(bot)
    text = "stack trace line\n" * 250  # 4,250 characters: Slack allows 40,000
    said = sr.message(text, user="U0OTHER", channel="C0OTHER", ts="1700000000.000200")
    standin.history["C0OTHER"] = [{"type": "message", "user": "U0OTHER", "text": text, "ts": said["ts"]}]
    bot.interact(message_action("add_to_timeline", said, standin=standin))
    view = _opened_view(standin)
    answer = _submit(bot, standin, _modal_state(view), callback=curation_views.ADD_VIEW,
                     metadata=view["private_metadata"])
    assert "first 2,000" not in json.dumps(answer)
    [added] = [e for e in _entries(bot) if e.kind == "added"]
    assert added.text == text
    secret = sr.message("x" * 3000, user="U0OTHER", channel="C0SECRET", ts="1700000000.000300")
    standin.add_channel("C0SECRET", "secret", private=True)  # the bot is not in it
    bot.interact(message_action("add_to_timeline", secret, standin=standin))
    view = _opened_view(standin)
    answer = _submit(bot, standin, _modal_state(view), callback=curation_views.ADD_VIEW,
                     metadata=view["private_metadata"])
    assert "Only its first 2,000 characters were stored" in json.dumps(answer)
    [cut] = [e for e in _entries(bot) if e.kind == "added" and e.source_channel_id == "C0SECRET"]
    assert len(cut.text) <= 2000


def test_a_log_post_whose_ts_could_not_be_stored_is_found_again_not_posted_twice(make_bot, standin, monkeypatch):
    """chat.postMessage succeeds, storing the post's ts fails once (a database blip, a crash): the retry
    finds the post by its metadata in the channel's history and stores it, rather than posting again."""
    clock = [datetime(2026, 11, 22, 15, 0, tzinfo=UTC)]
    bot = make_bot(lambda: clock[0])
    channel = open_incident(bot)
    standin.keep_posts = True
    real, calls = post_sql.set_post, []

    def flaky(conn, entry_id, channel_id, ts):
        calls.append(ts)
        if len(calls) == 1:
            raise RuntimeError("connection reset while storing the post")
        return real(conn, entry_id, channel_id, ts)

    monkeypatch.setattr(post_sql, "set_post", flaky)
    standin.reset()
    bot.command("log rolled back", channel_id=channel)
    bot.drain()
    clock[0] += timedelta(minutes=5)
    bot.drain()
    posts = [c for c in standin.calls_to("chat.postMessage") if "logged by" in (c.get("text") or "")]
    assert len(posts) == 1, f"the log entry was posted {len(posts)} times"
    [entry] = [e for e in _entries(bot) if e.kind == "log"]
    assert entry.post_ts == calls[0] == calls[1]
    bot.text("undo", channel_id=channel)  # the post found again is the one rewritten
    bot.drain()
    assert standin.calls_to("chat.update")[-1]["ts"] == entry.post_ts


def test_the_add_modal_lists_a_private_incident_to_its_members_only(bot, standin):
    from storage.models import Incident
    from tests.support.standin import BOT_USER_ID

    open_incident(bot, "Checkout errors")
    standin.add_channel("C0SECRET1", "inc-secret", private=True, members=("U0USER1", BOT_USER_ID))
    with bot.db.write() as session:
        incidents.add_incident(session, Incident(title="Payroll data exposure", severity="sev1", created_by="U0USER1",
                                                 commander_id="U0USER1", channel_id="C0SECRET1",
                                                 created_at=datetime.now(UTC)))
    said = sr.message("checkout 5xx", user="U0PAGER", channel="C0ALERTS", ts="1700000000.000100")
    for user, expected in (("U0USER1", ["INC-2", "INC-1"]), ("U0USER2", ["INC-1"])):
        bot.interact(message_action("add_to_timeline", said, user_id=user, standin=standin))
        [select] = [b for b in _opened_view(standin)["blocks"] if b.get("block_id") == "incident"]
        assert [o["text"]["text"].split(" ·")[0] for o in select["element"]["options"]] == expected


def test_undo_of_a_summary_quotes_the_value_put_back(bot, standin):
    channel = open_incident(bot)
    long = "checkout fails for <@U0VICTIM> and <!channel> " + "x" * 400
    bot.command(f"summary {long}", channel_id=channel)
    bot.command("summary nothing to see", channel_id=channel)
    said = bot.text("undo", channel_id=channel)
    assert "Undone: the summary is “checkout fails for @U0VICTIM and @channel xxx" in said and "” again" in said
    assert not LIVE.search(said) and len(said) < 400
    with bot.db.read() as session:
        from storage.models import Incident
        assert session.get(Incident, 1).summary.startswith("checkout fails for <@U0VICTIM>")
    assert "Undone: the summary is empty again" in bot.text("undo", channel_id=channel)
